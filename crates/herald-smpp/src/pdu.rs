//! PDU builders with safe defaults, and a plain reading of a received `submit_sm`.
//!
//! rusmpp's builders default to values that are wrong for us: `esm_class` 0x08, bind
//! `interface_version` 0x50, `registered_delivery` "everything". Every builder here sets those
//! fields explicitly, and golden-bytes tests pin the encoded octets.

use std::str::FromStr;

use rusmpp::Pdu;
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, DeliverSm, SubmitSm};
use rusmpp::tlvs::{MessageDeliveryRequestTlvValue, MessageSubmissionRequestTlvValue, TlvValue};
use rusmpp::types::{AnyOctetString, COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, ErrorCodeNetworkType, EsmClass, InterfaceVersion, MessagePayload, MessageState,
    NetworkErrorCode, Npi, RegisteredDelivery, Ton,
};

use crate::receipt::{self, NetworkError, ReceiptState, TextFields};
use crate::{text, validity};

/// The most `short_message` holds; longer messages travel in `message_payload`.
pub const SHORT_MESSAGE_MAX: usize = 255;
/// The most a TLV holds: its length is a `u16`, which rusmpp would silently truncate.
pub const MESSAGE_PAYLOAD_MAX: usize = 65_535;
/// Appendix B: a receipt's `text:` repeats the first 20 characters of the message.
const RECEIPT_TEXT_CHARS: usize = 20;

const ESM_CLASS_RECEIPT: u8 = 0x04;
const ESM_CLASS_INTERMEDIATE: u8 = 0x20;

/// Why a PDU could not be built from the values given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PduError {
    /// A field is too long, not ASCII, or malformed for SMPP (the reason says which).
    #[error("{field} cannot be sent over SMPP: {reason}")]
    InvalidField { field: &'static str, reason: String },
    /// The message is longer than one `message_payload` can carry.
    #[error(
        "message of {len} octets exceeds the {MESSAGE_PAYLOAD_MAX}-octet message_payload limit"
    )]
    MessageTooLong { len: usize },
}

/// One message (or segment) to submit to a carrier.
#[derive(Debug, Clone, Copy)]
pub struct Submit<'a> {
    /// Sender: digits (an optional leading `+`) or an alphanumeric name.
    pub source: &'a str,
    /// Recipient in international form, digits with an optional leading `+`.
    pub destination: &'a str,
    pub data_coding: u8,
    /// 0x00 for a plain message, 0x40 (UDHI) for a segment carrying a UDH.
    pub esm_class: u8,
    pub short_message: &'a [u8],
    /// 0x01 asks for a final receipt on success or failure.
    pub registered_delivery: u8,
    /// SMPP time format (see [`crate::validity`]); `None` leaves it to the carrier's default.
    pub validity_period: Option<&'a str>,
}

/// Builds a `submit_sm`. Messages over 255 octets go in `message_payload` with an empty
/// `short_message`.
pub fn submit_sm(s: &Submit) -> Result<SubmitSm, PduError> {
    build_submit_sm(s, s.short_message.len() > SHORT_MESSAGE_MAX)
}

/// Builds a `submit_sm` whose message travels in `message_payload` whatever its length
/// (`sm_length` 0), for carriers that take a long message whole rather than in parts.
pub fn submit_sm_as_payload(s: &Submit) -> Result<SubmitSm, PduError> {
    build_submit_sm(s, true)
}

fn build_submit_sm(s: &Submit, in_payload: bool) -> Result<SubmitSm, PduError> {
    let (source_ton, source_npi, source) = sender_address(s.source);
    let (dest_ton, dest_npi, destination) = number_address(s.destination);
    let validity = match s.validity_period {
        None => EmptyOrFullCOctetString::empty(),
        Some(v) if validity::parse(v, 0).is_none() => {
            return Err(invalid(
                "validity_period",
                format!("{v:?} is not SMPP time format"),
            ));
        }
        Some(v) => c_string_field("validity_period", v, EmptyOrFullCOctetString::from_str)?,
    };
    let builder = SubmitSm::builder()
        .source_addr_ton(source_ton)
        .source_addr_npi(source_npi)
        .source_addr(c_string_field(
            "source_addr",
            source,
            COctetString::from_str,
        )?)
        .dest_addr_ton(dest_ton)
        .dest_addr_npi(dest_npi)
        .destination_addr(c_string_field(
            "destination_addr",
            destination,
            COctetString::from_str,
        )?)
        .esm_class(EsmClass::from(s.esm_class))
        .validity_period(validity)
        .registered_delivery(RegisteredDelivery::from(s.registered_delivery))
        .data_coding(DataCoding::from(s.data_coding));
    let message = s.short_message;
    if message.len() > MESSAGE_PAYLOAD_MAX {
        return Err(PduError::MessageTooLong { len: message.len() });
    }
    let pdu = if in_payload {
        builder.push_tlv(MessageSubmissionRequestTlvValue::MessagePayload(payload(
            message,
        )))
    } else {
        builder.short_message(short_message(message)?)
    };
    Ok(pdu.build())
}

/// Marks `pdu` as part `concat` of a concatenated message with the SAR TLVs (`sar_msg_ref_num`
/// 0x020C, `sar_total_segments` 0x020E, `sar_segment_seqnum` 0x020F), for carriers that want
/// them instead of a user data header. The caller leaves the header out of `short_message`.
pub fn push_sar(pdu: &mut SubmitSm, concat: text::Concat) {
    pdu.push_tlv(MessageSubmissionRequestTlvValue::SarMsgRefNum(
        concat.reference,
    ));
    pdu.push_tlv(MessageSubmissionRequestTlvValue::SarTotalSegments(
        concat.total,
    ));
    pdu.push_tlv(MessageSubmissionRequestTlvValue::SarSegmentSeqnum(
        concat.seq,
    ));
}

/// A receipt the simulated carrier sends back for a message it accepted.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingReceipt<'a> {
    /// The original message's source; the receipt goes to it.
    pub original_source: &'a str,
    /// The original message's destination; the receipt comes from it.
    pub original_destination: &'a str,
    /// The id given in the `submit_sm_resp`, at most 64 ASCII characters.
    pub message_id: &'a str,
    /// Written as `stat:` and `message_state` ([`ReceiptState::Unrecognised`] writes no TLV).
    pub state: ReceiptState,
    pub intermediate: bool,
    /// `YYMMDDhhmm` (or longer), e.g. `&validity::absolute_utc(t)[..10]`.
    pub submit_date: &'a str,
    pub done_date: &'a str,
    /// The text `err:` value, `000` on success.
    pub err: &'a str,
    pub network_error: Option<NetworkError>,
    /// The original message's text; its first 20 characters are repeated in `text:`.
    pub text: &'a str,
}

/// Builds a receipt `deliver_sm`: Appendix B text in `short_message` and the same facts in
/// TLVs, so receivers that read either one agree.
pub fn receipt_deliver_sm(r: &OutgoingReceipt) -> Result<DeliverSm, PduError> {
    let (source_ton, source_npi, source) = number_address(r.original_destination);
    let (dest_ton, dest_npi, destination) = sender_address(r.original_source);
    let delivered = r.state == ReceiptState::Delivered;
    let text = receipt::format_text(&TextFields {
        id: Some(r.message_id.to_owned()),
        sub: Some("001".to_owned()),
        dlvrd: Some(if delivered { "001" } else { "000" }.to_owned()),
        submit_date: Some(r.submit_date.to_owned()),
        done_date: Some(r.done_date.to_owned()),
        stat: Some(r.state.stat_word().to_owned()),
        err: Some(r.err.to_owned()),
        text: Some(r.text.chars().take(RECEIPT_TEXT_CHARS).collect()),
    });

    let mut tlvs = vec![MessageDeliveryRequestTlvValue::ReceiptedMessageId(
        c_string_field("receipted_message_id", r.message_id, COctetString::from_str)?,
    )];
    if let Some(state) = r.state.message_state() {
        tlvs.push(MessageDeliveryRequestTlvValue::MessageState(
            MessageState::from(state),
        ));
    }
    if let Some(e) = r.network_error {
        tlvs.push(MessageDeliveryRequestTlvValue::NetworkErrorCode(
            NetworkErrorCode::new(ErrorCodeNetworkType::from(e.network_type), e.code),
        ));
    }

    let esm_class = if r.intermediate {
        ESM_CLASS_INTERMEDIATE
    } else {
        ESM_CLASS_RECEIPT
    };
    Ok(DeliverSm::builder()
        .source_addr_ton(source_ton)
        .source_addr_npi(source_npi)
        .source_addr(c_string_field(
            "source_addr",
            source,
            COctetString::from_str,
        )?)
        .dest_addr_ton(dest_ton)
        .dest_addr_npi(dest_npi)
        .destination_addr(c_string_field(
            "destination_addr",
            destination,
            COctetString::from_str,
        )?)
        .esm_class(EsmClass::from(esm_class))
        .registered_delivery(RegisteredDelivery::from(0))
        .data_coding(DataCoding::from(0))
        .short_message(short_message(text.as_bytes())?)
        .tlvs(tlvs)
        .build())
}

/// Which bind to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindKind {
    Transmitter,
    Receiver,
    Transceiver,
}

impl BindKind {
    /// Whether this bind may send messages (submit side).
    pub fn can_submit(self) -> bool {
        matches!(self, BindKind::Transmitter | BindKind::Transceiver)
    }

    /// Whether this bind receives messages and receipts.
    pub fn can_receive(self) -> bool {
        matches!(self, BindKind::Receiver | BindKind::Transceiver)
    }

    /// `transmitter`, `receiver` or `transceiver`: the name pages and metrics show.
    pub fn as_str(self) -> &'static str {
        match self {
            BindKind::Transmitter => "transmitter",
            BindKind::Receiver => "receiver",
            BindKind::Transceiver => "transceiver",
        }
    }
}

/// Builds a bind request for SMPP 3.4 (`interface_version` 0x34), with an empty address range.
pub fn bind(
    kind: BindKind,
    system_id: &str,
    password: &str,
    system_type: &str,
) -> Result<Pdu, PduError> {
    let system_id = c_string_field("system_id", system_id, COctetString::from_str)?;
    let password = c_string_field("password", password, COctetString::from_str)?;
    let system_type = c_string_field("system_type", system_type, COctetString::from_str)?;
    let version = InterfaceVersion::Smpp3_4;
    let (ton, npi, range) = (Ton::Unknown, Npi::Unknown, COctetString::empty());
    Ok(match kind {
        BindKind::Transmitter => {
            BindTransmitter::new(system_id, password, system_type, version, ton, npi, range).into()
        }
        BindKind::Receiver => {
            BindReceiver::new(system_id, password, system_type, version, ton, npi, range).into()
        }
        BindKind::Transceiver => {
            BindTransceiver::new(system_id, password, system_type, version, ton, npi, range).into()
        }
    })
}

/// What a received `submit_sm` asks for, in plain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitFields {
    pub source: String,
    pub source_ton: u8,
    pub destination: String,
    pub data_coding: u8,
    pub esm_class: u8,
    pub registered_delivery: u8,
    /// `None` when empty.
    pub validity_period: Option<String>,
    /// `short_message`, or `message_payload` when `short_message` is empty.
    pub message: Vec<u8>,
}

/// Reads a received `submit_sm` into [`SubmitFields`].
pub fn submit_sm_fields(pdu: &SubmitSm) -> SubmitFields {
    let short: &[u8] = pdu.short_message().as_ref();
    let message = if short.is_empty() {
        pdu.tlvs()
            .iter()
            .find_map(|tlv| match tlv.value() {
                Some(TlvValue::MessagePayload(p)) => Some(p.value.to_vec()),
                _ => None,
            })
            .unwrap_or_default()
    } else {
        short.to_vec()
    };
    let validity = pdu.validity_period.to_string();
    SubmitFields {
        source: pdu.source_addr.to_string(),
        source_ton: u8::from(pdu.source_addr_ton),
        destination: pdu.destination_addr.to_string(),
        data_coding: u8::from(pdu.data_coding),
        esm_class: u8::from(pdu.esm_class),
        registered_delivery: u8::from(pdu.registered_delivery),
        validity_period: (!validity.is_empty()).then_some(validity),
        message,
    }
}

/// A phone number: international (TON 1), ISDN (NPI 1), without its `+`.
fn number_address(number: &str) -> (Ton, Npi, &str) {
    let digits = number.strip_prefix('+').unwrap_or(number);
    (Ton::International, Npi::Isdn, digits)
}

/// A sender: a number when it is all digits, else an alphanumeric name (TON 5, NPI 0).
fn sender_address(sender: &str) -> (Ton, Npi, &str) {
    let digits = sender.strip_prefix('+').unwrap_or(sender);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        (Ton::International, Npi::Isdn, digits)
    } else {
        (Ton::Alphanumeric, Npi::Unknown, sender)
    }
}

fn short_message(bytes: &[u8]) -> Result<OctetString<0, 255>, PduError> {
    OctetString::from_slice(bytes).map_err(|e| invalid("short_message", e.to_string()))
}

fn payload(bytes: &[u8]) -> MessagePayload {
    MessagePayload::new(AnyOctetString::from_slice(bytes))
}

/// Parses a C-string field. The error names the field and the rule broken, never the value:
/// addresses are phone numbers, and errors end up in logs.
fn c_string_field<T, E: std::fmt::Display>(
    field: &'static str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, PduError> {
    parse(value).map_err(|e| invalid(field, e.to_string()))
}

fn invalid(field: &'static str, reason: String) -> PduError {
    PduError::InvalidField { field, reason }
}

#[cfg(test)]
mod tests;
