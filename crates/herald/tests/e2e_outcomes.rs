//! "Send a message, get its delivery report back", end to end: HTTP `send_sms` → Herald → the
//! simulated carrier → receipt → callbacks to a real HTTP receiver, for every row of the
//! simulator's table (`herald::simulator::script`), and `get_dlr_response` beside it.
//!
//! Each test asserts the exact callback queries in the order they arrived, after waiting until
//! the message is final and every status change it went through has been acknowledged (see
//! `TestApp::wait_settled`): from then on nothing more can be due, so "exactly these" holds.

mod support;

use std::time::Duration;

use herald::store::Event;
use support::*;

/// Sends `to` from Alice with the receiver's `/dlr` as dlr-url; returns the id.
async fn send_to(app: &TestApp, receiver: &CallbackReceiver, via: Via, to: &str) -> String {
    let dlr_url = receiver.url("/dlr");
    app.api
        .send_ok(
            ALICE,
            via,
            &[
                ("to", to),
                ("text", "Hello from Herald"),
                ("dlr-url", &dlr_url),
            ],
        )
        .await
}

/// Waits for `id` to settle and checks the exact callbacks it produced, in order.
async fn expect_callbacks(
    app: &TestApp,
    receiver: &CallbackReceiver,
    id: &str,
    expected: &[String],
) -> Vec<Event> {
    let history = app.wait_settled(id, PATIENCE).await;
    assert_eq!(receiver.acknowledged(id), expected, "callbacks of {id}");
    assert_eq!(
        count(&history, "status"),
        expected.len(),
        "one status change per callback: {history:#?}"
    );
    history
}

fn receipts(history: &[Event]) -> Vec<&Event> {
    events(history, "receipt").collect()
}

fn submits(history: &[Event]) -> Vec<&Event> {
    events(history, "submit").collect()
}

#[tokio::test]
async fn a_delivered_message_reports_sent_then_delivered() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let id = send_to(&app, &receiver, Via::Get, "+37255500000").await;
    let history = expect_callbacks(&app, &receiver, &id, &[sent(&id), delivered(&id)]).await;
    let receipt = receipts(&history)[0];
    assert_eq!(receipt.detail["outcome"], "delivered");
    assert_eq!(receipt.detail["matched_by"], "exact");
    assert!(
        receiver.calls_for(&id).iter().all(|c| c.path == "/dlr"),
        "callbacks go to the dlr-url's path"
    );
    app.shutdown().await;
}

/// A carrier with several sessions (here three transmitter + receiver pairs): submits spread over
/// them, each message's receipt comes back on one of the receivers and is matched all the same.
#[tokio::test]
async fn messages_over_several_sessions_each_get_their_report() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|c| {
        c.carriers[0].sessions = 3;
        c.carriers[0].bind = herald::config::BindMode::Pair;
        c.carriers[0].window = 1;
    })
    .await;
    let link = app.carrier("sim");
    eventually(PATIENCE, "six binds up", || async {
        let stats = link.stats();
        (stats.binds.len() == 6 && stats.binds.iter().all(|b| b.state.is_up())).then_some(())
    })
    .await;
    // Other numbers each time (the duplicate rule), all of them delivered (…00).
    let numbers: Vec<String> = (0..12).map(|i| format!("+372555{i:03}00")).collect();
    let sends = numbers
        .iter()
        .map(|to| send_to(&app, &receiver, Via::Post, to));
    let ids = futures_util::future::join_all(sends).await;
    for id in &ids {
        expect_callbacks(&app, &receiver, id, &[sent(id), delivered(id)]).await;
    }
    let stats = link.stats();
    let per_session = |kind_can_submit: bool, count: fn(&herald::carrier::BindStats) -> u64| {
        let mut n = [0u64; 3];
        for b in stats
            .binds
            .iter()
            .filter(|b| b.kind.can_submit() == kind_can_submit)
        {
            n[b.session - 1] += count(b);
        }
        n
    };
    let submits = per_session(true, |b| b.submits);
    let receipts = per_session(false, |b| b.receipts);
    assert_eq!(submits.iter().sum::<u64>(), 12);
    assert_eq!(receipts.iter().sum::<u64>(), 12);
    assert!(
        submits.iter().all(|&n| n > 0),
        "every session submitted: {submits:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_undeliverable_message_reports_failed_undeliv_001() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let id = send_to(&app, &receiver, Via::PostSlash, "37255500001").await;
    let history = expect_callbacks(
        &app,
        &receiver,
        &id,
        &[sent(&id), report(&id, "FAILED", "UNDELIV", 2, "001")],
    )
    .await;
    let receipt = receipts(&history)[0];
    assert_eq!(receipt.detail["stat_word"], "UNDELIV");
    assert_eq!(receipt.detail["carrier_err"], "001");
    app.shutdown().await;
}

#[tokio::test]
async fn a_destination_the_carrier_refuses_at_submit_reports_nack_003() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let id = send_to(&app, &receiver, Via::Post, "+372 5550 0003").await;
    let history = expect_callbacks(
        &app,
        &receiver,
        &id,
        &[report(&id, "FAILED", "NACK", 16, "003")],
    )
    .await;
    let submit = submits(&history)[0];
    assert_eq!(submit.detail["outcome"], "rejected");
    assert_eq!(submit.detail["command_status"], 0x0B);
    assert!(receipts(&history).is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn a_sender_the_carrier_refuses_at_submit_reports_nack_007() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let dlr_url = receiver.url("/dlr");
    let id = app
        .api
        .send_ok(
            ALICE,
            Via::GetSlash,
            &[
                ("to", "37255500000"),
                ("text", "hi"),
                ("from", "Blocked"),
                ("dlr-url", &dlr_url),
            ],
        )
        .await;
    let history = expect_callbacks(
        &app,
        &receiver,
        &id,
        &[report(&id, "FAILED", "NACK", 16, "007")],
    )
    .await;
    assert_eq!(submits(&history)[0].detail["command_status"], 0x0A);
    app.shutdown().await;
}

#[tokio::test]
async fn a_throttled_submit_is_retried_and_then_delivered() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let id = send_to(&app, &receiver, Via::Get, "37255500004").await;
    let history = expect_callbacks(&app, &receiver, &id, &[sent(&id), delivered(&id)]).await;
    let submits = submits(&history);
    assert_eq!(submits.len(), 2, "{history:#?}");
    assert_eq!(submits[0].detail["outcome"], "temporary");
    assert_eq!(submits[0].detail["command_status"], 0x58);
    assert_eq!(submits[1].detail["outcome"], "accepted");
    app.shutdown().await;
}

#[tokio::test]
async fn throttling_beyond_the_retry_limit_reports_failed_999() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|c| c.pipeline.submit_retry_limit = 1).await;
    let id = send_to(&app, &receiver, Via::Post, "37255500004").await;
    let history = expect_callbacks(
        &app,
        &receiver,
        &id,
        &[report(&id, "FAILED", "FAILED", 16, "999")],
    )
    .await;
    let submits = submits(&history);
    assert_eq!(
        submits.len(),
        1,
        "no retry with a limit of one: {history:#?}"
    );
    assert_eq!(submits[0].detail["command_status"], 0x58);
    app.shutdown().await;
}

#[tokio::test]
async fn an_intermediate_receipt_does_not_produce_a_second_sent() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|c| c.carriers[0].intermediate_receipts = true).await;
    let id = send_to(&app, &receiver, Via::GetSlash, "37255500006").await;
    // Both receipts must be in before "settled" means anything for the intermediate one.
    app.wait_history(&id, "two receipts", |h| count(h, "receipt") == 2)
        .await;
    let history = expect_callbacks(&app, &receiver, &id, &[sent(&id), delivered(&id)]).await;
    let outcomes: Vec<_> = receipts(&history)
        .iter()
        .map(|r| r.detail["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        outcomes.contains(&"intermediate".to_owned()) && outcomes.contains(&"delivered".to_owned()),
        "{outcomes:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_duplicated_receipt_produces_one_final_callback_and_both_are_kept() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let id = send_to(&app, &receiver, Via::Post, "37255500007").await;
    app.wait_history(&id, "two receipts", |h| count(h, "receipt") == 2)
        .await;
    let history = expect_callbacks(&app, &receiver, &id, &[sent(&id), delivered(&id)]).await;
    let receipts = receipts(&history);
    assert_eq!(receipts.len(), 2);
    assert_eq!(
        receipts[0].detail["carrier_message_id"],
        receipts[1].detail["carrier_message_id"]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_early_receipt_gives_the_right_final_status_and_no_sent_after_it() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let id = send_to(&app, &receiver, Via::Get, "+37255500008").await;
    let history = expect_callbacks(&app, &receiver, &id, &[sent(&id), delivered(&id)]).await;
    assert_eq!(receipts(&history).len(), 1);
    assert_eq!(
        app.api.dlr_response(ALICE, Via::Get, &id).await,
        "OK DELIVERED"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn text_only_and_tlv_only_receipts_are_both_understood() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let text_only = send_to(&app, &receiver, Via::Get, "37255500009").await;
    let tlv_only = send_to(&app, &receiver, Via::PostSlash, "37255500010").await;

    let history = expect_callbacks(
        &app,
        &receiver,
        &text_only,
        &[sent(&text_only), delivered(&text_only)],
    )
    .await;
    let receipt = receipts(&history)[0];
    assert_eq!(receipt.detail["tlvs"], serde_json::json!([]), "{receipt:?}");
    assert!(
        receipt.detail["raw_text"]
            .as_str()
            .unwrap()
            .contains("stat:DELIVRD"),
        "{receipt:?}"
    );

    let history = expect_callbacks(
        &app,
        &receiver,
        &tlv_only,
        &[sent(&tlv_only), delivered(&tlv_only)],
    )
    .await;
    let receipt = receipts(&history)[0];
    assert_eq!(receipt.detail["raw_text"], "", "{receipt:?}");
    assert!(
        !receipt.detail["tlvs"].as_array().unwrap().is_empty(),
        "{receipt:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn hex_ids_in_the_response_match_decimal_ids_in_the_receipt() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let ok = send_to(&app, &receiver, Via::Get, "+447700900000").await;
    let failed = send_to(&app, &receiver, Via::Post, "447700900101").await;

    for (id, last) in [
        (&ok, delivered(&ok)),
        (&failed, report(&failed, "FAILED", "UNDELIV", 2, "001")),
    ] {
        let history = expect_callbacks(&app, &receiver, id, &[sent(id), last]).await;
        let submitted = submits(&history)[0].detail["carrier_message_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let receipt = receipts(&history)[0];
        let value = u64::from_str_radix(&submitted, 16).expect("a hex id in the response");
        assert_eq!(receipt.detail["carrier_message_id"], value.to_string());
        assert_eq!(
            receipt.detail["matched_by"],
            "decimal_receipt_hex_submission"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_number_no_route_serves_and_an_impossible_number_are_rejected_with_err_005() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    for (via, to) in [(Via::Get, "4915112345"), (Via::Post, "not-a-number")] {
        let id = send_to(&app, &receiver, via, to).await;
        let history = expect_callbacks(
            &app,
            &receiver,
            &id,
            &[report(&id, "FAILED", "REJECTD", 16, "005")],
        )
        .await;
        assert!(submits(&history).is_empty(), "never sent to a carrier");
        assert_eq!(app.api.dlr_response(ALICE, via, &id).await, "OK FAILED");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_dlr_url_that_has_a_query_gets_the_fields_after_an_ampersand() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let dlr_url = receiver.url("/hooks/sms?client=shop%2F1&x=");
    let id = app
        .api
        .send_ok(
            ALICE,
            Via::Post,
            &[("to", "37255500000"), ("text", "hi"), ("dlr-url", &dlr_url)],
        )
        .await;
    let expected = [
        format!("client=shop%2F1&x=&{}", sent(&id)),
        format!("client=shop%2F1&x=&{}", delivered(&id)),
    ];
    expect_callbacks(&app, &receiver, &id, &expected).await;
    assert!(
        receiver
            .calls_for(&id)
            .iter()
            .all(|c| c.path == "/hooks/sms")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn get_dlr_response_tells_the_owner_and_nobody_else() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let api = &app.api;

    // Sent: the "delayed" row keeps its receipt back for 30 s after the SENT callback.
    let delayed = send_to(&app, &receiver, Via::Get, "37255500005").await;
    let delivered_id = send_to(&app, &receiver, Via::Get, "37255500000").await;
    let undelivered = send_to(&app, &receiver, Via::Get, "37255500001").await;
    let nacked = send_to(&app, &receiver, Via::Get, "37255500003").await;
    let in_an_hour = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600)
        .to_string();
    let scheduled = api
        .send_ok(
            ALICE,
            Via::Post,
            &[
                ("to", "37255500000"),
                ("text", "later"),
                ("time_to_send", &in_an_hour),
            ],
        )
        .await;

    receiver.wait_acknowledged(&delayed, 1, PATIENCE).await;
    assert_eq!(api.dlr_response(ALICE, Via::Get, &delayed).await, "OK SENT");
    app.wait_settled(&delivered_id, PATIENCE).await;
    assert_eq!(
        api.dlr_response(ALICE, Via::PostSlash, &delivered_id).await,
        "OK DELIVERED"
    );
    app.wait_settled(&undelivered, PATIENCE).await;
    assert_eq!(
        api.dlr_response(ALICE, Via::GetSlash, &undelivered).await,
        "OK FAILED"
    );
    app.wait_settled(&nacked, PATIENCE).await;
    assert_eq!(
        api.dlr_response(ALICE, Via::Post, &nacked).await,
        "OK FAILED"
    );
    assert_eq!(
        api.dlr_response(ALICE, Via::Get, &scheduled).await,
        "FAILED 102",
        "nothing known yet about a scheduled message"
    );

    // Another account's id is answered exactly like an unknown one.
    assert_eq!(
        api.dlr_response(BOB, Via::Get, &delivered_id).await,
        "ERROR 107"
    );
    assert_eq!(
        api.dlr_response(ALICE, Via::Get, "0123456789abcdef0123456789abcdef")
            .await,
        "ERROR 107"
    );
    assert_eq!(
        api.dlr_response(ALICE, Via::Get, "not'an-id").await,
        "ERROR 107"
    );
    assert_eq!(
        api.dlr_response((ALICE.0, "wrong"), Via::Get, &delivered_id)
            .await,
        "ERROR 101"
    );
    assert_eq!(
        api.dlr_response(("mallory", ALICE.1), Via::Post, &delivered_id)
            .await,
        "ERROR 101"
    );
    assert_eq!(
        api.call(
            "get_dlr_response",
            Via::Get,
            &[("username", ALICE.0), ("password", ALICE.1)]
        )
        .await,
        "ERROR 102"
    );
    app.shutdown().await;
}

/// The two rows that take their time: an expiry reported by the carrier when the submit's
/// validity ends (Herald never submits with less than a minute, and `validity` is in minutes,
/// so this takes a minute), and the delayed receipt (30 s). They run side by side.
#[tokio::test]
async fn an_expired_message_and_a_late_receipt_are_reported_when_their_time_comes() {
    let receiver = CallbackReceiver::start().await;
    let app = spawn_app(|_| {}).await;
    let dlr_url = receiver.url("/dlr");
    let expired = app
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
    let late = send_to(&app, &receiver, Via::Post, "37255500005").await;

    let slow = Duration::from_secs(100);
    receiver.wait_acknowledged(&late, 2, slow).await;
    let history = expect_callbacks(&app, &receiver, &late, &[sent(&late), delivered(&late)]).await;
    assert_eq!(receipts(&history).len(), 1);
    let calls = receiver.calls_for(&late);
    assert!(
        calls[1].at - calls[0].at >= Duration::from_secs(25),
        "the delayed receipt comes about 30 s after the submit"
    );

    receiver.wait_acknowledged(&expired, 2, slow).await;
    let history = expect_callbacks(
        &app,
        &receiver,
        &expired,
        &[
            sent(&expired),
            report(&expired, "FAILED", "EXPIRED", 2, "002"),
        ],
    )
    .await;
    // The carrier's EXPIRED receipt, not Herald's own expiry (10 minutes of grace away).
    let receipt = receipts(&history)[0];
    assert_eq!(receipt.detail["outcome"], "expired");
    assert_eq!(receipt.detail["stat_word"], "EXPIRED");
    assert_eq!(count(&history, "expired"), 0, "{history:#?}");
    let calls = receiver.calls_for(&expired);
    assert!(
        calls[1].at - calls[0].at >= Duration::from_secs(55),
        "expiry comes when the one-minute validity ends"
    );
    app.shutdown().await;
}
