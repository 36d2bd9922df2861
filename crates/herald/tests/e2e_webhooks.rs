//! Signed JSON delivery-report webhooks end to end: a message accepted with the JSON callback
//! format goes through the simulated carrier, and every status change reaches a customer endpoint
//! written in Python that verifies it with code Herald did not write (PyPI `standardwebhooks` for
//! the Standard Webhooks headers, Python's hmac for X-Messente-Signature).
//!
//! Until `/v1` accepts messages, the test accepts them through the store, exactly as an API
//! handler does: a `NewMessage` with `CallbackFormat::Json`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald::callbacks::signature::WebhookSecret;
use herald::domain::MessageId;
use herald::store::{CallbackFormat, NewMessage, NewSegment};
use serde_json::Value;
use support::peers::{peers_dir, python_importing};
use support::{ALICE, BOB, PATIENCE, TestApp, events, eventually, free_port, spawn_app};

/// The Python endpoint, killed when dropped; its report lines collected as they come.
struct Endpoint {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    port: u16,
}

impl Endpoint {
    async fn start(port: u16, secret: &str) -> Endpoint {
        let mut child = Command::new(python_importing("standardwebhooks", "standardwebhooks"))
            .arg("webhook_receiver.py")
            .arg(port.to_string())
            .arg(secret)
            .current_dir(peers_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the Python webhook endpoint starts");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        let endpoint = Endpoint { child, lines, port };
        eventually(PATIENCE, "the Python endpoint to listen", || async {
            endpoint.lines.lock().unwrap().first().map(|_| ())
        })
        .await;
        endpoint
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/dlr", self.port)
    }

    /// The requests it got for message `id`, in arrival order.
    fn requests_for(&self, id: &str) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["body"]["message_id"] == id)
            .cloned()
            .collect()
    }

    /// Waits until `id` has `n` requests that verified.
    async fn wait_verified(&self, id: &str, n: usize) -> Vec<Value> {
        eventually(
            PATIENCE,
            &format!("{n} verified webhooks for {id}"),
            || async {
                let verified: Vec<Value> = self
                    .requests_for(id)
                    .into_iter()
                    .filter(|l| l["standard"] == true && l["messente"] == true)
                    .collect();
                (verified.len() >= n).then_some(verified)
            },
        )
        .await
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Accepts a message for `account` with JSON webhooks to `url`, as the `/v1` API does.
async fn accept_json(app: &TestApp, account: &str, to: &str, url: &str) -> String {
    let store = app.store();
    let account = store
        .account_by_username(account)
        .await
        .unwrap()
        .expect("the account exists");
    let now = herald::clock::now_millis();
    let message = NewMessage {
        id: MessageId::generate(),
        account_id: account.id,
        destination: to.into(),
        sender: "Herald".into(),
        text: Some("Your code is 1234".into()),
        text_store: Default::default(),
        dlr_url: Some(url.into()),
        callback_format: CallbackFormat::Json,
        omnimessage_id: Some(format!("omni-{to}")),
        priority: Default::default(),
        carrier: Some("sim".into()),
        price: Some("0.05".into()),
        validity: Duration::from_secs(3600),
        not_before: now,
        segments: vec![NewSegment {
            seq: 0,
            data_coding: 0,
            esm_class: 0,
            payload: b"Your code is 1234".to_vec(),
        }],
        rejection: None,
        accepted_at: now,
    };
    let id = message.id.as_str().to_owned();
    store.accept(message).await.expect("accepted");
    id
}

fn statuses(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r["body"]["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn every_status_change_is_a_signed_post_the_standard_webhooks_library_verifies() {
    let secret = WebhookSecret::generate();
    let configured = secret.as_str().to_owned();
    let app = spawn_app(|c| c.accounts[0].webhook_secret = Some(configured)).await;
    let endpoint = Endpoint::start(free_port(), secret.as_str()).await;

    let delivered = accept_json(&app, ALICE.0, "37255500000", &endpoint.url()).await;
    let undelivered = accept_json(&app, ALICE.0, "37255500001", &endpoint.url()).await;

    let got = endpoint.wait_verified(&delivered, 2).await;
    assert_eq!(statuses(&got), ["ACCEPTD", "DELIVRD"]);
    let body = &got[1]["body"];
    assert_eq!(body["err"], 0);
    assert_eq!(body["error"], Value::Null);
    assert_eq!(body["to"], "+37255500000");
    assert_eq!(body["channel"], "sms");
    assert_eq!(body["sender"], "Herald");
    assert_eq!(body["omnimessage_id"], "omni-37255500000");
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
    let history = app.history(&delivered).await;
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
    for to in ["37255500000", "37255500001", "37255500007"] {
        ids.push(accept_json(&app, BOB.0, to, &url).await);
    }
    for id in &ids {
        // Both status changes happen while nobody listens; the first webhook keeps failing.
        app.wait_history(id, "a final status and failed attempts", |h| {
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
        let history = app.history(id).await;
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

    let id = accept_json(&app, ALICE.0, "37255500000", &endpoint.url()).await;

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
        .wait_history(&id, "two attempts answered 401", |h| {
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
