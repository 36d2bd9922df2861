//! The `/v1` API driven by the published Python client of the platform it follows (PyPI
//! `messente-api`, pinned in `tests/peers/requirements.txt`), unchanged: only its host points at
//! a running Herald. The client parses every answer with its own models, so a field Herald
//! names or types differently fails here. The delivery reports of the omnimessage it sends go,
//! as signed JSON webhooks, to a customer endpoint in Python that verifies both signatures with
//! code Herald did not write.
//!
//! Install the peers first (CI does): `python3 -m pip install -r crates/herald/tests/peers/requirements.txt`.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use herald::callbacks::signature::WebhookSecret;
use serde_json::{Value, json};
use support::peers::{peers_dir, python_importing};
use support::webhook_endpoint::{self, WebhookEndpoint};
use support::{ALICE, free_port, spawn_app};

const PEER_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the client script to completion (bounded) and returns the JSON object it printed last.
async fn run_client(args: &[&str]) -> Value {
    let python = python_importing("messente_api", "messente-api");
    let mut cmd = Command::new(python);
    cmd.arg("messente_client.py")
        .args(args)
        .current_dir(peers_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let describe = format!("{cmd:?}");
    let mut child = cmd.spawn().expect("spawn the client");
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let output = tokio::task::spawn_blocking(move || {
        let (mut out, mut err) = (String::new(), String::new());
        let _ = stdout.read_to_string(&mut out);
        let _ = stderr.read_to_string(&mut err);
        (out, err)
    });
    let Ok(output) = tokio::time::timeout(PEER_TIMEOUT, output).await else {
        let _ = child.kill();
        panic!("{describe} did not finish in {PEER_TIMEOUT:?}");
    };
    let (out, err) = output.unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "{describe} failed ({status}):\n{err}\n{out}"
    );
    let last = out.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{describe} printed {out:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_python_client_sends_reads_status_cancels_and_manages_the_blacklist() {
    // Alice's webhook secret, configured; the customer's endpoint verifies with it.
    let secret = WebhookSecret::generate();
    let configured = secret.as_str().to_owned();
    let app = spawn_app(|c| c.accounts[0].webhook_secret = Some(configured)).await;
    let endpoint = WebhookEndpoint::start(free_port(), secret.as_str()).await;
    let seen = run_client(&[
        &app.api.base,
        ALICE.0,
        ALICE.1,
        "+37255500000",
        "+37255500099",
        &endpoint.url(),
    ])
    .await;

    let created = &seen["created"];
    let omni = created["omnimessage_id"]
        .as_str()
        .expect("an omnimessage id");
    assert_eq!(created["to"], "+37255500000");
    assert_eq!(
        created["messages"],
        json!([{ "channel": "sms", "message_id": omni, "sender": "Herald" }])
    );

    // The status as the client read it, from the first answer to the final one.
    let statuses = seen["statuses"].as_array().unwrap();
    let last = statuses.last().expect("at least one status");
    assert_eq!(last["status"], "DELIVRD", "{statuses:?}");
    assert_eq!(last["err"], 0);
    assert_eq!(last["channel"], "sms");
    assert_eq!(last["message_id"], omni);
    assert!(last["timestamp"].is_string());
    assert_eq!(
        last["price_info"],
        json!({ "part_price": "0.05", "parts_count": 1, "total_price": "0.05" })
    );
    assert_eq!(seen["report_to"], "+37255500000");
    assert_eq!(seen["report_omnimessage_id"], omni);
    // Herald has it, high priority, to be reported by JSON webhook.
    let id = herald::domain::MessageId::parse(&omni.replace('-', "")).unwrap();
    let view = app.store().message(&id).await.unwrap().expect("stored");
    assert_eq!(view.priority, herald::store::Priority::High);
    assert_eq!(view.callback_format, herald::store::CallbackFormat::Json);

    // Every status change reached the endpoint as a webhook both signatures verified, about the
    // message the client was told of; the same body with one byte changed verified neither way.
    let hooks = endpoint.wait_verified(omni, 2).await;
    assert_eq!(
        webhook_endpoint::statuses(&hooks),
        ["ACCEPTD", "DELIVRD"],
        "{hooks:?}"
    );
    for hook in &hooks {
        let body = &hook["body"];
        assert_eq!(body["message_id"], omni, "{body}");
        assert_eq!(body["to"], "+37255500000", "{body}");
        assert_eq!(body["err"].as_u64(), Some(0), "an integer err: {body}");
        assert_eq!(hook["tampered_rejected"], true, "{hook}");
    }
    let all = endpoint.requests_for(omni);
    assert_eq!(all.len(), 2, "each event once, none refused: {all:?}");

    assert_eq!(seen["bulk"].as_array().map(Vec::len), Some(1));
    assert_eq!(seen["cancelled_status"], "DELETED");

    assert_eq!(seen["added_twice"]["status"], 409);
    assert_eq!(seen["listed"], json!(["+37255500099"]));
    assert_eq!(seen["listed_after_delete"], json!([]));
    assert_eq!(seen["still_blacklisted"], false);

    // Errors parsed by the client's own error models.
    let unknown = &seen["unknown"];
    assert_eq!(unknown["status"], 404);
    assert_eq!(unknown["parsed"], true, "{unknown}");
    assert_eq!(unknown["errors"][0]["code"], "101");
    assert_eq!(unknown["errors"][0]["title"], "Not found");
    let wrong = &seen["wrong_password"];
    assert_eq!(wrong["status"], 401);
    assert_eq!(wrong["parsed"], true, "{wrong}");
    assert_eq!(wrong["errors"][0]["code"], "103");
    assert_eq!(wrong["errors"][0]["title"], "Unauthorized");
    app.shutdown().await;
}
