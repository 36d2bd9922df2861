//! The delivery-status model (status-model.md made executable): what a customer is told about a
//! message, and how every event moves it. Pure: no I/O, no clocks, no SQL.
//!
//! The store calls [`MessageState::apply`] inside its transaction, so the rule "a final status is
//! never left" is decided in one place and tested without a database.

use std::fmt;

/// The customer-visible identifier of a message (`sms_unique_id`): an opaque token of letters and
/// digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// A fresh identifier: 32 lowercase hex digits laid out as a UUIDv7 (RFC 9562): the first 12
    /// the acceptance time in milliseconds, then the version digit `7`, the variant bits, and 74
    /// random bits. So the `/v1` API's 8-4-4-4-12 form is a real UUID that any UUID parser reads.
    ///
    /// Time first, so the store's indexes keyed by message id grow at one end: the messages in
    /// flight sit on a few adjacent pages, and each commit writes those few pages rather than a
    /// random page per message (with random ids, WAL writes were most of the writer's time).
    pub fn generate() -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            & 0xFFFF_FFFF_FFFF;
        let random: u128 = rand::random();
        let rand_a = (random >> 116) as u16 & 0x0FFF;
        let rand_b = (random as u64) & ((1 << 62) - 1);
        let variant_and_b = (0b10 << 62) | rand_b;
        Self(format!("{millis:012x}7{rand_a:03x}{variant_and_b:016x}"))
    }

    /// Accepts only what [`MessageId::generate`] could have produced, so a hostile parameter never
    /// reaches a query.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then(|| Self(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 8-4-4-4-12 UUID form the `/v1` API and its JSON webhooks show:
    /// `0123456789abcdef0123456789abcdef` → `01234567-89ab-cdef-0123-456789abcdef`. Ids of
    /// another shape (none today) are shown as they are.
    pub fn uuid_form(&self) -> String {
        let s = &self.0;
        if s.len() != 32 {
            return s.clone();
        }
        format!(
            "{}-{}-{}-{}-{}",
            &s[..8],
            &s[8..12],
            &s[12..16],
            &s[16..20],
            &s[20..]
        )
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a message stands, as the dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `time_to_send` is in the future.
    Scheduled,
    /// Accepted and durable, not yet handed to a carrier.
    Queued,
    /// Handed to a carrier; no final outcome yet.
    Sent,
    Delivered,
    /// Accepted by the carrier but not delivered (or expired).
    Failed,
    /// Never accepted for delivery: our own rules, or a carrier NACK.
    Rejected,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Scheduled,
        Status::Queued,
        Status::Sent,
        Status::Delivered,
        Status::Failed,
        Status::Rejected,
    ];

    pub fn is_final(self) -> bool {
        matches!(self, Status::Delivered | Status::Failed | Status::Rejected)
    }

    /// The `status` value of the dlr-url callback and of `get_dlr_response`. Messages that are
    /// not yet with a carrier have none.
    pub fn callback_status(self) -> Option<&'static str> {
        match self {
            Status::Scheduled | Status::Queued => None,
            Status::Sent => Some("SENT"),
            Status::Delivered => Some("DELIVERED"),
            Status::Failed | Status::Rejected => Some("FAILED"),
        }
    }

    /// Stable lowercase name, used in storage and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Scheduled => "scheduled",
            Status::Queued => "queued",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
            Status::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// The `stat` detail of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stat {
    Delivrd,
    Undeliv,
    Failed,
    Unknown,
    Acceptd,
    Rejectd,
    Deleted,
    Expired,
    Nack,
}

impl Stat {
    pub const ALL: [Stat; 9] = [
        Stat::Delivrd,
        Stat::Undeliv,
        Stat::Failed,
        Stat::Unknown,
        Stat::Acceptd,
        Stat::Rejectd,
        Stat::Deleted,
        Stat::Expired,
        Stat::Nack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stat::Delivrd => "DELIVRD",
            Stat::Undeliv => "UNDELIV",
            Stat::Failed => "FAILED",
            Stat::Unknown => "UNKNOWN",
            Stat::Acceptd => "ACCEPTD",
            Stat::Rejectd => "REJECTD",
            Stat::Deleted => "DELETED",
            Stat::Expired => "EXPIRED",
            Stat::Nack => "NACK",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Stat::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// The three-digit `err` code of the source document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrCode(pub u16);

impl ErrCode {
    pub const NONE: ErrCode = ErrCode(0);
    pub const FAILED_TO_DELIVER: ErrCode = ErrCode(1);
    pub const EXPIRED: ErrCode = ErrCode(2);
    pub const INVALID_NUMBER: ErrCode = ErrCode(3);
    pub const CREDIT: ErrCode = ErrCode(4);
    pub const NO_ROUTE: ErrCode = ErrCode(5);
    pub const DUPLICATE: ErrCode = ErrCode(6);
    pub const SENDER_NOT_ALLOWED: ErrCode = ErrCode(7);
    pub const BLACKLISTED: ErrCode = ErrCode(8);
    pub const TEMPORARY: ErrCode = ErrCode(999);

    /// What the code means, in the words of the delivery-report documentation; None for 000.
    pub fn description(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => return None,
            1 => "Failed to deliver SMS to this number",
            2 => "Sending SMS expired in 6 hours",
            3 => "Invalid number",
            4 => "Error crediting Account",
            5 => "Could not determine the destination country/operator or invalid number format",
            6 => "Too many identical messages sent to the same number, blocked for 60 minutes",
            7 => "Sender name not allowed",
            8 => "Number is in blacklist",
            999 => "General temporary error",
            _ => "Unknown error",
        })
    }
}

impl fmt::Display for ErrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

/// The four fields a customer receives for one status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Report {
    pub status: Status,
    pub stat: Stat,
    pub dlr_mask: u8,
    pub err: ErrCode,
}

/// What a carrier's receipt says about a segment, independent of its wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptOutcome {
    /// ENROUTE / ACCEPTED (message_state 1 or 6), or any intermediate notification.
    Intermediate,
    Delivered,
    Expired,
    Deleted,
    Undeliverable,
    Rejected,
    Unknown,
    /// A `stat` word or state we do not recognise.
    Unrecognised,
}

impl Report {
    /// Row 1 of status-model §3: our own rules refused the message.
    pub fn rejected_by_rule(err: ErrCode) -> Self {
        Self::new(Status::Rejected, Stat::Rejectd, 16, err)
    }

    /// The carrier refused the submit permanently (`submit_sm_resp` with an error status).
    pub fn carrier_nack(command_status: u32) -> Self {
        let err = match command_status {
            0x0B => ErrCode::INVALID_NUMBER,
            0x0A => ErrCode::SENDER_NOT_ALLOWED,
            _ => ErrCode::FAILED_TO_DELIVER,
        };
        Self::new(Status::Rejected, Stat::Nack, 16, err)
    }

    /// Temporary carrier errors outlasted the retry budget.
    pub fn temporary_exhausted() -> Self {
        Self::new(Status::Rejected, Stat::Failed, 16, ErrCode::TEMPORARY)
    }

    /// The customer cancelled it (`cancel_sms`) before it was handed to a carrier. It was never
    /// accepted for delivery, so it is Rejected (status-model §1); `DELETED` says it was taken
    /// out of the queue, and `err` 000 because nothing went wrong.
    pub fn cancelled() -> Self {
        Self::new(Status::Rejected, Stat::Deleted, 16, ErrCode::NONE)
    }

    /// The carrier accepted the submit.
    pub fn accepted_by_carrier() -> Self {
        Self::new(Status::Sent, Stat::Acceptd, 8, ErrCode::NONE)
    }

    /// No final receipt within validity plus grace.
    pub fn expired() -> Self {
        Self::new(Status::Failed, Stat::Expired, 2, ErrCode::EXPIRED)
    }

    pub fn from_receipt(outcome: ReceiptOutcome) -> Self {
        use ReceiptOutcome as O;
        match outcome {
            O::Intermediate => Self::new(Status::Sent, Stat::Acceptd, 4, ErrCode::NONE),
            O::Delivered => Self::new(Status::Delivered, Stat::Delivrd, 1, ErrCode::NONE),
            O::Expired => Self::expired(),
            O::Deleted => Self::failed(Stat::Deleted),
            O::Undeliverable => Self::failed(Stat::Undeliv),
            O::Rejected => Self::failed(Stat::Rejectd),
            O::Unknown | O::Unrecognised => Self::failed(Stat::Unknown),
        }
    }

    fn failed(stat: Stat) -> Self {
        Self::new(Status::Failed, stat, 2, ErrCode::FAILED_TO_DELIVER)
    }

    const fn new(status: Status, stat: Stat, dlr_mask: u8, err: ErrCode) -> Self {
        Self {
            status,
            stat,
            dlr_mask,
            err,
        }
    }
}

/// The customer-visible state of one message: its current report (none while queued).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageState {
    pub status: Status,
    pub report: Option<Report>,
}

/// The result of applying an event: the new state, and whether the customer must be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub state: MessageState,
    /// `Some` when the status changed: exactly one callback per change.
    pub notify: Option<Report>,
}

impl MessageState {
    pub fn queued() -> Self {
        Self {
            status: Status::Queued,
            report: None,
        }
    }

    pub fn scheduled() -> Self {
        Self {
            status: Status::Scheduled,
            report: None,
        }
    }

    /// Moves the message to `report`'s status unless that would break the model:
    /// a final status is never left, and a repeated status is not reported twice.
    pub fn apply(self, report: Report) -> Transition {
        if self.status.is_final() || self.report.map(|r| r.status) == Some(report.status) {
            // Sent → Sent (an intermediate receipt after the submit ack) changes nothing the
            // customer can see; finals are final.
            return Transition {
                state: self,
                notify: None,
            };
        }
        Transition {
            state: MessageState {
                status: report.status,
                report: Some(report),
            },
            notify: Some(report),
        }
    }
}

/// Folds the reports of a multipart message's segments into the one report the customer sees
/// (status-model §5): Failed as soon as one part finally fails, Delivered when all parts are,
/// Sent meanwhile. `None` entries are segments with nothing reported yet.
pub fn fold_segments(segments: &[Option<Report>]) -> Option<Report> {
    if let Some(bad) = segments
        .iter()
        .flatten()
        .find(|r| matches!(r.status, Status::Failed | Status::Rejected))
    {
        return Some(*bad);
    }
    if !segments.is_empty()
        && segments
            .iter()
            .all(|r| matches!(r, Some(r) if r.status == Status::Delivered))
    {
        return segments[0];
    }
    segments
        .iter()
        .flatten()
        .find(|r| r.status == Status::Sent)
        .copied()
        .or_else(|| {
            // Some parts delivered, the rest not yet reported: the message is still Sent.
            segments
                .iter()
                .flatten()
                .next()
                .map(|_| Report::accepted_by_carrier())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carrier_nack_maps_destination_and_source_errors() {
        assert_eq!(Report::carrier_nack(0x0B).err, ErrCode::INVALID_NUMBER);
        assert_eq!(Report::carrier_nack(0x0A).err, ErrCode::SENDER_NOT_ALLOWED);
        let other = Report::carrier_nack(0x45);
        assert_eq!(
            (other.status, other.stat, other.dlr_mask, other.err),
            (Status::Rejected, Stat::Nack, 16, ErrCode::FAILED_TO_DELIVER)
        );
    }

    #[test]
    fn receipts_map_per_status_model_table() {
        let d = Report::from_receipt(ReceiptOutcome::Delivered);
        assert_eq!(
            (d.status, d.stat, d.dlr_mask, d.err.to_string()),
            (Status::Delivered, Stat::Delivrd, 1, "000".into())
        );
        let e = Report::from_receipt(ReceiptOutcome::Expired);
        assert_eq!(
            (e.stat, e.dlr_mask, e.err.to_string()),
            (Stat::Expired, 2, "002".into())
        );
        let u = Report::from_receipt(ReceiptOutcome::Unrecognised);
        assert_eq!(
            (u.status, u.stat, u.err),
            (Status::Failed, Stat::Unknown, ErrCode::FAILED_TO_DELIVER)
        );
        let i = Report::from_receipt(ReceiptOutcome::Intermediate);
        assert_eq!(
            (i.status, i.stat, i.dlr_mask),
            (Status::Sent, Stat::Acceptd, 4)
        );
    }

    #[test]
    fn a_final_status_is_never_left() {
        let delivered = MessageState::queued()
            .apply(Report::from_receipt(ReceiptOutcome::Delivered))
            .state;
        let t = delivered.apply(Report::accepted_by_carrier());
        assert_eq!(t.state, delivered);
        assert_eq!(t.notify, None);
        let t = delivered.apply(Report::expired());
        assert_eq!(t.notify, None);
    }

    #[test]
    fn sent_is_reported_once() {
        let sent = MessageState::queued().apply(Report::accepted_by_carrier());
        assert!(sent.notify.is_some());
        let again = sent
            .state
            .apply(Report::from_receipt(ReceiptOutcome::Intermediate));
        assert_eq!(again.notify, None);
        let done = again
            .state
            .apply(Report::from_receipt(ReceiptOutcome::Delivered));
        assert_eq!(done.notify.map(|r| r.status), Some(Status::Delivered));
    }

    #[test]
    fn multipart_fails_as_soon_as_one_part_fails() {
        let d = Some(Report::from_receipt(ReceiptOutcome::Delivered));
        let f = Some(Report::from_receipt(ReceiptOutcome::Undeliverable));
        assert_eq!(
            fold_segments(&[d, f, None]).map(|r| r.status),
            Some(Status::Failed)
        );
        assert_eq!(
            fold_segments(&[d, d]).map(|r| r.status),
            Some(Status::Delivered)
        );
        assert_eq!(
            fold_segments(&[d, None]).map(|r| r.status),
            Some(Status::Sent)
        );
        assert_eq!(fold_segments(&[None, None]), None);
    }

    #[test]
    fn message_ids_are_opaque_alphanumeric_tokens() {
        let id = MessageId::generate();
        assert_eq!(MessageId::parse(id.as_str()), Some(id));
        assert_eq!(MessageId::parse("abc'; drop"), None);
        assert_eq!(MessageId::parse(""), None);
    }

    #[test]
    fn message_ids_are_uuid_v7_with_the_acceptance_time_first() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let id = MessageId::generate();
        let s = id.as_str();
        assert_eq!(s.len(), 32);
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let millis = u64::from_str_radix(&s[..12], 16).unwrap();
        assert!(millis >= before && millis < before + 60_000, "{s}");
        assert_eq!(&s[12..13], "7", "version digit: {s}");
        assert!(matches!(&s[16..17], "8" | "9" | "a" | "b"), "variant: {s}");
        let uuid = id.uuid_form();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "7");
        assert_ne!(MessageId::generate(), id);
    }
}
