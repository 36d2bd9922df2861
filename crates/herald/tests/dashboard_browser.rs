//! The dashboard in a real headless browser (chromium over WebDriver): messages sent through the
//! plain-text API to the simulated carrier show up live, with their receipts and callbacks; a
//! callback can be replayed; logins, CSRF and escaping hold.

mod support;

use std::time::Duration;

use herald::config::{AccountConfig, Config};
use support::browser;
use support::*;

const OPS: (&str, &str) = ("ops", "ops-secret");

/// The test gateway, with an operator account `ops`.
async fn gateway() -> TestApp {
    spawn_app(|config: &mut Config| {
        config.accounts.push(AccountConfig {
            username: OPS.0.into(),
            password: OPS.1.into(),
            balance: "1.00".into(),
            senders: vec!["Ops".into()],
            dlr_url: String::new(),
            allowed_ips: Vec::new(),
            webhook_secret: None,
        });
        config.dashboard.operators = vec![OPS.0.into()];
    })
    .await
}

/// Waits until `css` selects exactly `n` elements.
async fn wait_count(browser: &browser::Browser, css: &str, n: usize) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while browser.count(css).await != n {
        assert!(
            std::time::Instant::now() < deadline,
            "{css} never selected {n} elements"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Nothing on the page is wider than a 390 px screen (wide tables scroll inside their box).
async fn fits_a_phone(browser: &browser::Browser, page: &str) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let overflow = browser
        .run("return document.documentElement.scrollWidth - window.innerWidth")
        .await;
    assert!(
        overflow.as_i64().is_some_and(|o| o <= 0),
        "{page} fits a 390 px screen (overflow {overflow})"
    );
}

async fn send(app: &TestApp, account: (&str, &str), to: &str, text: &str, dlr: &str) -> String {
    app.api
        .send_ok(
            account,
            Via::Post,
            &[("to", to), ("text", text), ("dlr-url", dlr)],
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_counts_follow_the_messages_live_and_a_message_shows_its_receipt_and_replayed_callback()
 {
    let Some(browser) = browser::start().await else {
        return;
    };
    let app = gateway().await;
    let receiver = CallbackReceiver::start().await;
    let dlr = receiver.url("/dlr");
    let base = app.api.base.clone();

    browser.log_in(&base, ALICE).await;
    browser.find("#count-delivered").await;
    assert_eq!(browser.path().await, "/dashboard");
    browser.wait_text("#count-delivered", "0").await;

    // The simulated carrier's outcome follows the number's last two digits (README).
    let script = "<script>window.pwned = 1</script><b>bold</b> & done";
    let delivered = send(&app, ALICE, "37255500000", script, &dlr).await;
    for (to, text) in [
        ("37255500100", "delivered two"),
        ("37255500200", "delivered three"),
        ("37255500001", "undeliverable one"),
        ("37255500101", "undeliverable two"),
        ("37255500005", "receipt after 30 s"),
        ("37255500003", "carrier refuses the number"),
        ("4915112345", "no route to Germany"),
    ] {
        send(&app, ALICE, to, text, &dlr).await;
    }
    // Another account's message is not alice's to count.
    send(&app, BOB, "37255500300", "bob's", &dlr).await;

    // The page is not reloaded: the counts arrive by the overview's own refresh.
    browser.wait_text("#count-delivered", "3").await;
    browser.wait_text("#count-failed", "2").await;
    browser.wait_text("#count-rejected", "2").await;
    browser.wait_text("#count-sent", "1").await;
    browser.wait_text("#delivery-rate", "42.9 %").await;
    assert!(
        browser.count(".chart rect.delivered").await >= 1,
        "the chart draws the delivered messages"
    );
    let countries = browser.text(".breakdowns").await.unwrap_or_default();
    assert!(countries.contains("EE +372"), "{countries}");
    assert!(countries.contains("005 no destination"), "{countries}");
    browser.screenshot("overview.png").await;

    // Usable on a phone: the same page at a phone's width, nothing wider than the screen.
    browser.resize(390, 844).await;
    fits_a_phone(&browser, "the overview").await;
    browser.screenshot("overview-phone.png").await;
    browser.resize(1280, 1000).await;

    // One message: its receipt as the carrier sent it, its callbacks, and the customer's text
    // shown as text, never run as markup.
    receiver.wait_acknowledged(&delivered, 2, PATIENCE).await;
    // The list: alice's eight messages, newest first; filtered, then searched by number.
    browser.goto(&format!("{base}/dashboard/messages")).await;
    browser.find("#message-list").await;
    assert_eq!(browser.count("#message-list tbody tr").await, 8);
    browser.screenshot("messages.png").await;
    browser.resize(390, 844).await;
    fits_a_phone(&browser, "the messages list").await;
    browser.resize(1280, 1000).await;
    browser
        .goto(&format!("{base}/dashboard/messages?status=rejected"))
        .await;
    browser.find("#message-list").await;
    assert_eq!(browser.count("#message-list tbody tr").await, 2);
    browser.goto(&format!("{base}/dashboard/messages")).await;
    browser.fill("input[name=q]", "+372 5550 0000").await;
    browser.click("#messages form button[type=submit]").await;
    wait_count(&browser, "#message-list tbody tr", 1).await;
    browser
        .click(&format!("#message-list tr[data-id='{delivered}'] a"))
        .await;
    browser.wait_text("#message-status", "Delivered").await;
    assert_eq!(browser.text("#message-text").await.as_deref(), Some(script));
    assert_eq!(browser.count("#message-text b").await, 0);
    assert_eq!(
        browser.run("return typeof window.pwned").await,
        "undefined",
        "the customer's <script> did not run"
    );
    let receipt = browser.text(".ev-receipt pre.raw").await.unwrap();
    assert!(receipt.contains("stat:DELIVRD"), "{receipt}");
    assert!(browser.count(".ev-receipt table.tlvs tr").await > 1);
    browser.wait_text("#callback-attempts", "2").await;
    browser.screenshot("message.png").await;
    browser.resize(390, 844).await;
    fits_a_phone(&browser, "a message's timeline").await;
    browser.resize(1280, 1000).await;

    // Replay: a new callback attempt with the current report reaches the receiver and the
    // timeline.
    browser.click("#replay").await;
    browser.wait_text("#callback-attempts", "3").await;
    assert_eq!(browser.count(".ev-replay").await, 1);
    let calls = receiver.wait_acknowledged(&delivered, 3, PATIENCE).await;
    assert_eq!(calls[2], support::delivered(&delivered));

    browser.close().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_every_account_and_the_carriers_and_a_customer_does_not() {
    let Some(browser) = browser::start().await else {
        return;
    };
    let app = gateway().await;
    let receiver = CallbackReceiver::start().await;
    let dlr = receiver.url("/dlr");
    let base = app.api.base.clone();
    let alice = send(&app, ALICE, "37255500000", "alice's", &dlr).await;
    send(&app, BOB, "37255500100", "bob's", &dlr).await;
    app.wait_settled(&alice, PATIENCE).await;

    browser.log_in(&base, OPS).await;
    browser.wait_text("#count-delivered", "2").await;
    browser.screenshot("overview-operator.png").await;
    browser.goto(&format!("{base}/dashboard/messages")).await;
    wait_count(&browser, "#message-list tbody tr", 2).await;

    browser.goto(&format!("{base}/dashboard/carriers")).await;
    browser
        .wait_text("table[data-carrier=sim] tbody tr td:nth-child(2)", "bound")
        .await;
    // Both messages were submitted to the carrier and both receipts came back; the window is
    // shown as in use out of its size, and the rates are figures once the page has refreshed.
    browser
        .wait_text(".rates[data-carrier=sim] [data-total=submits]", "2")
        .await;
    browser
        .wait_text(".rates[data-carrier=sim] [data-total=receipts]", "2")
        .await;
    let window = browser
        .text("table[data-carrier=sim] tbody tr td:nth-child(4)")
        .await
        .unwrap_or_default();
    assert!(
        window.starts_with("0 / ") && window.len() > 4,
        "the window in use: {window}"
    );
    browser
        .wait_text(".rates[data-carrier=sim] [data-rate=submits]", "0.0")
        .await;
    browser.screenshot("carriers.png").await;

    browser
        .goto(&format!("{base}/dashboard/account?account=bob"))
        .await;
    assert_eq!(browser.text("h1").await.as_deref(), Some("Account bob"));

    // A customer sees only their own messages, and no carriers.
    browser.click(".who button").await;
    browser.find("input[name=username]").await;
    browser.log_in(&base, BOB).await;
    browser.wait_text("#count-delivered", "1").await;
    assert_eq!(browser.count("nav a[href='/dashboard/carriers']").await, 0);
    browser.goto(&format!("{base}/dashboard/messages")).await;
    wait_count(&browser, "#message-list tbody tr", 1).await;
    browser
        .goto(&format!("{base}/dashboard/messages/{alice}"))
        .await;
    let body = browser.text("body").await.unwrap_or_default();
    assert_eq!(body, "not found");

    browser.close().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_and_a_post_without_the_csrf_token_is_refused() {
    let Some(browser) = browser::start().await else {
        return;
    };
    let app = gateway().await;
    let base = app.api.base.clone();

    browser.log_in(&base, (ALICE.0, "not-the-password")).await;
    browser
        .wait_text("p.error", "Wrong username or password.")
        .await;
    assert_eq!(browser.path().await, "/dashboard/login");
    browser.goto(&format!("{base}/dashboard/account")).await;
    assert_eq!(
        browser.path().await,
        "/dashboard/login",
        "no session, no page"
    );

    browser.log_in(&base, ALICE).await;
    browser.find("#count-delivered").await;
    browser.goto(&format!("{base}/dashboard/account")).await;
    browser.find("#balance").await;
    // The webhook secret shown is the one the account's JSON webhooks are signed with.
    let secret = browser
        .run("return document.querySelector('#webhook-secret').textContent")
        .await;
    let store = app.store().clone();
    let alice = store.account_by_username(ALICE.0).await.unwrap().unwrap();
    assert_eq!(
        secret,
        store.webhook_secret(alice.id).await.unwrap().as_str()
    );

    // The same form post from the logged-in page, with the session cookie: without the token
    // it is refused, with a forged one too, with the session's it goes through.
    let post = |token: &str| {
        format!(
            "return fetch('/dashboard/account/blacklist', {{method: 'POST', \
             headers: {{'Content-Type': 'application/x-www-form-urlencoded'{token}}}, \
             body: 'number=%2B37255512345'}}).then(r => r.status)"
        )
    };
    assert_eq!(browser.run(&post("")).await, 403);
    assert_eq!(browser.run(&post(", 'X-CSRF-Token': 'forged'")).await, 403);
    let blacklist = herald::store::BlacklistScope::Account(alice.id);
    assert!(store.blacklist(blacklist).await.unwrap().is_empty());

    // The page's own form (htmx sends the token as a header) works.
    browser.fill("input[name=number]", "+372 5551 2345").await;
    browser.click("#account form.inline button").await;
    browser.wait_text("#blacklist td", "+37255512345").await;
    assert_eq!(
        store.blacklist(blacklist).await.unwrap(),
        vec!["37255512345".to_owned()]
    );
    browser.screenshot("account.png").await;

    // Removing takes the number off again.
    browser.goto(&format!("{base}/dashboard/account")).await;
    browser.click("#blacklist button").await;
    browser
        .wait_text("p.notice", "+37255512345 is no longer blacklisted.")
        .await;
    assert!(store.blacklist(blacklist).await.unwrap().is_empty());

    browser.close().await;
    app.shutdown().await;
}

/// The login form posted over plain HTTP (no browser needed): an account with `allowed_ips` is
/// refused from elsewhere once its password is right, and let in from an allowed address.
#[tokio::test]
async fn an_account_may_log_in_to_the_dashboard_only_from_its_allowed_addresses() {
    let app = spawn_app(|config: &mut Config| {
        for (name, network) in [("far", "192.0.2.0/24"), ("near", "127.0.0.1/32")] {
            config.accounts.push(AccountConfig {
                username: name.into(),
                password: "pass-word".into(),
                balance: "1.00".into(),
                senders: Vec::new(),
                dlr_url: String::new(),
                allowed_ips: vec![network.parse().unwrap()],
                webhook_secret: None,
            });
        }
    })
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = |username: &'static str, password: &'static str| {
        client
            .post(format!("{}/dashboard/login", app.api.base))
            .form(&[("username", username), ("password", password)])
            .send()
    };

    let wrong = login("far", "not-it").await.unwrap();
    assert_eq!(wrong.status(), 401, "a wrong password says only that");
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Wrong username or password.")
    );

    let far = login("far", "pass-word").await.unwrap();
    assert_eq!(far.status(), 403);
    assert!(far.headers().get("set-cookie").is_none(), "no session");
    assert!(
        far.text()
            .await
            .unwrap()
            .contains("This account may not be used from your address.")
    );

    let near = login("near", "pass-word").await.unwrap();
    assert_eq!(near.status(), 303);
    assert!(near.headers().get("set-cookie").is_some(), "a session");

    app.shutdown().await;
}
