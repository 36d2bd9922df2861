//! A carrier with `concatenation = "payload"`, end to end through the simulated carrier: a long
//! message goes as one `submit_sm` with the whole text in `message_payload`, its segments share
//! the one carrier id, and the customer sees one Sent and one Delivered, charged per part.

mod support;

use herald::config::Concatenation;
use support::*;

async fn payload_app() -> TestApp {
    spawn_app(|c| {
        c.carriers[0].concatenation = Concatenation::Payload;
        c.carriers[0].default_data_coding = 1;
    })
    .await
}

/// The carrier ids Herald recorded for each submit of the message, in order, with the outcome.
fn submits(history: &[herald::store::Event]) -> Vec<(Option<u32>, String, String)> {
    events(history, "submit")
        .map(|e| {
            (
                e.segment,
                e.detail["outcome"].as_str().unwrap_or_default().to_owned(),
                e.detail["carrier_message_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// What the carrier's receipt repeated of the message (after `text:`), per receipt line.
fn echoes(history: &[herald::store::Event]) -> Vec<(Option<u32>, String)> {
    events(history, "receipt")
        .map(|e| {
            let raw = e.detail["raw_text"].as_str().unwrap_or_default();
            let echo = raw.split_once("text:").map(|(_, t)| t.to_owned());
            (e.segment, echo.unwrap_or_default())
        })
        .collect()
}

#[tokio::test]
async fn a_payload_carrier_gets_a_long_message_in_one_submit_and_it_is_delivered_once() {
    let app = payload_app().await;
    let receiver = CallbackReceiver::start().await;
    let dlr_url = receiver.url("/dlr");
    let text = format!("first {} second", "a".repeat(150));
    let id = app
        .api
        .send_ok(
            ALICE,
            Via::Get,
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
    // Two parts by the GSM-7 rules (153 + 13), charged as two.
    assert_eq!(app.api.balance(ALICE).await, "OK 99.90");

    // One submit_sm: the simulated carrier gives every submit_sm its own id, and both segments
    // have the same one.
    let submits = submits(&history);
    assert_eq!(submits.len(), 2, "{submits:?}");
    assert!(submits.iter().all(|(_, outcome, _)| outcome == "accepted"));
    assert_eq!(submits[0].2, submits[1].2, "{submits:?}");
    assert!(!submits[0].2.is_empty());
    // The carrier read the text from message_payload, whole and without a header: its receipt
    // repeats the start of the message (a header would show as '?'s, an empty short_message
    // read as the text as nothing). The one receipt reports on both segments.
    let mut echoes = echoes(&history);
    echoes.sort();
    assert_eq!(
        echoes,
        vec![
            (Some(0), "first aaaaaaaaaaaaaa".to_owned()),
            (Some(1), "first aaaaaaaaaaaaaa".to_owned())
        ]
    );
    assert_eq!(count(&history, "status"), 2);
    app.shutdown().await;
}

#[tokio::test]
async fn a_throttled_payload_submit_is_retried_whole_and_the_message_delivered_once() {
    let app = payload_app().await;
    let receiver = CallbackReceiver::start().await;
    let dlr_url = receiver.url("/dlr");
    // UCS-2: 150 characters are three parts (67 + 67 + 16).
    let text = format!("Привет {}", "ж".repeat(143));
    let id = app
        .api
        .send_ok(
            ALICE,
            Via::Post,
            &[
                ("to", "37255500004"),
                ("text", text.as_str()),
                ("dlr-url", dlr_url.as_str()),
            ],
        )
        .await;
    let history = app.wait_settled(&id, PATIENCE).await;
    assert_eq!(receiver.acknowledged(&id), vec![sent(&id), delivered(&id)]);
    assert_eq!(
        app.api.balance(ALICE).await,
        "OK 99.85",
        "three parts, once"
    );
    // The simulated carrier throttles every other submit to this number: a part-by-part
    // submission would have some parts accepted at the first try. Here all three were
    // throttled together, then accepted together under one id.
    let submits = submits(&history);
    let outcomes: Vec<(Option<u32>, &str)> = submits
        .iter()
        .map(|(segment, outcome, _)| (*segment, outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Some(0), "temporary"),
            (Some(1), "temporary"),
            (Some(2), "temporary"),
            (Some(0), "accepted"),
            (Some(1), "accepted"),
            (Some(2), "accepted"),
        ]
    );
    assert!(submits[3..].iter().all(|(_, _, cid)| *cid == submits[3].2));
    // The carrier decoded the whole UCS-2 message from message_payload.
    let echoes = echoes(&history);
    assert_eq!(echoes.len(), 3);
    assert!(
        echoes
            .iter()
            .all(|(_, echo)| echo == "?????? ?????????????"),
        "non-ASCII shows as '?' in the simulated carrier's receipts: {echoes:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_early_receipt_for_a_payload_submit_delivers_every_part_and_keeps_no_text() {
    let app = payload_app().await;
    let receiver = CallbackReceiver::start().await;
    let dlr_url = receiver.url("/dlr");
    let text = format!("secret 4711 {}", "b".repeat(200));
    let id = app
        .api
        .send_ok(
            ALICE,
            Via::Get,
            &[
                ("to", "37255500008"),
                ("text", text.as_str()),
                ("text-store", "nostore"),
                ("dlr-url", dlr_url.as_str()),
            ],
        )
        .await;
    let history = app.wait_settled(&id, PATIENCE).await;
    assert_eq!(receiver.acknowledged(&id), vec![sent(&id), delivered(&id)]);
    let submits = submits(&history);
    assert_eq!(submits.len(), 2);
    assert_eq!(submits[0].2, submits[1].2);
    // The receipt came before the submit_sm_resp, was kept pending, then applied to both
    // parts; its `text:` (the carrier repeated "secret 4711 …") was removed on the way.
    let echoes = echoes(&history);
    assert_eq!(
        echoes,
        vec![(Some(0), String::new()), (Some(1), String::new())]
    );
    assert!(!format!("{history:?}").contains("4711"), "{history:#?}");
    app.shutdown().await;
}

#[tokio::test]
async fn an_undelivered_payload_message_fails_once_and_stays_paid() {
    let app = payload_app().await;
    let receiver = CallbackReceiver::start().await;
    let dlr_url = receiver.url("/dlr");
    let text = "x".repeat(400);
    let id = app
        .api
        .send_ok(
            ALICE,
            Via::Get,
            &[
                ("to", "37255500001"),
                ("text", text.as_str()),
                ("dlr-url", dlr_url.as_str()),
            ],
        )
        .await;
    let history = app.wait_settled(&id, PATIENCE).await;
    // Status-model §5: Failed as soon as a part finally fails; here the one receipt fails all
    // three parts (153 + 153 + 94), and the customer hears it once.
    assert_eq!(
        receiver.acknowledged(&id),
        vec![sent(&id), report(&id, "FAILED", "UNDELIV", 2, "001")]
    );
    assert_eq!(echoes(&history).len(), 3);
    assert_eq!(count(&history, "status"), 2);
    assert_eq!(
        app.api.balance(ALICE).await,
        "OK 99.85",
        "sent, so paid per part"
    );
    app.shutdown().await;
}
