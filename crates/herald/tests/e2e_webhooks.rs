//! Signed JSON delivery-report webhooks end to end: a message sent with `POST /v1/omnimessage`
//! over HTTP, with a `dlr_url`, goes through the simulated carrier, and every status change
//! reaches a customer endpoint written in Python that verifies it with code Herald did not write
//! (PyPI `standardwebhooks` for the Standard Webhooks headers, Python's hmac for
//! X-Messente-Signature).

mod support;

use std::time::Duration;

use herald::callbacks::signature::WebhookSecret;
use serde_json::{Value, json};
use support::webhook_endpoint::{WebhookEndpoint as Endpoint, statuses};
use support::{ALICE, BOB, PATIENCE, TestApp, events, eventually, free_port, spawn_app};

/// Sends an SMS to `to` as `account` with `POST /v1/omnimessage`, its webhooks to `url`.
/// Returns the `message_id` Herald answered with (the UUID form the webhooks carry).
async fn send(app: &TestApp, account: (&str, &str), to: &str, url: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/omnimessage", app.api.base))
        .basic_auth(account.0, Some(account.1))
        .header("content-type", "application/json")
        .body(
            json!({
                "to": to,
                "messages": [{ "channel": "sms", "text": "Your code is 1234" }],
                "dlr_url": url,
            })
            .to_string(),
        )
        .send()
        .await
        .expect("Herald answers");
    assert_eq!(response.status(), 201, "the omnimessage is created");
    let created: Value =
        serde_json::from_slice(&response.bytes().await.expect("a body")).expect("a JSON answer");
    created["messages"][0]["message_id"]
        .as_str()
        .expect("a message id")
        .to_owned()
}

/// Herald's own form of a `/v1` message id, as the store and the history take it.
fn herald_id(uuid: &str) -> String {
    uuid.replace('-', "")
}

#[tokio::test]
async fn every_status_change_is_a_signed_post_the_standard_webhooks_library_verifies() {
    let secret = WebhookSecret::generate();
    let configured = secret.as_str().to_owned();
    let app = spawn_app(|c| c.accounts[0].webhook_secret = Some(configured)).await;
    let endpoint = Endpoint::start(free_port(), secret.as_str()).await;

    let delivered = send(&app, ALICE, "+37255500000", &endpoint.url()).await;
    let undelivered = send(&app, ALICE, "+37255500001", &endpoint.url()).await;

    let got = endpoint.wait_verified(&delivered, 2).await;
    assert_eq!(statuses(&got), ["ACCEPTD", "DELIVRD"]);
    let body = &got[1]["body"];
    assert_eq!(body["err"], 0);
    assert_eq!(body["error"], Value::Null);
    assert_eq!(body["to"], "+37255500000");
    assert_eq!(body["channel"], "sms");
    assert_eq!(body["sender"], "Herald");
    assert_eq!(body["message_id"], delivered.as_str());
    assert_eq!(body["omnimessage_id"], delivered.as_str());
    assert_eq!(
        body["price_info"],
        serde_json::json!({ "part_price": "0.05", "parts_count": 1, "total_price": "0.05" })
    );
    assert_eq!(body["timestamp"].as_str().unwrap().len(), 26, "{body}");
    assert_eq!(got[0]["content_type"], "application/json");
    assert_ne!(
        got[0]["webhook_id"], got[1]["webhook_id"],
        "one id per event"
    );

    let got = endpoint.wait_verified(&undelivered, 2).await;
    assert_eq!(statuses(&got), ["ACCEPTD", "UNDELIV"]);
    assert_eq!(got[1]["body"]["err"], 1);
    assert_eq!(
        got[1]["body"]["error"],
        "Failed to deliver SMS to this number"
    );

    for request in endpoint.requests_for(&delivered) {
        assert_eq!(
            request["tampered_rejected"], true,
            "a changed body fails both verifications: {request}"
        );
    }
    // Every attempt is in the message's history: URL, response code, time, format, webhook id.
    let history = app.history(&herald_id(&delivered)).await;
    let attempts: Vec<_> = events(&history, "callback").collect();
    assert_eq!(attempts.len(), 2, "{history:?}");
    for a in &attempts {
        assert_eq!(a.detail["url"], endpoint.url());
        assert_eq!(a.detail["http_status"], 200);
        assert_eq!(a.detail["format"], "json");
        assert!(a.at > 0);
    }
    let ids: Vec<_> = endpoint
        .requests_for(&delivered)
        .iter()
        .map(|r| r["webhook_id"].clone())
        .collect();
    let recorded: Vec<_> = attempts
        .iter()
        .map(|a| a.detail["webhook_id"].clone())
        .collect();
    assert_eq!(ids, recorded);
    app.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_down_then_up_gets_every_webhook_in_order_signed_with_the_generated_secret() {
    let app = spawn_app(|c| c.callbacks.schedule = vec![Duration::from_millis(300); 100]).await;
    // Bob has no configured secret: Herald generated one at start, and the store shows it.
    let bob = app
        .store()
        .account_by_username(BOB.0)
        .await
        .unwrap()
        .unwrap();
    let secret = app.store().webhook_secret(bob.id).await.unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hooks/dlr");

    let mut ids = Vec::new();
    for to in ["+37255500000", "+37255500001", "+37255500007"] {
        ids.push(send(&app, BOB, to, &url).await);
    }
    for id in &ids {
        // Both status changes happen while nobody listens; the first webhook keeps failing.
        app.wait_history(&herald_id(id), "a final status and failed attempts", |h| {
            events(h, "status").count() == 2
                && events(h, "callback")
                    .filter(|e| e.detail["error"].is_string())
                    .count()
                    >= 2
        })
        .await;
    }

    let endpoint = Endpoint::start(port, &secret).await;
    let expected = [
        ["ACCEPTD", "DELIVRD"],
        ["ACCEPTD", "UNDELIV"],
        ["ACCEPTD", "DELIVRD"],
    ];
    for (id, expected) in ids.iter().zip(expected) {
        let got = endpoint.wait_verified(id, 2).await;
        assert_eq!(statuses(&got), expected, "in order for {id}");
        let requests = endpoint.requests_for(id);
        assert_eq!(requests.len(), 2, "each event once: {requests:?}");
        let history = app.history(&herald_id(id)).await;
        let failed: Vec<_> = events(&history, "callback")
            .filter(|e| e.detail["http_status"].is_null())
            .collect();
        assert!(!failed.is_empty());
        // The retries of the first event carried the id it was finally delivered with.
        assert!(
            failed
                .iter()
                .all(|e| e.detail["webhook_id"] == requests[0]["webhook_id"]),
            "{failed:?}"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_webhook_the_endpoint_cannot_verify_is_refused_and_retried_not_lost() {
    let app = spawn_app(|c| c.callbacks.schedule = vec![Duration::from_millis(200); 50]).await;
    // The endpoint knows a different secret than the account's.
    let endpoint = Endpoint::start(free_port(), WebhookSecret::generate().as_str()).await;

    let id = send(&app, ALICE, "+37255500000", &endpoint.url()).await;

    let refused = eventually(PATIENCE, "two refused attempts", || async {
        let requests = endpoint.requests_for(&id);
        (requests.len() >= 2).then_some(requests)
    })
    .await;
    for r in &refused {
        assert_eq!(r["standard"], false, "{r}");
        assert_eq!(r["messente"], false, "{r}");
        assert_eq!(
            r["body"]["status"], "ACCEPTD",
            "the first event is retried: {r}"
        );
    }
    let history = app
        .wait_history(&herald_id(&id), "two attempts answered 401", |h| {
            events(h, "callback")
                .filter(|e| e.detail["http_status"] == 401 && e.detail["next"] == "retry")
                .count()
                >= 2
        })
        .await;
    assert_eq!(
        events(&history, "callback")
            .filter(|e| e.detail["next"] == "done")
            .count(),
        0
    );
    app.shutdown().await;
}
