//! The simulated carrier: an SMSC on Herald's session engine, whose outcomes are scripted by the
//! destination number so anyone can see every kind of delivery report without a real carrier.
//! The table is in [`script`].
//!
//! It behaves like a real SMSC where that matters to a gateway: many binds at once
//! (transmitter, receiver, transceiver); receipts for a message go back to a receiving bind of
//! the same `system_id` (the submitting transceiver when it is still bound), so a transmitter +
//! receiver pair works; receipts for an account with no receiving bind are held (a bounded
//! queue, oldest dropped first) and sent when one binds; a receipt the ESME does not acknowledge
//! is retried.

pub mod script;

use std::collections::{HashMap, HashSet, VecDeque};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use herald_smpp::pdu::{self, OutgoingReceipt, SubmitFields};
use herald_smpp::receipt::{NetworkError, ReceiptState};
use herald_smpp::session::{
    BindRequest, Incoming, Request, Responder, Session, SessionConfig, SessionHandle,
};
use herald_smpp::status;
use herald_smpp::validity;
use rusmpp::pdus::{DeliverSm, SubmitSm, SubmitSmResp};
use rusmpp::types::{COctetString, OctetString};
use rusmpp::{CommandStatus, Pdu};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use script::{Delays, PlannedReceipt, ReceiptFormat, Scenario};

/// `submit_sm` sent on a receiver bind.
const ESME_RINVBNDSTS: u32 = 0x04;
/// A request the simulated carrier does not serve.
const ESME_RINVCMDID: u32 = 0x03;
/// A `validity_period` that is not SMPP time.
const ESME_RINVEXPIRY: u32 = 0x62;
/// GSM network error "unknown subscriber", given with undeliverable receipts.
const UNDELIVERABLE_NETWORK_ERROR: NetworkError = NetworkError {
    network_type: 3,
    code: 1,
};
/// How long shutdown waits for a peer to answer our `unbind`.
const UNBIND_WAIT: Duration = Duration::from_secs(2);
/// Head start an early receipt gets when it goes out on another socket than the response.
const EARLY_RECEIPT_LEAD: Duration = Duration::from_millis(50);

/// How the simulated carrier behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The `system_id` ESMEs must bind with (refused with 0x0F otherwise).
    pub system_id: String,
    /// The password they must give (0x0E otherwise); `None` accepts any.
    pub password: Option<String>,
    /// Our own `system_id`, sent in bind responses.
    pub smsc_system_id: String,
    /// From `submit_sm_resp` to the receipt.
    pub receipt_delay: Duration,
    /// The receipt delay of the "delayed" scenario.
    pub long_delay: Duration,
    /// When a message without `validity_period` expires (the "expired" scenario).
    pub default_validity: Duration,
    /// Receipts held per `system_id` while no receiving bind is there.
    pub held_receipts_max: usize,
    /// Pause before retrying receipts the ESME did not acknowledge.
    pub redelivery_interval: Duration,
    /// Window, keep-alive and timeouts of every bind.
    pub session: SessionConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            system_id: "herald".into(),
            password: None,
            smsc_system_id: "HeraldSim".into(),
            receipt_delay: Duration::from_secs(1),
            long_delay: Duration::from_secs(30),
            default_validity: Duration::from_secs(10),
            held_receipts_max: 10_000,
            redelivery_interval: Duration::from_secs(5),
            session: SessionConfig::default(),
        }
    }
}

/// Runs the simulated carrier on `listener` until `shutdown` is cancelled, then unbinds every
/// bind (waiting briefly for the answers) and returns.
pub async fn serve(
    listener: TcpListener,
    cfg: SimConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let carrier = Arc::new(Carrier::new(cfg, shutdown.clone()));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "simulated carrier: connection");
                    let _ = stream.set_nodelay(true);
                    connections.spawn(carrier.clone().serve_connection(stream));
                }
                // Out of descriptors or an aborted handshake: not a reason to stop serving.
                Err(e) => {
                    tracing::warn!(error = %e, "simulated carrier: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.cancelled() => break,
        }
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// State shared by every bind of one simulated carrier.
struct Carrier {
    cfg: SimConfig,
    shutdown: CancellationToken,
    next_message_id: AtomicU64,
    next_bind_id: AtomicU64,
    /// Receiving binds by `system_id`.
    receivers: Mutex<HashMap<String, Vec<Receiver>>>,
    /// Receipts waiting for a receiving bind, by `system_id`.
    held: Mutex<HashMap<String, VecDeque<DeliverSm>>>,
    /// `system_id`s with a redelivery already scheduled.
    redelivery_due: Mutex<HashSet<String>>,
    /// Destinations whose next submit is accepted (the "throttled once" scenario).
    throttled: Mutex<HashSet<String>>,
}

#[derive(Clone)]
struct Receiver {
    bind_id: u64,
    handle: SessionHandle,
}

/// One bound ESME, as its own connection task sees it.
struct Bind {
    id: u64,
    request: BindRequest,
}

/// A receipt and where it should go.
struct Routed {
    system_id: String,
    /// The bind that submitted the message, tried first.
    prefer: u64,
    receipt: DeliverSm,
}

impl Carrier {
    fn new(cfg: SimConfig, shutdown: CancellationToken) -> Self {
        // Ids start from the clock so a restarted simulator does not reuse ids Herald has stored.
        let first_id = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(1_000_000_000);
        Self {
            cfg,
            shutdown,
            next_message_id: AtomicU64::new(first_id),
            next_bind_id: AtomicU64::new(1),
            receivers: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            redelivery_due: Mutex::new(HashSet::new()),
            throttled: Mutex::new(HashSet::new()),
        }
    }

    async fn serve_connection(self: Arc<Self>, stream: TcpStream) {
        let accepted = tokio::select! {
            r = Session::accept(stream, &self.cfg.smsc_system_id, self.cfg.session.clone(), |req| {
                std::future::ready(self.authorize(&req))
            }) => r,
            _ = self.shutdown.cancelled() => return,
        };
        let (mut session, request) = match accepted {
            Ok(bound) => bound,
            Err(e) => {
                tracing::debug!(error = %e, "simulated carrier: bind not completed");
                return;
            }
        };
        let bind = Bind {
            id: self.next_bind_id.fetch_add(1, Ordering::Relaxed),
            request,
        };
        tracing::info!(kind = ?bind.request.kind, system_id = %bind.request.system_id, "simulated carrier: bound");
        let handle = session.handle.clone();
        if bind.request.kind.can_receive() {
            self.add_receiver(&bind, handle.clone());
        }
        loop {
            tokio::select! {
                next = session.incoming.recv() => match next {
                    Some(incoming) => self.answer(&bind, incoming).await,
                    None => break,
                },
                _ = self.shutdown.cancelled() => {
                    let _ = tokio::time::timeout(UNBIND_WAIT, handle.unbind()).await;
                    handle.close();
                    break;
                }
            }
        }
        self.remove_receiver(&bind);
        tracing::info!(reason = ?handle.close_reason(), "simulated carrier: bind ended");
    }

    fn authorize(&self, req: &BindRequest) -> Result<(), u32> {
        if req.system_id != self.cfg.system_id {
            return Err(status::ESME_RINVSYSID);
        }
        match &self.cfg.password {
            Some(p) if *p != req.password => Err(status::ESME_RINVPASWD),
            _ => Ok(()),
        }
    }

    async fn answer(self: &Arc<Self>, bind: &Bind, incoming: Incoming) {
        let Incoming { request, responder } = incoming;
        match request {
            Request::Pdu(cmd) => match cmd.pdu() {
                Some(Pdu::SubmitSm(submit)) if bind.request.kind.can_submit() => {
                    self.submit(bind, submit, responder).await
                }
                Some(Pdu::SubmitSm(_)) => responder.error(ESME_RINVBNDSTS),
                _ => responder.error(ESME_RINVCMDID),
            },
            Request::Undecodable(bad) => responder.error(u32::from(bad.nack_status())),
        }
    }

    async fn submit(self: &Arc<Self>, bind: &Bind, submit: &SubmitSm, responder: Responder) {
        let fields = pdu::submit_sm_fields(submit);
        let script = script::script(&fields.source, &fields.destination);
        match script.scenario {
            Scenario::RejectDestination => return responder.error(status::ESME_RINVDSTADR),
            Scenario::RejectSender => return responder.error(status::ESME_RINVSRCADR),
            Scenario::ThrottledOnce if self.throttle_this_time(&fields.destination) => {
                return responder.error(status::ESME_RTHROTTLED);
            }
            _ => {}
        }
        let submitted_at = unix_now();
        let validity_left = match &fields.validity_period {
            None => self.cfg.default_validity,
            Some(v) => match validity::parse(v, submitted_at) {
                Some(end) => Duration::from_secs(end.saturating_sub(submitted_at).max(0) as u64),
                None => return responder.error(ESME_RINVEXPIRY),
            },
        };

        let n = self.next_message_id.fetch_add(1, Ordering::Relaxed);
        let response_id = if script.hex_ids {
            format!("{n:X}")
        } else {
            n.to_string()
        };
        let receipt_id = n.to_string();
        let delays = Delays {
            receipt: self.cfg.receipt_delay,
            long: self.cfg.long_delay,
            validity_left,
        };
        let planned = script::plan(script.scenario, fields.registered_delivery, delays);
        let message = Accepted {
            fields,
            receipt_id,
            submitted_at,
        };

        let mut early_elsewhere = false;
        for p in planned.iter().filter(|p| p.early) {
            if let Some(receipt) = message.receipt(p) {
                early_elsewhere |= self.send_before_response(bind, receipt).await;
            }
        }
        if early_elsewhere {
            tokio::time::sleep(EARLY_RECEIPT_LEAD).await;
        }

        match COctetString::<1, 65>::from_str(&response_id) {
            Ok(id) => responder.ok(SubmitSmResp::new(id, Vec::new())),
            Err(_) => responder.error(u32::from(CommandStatus::EsmeRsyserr)),
        }

        for p in planned.iter().filter(|p| !p.early) {
            let Some(receipt) = message.receipt(p) else {
                continue;
            };
            let routed = Routed {
                system_id: bind.request.system_id.clone(),
                prefer: bind.id,
                receipt,
            };
            let carrier = self.clone();
            let after = p.after;
            let delivery = async move {
                // A receipt due now goes now: a zero sleep still takes a timer entry, and
                // tokio's timers round a deadline up to the next millisecond.
                if !after.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(after) => {}
                        _ = carrier.shutdown.cancelled() => return,
                    }
                }
                carrier.deliver(routed).await
            };
            // Boxed: tokio moves a task's future by value into its cell and overwrites all of
            // it when the task ends, and this one holds a whole receipt PDU.
            tokio::spawn(Box::pin(delivery));
        }
    }

    /// The "throttled once" scenario: alternates refusing and accepting per destination.
    fn throttle_this_time(&self, destination: &str) -> bool {
        let mut throttled = self.throttled.lock().unwrap();
        if throttled.remove(destination) {
            return false;
        }
        // Bounded: a flood of distinct numbers only forgets whom it throttled.
        if throttled.len() >= 10_000 {
            throttled.clear();
        }
        throttled.insert(destination.to_owned());
        true
    }

    /// Puts an early receipt on its bind's wire before the caller answers the submit. Returns
    /// whether it went out on another socket (then the order on the wire is not guaranteed by
    /// the writer queue alone, and the caller gives it a head start).
    async fn send_before_response(self: &Arc<Self>, bind: &Bind, receipt: DeliverSm) -> bool {
        let routed = Routed {
            system_id: bind.request.system_id.clone(),
            prefer: bind.id,
            receipt,
        };
        let elsewhere = self
            .receiver_for(&routed.system_id, bind.id)
            .is_some_and(|r| r.bind_id != bind.id);
        let carrier = self.clone();
        let mut delivery = Box::pin(async move { carrier.deliver(routed).await });
        // Poll once: the session engine queues the PDU for its writer on the first poll (the
        // window is not full for a simulator's few receipts), so it precedes the response.
        tokio::select! {
            biased;
            _ = &mut delivery => return elsewhere,
            _ = std::future::ready(()) => {}
        }
        tokio::spawn(delivery);
        elsewhere
    }

    /// Sends a receipt to a receiving bind; holds it when there is none, and retries later when
    /// the ESME does not acknowledge it.
    async fn deliver(self: Arc<Self>, routed: Routed) {
        let Some(receiver) = self.receiver_for(&routed.system_id, routed.prefer) else {
            return self.hold(routed);
        };
        match receiver.handle.request(routed.receipt.clone()).await {
            Ok(resp) if resp.status() == CommandStatus::EsmeRok => {}
            Ok(resp) => {
                tracing::debug!(status = ?resp.status(), "simulated carrier: receipt refused, will retry");
                self.hold_and_retry(routed);
            }
            Err(e) => {
                tracing::debug!(error = %e, "simulated carrier: receipt not acknowledged, will retry");
                self.hold_and_retry(routed);
            }
        }
    }

    fn hold(&self, routed: Routed) {
        let max = self.cfg.held_receipts_max.max(1);
        let mut held = self.held.lock().unwrap();
        let queue = held.entry(routed.system_id).or_default();
        if queue.len() >= max {
            queue.pop_front();
            tracing::warn!("simulated carrier: held receipt queue full; oldest receipt dropped");
        }
        queue.push_back(routed.receipt);
    }

    fn hold_and_retry(self: &Arc<Self>, routed: Routed) {
        let system_id = routed.system_id.clone();
        self.hold(routed);
        if !self
            .redelivery_due
            .lock()
            .unwrap()
            .insert(system_id.clone())
        {
            return;
        }
        let carrier = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(carrier.cfg.redelivery_interval) => {}
                _ = carrier.shutdown.cancelled() => return,
            }
            carrier.redelivery_due.lock().unwrap().remove(&system_id);
            carrier.release_held(&system_id);
        });
    }

    /// Sends every held receipt of `system_id` (those that fail again are held again).
    fn release_held(self: &Arc<Self>, system_id: &str) {
        let receipts = self
            .held
            .lock()
            .unwrap()
            .remove(system_id)
            .unwrap_or_default();
        for receipt in receipts {
            let routed = Routed {
                system_id: system_id.to_owned(),
                prefer: 0,
                receipt,
            };
            tokio::spawn(self.clone().deliver(routed));
        }
    }

    fn add_receiver(self: &Arc<Self>, bind: &Bind, handle: SessionHandle) {
        self.receivers
            .lock()
            .unwrap()
            .entry(bind.request.system_id.clone())
            .or_default()
            .push(Receiver {
                bind_id: bind.id,
                handle,
            });
        self.release_held(&bind.request.system_id);
    }

    fn remove_receiver(&self, bind: &Bind) {
        let mut receivers = self.receivers.lock().unwrap();
        if let Some(list) = receivers.get_mut(&bind.request.system_id) {
            list.retain(|r| r.bind_id != bind.id);
            if list.is_empty() {
                receivers.remove(&bind.request.system_id);
            }
        }
    }

    /// The bind `prefer` if it receives and is open, else any open receiving bind.
    fn receiver_for(&self, system_id: &str, prefer: u64) -> Option<Receiver> {
        let receivers = self.receivers.lock().unwrap();
        let open: Vec<&Receiver> = receivers
            .get(system_id)?
            .iter()
            .filter(|r| !r.handle.is_closed())
            .collect();
        open.iter()
            .find(|r| r.bind_id == prefer)
            .or_else(|| open.first())
            .map(|r| (*r).clone())
    }
}

/// An accepted message, with what its receipts repeat.
struct Accepted {
    fields: SubmitFields,
    receipt_id: String,
    submitted_at: i64,
}

impl Accepted {
    /// The receipt `deliver_sm` for one planned receipt; `None` (logged) when the original
    /// addresses cannot be written back, which a carrier would have refused at submit.
    fn receipt(&self, planned: &PlannedReceipt) -> Option<DeliverSm> {
        let (err, network_error) = match planned.state {
            ReceiptState::Undeliverable => ("001", Some(UNDELIVERABLE_NETWORK_ERROR)),
            _ => ("000", None),
        };
        let submit_date = &validity::absolute_utc(self.submitted_at)[..10];
        let done_date = &validity::absolute_utc(unix_now())[..10];
        let text = message_text(&self.fields);
        let built = pdu::receipt_deliver_sm(&OutgoingReceipt {
            original_source: &self.fields.source,
            original_destination: &self.fields.destination,
            message_id: &self.receipt_id,
            state: planned.state,
            intermediate: planned.intermediate,
            submit_date,
            done_date,
            err,
            network_error,
            text: &text,
        });
        let mut receipt = match built {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "simulated carrier: cannot build receipt");
                return None;
            }
        };
        match planned.format {
            ReceiptFormat::TextAndTlvs => {}
            ReceiptFormat::TextOnly => receipt.clear_tlvs(),
            ReceiptFormat::TlvsOnly => receipt.set_short_message(OctetString::empty()),
        }
        Some(receipt)
    }
}

/// The message as readable text for the receipt's `text:` field: UCS-2 decoded, everything
/// outside printable ASCII shown as `?` (the field is a courtesy, not a copy).
fn message_text(fields: &SubmitFields) -> String {
    let decoded = if fields.data_coding == 0x08 {
        let units: Vec<u16> = fields
            .message
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        fields.message.iter().map(|&b| char::from(b)).collect()
    };
    decoded
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(data_coding: u8, message: &[u8]) -> SubmitFields {
        SubmitFields {
            source: "Herald".into(),
            source_ton: 5,
            destination: "37255500000".into(),
            data_coding,
            esm_class: 0,
            registered_delivery: 1,
            validity_period: None,
            message: message.to_vec(),
        }
    }

    #[test]
    fn receipt_text_field_decodes_ucs2_and_masks_the_rest() {
        assert_eq!(
            message_text(&fields(8, &[0, b'H', 0, b'i', 0x20, 0xAC])),
            "Hi?"
        );
        assert_eq!(message_text(&fields(0, b"ok\n\xff")), "ok??");
    }

    #[test]
    fn a_text_only_receipt_has_no_tlvs_and_a_tlv_only_receipt_no_text() {
        let accepted = Accepted {
            fields: fields(0, b"hello"),
            receipt_id: "1715004".into(),
            submitted_at: 1_700_000_000,
        };
        let base = PlannedReceipt {
            after: Duration::ZERO,
            state: ReceiptState::Delivered,
            intermediate: false,
            format: ReceiptFormat::TextOnly,
            early: false,
        };
        let text_only = accepted.receipt(&base).unwrap();
        assert!(text_only.tlvs().is_empty());
        let text = String::from_utf8_lossy(text_only.short_message().as_ref()).into_owned();
        assert!(text.starts_with("id:1715004 "), "{text}");
        assert!(text.contains("stat:DELIVRD"), "{text}");

        let tlv_only = accepted
            .receipt(&PlannedReceipt {
                format: ReceiptFormat::TlvsOnly,
                ..base
            })
            .unwrap();
        assert!(tlv_only.short_message().as_ref().is_empty());
        let read = herald_smpp::receipt::from_deliver_sm(&tlv_only).unwrap();
        assert_eq!(read.message_id.as_deref(), Some("1715004"));
        assert_eq!(read.state, ReceiptState::Delivered);
    }

    #[test]
    fn an_undeliverable_receipt_carries_err_001_and_a_network_error() {
        let accepted = Accepted {
            fields: fields(0, b"hello"),
            receipt_id: "42".into(),
            submitted_at: 1_700_000_000,
        };
        let receipt = accepted
            .receipt(&PlannedReceipt {
                after: Duration::ZERO,
                state: ReceiptState::Undeliverable,
                intermediate: false,
                format: ReceiptFormat::TextAndTlvs,
                early: false,
            })
            .unwrap();
        let read = herald_smpp::receipt::from_deliver_sm(&receipt).unwrap();
        assert_eq!(read.state, ReceiptState::Undeliverable);
        assert_eq!(read.err.as_deref(), Some("001"));
        assert_eq!(read.network_error, Some(UNDELIVERABLE_NETWORK_ERROR));
        assert_eq!(u8::from(receipt.esm_class), 0x04);
    }
}
