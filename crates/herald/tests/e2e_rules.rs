//! The message rules end to end: every rule's rejection from HTTP `send_sms` to the exact
//! callback, `get_dlr_response` and the history — 005 and 003 (numbers), 007 (senders), 008
//! (blacklists, managed with `herald blacklist`), 006 (duplicates), 004 (money) — how they meet
//! 999 and 002, and that concurrent sends never overdraw an account.
//!
//! Rejections are decided in the pipeline, never answered synchronously: every send here is
//! answered `OK <id>` (status-model §4).

mod support;

use std::path::Path;
use std::time::Duration;

use futures_util::future::join_all;
use herald::domain::MessageId;
use herald::money::Money;
use herald::store::Event;
use support::*;

/// Sends `text` to `to` from `account` with `from` (the account default when `None`) and the
/// receiver's `/dlr` as dlr-url; returns the id.
async fn send(
    app: &TestApp,
    receiver: &CallbackReceiver,
    account: (&str, &str),
    to: &str,
    text: &str,
    from: Option<&str>,
) -> String {
    let dlr_url = receiver.url("/dlr");
    let mut params = vec![("to", to), ("text", text), ("dlr-url", dlr_url.as_str())];
    if let Some(from) = from {
        params.push(("from", from));
    }
    app.api.send_ok(account, Via::Get, &params).await
}

/// Waits for `id` to settle and checks its exact callbacks, in order.
async fn expect_callbacks(
    app: &TestApp,
    receiver: &CallbackReceiver,
    id: &str,
    expected: &[String],
) -> Vec<Event> {
    let history = app.wait_settled(id, PATIENCE).await;
    assert_eq!(receiver.acknowledged(id), expected, "callbacks of {id}");
    history
}

/// Expects `id` to end Rejected by a rule with `err`, told through the callback and
/// `get_dlr_response`, and never submitted.
async fn expect_rule_rejection(
    app: &TestApp,
    receiver: &CallbackReceiver,
    account: (&str, &str),
    id: &str,
    err: &str,
) -> Vec<Event> {
    let history = expect_callbacks(
        app,
        receiver,
        id,
        &[report(id, "FAILED", "REJECTD", 16, err)],
    )
    .await;
    assert_eq!(
        app.api.dlr_response(account, Via::Post, id).await,
        "OK FAILED"
    );
    assert_eq!(
        count(&history, "submit"),
        0,
        "never submitted: {history:#?}"
    );
    assert_eq!(count(&history, "charge"), 0, "never charged: {history:#?}");
    let status = events(&history, "status").next().expect("a status event");
    assert_eq!(status.detail["err"], err, "{history:#?}");
    history
}

fn delivered_callbacks(id: &str) -> [String; 2] {
    [sent(id), delivered(id)]
}

#[tokio::test]
async fn a_number_that_does_not_parse_is_rejected_with_err_005_and_a_number_is_stored_in_e164() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    // A national number too short to exist in Estonia, a country code that does not exist, a
    // number no route serves.
    for to in ["+3725", "+999 123 456", "+49 1511 2345678"] {
        let id = send(&app, &receiver, ALICE, to, "hi", None).await;
        expect_rule_rejection(&app, &receiver, ALICE, &id, "005").await;
    }
    let id = send(&app, &receiver, ALICE, "+372 5550 0000", "hi", None).await;
    expect_callbacks(&app, &receiver, &id, &delivered_callbacks(&id)).await;
    let stored = app
        .store()
        .message(&MessageId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.destination, "37255500000");
    assert_eq!(app.api.balance(ALICE).await, "OK 99.95", "only it was paid");
    app.shutdown().await;
}

#[tokio::test]
async fn a_destination_the_carrier_refuses_reports_nack_003_and_is_refunded() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let id = send(&app, &receiver, ALICE, "37255500003", "hi", None).await;
    let history = expect_callbacks(
        &app,
        &receiver,
        &id,
        &[report(&id, "FAILED", "NACK", 16, "003")],
    )
    .await;
    assert_eq!(count(&history, "charge"), 1, "{history:#?}");
    assert_eq!(count(&history, "refund"), 1, "{history:#?}");
    assert_eq!(app.api.balance(ALICE).await, "OK 100.00");
    app.shutdown().await;
}

#[tokio::test]
async fn a_sender_the_account_may_not_use_is_rejected_with_err_007() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    // Not on Alice's list; on Bob's list but not hers; longer than a handset shows.
    for from in ["Bank", "Bob", "Herald Gateway Ltd"] {
        let id = send(&app, &receiver, ALICE, "37255500000", from, Some(from)).await;
        expect_rule_rejection(&app, &receiver, ALICE, &id, "007").await;
    }
    // The first allowed name is the default; another allowed one is used as given.
    let default = send(&app, &receiver, ALICE, "37255500000", "default", None).await;
    expect_callbacks(&app, &receiver, &default, &delivered_callbacks(&default)).await;
    let id = MessageId::parse(&default).unwrap();
    let view = app.store().message(&id).await.unwrap().unwrap();
    assert_eq!(view.sender, "Herald");
    assert_eq!(app.api.balance(ALICE).await, "OK 99.95");
    app.shutdown().await;
}

#[tokio::test]
async fn a_sender_the_carrier_refuses_reports_nack_007_and_is_refunded() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let id = send(&app, &receiver, ALICE, "37255500000", "hi", Some("Blocked")).await;
    let history = expect_callbacks(
        &app,
        &receiver,
        &id,
        &[report(&id, "FAILED", "NACK", 16, "007")],
    )
    .await;
    assert_eq!(count(&history, "refund"), 1, "{history:#?}");
    assert_eq!(app.api.balance(ALICE).await, "OK 100.00");
    app.shutdown().await;
}

/// Runs `herald blacklist ARGS --config FILE` against the test gateway's database.
async fn herald_blacklist(config: &Path, args: &[&str]) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .arg("blacklist")
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("HERALD_CONFIG");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("herald runs");
    assert!(
        output.status.success(),
        "herald blacklist {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn a_blacklisted_number_is_rejected_with_err_008_for_its_account_or_for_everyone() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("herald.toml");
    std::fs::write(
        &config,
        format!("[database]\nurl = \"{}\"\n", app.config.database.url),
    )
    .unwrap();
    let (alices, everyones) = ("37255500011", "37255500022");

    assert_eq!(
        herald_blacklist(&config, &["add", "--account", ALICE.0, "+372 5550 0011"]).await,
        "+37255500011 added to the blacklist of account alice"
    );
    assert_eq!(
        herald_blacklist(&config, &["add", everyones]).await,
        "+37255500022 added to the global blacklist"
    );
    assert_eq!(
        herald_blacklist(&config, &["add", everyones]).await,
        "+37255500022 was already on the global blacklist"
    );
    assert_eq!(
        herald_blacklist(&config, &["list", "--account", ALICE.0]).await,
        "+37255500011"
    );
    assert_eq!(herald_blacklist(&config, &["list"]).await, "+37255500022");

    for (account, to) in [(ALICE, alices), (ALICE, everyones), (BOB, everyones)] {
        let id = send(&app, &receiver, account, to, "hi", None).await;
        expect_rule_rejection(&app, &receiver, account, &id, "008").await;
    }
    // Alice's list is hers alone.
    let bobs = send(&app, &receiver, BOB, alices, "hi", None).await;
    expect_callbacks(&app, &receiver, &bobs, &delivered_callbacks(&bobs)).await;

    assert_eq!(
        herald_blacklist(&config, &["remove", "--account", ALICE.0, alices]).await,
        "+37255500011 removed from the blacklist of account alice"
    );
    let again = send(&app, &receiver, ALICE, alices, "hi", None).await;
    expect_callbacks(&app, &receiver, &again, &delivered_callbacks(&again)).await;
    assert_eq!(app.api.balance(ALICE).await, "OK 99.95");
    app.shutdown().await;
}

#[tokio::test]
async fn more_identical_messages_than_the_limit_are_rejected_with_err_006_until_the_block_ends() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|c| {
        c.rules.duplicate_limit = 2;
        c.rules.duplicate_window_secs = 3;
        c.rules.duplicate_block_secs = 4;
    })
    .await;
    let (to, text) = ("37255500000", "Your order has shipped");
    let mut allowed = Vec::new();
    for _ in 0..2 {
        allowed.push(send(&app, &receiver, ALICE, to, text, None).await);
    }
    let over = send(&app, &receiver, ALICE, to, text, None).await;
    let blocked = send(&app, &receiver, ALICE, to, text, None).await;
    // Other texts, other numbers and other accounts are not that message.
    let other_text = send(&app, &receiver, ALICE, to, "Your order has arrived", None).await;
    let other_number = send(&app, &receiver, ALICE, "37255500100", text, None).await;
    let other_account = send(&app, &receiver, BOB, to, text, None).await;

    for id in allowed
        .iter()
        .chain([&other_text, &other_number, &other_account])
    {
        expect_callbacks(&app, &receiver, id, &delivered_callbacks(id)).await;
    }
    expect_rule_rejection(&app, &receiver, ALICE, &over, "006").await;
    expect_rule_rejection(&app, &receiver, ALICE, &blocked, "006").await;

    // The block lasts 4 s from the first message over the limit, and by then the window (3 s)
    // has let the allowed ones go by.
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let later = send(&app, &receiver, ALICE, to, text, None).await;
    expect_callbacks(&app, &receiver, &later, &delivered_callbacks(&later)).await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_message_the_balance_cannot_pay_for_all_its_segments_is_rejected_with_err_004_and_costs_nothing()
 {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|c| c.accounts[0].balance = "0.15".into()).await;
    let two_segments = "a".repeat(200);

    let paid = send(&app, &receiver, ALICE, "37255500000", &two_segments, None).await;
    let history = expect_callbacks(&app, &receiver, &paid, &delivered_callbacks(&paid)).await;
    let charge = events(&history, "charge").next().expect("charged");
    assert_eq!(
        charge.detail["amount_micros"], 100_000,
        "two segments at 0.05"
    );
    assert_eq!(app.api.balance(ALICE).await, "OK 0.05");

    let unpaid = send(&app, &receiver, ALICE, "37255500000", &two_segments, None).await;
    let history = expect_rule_rejection(&app, &receiver, ALICE, &unpaid, "004").await;
    let rule = events(&history, "rule")
        .next()
        .expect("the rule's evidence");
    assert_eq!(rule.detail["cost_micros"], 100_000);
    assert_eq!(rule.detail["balance_micros"], 50_000);
    assert_eq!(app.api.balance(ALICE).await, "OK 0.05", "costs nothing");

    // What the balance can pay still goes out.
    let one = send(&app, &receiver, ALICE, "37255500100", "short", None).await;
    expect_callbacks(&app, &receiver, &one, &delivered_callbacks(&one)).await;
    assert_eq!(app.api.balance(ALICE).await, "OK 0.00");

    // A message Rejected for credit is final: the own expiry does not touch it.
    let far_future = 4_000_000_000_000;
    app.store()
        .expire_overdue(far_future, Duration::ZERO, 100)
        .await
        .unwrap();
    assert_eq!(
        app.api.dlr_response(ALICE, Via::Get, &unpaid).await,
        "OK FAILED"
    );
    assert_eq!(receiver.acknowledged(&unpaid).len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn temporary_errors_outlasting_the_retries_reject_999_and_are_refunded() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|c| c.pipeline.submit_retry_limit = 1).await;

    let throttled = send(&app, &receiver, ALICE, "37255500004", "hi", None).await;
    let history = expect_callbacks(
        &app,
        &receiver,
        &throttled,
        &[report(&throttled, "FAILED", "FAILED", 16, "999")],
    )
    .await;
    assert_eq!(count(&history, "charge"), 1, "{history:#?}");
    assert_eq!(count(&history, "refund"), 1, "{history:#?}");
    assert_eq!(app.api.balance(ALICE).await, "OK 100.00");

    app.shutdown().await;
}

/// Takes a minute: validity is given in minutes, and the carrier reports the expiry when the
/// submit's validity ends.
#[tokio::test]
async fn an_expired_message_was_sent_and_stays_paid() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let dlr_url = receiver.url("/dlr");
    let id = app
        .api
        .send_ok(
            ALICE,
            Via::Get,
            &[
                ("to", "37255500002"),
                ("text", "expires"),
                ("validity", "1"),
                ("dlr-url", &dlr_url),
            ],
        )
        .await;
    receiver
        .wait_acknowledged(&id, 2, Duration::from_secs(100))
        .await;
    let history = expect_callbacks(
        &app,
        &receiver,
        &id,
        &[sent(&id), report(&id, "FAILED", "EXPIRED", 2, "002")],
    )
    .await;
    assert_eq!(count(&history, "charge"), 1, "{history:#?}");
    assert_eq!(count(&history, "refund"), 0, "{history:#?}");
    assert_eq!(app.api.balance(ALICE).await, "OK 99.95");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_never_overdraw_and_exactly_the_unpaid_ones_are_rejected_with_err_004() {
    const SENDS: usize = 50;
    const AFFORDABLE: usize = 20; // 1.00 at 0.05 a message
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|c| c.accounts[0].balance = "1.00".into()).await;

    // Watch the balance while the sends race each other.
    let watcher = {
        let api = app.api.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..200 {
                seen.push(api.balance(ALICE).await);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            seen
        })
    };
    let numbers: Vec<String> = (0..SENDS).map(|i| format!("3725550{i:02}00")).collect();
    let ids = join_all(
        numbers
            .iter()
            .map(|to| send(&app, &receiver, ALICE, to, "Flash sale today", None)),
    )
    .await;

    let (mut paid, mut unpaid) = (Vec::new(), Vec::new());
    for id in &ids {
        let history = app.wait_settled(id, PATIENCE).await;
        let callbacks = receiver.acknowledged(id);
        if callbacks == delivered_callbacks(id) {
            assert_eq!(count(&history, "charge"), 1, "{history:#?}");
            paid.push(id);
        } else {
            assert_eq!(
                callbacks,
                [report(id, "FAILED", "REJECTD", 16, "004")],
                "{history:#?}"
            );
            assert_eq!(count(&history, "charge"), 0, "{history:#?}");
            assert_eq!(count(&history, "submit"), 0, "{history:#?}");
            unpaid.push(id);
        }
    }
    assert_eq!(paid.len(), AFFORDABLE);
    assert_eq!(unpaid.len(), SENDS - AFFORDABLE);
    assert_eq!(app.api.balance(ALICE).await, "OK 0.00");

    let seen = watcher.await.unwrap();
    let amounts: Vec<Money> = seen
        .iter()
        .map(|answer| {
            let amount = answer.strip_prefix("OK ").expect("a balance");
            // Money parses only amounts of zero and more.
            Money::parse(amount).unwrap_or_else(|e| panic!("{e}: {seen:?}"))
        })
        .collect();
    assert!(
        amounts.windows(2).all(|w| w[1] <= w[0]),
        "only ever charged, never refunded: {seen:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn get_balance_prices_and_pricelist_answer_from_the_account_and_the_routes() {
    let app = spawn_app(|c| c.accounts[1].balance = "707.54".into()).await;
    let api = &app.api;
    assert_eq!(api.balance(ALICE).await, "OK 100.00");
    assert_eq!(api.balance(BOB).await, "OK 707.54");
    assert_eq!(api.balance((ALICE.0, "wrong")).await, "ERROR 101");
    assert_eq!(
        api.call(
            "get_balance",
            Via::PostSlash,
            &[("username", BOB.0), ("password", BOB.1)]
        )
        .await,
        "OK 707.54"
    );

    let creds = [("username", ALICE.0), ("password", ALICE.1)];
    let with = |extra: (&'static str, &'static str)| {
        let mut p = creds.to_vec();
        p.push(extra);
        p
    };
    let (content_type, body) = api.fetch("prices", &with(("country", "EE"))).await;
    assert_eq!(content_type, "application/json");
    let prices: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        prices,
        serde_json::json!({
            "country": "EE", "calling_code": "372",
            "prices": [{ "prefix": "372", "mccmnc": null, "network": null, "price": "0.05" }],
        })
    );
    let (_, body) = api.fetch("prices/", &with(("country", "gb"))).await;
    let prices: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(prices["prices"][0]["price"], "0.06");
    let (_, body) = api.fetch("prices", &with(("country", "DE"))).await;
    let prices: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        prices["prices"],
        serde_json::json!([]),
        "no route serves it"
    );
    assert_eq!(api.fetch("prices", &creds).await.1, "ERROR 102");
    assert_eq!(
        api.fetch("prices", &with(("country", "XX"))).await.1,
        "ERROR 102"
    );

    let (content_type, csv) = api.fetch("pricelist", &creds).await;
    assert_eq!(content_type, "text/csv; charset=UTF-8");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "Country,Code,MCCMNC,Network,Price");
    assert!(lines.contains(&"EE,372,,,0.05"), "{csv}");
    assert!(lines.contains(&"GB,44,,,0.06"), "{csv}");
    assert!(!lines.iter().any(|l| l.starts_with("DE,")), "{csv}");
    assert_eq!(
        api.fetch("pricelist", &[("username", ALICE.0), ("password", "x")])
            .await
            .1,
        "ERROR 101"
    );
    app.shutdown().await;
}
