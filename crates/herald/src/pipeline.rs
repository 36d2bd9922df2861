//! The workers between the store and the carriers: submitting queued segments, taking receipts
//! in, and failing messages whose validity ran out without a final receipt.
//!
//! Each worker claims work from the store, does its network I/O with no transaction open, and
//! records the outcome; a crash anywhere leaves leased work that comes back on its own.

use std::sync::Arc;
use std::time::Duration;

use herald_smpp::pdu::{self, PduError, Submit};
use herald_smpp::receipt::{self, Receipt, ReceiptState};
use herald_smpp::session::Request;
use herald_smpp::status::{StatusClass, StatusPolicy};
use herald_smpp::text;
use rusmpp::pdus::{DataSmResp, DeliverSmResp};
use rusmpp::types::COctetString;
use rusmpp::{CommandStatus, Pdu};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::carrier::{Backoff, CarrierDelivery, CarrierLink, SubmitError};
use crate::clock::now_millis;
use crate::config::Concatenation;
use crate::domain::ReceiptOutcome;
use crate::store::{Millis, ReceiptRecord, SharedStore, SubmitJob, SubmitOutcome, SubmitResult};

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Temporary errors tolerated per segment before it is Rejected with err 999.
    pub submit_retry_limit: u32,
    /// Delay before resubmitting after a temporary error.
    pub submit_retry: Backoff,
    /// Extra time after a message's validity before Herald fails it itself (a receipt for the
    /// last moment of validity needs time to travel).
    pub expiry_grace: Duration,
    /// How long a claimed job stays leased; longer than any submit can take.
    pub lease: Duration,
    /// Idle poll, a safety net behind the wake-ups.
    pub poll: Duration,
    /// `registered_delivery` of every submit: final receipt on success or failure.
    pub registered_delivery: u8,
    /// How the carrier wants the parts of a long message marked.
    pub concatenation: Concatenation,
    /// The carrier's `data_coding` for the GSM default alphabet (stored segments say 0).
    pub default_data_coding: u8,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            submit_retry_limit: 5,
            submit_retry: Backoff {
                initial: Duration::from_secs(5),
                max: Duration::from_secs(300),
            },
            expiry_grace: Duration::from_secs(600),
            lease: Duration::from_secs(120),
            poll: Duration::from_millis(500),
            registered_delivery: 0x01,
            concatenation: Concatenation::Udh,
            default_data_coding: text::DATA_CODING_GSM7,
        }
    }
}

/// Wakes the workers that have new work: submitters after an accept, callbacks after a change.
#[derive(Debug, Default)]
pub struct Wakers {
    pub submit: Arc<Notify>,
    pub callbacks: Arc<Notify>,
}

/// Submits one carrier's queued segments, keeping about two windows of them claimed.
pub struct Submitter {
    pub store: SharedStore,
    pub link: CarrierLink,
    pub policy: StatusPolicy,
    pub cfg: PipelineConfig,
    pub wakers: Arc<Wakers>,
}

impl Submitter {
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let capacity = this.link.window().max(1) * 2;
        let slots = Arc::new(Semaphore::new(capacity));
        loop {
            tokio::select! {
                _ = this.link.wait_bound() => {}
                _ = shutdown.cancelled() => break,
            }
            // Claim only what can go out soon: a claimed job waiting here would hold its lease.
            let first = tokio::select! {
                p = slots.clone().acquire_owned() => p.expect("semaphore never closed"),
                _ = shutdown.cancelled() => break,
            };
            let free = slots.available_permits() + 1;
            // Taken before the claim, so an accept that lands between an empty claim and the wait
            // below still wakes this submitter (the API wakes every carrier's submitter at once).
            let accepted = this.wakers.submit.notified();
            let claimed = if this.cfg.concatenation == Concatenation::Payload {
                this.store
                    .claim_whole_messages(this.link.name(), now_millis(), free, this.cfg.lease)
                    .await
            } else {
                this.store
                    .claim_submissions(this.link.name(), now_millis(), free, this.cfg.lease)
                    .await
            };
            let jobs = match claimed {
                Ok(jobs) => {
                    // A claim may have Rejected messages the balance could not pay (err 004);
                    // their callbacks are queued.
                    this.wakers.callbacks.notify_one();
                    jobs
                }
                Err(e) => {
                    tracing::error!(carrier = this.link.name(), error = %e, "claiming submissions failed");
                    drop(first);
                    sleep_or(this.cfg.poll, &shutdown).await;
                    continue;
                }
            };
            if jobs.is_empty() {
                drop(first);
                tokio::select! {
                    _ = accepted => {}
                    _ = tokio::time::sleep(this.cfg.poll) => {}
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
            // One slot per submit_sm: a joint submission is one request however many segments
            // it carries (and the claim reached at most `free` messages).
            let submissions = this.submissions(jobs);
            let mut permits = vec![first];
            for _ in 1..submissions.len() {
                permits.push(
                    slots
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("semaphore never closed"),
                );
            }
            for (mut jobs, permit) in submissions.into_iter().zip(permits) {
                let this = this.clone();
                let submission = async move {
                    if jobs.len() == 1 {
                        let job = jobs.pop().expect("one job");
                        let result = this.submit_one(job).await;
                        this.record(result).await;
                    } else {
                        let results = this.submit_joint(jobs).await;
                        this.record_joint(results).await;
                    }
                    drop(permit);
                };
                // Boxed: tokio moves a task's future by value into its cell and overwrites the
                // whole of it when the task ends, and this one is ~2.6 KB (a submit and its
                // record); a box is one pointer. Per message, with the other per-message tasks
                // (delivery, callback) boxed too: callgrind ~15,000 fewer instructions.
                tokio::spawn(Box::pin(submission));
            }
        }
        // Let submits in flight finish and be recorded (bounded by the response timeout).
        let _ = tokio::time::timeout(Duration::from_secs(15), slots.acquire_many(capacity as u32))
            .await;
    }

    /// The claimed jobs as `submit_sm`s: one per segment, or with `concatenation = "payload"`
    /// one per message (the claim returns a message's segments together, in order).
    fn submissions(&self, jobs: Vec<SubmitJob>) -> Vec<Vec<SubmitJob>> {
        let joint = self.cfg.concatenation == Concatenation::Payload;
        let mut submissions: Vec<Vec<SubmitJob>> = Vec::new();
        for job in jobs {
            match submissions.last_mut() {
                Some(last) if joint && last[0].message_id == job.message_id => last.push(job),
                _ => submissions.push(vec![job]),
            }
        }
        submissions
    }

    /// As [`Submitter::record`], for the segments of one joint submission, in one transaction.
    async fn record_joint(&self, results: Vec<SubmitResult>) {
        for attempt in 0..5u32 {
            match self.store.record_joint_submit(results.clone()).await {
                Ok(()) => {
                    self.wakers.callbacks.notify_one();
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, attempt, "recording a joint submit outcome failed");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
    }

    async fn record(&self, result: SubmitResult) {
        // The outcome must not be lost: a store error here is retried briefly; after that the
        // lease expiry resubmits (the carrier may then see the segment twice, which beats
        // never telling the customer).
        for attempt in 0..5u32 {
            match self.store.record_submit(result.clone()).await {
                Ok(()) => {
                    self.wakers.callbacks.notify_one();
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, attempt, "recording a submit outcome failed");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
    }

    async fn submit_one(&self, job: SubmitJob) -> SubmitResult {
        let now = now_millis();
        let outcome = self.outcome_of(&job, now).await;
        SubmitResult {
            message_id: job.message_id,
            segment: job.segment,
            carrier: job.carrier,
            outcome,
            at: now_millis(),
        }
    }

    /// Submits the segments of one message (`jobs`, in order) as one `submit_sm` with the whole
    /// message in `message_payload`; every segment gets the outcome.
    async fn submit_joint(&self, jobs: Vec<SubmitJob>) -> Vec<SubmitResult> {
        let now = now_millis();
        let outcome = self.joint_outcome_of(&jobs, now).await;
        let at = now_millis();
        jobs.into_iter()
            .map(|job| SubmitResult {
                message_id: job.message_id,
                segment: job.segment,
                carrier: job.carrier,
                outcome: outcome.clone(),
                at,
            })
            .collect()
    }

    async fn joint_outcome_of(&self, jobs: &[SubmitJob], now: Millis) -> SubmitOutcome {
        let first = &jobs[0];
        let validity = validity_of(first, now);
        let whole = WholeMessage::of(jobs, &self.cfg);
        let submit = Submit {
            source: &first.sender,
            destination: &first.destination,
            data_coding: whole.data_coding,
            esm_class: whole.esm_class,
            short_message: &whole.message,
            registered_delivery: self.cfg.registered_delivery,
            validity_period: Some(&validity),
        };
        match pdu::submit_sm_as_payload(&submit) {
            Ok(pdu) => self.send(pdu, first).await,
            Err(e) => {
                tracing::info!(message = %first.message_id, error = %e, "message cannot be encoded");
                SubmitOutcome::Rejected {
                    command_status: unsendable_status(&e),
                }
            }
        }
    }

    async fn outcome_of(&self, job: &SubmitJob, now: Millis) -> SubmitOutcome {
        let validity = validity_of(job, now);
        let wire = WireSegment::of(job, &self.cfg);
        let submit = Submit {
            source: &job.sender,
            destination: &job.destination,
            data_coding: wire.data_coding,
            esm_class: wire.esm_class,
            short_message: wire.short_message,
            registered_delivery: self.cfg.registered_delivery,
            validity_period: Some(&validity),
        };
        let pdu = match pdu::submit_sm(&submit) {
            Ok(mut pdu) => {
                if let Some(concat) = wire.sar {
                    pdu::push_sar(&mut pdu, concat);
                }
                pdu
            }
            // What SMPP cannot carry is refused as the carrier would refuse it.
            Err(e) => {
                tracing::info!(message = %job.message_id, error = %e, "segment cannot be encoded");
                return SubmitOutcome::Rejected {
                    command_status: unsendable_status(&e),
                };
            }
        };
        self.send(pdu, job).await
    }

    /// Sends `pdu` (the submission of `job`, or of a joint submission led by it) and reads
    /// what the carrier answered.
    async fn send(&self, pdu: rusmpp::pdus::SubmitSm, job: &SubmitJob) -> SubmitOutcome {
        match self.link.submit(pdu).await {
            Ok(resp) => {
                let status = u32::from(resp.status());
                match self.policy.classify(status) {
                    StatusClass::Ok => match resp.pdu() {
                        Some(Pdu::SubmitSmResp(r)) if !r.message_id().as_str().is_empty() => {
                            SubmitOutcome::Accepted {
                                carrier_message_id: r.message_id().as_str().to_owned(),
                            }
                        }
                        // An OK without an id cannot be matched to a receipt: we cannot know.
                        _ => SubmitOutcome::Unknown {
                            reason: format!(
                                "carrier answered {:?} OK without a message id",
                                resp.id()
                            ),
                        },
                    },
                    StatusClass::Temporary { .. } => {
                        let attempt = job.attempts + 1;
                        let retry_at = (attempt < self.cfg.submit_retry_limit).then(|| {
                            now_millis()
                                + self.cfg.submit_retry.delay(attempt).as_millis() as Millis
                        });
                        SubmitOutcome::Temporary {
                            command_status: status,
                            retry_at,
                        }
                    }
                    StatusClass::Permanent => SubmitOutcome::Rejected {
                        command_status: status,
                    },
                }
            }
            Err(SubmitError::NotBound(_)) => SubmitOutcome::NotSent {
                retry_at: now_millis() + 1_000,
            },
            Err(SubmitError::Request(e)) if !e.outcome_unknown() => SubmitOutcome::NotSent {
                retry_at: now_millis() + 1_000,
            },
            Err(SubmitError::Request(e)) => SubmitOutcome::Unknown {
                reason: e.to_string(),
            },
        }
    }
}

/// The `validity_period` of a submission at `now`: what is left of the message's validity (at
/// least a minute), relative.
fn validity_of(job: &SubmitJob, now: Millis) -> String {
    let remaining = Duration::from_millis((job.valid_until - now).max(60_000) as u64);
    herald_smpp::validity::relative(remaining)
}

/// A long message whole, for a carrier with `concatenation = "payload"`: the segments' bodies
/// joined in order without their concatenation headers. Segments never split an escape or a
/// surrogate pair, so the join is the encoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WholeMessage {
    data_coding: u8,
    esm_class: u8,
    message: Vec<u8>,
}

impl WholeMessage {
    fn of(jobs: &[SubmitJob], cfg: &PipelineConfig) -> Self {
        let first = &jobs[0];
        let mut message = Vec::with_capacity(jobs.iter().map(|j| j.payload.len()).sum());
        let mut esm_class = first.esm_class;
        for job in jobs {
            let (udh, body) = text::split_udh(job.esm_class, &job.payload);
            if text::concat_of(udh).is_some() {
                message.extend_from_slice(body);
                esm_class &= !text::ESM_CLASS_UDHI;
            } else {
                // Only Herald's own header is left out; a customer's never comes with parts.
                message.extend_from_slice(&job.payload);
            }
        }
        Self {
            data_coding: WireSegment::of(first, cfg).data_coding,
            esm_class,
            message,
        }
    }
}

/// A stored segment in the form its carrier wants. The store keeps segments as the customer is
/// charged for them (GSM default alphabet as 0, concatenation as a UDH); each carrier's
/// `default_data_coding` and `concatenation` are applied only here, on the way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WireSegment<'a> {
    data_coding: u8,
    esm_class: u8,
    short_message: &'a [u8],
    sar: Option<text::Concat>,
}

impl<'a> WireSegment<'a> {
    fn of(job: &'a SubmitJob, cfg: &PipelineConfig) -> Self {
        let data_coding = if job.data_coding == text::DATA_CODING_GSM7 {
            cfg.default_data_coding
        } else {
            job.data_coding
        };
        let as_stored = Self {
            data_coding,
            esm_class: job.esm_class,
            short_message: &job.payload,
            sar: None,
        };
        if cfg.concatenation != Concatenation::Sar {
            return as_stored;
        }
        // Only a header that says nothing but "part n of m" can become TLVs; any other header
        // (the customer's own) must reach the handset as it is.
        let (udh, body) = text::split_udh(job.esm_class, &job.payload);
        match text::concat_of(udh) {
            Some(concat) => Self {
                esm_class: job.esm_class & !text::ESM_CLASS_UDHI,
                short_message: body,
                sar: Some(concat),
                ..as_stored
            },
            None => as_stored,
        }
    }
}

fn unsendable_status(e: &PduError) -> u32 {
    match e {
        PduError::InvalidField {
            field: "source_addr",
            ..
        } => 0x0A,
        PduError::InvalidField {
            field: "destination_addr",
            ..
        } => 0x0B,
        _ => 0x45,
    }
}

async fn sleep_or(d: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = shutdown.cancelled() => {}
    }
}

/// Takes in everything carriers send: receipts are recorded, then acknowledged.
pub async fn ingest_deliveries(
    store: SharedStore,
    wakers: Arc<Wakers>,
    mut deliveries: mpsc::Receiver<CarrierDelivery>,
) {
    while let Some(delivery) = deliveries.recv().await {
        let store = store.clone();
        let wakers = wakers.clone();
        // Concurrency is bounded by the carriers' windows; concurrent records share commits.
        // Boxed, as a submission's task is (see `Submitter::run`).
        let task = async move { handle_delivery(&store, &wakers, delivery).await };
        tokio::spawn(Box::pin(task));
    }
}

async fn handle_delivery(store: &SharedStore, wakers: &Wakers, delivery: CarrierDelivery) {
    let CarrierDelivery { carrier, incoming } = delivery;
    let (command_id, receipt) = match &incoming.request {
        Request::Pdu(cmd) => (
            u32::from(cmd.id()),
            match cmd.pdu() {
                Some(Pdu::DeliverSm(p)) => receipt::from_deliver_sm(p),
                Some(Pdu::DataSm(p)) => receipt::from_data_sm(p),
                _ => None,
            },
        ),
        Request::Undecodable(bad) => (
            bad.command_id,
            match bad.command_id {
                0x05 => receipt::scan_raw_deliver_sm(&bad.body),
                0x103 => receipt::scan_raw_data_sm(&bad.body),
                _ => None,
            },
        ),
    };
    let responder = incoming.responder;
    let ok = |responder: herald_smpp::session::Responder| match command_id {
        0x05 => responder.ok(Pdu::DeliverSmResp(DeliverSmResp::new(
            COctetString::empty(),
            Vec::new(),
        ))),
        0x103 => responder.ok(Pdu::DataSmResp(DataSmResp::new(
            COctetString::empty(),
            Vec::new(),
        ))),
        _ => responder.error(u32::from(CommandStatus::EsmeRinvcmdid)),
    };
    let Some(receipt) = receipt else {
        // Mobile-originated messages are not handled yet: acknowledge so the carrier does not
        // redeliver forever.
        tracing::info!(%carrier, command_id, "non-receipt delivery acknowledged and dropped");
        return ok(responder);
    };
    let record = receipt_record(&carrier, receipt);
    match store.record_receipt(record).await {
        Ok(m) => {
            tracing::debug!(%carrier, ?m, "receipt recorded");
            wakers.callbacks.notify_one();
            ok(responder)
        }
        // Not acknowledged: the carrier keeps it and sends it again.
        Err(e) => {
            tracing::error!(%carrier, error = %e, "recording a receipt failed; answering RSYSERR");
            responder.error(u32::from(CommandStatus::EsmeRsyserr))
        }
    }
}

/// The store's form of a receipt: the evidence as received, plus what it means.
pub fn receipt_record(carrier: &str, r: Receipt) -> ReceiptRecord {
    ReceiptRecord {
        carrier: carrier.to_owned(),
        carrier_message_id: r.message_id.unwrap_or_default(),
        outcome: outcome_of(r.state, r.intermediate),
        stat_word: r.stat_word,
        carrier_err: r.err,
        raw_text: r.raw_text,
        tlvs: r
            .tlvs
            .iter()
            .map(|(tag, v)| (*tag, v.iter().map(|b| format!("{b:02x}")).collect()))
            .collect(),
        received_at: now_millis(),
    }
}

/// What a receipt's state means for the customer (status-model §3).
pub fn outcome_of(state: ReceiptState, intermediate: bool) -> ReceiptOutcome {
    if intermediate {
        return ReceiptOutcome::Intermediate;
    }
    match state {
        ReceiptState::Scheduled | ReceiptState::Enroute | ReceiptState::Accepted => {
            ReceiptOutcome::Intermediate
        }
        ReceiptState::Delivered => ReceiptOutcome::Delivered,
        ReceiptState::Expired => ReceiptOutcome::Expired,
        ReceiptState::Deleted => ReceiptOutcome::Deleted,
        ReceiptState::Undeliverable | ReceiptState::Skipped => ReceiptOutcome::Undeliverable,
        ReceiptState::Rejected => ReceiptOutcome::Rejected,
        ReceiptState::Unknown => ReceiptOutcome::Unknown,
        ReceiptState::Unrecognised => ReceiptOutcome::Unrecognised,
    }
}

/// Fails messages that outlived their validity without a final receipt.
pub async fn sweep_expired(
    store: SharedStore,
    wakers: Arc<Wakers>,
    grace: Duration,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        match store.expire_overdue(now_millis(), grace, 1_000).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(expired = n, "messages failed by own expiry");
                wakers.callbacks.notify_one();
                continue;
            }
            Err(e) => tracing::error!(error = %e, "expiry sweep failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_states_map_to_customer_outcomes() {
        assert_eq!(
            outcome_of(ReceiptState::Delivered, false),
            ReceiptOutcome::Delivered
        );
        assert_eq!(
            outcome_of(ReceiptState::Delivered, true),
            ReceiptOutcome::Intermediate
        );
        assert_eq!(
            outcome_of(ReceiptState::Enroute, false),
            ReceiptOutcome::Intermediate
        );
        assert_eq!(
            outcome_of(ReceiptState::Expired, false),
            ReceiptOutcome::Expired
        );
        assert_eq!(
            outcome_of(ReceiptState::Unrecognised, false),
            ReceiptOutcome::Unrecognised
        );
    }

    #[test]
    fn fields_smpp_cannot_carry_map_to_sender_and_destination_errors() {
        let e = PduError::InvalidField {
            field: "source_addr",
            reason: "too long".into(),
        };
        assert_eq!(unsendable_status(&e), 0x0A);
        let e = PduError::InvalidField {
            field: "destination_addr",
            reason: "too long".into(),
        };
        assert_eq!(unsendable_status(&e), 0x0B);
        assert_eq!(
            unsendable_status(&PduError::MessageTooLong { len: 70_000 }),
            0x45
        );
    }

    fn job(data_coding: u8, esm_class: u8, payload: &[u8]) -> SubmitJob {
        SubmitJob {
            message_id: crate::domain::MessageId::generate(),
            segment: 1,
            segment_count: 2,
            carrier: "sim".into(),
            destination: "37255500000".into(),
            sender: "Herald".into(),
            data_coding,
            esm_class,
            payload: payload.to_vec(),
            valid_until: 0,
            attempts: 0,
        }
    }

    fn cfg(concatenation: Concatenation, default_data_coding: u8) -> PipelineConfig {
        PipelineConfig {
            concatenation,
            default_data_coding,
            ..PipelineConfig::default()
        }
    }

    #[test]
    fn a_udh_carrier_gets_the_segment_as_stored() {
        let part = job(0, 0x40, &[0x05, 0x00, 0x03, 9, 2, 2, b'h', b'i']);
        let wire = WireSegment::of(&part, &cfg(Concatenation::Udh, 0));
        assert_eq!(
            (
                wire.data_coding,
                wire.esm_class,
                wire.short_message,
                wire.sar
            ),
            (0, 0x40, &part.payload[..], None)
        );
    }

    #[test]
    fn a_sar_carrier_gets_the_part_without_its_header_and_the_concatenation_as_tlvs() {
        let part = job(8, 0x40, &[0x05, 0x00, 0x03, 9, 2, 2, 0x04, 0x16]);
        let wire = WireSegment::of(&part, &cfg(Concatenation::Sar, 0));
        assert_eq!(wire.esm_class, 0);
        assert_eq!(wire.short_message, &[0x04, 0x16]);
        assert_eq!(wire.data_coding, 8);
        assert_eq!(
            wire.sar,
            Some(text::Concat {
                reference: 9,
                total: 2,
                seq: 2
            })
        );
        // A single-part message has no header and needs no TLVs.
        let single = job(0, 0, b"hi");
        assert_eq!(
            WireSegment::of(&single, &cfg(Concatenation::Sar, 0)).sar,
            None
        );
        // A header that is not only concatenation travels as it is.
        let ported = job(4, 0x40, &[0x04, 0x05, 0x02, 0x0B, 0x84, 0xFF]);
        let wire = WireSegment::of(&ported, &cfg(Concatenation::Sar, 0));
        assert_eq!((wire.esm_class, wire.sar), (0x40, None));
    }

    #[test]
    fn a_payload_carrier_gets_the_parts_joined_without_their_headers_in_its_data_coding() {
        let parts = [
            job(0, 0x40, &[0x05, 0x00, 0x03, 9, 2, 1, b'h', b'e', b'l']),
            job(0, 0x40, &[0x06, 0x08, 0x04, 0x01, 0x09, 2, 2, b'l', b'o']),
        ];
        let whole = WholeMessage::of(&parts, &cfg(Concatenation::Payload, 1));
        assert_eq!(
            whole,
            WholeMessage {
                data_coding: 1,
                esm_class: 0,
                message: b"hello".to_vec(),
            }
        );
        let ucs2 = [
            job(8, 0x40, &[0x05, 0x00, 0x03, 7, 2, 1, 0x04, 0x16]),
            job(8, 0x40, &[0x05, 0x00, 0x03, 7, 2, 2, 0x00, 0x21]),
        ];
        let whole = WholeMessage::of(&ucs2, &cfg(Concatenation::Payload, 1));
        assert_eq!(
            (whole.data_coding, whole.esm_class, whole.message),
            (8, 0, vec![0x04, 0x16, 0x00, 0x21])
        );
    }

    #[test]
    fn default_data_coding_replaces_only_the_gsm_default_alphabet() {
        let gsm = job(0, 0, b"hi");
        assert_eq!(
            WireSegment::of(&gsm, &cfg(Concatenation::Udh, 1)).data_coding,
            1
        );
        let ucs2 = job(8, 0, &[0, 0x41]);
        assert_eq!(
            WireSegment::of(&ucs2, &cfg(Concatenation::Udh, 1)).data_coding,
            8
        );
    }
}
