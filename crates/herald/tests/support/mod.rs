//! The end-to-end harness: a whole Herald per test (its own temporary directory and SQLite file,
//! HTTP and the in-process simulated carrier on free loopback ports, short delays), and a real
//! HTTP callback receiver on loopback that records every request exactly as it arrived.
//!
//! Everything here waits on conditions with generous deadlines; nothing relies on a fixed sleep
//! being long enough.

#![allow(dead_code)] // each test file uses its own part of the harness

pub mod browser;
pub mod peers;
pub mod webhook_endpoint;

use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use herald::app::{self, RunningApp};
use herald::config::Config;
use herald::domain::MessageId;
use herald::store::Event;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The account most tests send from, and a second one that must not see its messages.
pub const ALICE: (&str, &str) = ("alice", "alice-secret");
pub const BOB: (&str, &str) = ("bob", "bob-secret");

/// How long a test waits for something that normally takes well under a second.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A loopback port that is free now, for a server a test starts (or restarts) later.
///
/// Taken from below the kernel's ephemeral range: a port from that range (what binding port 0
/// gives) can be handed to any outgoing connection in the meantime as its source port, and the
/// later bind would then fail.
pub fn free_port() -> u16 {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let low = ephemeral_start.saturating_sub(12_000).max(1024);
    for _ in 0..1000 {
        let port = rand::random_range(low..ephemeral_start.max(low + 1));
        if StdListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port below {ephemeral_start}")
}

/// Polls `probe` until it returns `Some`, panicking with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The customer's callback receiver.

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Callback {
    pub path: String,
    /// The raw query string, exactly as sent.
    pub query: String,
    pub at: Instant,
    /// What the receiver answered.
    pub answered: u16,
}

impl Callback {
    pub fn acknowledged(&self) -> bool {
        (200..300).contains(&self.answered)
    }

    pub fn is_for(&self, id: &str) -> bool {
        self.query
            .split('&')
            .any(|pair| pair == format!("sms_unique_id={id}"))
    }

    /// The `status` field.
    pub fn status(&self) -> &str {
        self.query
            .split('&')
            .find_map(|pair| pair.strip_prefix("status="))
            .unwrap_or_default()
    }

    pub fn is_final(&self) -> bool {
        matches!(self.status(), "DELIVERED" | "FAILED")
    }
}

struct ReceiverState {
    calls: Mutex<Vec<Callback>>,
    answer: AtomicU16,
    /// How long to think before answering, in milliseconds.
    delay_ms: AtomicU64,
}

/// A customer's dlr-url endpoint: answers every GET with the status it is told to (200 unless
/// told otherwise) and records it.
pub struct CallbackReceiver {
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
    server: JoinHandle<()>,
}

impl CallbackReceiver {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap())
            .await
            .expect("callback receiver listens")
    }

    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ReceiverState {
            calls: Mutex::new(Vec::new()),
            answer: AtomicU16::new(200),
            delay_ms: AtomicU64::new(0),
        });
        let router = axum::Router::new()
            .fallback(record_callback)
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            addr,
            state,
            server,
        })
    }

    /// `http://127.0.0.1:PORT{path_and_query}`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// From now on, answer every callback with `status`.
    pub fn answer_with(&self, status: u16) {
        self.state.answer.store(status, Ordering::SeqCst);
    }

    /// From now on, answer each callback only after `delay` (it is recorded when it arrives:
    /// a customer acts on a request when it comes, whether or not the answer gets back).
    pub fn answer_after(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn calls(&self) -> Vec<Callback> {
        self.state.calls.lock().unwrap().clone()
    }

    /// Every request for message `id`, in arrival order (acknowledged or not).
    pub fn calls_for(&self, id: &str) -> Vec<Callback> {
        self.calls().into_iter().filter(|c| c.is_for(id)).collect()
    }

    /// The queries of the callbacks for `id` the receiver acknowledged, in arrival order.
    pub fn acknowledged(&self, id: &str) -> Vec<String> {
        self.calls_for(id)
            .into_iter()
            .filter(Callback::acknowledged)
            .map(|c| c.query)
            .collect()
    }

    /// Waits until `id` has `n` acknowledged callbacks, and returns their queries.
    pub async fn wait_acknowledged(&self, id: &str, n: usize, timeout: Duration) -> Vec<String> {
        eventually(
            timeout,
            &format!("{n} acknowledged callbacks for {id}"),
            || async {
                let got = self.acknowledged(id);
                (got.len() >= n).then_some(got)
            },
        )
        .await
    }
}

impl Drop for CallbackReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record_callback(State(state): State<Arc<ReceiverState>>, uri: Uri) -> StatusCode {
    let answered = state.answer.load(Ordering::SeqCst);
    state.calls.lock().unwrap().push(Callback {
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        at: Instant::now(),
        answered,
    });
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    StatusCode::from_u16(answered).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The exact callback query of a report, as status-model §2 spells it.
pub fn report(id: &str, status: &str, stat: &str, dlr_mask: u8, err: &str) -> String {
    format!("sms_unique_id={id}&status={status}&stat={stat}&dlr-mask={dlr_mask}&err={err}")
}

pub fn sent(id: &str) -> String {
    report(id, "SENT", "ACCEPTD", 8, "000")
}

pub fn delivered(id: &str) -> String {
    report(id, "DELIVERED", "DELIVRD", 1, "000")
}

// ---------------------------------------------------------------------------------------------
// Configuration.

/// A complete configuration for one test: SQLite in `dir`, HTTP and the simulated carrier on
/// free ports, routes for `372` and `44` only (so other numbers have no route), two accounts,
/// loopback callbacks allowed and retried quickly, temporary carrier errors retried quickly.
pub fn test_config(dir: &Path) -> Config {
    let text = format!(
        r#"
[http]
listen = "127.0.0.1:0"

[database]
url = "sqlite://{db}"

[simulator]
listen = "127.0.0.1:0"
receipt_delay_ms = 200

[[carriers]]
name = "sim"
host = "127.0.0.1"
port = 0
system_id = "herald"
password = "secret"
response_timeout_secs = 5

[[routes]]
prefix = "372"
carrier = "sim"
price = "0.05"

[[routes]]
prefix = "44"
carrier = "sim"
price = "0.06"

[[accounts]]
username = "{alice}"
password = "{alice_pw}"
balance = "100.00"
senders = ["Herald", "Blocked"]

[[accounts]]
username = "{bob}"
password = "{bob_pw}"
balance = "100.00"
senders = ["Bob"]

[callbacks]
allow_networks = ["127.0.0.0/8"]
timeout_secs = 2
schedule = ["100ms", "200ms", "500ms"]

[pipeline]
submit_retry_delay_ms = 200
submit_lease_secs = 10
"#,
        db = dir.join("herald.db").display(),
        alice = ALICE.0,
        alice_pw = ALICE.1,
        bob = BOB.0,
        bob_pw = BOB.1,
    );
    let config = Config::from_toml_str(&text).expect("the test configuration parses");
    config.validate().expect("the test configuration is valid");
    config
}

// ---------------------------------------------------------------------------------------------
// The gateway.

/// How a request reaches the plain-text API: both methods, with and without a trailing slash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Get,
    GetSlash,
    Post,
    PostSlash,
}

/// An HTTP client for Herald's plain-text API at `base`.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    client: reqwest::Client,
}

impl Api {
    pub fn new(base: String) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self { base, client }
    }

    /// One plain-text API call; checks the contract every answer keeps (HTTP 200, one line,
    /// `text/html; charset=UTF-8`) and returns the line.
    pub async fn call(&self, path: &str, via: Via, params: &[(&str, &str)]) -> String {
        self.try_call(path, via, params)
            .await
            .unwrap_or_else(|e| panic!("{path} via {via:?}: {e}"))
    }

    /// Like [`Api::call`], but a transport error is returned rather than a panic.
    pub async fn try_call(
        &self,
        path: &str,
        via: Via,
        params: &[(&str, &str)],
    ) -> reqwest::Result<String> {
        let slash = if matches!(via, Via::GetSlash | Via::PostSlash) {
            "/"
        } else {
            ""
        };
        let url = format!("{}/{path}{slash}", self.base);
        let request = match via {
            Via::Get | Via::GetSlash => self.client.get(url).query(params),
            Via::Post | Via::PostSlash => self.client.post(url).form(params),
        };
        let response = request.send().await?;
        assert_eq!(response.status(), 200, "{path}: every answer is HTTP 200");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(content_type, "text/html; charset=UTF-8", "{path}");
        let body = response.text().await?;
        assert_eq!(body.lines().count(), 1, "{path}: one line, got {body:?}");
        Ok(body.trim().to_owned())
    }

    /// `send_sms` as `account` with `params`; the raw answer.
    pub async fn send_sms(
        &self,
        account: (&str, &str),
        via: Via,
        params: &[(&str, &str)],
    ) -> String {
        let mut all = vec![("username", account.0), ("password", account.1)];
        all.extend_from_slice(params);
        self.call("send_sms", via, &all).await
    }

    /// `send_sms` that must be accepted; the `sms_unique_id`.
    pub async fn send_ok(
        &self,
        account: (&str, &str),
        via: Via,
        params: &[(&str, &str)],
    ) -> String {
        let answer = self.send_sms(account, via, params).await;
        let id = answer
            .strip_prefix("OK ")
            .unwrap_or_else(|| panic!("send_sms {params:?} answered {answer:?}"));
        assert!(
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()),
            "an opaque token of letters and digits: {id:?}"
        );
        id.to_owned()
    }

    /// A GET of `path` that is not a one-line answer (JSON, CSV): its content type and body.
    pub async fn fetch(&self, path: &str, params: &[(&str, &str)]) -> (String, String) {
        let response = self
            .client
            .get(format!("{}/{path}", self.base))
            .query(params)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(response.status(), 200, "{path}: every answer is HTTP 200");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (content_type, response.text().await.expect("a body"))
    }

    /// `get_balance` as `account`: the raw answer, e.g. `OK 100.00`.
    pub async fn balance(&self, account: (&str, &str)) -> String {
        self.call(
            "get_balance",
            Via::Get,
            &[("username", account.0), ("password", account.1)],
        )
        .await
    }

    /// `get_dlr_response` as `account` for `id`.
    pub async fn dlr_response(&self, account: (&str, &str), via: Via, id: &str) -> String {
        self.call(
            "get_dlr_response",
            via,
            &[
                ("username", account.0),
                ("password", account.1),
                ("sms_unique_id", id),
            ],
        )
        .await
    }
}

/// A gateway running in the test's process, with its temporary directory.
pub struct TestApp {
    pub api: Api,
    app: Option<RunningApp>,
    pub config: Config,
    /// Dropped last: the database's references are checked once the test is done with it.
    _dir: CheckedDir,
}

/// Starts a gateway on [`test_config`] changed by `tweak`.
pub async fn spawn_app(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = CheckedDir::new();
    let mut config = test_config(dir.path());
    tweak(&mut config);
    config
        .validate()
        .expect("the tweaked configuration is valid");
    let app = app::start(config.clone()).await.expect("Herald starts");
    TestApp {
        api: Api::new(app.base_url()),
        app: Some(app),
        config,
        _dir: dir,
    }
}

impl TestApp {
    fn running(&self) -> &RunningApp {
        self.app.as_ref().expect("running")
    }

    /// Every carrier's stats, as a dashboard reads them.
    pub fn carrier_stats(&self) -> Vec<herald::carrier::CarrierStats> {
        self.running().carrier_stats()
    }

    /// The link to carrier `name`.
    pub fn carrier(&self, name: &str) -> herald::carrier::CarrierLink {
        self.running().carriers[name].clone()
    }

    /// The gateway's store, for what the API does not show (stored numbers, store-driven
    /// events such as expiry).
    pub fn store(&self) -> &herald::store::SharedStore {
        &self.running().store
    }

    pub async fn history(&self, id: &str) -> Vec<Event> {
        let id = MessageId::parse(id).expect("a message id");
        self.running().store.history(&id).await.expect("history")
    }

    /// Waits until `probe` accepts the history of `id`.
    pub async fn wait_history(
        &self,
        id: &str,
        what: &str,
        probe: impl Fn(&[Event]) -> bool,
    ) -> Vec<Event> {
        eventually(
            PATIENCE,
            &format!("{what} in the history of {id}"),
            || async {
                let events = self.history(id).await;
                probe(&events).then_some(events)
            },
        )
        .await
    }

    /// Waits until message `id` is final and every status change it went through has been
    /// acknowledged by the callback receiver. Returns its history.
    ///
    /// This is the condition that makes "exactly these callbacks" checkable without sleeping:
    /// every callback comes from a status change, so once each one is done nothing more is due.
    pub async fn wait_settled(&self, id: &str, timeout: Duration) -> Vec<Event> {
        let parsed = MessageId::parse(id).expect("a message id");
        let store = &self.running().store;
        eventually(timeout, &format!("message {id} to settle"), || async {
            let view = store.message(&parsed).await.ok()??;
            if !view.status.is_final() {
                return None;
            }
            let events = store.history(&parsed).await.ok()?;
            (count(&events, "status") == callbacks_done(&events)).then_some(events)
        })
        .await
    }

    pub async fn shutdown(mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
    }
}

/// A test's temporary directory, whose `herald.db` has its references checked once the test is
/// done with it (see [`assert_references_hold`]).
pub struct CheckedDir(TempDir);

impl CheckedDir {
    pub fn new() -> Self {
        Self(tempfile::tempdir().expect("a temporary directory"))
    }
}

impl std::ops::Deref for CheckedDir {
    type Target = TempDir;

    fn deref(&self) -> &TempDir {
        &self.0
    }
}

impl Drop for CheckedDir {
    fn drop(&mut self) {
        let database = self.0.path().join("herald.db");
        if !std::thread::panicking() && database.exists() {
            assert_references_hold(&database);
        }
    }
}

/// Fails unless every row of the SQLite database at `path` refers only to rows that exist.
///
/// Herald's store writer does not have SQLite check references as it writes (the writer's
/// connection in `store::sqlite`): the tests check them instead, on what each one leaves behind.
pub fn assert_references_hold(path: &Path) {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("the database opens to be checked");
    let mut check = conn
        .prepare(r#"SELECT "table", rowid, parent FROM pragma_foreign_key_check"#)
        .expect("foreign_key_check");
    let broken: Vec<(String, Option<i64>, String)> = check
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("foreign_key_check runs")
        .collect::<Result<_, _>>()
        .expect("foreign_key_check rows");
    assert!(
        broken.is_empty(),
        "rows referring to rows that do not exist (table, rowid, the table referred to): {broken:?}"
    );
}

/// Events of one kind in a history.
pub fn events<'a>(history: &'a [Event], kind: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
    history.iter().filter(move |e| e.kind == kind)
}

pub fn count(history: &[Event], kind: &str) -> usize {
    events(history, kind).count()
}

/// Callback attempts that were acknowledged.
pub fn callbacks_done(history: &[Event]) -> usize {
    events(history, "callback")
        .filter(|e| e.detail["next"] == "done")
        .count()
}
