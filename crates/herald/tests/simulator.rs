//! The simulated carrier's scripted scenarios, seen through Herald's own session engine as the
//! ESME. (Independent ESMEs are in `interop_peers.rs`.)

use std::net::SocketAddr;
use std::time::Duration;

use herald::simulator::{self, SimConfig};
use herald_smpp::ids::IdKeys;
use herald_smpp::pdu::{self, Submit};
use herald_smpp::receipt::{self, Receipt, ReceiptState};
use herald_smpp::session::{BindKind, CloseReason, Request, Session, SessionConfig};
use rusmpp::pdus::DeliverSmResp;
use rusmpp::{Command, CommandStatus, Pdu};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const RECEIPT_DELAY: Duration = Duration::from_millis(100);

struct Sim {
    addr: SocketAddr,
    shutdown: CancellationToken,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start() -> Sim {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = SimConfig {
        system_id: "herald".into(),
        password: Some("secret".into()),
        receipt_delay: RECEIPT_DELAY,
        long_delay: Duration::from_millis(800),
        default_validity: Duration::from_millis(600),
        redelivery_interval: Duration::from_millis(200),
        ..SimConfig::default()
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(simulator::serve(listener, cfg, shutdown.clone()));
    Sim { addr, shutdown }
}

async fn bind(sim: &Sim, kind: BindKind) -> Session {
    let stream = TcpStream::connect(sim.addr).await.unwrap();
    let cfg = SessionConfig {
        response_timeout: Duration::from_secs(5),
        ..SessionConfig::default()
    };
    Session::bind(stream, kind, "herald", "secret", "", cfg)
        .await
        .expect("bind to the simulated carrier")
}

fn submit_pdu(
    source: &str,
    destination: &str,
    registered_delivery: u8,
    validity: Option<&str>,
) -> Pdu {
    let mut p = pdu::submit_sm(&Submit {
        source,
        destination,
        data_coding: 0,
        esm_class: 0,
        short_message: b"scripted outcome",
        registered_delivery,
        validity_period: None,
    })
    .unwrap();
    // Set directly: the simulator must judge a malformed validity itself.
    if let Some(v) = validity {
        p.validity_period = v.parse().unwrap();
    }
    p.into()
}

async fn submit(session: &Session, destination: &str, registered_delivery: u8) -> Command {
    session
        .handle
        .request(submit_pdu("Herald", destination, registered_delivery, None))
        .await
        .expect("a response")
}

fn message_id(resp: &Command) -> String {
    assert_eq!(resp.status(), CommandStatus::EsmeRok, "{resp:?}");
    match resp.pdu() {
        Some(Pdu::SubmitSmResp(r)) => r.message_id().to_string(),
        other => panic!("{other:?}"),
    }
}

/// The next receipt on `session`, acknowledged; panics after `within`.
async fn receipt(session: &mut Session, within: Duration) -> (Receipt, u8) {
    let incoming = tokio::time::timeout(within, session.incoming.recv())
        .await
        .expect("a receipt in time")
        .expect("session open");
    let Request::Pdu(cmd) = &incoming.request else {
        panic!("{:?}", incoming.request)
    };
    let Some(Pdu::DeliverSm(d)) = cmd.pdu() else {
        panic!("{cmd:?}")
    };
    let read = receipt::from_deliver_sm(d).expect("a receipt");
    let esm_class = u8::from(d.esm_class);
    incoming.responder.ok(DeliverSmResp::default());
    (read, esm_class)
}

async fn no_receipt(session: &mut Session, within: Duration) -> bool {
    tokio::time::timeout(within, session.incoming.recv())
        .await
        .is_err()
}

fn matches(receipt: &Receipt, submitted: &str) -> bool {
    IdKeys::of(receipt.message_id.as_deref().unwrap_or_default())
        .matches_submission(&IdKeys::of(submitted))
}

const SOON: Duration = Duration::from_secs(3);

#[tokio::test]
async fn a_delivered_number_gets_a_delivrd_receipt_with_text_and_tlvs() {
    let sim = start().await;
    let mut s = bind(&sim, BindKind::Transceiver).await;
    let id = message_id(&submit(&s, "+37255500000", 1).await);
    let (r, esm) = receipt(&mut s, SOON).await;
    assert_eq!(esm, 0x04);
    assert!(matches(&r, &id));
    assert_eq!(r.state, ReceiptState::Delivered);
    assert_eq!(r.stat_word.as_deref(), Some("DELIVRD"));
    assert_eq!(r.err.as_deref(), Some("000"));
    assert!(r.tlvs.iter().any(|(tag, _)| *tag == 0x001E));
    assert!(r.tlvs.iter().any(|(tag, _)| *tag == 0x0427));
}

#[tokio::test]
async fn hex_range_numbers_get_hex_in_the_response_and_decimal_in_the_receipt() {
    let sim = start().await;
    let mut s = bind(&sim, BindKind::Transceiver).await;
    let id = message_id(&submit(&s, "+447700900000", 1).await);
    let (r, _) = receipt(&mut s, SOON).await;
    let value = u64::from_str_radix(&id, 16).unwrap();
    assert_eq!(r.message_id.as_deref(), Some(value.to_string().as_str()));
    assert!(matches(&r, &id));
}

#[tokio::test]
async fn an_undeliverable_number_reports_undeliv_with_err_001() {
    let sim = start().await;
    let mut s = bind(&sim, BindKind::Transceiver).await;
    let id = message_id(&submit(&s, "+37255500001", 1).await);
    let (r, _) = receipt(&mut s, SOON).await;
    assert!(matches(&r, &id));
    assert_eq!(r.state, ReceiptState::Undeliverable);
    assert_eq!(r.err.as_deref(), Some("001"));
    assert!(r.network_error.is_some());
}

#[tokio::test]
async fn an_expiring_number_expires_when_its_validity_period_ends() {
    let sim = start().await;
    let mut s = bind(&sim, BindKind::Transceiver).await;
    let sent = Instant::now();
    let resp = s
        .handle
        .request(submit_pdu(
            "Herald",
            "+37255500002",
            1,
            Some("000000000002000R"),
        ))
        .await
        .unwrap();
    let id = message_id(&resp);
    let (r, _) = receipt(&mut s, Duration::from_secs(5)).await;
    assert!(matches(&r, &id));
    assert_eq!(r.state, ReceiptState::Expired);
    assert!(
        sent.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        sent.elapsed()
    );

    // Without a validity_period, the configured default applies.
    let sent = Instant::now();
    message_id(&submit(&s, "+37255500002", 1).await);
    let (r, _) = receipt(&mut s, SOON).await;
    assert_eq!(r.state, ReceiptState::Expired);
    assert!(
        sent.elapsed() >= Duration::from_millis(550),
        "{:?}",
        sent.elapsed()
    );
}

#[tokio::test]
async fn refusals_at_submit_carry_the_scripted_status() {
    let sim = start().await;
    let mut s = bind(&sim, BindKind::Transceiver).await;
    let cases = [
        (submit_pdu("Herald", "+37255500003", 1, None), 0x0B),
        (submit_pdu("Herald", "not-a-number", 1, None), 0x0B),
        (submit_pdu("Blocked", "+37255500000", 1, None), 0x0A),
        (
            submit_pdu("Herald", "+37255500000", 1, Some("9913999999999990")),
            0x62,
        ),
    ];
    for (pdu, status) in cases {
        let resp = s.handle.request(pdu).await.unwrap();
        assert_eq!(u32::from(resp.status()), status, "{resp:?}");
        assert!(resp.pdu().is_none(), "error responses have no body");
    }
    assert!(no_receipt(&mut s, RECEIPT_DELAY * 4).await);
}

#[tokio::test]
async fn a_throttled_number_is_refused_once_then_accepted() {
    let sim = start().await;
    let mut s = bind(&sim, BindKind::Transceiver).await;
    let first = submit(&s, "+37255500004", 1).await;
    assert_eq!(u32::from(first.status()), 0x58);
    let id = message_id(&submit(&s, "+37255500004", 1).await);
    let (r, _) = receipt(&mut s, SOON).await;
    assert!(matches(&r, &id));
}

#[tokio::test]
async fn a_delayed_number_reports_after_the_long_delay() {
    let sim = start().await;
    let mut s = bind(&sim, BindKind::Transceiver).await;
    let sent = Instant::now();
    message_id(&submit(&s, "+37255500005", 1).await);
    let (r, _) = receipt(&mut s, SOON).await;
    assert_eq!(r.state, ReceiptState::Delivered);
    assert!(
        sent.elapsed() >= Duration::from_millis(750),
        "{:?}",
        sent.elapsed()
    );
}

#[tokio::test]
async fn intermediate_notifications_come_first_when_asked_for() {
    let sim = start().await;
    let mut s = bind(&sim, BindKind::Transceiver).await;
    let id = message_id(&submit(&s, "+37255500006", 0x11).await);
    let (first, esm) = receipt(&mut s, SOON).await;
    assert_eq!(esm, 0x20);
    assert!(first.intermediate);
    assert_eq!(first.state, ReceiptState::Enroute);
    assert!(matches(&first, &id));
    let (last, esm) = receipt(&mut s, SOON).await;
    assert_eq!(esm, 0x04);
    assert_eq!(last.state, ReceiptState::Delivered);

    // Without bit 0x10 only the final receipt comes.
    message_id(&submit(&s, "+37255500006", 0x01).await);
    let (only, _) = receipt(&mut s, SOON).await;
    assert!(!only.intermediate);
    assert!(no_receipt(&mut s, RECEIPT_DELAY * 3).await);
}

#[tokio::test]
async fn a_duplicating_number_sends_the_receipt_twice() {
    let sim = start().await;
    let mut s = bind(&sim, BindKind::Transceiver).await;
    let id = message_id(&submit(&s, "+37255500007", 1).await);
    let (a, _) = receipt(&mut s, SOON).await;
    let (b, _) = receipt(&mut s, SOON).await;
    assert!(matches(&a, &id) && matches(&b, &id));
    assert_eq!(a.raw_text, b.raw_text);
}

#[tokio::test]
async fn an_early_number_sends_the_receipt_before_the_submit_response() {
    let sim = start().await;
    let mut s = bind(&sim, BindKind::Transceiver).await;
    let id = message_id(&submit(&s, "+37255500008", 1).await);
    // The engine reads in order: a receipt sent first is already queued when the response lands.
    let early = s.incoming.try_recv().expect("receipt already received");
    let Request::Pdu(cmd) = &early.request else {
        panic!()
    };
    let Some(Pdu::DeliverSm(d)) = cmd.pdu() else {
        panic!()
    };
    assert!(matches(&receipt::from_deliver_sm(d).unwrap(), &id));
}

#[tokio::test]
async fn text_only_and_tlv_only_receipts_are_scripted() {
    let sim = start().await;
    let mut s = bind(&sim, BindKind::Transceiver).await;
    let id = message_id(&submit(&s, "+37255500009", 1).await);
    let (text_only, _) = receipt(&mut s, SOON).await;
    assert!(text_only.tlvs.is_empty());
    assert!(matches(&text_only, &id));
    assert_eq!(text_only.state, ReceiptState::Delivered);

    let id = message_id(&submit(&s, "+37255500010", 1).await);
    let (tlv_only, _) = receipt(&mut s, SOON).await;
    assert!(tlv_only.raw_text.is_empty());
    assert!(matches(&tlv_only, &id));
    assert_eq!(tlv_only.state, ReceiptState::Delivered);
}

#[tokio::test]
async fn registered_delivery_decides_which_receipts_come() {
    let sim = start().await;
    let mut s = bind(&sim, BindKind::Transceiver).await;
    message_id(&submit(&s, "+37255500000", 0).await);
    message_id(&submit(&s, "+37255500000", 2).await);
    assert!(
        no_receipt(&mut s, RECEIPT_DELAY * 4).await,
        "none asked for"
    );
    let id = message_id(&submit(&s, "+37255500001", 2).await);
    let (r, _) = receipt(&mut s, SOON).await;
    assert!(matches(&r, &id), "failures still reported");
}

#[tokio::test]
async fn receipts_for_a_transmitter_wait_for_a_receiver_of_the_same_account() {
    let sim = start().await;
    let tx = bind(&sim, BindKind::Transmitter).await;
    let id = message_id(&submit(&tx, "+37255500000", 1).await);
    // Due after RECEIPT_DELAY, with no receiver bound: held.
    tokio::time::sleep(RECEIPT_DELAY * 3).await;
    let mut rx = bind(&sim, BindKind::Receiver).await;
    let (r, _) = receipt(&mut rx, SOON).await;
    assert!(matches(&r, &id));

    // A receiver cannot submit.
    let refused = submit(&rx, "+37255500000", 1).await;
    assert_eq!(u32::from(refused.status()), 0x04);
}

#[tokio::test]
async fn an_unacknowledged_receipt_is_sent_again() {
    let sim = start().await;
    let mut s = bind(&sim, BindKind::Transceiver).await;
    let id = message_id(&submit(&s, "+37255500000", 1).await);
    let first = tokio::time::timeout(SOON, s.incoming.recv())
        .await
        .unwrap()
        .unwrap();
    first.responder.error(0x08);
    let (again, _) = receipt(&mut s, SOON).await;
    assert!(matches(&again, &id));
}

#[tokio::test]
async fn a_wrong_password_or_system_id_is_refused() {
    let sim = start().await;
    for (system_id, password, status) in [("herald", "wrong", 0x0E), ("other", "secret", 0x0F)] {
        let stream = TcpStream::connect(sim.addr).await.unwrap();
        let err = Session::bind(
            stream,
            BindKind::Transceiver,
            system_id,
            password,
            "",
            SessionConfig::default(),
        )
        .await
        .expect_err("refused");
        assert!(
            matches!(err, herald_smpp::session::BindError::Credentials(s) if s == status),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn shutdown_unbinds_every_esme() {
    let sim = start().await;
    let a = bind(&sim, BindKind::Transceiver).await;
    let b = bind(&sim, BindKind::Receiver).await;
    sim.shutdown.cancel();
    for s in [&a, &b] {
        let reason = tokio::time::timeout(SOON, s.handle.closed()).await.unwrap();
        assert_eq!(reason, CloseReason::PeerUnbound);
    }
}
