//! End-to-end benchmark: HTTP `send_sms` → store → SMPP submit → simulated carrier → receipt →
//! callback received, everything on loopback in this one process (load generator and callback
//! receiver included, so their CPU counts against Herald's).
//!
//! ```text
//! cargo run --release -p herald --example e2e_bench -- throughput [messages] [concurrency] [scheduled] [unreachable]
//! cargo run --release -p herald --example e2e_bench -- latency [rate_per_s] [seconds]
//! cargo run --release -p herald --example e2e_bench -- inflight [messages]
//! ```
//!
//! `--sessions N` anywhere on the line: Herald opens N sessions to the simulated carrier (the
//! carrier's `sessions` key), each a transceiver with the window below; 1 unless given.
//!
//! `throughput` with `scheduled` > 0 first queues that many messages for the next day
//! (`time_to_send`), not counted: the run then measures the gateway holding a scheduled campaign.
//! With `unreachable` > 0, that many messages first go end to end with a dlr-url nobody listens
//! on, not counted: each one's SENT callback fails and waits for its retry (an hour later in the
//! bench), its final one queued behind it, as when a customer's receiver is down for hours.
//!
//! `inflight` runs the simulated carrier in a child process (this program, re-run as
//! `e2e_bench simulator PORT DELAY_MS`): the receipts it owes are the carrier's memory, not
//! Herald's, and the peak RSS printed is this process's.
//!
//! Herald runs on the main runtime; the load generator, the callback receiver and the simulated
//! carrier run on a second runtime whose threads are named `bench-*`, so the CPU time printed
//! is split between Herald and the rest (per-thread CPU from `/proc/self/task`).
//!
//! Before `throughput` starts its clock, each of its HTTP clients sends one message and the
//! bench waits for their final callbacks: a running gateway's clients are connected and their
//! passwords checked (argon2, then remembered for a minute), which a message does not pay for.
//!
//! Prints figures only; nothing is asserted (machines are shared and noisy).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use bytes::Bytes;
use herald::config::Config;
use herald::domain::MessageId;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::sync::Notify;

// glibc malloc/free were ~15 % of the process's CPU in the end-to-end benchmark (many small,
// short-lived allocations across threads); mimalloc serves those from per-thread pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn now_ms_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// The runtime of the load generator, the callback receiver and the simulated carrier.
static BENCH_RUNTIME: std::sync::OnceLock<tokio::runtime::Handle> = std::sync::OnceLock::new();

fn peers() -> &'static tokio::runtime::Handle {
    BENCH_RUNTIME.get().expect("bench runtime started")
}

/// Final callbacks seen by the receiver: message id → arrival time (ms since epoch).
#[derive(Default)]
struct Receiver {
    finals: Mutex<HashMap<String, f64>>,
    callbacks: Mutex<u64>,
    /// How many final callbacks `Bench::wait_finals` waits for (0: nobody waits).
    awaited: AtomicUsize,
    /// Told once `awaited` have arrived, not on every callback: the waiting task runs on the
    /// main runtime's thread, whose CPU counts as Herald's, and woken for each of tens of
    /// thousands of callbacks that thread took 1.3% of the process's samples (a profile of
    /// `throughput 40000 256`), besides the wake-ups' cost on the threads that sent them.
    reached: Notify,
}

fn main() -> anyhow::Result<()> {
    // Herald's own log lines, when asked for (`RUST_LOG=herald=debug`): none by default.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--sessions") {
        let n = args.get(at + 1).and_then(|s| s.parse().ok());
        let n: usize = n
            .filter(|&n| n >= 1)
            .context("--sessions takes a number from 1")?;
        SESSIONS.set(n).expect("set once");
        args.drain(at..at + 2);
    }
    let mode = args.first().map(String::as_str).unwrap_or("throughput");
    let n = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let peers_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-peers")
        .build()?;
    BENCH_RUNTIME
        .set(peers_rt.handle().clone())
        .expect("set once");
    rt.block_on(async {
        match mode {
            "throughput" => throughput(n(1, 20_000), n(2, 256) as usize, n(3, 0), n(4, 0)).await,
            "latency" => latency(n(1, 1_000), n(2, 10)).await,
            "inflight" => inflight(n(1, 100_000)).await,
            "simulator" => simulator(n(1, 2775) as u16, n(2, 600_000)).await,
            other => anyhow::bail!("unknown mode {other}: throughput | latency | inflight"),
        }
    })
}

struct Bench {
    app: herald::app::RunningApp,
    receiver: Arc<Receiver>,
    /// The load generator's HTTP client: hyper's pooled client, the request built from parts
    /// made once. It shares the machine's two cores with Herald, so what it spends per request
    /// is taken from Herald's throughput (reqwest parsed the URL three times a request).
    client: Client<HttpConnector, Full<Bytes>>,
    send_sms: http::Uri,
    /// Every field of the form but `to`, encoded.
    form: String,
    /// The same for a message scheduled for the next day (another text, so it is no duplicate
    /// of a measured one).
    scheduled_form: String,
    /// The same for a message whose dlr-url nobody listens on.
    unreachable_form: String,
    _dir: tempfile::TempDir,
}

async fn simulator(port: u16, receipt_delay_ms: u64) -> anyhow::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    herald::simulator::serve(
        listener,
        carrier_config(receipt_delay_ms),
        Default::default(),
    )
    .await?;
    Ok(())
}

/// Herald's binds and the simulated carrier's have the same window, both ways: receipts are
/// acknowledged only once committed, so the carrier's window for `deliver_sm` (10 by default)
/// would otherwise cap receipts at 10 per commit.
const WINDOW: usize = 50;

/// Sessions Herald opens to the simulated carrier (`--sessions`).
static SESSIONS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

fn sessions() -> usize {
    SESSIONS.get().copied().unwrap_or(1)
}

/// The simulated carrier's settings.
fn carrier_config(receipt_delay_ms: u64) -> herald::simulator::SimConfig {
    let mut cfg = herald::simulator::SimConfig {
        receipt_delay: Duration::from_millis(receipt_delay_ms),
        ..Default::default()
    };
    cfg.session.window = WINDOW;
    cfg
}

/// Where the simulated carrier runs.
enum Carrier {
    InProcess { receipt_delay_ms: u64 },
    ChildProcess { port: u16 },
}

async fn setup(carrier: Carrier) -> anyhow::Result<Bench> {
    let dir = tempfile::tempdir()?;
    let (mut config, password) = Config::load(None)?;
    config.database.url = format!("sqlite://{}", dir.path().join("herald.db").display());
    config.http.listen = "127.0.0.1:0".parse()?;
    config.simulator = None;
    let carrier_port = match carrier {
        Carrier::InProcess { receipt_delay_ms } => {
            // On the bench's runtime, so its CPU is not counted as Herald's.
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.set_nonblocking(true)?;
            let port = listener.local_addr()?.port();
            let cfg = carrier_config(receipt_delay_ms);
            peers().spawn(async move {
                let listener = TcpListener::from_std(listener)?;
                herald::simulator::serve(listener, cfg, Default::default()).await
            });
            port
        }
        Carrier::ChildProcess { port } => port,
    };
    for c in &mut config.carriers {
        c.port = carrier_port;
        c.tps = 0;
        c.window = WINDOW as u32;
        c.sessions = sessions() as u32;
    }
    config.callbacks.concurrency = 256;
    // A failed callback is retried an hour later: a receiver that is down (`throughput`'s
    // `unreachable`) leaves its callbacks queued through a run. The others never fail.
    config.callbacks.schedule = vec![Duration::from_secs(3600)];
    // Every message is charged when submitted: enough balance for any run.
    for account in &mut config.accounts {
        account.balance = "1000000000.00".into();
    }
    let receiver = Arc::new(Receiver::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let dlr_url = format!("http://{}/dlr", listener.local_addr()?);
    let router = axum::Router::new()
        .route("/dlr", get(record_callback))
        .with_state(receiver.clone());
    peers().spawn(async move { axum::serve(TcpListener::from_std(listener)?, router).await });
    let app = herald::app::start(config).await?;
    // Wait for the bind.
    for link in app.carriers.values() {
        tokio::time::timeout(Duration::from_secs(10), link.wait_bound()).await?;
    }
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let password = password.unwrap_or_default();
    let form = serde_urlencoded::to_string([
        ("username", "demo"),
        ("password", password.as_str()),
        ("text", "Benchmark message from Herald"),
        ("dlr-url", dlr_url.as_str()),
    ])?;
    Ok(Bench {
        send_sms: format!("{}/send_sms", app.base_url()).parse()?,
        app,
        receiver,
        client: Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(512)
            .build(connector),
        scheduled_form: format!(
            "{}&time_to_send={}",
            form.replace("Benchmark+message", "Scheduled+message"),
            (now_ms_f64() / 1000.0) as u64 + 86_400
        ),
        unreachable_form: serde_urlencoded::to_string([
            ("username", "demo"),
            ("password", password.as_str()),
            ("text", "Unreachable receiver's message from Herald"),
            ("dlr-url", format!("http://{}/dlr", closed_port()?).as_str()),
        ])?,
        form,
        _dir: dir,
    })
}

/// A loopback address nobody listens on (bound, then let go).
fn closed_port() -> std::io::Result<std::net::SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

async fn record_callback(State(r): State<Arc<Receiver>>, RawQuery(q): RawQuery) -> &'static str {
    let q = q.unwrap_or_default();
    *r.callbacks.lock().unwrap() += 1;
    let is_final = q.contains("status=DELIVERED") || q.contains("status=FAILED");
    if let Some(id) = q
        .split('&')
        .find_map(|kv| kv.strip_prefix("sms_unique_id="))
        .filter(|_| is_final)
    {
        let seen = {
            let mut finals = r.finals.lock().unwrap();
            finals.insert(id.to_owned(), now_ms_f64());
            finals.len()
        };
        let awaited = r.awaited.load(Ordering::Acquire);
        if awaited > 0 && seen >= awaited {
            r.reached.notify_waiters();
        }
    }
    "ok"
}

impl Bench {
    async fn send(&self, i: u64) -> anyhow::Result<(String, f64)> {
        self.send_form(i, &self.form).await
    }

    async fn send_form(&self, i: u64, form: &str) -> anyhow::Result<(String, f64)> {
        // Numbers ending in 00 are delivered by the simulated carrier.
        let to = format!("3725{:06}00", i % 1_000_000);
        let sent_at = now_ms_f64();
        let request = http::Request::post(self.send_sms.clone())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(Full::new(Bytes::from(format!("{form}&to={to}"))))?;
        let response = self.client.request(request).await?;
        let body = response.into_body().collect().await?.to_bytes();
        let body = std::str::from_utf8(&body)?;
        match body.trim().strip_prefix("OK ") {
            Some(id) => Ok((id.to_owned(), sent_at)),
            None => anyhow::bail!("send_sms answered {body}"),
        }
    }

    async fn wait_finals(&self, count: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        self.receiver.awaited.store(count, Ordering::Release);
        let arrived = loop {
            let notified = self.receiver.reached.notified();
            if self.receiver.finals.lock().unwrap().len() >= count {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        };
        self.receiver.awaited.store(0, Ordering::Release);
        arrived
    }
}

/// Where the warm-up's destination numbers start (`send_form` keeps six digits of a number).
const WARMUP_NUMBERS: u64 = 900_000;

/// Which messages `send_all` sends.
#[derive(Clone, Copy)]
enum Kind {
    Measured,
    /// One message per client connection before the clock starts, to numbers the measured
    /// messages never use.
    Warmup,
    Scheduled,
    Unreachable,
}

/// Sends `count` messages of `kind` through the API, `concurrency` requests at a time; returns
/// how many were accepted.
async fn send_all(bench: &Arc<Bench>, count: u64, concurrency: usize, kind: Kind) -> usize {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (bench, next) = (bench.clone(), next.clone());
        tasks.push(peers().spawn(async move {
            let form = match kind {
                Kind::Measured | Kind::Warmup => &bench.form,
                Kind::Scheduled => &bench.scheduled_form,
                Kind::Unreachable => &bench.unreachable_form,
            };
            let mut accepted = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return accepted;
                }
                let number = match kind {
                    Kind::Warmup => WARMUP_NUMBERS + i,
                    _ => i,
                };
                match bench.send_form(number, form).await {
                    Ok(_) => accepted += 1,
                    Err(e) => eprintln!("send failed: {e}"),
                }
            }
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap_or(0);
    }
    accepted
}

/// Messages delivered so far, as the store counts them.
async fn delivered(bench: &Bench) -> anyhow::Result<u64> {
    let counts = bench.app.store.message_counts().await?;
    Ok(counts
        .iter()
        .filter(|c| c.status == herald::domain::Status::Delivered)
        .map(|c| c.count)
        .sum())
}

async fn throughput(
    messages: u64,
    concurrency: usize,
    scheduled: u64,
    unreachable: u64,
) -> anyhow::Result<()> {
    let bench = Arc::new(
        setup(Carrier::InProcess {
            receipt_delay_ms: 0,
        })
        .await?,
    );
    if scheduled > 0 {
        let start = Instant::now();
        let queued = send_all(&bench, scheduled, concurrency, Kind::Scheduled).await;
        println!(
            "scheduled for tomorrow: {queued} of {scheduled} messages in {:.1} s (not measured)",
            start.elapsed().as_secs_f64()
        );
    }
    if unreachable > 0 {
        let start = Instant::now();
        let sent = send_all(&bench, unreachable, concurrency, Kind::Unreachable).await as u64;
        // Until every one is delivered (its final callback queued), then a moment for the last
        // SENT attempts to fail and be recorded.
        let deadline = Instant::now() + Duration::from_secs(300);
        while delivered(&bench).await? < sent && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!(
            "receiver down: {} of {unreachable} messages delivered, their callbacks queued, in {:.1} s (not measured)",
            delivered(&bench).await?,
            start.elapsed().as_secs_f64()
        );
    }
    // A running gateway's clients are connected and logged in: their first request's TCP
    // connect and password check (argon2, tens of milliseconds and ~19 MiB, then remembered
    // for a minute) are not what a message costs, so they happen before the clock starts.
    let warm = send_all(&bench, concurrency as u64, concurrency, Kind::Warmup).await;
    if !bench.wait_finals(warm, Duration::from_secs(60)).await {
        anyhow::bail!("the warm-up messages did not all reach a final callback");
    }
    bench.receiver.finals.lock().unwrap().clear();
    *bench.receiver.callbacks.lock().unwrap() = 0;
    let cpu0 = cpu_seconds();
    let bench_cpu0 = bench_cpu_seconds();
    let writer0 = thread_cpu_seconds(WRITER_THREAD).unwrap_or(0.0);
    let start = Instant::now();
    let accepted = send_all(&bench, messages, concurrency, Kind::Measured).await;
    let accept_secs = start.elapsed().as_secs_f64();
    let accepts_done_ms = now_ms_f64();
    let complete = bench.wait_finals(accepted, Duration::from_secs(600)).await;
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let bench_cpu = bench_cpu_seconds() - bench_cpu0;
    let finals = bench.receiver.finals.lock().unwrap().len();
    let mut backlog = String::new();
    if scheduled > 0 {
        backlog.push_str(&format!(
            ", {scheduled} messages scheduled for tomorrow in the queue"
        ));
    }
    if unreachable > 0 {
        backlog.push_str(&format!(
            ", {unreachable} messages' callbacks waiting for a receiver that is down"
        ));
    }
    println!(
        "end-to-end throughput (SQLite, {}, window {WINDOW} both ways, {concurrency} HTTP clients{backlog})",
        binds_phrase()
    );
    println!(
        "  accepted: {accepted} in {accept_secs:.2} s = {:.0}/s",
        accepted as f64 / accept_secs
    );
    println!(
        "  accept → final callback received: {finals} messages in {secs:.2} s = {:.0} messages/s{}",
        finals as f64 / secs,
        if complete { "" } else { " (INCOMPLETE)" }
    );
    // The two phases apart: while accepts come in they share the store's writer with every
    // later step; after the last one, the rest of the pipeline drains alone.
    let (drained, last_final_ms) = {
        let finals = bench.receiver.finals.lock().unwrap();
        let after = finals.values().filter(|&&t| t > accepts_done_ms);
        after.fold((0usize, accepts_done_ms), |(n, last), &t| {
            (n + 1, last.max(t))
        })
    };
    let drain_secs = (last_final_ms - accepts_done_ms) / 1000.0;
    println!(
        "    of which while accepting: {} final callbacks; after the last accept: {drained} in {drain_secs:.2} s = {:.0} messages/s",
        finals - drained,
        drained as f64 / drain_secs.max(f64::EPSILON)
    );
    println!(
        "  callbacks received: {} (SENT + final)",
        *bench.receiver.callbacks.lock().unwrap()
    );
    let per_message = |s: f64| s * 1e6 / finals.max(1) as f64;
    println!(
        "  CPU time: {cpu:.2} s = {:.0} µs per message (whole process)",
        per_message(cpu)
    );
    println!(
        "    Herald: {:.2} s = {:.0} µs per message; load generator, receiver and simulated carrier: {bench_cpu:.2} s = {:.0} µs per message",
        cpu - bench_cpu,
        per_message(cpu - bench_cpu),
        per_message(bench_cpu)
    );
    if let Some(writer) = thread_cpu_seconds(WRITER_THREAD).map(|s| s - writer0) {
        println!(
            "    of Herald's, the store's writer thread: {writer:.2} s = {:.0} µs per message",
            per_message(writer)
        );
    }
    println!("  peak RSS: {:.0} MB", peak_rss_mb());
    Ok(())
}

/// "one carrier bind", or "4 carrier binds" with `--sessions 4`.
fn binds_phrase() -> String {
    match sessions() {
        1 => "one carrier bind".to_owned(),
        n => format!("{n} carrier binds"),
    }
}

async fn latency(rate: u64, seconds: u64) -> anyhow::Result<()> {
    let bench = Arc::new(
        setup(Carrier::InProcess {
            receipt_delay_ms: 20,
        })
        .await?,
    );
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let sent: Arc<Mutex<Vec<(String, f64)>>> = Arc::default();
    let mut tasks = Vec::new();
    for i in 0..total {
        ticker.tick().await;
        let (bench, sent) = (bench.clone(), sent.clone());
        tasks.push(peers().spawn(async move {
            if let Ok(id) = bench.send(i).await {
                sent.lock().unwrap().push(id);
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let sent = sent.lock().unwrap().clone();
    bench
        .wait_finals(sent.len(), Duration::from_secs(120))
        .await;
    let finals = bench.receiver.finals.lock().unwrap().clone();
    let mut receipt_to_callback = Vec::new();
    let mut accept_to_final = Vec::new();
    for (id, sent_at) in &sent {
        let Some(&arrived) = finals.get(id) else {
            continue;
        };
        accept_to_final.push(arrived - sent_at);
        let history = bench
            .app
            .store
            .history(&MessageId::parse(id).unwrap())
            .await?;
        if let Some(receipt) = history.iter().rev().find(|e| e.kind == "receipt") {
            receipt_to_callback.push(arrived - receipt.at as f64);
        }
    }
    println!(
        "latency at {rate} messages/s for {seconds} s over {} ({} sent, {} final callbacks)",
        binds_phrase(),
        sent.len(),
        finals.len()
    );
    // Whether the gateway kept up: how long from the first send to the last final callback.
    // Keeping up, that is the run's length plus one message's own latency.
    let first_send = sent.iter().map(|(_, at)| *at).fold(f64::INFINITY, f64::min);
    let last_send = sent.iter().map(|(_, at)| *at).fold(0.0, f64::max);
    let last_final = finals.values().copied().fold(0.0, f64::max);
    let (sending, finishing) = (
        (last_send - first_send) / 1000.0,
        (last_final - first_send) / 1000.0,
    );
    println!(
        "  sent {} in {sending:.2} s = {:.0}/s; the last final callback {finishing:.2} s after the first send: {:.0} messages/s end to end",
        sent.len(),
        sent.len() as f64 / sending,
        finals.len() as f64 / finishing,
    );
    print_percentiles(
        "  receipt received → final callback received",
        &mut receipt_to_callback,
    );
    print_percentiles(
        "  send_sms → final callback received (incl. 20 ms carrier delay)",
        &mut accept_to_final,
    );
    println!("  peak RSS: {:.0} MB", peak_rss_mb());
    Ok(())
}

async fn inflight(messages: u64) -> anyhow::Result<()> {
    // Receipts come a long time later, so every accepted message stays in flight.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?.port()
    };
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["simulator", &port.to_string(), "600000"])
        .spawn()?;
    let bench = Arc::new(setup(Carrier::ChildProcess { port }).await?);
    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..256 {
        let (bench, next) = (bench.clone(), next.clone());
        tasks.push(peers().spawn(async move {
            let mut n = 0u64;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= messages {
                    return n;
                }
                if bench.send(i).await.is_ok() {
                    n += 1;
                }
            }
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await?;
    }
    // Wait until every message has its SENT callback: all submitted and acknowledged.
    let deadline = Instant::now() + Duration::from_secs(600);
    while *bench.receiver.callbacks.lock().unwrap() < accepted && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "{accepted} messages in flight (submitted, receipt pending) after {:.1} s; {} SENT callbacks; peak RSS {:.0} MB",
        start.elapsed().as_secs_f64(),
        *bench.receiver.callbacks.lock().unwrap(),
        peak_rss_mb()
    );
    let _ = child.kill();
    Ok(())
}

fn print_percentiles(label: &str, v: &mut [f64]) {
    if v.is_empty() {
        println!("{label}: no samples");
        return;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    println!(
        "{label}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
        p(0.5),
        p(0.99),
        v[v.len() - 1],
        v.len()
    );
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/self/stat")
}

/// CPU seconds of the live threads whose name starts with `prefix` (names are cut at 15 bytes).
fn threads_cpu_seconds(prefix: &str) -> Option<f64> {
    let mut found = None;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if name.trim_end().starts_with(prefix) {
            let stat = path.join("stat");
            *found.get_or_insert(0.0) += stat_cpu_seconds(&stat.to_string_lossy());
        }
    }
    found
}

/// The store's writer thread, as `/proc` shows its name.
const WRITER_THREAD: &str = "herald-store-wr";

fn thread_cpu_seconds(name: &str) -> Option<f64> {
    threads_cpu_seconds(name)
}

/// CPU seconds of the bench's own runtime (load generator, receiver, simulated carrier).
fn bench_cpu_seconds() -> f64 {
    threads_cpu_seconds("bench-").unwrap_or(0.0)
}

/// utime + stime of a `/proc/.../stat` file, in seconds.
fn stat_cpu_seconds(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
