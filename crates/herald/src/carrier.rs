//! Links to carriers: keeping binds up, and handing submits and receipts across them.
//!
//! A [`CarrierLink`] owns one carrier's binds — per session a transceiver, or a transmitter +
//! receiver pair; several sessions when the carrier allows them — each kept alive by a
//! supervisor that reconnects with capped exponential backoff and jitter, and gives up (loudly)
//! only when the carrier refuses our credentials, since retrying those would only get the
//! account locked.
//!
//! Everything the carrier sends us (receipts, mostly) is forwarded unanswered as a
//! [`CarrierDelivery`]: the pipeline answers only after the receipt is durable, so a crash between
//! the two makes the carrier send it again instead of losing it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use herald_smpp::session::{BindKind, Incoming, Request, Session, SessionConfig, SessionHandle};
use rusmpp::pdus::SubmitSm;
use rusmpp::{Command, Pdu};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::now_millis;
use crate::store::Millis;

/// How Herald binds to one carrier.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub mode: BindMode,
    /// Sessions open at once, each with `session.window` of its own. `session.tps` is the
    /// carrier's whole rate: the sessions share it ([`share`]).
    pub sessions: usize,
    pub session: SessionConfig,
    pub backoff: Backoff,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    Transceiver,
    /// A transmitter for submits and a separate receiver for receipts.
    Pair,
}

/// Reconnect delays: `initial`, doubling up to `max`, each drawn uniformly from
/// [50 %, 100 %] of the step so many gateways restarting together do not reconnect in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The delay before reconnect attempt `failures` (1-based), jittered.
    pub fn delay(&self, failures: u32) -> Duration {
        let step = self
            .initial
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(self.max);
        step.mul_f64(rand::random_range(0.5..=1.0))
    }
}

/// Something a carrier sent us that needs an answer: a receipt or an inbound message.
#[derive(Debug)]
pub struct CarrierDelivery {
    pub carrier: String,
    pub incoming: Incoming,
}

/// The state of one bind, for logs, metrics and the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindState {
    Connecting,
    Bound,
    /// Waiting before the next attempt, after `last_error`.
    Backoff,
    /// Gave up: the carrier refused our credentials. Needs the operator.
    Stopped,
    ShutDown,
}

impl BindState {
    /// The bind can carry traffic.
    pub fn is_up(self) -> bool {
        self == BindState::Bound
    }

    /// A short lowercase name for labels and pages: `connecting`, `bound`, `backoff`,
    /// `stopped`, `shut_down`.
    pub fn as_str(self) -> &'static str {
        match self {
            BindState::Connecting => "connecting",
            BindState::Bound => "bound",
            BindState::Backoff => "backoff",
            BindState::Stopped => "stopped",
            BindState::ShutDown => "shut_down",
        }
    }
}

/// The last error a bind saw, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindError {
    pub message: String,
    pub at: Millis,
}

/// A point-in-time view of one bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindStats {
    /// Which of the carrier's sessions the bind belongs to, from 1.
    pub session: usize,
    pub kind: BindKind,
    pub state: BindState,
    /// When the bind entered `state` (ms since the Unix epoch).
    pub since: Millis,
    /// Submits waiting for their `submit_sm_resp` on this bind.
    pub window_in_use: usize,
    /// Requests the bind may have in flight at once.
    pub window_size: usize,
    /// `submit_sm` written on this bind since start (a rate is the difference of two snapshots).
    pub submits: u64,
    /// Receipts (`deliver_sm`/`data_sm` marked as receipts) the carrier sent on this bind since
    /// start.
    pub receipts: u64,
    /// Times the bind was lost after it had been up.
    pub reconnects: u64,
    pub last_error: Option<BindError>,
}

/// A point-in-time view of one carrier: each of its binds. Taking it reads atomics and one
/// pointer per bind, never a lock, so pages and `/metrics` may take it as often as they like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierStats {
    pub name: String,
    pub binds: Vec<BindStats>,
}

impl CarrierStats {
    /// Some bind that can submit is up.
    pub fn is_up(&self) -> bool {
        self.binds
            .iter()
            .any(|b| b.kind.can_submit() && b.state.is_up())
    }

    pub fn submits(&self) -> u64 {
        self.binds.iter().map(|b| b.submits).sum()
    }

    pub fn receipts(&self) -> u64 {
        self.binds.iter().map(|b| b.receipts).sum()
    }
}

/// Why a submit could not even be attempted, or how it ended without a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// No transmitting bind is up: nothing was sent.
    #[error("carrier {0} has no bind up")]
    NotBound(String),
    #[error(transparent)]
    Request(#[from] herald_smpp::session::RequestError),
}

impl SubmitError {
    /// Whether the carrier may have the message although we got no answer.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            SubmitError::NotBound(_) => false,
            SubmitError::Request(e) => e.outcome_unknown(),
        }
    }
}

/// One carrier, as the pipeline sees it.
#[derive(Debug, Clone)]
pub struct CarrierLink {
    inner: Arc<LinkInner>,
}

#[derive(Debug)]
struct LinkInner {
    name: String,
    binds: Vec<Arc<BindSlot>>,
    /// Signalled whenever a transmitting bind comes up, so waiting submitters resume at once.
    bound: tokio::sync::Notify,
    /// Where the next choice of a transmitting bind starts looking, so binds with equal room
    /// take turns.
    turn: AtomicUsize,
}

#[derive(Debug)]
struct BindSlot {
    session_number: usize,
    kind: BindKind,
    window: usize,
    /// This bind's share of the carrier's submits per second, when limited.
    tps: Option<u32>,
    session: RwLock<Option<SessionHandle>>,
    /// Written only by the bind's supervisor; swapped whole so readers never lock.
    life: ArcSwap<BindLife>,
    in_flight: AtomicUsize,
    submits: AtomicU64,
    receipts: AtomicU64,
    reconnects: AtomicU64,
}

#[derive(Debug)]
struct BindLife {
    state: BindState,
    since: Millis,
    last_error: Option<BindError>,
}

impl BindSlot {
    fn new(session_number: usize, kind: BindKind, window: usize, tps: Option<u32>) -> Self {
        Self {
            session_number,
            kind,
            window,
            tps,
            session: RwLock::new(None),
            life: ArcSwap::from_pointee(BindLife {
                state: BindState::Connecting,
                since: now_millis(),
                last_error: None,
            }),
            in_flight: AtomicUsize::new(0),
            submits: AtomicU64::new(0),
            receipts: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        }
    }

    /// Moves to `state` (its `since` only changes when the state does) and records `error`.
    fn set(&self, state: BindState, error: Option<String>) {
        let old = self.life.load();
        let now = now_millis();
        self.life.store(Arc::new(BindLife {
            state,
            since: if old.state == state { old.since } else { now },
            last_error: match error {
                Some(message) => Some(BindError { message, at: now }),
                None => old.last_error.clone(),
            },
        }));
    }

    fn stats(&self) -> BindStats {
        let life = self.life.load();
        BindStats {
            session: self.session_number,
            kind: self.kind,
            state: life.state,
            since: life.since,
            window_in_use: self.in_flight.load(Ordering::Relaxed),
            window_size: self.window,
            submits: self.submits.load(Ordering::Relaxed),
            receipts: self.receipts.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            last_error: life.last_error.clone(),
        }
    }
}

/// Counts a submit in the window for as long as it waits for its response.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl CarrierLink {
    /// Starts the supervisors of this carrier's binds. They run until `shutdown`, when they unbind.
    pub fn start(
        cfg: LinkConfig,
        deliveries: mpsc::Sender<CarrierDelivery>,
        shutdown: CancellationToken,
    ) -> CarrierLink {
        let kinds: &[BindKind] = match cfg.mode {
            BindMode::Transceiver => &[BindKind::Transceiver],
            BindMode::Pair => &[BindKind::Transmitter, BindKind::Receiver],
        };
        let sessions = cfg.sessions.max(1);
        let binds: Vec<Arc<BindSlot>> = (0..sessions)
            .flat_map(|n| {
                let tps = cfg.session.tps.map(|tps| share(tps, sessions, n));
                let window = cfg.session.window;
                kinds
                    .iter()
                    .map(move |&kind| Arc::new(BindSlot::new(n + 1, kind, window, tps)))
            })
            .collect();
        let inner = Arc::new(LinkInner {
            name: cfg.name.clone(),
            binds,
            bound: tokio::sync::Notify::new(),
            turn: AtomicUsize::new(0),
        });
        for slot in &inner.binds {
            tokio::spawn(supervise(
                inner.clone(),
                slot.clone(),
                cfg.clone(),
                deliveries.clone(),
                shutdown.clone(),
            ));
        }
        CarrierLink { inner }
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Submits over the transmitting bind with the most room in its window. Fails fast with
    /// `NotBound` when none is up, so the message goes back to the queue unsent rather than
    /// waiting here.
    pub async fn submit(&self, pdu: SubmitSm) -> Result<Command, SubmitError> {
        let (slot, session) = self
            .transmitter()
            .ok_or_else(|| SubmitError::NotBound(self.inner.name.clone()))?;
        slot.in_flight.fetch_add(1, Ordering::Relaxed);
        let _in_flight = InFlight(&slot.in_flight);
        slot.submits.fetch_add(1, Ordering::Relaxed);
        Ok(session.request(pdu).await?)
    }

    /// Resolves once a transmitting bind is up (at once if one is).
    pub async fn wait_bound(&self) {
        loop {
            let notified = self.inner.bound.notified();
            if self.transmitter().is_some() {
                return;
            }
            notified.await;
        }
    }

    pub fn is_bound(&self) -> bool {
        self.transmitter().is_some()
    }

    /// Requests this link can have in flight at once: the windows of its transmitting binds.
    pub fn window(&self) -> usize {
        self.inner
            .binds
            .iter()
            .filter(|b| b.kind.can_submit())
            .map(|b| b.window)
            .sum::<usize>()
            .max(1)
    }

    /// This carrier's binds as they are now (lock-free; see [`CarrierStats`]).
    pub fn stats(&self) -> CarrierStats {
        CarrierStats {
            name: self.inner.name.clone(),
            binds: self.inner.binds.iter().map(|b| b.stats()).collect(),
        }
    }

    /// The bound transmitting bind with the most of its window free, equals taking turns, so
    /// the sessions share the load and one that is down or slow gets less.
    fn transmitter(&self) -> Option<(&BindSlot, SessionHandle)> {
        let binds = &self.inner.binds;
        let start = self.inner.turn.fetch_add(1, Ordering::Relaxed) % binds.len().max(1);
        let in_turn = binds[start..].iter().chain(&binds[..start]);
        let mut best: Option<(&BindSlot, SessionHandle, usize)> = None;
        for b in in_turn.filter(|b| b.kind.can_submit()) {
            let free = b.window.saturating_sub(b.in_flight.load(Ordering::Relaxed));
            if best.as_ref().is_some_and(|(_, _, most)| *most >= free) {
                continue;
            }
            let session = b.session.read().unwrap().clone();
            if let Some(s) = session.filter(|s| !s.is_closed()) {
                best = Some((&**b, s, free));
            }
        }
        best.map(|(b, s, _)| (b, s))
    }
}

async fn supervise(
    link: Arc<LinkInner>,
    slot: Arc<BindSlot>,
    cfg: LinkConfig,
    deliveries: mpsc::Sender<CarrierDelivery>,
    shutdown: CancellationToken,
) {
    let set_state = |state: BindState, error: Option<String>| slot.set(state, error);
    let mut failures = 0u32;
    loop {
        if shutdown.is_cancelled() {
            set_state(BindState::ShutDown, None);
            return;
        }
        set_state(BindState::Connecting, None);
        let attempt = tokio::select! {
            r = connect_and_bind(&cfg, &slot) => r,
            _ = shutdown.cancelled() => { set_state(BindState::ShutDown, None); return; }
        };
        match attempt {
            Ok(session) => {
                failures = 0;
                tracing::info!(carrier = %cfg.name, kind = ?slot.kind, "bound");
                let handle = session.handle.clone();
                *slot.session.write().unwrap() = Some(handle.clone());
                set_state(BindState::Bound, None);
                if slot.kind.can_submit() {
                    link.bound.notify_waiters();
                }
                let forward = tokio::spawn(forward_deliveries(
                    cfg.name.clone(),
                    session.incoming,
                    deliveries.clone(),
                    slot.clone(),
                ));
                let reason = tokio::select! {
                    r = handle.closed() => Some(r),
                    _ = shutdown.cancelled() => None,
                };
                *slot.session.write().unwrap() = None;
                match reason {
                    None => {
                        handle.unbind().await;
                        forward.abort();
                        tracing::info!(carrier = %cfg.name, kind = ?slot.kind, "unbound");
                        set_state(BindState::ShutDown, None);
                        return;
                    }
                    Some(reason) => {
                        forward.abort();
                        tracing::warn!(carrier = %cfg.name, kind = ?slot.kind, ?reason, "bind lost");
                        slot.reconnects.fetch_add(1, Ordering::Relaxed);
                        set_state(BindState::Backoff, Some(format!("bind lost: {reason:?}")));
                    }
                }
            }
            Err(e) if e.is_credential_error() => {
                tracing::error!(
                    carrier = %cfg.name, kind = ?slot.kind, error = %e,
                    "CARRIER REFUSED OUR CREDENTIALS: not retrying; fix system_id/password and restart"
                );
                set_state(BindState::Stopped, Some(e.to_string()));
                return;
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(carrier = %cfg.name, kind = ?slot.kind, error = %e, failures, "bind failed");
                set_state(BindState::Backoff, Some(e.to_string()));
            }
        }
        let delay = cfg.backoff.delay(failures.max(1));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => { set_state(BindState::ShutDown, None); return; }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("connect timed out")]
    Timeout,
    #[error("connect failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Bind(#[from] herald_smpp::session::BindError),
}

impl ConnectError {
    fn is_credential_error(&self) -> bool {
        matches!(self, ConnectError::Bind(b) if b.is_credential_error())
    }
}

async fn connect_and_bind(cfg: &LinkConfig, slot: &BindSlot) -> Result<Session, ConnectError> {
    let stream = tokio::time::timeout(
        cfg.connect_timeout,
        TcpStream::connect((cfg.host.as_str(), cfg.port)),
    )
    .await
    .map_err(|_| ConnectError::Timeout)??;
    stream.set_nodelay(true)?;
    let session = SessionConfig {
        tps: slot.tps,
        ..cfg.session.clone()
    };
    Ok(Session::bind(
        stream,
        slot.kind,
        &cfg.system_id,
        &cfg.password,
        &cfg.system_type,
        session,
    )
    .await?)
}

/// Session `n`'s part (from 0) of a rate of `total` per second shared by `sessions`: the
/// remainder goes to the first sessions, so the parts add up to `total`. Never 0, which the
/// session would read as "unlimited" (configuration keeps `sessions` at most `tps`).
fn share(total: u32, sessions: usize, n: usize) -> u32 {
    let sessions = sessions.max(1) as u32;
    let n = n as u32;
    (total / sessions + u32::from(n < total % sessions)).max(1)
}

async fn forward_deliveries(
    carrier: String,
    mut incoming: mpsc::Receiver<Incoming>,
    out: mpsc::Sender<CarrierDelivery>,
    slot: Arc<BindSlot>,
) {
    while let Some(incoming) = incoming.recv().await {
        if is_receipt(&incoming.request) {
            slot.receipts.fetch_add(1, Ordering::Relaxed);
        }
        let delivery = CarrierDelivery {
            carrier: carrier.clone(),
            incoming,
        };
        if out.send(delivery).await.is_err() {
            return;
        }
    }
}

/// Whether a request is a receipt, by its `esm_class` alone (the pipeline reads the rest).
fn is_receipt(request: &Request) -> bool {
    let esm_class = match request {
        Request::Pdu(cmd) => match cmd.pdu() {
            Some(Pdu::DeliverSm(p)) => u8::from(p.esm_class),
            Some(Pdu::DataSm(p)) => u8::from(p.esm_class),
            _ => return false,
        },
        // The esm_class follows the two addresses; the pipeline's fallback reader finds it.
        Request::Undecodable(bad) => {
            return match bad.command_id {
                0x05 => herald_smpp::receipt::scan_raw_deliver_sm(&bad.body).is_some(),
                0x103 => herald_smpp::receipt::scan_raw_data_sm(&bad.body).is_some(),
                _ => false,
            };
        }
    };
    herald_smpp::receipt::is_receipt(esm_class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_share_the_carriers_rate_exactly() {
        for (total, sessions) in [(100, 1), (100, 3), (100, 4), (7, 7), (10, 4), (1, 1)] {
            let parts: Vec<u32> = (0..sessions).map(|n| share(total, sessions, n)).collect();
            assert_eq!(parts.iter().sum::<u32>(), total, "{total} over {sessions}");
            let (min, max) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
            assert!(max - min <= 1 && *min >= 1, "{parts:?}");
        }
        assert_eq!(share(10, 4, 0), 3);
        assert_eq!(share(10, 4, 3), 2);
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
        };
        for _ in 0..100 {
            let d1 = b.delay(1);
            assert!(d1 >= Duration::from_millis(500) && d1 <= Duration::from_secs(1));
            let d3 = b.delay(3);
            assert!(d3 >= Duration::from_secs(2) && d3 <= Duration::from_secs(4));
            let d20 = b.delay(20);
            assert!(d20 >= Duration::from_secs(15) && d20 <= Duration::from_secs(30));
        }
    }
}
