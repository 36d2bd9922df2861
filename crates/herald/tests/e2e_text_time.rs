//! Text and time end to end, from HTTP `send_sms` to the callback: cancelling scheduled messages
//! (`cancel_sms`), what the store keeps of the text (`text-store`), look-alike conversion
//! (`autoconvert`) and per-carrier concatenation.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::*;

/// `time_to_send` an hour from now, in Unix seconds.
fn in_an_hour() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (now + Duration::from_secs(3600)).as_secs().to_string()
}

async fn cancel(app: &TestApp, account: (&str, &str), via: Via, id: &str) -> String {
    app.api
        .call(
            "cancel_sms",
            via,
            &[
                ("username", account.0),
                ("password", account.1),
                ("sms_unique_id", id),
            ],
        )
        .await
}

#[tokio::test]
async fn a_scheduled_message_is_cancelled_and_its_owner_told_rejected_deleted() {
    let app = spawn_app(|_| {}).await;
    let receiver = CallbackReceiver::start().await;
    let dlr_url = receiver.url("/dlr");
    let when = in_an_hour();
    let id = app
        .api
        .send_ok(
            ALICE,
            Via::Get,
            &[
                ("to", "37255500000"),
                ("text", "see you tomorrow"),
                ("time_to_send", when.as_str()),
                ("dlr-url", dlr_url.as_str()),
            ],
        )
        .await;
    assert_eq!(
        app.api.dlr_response(ALICE, Via::Get, &id).await,
        "FAILED 102"
    );

    // Another account cannot see it, let alone cancel it.
    assert_eq!(cancel(&app, BOB, Via::Get, &id).await, "ERROR 107");
    assert_eq!(cancel(&app, ALICE, Via::Post, &id).await, "OK");

    let history = app.wait_settled(&id, PATIENCE).await;
    assert_eq!(
        receiver.acknowledged(&id),
        vec![report(&id, "FAILED", "DELETED", 16, "000")]
    );
    assert_eq!(
        count(&history, "submit"),
        0,
        "never submitted: {history:#?}"
    );
    assert_eq!(count(&history, "cancelled"), 1);
    assert_eq!(
        app.api.dlr_response(ALICE, Via::Get, &id).await,
        "OK FAILED"
    );
    // Final now: a second cancel is too late, and an unknown id is unknown.
    assert_eq!(cancel(&app, ALICE, Via::GetSlash, &id).await, "ERROR 108");
    assert_eq!(
        cancel(&app, ALICE, Via::PostSlash, "0123456789abcdef").await,
        "ERROR 107"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_message_already_with_the_carrier_cannot_be_cancelled() {
    let app = spawn_app(|_| {}).await;
    let receiver = CallbackReceiver::start().await;
    let dlr_url = receiver.url("/dlr");
    let id = app
        .api
        .send_ok(
            ALICE,
            Via::Get,
            &[
                ("to", "37255500000"),
                ("text", "right now"),
                ("dlr-url", dlr_url.as_str()),
            ],
        )
        .await;
    app.wait_history(&id, "the submit", |h| count(h, "submit") > 0)
        .await;
    assert_eq!(cancel(&app, ALICE, Via::Get, &id).await, "ERROR 108");
    app.wait_settled(&id, PATIENCE).await;
    assert_eq!(receiver.acknowledged(&id), vec![sent(&id), delivered(&id)]);
    app.shutdown().await;
}

/// The stored view of message `id`.
async fn view(app: &TestApp, id: &str) -> herald::store::MessageView {
    let parsed = herald::domain::MessageId::parse(id).expect("an id");
    app.store()
        .message(&parsed)
        .await
        .expect("a read")
        .expect("the message")
}

#[tokio::test]
async fn text_store_keeps_the_text_its_hash_or_nothing_yet_the_carrier_gets_the_text() {
    let app = spawn_app(|_| {}).await;
    let receiver = CallbackReceiver::start().await;
    let dlr_url = receiver.url("/dlr");
    let mut ids = Vec::new();
    for store in ["plaintext", "sha256", "nostore"] {
        let text = format!("code 4711 {store}");
        let id = app
            .api
            .send_ok(
                ALICE,
                Via::Post,
                &[
                    ("to", "37255500000"),
                    ("text", text.as_str()),
                    ("text-store", store),
                    ("dlr-url", dlr_url.as_str()),
                ],
            )
            .await;
        ids.push((id, text));
    }
    for (id, text) in &ids {
        let history = app.wait_settled(id, PATIENCE).await;
        assert_eq!(receiver.acknowledged(id), vec![sent(id), delivered(id)]);
        let receipt = events(&history, "receipt").next().expect("a receipt");
        let raw = receipt.detail["raw_text"].as_str().unwrap_or_default();
        if text.ends_with("plaintext") {
            // The simulated carrier repeats the text it received in its receipt's `text:`.
            assert!(raw.ends_with(&format!("text:{text}")), "{raw}");
        } else {
            // It did here too, and Herald kept the receipt without it.
            assert!(raw.ends_with("stat:DELIVRD err:000 text:"), "{raw}");
            assert!(!format!("{history:?}").contains("4711"), "{history:#?}");
        }
    }
    assert_eq!(
        view(&app, &ids[0].0).await.text.as_deref(),
        Some("code 4711 plaintext")
    );
    let hashed = view(&app, &ids[1].0).await.text.expect("a hash");
    assert_eq!(hashed.len(), 64);
    assert!(hashed.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!hashed.contains("4711"));
    assert_eq!(view(&app, &ids[2].0).await.text, None);
    app.shutdown().await;
}

/// Sends `text` with `autoconvert=mode` (the default when `None`), waits for delivery, and
/// returns the `text:` the carrier's receipt repeats and the number of segments stored.
async fn sent_as(
    app: &TestApp,
    receiver: &CallbackReceiver,
    text: &str,
    mode: Option<&str>,
) -> (String, u32) {
    let dlr_url = receiver.url("/dlr");
    let mut params = vec![
        ("to", "37255500000"),
        ("text", text),
        ("dlr-url", dlr_url.as_str()),
    ];
    if let Some(mode) = mode {
        params.push(("autoconvert", mode));
    }
    let id = app.api.send_ok(ALICE, Via::Post, &params).await;
    let history = app.wait_settled(&id, PATIENCE).await;
    assert_eq!(receiver.acknowledged(&id).last(), Some(&delivered(&id)));
    let receipt = events(&history, "receipt").next().expect("a receipt");
    let raw = receipt.detail["raw_text"].as_str().unwrap_or_default();
    let echoed = raw
        .split_once("text:")
        .map(|(_, t)| t.to_owned())
        .unwrap_or_default();
    (echoed, view(app, &id).await.segment_count)
}

#[tokio::test]
async fn autoconvert_sends_look_alikes_as_gsm_and_off_sends_the_text_as_written() {
    let app = spawn_app(|_| {}).await;
    let receiver = CallbackReceiver::start().await;
    let text = format!("\u{201C}Hi\u{201D} \u{2013} ok\u{2026} {}", "a".repeat(140));

    let (echoed, segments) = sent_as(&app, &receiver, &text, None).await;
    assert!(echoed.starts_with("\"Hi\" - ok... aaaaaa"), "{echoed:?}");
    assert_eq!(segments, 1, "160 GSM characters fit one segment");

    let (echoed, segments) = sent_as(&app, &receiver, &text, Some("off")).await;
    // The receipt's `text:` is ASCII: the carrier writes what it cannot show as '?'. It got
    // the curly quotes, not straight ones.
    assert!(echoed.starts_with("?"), "{echoed:?}");
    assert!(!echoed.contains("\"Hi\""), "{echoed:?}");
    assert_eq!(segments, 3, "as UCS-2 the same text needs three");

    let (echoed, segments) = sent_as(&app, &receiver, "Győr \u{2013} Łódź", Some("full")).await;
    assert!(echoed.starts_with("Gyor - Lodz"), "{echoed:?}");
    assert_eq!(segments, 1);
    app.shutdown().await;
}

/// The `text:` the carrier's receipts repeat for each part of a long message sent through a
/// carrier set up with `concatenation`, after checking it was delivered, charged as two parts.
async fn parts_as_received(concatenation: herald::config::Concatenation) -> Vec<String> {
    let app = spawn_app(|c| {
        c.carriers[0].concatenation = concatenation;
        c.carriers[0].default_data_coding = 1;
    })
    .await;
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
    assert_eq!(view(&app, &id).await.segment_count, 2);
    assert_eq!(app.api.balance(ALICE).await, "OK 99.90");
    let mut echoes: Vec<(u64, String)> = events(&history, "receipt")
        .map(|e| {
            let raw = e.detail["raw_text"].as_str().unwrap_or_default();
            let echo = raw
                .split_once("text:")
                .map(|(_, t)| t.to_owned())
                .unwrap_or_default();
            (e.segment.unwrap_or_default().into(), echo)
        })
        .collect();
    echoes.sort();
    app.shutdown().await;
    echoes.into_iter().map(|(_, echo)| echo).collect()
}

#[tokio::test]
async fn a_sar_carrier_gets_parts_without_a_header_and_a_udh_carrier_with_one() {
    use herald::config::Concatenation;
    // The simulated carrier repeats the start of each part's octets: a header shows as '?'s.
    let sar = parts_as_received(Concatenation::Sar).await;
    assert_eq!(sar.len(), 2);
    assert!(sar[0].starts_with("first aaaa"), "{sar:?}");
    assert!(sar[1].starts_with("aa"), "{sar:?}");
    let udh = parts_as_received(Concatenation::Udh).await;
    assert_eq!(udh.len(), 2);
    assert!(udh.iter().all(|echo| echo.starts_with("???")), "{udh:?}");
}

#[tokio::test]
async fn mclass_reaches_the_carrier_in_data_coding() {
    let app = spawn_app(|_| {}).await;
    let receiver = CallbackReceiver::start().await;
    let dlr_url = receiver.url("/dlr");
    let mut echoes = Vec::new();
    for mclass in [None, Some("2")] {
        let mut params = vec![
            ("to", "37255500000"),
            ("text", "Hi \u{0416}"),
            ("dlr-url", dlr_url.as_str()),
        ];
        if let Some(class) = mclass {
            params.push(("mclass", class));
        }
        let id = app.api.send_ok(ALICE, Via::Get, &params).await;
        let history = app.wait_settled(&id, PATIENCE).await;
        assert_eq!(receiver.acknowledged(&id), vec![sent(&id), delivered(&id)]);
        let receipt = events(&history, "receipt").next().expect("a receipt");
        let raw = receipt.detail["raw_text"].as_str().unwrap_or_default();
        echoes.push(
            raw.split_once("text:")
                .map(|(_, t)| t.to_owned())
                .unwrap_or_default(),
        );
    }
    // The simulated carrier reads data_coding 8 as UCS-2 and anything else octet by octet: with
    // a class the same UCS-2 octets arrive under 0x1A, not 8.
    assert_eq!(echoes[0], "Hi ?");
    assert_eq!(echoes[1], "?H?i? ??");
    app.shutdown().await;
}

#[tokio::test]
async fn a_customer_udh_reaches_the_carrier_ahead_of_the_text() {
    let app = spawn_app(|_| {}).await;
    let receiver = CallbackReceiver::start().await;
    let dlr_url = receiver.url("/dlr");
    // Application port addressing (IE 0x05), as WAP push uses.
    let udh = "0605040B8423F0";
    let id = app
        .api
        .send_ok(
            ALICE,
            Via::Post,
            &[
                ("to", "37255500000"),
                ("text", "hi"),
                ("udh", udh),
                ("dlr-url", dlr_url.as_str()),
            ],
        )
        .await;
    let history = app.wait_settled(&id, PATIENCE).await;
    assert_eq!(receiver.acknowledged(&id), vec![sent(&id), delivered(&id)]);
    let receipt = events(&history, "receipt").next().expect("a receipt");
    let raw = receipt.detail["raw_text"].as_str().unwrap_or_default();
    // The carrier repeats the octets it got: the header (only 0x23 is printable) then the text.
    assert!(raw.ends_with("text:?????#?hi"), "{raw}");

    let too_long = "a".repeat(153);
    let answer = app
        .api
        .send_sms(
            ALICE,
            Via::Get,
            &[
                ("to", "37255500000"),
                ("text", too_long.as_str()),
                ("udh", udh),
            ],
        )
        .await;
    assert_eq!(answer, "ERROR 102");
    app.shutdown().await;
}
