//! The session engine against a misbehaving peer, driven by hand over real TCP: every fault a
//! carrier can commit must end in a defined outcome for each request, never a hang or a panic.

use std::time::Duration;

use futures_util::StreamExt;
use herald_smpp::frame::{self, Frame, FrameCodec};
use herald_smpp::session::{
    BindError, BindKind, CloseReason, RequestError, Session, SessionConfig, SessionHandle,
};
use rusmpp::pdus::{BindTransceiverResp, SubmitSm, SubmitSmResp};
use rusmpp::types::COctetString;
use rusmpp::values::{EsmClass, InterfaceVersion};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

const QUIET: Duration = Duration::from_millis(300);

/// The far end of the socket, played by the test.
struct RawPeer {
    read: FramedRead<tokio::net::tcp::OwnedReadHalf, FrameCodec>,
    write: OwnedWriteHalf,
}

impl RawPeer {
    async fn next(&mut self) -> Option<Command> {
        match tokio::time::timeout(Duration::from_secs(5), self.read.next()).await {
            Ok(Some(Ok(Frame::Pdu(bytes)))) => Some(frame::decode(bytes).expect("decodable PDU")),
            Ok(Some(Ok(other))) => panic!("bad frame from the engine: {other:?}"),
            Ok(Some(Err(e))) => panic!("read error: {e}"),
            Ok(None) => None,
            Err(_) => panic!("the engine sent nothing for 5 s"),
        }
    }

    async fn expect(&mut self, id: CommandId) -> Command {
        let cmd = self.next().await.expect("connection open");
        assert_eq!(cmd.id(), id, "{cmd:?}");
        cmd
    }

    /// Nothing arrives within `QUIET`.
    async fn silent(&mut self) -> bool {
        tokio::time::timeout(QUIET, self.read.next()).await.is_err()
    }

    async fn send(&mut self, cmd: Command) {
        self.send_raw(&frame::encode(&cmd)).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).await.unwrap();
    }

    async fn answer_ok(&mut self, req: &Command, id: &str) {
        let resp = SubmitSmResp::new(id.parse().unwrap(), Vec::new());
        self.send(Command::new(
            CommandStatus::EsmeRok,
            req.sequence_number(),
            resp,
        ))
        .await;
    }

    async fn answer_status(&mut self, req: &Command, status: u32) {
        let resp_id = u32::from(req.id().matching_response());
        self.send_raw(&frame::empty_response(
            resp_id,
            status,
            req.sequence_number(),
        ))
        .await;
    }
}

/// Connects an ESME session to a raw peer that answers the bind with `bind_status`.
async fn connect(cfg: SessionConfig, bind_status: u32) -> (Result<Session, BindError>, RawPeer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = async {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, write) = stream.into_split();
        let mut peer = RawPeer {
            read: FramedRead::new(read, FrameCodec::default()),
            write,
        };
        let bind = peer.expect(CommandId::BindTransceiver).await;
        if bind_status == 0 {
            let resp = BindTransceiverResp::new(
                "RawPeer".parse::<COctetString<1, 16>>().unwrap(),
                Some(InterfaceVersion::Smpp3_4),
            );
            peer.send(Command::new(
                CommandStatus::EsmeRok,
                bind.sequence_number(),
                resp,
            ))
            .await;
        } else {
            peer.answer_status(&bind, bind_status).await;
        }
        peer
    };
    let esme = async {
        let stream = TcpStream::connect(addr).await.unwrap();
        Session::bind(stream, BindKind::Transceiver, "herald", "secret", "", cfg).await
    };
    let (session, peer) = tokio::join!(esme, peer);
    (session, peer)
}

async fn bound(cfg: SessionConfig) -> (Session, RawPeer) {
    let (session, peer) = connect(cfg, 0).await;
    (session.expect("bound"), peer)
}

fn submit() -> Pdu {
    SubmitSm::builder()
        .source_addr("Herald".parse().unwrap())
        .destination_addr("37255500000".parse().unwrap())
        .esm_class(EsmClass::from(0x00))
        .short_message(rusmpp::types::OctetString::from_slice(b"hi").unwrap())
        .build()
        .into()
}

fn spawn_submit(handle: &SessionHandle) -> tokio::task::JoinHandle<Result<Command, RequestError>> {
    let handle = handle.clone();
    tokio::spawn(async move { handle.request(submit()).await })
}

fn quick() -> SessionConfig {
    SessionConfig {
        response_timeout: Duration::from_secs(5),
        ..SessionConfig::default()
    }
}

#[tokio::test]
async fn a_peer_vanishing_mid_window_ends_every_pending_request_with_connection_lost() {
    let (session, mut peer) = bound(quick()).await;
    let pending: Vec<_> = (0..3).map(|_| spawn_submit(&session.handle)).collect();
    for _ in 0..3 {
        peer.expect(CommandId::SubmitSm).await;
    }
    drop(peer);
    for request in pending {
        let outcome = tokio::time::timeout(Duration::from_secs(5), request)
            .await
            .expect("request ended")
            .expect("no panic");
        let err = outcome.expect_err("no response can have come");
        assert!(matches!(err, RequestError::ConnectionLost(_)), "{err:?}");
        assert!(err.outcome_unknown());
    }
    assert_eq!(session.handle.closed().await, CloseReason::PeerClosed);
    assert!(matches!(
        session.handle.request(submit()).await,
        Err(RequestError::NotSent)
    ));
}

#[tokio::test]
async fn a_peer_that_stops_answering_enquire_link_is_declared_dead() {
    let cfg = SessionConfig {
        enquire_link_interval: Duration::from_millis(100),
        dead_peer_timeout: Duration::from_millis(200),
        ..quick()
    };
    let (session, mut peer) = bound(cfg).await;
    peer.expect(CommandId::EnquireLink).await;
    let reason = tokio::time::timeout(Duration::from_secs(3), session.handle.closed())
        .await
        .expect("closed in time");
    assert_eq!(reason, CloseReason::DeadPeer);
}

#[tokio::test]
async fn enquire_link_answered_keeps_the_bind_up() {
    let cfg = SessionConfig {
        enquire_link_interval: Duration::from_millis(100),
        dead_peer_timeout: Duration::from_millis(200),
        ..quick()
    };
    let (session, mut peer) = bound(cfg).await;
    for _ in 0..3 {
        let probe = peer.expect(CommandId::EnquireLink).await;
        peer.send(Command::new(
            CommandStatus::EsmeRok,
            probe.sequence_number(),
            Pdu::EnquireLinkResp,
        ))
        .await;
    }
    assert!(!session.handle.is_closed());
}

#[tokio::test]
async fn a_generic_nack_answers_the_request_it_names() {
    let (session, mut peer) = bound(quick()).await;
    let request = spawn_submit(&session.handle);
    let sent = peer.expect(CommandId::SubmitSm).await;
    peer.send_raw(&frame::empty_response(
        u32::from(CommandId::GenericNack),
        0x03,
        sent.sequence_number(),
    ))
    .await;
    let resp = request.await.unwrap().expect("a response");
    assert_eq!(resp.id(), CommandId::GenericNack);
    assert_eq!(u32::from(resp.status()), 0x03);
    assert!(!session.handle.is_closed());
}

#[tokio::test]
async fn garbage_and_unknown_commands_get_generic_nack_and_the_bind_stays_usable() {
    let (session, mut peer) = bound(quick()).await;

    // An unknown command id.
    peer.send_raw(&[0, 0, 0, 16, 0, 0, 0x77, 0x77, 0, 0, 0, 0, 0, 0, 0, 41])
        .await;
    let nack = peer.expect(CommandId::GenericNack).await;
    assert_eq!(nack.sequence_number(), 41);
    assert_eq!(nack.status(), CommandStatus::EsmeRinvcmdid);

    // A submit_sm whose body is garbage.
    peer.send_raw(&[
        0, 0, 0, 20, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 42, 0xFF, 0xFE, 0x80, 0x81,
    ])
    .await;
    let nack = peer.expect(CommandId::GenericNack).await;
    assert_eq!(nack.sequence_number(), 42);

    // An oversized PDU is skipped, not buffered.
    let mut huge = vec![0, 0x10, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 43];
    huge.resize(0x10_0000, 0x41);
    peer.send_raw(&huge).await;
    let nack = peer.expect(CommandId::GenericNack).await;
    assert_eq!(nack.sequence_number(), 43);

    // Still bound, both ways.
    peer.send(Command::new(CommandStatus::EsmeRok, 44, Pdu::EnquireLink))
        .await;
    let pong = peer.expect(CommandId::EnquireLinkResp).await;
    assert_eq!(pong.sequence_number(), 44);
    let request = spawn_submit(&session.handle);
    let sent = peer.expect(CommandId::SubmitSm).await;
    peer.answer_ok(&sent, "77").await;
    let resp = request.await.unwrap().unwrap();
    assert_eq!(resp.status(), CommandStatus::EsmeRok);
    assert!(!session.handle.is_closed());
}

#[tokio::test]
async fn a_missing_response_times_out_as_an_unknown_outcome() {
    let cfg = SessionConfig {
        response_timeout: Duration::from_millis(200),
        ..SessionConfig::default()
    };
    let (session, mut peer) = bound(cfg).await;
    let request = spawn_submit(&session.handle);
    let sent = peer.expect(CommandId::SubmitSm).await;
    let err = request.await.unwrap().expect_err("no response was sent");
    assert!(matches!(err, RequestError::Timeout(_)), "{err:?}");
    assert!(err.outcome_unknown());
    assert_eq!(session.handle.stats().timeouts, 1);
    assert_eq!(session.handle.in_flight(), 0, "the slot is given back");
    // A late response is ignored, and the bind goes on.
    peer.answer_ok(&sent, "1").await;
    let again = spawn_submit(&session.handle);
    let sent = peer.expect(CommandId::SubmitSm).await;
    peer.answer_ok(&sent, "2").await;
    assert_eq!(
        again.await.unwrap().unwrap().status(),
        CommandStatus::EsmeRok
    );
}

#[tokio::test]
async fn a_full_window_holds_the_next_request_back() {
    let cfg = SessionConfig {
        window: 2,
        ..quick()
    };
    let (session, mut peer) = bound(cfg).await;
    let requests: Vec<_> = (0..3).map(|_| spawn_submit(&session.handle)).collect();
    let first = peer.expect(CommandId::SubmitSm).await;
    peer.expect(CommandId::SubmitSm).await;
    assert!(
        peer.silent().await,
        "a third request went past a window of 2"
    );
    assert_eq!(session.handle.in_flight(), 2);

    peer.answer_ok(&first, "1").await;
    let third = peer.expect(CommandId::SubmitSm).await;
    assert_ne!(third.sequence_number(), first.sequence_number());
    drop(peer);
    let outcomes: Vec<_> = futures_util::future::join_all(requests).await;
    let answered = outcomes.iter().filter(|o| matches!(o, Ok(Ok(_)))).count();
    assert_eq!(answered, 1);
}

#[tokio::test]
async fn throttling_answers_pause_the_next_submit() {
    let pause = Duration::from_millis(400);
    let cfg = SessionConfig {
        throttle_pause: pause,
        ..quick()
    };
    let (session, mut peer) = bound(cfg).await;
    let first = spawn_submit(&session.handle);
    let sent = peer.expect(CommandId::SubmitSm).await;
    peer.answer_status(&sent, 0x58).await;
    let throttled_at = Instant::now();
    let resp = first.await.unwrap().unwrap();
    assert_eq!(
        u32::from(resp.status()),
        0x58,
        "the caller still sees the status"
    );

    let second = spawn_submit(&session.handle);
    let sent = peer.expect(CommandId::SubmitSm).await;
    let waited = throttled_at.elapsed();
    assert!(waited >= pause - Duration::from_millis(50), "{waited:?}");
    peer.answer_ok(&sent, "9").await;
    assert_eq!(
        second.await.unwrap().unwrap().status(),
        CommandStatus::EsmeRok
    );
    assert_eq!(session.handle.stats().throttled, 1);
}

#[tokio::test]
async fn tps_spaces_submits_evenly() {
    let cfg = SessionConfig {
        tps: Some(10),
        ..quick()
    };
    let (session, mut peer) = bound(cfg).await;
    let requests: Vec<_> = (0..5).map(|_| spawn_submit(&session.handle)).collect();
    let mut arrivals = Vec::new();
    for i in 0..5 {
        let sent = peer.expect(CommandId::SubmitSm).await;
        arrivals.push(Instant::now());
        peer.answer_ok(&sent, &i.to_string()).await;
    }
    let span = arrivals[4] - arrivals[0];
    // Four gaps of 100 ms at 10 per second.
    assert!(span >= Duration::from_millis(350), "{span:?}");
    assert!(span < Duration::from_secs(2), "{span:?}");
    for r in requests {
        assert_eq!(r.await.unwrap().unwrap().status(), CommandStatus::EsmeRok);
    }
}

#[tokio::test]
async fn a_refused_password_is_a_credential_error() {
    let (result, _peer) = connect(quick(), 0x0E).await;
    let err = result.expect_err("bind refused");
    assert!(matches!(err, BindError::Credentials(0x0E)), "{err:?}");
    assert!(err.is_credential_error());
}

#[tokio::test]
async fn other_bind_refusals_are_not_credential_errors() {
    let (result, _peer) = connect(quick(), 0x08).await;
    let err = result.expect_err("bind refused");
    assert!(matches!(err, BindError::Refused(0x08)), "{err:?}");
    assert!(!err.is_credential_error());
}
