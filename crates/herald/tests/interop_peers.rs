//! Interoperability with SMPP peers Herald did not write: PyPI `smpplib` and npm `smpp` as ESMEs
//! against the simulated carrier, and npm `smpp` as a carrier for Herald's session engine.
//!
//! The peers live in `tests/peers/` and must be installed first (CI does this):
//!
//! ```sh
//! npm ci --prefix crates/herald/tests/peers
//! python3 -m pip install -r crates/herald/tests/peers/requirements.txt
//! ```
//!
//! A missing peer fails the test with those commands in the message: an interop test that skips
//! itself proves nothing. `HERALD_PYTHON` and `HERALD_NODE` choose other interpreters.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use herald::simulator::{self, SimConfig};

mod support;
use herald_smpp::ids::IdKeys;
use herald_smpp::pdu::{self, Submit};
use herald_smpp::receipt::{self, ReceiptState};
use herald_smpp::session::{BindKind, Request, Session, SessionConfig};
use rusmpp::pdus::DeliverSmResp;
use rusmpp::{CommandId, CommandStatus, Pdu};
use serde_json::Value;
use support::peers::{node, peers_dir, python};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SYSTEM_ID: &str = "herald";
const PASSWORD: &str = "secret";
const PEER_TIMEOUT: Duration = Duration::from_secs(40);
/// Delivered with a decimal id; delivered with a hex id in the response; invalid destination.
const DELIVERED: &str = "37255500000";
const DELIVERED_HEX: &str = "447700900000";
const REJECTED: &str = "37255500003";

/// A child process killed when the test ends, whatever happens.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a peer to completion (bounded) and returns the JSON object it printed last.
async fn run_to_completion(mut cmd: Command) -> Value {
    let describe = format!("{cmd:?}");
    cmd.current_dir(peers_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut peer = Peer(cmd.spawn().expect("spawn peer"));
    let mut stdout = peer.0.stdout.take().unwrap();
    let mut stderr = peer.0.stderr.take().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        let (mut out, mut err) = (String::new(), String::new());
        let _ = stdout.read_to_string(&mut out);
        let _ = stderr.read_to_string(&mut err);
        (out, err)
    });
    let (out, err) = tokio::time::timeout(PEER_TIMEOUT, output)
        .await
        .unwrap_or_else(|_| panic!("{describe} did not finish in {PEER_TIMEOUT:?}"))
        .unwrap();
    let status = peer.0.wait().unwrap();
    assert!(
        status.success(),
        "{describe} failed ({status}):\n{err}\n{out}"
    );
    let last = out.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{describe} printed {out:?}: {e}"))
}

async fn start_simulator() -> (SocketAddr, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = SimConfig {
        system_id: SYSTEM_ID.into(),
        password: Some(PASSWORD.into()),
        receipt_delay: Duration::from_millis(100),
        ..SimConfig::default()
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(simulator::serve(listener, cfg, shutdown.clone()));
    (addr, shutdown)
}

fn peer_args(addr: SocketAddr) -> Vec<String> {
    [
        addr.ip().to_string(),
        addr.port().to_string(),
        SYSTEM_ID.into(),
        PASSWORD.into(),
        DELIVERED.into(),
        DELIVERED_HEX.into(),
        REJECTED.into(),
    ]
    .into()
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// What every ESME must have seen from the simulated carrier for [`peer_args`].
fn check_esme_observations(seen: &Value) {
    let peer = &seen["peer"];
    assert_eq!(seen["bind_status"], 0, "{peer}: bind");
    let submits = seen["submits"].as_array().unwrap();
    assert_eq!(submits.len(), 3, "{peer}: {seen}");
    let (delivered, hex, rejected) = (&submits[0], &submits[1], &submits[2]);
    assert_eq!(delivered["status"], 0, "{peer}: {delivered}");
    assert_eq!(hex["status"], 0, "{peer}: {hex}");
    assert_eq!(
        rejected["status"], 0x0B,
        "{peer}: invalid destination {rejected}"
    );

    let decimal_id = str_field(delivered, "message_id");
    assert!(
        decimal_id.bytes().all(|b| b.is_ascii_digit()),
        "{decimal_id}"
    );
    let hex_id = str_field(hex, "message_id");
    let hex_value = u64::from_str_radix(hex_id, 16).expect("hex id");

    let receipts = seen["receipts"].as_array().unwrap();
    assert_eq!(
        receipts.len(),
        2,
        "{peer}: one receipt per accepted message: {seen}"
    );
    for submitted in [delivered, hex] {
        let id = str_field(submitted, "message_id");
        let destination = str_field(submitted, "destination");
        let receipt = receipts
            .iter()
            .find(|r| {
                IdKeys::of(str_field(r, "receipted_message_id")).matches_submission(&IdKeys::of(id))
            })
            .unwrap_or_else(|| panic!("{peer}: no receipt for {id}: {seen}"));
        assert_eq!(
            receipt["esm_class"].as_u64().unwrap() & 0x3C,
            0x04,
            "{receipt}"
        );
        assert_eq!(receipt["message_state"], 2, "{receipt}");
        // Addresses swapped relative to the submission.
        assert_eq!(str_field(receipt, "source_addr"), destination);
        assert_eq!(str_field(receipt, "destination_addr"), "Herald");
        let text = receipt::parse_text(str_field(receipt, "short_message"));
        assert_eq!(text.stat.as_deref(), Some("DELIVRD"), "{receipt}");
        assert_eq!(
            text.id.as_deref(),
            Some(str_field(receipt, "receipted_message_id"))
        );
    }
    // The hex-range number's receipt carries the same id in decimal.
    let hex_receipt = receipts
        .iter()
        .find(|r| str_field(r, "source_addr") == DELIVERED_HEX)
        .unwrap();
    assert_eq!(
        str_field(hex_receipt, "receipted_message_id"),
        hex_value.to_string()
    );
    assert_eq!(seen["enquire_link_status"], 0, "{peer}");
    assert_eq!(seen["unbind_status"], 0, "{peer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpplib_client_binds_submits_and_gets_receipts_from_the_simulator() {
    let python = python();
    let (addr, shutdown) = start_simulator().await;
    let mut cmd = Command::new(python);
    cmd.arg("smpplib_client.py").args(peer_args(addr));
    let seen = run_to_completion(cmd).await;
    check_esme_observations(&seen);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_smpp_client_binds_submits_and_gets_receipts_from_the_simulator() {
    let node = node();
    let (addr, shutdown) = start_simulator().await;
    let mut cmd = Command::new(node);
    cmd.arg("npm_client.js").args(peer_args(addr));
    let seen = run_to_completion(cmd).await;
    check_esme_observations(&seen);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_to_an_independent_client() {
    let python = python();
    let (addr, shutdown) = start_simulator().await;
    let script = "import smpplib.client, smpplib.exceptions, sys\n\
        c = smpplib.client.Client(sys.argv[1], int(sys.argv[2]), timeout=5)\n\
        c.connect()\n\
        try:\n    c.bind_transceiver(system_id='herald', password='wrong')\n    print('bound')\n\
        except smpplib.exceptions.PDUError as e:\n    print('{\"status\": %d}' % e.args[1])\n";
    let mut cmd = Command::new(python);
    cmd.args([
        "-c",
        script,
        &addr.ip().to_string(),
        &addr.port().to_string(),
    ]);
    let seen = run_to_completion(cmd).await;
    assert_eq!(seen["status"], 0x0E, "ESME_RINVPASWD expected: {seen}");
    shutdown.cancel();
}

/// The npm carrier's stdout, one JSON event per line.
struct Carrier {
    _peer: Peer,
    events: mpsc::UnboundedReceiver<Value>,
}

impl Carrier {
    async fn start() -> (Carrier, u16) {
        let mut cmd = Command::new(node());
        cmd.args(["npm_carrier.js", SYSTEM_ID, PASSWORD])
            .current_dir(peers_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut peer = Peer(cmd.spawn().expect("spawn npm carrier"));
        let stdout = peer.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let mut carrier = Carrier {
            _peer: peer,
            events: rx,
        };
        let first = carrier.next().await;
        let port = first["port"].as_u64().expect("port line") as u16;
        (carrier, port)
    }

    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), self.events.recv())
            .await
            .expect("npm carrier said nothing for 10 s")
            .expect("npm carrier exited")
    }

    /// Waits for the event named `name`, keeping the others it passes.
    async fn expect(&mut self, name: &str, passed: &mut Vec<Value>) -> Value {
        if let Some(i) = passed.iter().position(|e| e["event"] == name) {
            return passed.remove(i);
        }
        loop {
            let e = self.next().await;
            if e["event"] == name {
                return e;
            }
            passed.push(e);
        }
    }
}

fn submit_to(destination: &str) -> Pdu {
    pdu::submit_sm(&Submit {
        source: "Herald",
        destination,
        data_coding: 0,
        esm_class: 0,
        short_message: b"hello carrier",
        registered_delivery: 1,
        validity_period: None,
    })
    .unwrap()
    .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_engine_works_as_an_esme_against_an_npm_smpp_carrier() {
    let (mut carrier, port) = Carrier::start().await;
    let mut passed = Vec::new();
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let cfg = SessionConfig {
        response_timeout: Duration::from_secs(5),
        ..SessionConfig::default()
    };
    let mut session = Session::bind(stream, BindKind::Transceiver, SYSTEM_ID, PASSWORD, "", cfg)
        .await
        .expect("bind to the npm carrier");
    let handle = session.handle.clone();
    let bind = carrier.expect("bind", &mut passed).await;
    assert_eq!(bind["interface_version"], 0x34, "{bind}");

    // The carrier probes us right after the bind: the engine answers on its own.
    let probe = carrier.expect("enquire_link_resp", &mut passed).await;
    assert_eq!(probe["status"], 0, "{probe}");

    // Accepted: hex id in the response, the receipt says it in decimal, text only.
    let resp = handle.request(submit_to("+37255500000")).await.unwrap();
    assert_eq!(resp.status(), CommandStatus::EsmeRok);
    let Some(Pdu::SubmitSmResp(r)) = resp.pdu() else {
        panic!("{resp:?}")
    };
    let submitted_id = r.message_id().to_string();
    assert_eq!(submitted_id, "1A2B3C");
    let submit = carrier.expect("submit_sm", &mut passed).await;
    assert_eq!(submit["esm_class"], 0, "{submit}");
    assert_eq!(submit["registered_delivery"], 1, "{submit}");
    assert_eq!(submit["destination"], "37255500000", "{submit}");

    let incoming = tokio::time::timeout(Duration::from_secs(10), session.incoming.recv())
        .await
        .expect("receipt within 10 s")
        .expect("session open");
    let Request::Pdu(cmd) = &incoming.request else {
        panic!("undecodable receipt: {:?}", incoming.request)
    };
    let Some(Pdu::DeliverSm(deliver)) = cmd.pdu() else {
        panic!("{cmd:?}")
    };
    let read = receipt::from_deliver_sm(deliver).expect("a receipt");
    assert!(read.tlvs.is_empty(), "text-only receipt: {read:?}");
    assert_eq!(read.state, ReceiptState::Delivered);
    let receipt_id = read.message_id.clone().unwrap();
    assert_eq!(receipt_id, "1715004");
    assert!(IdKeys::of(&receipt_id).matches_submission(&IdKeys::of(&submitted_id)));
    assert_eq!(deliver.source_addr.to_string(), "37255500000");
    incoming.responder.ok(DeliverSmResp::default());
    let ack = carrier.expect("deliver_sm_resp", &mut passed).await;
    assert_eq!(ack["status"], 0, "{ack}");

    // Our own probe.
    let pong = handle.request(Pdu::EnquireLink).await.unwrap();
    assert_eq!(pong.id(), CommandId::EnquireLinkResp);
    assert_eq!(pong.status(), CommandStatus::EsmeRok);
    carrier.expect("enquire_link", &mut passed).await;

    // Refused destination: an error status without a body.
    let refused = handle.request(submit_to("+37255500003")).await.unwrap();
    assert_eq!(refused.id(), CommandId::SubmitSmResp);
    assert_eq!(refused.status(), CommandStatus::EsmeRinvdstadr);

    // A generic_nack ends the request too.
    let nack = handle.request(submit_to("+37255500099")).await.unwrap();
    assert_eq!(nack.id(), CommandId::GenericNack);
    assert_eq!(u32::from(nack.status()), 0x02);

    handle.unbind().await;
    carrier.expect("unbind", &mut passed).await;
    assert!(handle.is_closed());
}
