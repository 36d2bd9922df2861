//! Client protection over real HTTP: the per-client request limit (429 with `Retry-After`, then
//! recovery), which address counts as the client (`X-Forwarded-For` only from trusted proxies),
//! and the accounts' IP allow-lists (`ERROR 103`).

mod support;

use std::time::Duration;

use support::{ALICE, BOB, Via, spawn_app};

/// `get_balance` as `account`, from a client claiming to forward for `forwarded_for`: the HTTP
/// status, `Retry-After` and body.
async fn balance(
    base: &str,
    account: (&str, &str),
    forwarded_for: Option<&str>,
) -> (u16, Option<u64>, String) {
    let mut request = reqwest::Client::new()
        .get(format!("{base}/get_balance"))
        .query(&[("username", account.0), ("password", account.1)]);
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().expect("Retry-After in seconds"));
    (status, retry_after, response.text().await.unwrap())
}

/// Sends `get_balance` until the limit answers 429 (a slow machine may have earned a request
/// back meanwhile, hence a few tries); returns that answer's `Retry-After`.
async fn until_limited(base: &str, forwarded_for: &[&str]) -> u64 {
    for n in 0..10 {
        let xff = forwarded_for[n % forwarded_for.len()];
        let xff = (!xff.is_empty()).then_some(xff);
        let (status, retry_after, body) = balance(base, ALICE, xff).await;
        match status {
            429 => return retry_after.expect("a 429 says when to come back"),
            200 => assert_eq!(body, "OK 100.00"),
            other => panic!("HTTP {other}: {body}"),
        }
    }
    panic!("never limited");
}

#[tokio::test]
async fn beyond_the_burst_a_client_gets_429_with_retry_after_and_recovers_after_it() {
    let app = spawn_app(|c| {
        c.http.rate_limit_per_second = 1;
        c.http.rate_limit_burst = 3;
        c.http.rate_limit_exempt.clear();
    })
    .await;
    let base = &app.api.base;
    for _ in 0..3 {
        assert_eq!(balance(base, ALICE, None).await.2, "OK 100.00");
    }
    let retry_after = until_limited(base, &[""]).await;
    assert_eq!(retry_after, 1, "one request comes back every second");
    // Every route counts against the same client, the operator's endpoints too.
    let health = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(health.status(), 429);
    assert!(health.headers().contains_key("retry-after"));

    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(balance(base, ALICE, None).await.2, "OK 100.00");
    app.shutdown().await;
}

#[tokio::test]
async fn the_default_limit_leaves_the_machine_itself_alone() {
    let app = spawn_app(|c| {
        c.http.rate_limit_per_second = 1;
        c.http.rate_limit_burst = 1;
    })
    .await;
    for _ in 0..20 {
        assert_eq!(balance(&app.api.base, ALICE, None).await.0, 200);
    }
    app.shutdown().await;
}

#[tokio::test]
async fn forwarded_clients_are_limited_apart_only_behind_a_trusted_proxy() {
    let limited = |trusted: bool| {
        move |c: &mut herald::config::Config| {
            c.http.rate_limit_per_second = 1;
            c.http.rate_limit_burst = 2;
            c.http.rate_limit_exempt.clear();
            if trusted {
                c.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            }
        }
    };
    // Behind a trusted proxy each forwarded client has its own allowance.
    let app = spawn_app(limited(true)).await;
    let base = &app.api.base;
    for _ in 0..2 {
        assert_eq!(balance(base, ALICE, Some("203.0.113.7")).await.0, 200);
    }
    until_limited(base, &["203.0.113.7"]).await;
    // What the client itself wrote left of the proxy's entry changes nothing.
    assert_eq!(
        balance(base, ALICE, Some("198.51.100.1, 203.0.113.7"))
            .await
            .0,
        429
    );
    assert_eq!(balance(base, ALICE, Some("203.0.113.8")).await.0, 200);
    app.shutdown().await;

    // Without one the header is the client's word: everyone from here shares one allowance.
    let app = spawn_app(limited(false)).await;
    let base = &app.api.base;
    assert_eq!(balance(base, ALICE, Some("203.0.113.7")).await.0, 200);
    assert_eq!(balance(base, ALICE, Some("203.0.113.8")).await.0, 200);
    until_limited(base, &["203.0.113.9", "203.0.113.10", "203.0.113.11"]).await;
    app.shutdown().await;
}

#[tokio::test]
async fn an_account_answers_error_103_to_an_address_not_on_its_allow_list() {
    let app = spawn_app(|c| {
        for a in &mut c.accounts {
            a.allowed_ips = if a.username == ALICE.0 {
                vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()]
            } else {
                vec![
                    "203.0.113.0/24".parse().unwrap(),
                    "2001:db8::/32".parse().unwrap(),
                ]
            };
        }
    })
    .await;
    let api = &app.api;
    assert_eq!(api.balance(ALICE).await, "OK 100.00");
    assert_eq!(api.balance(BOB).await, "ERROR 103");
    for via in [Via::Get, Via::Post] {
        assert_eq!(
            api.send_sms(BOB, via, &[("to", "37255500000"), ("text", "hi")])
                .await,
            "ERROR 103"
        );
    }
    // A wrong password is ERROR 101 from anywhere: the allow-list is not revealed.
    assert_eq!(api.balance((BOB.0, "wrong")).await, "ERROR 101");
    // A forwarded address means nothing from a proxy nobody trusts.
    assert_eq!(
        balance(&api.base, BOB, Some("203.0.113.7")).await.2,
        "ERROR 103"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_allow_list_sees_the_forwarded_client() {
    let app = spawn_app(|c| {
        c.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        for a in c.accounts.iter_mut().filter(|a| a.username == BOB.0) {
            a.allowed_ips = vec!["203.0.113.0/24".parse().unwrap()];
        }
    })
    .await;
    let base = &app.api.base;
    assert_eq!(balance(base, BOB, Some("203.0.113.7")).await.2, "OK 100.00");
    assert_eq!(
        balance(base, BOB, Some("198.51.100.7")).await.2,
        "ERROR 103"
    );
    // The proxy itself is not on Bob's list.
    assert_eq!(balance(base, BOB, None).await.2, "ERROR 103");
    app.shutdown().await;
}

#[tokio::test]
async fn the_v1_api_answers_403_to_an_address_not_on_the_allow_list() {
    let app = spawn_app(|c| {
        for a in c.accounts.iter_mut().filter(|a| a.username == BOB.0) {
            a.allowed_ips = vec!["203.0.113.0/24".parse().unwrap()];
        }
    })
    .await;
    let messages = |account: (&'static str, &'static str), password: &'static str| {
        let base = app.api.base.clone();
        async move {
            let response = reqwest::Client::new()
                .get(format!("{base}/v1/messages"))
                .basic_auth(account.0, Some(password))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value =
                serde_json::from_str(&response.text().await.unwrap()).unwrap();
            (status, body)
        }
    };
    assert_eq!(messages(ALICE, ALICE.1).await.0, 200);
    let (status, body) = messages(BOB, BOB.1).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["errors"][0]["code"], "102", "{body}");
    // The password is checked first, from anywhere.
    assert_eq!(messages(BOB, "wrong").await.0, 401);
    app.shutdown().await;
}
