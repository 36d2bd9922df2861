//! Links to carriers: keeping binds up, and handing submits and receipts across them.
//!
//! A [`CarrierLink`] owns one carrier's binds — a transceiver, or a transmitter + receiver pair —
//! each kept alive by a supervisor that reconnects with capped exponential backoff and jitter, and
//! gives up (loudly) only when the carrier refuses our credentials, since retrying those would
//! only get the account locked.
//!
//! Everything the carrier sends us (receipts, mostly) is forwarded unanswered as a
//! [`CarrierDelivery`]: the pipeline answers only after the receipt is durable, so a crash between
//! the two makes the carrier send it again instead of losing it.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use herald_smpp::session::{BindKind, Incoming, Session, SessionConfig, SessionHandle};
use rusmpp::Command;
use rusmpp::pdus::SubmitSm;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindState {
    Connecting,
    Bound,
    /// Waiting before the next attempt, after `last_error`.
    Backoff,
    /// Gave up: the carrier refused our credentials. Needs the operator.
    Stopped,
    ShutDown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindStatus {
    pub kind: BindKind,
    pub state: BindState,
    pub reconnects: u64,
    pub last_error: Option<String>,
    pub in_flight: usize,
    pub window: usize,
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
}

#[derive(Debug)]
struct BindSlot {
    kind: BindKind,
    session: RwLock<Option<SessionHandle>>,
    status: Mutex<BindStatus>,
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
        let binds: Vec<Arc<BindSlot>> = kinds
            .iter()
            .map(|&kind| {
                Arc::new(BindSlot {
                    kind,
                    session: RwLock::new(None),
                    status: Mutex::new(BindStatus {
                        kind,
                        state: BindState::Connecting,
                        reconnects: 0,
                        last_error: None,
                        in_flight: 0,
                        window: cfg.session.window,
                    }),
                })
            })
            .collect();
        let inner = Arc::new(LinkInner {
            name: cfg.name.clone(),
            binds,
            bound: tokio::sync::Notify::new(),
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

    /// Submits over the transmitting bind. Fails fast with `NotBound` when it is down, so the
    /// message goes back to the queue unsent rather than waiting here.
    pub async fn submit(&self, pdu: SubmitSm) -> Result<Command, SubmitError> {
        let session = self
            .transmitter()
            .ok_or_else(|| SubmitError::NotBound(self.inner.name.clone()))?;
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

    /// Requests this link can have in flight at once (the transmitting bind's window).
    pub fn window(&self) -> usize {
        self.inner
            .binds
            .iter()
            .find(|b| b.kind.can_submit())
            .map(|b| b.status.lock().unwrap().window)
            .unwrap_or(1)
    }

    pub fn status(&self) -> Vec<BindStatus> {
        self.inner
            .binds
            .iter()
            .map(|b| {
                let mut s = b.status.lock().unwrap().clone();
                if let Some(h) = b.session.read().unwrap().as_ref() {
                    s.in_flight = h.in_flight();
                }
                s
            })
            .collect()
    }

    fn transmitter(&self) -> Option<SessionHandle> {
        self.inner
            .binds
            .iter()
            .filter(|b| b.kind.can_submit())
            .find_map(|b| b.session.read().unwrap().clone().filter(|s| !s.is_closed()))
    }
}

async fn supervise(
    link: Arc<LinkInner>,
    slot: Arc<BindSlot>,
    cfg: LinkConfig,
    deliveries: mpsc::Sender<CarrierDelivery>,
    shutdown: CancellationToken,
) {
    let set_state = |state: BindState, error: Option<String>| {
        let mut s = slot.status.lock().unwrap();
        s.state = state;
        if error.is_some() {
            s.last_error = error;
        }
    };
    let mut failures = 0u32;
    loop {
        if shutdown.is_cancelled() {
            set_state(BindState::ShutDown, None);
            return;
        }
        set_state(BindState::Connecting, None);
        let attempt = tokio::select! {
            r = connect_and_bind(&cfg, slot.kind) => r,
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
                        slot.status.lock().unwrap().reconnects += 1;
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

async fn connect_and_bind(cfg: &LinkConfig, kind: BindKind) -> Result<Session, ConnectError> {
    let stream = tokio::time::timeout(
        cfg.connect_timeout,
        TcpStream::connect((cfg.host.as_str(), cfg.port)),
    )
    .await
    .map_err(|_| ConnectError::Timeout)??;
    stream.set_nodelay(true)?;
    Ok(Session::bind(
        stream,
        kind,
        &cfg.system_id,
        &cfg.password,
        &cfg.system_type,
        cfg.session.clone(),
    )
    .await?)
}

async fn forward_deliveries(
    carrier: String,
    mut incoming: mpsc::Receiver<Incoming>,
    out: mpsc::Sender<CarrierDelivery>,
) {
    while let Some(incoming) = incoming.recv().await {
        let delivery = CarrierDelivery {
            carrier: carrier.clone(),
            incoming,
        };
        if out.send(delivery).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
