//! The session engine: one SMPP bind over any byte stream, in either role.
//!
//! Both roles are the same machine once bound: each side sends requests (Herald's `submit_sm`, a
//! carrier's `deliver_sm`) matched to responses by `sequence_number` within a window, and answers
//! the other side's requests. Only the bind differs: [`Session::bind`] (ESME, Herald towards a
//! carrier) asks, [`Session::accept`] (SMSC, the simulated carrier or customers binding to Herald)
//! answers.
//!
//! Three tasks serve a session: a reader (frames in, responses matched, peer requests handed out
//! or answered), a writer (batches frames onto the socket) and a keeper (`enquire_link` when the
//! link is quiet, dead-peer detection). Requests are sent by the caller's own task, which waits for
//! a window slot and the pacer (rate limit, throttling backoff) first, so a full window needs no
//! queue of its own.
//!
//! Architecture Invariant: the engine never decides what a status code *means* for a message (that
//! is the gateway's job); it only slows down when the peer says it is throttled, and reports every
//! request's outcome: a response, a timeout, or a lost link — the last two are unknown outcomes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use rusmpp::types::COctetString;
use rusmpp::values::InterfaceVersion;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::frame::{self, BadPdu, Frame, FrameCodec};
pub use crate::pdu::BindKind;

/// Tunables of one bind. Carriers agree these per connection; the defaults suit most.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Requests in flight without a response.
    pub window: usize,
    /// How long a request waits for its response before its outcome is declared unknown.
    pub response_timeout: Duration,
    /// Quiet time after which we probe the peer with `enquire_link`.
    pub enquire_link_interval: Duration,
    /// How long an `enquire_link` may go unanswered before the peer is declared dead.
    pub dead_peer_timeout: Duration,
    /// How long the bind handshake may take.
    pub bind_timeout: Duration,
    pub max_pdu_len: usize,
    /// Message-carrying requests per second (`submit_sm`, `deliver_sm`, `data_sm`); None = no limit.
    pub tps: Option<u32>,
    /// Statuses that mean "slow down" (0x58 ESME_RTHROTTLED, 0x14 ESME_RMSGQFUL by default).
    pub throttle_statuses: Vec<u32>,
    /// First pause after a throttling answer; doubles on each further one, up to the max.
    pub throttle_pause: Duration,
    pub throttle_pause_max: Duration,
    /// Peer requests buffered for the application before the reader waits (backpressure).
    pub incoming_capacity: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            window: 10,
            response_timeout: Duration::from_secs(10),
            enquire_link_interval: Duration::from_secs(30),
            dead_peer_timeout: Duration::from_secs(10),
            bind_timeout: Duration::from_secs(10),
            max_pdu_len: frame::DEFAULT_MAX_PDU_LEN,
            tps: None,
            throttle_statuses: vec![0x58, 0x14],
            throttle_pause: Duration::from_millis(200),
            throttle_pause_max: Duration::from_secs(10),
            incoming_capacity: 1024,
        }
    }
}

/// What an ESME presents when it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindRequest {
    pub kind: BindKind,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub interface_version: u8,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// We unbound (orderly shutdown).
    Unbound,
    /// The peer sent `unbind`.
    PeerUnbound,
    /// The peer closed the socket.
    PeerClosed,
    /// No answer to `enquire_link` in time.
    DeadPeer,
    /// Framing was lost (a `command_length` below the header size).
    ProtocolError(String),
    Io(String),
    /// Closed by the application.
    Closed,
}

/// A request that got no response. The caller must treat everything but `NotSent` as an unknown
/// outcome: the peer may have acted on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("link lost while the request was in flight ({0:?})")]
    ConnectionLost(CloseReason),
    #[error("session closed before the request was sent")]
    NotSent,
}

impl RequestError {
    /// True when the peer may have received the request.
    pub fn outcome_unknown(&self) -> bool {
        !matches!(self, RequestError::NotSent)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("I/O error during bind: {0}")]
    Io(#[from] std::io::Error),
    #[error("bind got no response: {0}")]
    Request(#[from] RequestError),
    /// 0x0D, 0x0E or 0x0F: retrying will not help.
    #[error("credentials refused by the peer (command_status {0:#x})")]
    Credentials(u32),
    #[error("bind refused by the peer (command_status {0:#x})")]
    Refused(u32),
    #[error("peer answered the bind with {0:?}")]
    Unexpected(CommandId),
    #[error("bind field too long or not ASCII: {0}")]
    BadField(&'static str),
    #[error("no bind within the bind timeout")]
    Timeout,
    #[error("peer closed the connection before binding")]
    Closed,
}

impl BindError {
    pub fn is_credential_error(&self) -> bool {
        matches!(self, BindError::Credentials(_))
    }
}

/// A request from the peer, waiting for the application's answer.
#[derive(Debug)]
pub struct Incoming {
    pub request: Request,
    pub responder: Responder,
}

#[derive(Debug)]
pub enum Request {
    /// Boxed: a decoded PDU is several hundred bytes, and requests queue up to the incoming
    /// capacity.
    Pdu(Box<Command>),
    /// A `deliver_sm` or `data_sm` rusmpp refused to decode: handed out anyway, because it may be
    /// a receipt a fallback reader can still use.
    Undecodable(BadPdu),
}

/// Answers one peer request. Dropping it unanswered answers `ESME_RSYSERR`, so the peer never
/// waits for a response that will not come.
#[derive(Debug)]
pub struct Responder {
    writer: mpsc::UnboundedSender<Bytes>,
    response_id: u32,
    sequence_number: u32,
    answered: bool,
}

impl Responder {
    pub fn sequence_number(&self) -> u32 {
        self.sequence_number
    }

    /// Answers with status OK and `pdu` as the body.
    pub fn ok(mut self, pdu: impl Into<Pdu>) {
        self.answered = true;
        let cmd = Command::new(CommandStatus::EsmeRok, self.sequence_number, pdu);
        let _ = self.writer.send(frame::encode(&cmd));
    }

    /// Answers with an error status and no body (SMPP 3.4 §4.4.2).
    pub fn error(mut self, status: u32) {
        self.send_error(status);
    }

    fn send_error(&mut self, status: u32) {
        self.answered = true;
        let _ = self.writer.send(frame::empty_response(
            self.response_id,
            status,
            self.sequence_number,
        ));
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.answered {
            self.send_error(u32::from(CommandStatus::EsmeRsyserr));
        }
    }
}

/// A bound session: the handle to send requests, and the stream of the peer's requests.
#[derive(Debug)]
pub struct Session {
    pub handle: SessionHandle,
    pub incoming: mpsc::Receiver<Incoming>,
}

/// Cheap to clone; every clone drives the same bind.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cfg: SessionConfig,
    writer: mpsc::UnboundedSender<Bytes>,
    pending: Mutex<HashMap<u32, oneshot::Sender<Command>>>,
    next_seq: AtomicU32,
    window: Semaphore,
    pacer: Mutex<Pacer>,
    closed: CancellationToken,
    close_reason: Mutex<Option<CloseReason>>,
    last_inbound: Mutex<Instant>,
    stats: Stats,
}

#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    responses: AtomicU64,
    timeouts: AtomicU64,
    throttled: AtomicU64,
}

/// Counters of one session, for metrics and the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionStats {
    pub requests: u64,
    pub responses: u64,
    pub timeouts: u64,
    pub throttled: u64,
    pub in_flight: usize,
}

#[derive(Debug)]
struct Pacer {
    interval: Option<Duration>,
    next_slot: Instant,
    paused_until: Option<Instant>,
    backoff: Duration,
}

impl Session {
    /// Binds to a peer as an ESME. On a refused bind the connection is closed.
    pub async fn bind<IO>(
        io: IO,
        kind: BindKind,
        system_id: &str,
        password: &str,
        system_type: &str,
        cfg: SessionConfig,
    ) -> Result<Session, BindError>
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let pdu = bind_pdu(kind, system_id, password, system_type)?;
        let (read, write) = tokio::io::split(io);
        let framed = FramedRead::new(read, FrameCodec::new(cfg.max_pdu_len));
        let bind_timeout = cfg.bind_timeout;
        let session = Session::start(framed, write, cfg);
        let resp = match tokio::time::timeout(bind_timeout, session.handle.send(pdu, Lane::Control))
            .await
        {
            Ok(r) => r,
            Err(_) => Err(RequestError::Timeout(bind_timeout)),
        };
        let result = match resp {
            Ok(resp) if resp.id() != kind_response(kind) && resp.id() != CommandId::GenericNack => {
                Err(BindError::Unexpected(resp.id()))
            }
            Ok(resp) => match u32::from(resp.status()) {
                0 if resp.id() == kind_response(kind) => Ok(()),
                0 => Err(BindError::Unexpected(resp.id())),
                s @ (0x0D..=0x0F) => Err(BindError::Credentials(s)),
                s => Err(BindError::Refused(s)),
            },
            Err(e) => Err(BindError::Request(e)),
        };
        match result {
            Ok(()) => Ok(session),
            Err(e) => {
                session.handle.close();
                Err(e)
            }
        }
    }

    /// Waits for an ESME's bind and answers it as an SMSC. `authorize` decides: `Ok(())` accepts,
    /// `Err(status)` refuses with that status (e.g. 0x0E ESME_RINVPASWD). Before the bind,
    /// `enquire_link` is answered and anything else refused with ESME_RINVBNDSTS.
    pub async fn accept<IO, F, Fut>(
        io: IO,
        our_system_id: &str,
        cfg: SessionConfig,
        authorize: F,
    ) -> Result<(Session, BindRequest), BindError>
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
        F: FnOnce(BindRequest) -> Fut,
        Fut: Future<Output = Result<(), u32>>,
    {
        let our_id: COctetString<1, 16> = our_system_id
            .parse()
            .map_err(|_| BindError::BadField("system_id"))?;
        let (read, mut write) = tokio::io::split(io);
        let mut framed = FramedRead::new(read, FrameCodec::new(cfg.max_pdu_len));
        let deadline = Instant::now() + cfg.bind_timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, framed.next())
                .await
                .map_err(|_| BindError::Timeout)?;
            let frame = match next {
                None => return Err(BindError::Closed),
                Some(f) => f?,
            };
            let bytes = match frame {
                Frame::Pdu(bytes) => bytes,
                Frame::BadLength {
                    sequence_number, ..
                } => {
                    let nack = frame::empty_response(
                        u32::from(CommandId::GenericNack),
                        u32::from(CommandStatus::EsmeRinvcmdlen),
                        sequence_number,
                    );
                    write.write_all(&nack).await?;
                    continue;
                }
            };
            let cmd = match frame::decode(bytes) {
                Ok(cmd) => cmd,
                Err(bad) => {
                    let nack = frame::empty_response(
                        u32::from(CommandId::GenericNack),
                        u32::from(bad.nack_status()),
                        bad.sequence_number,
                    );
                    write.write_all(&nack).await?;
                    continue;
                }
            };
            let seq = cmd.sequence_number();
            let request = match cmd.pdu() {
                Some(Pdu::BindTransmitter(b)) => bind_request(BindKind::Transmitter, b),
                Some(Pdu::BindReceiver(b)) => bind_request(BindKind::Receiver, b),
                Some(Pdu::BindTransceiver(b)) => bind_request(BindKind::Transceiver, b),
                Some(Pdu::EnquireLink) => {
                    let resp = Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLinkResp);
                    write.write_all(&frame::encode(&resp)).await?;
                    continue;
                }
                _ => {
                    let id = u32::from(cmd.id());
                    if id & 0x8000_0000 == 0 {
                        let resp_id = u32::from(cmd.id().matching_response());
                        let nack = frame::empty_response(
                            resp_id,
                            u32::from(CommandStatus::EsmeRinvbndsts),
                            seq,
                        );
                        write.write_all(&nack).await?;
                    }
                    continue;
                }
            };
            let kind = request.kind;
            match authorize(request.clone()).await {
                Ok(()) => {
                    let body = bind_response(kind, our_id.clone());
                    let resp = Command::new(CommandStatus::EsmeRok, seq, body);
                    write.write_all(&frame::encode(&resp)).await?;
                    let session = Session::start(framed, write, cfg);
                    return Ok((session, request));
                }
                Err(status) => {
                    let resp_id = u32::from(kind_response(kind));
                    write
                        .write_all(&frame::empty_response(resp_id, status, seq))
                        .await?;
                    let _ = write.shutdown().await;
                    return Err(BindError::Refused(status));
                }
            }
        }
    }

    fn start<R, W>(framed: FramedRead<R, FrameCodec>, write: W, cfg: SessionConfig) -> Session
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Send + 'static,
    {
        let (writer_tx, writer_rx) = mpsc::unbounded_channel();
        let (incoming_tx, incoming_rx) = mpsc::channel(cfg.incoming_capacity.max(1));
        let now = Instant::now();
        let inner = Arc::new(Inner {
            window: Semaphore::new(cfg.window.max(1)),
            pacer: Mutex::new(Pacer {
                interval: cfg
                    .tps
                    .filter(|t| *t > 0)
                    .map(|t| Duration::from_secs_f64(1.0 / f64::from(t))),
                next_slot: now,
                paused_until: None,
                backoff: cfg.throttle_pause,
            }),
            cfg,
            writer: writer_tx,
            pending: Mutex::new(HashMap::new()),
            next_seq: AtomicU32::new(1),
            closed: CancellationToken::new(),
            close_reason: Mutex::new(None),
            last_inbound: Mutex::new(now),
            stats: Stats::default(),
        });
        tokio::spawn(write_loop(inner.clone(), write, writer_rx));
        tokio::spawn(read_loop(inner.clone(), framed, incoming_tx));
        tokio::spawn(keep_alive(inner.clone()));
        Session {
            handle: SessionHandle { inner },
            incoming: incoming_rx,
        }
    }
}

/// Which limits a request is subject to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// Messages: window and pacer.
    Message,
    /// Other requests that take a window slot but are not paced (query_sm, cancel_sm, ...).
    Window,
    /// Bind, unbind, enquire_link: never stuck behind a full window.
    Control,
}

impl SessionHandle {
    /// Sends a request and waits for its response (which may carry an error status). Message
    /// requests wait for a window slot and the pacer first.
    pub async fn request(&self, pdu: impl Into<Pdu>) -> Result<Command, RequestError> {
        let pdu = pdu.into();
        let lane = match pdu.command_id() {
            CommandId::SubmitSm
            | CommandId::DeliverSm
            | CommandId::DataSm
            | CommandId::SubmitMulti => Lane::Message,
            CommandId::EnquireLink | CommandId::Unbind => Lane::Control,
            _ => Lane::Window,
        };
        self.send(pdu, lane).await
    }

    /// Sends `unbind`, waits (bounded) for its answer, and closes the session.
    pub async fn unbind(&self) {
        if !self.is_closed() {
            let _ = self.send(Pdu::Unbind, Lane::Control).await;
        }
        self.inner.close(CloseReason::Unbound);
    }

    /// Closes the connection at once; requests in flight end with `ConnectionLost`.
    pub fn close(&self) {
        self.inner.close(CloseReason::Closed);
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_cancelled()
    }

    /// Resolves when the session has ended, with the reason.
    pub async fn closed(&self) -> CloseReason {
        self.inner.closed.cancelled().await;
        self.close_reason().unwrap_or(CloseReason::Closed)
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.close_reason.lock().unwrap().clone()
    }

    pub fn in_flight(&self) -> usize {
        self.inner.cfg.window.max(1) - self.inner.window.available_permits()
    }

    pub fn window(&self) -> usize {
        self.inner.cfg.window.max(1)
    }

    pub fn stats(&self) -> SessionStats {
        let s = &self.inner.stats;
        SessionStats {
            requests: s.requests.load(Ordering::Relaxed),
            responses: s.responses.load(Ordering::Relaxed),
            timeouts: s.timeouts.load(Ordering::Relaxed),
            throttled: s.throttled.load(Ordering::Relaxed),
            in_flight: self.in_flight(),
        }
    }

    async fn send(&self, pdu: Pdu, lane: Lane) -> Result<Command, RequestError> {
        let inner = &self.inner;
        if inner.closed.is_cancelled() {
            return Err(RequestError::NotSent);
        }
        let _permit = if lane == Lane::Control {
            None
        } else {
            tokio::select! {
                p = inner.window.acquire() => Some(p.map_err(|_| RequestError::NotSent)?),
                _ = inner.closed.cancelled() => return Err(RequestError::NotSent),
            }
        };
        if lane == Lane::Message {
            let at = inner.pacer.lock().unwrap().take_slot(Instant::now());
            if at > Instant::now() {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = inner.closed.cancelled() => return Err(RequestError::NotSent),
                }
            }
        }
        let seq = inner.sequence_number();
        let (tx, rx) = oneshot::channel();
        inner.pending.lock().unwrap().insert(seq, tx);
        let cmd = Command::new(CommandStatus::EsmeRok, seq, pdu);
        if inner.writer.send(frame::encode(&cmd)).is_err() || inner.closed.is_cancelled() {
            inner.pending.lock().unwrap().remove(&seq);
            return Err(RequestError::NotSent);
        }
        inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        let timeout = inner.cfg.response_timeout;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(resp)) => {
                inner.stats.responses.fetch_add(1, Ordering::Relaxed);
                if lane == Lane::Message {
                    let status = u32::from(resp.status());
                    let throttled = inner.cfg.throttle_statuses.contains(&status);
                    if throttled {
                        inner.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    inner.pacer.lock().unwrap().observe(
                        throttled,
                        Instant::now(),
                        inner.cfg.throttle_pause,
                        inner.cfg.throttle_pause_max,
                    );
                }
                Ok(resp)
            }
            Ok(Err(_)) => Err(RequestError::ConnectionLost(
                self.close_reason().unwrap_or(CloseReason::Closed),
            )),
            Err(_) => {
                inner.pending.lock().unwrap().remove(&seq);
                inner.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                Err(RequestError::Timeout(timeout))
            }
        }
    }
}

impl Inner {
    fn sequence_number(&self) -> u32 {
        // 1..=0x7FFF_FFFF, wrapping (SMPP 3.4 §5.1.4).
        let n = self.next_seq.fetch_add(1, Ordering::Relaxed) & 0x7FFF_FFFF;
        if n == 0 { self.sequence_number() } else { n }
    }

    fn close(&self, reason: CloseReason) {
        {
            let mut r = self.close_reason.lock().unwrap();
            if r.is_none() {
                *r = Some(reason);
            }
        }
        self.closed.cancel();
        // Dropping the senders ends every waiting request with ConnectionLost.
        self.pending.lock().unwrap().clear();
    }

    fn respond_empty(&self, response_id: u32, status: u32, seq: u32) {
        let _ = self
            .writer
            .send(frame::empty_response(response_id, status, seq));
    }

    fn deliver_response(&self, resp: Command) {
        let waiter = self.pending.lock().unwrap().remove(&resp.sequence_number());
        match waiter {
            Some(tx) => {
                let _ = tx.send(resp);
            }
            None => tracing::debug!(
                seq = resp.sequence_number(),
                id = ?resp.id(),
                "response to no pending request (late or unknown); ignored"
            ),
        }
    }
}

impl Pacer {
    fn take_slot(&mut self, now: Instant) -> Instant {
        let mut at = now.max(self.next_slot);
        if let Some(p) = self.paused_until {
            at = at.max(p);
        }
        if let Some(iv) = self.interval {
            self.next_slot = at + iv;
        }
        at
    }

    fn observe(&mut self, throttled: bool, now: Instant, initial: Duration, max: Duration) {
        if throttled {
            self.paused_until = Some(now + self.backoff);
            self.backoff = (self.backoff * 2).min(max);
        } else {
            self.backoff = initial;
        }
    }
}

/// Most PDUs one write carries.
const WRITE_BATCH: usize = 256;

async fn write_loop<W: AsyncWrite + Send + 'static>(
    inner: Arc<Inner>,
    write: W,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
) {
    let mut write = std::pin::pin!(write);
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let n = tokio::select! {
            biased;
            n = rx.recv_many(&mut batch, WRITE_BATCH) => n,
            _ = inner.closed.cancelled() => {
                // Flush what was queued before the close (an unbind_resp, say), briefly.
                while let Ok(b) = rx.try_recv() {
                    batch.push(b);
                }
                for b in batch.drain(..) {
                    buf.extend_from_slice(&b);
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    let _ = write.write_all(&buf).await;
                    let _ = write.shutdown().await;
                })
                .await;
                return;
            }
        };
        if n == 0 {
            return;
        }
        // PDUs are queued by many tasks (one per submit, one per batch of receipt answers),
        // usually a few microseconds apart: letting those tasks run once before writing gathers
        // them into one write. Writing at once sent nearly one syscall per PDU (and woke the
        // peer's reader for each): in the end-to-end benchmark, 49,026 `sendto` calls for
        // 20,000 messages, 5,128 with this yield.
        tokio::task::yield_now().await;
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(b) => batch.push(b),
                Err(_) => break,
            }
        }
        for b in batch.drain(..) {
            buf.extend_from_slice(&b);
        }
        if let Err(e) = write.write_all(&buf).await {
            inner.close(CloseReason::Io(e.to_string()));
            return;
        }
        buf.clear();
    }
}

async fn read_loop<R: AsyncRead + Unpin + Send + 'static>(
    inner: Arc<Inner>,
    mut framed: FramedRead<R, FrameCodec>,
    incoming: mpsc::Sender<Incoming>,
) {
    loop {
        let next = tokio::select! {
            f = framed.next() => f,
            _ = inner.closed.cancelled() => return,
        };
        let frame = match next {
            None => return inner.close(CloseReason::PeerClosed),
            Some(Err(e)) => return inner.close(CloseReason::Io(e.to_string())),
            Some(Ok(f)) => f,
        };
        *inner.last_inbound.lock().unwrap() = Instant::now();
        let bytes = match frame {
            Frame::Pdu(bytes) => bytes,
            Frame::BadLength {
                command_length,
                sequence_number,
                resync,
                ..
            } => {
                inner.respond_empty(
                    u32::from(CommandId::GenericNack),
                    u32::from(CommandStatus::EsmeRinvcmdlen),
                    sequence_number,
                );
                if !resync {
                    return inner.close(CloseReason::ProtocolError(format!(
                        "command_length {command_length} below the header size"
                    )));
                }
                continue;
            }
        };
        match frame::decode(bytes) {
            Ok(cmd) => {
                if cmd.id().is_response() {
                    inner.deliver_response(cmd);
                    continue;
                }
                let seq = cmd.sequence_number();
                match cmd.id() {
                    CommandId::EnquireLink => {
                        let resp = Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLinkResp);
                        let _ = inner.writer.send(frame::encode(&resp));
                    }
                    CommandId::Unbind => {
                        let resp = Command::new(CommandStatus::EsmeRok, seq, Pdu::UnbindResp);
                        let _ = inner.writer.send(frame::encode(&resp));
                        return inner.close(CloseReason::PeerUnbound);
                    }
                    CommandId::BindTransmitter
                    | CommandId::BindReceiver
                    | CommandId::BindTransceiver => inner.respond_empty(
                        u32::from(cmd.id().matching_response()),
                        u32::from(CommandStatus::EsmeRalybnd),
                        seq,
                    ),
                    id => {
                        let responder = Responder {
                            writer: inner.writer.clone(),
                            response_id: u32::from(id.matching_response()),
                            sequence_number: seq,
                            answered: false,
                        };
                        // Waiting here is the backpressure: the peer's requests stay unanswered
                        // (and its window fills) while the application catches up.
                        let item = Incoming {
                            request: Request::Pdu(Box::new(cmd)),
                            responder,
                        };
                        tokio::select! {
                            r = incoming.send(item) => { if let Err(e) = r { drop(e.0) } }
                            _ = inner.closed.cancelled() => return,
                        }
                    }
                }
            }
            Err(bad) => {
                let id = CommandId::from(bad.command_id);
                if bad.command_id & 0x8000_0000 != 0 && !matches!(id, CommandId::Other(_)) {
                    // A response we cannot fully read still ends its request, with its status.
                    let resp = Command::new(
                        CommandStatus::from(bad.command_status),
                        bad.sequence_number,
                        Pdu::Other {
                            command_id: id,
                            body: rusmpp::types::AnyOctetString::from_slice(&bad.body),
                        },
                    );
                    tracing::warn!(error = %bad, "undecodable response");
                    inner.deliver_response(resp);
                } else if matches!(id, CommandId::DeliverSm | CommandId::DataSm) {
                    tracing::warn!(error = %bad, "undecodable deliver_sm/data_sm handed to the application");
                    let responder = Responder {
                        writer: inner.writer.clone(),
                        response_id: u32::from(id.matching_response()),
                        sequence_number: bad.sequence_number,
                        answered: false,
                    };
                    let item = Incoming {
                        request: Request::Undecodable(bad),
                        responder,
                    };
                    tokio::select! {
                        r = incoming.send(item) => { if let Err(e) = r { drop(e.0) } }
                        _ = inner.closed.cancelled() => return,
                    }
                } else {
                    tracing::warn!(error = %bad, "undecodable PDU answered with generic_nack");
                    inner.respond_empty(
                        u32::from(CommandId::GenericNack),
                        u32::from(bad.nack_status()),
                        bad.sequence_number,
                    );
                }
            }
        }
    }
}

/// Probes a quiet link with `enquire_link`; a probe unanswered within `dead_peer_timeout` ends the
/// session, so the supervisor can rebind instead of submitting into a dead socket.
async fn keep_alive(inner: Arc<Inner>) {
    let handle = SessionHandle {
        inner: inner.clone(),
    };
    loop {
        let due = *inner.last_inbound.lock().unwrap() + inner.cfg.enquire_link_interval;
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = inner.closed.cancelled() => return,
        }
        if *inner.last_inbound.lock().unwrap() + inner.cfg.enquire_link_interval > Instant::now() {
            continue;
        }
        let probe = tokio::time::timeout(
            inner.cfg.dead_peer_timeout,
            handle.send(Pdu::EnquireLink, Lane::Control),
        )
        .await;
        match probe {
            Ok(Ok(_)) => {}
            Ok(Err(RequestError::NotSent | RequestError::ConnectionLost(_))) => return,
            Ok(Err(RequestError::Timeout(_))) | Err(_) => {
                tracing::warn!("peer did not answer enquire_link; closing the bind");
                return inner.close(CloseReason::DeadPeer);
            }
        }
    }
}

fn kind_response(kind: BindKind) -> CommandId {
    match kind {
        BindKind::Transmitter => CommandId::BindTransmitterResp,
        BindKind::Receiver => CommandId::BindReceiverResp,
        BindKind::Transceiver => CommandId::BindTransceiverResp,
    }
}

fn bind_pdu(
    kind: BindKind,
    system_id: &str,
    password: &str,
    system_type: &str,
) -> Result<Pdu, BindError> {
    crate::pdu::bind(kind, system_id, password, system_type).map_err(|e| match e {
        crate::pdu::PduError::InvalidField { field, .. } => BindError::BadField(field),
        crate::pdu::PduError::MessageTooLong { .. } => BindError::BadField("bind"),
    })
}

fn bind_request<B: BindFields>(kind: BindKind, b: &B) -> BindRequest {
    let (system_id, password, system_type, version) = b.fields();
    BindRequest {
        kind,
        system_id,
        password,
        system_type,
        interface_version: version,
    }
}

trait BindFields {
    fn fields(&self) -> (String, String, String, u8);
}

macro_rules! bind_fields {
    ($($t:ty),*) => {$(
        impl BindFields for $t {
            fn fields(&self) -> (String, String, String, u8) {
                (
                    self.system_id.as_str().to_owned(),
                    self.password.as_str().to_owned(),
                    self.system_type.as_str().to_owned(),
                    u8::from(self.interface_version),
                )
            }
        }
    )*};
}
bind_fields!(
    rusmpp::pdus::BindTransmitter,
    rusmpp::pdus::BindReceiver,
    rusmpp::pdus::BindTransceiver
);

fn bind_response(kind: BindKind, system_id: COctetString<1, 16>) -> Pdu {
    use rusmpp::pdus::{BindReceiverResp, BindTransceiverResp, BindTransmitterResp};
    let v = Some(InterfaceVersion::Smpp3_4);
    match kind {
        BindKind::Transmitter => BindTransmitterResp::new(system_id, v).into(),
        BindKind::Receiver => BindReceiverResp::new(system_id, v).into(),
        BindKind::Transceiver => BindTransceiverResp::new(system_id, v).into(),
    }
}
