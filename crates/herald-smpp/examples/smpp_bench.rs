//! Prints the SMPP layer's speed: `submit_sm` round trips per second over one loopback bind
//! (ESME and SMSC on Herald's session engine, in this one process), and PDU encode/decode rates.
//!
//! `cargo run --release -p herald-smpp --example smpp_bench -- [submits] [window]`
//!
//! Figures only; nothing is asserted (machines are shared and noisy).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::BytesMut;
use herald_smpp::frame::{self, Frame, FrameCodec};
use herald_smpp::session::{BindKind, Request, Session, SessionConfig};
use rusmpp::pdus::{SubmitSm, SubmitSmResp};
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{EsmClass, Npi, RegisteredDelivery, Ton};
use rusmpp::{Command, CommandStatus, Pdu};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Decoder;

fn submit() -> SubmitSm {
    SubmitSm::builder()
        .source_addr_ton(Ton::Alphanumeric)
        .source_addr_npi(Npi::Unknown)
        .source_addr(COctetString::from_static_slice(b"Herald\0").unwrap())
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(COctetString::from_static_slice(b"3725550001\0").unwrap())
        .esm_class(EsmClass::from(0x00))
        .registered_delivery(RegisteredDelivery::from(0x01))
        .short_message(OctetString::from_static_slice(b"Hello from the Herald benchmark").unwrap())
        .build()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let total: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let window: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);

    codec_rates();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(round_trips(total, window));
}

fn codec_rates() {
    let cmd = Command::new(CommandStatus::EsmeRok, 1, submit());
    let n = 1_000_000u32;
    let start = Instant::now();
    let mut buf = BytesMut::with_capacity(256);
    for _ in 0..n {
        buf.clear();
        frame::encode_into(&cmd, &mut buf);
    }
    let enc = f64::from(n) / start.elapsed().as_secs_f64();
    let wire = frame::encode(&cmd);
    let mut codec = FrameCodec::default();
    let start = Instant::now();
    for _ in 0..n {
        let mut b = BytesMut::from(&wire[..]);
        if let Some(Frame::Pdu(f)) = codec.decode(&mut b).unwrap() {
            let decoded = frame::decode(f).unwrap();
            std::hint::black_box(decoded);
        }
    }
    let dec = f64::from(n) / start.elapsed().as_secs_f64();
    println!("submit_sm encode: {enc:.0} PDUs/s");
    println!("submit_sm frame+decode: {dec:.0} PDUs/s");
}

async fn round_trips(total: u64, window: usize) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = SessionConfig {
        window,
        ..SessionConfig::default()
    };
    let smsc_cfg = cfg.clone();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        sock.set_nodelay(true).unwrap();
        let (mut session, _) = Session::accept(sock, "bench", smsc_cfg, |_| async { Ok(()) })
            .await
            .unwrap();
        let mut next_id = 0u64;
        while let Some(incoming) = session.incoming.recv().await {
            if let Request::Pdu(_) = incoming.request {
                next_id += 1;
                let id = COctetString::from_string(format!("{next_id:x}")).unwrap();
                incoming
                    .responder
                    .ok(Pdu::SubmitSmResp(SubmitSmResp::new(id, Vec::new())));
            }
        }
    });
    let sock = TcpStream::connect(addr).await.unwrap();
    sock.set_nodelay(true).unwrap();
    let session = Session::bind(sock, BindKind::Transceiver, "bench", "bench", "", cfg)
        .await
        .unwrap();
    let handle = session.handle.clone();
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    // As many senders as the window: each keeps one request in flight.
    let mut tasks = Vec::new();
    for _ in 0..window {
        let handle = handle.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while done.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                let resp = handle.request(submit()).await.unwrap();
                assert_eq!(resp.status(), CommandStatus::EsmeRok);
                latencies.push(t.elapsed().as_micros() as u64);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "submit_sm round trips: {} in {:.2} s = {:.0}/s over one bind, window {} (p50 {} µs, p99 {} µs)",
        latencies.len(),
        secs,
        latencies.len() as f64 / secs,
        window,
        pct(0.50),
        pct(0.99)
    );
    handle.unbind().await;
}
