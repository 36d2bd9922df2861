//! "Send a message, get its delivery report back" against an SMSC Herald did not write: an npm
//! `smpp` server (`tests/peers/npm_gateway_carrier.js`) configured as Herald's carrier. It answers
//! with HEX ids, sends TEXT-ONLY receipts with the id in DECIMAL, one receipt before its
//! `submit_sm_resp` and one twice. Set up as a carrier with `concatenation = "payload"`, it
//! shows what a long message looks like on the wire: one `submit_sm`, the text in
//! `message_payload`.
//!
//! The peer must be installed first (CI does this): `npm ci --prefix crates/herald/tests/peers`.
//! A missing peer fails the test with that command in the message; `HERALD_NODE` chooses another
//! node binary.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use support::peers::{node, peers_dir};
use support::*;
use tokio::sync::mpsc;

/// The npm carrier process (killed when dropped) and its stdout, one JSON event per line.
struct NpmCarrier {
    child: Child,
    events: mpsc::UnboundedReceiver<Value>,
    seen: Vec<Value>,
    port: u16,
}

impl NpmCarrier {
    async fn start(system_id: &str, password: &str) -> Self {
        let mut child = Command::new(node())
            .args(["npm_gateway_carrier.js", system_id, password])
            .current_dir(peers_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the npm carrier");
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let mut carrier = Self {
            child,
            events,
            seen: Vec::new(),
            port: 0,
        };
        let first = tokio::time::timeout(PATIENCE, carrier.events.recv())
            .await
            .expect("the npm carrier prints its port")
            .expect("the npm carrier is running");
        carrier.port = first["port"].as_u64().expect("a port line") as u16;
        carrier
    }

    /// Every event so far.
    fn drain(&mut self) -> &[Value] {
        while let Ok(e) = self.events.try_recv() {
            self.seen.push(e);
        }
        &self.seen
    }

    fn named(&mut self, name: &str) -> Vec<Value> {
        self.drain()
            .iter()
            .filter(|e| e["event"] == name)
            .cloned()
            .collect()
    }
}

impl Drop for NpmCarrier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn reports_come_back_through_an_npm_smpp_carrier_with_hex_ids_and_text_only_receipts() {
    let mut carrier = NpmCarrier::start("herald", "secret").await;
    let receiver = CallbackReceiver::start().await;
    let port = carrier.port;
    let app = spawn_app(|c| {
        c.simulator = None;
        c.carriers[0].port = port;
    })
    .await;
    let dlr_url = receiver.url("/dlr");
    let send = |to: &'static str, via: Via| {
        let (api, dlr_url) = (app.api.clone(), dlr_url.clone());
        async move {
            api.send_ok(
                ALICE,
                via,
                &[("to", to), ("text", "Hello carrier"), ("dlr-url", &dlr_url)],
            )
            .await
        }
    };
    let delivered_id = send("37255500000", Via::Get).await;
    let undelivered = send("37255500001", Via::Post).await;
    let refused = send("37255500003", Via::GetSlash).await;
    let duplicated = send("37255500007", Via::PostSlash).await;
    let early = send("37255500008", Via::Get).await;

    let expectations = [
        (
            &delivered_id,
            vec![sent(&delivered_id), delivered(&delivered_id)],
        ),
        (
            &undelivered,
            vec![
                sent(&undelivered),
                report(&undelivered, "FAILED", "UNDELIV", 2, "001"),
            ],
        ),
        (
            &refused,
            vec![report(&refused, "FAILED", "NACK", 16, "003")],
        ),
        (&duplicated, vec![sent(&duplicated), delivered(&duplicated)]),
        (&early, vec![sent(&early), delivered(&early)]),
    ];
    app.wait_history(&duplicated, "both copies of the receipt", |h| {
        count(h, "receipt") == 2
    })
    .await;
    for (id, expected) in &expectations {
        let history = app.wait_settled(id, PATIENCE).await;
        assert_eq!(&receiver.acknowledged(id), expected, "callbacks of {id}");
        assert_eq!(count(&history, "status"), expected.len(), "{history:#?}");
        for receipt in events(&history, "receipt") {
            assert_eq!(receipt.detail["tlvs"], serde_json::json!([]), "text only");
            assert_eq!(
                receipt.detail["matched_by"], "decimal_receipt_hex_submission",
                "{receipt:?}"
            );
        }
    }

    // What the carrier saw: one submit per message (nothing resent), and every receipt — the
    // early one and both copies of the duplicate — acknowledged with status 0.
    let submits = carrier.named("submit_sm");
    assert_eq!(submits.len(), 5, "{submits:?}");
    let receipts_sent = carrier.named("receipt");
    assert_eq!(receipts_sent.len(), 5, "{receipts_sent:?}");
    assert!(receipts_sent.iter().any(|r| r["how"] == "early"));
    assert!(receipts_sent.iter().any(|r| r["how"] == "duplicate"));
    let acks = eventually(PATIENCE, "every receipt acknowledged", || {
        let acks = carrier.named("deliver_sm_resp");
        async move { (acks.len() == 5).then_some(acks) }
    })
    .await;
    assert!(acks.iter().all(|a| a["status"] == 0), "{acks:?}");

    // Herald's own view agrees with the callbacks.
    for (id, answer) in [
        (&delivered_id, "OK DELIVERED"),
        (&undelivered, "OK FAILED"),
        (&refused, "OK FAILED"),
        (&duplicated, "OK DELIVERED"),
        (&early, "OK DELIVERED"),
    ] {
        assert_eq!(app.api.dlr_response(ALICE, Via::Get, id).await, answer);
    }
    app.shutdown().await;
    eventually(PATIENCE, "Herald to unbind", || {
        let unbound = !carrier.named("unbind").is_empty();
        async move { unbound.then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn an_npm_smpp_carrier_set_up_for_payload_gets_one_submit_sm_with_the_whole_text() {
    let mut carrier = NpmCarrier::start("herald", "secret").await;
    let receiver = CallbackReceiver::start().await;
    let port = carrier.port;
    let app = spawn_app(|c| {
        c.simulator = None;
        c.carriers[0].port = port;
        c.carriers[0].concatenation = herald::config::Concatenation::Payload;
    })
    .await;
    let dlr_url = receiver.url("/dlr");
    // 206 GSM-7 characters: two parts (153 + 53) anywhere else.
    let text = format!("Your order 4711 {} shipped", "is on its way ".repeat(13));
    assert_eq!(text.len(), 206);
    let id = app
        .api
        .send_ok(
            ALICE,
            Via::Post,
            &[
                ("to", "37255500000"),
                ("text", text.as_str()),
                ("dlr-url", dlr_url.as_str()),
            ],
        )
        .await;
    let history = app.wait_settled(&id, PATIENCE).await;
    assert_eq!(receiver.acknowledged(&id), vec![sent(&id), delivered(&id)]);
    assert_eq!(
        app.api.dlr_response(ALICE, Via::Get, &id).await,
        "OK DELIVERED"
    );
    assert_eq!(app.api.balance(ALICE).await, "OK 99.90", "charged per part");

    // What the peer decoded: one submit_sm, nothing in short_message, the whole text in
    // message_payload, no header (UDHI clear) and the GSM default data_coding.
    let submits = carrier.named("submit_sm");
    assert_eq!(submits.len(), 1, "{submits:?}");
    let submit = &submits[0];
    assert_eq!(submit["short_message"], "", "{submit}");
    assert_eq!(submit["message_payload"], text.as_str(), "{submit}");
    assert_eq!(submit["esm_class"].as_u64().map(|e| e & 0x40), Some(0));
    assert_eq!(submit["data_coding"], 0);
    // Its one receipt (hex id answered, decimal in the receipt) reports on both segments.
    assert_eq!(carrier.named("receipt").len(), 1);
    let receipts: Vec<Option<u32>> = events(&history, "receipt").map(|e| e.segment).collect();
    assert_eq!(receipts.len(), 2);
    assert!(receipts.contains(&Some(0)) && receipts.contains(&Some(1)));
    assert_eq!(
        count(&history, "status"),
        2,
        "Sent and Delivered, once each"
    );
    app.shutdown().await;
}
