//! Delivery receipts: recognising them and reading what the carrier says happened.
//!
//! A receipt is a `deliver_sm` (or `data_sm`) whose `esm_class` says so. What it reports can be
//! in TLVs (`receipted_message_id`, `message_state`, `network_error_code`), in the de-facto
//! standard text of the SMPP 3.4 Appendix B (`id:… sub:… dlvrd:… submit date:… done date:…
//! stat:… err:… text:…`), or both. TLVs are preferred; the text parser is tolerant because every
//! carrier writes it a little differently. Everything received is kept on the [`Receipt`] as
//! evidence, whatever could or could not be understood.
//!
//! All receipts, whether rusmpp decoded the PDU or [`scan_raw_deliver_sm`] walked it by hand,
//! are read from the same raw `(tag, value)` pairs, so both paths agree.

use bytes::BytesMut;
use rusmpp::encode::owned::Encode;
use rusmpp::pdus::{DataSm, DeliverSm};
use rusmpp::tlvs::Tlv;

const MESSAGE_TYPE_MASK: u8 = 0x3C;
const TYPE_RECEIPT: u8 = 0x04;
const TYPE_INTERMEDIATE: u8 = 0x20;

const TAG_RECEIPTED_MESSAGE_ID: u16 = 0x001E;
const TAG_NETWORK_ERROR_CODE: u16 = 0x0423;
const TAG_MESSAGE_PAYLOAD: u16 = 0x0424;
const TAG_MESSAGE_STATE: u16 = 0x0427;

const DATA_CODING_UCS2: u8 = 0x08;

/// Whether a `deliver_sm`/`data_sm` with this `esm_class` is a receipt (final or intermediate).
/// Only the message-type bits count: carriers set others, e.g. `0x44`.
pub fn is_receipt(esm_class: u8) -> bool {
    matches!(
        esm_class & MESSAGE_TYPE_MASK,
        TYPE_RECEIPT | TYPE_INTERMEDIATE
    )
}

/// Whether this `esm_class` marks an intermediate notification rather than a final receipt.
pub fn is_intermediate(esm_class: u8) -> bool {
    esm_class & MESSAGE_TYPE_MASK == TYPE_INTERMEDIATE
}

/// The message state a receipt reports, from the `message_state` TLV or the text `stat:` word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptState {
    Scheduled,
    Enroute,
    Delivered,
    Expired,
    Deleted,
    Undeliverable,
    Accepted,
    Unknown,
    Rejected,
    Skipped,
    /// Neither a known `message_state` nor a known `stat:` word.
    Unrecognised,
}

impl ReceiptState {
    /// The `message_state` TLV value (SMPP 3.4, plus 5.0's 0 and 9).
    pub fn from_message_state(value: u8) -> Option<Self> {
        Some(match value {
            0 => Self::Scheduled,
            1 => Self::Enroute,
            2 => Self::Delivered,
            3 => Self::Expired,
            4 => Self::Deleted,
            5 => Self::Undeliverable,
            6 => Self::Accepted,
            7 => Self::Unknown,
            8 => Self::Rejected,
            9 => Self::Skipped,
            _ => return None,
        })
    }

    /// The `message_state` TLV value for this state; `None` for [`ReceiptState::Unrecognised`].
    pub fn message_state(self) -> Option<u8> {
        Some(match self {
            Self::Scheduled => 0,
            Self::Enroute => 1,
            Self::Delivered => 2,
            Self::Expired => 3,
            Self::Deleted => 4,
            Self::Undeliverable => 5,
            Self::Accepted => 6,
            Self::Unknown => 7,
            Self::Rejected => 8,
            Self::Skipped => 9,
            Self::Unrecognised => return None,
        })
    }

    /// Reads a text `stat:` word, accepting the long synonyms some carriers write.
    pub fn from_stat_word(word: &str) -> Self {
        match word.trim().to_ascii_uppercase().as_str() {
            "DELIVRD" | "DELIVERED" => Self::Delivered,
            "UNDELIV" | "UNDELIVERABLE" | "UNDELIVERED" => Self::Undeliverable,
            "EXPIRED" => Self::Expired,
            "DELETED" => Self::Deleted,
            "REJECTD" | "REJECTED" => Self::Rejected,
            "ACCEPTD" | "ACCEPTED" => Self::Accepted,
            "ENROUTE" => Self::Enroute,
            "UNKNOWN" => Self::Unknown,
            "SKIPPED" => Self::Skipped,
            "SCHEDULED" => Self::Scheduled,
            _ => Self::Unrecognised,
        }
    }

    /// The Appendix B `stat:` word (seven letters where the spec abbreviates).
    pub fn stat_word(self) -> &'static str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::Enroute => "ENROUTE",
            Self::Delivered => "DELIVRD",
            Self::Expired => "EXPIRED",
            Self::Deleted => "DELETED",
            Self::Undeliverable => "UNDELIV",
            Self::Accepted => "ACCEPTD",
            Self::Unknown => "UNKNOWN",
            Self::Rejected => "REJECTD",
            Self::Skipped => "SKIPPED",
            Self::Unrecognised => "UNKNOWN",
        }
    }

    /// The specification's name of the `message_state` value.
    fn message_state_name(self) -> &'static str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::Enroute => "ENROUTE",
            Self::Delivered => "DELIVERED",
            Self::Expired => "EXPIRED",
            Self::Deleted => "DELETED",
            Self::Undeliverable => "UNDELIVERABLE",
            Self::Accepted => "ACCEPTED",
            Self::Unknown => "UNKNOWN",
            Self::Rejected => "REJECTED",
            Self::Skipped => "SKIPPED",
            Self::Unrecognised => "UNRECOGNISED",
        }
    }
}

/// The `network_error_code` TLV: a network type (3 = GSM, …) and that network's error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkError {
    pub network_type: u8,
    pub code: u16,
}

/// Everything a receipt said, understood or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The carrier's message id: `receipted_message_id` TLV first, else text `id:`.
    pub message_id: Option<String>,
    /// `message_state` TLV first, else the text `stat:` word.
    pub state: ReceiptState,
    /// The `esm_class` marks an intermediate notification.
    pub intermediate: bool,
    /// The `stat:` word, or the `message_state` name when the state came from a TLV the text
    /// does not agree with (or there is no text word).
    pub stat_word: Option<String>,
    /// Text `err:` as received; may be non-numeric.
    pub err: Option<String>,
    pub network_error: Option<NetworkError>,
    pub sub: Option<String>,
    pub dlvrd: Option<String>,
    /// Raw digits as received (10, 12 or 14 of them, in the carrier's local time).
    pub submit_date: Option<String>,
    pub done_date: Option<String>,
    pub text: Option<String>,
    /// `short_message`, or `message_payload` when `sm_length` is 0.
    pub raw_text: String,
    /// Every TLV as `(tag, value)`.
    pub tlvs: Vec<(u16, Vec<u8>)>,
}

/// The fields of an Appendix B receipt text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextFields {
    pub id: Option<String>,
    pub sub: Option<String>,
    pub dlvrd: Option<String>,
    pub submit_date: Option<String>,
    pub done_date: Option<String>,
    pub stat: Option<String>,
    pub err: Option<String>,
    pub text: Option<String>,
}

/// Reads a receipt from a decoded `deliver_sm`; `None` if it is not a receipt.
pub fn from_deliver_sm(pdu: &DeliverSm) -> Option<Receipt> {
    let short_message: &[u8] = pdu.short_message().as_ref();
    build(
        u8::from(pdu.esm_class),
        u8::from(pdu.data_coding),
        short_message,
        raw_tlvs(pdu.tlvs()),
    )
}

/// Reads a receipt from a decoded `data_sm`; `None` if it is not a receipt.
pub fn from_data_sm(pdu: &DataSm) -> Option<Receipt> {
    build(
        u8::from(pdu.esm_class),
        u8::from(pdu.data_coding),
        &[],
        raw_tlvs(pdu.tlvs()),
    )
}

/// Reads a receipt from a `deliver_sm` body (after the 16-byte header) that rusmpp refused,
/// e.g. a `receipted_message_id` without its NUL or non-ASCII in a C-string. Walks only what a
/// receipt needs; `None` if the body is not a receipt or too broken to reach `short_message`.
pub fn scan_raw_deliver_sm(body: &[u8]) -> Option<Receipt> {
    let mut walk = Walk { rest: body };
    walk.addresses()?;
    let esm_class = walk.byte()?;
    walk.byte()?; // protocol_id
    walk.byte()?; // priority_flag
    walk.c_string()?; // schedule_delivery_time
    walk.c_string()?; // validity_period
    walk.byte()?; // registered_delivery
    walk.byte()?; // replace_if_present_flag
    let data_coding = walk.byte()?;
    walk.byte()?; // sm_default_msg_id
    let sm_length = walk.byte()?;
    let short_message = walk.take(usize::from(sm_length))?;
    build(esm_class, data_coding, short_message, walk.tlvs())
}

/// Same as [`scan_raw_deliver_sm`] for a `data_sm` body, which has no `short_message`.
pub fn scan_raw_data_sm(body: &[u8]) -> Option<Receipt> {
    let mut walk = Walk { rest: body };
    walk.addresses()?;
    let esm_class = walk.byte()?;
    walk.byte()?; // registered_delivery
    let data_coding = walk.byte()?;
    build(esm_class, data_coding, &[], walk.tlvs())
}

/// A forgiving cursor over a PDU body: every read that runs off the end gives `None`.
struct Walk<'a> {
    rest: &'a [u8],
}

impl<'a> Walk<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// A C-string of any length and alphabet, without its NUL.
    fn c_string(&mut self) -> Option<&'a [u8]> {
        let nul = self.rest.iter().position(|&b| b == 0)?;
        let s = self.take(nul)?;
        self.take(1)?;
        Some(s)
    }

    /// service_type, then source and destination (ton, npi, addr).
    fn addresses(&mut self) -> Option<()> {
        self.c_string()?;
        for _ in 0..2 {
            self.byte()?;
            self.byte()?;
            self.c_string()?;
        }
        Some(())
    }

    /// The TLVs that follow; a last TLV cut short keeps what is there, stray bytes are dropped.
    fn tlvs(&mut self) -> Vec<(u16, Vec<u8>)> {
        let mut tlvs = Vec::new();
        while self.rest.len() >= 4 {
            let tag = u16::from_be_bytes([self.rest[0], self.rest[1]]);
            let len = usize::from(u16::from_be_bytes([self.rest[2], self.rest[3]]));
            self.rest = &self.rest[4..];
            let len = len.min(self.rest.len());
            let value = self.take(len).unwrap_or_default();
            tlvs.push((tag, value.to_vec()));
        }
        tlvs
    }
}

fn raw_tlvs(tlvs: &[Tlv]) -> Vec<(u16, Vec<u8>)> {
    tlvs.iter()
        .map(|tlv| {
            let mut value = BytesMut::new();
            if let Some(v) = tlv.value() {
                v.encode(&mut value);
            }
            (u16::from(tlv.tag()), value.to_vec())
        })
        .collect()
}

fn build(
    esm_class: u8,
    data_coding: u8,
    short_message: &[u8],
    tlvs: Vec<(u16, Vec<u8>)>,
) -> Option<Receipt> {
    if !is_receipt(esm_class) {
        return None;
    }
    let tlv = |tag: u16| {
        tlvs.iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_slice())
    };

    let body = match short_message {
        [] => tlv(TAG_MESSAGE_PAYLOAD).unwrap_or_default(),
        sm => sm,
    };
    let raw_text = decode_text(body, data_coding);
    let fields = parse_text(&raw_text);

    let tlv_id = tlv(TAG_RECEIPTED_MESSAGE_ID)
        .map(|v| {
            let until_nul = v.split(|&b| b == 0).next().unwrap_or_default();
            decode_text(until_nul, 0).trim().to_owned()
        })
        .filter(|id| !id.is_empty());
    let tlv_state = tlv(TAG_MESSAGE_STATE).and_then(|v| v.first().copied());
    let network_error = tlv(TAG_NETWORK_ERROR_CODE).and_then(|v| match v {
        [network_type, hi, lo, ..] => Some(NetworkError {
            network_type: *network_type,
            code: u16::from_be_bytes([*hi, *lo]),
        }),
        _ => None,
    });

    let text_state = fields.stat.as_deref().map(ReceiptState::from_stat_word);
    let (state, stat_word) = match tlv_state.and_then(ReceiptState::from_message_state) {
        Some(state) if text_state == Some(state) => (state, fields.stat.clone()),
        Some(state) => (state, Some(state.message_state_name().to_owned())),
        None => (
            text_state.unwrap_or(ReceiptState::Unrecognised),
            fields
                .stat
                .clone()
                .or_else(|| tlv_state.map(|n| n.to_string())),
        ),
    };

    Some(Receipt {
        message_id: tlv_id.or(fields.id),
        state,
        intermediate: is_intermediate(esm_class),
        stat_word,
        err: fields.err,
        network_error,
        sub: fields.sub,
        dlvrd: fields.dlvrd,
        submit_date: fields.submit_date,
        done_date: fields.done_date,
        text: fields.text,
        raw_text,
        tlvs,
    })
}

/// Receipt text is nearly always ASCII, but carriers send what they like: UTF-16 when they mark
/// UCS-2 and the bytes look like it, UTF-8 when valid, Latin-1 otherwise (never fails).
fn decode_text(bytes: &[u8], data_coding: u8) -> String {
    if data_coding == DATA_CODING_UCS2 && bytes.len().is_multiple_of(2) && bytes.contains(&0) {
        let units = bytes
            .chunks_exact(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]));
        return char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

#[derive(Clone, Copy)]
enum Key {
    Id,
    Sub,
    Dlvrd,
    SubmitDate,
    DoneDate,
    Stat,
    Err,
    Text,
}

/// The longest key with its separators (`submit date`) plus room for spaces before the colon.
const MAX_KEY_LEN: usize = 16;

/// Recognises a key at the start of `s`: letters, spaces or underscores up to a colon, compared
/// without case, spaces or underscores (`Submit_Date :` is `submit date:`). Returns the key and
/// the number of bytes up to and including the colon.
fn key_at(s: &str) -> Option<(Key, usize)> {
    let colon = s.bytes().take(MAX_KEY_LEN + 1).position(|b| b == b':')?;
    let name = &s.as_bytes()[..colon];
    if !name
        .iter()
        .all(|b| b.is_ascii_alphabetic() || *b == b' ' || *b == b'_')
    {
        return None;
    }
    let squeezed: String = name
        .iter()
        .filter(|b| b.is_ascii_alphabetic())
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect();
    let key = match squeezed.as_str() {
        "id" => Key::Id,
        "sub" => Key::Sub,
        "dlvrd" => Key::Dlvrd,
        "submitdate" => Key::SubmitDate,
        "donedate" => Key::DoneDate,
        "stat" => Key::Stat,
        "err" => Key::Err,
        "text" => Key::Text,
        _ => return None,
    };
    Some((key, colon + 1))
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || c == '\0'
}

/// Parses an Appendix B receipt text, tolerantly: keys in any case and order, some missing,
/// unknown words skipped. A value ends at whitespace, except `text:`, which runs to the end.
/// The first occurrence of a key wins. Never fails; an unreadable text gives empty fields.
pub fn parse_text(text: &str) -> TextFields {
    parse(text).0
}

/// The receipt text without the value of its `text:` field, which repeats the start of the
/// message: for messages whose text must not be kept. The value ends where [`parse_text`] ends
/// it, at the end of the receipt text; the key stays, so a reader sees there was one. `None`
/// when there is no `text:` field (nothing to remove).
pub fn redact_text_field(text: &str) -> Option<String> {
    let start = parse(text).1?;
    Some(text[..start].to_owned())
}

/// The fields, and where the value of `text:` starts (a byte offset), if there is one.
fn parse(text: &str) -> (TextFields, Option<usize>) {
    let mut fields = TextFields::default();
    let mut text_at = None;
    let mut pos = 0;
    loop {
        let rest = &text[pos..];
        let word = rest.trim_start_matches(is_separator);
        pos += rest.len() - word.len();
        if word.is_empty() {
            break;
        }
        let Some((key, key_len)) = key_at(word) else {
            pos += word.find(is_separator).unwrap_or(word.len());
            continue;
        };
        pos += key_len;
        let slot = match key {
            Key::Text => {
                fields.text = Some(text[pos..].trim_end_matches('\0').to_owned());
                text_at = Some(pos);
                break;
            }
            Key::Id => &mut fields.id,
            Key::Sub => &mut fields.sub,
            Key::Dlvrd => &mut fields.dlvrd,
            Key::SubmitDate => &mut fields.submit_date,
            Key::DoneDate => &mut fields.done_date,
            Key::Stat => &mut fields.stat,
            Key::Err => &mut fields.err,
        };
        let (value, consumed) = value_at(&text[pos..]);
        pos += consumed;
        if slot.is_none() {
            *slot = value.map(str::to_owned);
        }
    }
    (fields, text_at)
}

/// The value after a key's colon: up to the next whitespace. When the carrier put a space after
/// the colon (`id: 123`), the next word is the value unless it is itself a key.
fn value_at(s: &str) -> (Option<&str>, usize) {
    let end = s.find(is_separator).unwrap_or(s.len());
    if end > 0 {
        return (Some(&s[..end]), end);
    }
    let skipped = s.len() - s.trim_start_matches([' ', '\t']).len();
    let next = &s[skipped..];
    let next_end = next.find(is_separator).unwrap_or(next.len());
    if next_end == 0 || key_at(next).is_some() {
        return (None, skipped);
    }
    (Some(&next[..next_end]), skipped + next_end)
}

/// Writes receipt text in the Appendix B form, in the standard order; absent fields are left out.
pub fn format_text(f: &TextFields) -> String {
    let parts = [
        ("id", &f.id),
        ("sub", &f.sub),
        ("dlvrd", &f.dlvrd),
        ("submit date", &f.submit_date),
        ("done date", &f.done_date),
        ("stat", &f.stat),
        ("err", &f.err),
        ("text", &f.text),
    ];
    parts
        .iter()
        .filter_map(|(key, value)| value.as_deref().map(|v| format!("{key}:{v}")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
