//! `send_sms`: check the request, turn it into a [`NewMessage`], make it durable, answer
//! `OK <sms_unique_id>`.
//!
//! Only what makes the request unusable is answered with an error (missing or malformed
//! parameters, bad credentials, a store failure). A number that does not parse or that no route
//! serves (005), or a sender the account may not use (007), is a property of the message: it is
//! accepted and stored as Rejected with its `err` code, so the customer learns it the way the
//! status model says — through the callback and the status query (status-model §4). The rules
//! that need durable state (blacklist 008, duplicates 006, credit 004) are the store's, decided
//! in its transactions.
//!
//! `autoconvert` replaces characters outside GSM 03.38 before encoding (see
//! [`text::autoconvert`]); the segments, and so the price, follow the converted text. `mclass`
//! sets the message class bits of `data_coding`. A customer `udh` goes ahead of the message in
//! one segment (UDHI set); a message that does not fit one segment with it is refused.

use std::time::Duration;

use axum::extract::State;
use herald_smpp::text::{self, Autoconvert};

use super::{Answer, ApiDefaults, ApiState, BAD_PARAMETERS, Customer, Params, SERVER_FAILURE};
use crate::config::{MAX_VALIDITY_MINUTES, is_http_url};
use crate::domain::{ErrCode, MessageId, Report};
use crate::number::Destination;
use crate::routing::Routes;
use crate::sender;
use crate::store::{Account, CallbackFormat, Millis, NewMessage, NewSegment, Priority, TextStore};

pub(super) async fn send_sms(
    State(state): State<ApiState>,
    Customer { params, account }: Customer,
) -> Answer {
    let now = (state.clock)();
    let request = match SendRequest::parse(&params, &account, state.defaults, now) {
        Ok(request) => request,
        Err(problem) => {
            tracing::debug!(account = account.id, %problem, "send_sms refused");
            return BAD_PARAMETERS;
        }
    };
    let message = request.into_message(
        &account,
        &state.routes,
        MessageId::generate(),
        now,
        rand::random(),
    );
    match commit(&state, message).await {
        Ok(id) => Answer::Ok(id.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "accepting a message failed");
            SERVER_FAILURE
        }
    }
}

/// Makes an accepted message durable and wakes whoever has work because of it: the submitters
/// when it is to be sent, the callback worker when a rule already rejected it (its callback is
/// queued). Shared by every API that accepts messages.
pub(super) async fn commit(
    state: &ApiState,
    message: NewMessage,
) -> Result<MessageId, crate::store::StoreError> {
    let id = message.id.clone();
    let rejection = message.rejection;
    state.store.accept(message).await?;
    match rejection {
        Some(report) => {
            tracing::debug!(%id, err = %report.err, "message rejected at acceptance");
            state.callback_wake.notify_one();
        }
        None => {
            tracing::debug!(%id, "message accepted");
            // Every carrier has its own submitter, and any of them may be the one this message is
            // routed to.
            state.submit_wake.notify_waiters();
        }
    }
    Ok(id)
}

/// Why a request is unusable (logged, never shown: the client gets `ERROR 102`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParamProblem {
    #[error("missing parameter {0}")]
    Missing(&'static str),
    #[error("malformed parameter {0}")]
    Malformed(&'static str),
    #[error("give either text or data, not both")]
    TextAndData,
    #[error("the message needs more than {} segments", text::MAX_PARTS)]
    TooLong,
    #[error("with its own udh the message must fit one segment")]
    TooLongForUdh,
}

/// The `to` parameter as the customer wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum To {
    Number(Destination),
    /// Not a phone number: kept (shortened) for the customer's view, and rejected with err 005.
    Invalid(String),
}

impl To {
    pub fn parse(raw: &str) -> Self {
        match Destination::parse(raw) {
            Ok(number) => To::Number(number),
            Err(_) => To::Invalid(shortened(raw)),
        }
    }
}

/// What is kept of a value that is refused but shown back to the customer.
fn shortened(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace())
        .take(32)
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    /// Binary, sent with `data_coding` 4.
    Data(Vec<u8>),
}

/// A `send_sms` request with every parameter checked and defaulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub destination: To,
    pub content: Content,
    pub sender: String,
    pub dlr_url: Option<String>,
    pub not_before: Millis,
    pub validity_minutes: u32,
    pub autoconvert: Autoconvert,
    pub udh: Option<Vec<u8>>,
    pub mclass: Option<u8>,
    pub text_store: TextStore,
}

/// Whether the content can be sent: an empty text is missing, more than [`text::MAX_PARTS`]
/// segments too long, and with the customer's own `udh` it must fit one segment. What is
/// charged and checked is what is sent: the converted text.
pub fn check_fits(
    content: &Content,
    autoconvert: Autoconvert,
    udh: Option<&[u8]>,
) -> Result<(), ParamProblem> {
    match content {
        Content::Text(t) if t.is_empty() => return Err(ParamProblem::Missing("text")),
        Content::Text(t)
            if text::segment_count(&text::autoconvert(t, autoconvert)) > text::MAX_PARTS =>
        {
            return Err(ParamProblem::TooLong);
        }
        Content::Data(d) if text::binary_segment_count(d) > text::MAX_PARTS => {
            return Err(ParamProblem::TooLong);
        }
        _ => {}
    }
    if let Some(udh) = udh {
        let fits = match content {
            Content::Text(t) => {
                text::encode_with_udh(&text::autoconvert(t, autoconvert), udh).is_some()
            }
            Content::Data(d) => text::binary_with_udh(d, udh).is_some(),
        };
        if !fits {
            return Err(ParamProblem::TooLongForUdh);
        }
    }
    Ok(())
}

impl SendRequest {
    pub fn parse(
        params: &Params,
        account: &Account,
        defaults: ApiDefaults,
        now: Millis,
    ) -> Result<Self, ParamProblem> {
        use ParamProblem::{Malformed, Missing};

        let to = params.text("to").ok_or(Missing("to"))?;
        let content = match (params.bytes("text"), params.bytes("data")) {
            (Some(_), Some(_)) => return Err(ParamProblem::TextAndData),
            (Some(raw), None) => Content::Text(decode_charset(raw, params.text("charset"))?),
            (None, Some(raw)) if !raw.is_empty() => Content::Data(raw.to_vec()),
            _ => return Err(Missing("text")),
        };
        let autoconvert = match params.text("autoconvert") {
            None | Some("on") => Autoconvert::On,
            Some("full") => Autoconvert::Full,
            Some("off") => Autoconvert::Off,
            Some(_) => return Err(Malformed("autoconvert")),
        };
        let udh = match params.text("udh") {
            None => None,
            Some(hex) => Some(parse_udh(hex).ok_or(Malformed("udh"))?),
        };
        check_fits(&content, autoconvert, udh.as_deref())?;

        if params.is_malformed_text("from") {
            return Err(Malformed("from"));
        }
        let sender = params
            .text("from")
            .or_else(|| account.record.senders.first().map(String::as_str))
            .ok_or(Missing("from"))?;

        let dlr_url = match params.text("dlr-url") {
            Some(url) if is_http_url(url) => Some(url.to_owned()),
            Some(_) => return Err(Malformed("dlr-url")),
            None if params.is_malformed_text("dlr-url") => return Err(Malformed("dlr-url")),
            None => account.record.dlr_url.clone().filter(|u| !u.is_empty()),
        };

        let not_before = match params.text("time_to_send") {
            None => now,
            Some(s) => {
                let secs: i64 = s.parse().map_err(|_| Malformed("time_to_send"))?;
                secs.checked_mul(1000)
                    .ok_or(Malformed("time_to_send"))?
                    .max(now)
            }
        };

        let validity_minutes = match params.text("validity") {
            None => defaults.validity_minutes,
            Some(s) => match s.parse::<u64>() {
                Ok(0) | Err(_) => return Err(Malformed("validity")),
                // Longer than the network keeps a message anyway: cap rather than refuse.
                Ok(m) => m.min(MAX_VALIDITY_MINUTES as u64) as u32,
            },
        };

        let mclass = match params.text("mclass") {
            None => None,
            Some(s) => match s.parse::<u8>() {
                Ok(c @ 0..=3) => Some(c),
                _ => return Err(Malformed("mclass")),
            },
        };

        let text_store = match params.text("text-store") {
            None | Some("plaintext") => TextStore::Plaintext,
            Some("sha256") => TextStore::Sha256,
            Some("nostore") => TextStore::Nostore,
            Some(_) => return Err(Malformed("text-store")),
        };

        Ok(Self {
            destination: To::parse(to),
            content,
            sender: sender.to_owned(),
            dlr_url,
            not_before,
            validity_minutes,
            autoconvert,
            udh,
            mclass,
            text_store,
        })
    }

    /// The message to store: routed, encoded into segments, and already Rejected when a rule
    /// refuses it. `concat_ref` ties the segments together on the handset.
    pub fn into_message(
        self,
        account: &Account,
        routes: &Routes,
        id: MessageId,
        now: Millis,
        concat_ref: u8,
    ) -> NewMessage {
        let route = match &self.destination {
            To::Number(number) => routes.route(number.digits()),
            To::Invalid(_) => None,
        };
        let rejection = if route.is_none() {
            // A number that does not parse and an unserved one share err 005 (status-model §2).
            Some(Report::rejected_by_rule(ErrCode::NO_ROUTE))
        } else if !sender::is_allowed(&account.record.senders, &self.sender) {
            Some(Report::rejected_by_rule(ErrCode::SENDER_NOT_ALLOWED))
        } else {
            None
        };
        // A refused sender can be any length; what is kept of it is only for the customer's view.
        let sender = if sender::is_well_formed(&self.sender) {
            self.sender
        } else {
            shortened(&self.sender)
        };
        let route = route.filter(|_| rejection.is_none());

        // A customer header was checked to fit one segment when the request was parsed.
        let own_header = self.udh.as_deref().and_then(|udh| match &self.content {
            Content::Text(t) => text::encode_with_udh(&text::autoconvert(t, self.autoconvert), udh)
                .map(|e| (e.data_coding, e.esm_class, e.parts)),
            Content::Data(d) => text::binary_with_udh(d, udh)
                .map(|part| (text::DATA_CODING_BINARY, text::ESM_CLASS_UDHI, vec![part])),
        });
        let (data_coding, esm_class, parts) = match (own_header, &self.content) {
            (Some(own), _) => own,
            (None, Content::Text(t)) => {
                // The carrier gets the converted text; the store keeps what the customer wrote.
                let e = text::encode(&text::autoconvert(t, self.autoconvert), concat_ref);
                (e.data_coding, e.esm_class, e.parts)
            }
            (None, Content::Data(d)) => {
                let parts = text::encode_binary(d, concat_ref);
                let esm = if parts.len() > 1 {
                    text::ESM_CLASS_UDHI
                } else {
                    0
                };
                (text::DATA_CODING_BINARY, esm, parts)
            }
        };
        // The class bits exist for every alphabet Herald sends in, so this always applies.
        let data_coding = self
            .mclass
            .and_then(|class| text::with_message_class(data_coding, class))
            .unwrap_or(data_coding);
        let segments = parts
            .into_iter()
            .enumerate()
            .map(|(seq, payload)| NewSegment {
                seq: seq as u32,
                data_coding,
                esm_class,
                payload,
            })
            .collect();
        let text = match &self.content {
            Content::Text(t) => self.text_store.kept(t),
            Content::Data(_) => None,
        };
        let destination = match self.destination {
            To::Number(number) => number.digits().to_owned(),
            To::Invalid(raw) => raw,
        };

        NewMessage {
            id,
            account_id: account.id,
            destination,
            sender,
            text,
            text_store: self.text_store,
            dlr_url: self.dlr_url,
            callback_format: CallbackFormat::Query,
            omnimessage_id: None,
            carrier: route.map(|r| r.carrier.clone()),
            price: route.map(|r| r.price.clone()),
            validity: Duration::from_secs(u64::from(self.validity_minutes) * 60),
            not_before: self.not_before,
            segments,
            rejection,
            accepted_at: now,
            priority: Priority::Regular,
        }
    }
}

/// The text in the client's `charset` (UTF-8 unless it names Latin-1).
fn decode_charset(raw: &[u8], charset: Option<&str>) -> Result<String, ParamProblem> {
    match charset.map(str::to_ascii_lowercase).as_deref() {
        None | Some("utf-8" | "utf8") => {
            String::from_utf8(raw.to_vec()).map_err(|_| ParamProblem::Malformed("text"))
        }
        Some("iso-8859-1" | "latin1" | "latin-1") => Ok(raw.iter().map(|&b| b as char).collect()),
        Some(_) => Err(ParamProblem::Malformed("charset")),
    }
}

/// Hex octets of a user data header whose length octet matches.
pub(crate) fn parse_udh(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || hex.len() > 280 {
        return None;
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    (bytes.first().map(|&l| l as usize + 1) == Some(bytes.len())).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Status;
    use crate::routing::Route;
    use crate::store::AccountRecord;

    const NOW: Millis = 1_800_000_000_000;

    fn account() -> Account {
        Account {
            id: 7,
            record: AccountRecord {
                username: "demo".into(),
                password_hash: String::new(),
                balance: "10.00".into(),
                senders: vec!["Herald".into(), "Shop".into()],
                dlr_url: Some("https://example.com/dlr".into()),
            },
        }
    }

    fn parse(query: &str) -> Result<SendRequest, ParamProblem> {
        SendRequest::parse(
            &Params::merge(Some(query), None),
            &account(),
            ApiDefaults::default(),
            NOW,
        )
    }

    fn routes() -> Routes {
        Routes::new(vec![Route {
            prefix: "372".into(),
            carrier: "sim".into(),
            price: "0.05".into(),
        }])
    }

    fn message(query: &str) -> NewMessage {
        parse(query)
            .unwrap()
            .into_message(&account(), &routes(), MessageId::generate(), NOW, 0x11)
    }

    #[test]
    fn the_plain_text_api_asks_for_query_string_callbacks() {
        let m = message("to=37255500000&text=hi&dlr-url=https%3A%2F%2Fexample.com%2Fdlr");
        assert_eq!(m.callback_format, CallbackFormat::Query);
        assert_eq!(m.omnimessage_id, None);
    }

    #[test]
    fn a_number_is_parsed_and_anything_else_is_kept_shortened_for_the_customer() {
        let To::Number(number) = To::parse("+372 5555 5555") else {
            panic!("a number")
        };
        assert_eq!(number.digits(), "37255555555");
        assert_eq!(To::parse("+372-5555"), To::Invalid("+372-5555".into()));
        assert_eq!(To::parse(&"9".repeat(40)), To::Invalid("9".repeat(32)));
    }

    #[test]
    fn missing_to_or_text_is_a_parameter_error() {
        assert_eq!(parse("text=hi"), Err(ParamProblem::Missing("to")));
        assert_eq!(parse("to=372555"), Err(ParamProblem::Missing("text")));
        assert_eq!(parse("to=372555&text="), Err(ParamProblem::Missing("text")));
        assert_eq!(
            parse("to=372555&text=a&data=b"),
            Err(ParamProblem::TextAndData)
        );
    }

    #[test]
    fn account_defaults_fill_in_sender_and_dlr_url() {
        let r = parse("to=372555&text=hi").unwrap();
        assert_eq!(r.sender, "Herald");
        assert_eq!(r.dlr_url.as_deref(), Some("https://example.com/dlr"));
        assert_eq!(r.validity_minutes, 360);
        assert_eq!(r.not_before, NOW);
        let r =
            parse("to=372555&text=hi&from=Shop&dlr-url=http%3A%2F%2Fx.test%2Fcb%3Fa%3D1").unwrap();
        assert_eq!(r.sender, "Shop");
        assert_eq!(r.dlr_url.as_deref(), Some("http://x.test/cb?a=1"));
    }

    #[test]
    fn malformed_optional_parameters_are_parameter_errors() {
        for bad in [
            "dlr-url=ftp%3A%2F%2Fx",
            "time_to_send=tomorrow",
            "validity=0",
            "validity=-5",
            "autoconvert=maybe",
            "udh=0500030A0201ZZ",
            "udh=050003",
            "mclass=4",
            "text-store=cloud",
            "charset=koi8-r",
        ] {
            assert!(parse(&format!("to=372555&text=hi&{bad}")).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_to_send_in_the_past_means_now_and_in_the_future_schedules() {
        assert_eq!(parse("to=1&text=a&time_to_send=1").unwrap().not_before, NOW);
        let later = NOW / 1000 + 3600;
        let r = parse(&format!("to=1&text=a&time_to_send={later}")).unwrap();
        assert_eq!(r.not_before, later * 1000);
    }

    #[test]
    fn validity_above_three_days_is_capped() {
        assert_eq!(
            parse("to=1&text=a&validity=10").unwrap().validity_minutes,
            10
        );
        assert_eq!(
            parse("to=1&text=a&validity=99999")
                .unwrap()
                .validity_minutes,
            4320
        );
    }

    #[test]
    fn optional_parameters_are_accepted_when_well_formed() {
        let r = parse("to=1&text=a&autoconvert=off&udh=0500030A0201&mclass=0&text-store=nostore")
            .unwrap();
        assert_eq!(r.autoconvert, Autoconvert::Off);
        assert_eq!(r.udh, Some(vec![5, 0, 3, 0x0A, 2, 1]));
        assert_eq!(r.mclass, Some(0));
        assert_eq!(r.text_store, TextStore::Nostore);
    }

    #[test]
    fn latin1_text_is_decoded_when_the_charset_says_so() {
        let r = parse("to=1&text=%F5&charset=ISO-8859-1").unwrap();
        assert_eq!(r.content, Content::Text("õ".into()));
        assert_eq!(parse("to=1&text=%F5"), Err(ParamProblem::Malformed("text")));
    }

    #[test]
    fn a_routed_message_carries_carrier_price_and_segments() {
        let m = message("to=%2B37255555555&text=hello");
        assert_eq!(m.destination, "37255555555");
        assert_eq!(m.carrier.as_deref(), Some("sim"));
        assert_eq!(m.price.as_deref(), Some("0.05"));
        assert_eq!(m.rejection, None);
        assert_eq!(m.account_id, 7);
        assert_eq!(m.validity, Duration::from_secs(360 * 60));
        assert_eq!(m.text.as_deref(), Some("hello"));
        assert_eq!(
            m.segments,
            vec![NewSegment {
                seq: 0,
                data_coding: 0,
                esm_class: 0,
                payload: b"hello".to_vec()
            }]
        );
    }

    #[test]
    fn a_long_text_becomes_concatenated_segments() {
        let m = message(&format!("to=372555&text={}", "a".repeat(200)));
        assert_eq!(m.segments.len(), 2);
        assert!(m.segments.iter().all(|s| s.esm_class == 0x40));
        assert_eq!(&m.segments[1].payload[..6], &[5, 0, 3, 0x11, 2, 2]);
        assert_eq!(m.segments[1].seq, 1);
    }

    #[test]
    fn binary_data_is_sent_with_data_coding_4() {
        let m = message("to=372555&data=%00%FF");
        assert_eq!(m.segments[0].data_coding, 4);
        assert_eq!(m.segments[0].payload, vec![0x00, 0xFF]);
        assert_eq!(m.text, None);
    }

    #[test]
    fn an_impossible_number_is_rejected_with_err_005() {
        for to in ["hello", "%2B3725", "%2B999123456"] {
            let m = message(&format!("to={to}&text=hi"));
            let r = m.rejection.unwrap();
            assert_eq!((r.status, r.err), (Status::Rejected, ErrCode::NO_ROUTE));
            assert_eq!(m.carrier, None);
        }
        assert_eq!(message("to=hello&text=hi").destination, "hello");
    }

    #[test]
    fn a_number_no_route_serves_is_rejected_with_err_005() {
        let m = message("to=4915112345&text=hi");
        assert_eq!(m.rejection.unwrap().err, ErrCode::NO_ROUTE);
        assert_eq!((m.carrier, m.price), (None, None));
    }

    #[test]
    fn a_sender_outside_the_account_list_is_rejected_with_err_007() {
        let m = message("to=37255500000&text=hi&from=Bank");
        assert_eq!(m.rejection.unwrap().err, ErrCode::SENDER_NOT_ALLOWED);
        let long = "ABCDEFGHIJKLMNOPQRSTUVWXYZ".repeat(2);
        let m = message(&format!("to=37255500000&text=hi&from={long}"));
        assert_eq!(m.rejection.unwrap().err, ErrCode::SENDER_NOT_ALLOWED);
        assert_eq!(m.sender.len(), 32, "kept shortened");
    }

    #[test]
    fn an_account_without_a_sender_list_may_use_any_well_formed_sender() {
        let mut anyone = account();
        anyone.record.senders.clear();
        let send = |from: &str| {
            parse(&format!("to=37255500000&text=hi&from={from}"))
                .unwrap()
                .into_message(&anyone, &routes(), MessageId::generate(), NOW, 1)
        };
        assert_eq!(send("Bank").rejection, None);
        assert_eq!(send("%2B37255500001").rejection, None);
        let err = send("Far%20Too%20Long%20Name").rejection.unwrap().err;
        assert_eq!(err, ErrCode::SENDER_NOT_ALLOWED);
    }

    #[test]
    fn text_store_keeps_the_text_its_sha256_or_nothing_but_sends_it_always() {
        let plain = message("to=372555&text=abc");
        assert_eq!(
            (plain.text.as_deref(), plain.text_store),
            (Some("abc"), TextStore::Plaintext)
        );
        let hashed = message("to=372555&text=abc&text-store=sha256");
        assert_eq!(
            hashed.text.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(hashed.text_store, TextStore::Sha256);
        let dropped = message("to=372555&text=abc&text-store=nostore");
        assert_eq!(
            (dropped.text, dropped.text_store),
            (None, TextStore::Nostore)
        );
        // The text is still what goes to the carrier.
        assert_eq!(dropped.segments[0].payload, b"abc".to_vec());
        assert_eq!(hashed.segments[0].payload, b"abc".to_vec());
    }

    #[test]
    fn autoconvert_decides_the_segments_and_keeps_the_customers_text() {
        let quoted = format!("{}\u{2019}", "a".repeat(150));
        let query = |mode: &str| {
            format!(
                "to=372555&text={}&autoconvert={mode}",
                quoted.replace('\u{2019}', "%E2%80%99")
            )
        };
        let on = message(&format!(
            "to=372555&text={}",
            quoted.replace('\u{2019}', "%E2%80%99")
        ));
        assert_eq!(on.segments.len(), 1);
        assert_eq!(on.segments[0].data_coding, 0);
        assert_eq!(on.segments[0].payload.last(), Some(&b'\''));
        assert_eq!(on.text.as_deref(), Some(quoted.as_str()));
        let off = message(&query("off"));
        assert_eq!((off.segments.len(), off.segments[0].data_coding), (3, 8));
        let full = message("to=372555&text=Gy%C5%91r&autoconvert=full");
        assert_eq!(full.segments[0].payload, b"Gyor".to_vec());
        let on = message("to=372555&text=Gy%C5%91r");
        assert_eq!(on.segments[0].data_coding, 8);
    }

    #[test]
    fn mclass_sets_the_message_class_in_data_coding() {
        let flash = message("to=372555&text=hi&mclass=0");
        assert_eq!(flash.segments[0].data_coding, 0xF0);
        let sim = message("to=372555&text=%D0%96&mclass=2");
        assert_eq!(sim.segments[0].data_coding, 0x1A);
        let binary = message("to=372555&data=%01%02&mclass=1");
        assert_eq!(binary.segments[0].data_coding, 0xF5);
        assert_eq!(message("to=372555&text=hi").segments[0].data_coding, 0);
    }

    #[test]
    fn a_customer_udh_goes_ahead_of_the_message_in_one_segment() {
        let m = message("to=372555&text=hi&udh=0605040B8423F0");
        assert_eq!(m.segments.len(), 1);
        assert_eq!(m.segments[0].esm_class, 0x40);
        assert_eq!(
            m.segments[0].payload,
            vec![0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, b'h', b'i']
        );
        let bin = message("to=372555&data=%01%02&udh=0605040B8423F0");
        assert_eq!(bin.segments[0].data_coding, 4);
        assert_eq!(bin.segments[0].payload.len(), 9);
        let long = format!("to=372555&text={}&udh=0605040B8423F0", "a".repeat(153));
        assert_eq!(parse(&long), Err(ParamProblem::TooLongForUdh));
    }
}
