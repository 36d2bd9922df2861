use super::*;
use proptest::prelude::*;
use rusmpp::decode::DecodeWithLength;
use rusmpp::tlvs::TlvTag;
use rusmpp::tlvs::{
    MessageDeliveryRequestTlvValue as DeliveryTlv, MessageSubmissionRequestTlvValue,
};
use rusmpp::types::{AnyOctetString, COctetString, OctetString};
use rusmpp::values::{
    DataCoding, ErrorCodeNetworkType, EsmClass, MessagePayload, MessageState, NetworkErrorCode,
};
use std::str::FromStr;

const STANDARD: &str = "id:1715004 sub:001 dlvrd:001 submit date:2301011200 done date:2301011201 stat:DELIVRD err:000 text:Hello from Herald";

fn deliver_sm(esm_class: u8, short_message: &[u8], tlvs: Vec<DeliveryTlv>) -> DeliverSm {
    DeliverSm::builder()
        .source_addr(COctetString::from_str("447700900123").unwrap())
        .destination_addr(COctetString::from_str("HERALD").unwrap())
        .esm_class(EsmClass::from(esm_class))
        .short_message(OctetString::from_slice(short_message).unwrap())
        .tlvs(tlvs)
        .build()
}

fn receipted_id(id: &str) -> DeliveryTlv {
    DeliveryTlv::ReceiptedMessageId(COctetString::from_str(id).unwrap())
}

fn encode(pdu: &DeliverSm) -> Vec<u8> {
    let mut buf = BytesMut::new();
    pdu.encode(&mut buf);
    buf.to_vec()
}

/// A deliver_sm body written by hand, as a carrier that rusmpp refuses might send it.
fn raw_body(esm_class: u8, source: &[u8], short_message: &[u8], tlvs: &[u8]) -> Vec<u8> {
    let mut body = vec![0]; // service_type ""
    body.extend([1, 1]);
    body.extend(source);
    body.push(0);
    body.extend([5, 0]);
    body.extend(b"HERALD\0");
    body.extend([esm_class, 0, 0, 0, 0, 0, 0, 0, 0]); // esm … sm_default_msg_id (empty times)
    body.push(short_message.len() as u8);
    body.extend(short_message);
    body.extend(tlvs);
    body
}

#[test]
fn receipt_types_are_read_through_the_message_type_mask() {
    assert!(is_receipt(0x04));
    assert!(is_receipt(0x44));
    assert!(is_receipt(0x20));
    assert!(is_receipt(0x07));
    assert!(!is_receipt(0x00));
    assert!(!is_receipt(0x40));
    assert!(!is_receipt(0x08));
    assert!(!is_receipt(0x24));
    assert!(is_intermediate(0x20));
    assert!(is_intermediate(0x60));
    assert!(!is_intermediate(0x04));
}

#[test]
fn standard_text_is_read_field_by_field() {
    let f = parse_text(STANDARD);
    assert_eq!(f.id.as_deref(), Some("1715004"));
    assert_eq!(f.sub.as_deref(), Some("001"));
    assert_eq!(f.dlvrd.as_deref(), Some("001"));
    assert_eq!(f.submit_date.as_deref(), Some("2301011200"));
    assert_eq!(f.done_date.as_deref(), Some("2301011201"));
    assert_eq!(f.stat.as_deref(), Some("DELIVRD"));
    assert_eq!(f.err.as_deref(), Some("000"));
    assert_eq!(f.text.as_deref(), Some("Hello from Herald"));
}

#[test]
fn keys_are_read_in_any_case_and_any_order_with_some_missing() {
    let f = parse_text("STAT:UNDELIV Err:012 ID:abc123 Done Date:230101120159 Text:hi");
    assert_eq!(f.id.as_deref(), Some("abc123"));
    assert_eq!(f.stat.as_deref(), Some("UNDELIV"));
    assert_eq!(f.err.as_deref(), Some("012"));
    assert_eq!(f.done_date.as_deref(), Some("230101120159"));
    assert_eq!(f.text.as_deref(), Some("hi"));
    assert_eq!((f.sub, f.dlvrd, f.submit_date), (None, None, None));
}

#[test]
fn ids_of_any_alphabet_and_length_end_at_whitespace() {
    for id in [
        "0",
        "1A2B3C",
        "6f1c0f8e-3b1d-4b7a-9e53-0c1d2e3f4a5b",
        "a:b/c_d",
        "12345678901234567890123456789012345678901234567890123456789012345",
    ] {
        let f = parse_text(&format!("id:{id} sub:001 stat:DELIVRD"));
        assert_eq!(f.id.as_deref(), Some(id));
    }
}

#[test]
fn dates_of_ten_twelve_and_fourteen_digits_are_kept_as_received() {
    for date in ["2301011200", "230101120059", "20230101120059"] {
        let f = parse_text(&format!(
            "id:1 submit date:{date} done date:{date} stat:EXPIRED"
        ));
        assert_eq!(f.submit_date.as_deref(), Some(date));
        assert_eq!(f.done_date.as_deref(), Some(date));
    }
}

#[test]
fn underscored_and_squeezed_date_keys_are_accepted() {
    let f = parse_text("id:9 submit_date:2301011200 donedate:2301011201 stat:DELIVRD");
    assert_eq!(f.submit_date.as_deref(), Some("2301011200"));
    assert_eq!(f.done_date.as_deref(), Some("2301011201"));
}

#[test]
fn non_numeric_err_is_kept_verbatim() {
    let f = parse_text("id:77 stat:UNDELIV err:ABSENT_SUBSCRIBER");
    assert_eq!(f.err.as_deref(), Some("ABSENT_SUBSCRIBER"));
}

#[test]
fn redacting_removes_the_text_value_and_keeps_every_other_field() {
    let raw = "id:7 sub:001 dlvrd:001 submit date:2311142213 done date:2311142214 \
               stat:DELIVRD err:000 Text:Your code is 123456";
    let redacted = redact_text_field(raw).unwrap();
    assert!(redacted.ends_with("err:000 Text:"), "{redacted}");
    let (before, after) = (parse_text(raw), parse_text(&redacted));
    assert_eq!(after.text.as_deref(), Some(""));
    assert_eq!(
        TextFields {
            text: None,
            ..after
        },
        TextFields {
            text: None,
            ..before
        }
    );
    // The value runs to the end, as the parser reads it, whatever it looks like.
    assert_eq!(
        redact_text_field("text:stat:DELIVRD id:9 stat:UNDELIV").as_deref(),
        Some("text:")
    );
    assert_eq!(redact_text_field("id:7 stat:DELIVRD err:000"), None);
    // A word that only ends in "text:" is not the key.
    assert_eq!(redact_text_field("id:7 context:x"), None);
}

#[test]
fn text_runs_to_the_end_even_when_it_looks_like_fields() {
    let f = parse_text("id:1 stat:UNDELIV text:your code is stat:DELIVRD id:2 ok");
    assert_eq!(f.id.as_deref(), Some("1"));
    assert_eq!(f.stat.as_deref(), Some("UNDELIV"));
    assert_eq!(f.text.as_deref(), Some("your code is stat:DELIVRD id:2 ok"));
}

#[test]
fn a_space_after_the_colon_does_not_lose_the_value() {
    let f = parse_text("id: 42 sub: dlvrd:1 stat : DELIVRD");
    assert_eq!(f.id.as_deref(), Some("42"));
    assert_eq!(f.sub, None);
    assert_eq!(f.dlvrd.as_deref(), Some("1"));
    assert_eq!(f.stat.as_deref(), Some("DELIVRD"));
}

#[test]
fn the_first_occurrence_of_a_key_wins() {
    let f = parse_text("id:1 id:2 stat:DELIVRD stat:UNDELIV");
    assert_eq!(f.id.as_deref(), Some("1"));
    assert_eq!(f.stat.as_deref(), Some("DELIVRD"));
}

#[test]
fn words_that_are_not_keys_are_skipped() {
    let f = parse_text("Receipt for id:5 -> status stat:DELIVRD (final) err:0 identity:x");
    assert_eq!(f.id.as_deref(), Some("5"));
    assert_eq!(f.stat.as_deref(), Some("DELIVRD"));
    assert_eq!(f.err.as_deref(), Some("0"));
}

#[test]
fn stat_synonyms_map_to_states_and_anything_else_is_unrecognised() {
    use ReceiptState::*;
    let cases = [
        ("DELIVRD", Delivered),
        ("delivered", Delivered),
        ("UNDELIV", Undeliverable),
        ("UNDELIVERABLE", Undeliverable),
        ("EXPIRED", Expired),
        ("DELETED", Deleted),
        ("REJECTD", Rejected),
        ("REJECTED", Rejected),
        ("ACCEPTD", Accepted),
        ("ACCEPTED", Accepted),
        ("ENROUTE", Enroute),
        ("UNKNOWN", Unknown),
        ("SKIPPED", Skipped),
        ("SCHEDULED", Scheduled),
        ("FAILED", Unrecognised),
        ("DELIVRD2", Unrecognised),
        ("", Unrecognised),
    ];
    for (word, state) in cases {
        assert_eq!(ReceiptState::from_stat_word(word), state, "{word}");
    }
}

#[test]
fn message_state_values_round_trip() {
    for n in 0..=9 {
        let state = ReceiptState::from_message_state(n).unwrap();
        assert_eq!(state.message_state(), Some(n));
        assert_eq!(ReceiptState::from_stat_word(state.stat_word()), state);
    }
    assert_eq!(ReceiptState::from_message_state(10), None);
}

#[test]
fn formatted_text_is_the_appendix_b_form() {
    let f = parse_text(STANDARD);
    assert_eq!(format_text(&f), STANDARD);
}

#[test]
fn text_only_receipt_is_read_from_its_short_message() {
    let r = from_deliver_sm(&deliver_sm(0x04, STANDARD.as_bytes(), vec![])).unwrap();
    assert_eq!(r.message_id.as_deref(), Some("1715004"));
    assert_eq!(r.state, ReceiptState::Delivered);
    assert_eq!(r.stat_word.as_deref(), Some("DELIVRD"));
    assert_eq!(r.err.as_deref(), Some("000"));
    assert!(!r.intermediate);
    assert_eq!(r.raw_text, STANDARD);
    assert!(r.tlvs.is_empty());
}

#[test]
fn tlvs_are_preferred_over_the_text() {
    let pdu = deliver_sm(
        0x44,
        STANDARD.as_bytes(),
        vec![
            receipted_id("1A2B3D"),
            DeliveryTlv::MessageState(MessageState::Undeliverable),
        ],
    );
    let r = from_deliver_sm(&pdu).unwrap();
    assert_eq!(r.message_id.as_deref(), Some("1A2B3D"));
    assert_eq!(r.state, ReceiptState::Undeliverable);
    // The text said DELIVRD: the word shown is the TLV's, so it cannot contradict the state.
    assert_eq!(r.stat_word.as_deref(), Some("UNDELIVERABLE"));
    assert_eq!(r.tlvs[0], (0x001E, b"1A2B3D\0".to_vec()));
    assert_eq!(r.tlvs[1], (0x0427, vec![5]));
}

#[test]
fn proprietary_text_is_kept_and_only_the_tlvs_are_understood() {
    let text = "Votre message a ete remis";
    let pdu = deliver_sm(
        0x04,
        text.as_bytes(),
        vec![
            receipted_id("6f1c0f8e-3b1d-4b7a-9e53-0c1d2e3f4a5b"),
            DeliveryTlv::MessageState(MessageState::Delivered),
            DeliveryTlv::NetworkErrorCode(NetworkErrorCode::new(ErrorCodeNetworkType::Gsm, 0x0102)),
        ],
    );
    let r = from_deliver_sm(&pdu).unwrap();
    assert_eq!(
        r.message_id.as_deref(),
        Some("6f1c0f8e-3b1d-4b7a-9e53-0c1d2e3f4a5b")
    );
    assert_eq!(r.state, ReceiptState::Delivered);
    assert_eq!(r.stat_word.as_deref(), Some("DELIVERED"));
    assert_eq!(
        r.network_error,
        Some(NetworkError {
            network_type: 3,
            code: 0x0102
        })
    );
    assert_eq!(r.raw_text, text);
    assert_eq!(r.text, None);
}

#[test]
fn unknown_stat_word_is_unrecognised_but_kept() {
    let r = from_deliver_sm(&deliver_sm(0x04, b"id:9 stat:FAILED err:X1", vec![])).unwrap();
    assert_eq!(r.state, ReceiptState::Unrecognised);
    assert_eq!(r.stat_word.as_deref(), Some("FAILED"));
    assert_eq!(r.err.as_deref(), Some("X1"));
}

#[test]
fn unknown_message_state_falls_back_to_the_text() {
    let pdu = deliver_sm(
        0x04,
        b"id:9 stat:EXPIRED",
        vec![DeliveryTlv::MessageState(MessageState::Other(42))],
    );
    let r = from_deliver_sm(&pdu).unwrap();
    assert_eq!(r.state, ReceiptState::Expired);
    let pdu = deliver_sm(
        0x04,
        b"no words here",
        vec![DeliveryTlv::MessageState(MessageState::Other(42))],
    );
    let r = from_deliver_sm(&pdu).unwrap();
    assert_eq!(r.state, ReceiptState::Unrecognised);
    assert_eq!(r.stat_word.as_deref(), Some("42"));
}

#[test]
fn message_payload_carries_the_text_when_short_message_is_empty() {
    let payload = MessagePayload::new(AnyOctetString::from_slice(STANDARD.as_bytes()));
    let r = from_deliver_sm(&deliver_sm(
        0x04,
        b"",
        vec![DeliveryTlv::MessagePayload(payload)],
    ))
    .unwrap();
    assert_eq!(r.raw_text, STANDARD);
    assert_eq!(r.message_id.as_deref(), Some("1715004"));
}

#[test]
fn an_ordinary_inbound_message_is_not_a_receipt() {
    assert_eq!(
        from_deliver_sm(&deliver_sm(0x00, STANDARD.as_bytes(), vec![])),
        None
    );
    assert_eq!(
        from_deliver_sm(&deliver_sm(0x40, STANDARD.as_bytes(), vec![])),
        None
    );
}

#[test]
fn intermediate_notification_is_flagged() {
    let r = from_deliver_sm(&deliver_sm(0x20, b"id:5 stat:ENROUTE", vec![])).unwrap();
    assert!(r.intermediate);
    assert_eq!(r.state, ReceiptState::Enroute);
}

#[test]
fn ucs2_receipt_text_is_decoded() {
    let utf16: Vec<u8> = "id:7 stat:DELIVRD"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    let mut pdu = deliver_sm(0x04, &utf16, vec![]);
    pdu.data_coding = DataCoding::Ucs2;
    let r = from_deliver_sm(&pdu).unwrap();
    assert_eq!(r.message_id.as_deref(), Some("7"));
    assert_eq!(r.state, ReceiptState::Delivered);
}

#[test]
fn latin1_receipt_text_is_decoded_without_loss() {
    let r = from_deliver_sm(&deliver_sm(0x04, b"id:8 stat:DELIVRD text:caf\xe9", vec![])).unwrap();
    assert_eq!(r.text.as_deref(), Some("café"));
}

#[test]
fn data_sm_receipt_is_read_from_its_tlvs() {
    let pdu = DataSm::builder()
        .source_addr(COctetString::from_str("447700900123").unwrap())
        .destination_addr(COctetString::from_str("HERALD").unwrap())
        .esm_class(EsmClass::from(0x04))
        .tlvs(vec![
            MessageSubmissionRequestTlvValue::Other {
                tag: TlvTag::ReceiptedMessageId,
                value: AnyOctetString::from_slice(b"ff00\0"),
            },
            MessageSubmissionRequestTlvValue::Other {
                tag: TlvTag::MessageState,
                value: AnyOctetString::from_slice(&[3]),
            },
        ])
        .build();
    let r = from_data_sm(&pdu).unwrap();
    assert_eq!(r.message_id.as_deref(), Some("ff00"));
    assert_eq!(r.state, ReceiptState::Expired);
    assert_eq!(r.raw_text, "");
}

#[test]
fn raw_scan_reads_a_receipted_message_id_without_its_nul() {
    let mut tlvs = vec![0x00, 0x1E, 0x00, 0x06];
    tlvs.extend(b"1A2B3C");
    tlvs.extend([0x04, 0x27, 0x00, 0x01, 0x02]);
    let body = raw_body(0x04, b"447700900123", b"stat:DELIVRD", &tlvs);
    let len = body.len();
    assert!(
        DeliverSm::decode(&mut BytesMut::from(&body[..]), len).is_err(),
        "rusmpp should refuse it"
    );

    let r = scan_raw_deliver_sm(&body).unwrap();
    assert_eq!(r.message_id.as_deref(), Some("1A2B3C"));
    assert_eq!(r.state, ReceiptState::Delivered);
    assert_eq!(r.tlvs.len(), 2);
}

#[test]
fn raw_scan_reads_a_receipt_with_non_ascii_addresses() {
    let body = raw_body(0x04, "Hérald".as_bytes(), STANDARD.as_bytes(), &[]);
    let r = scan_raw_deliver_sm(&body).unwrap();
    assert_eq!(r.message_id.as_deref(), Some("1715004"));
    assert_eq!(r.state, ReceiptState::Delivered);
}

#[test]
fn raw_scan_keeps_a_truncated_last_tlv_and_drops_stray_bytes() {
    let tlvs = [
        0x04, 0x27, 0x00, 0x01, 0x05, 0x00, 0x1E, 0x00, 0x10, b'9', b'9', 0x00,
    ];
    let r = scan_raw_deliver_sm(&raw_body(0x04, b"1", b"", &tlvs)).unwrap();
    assert_eq!(r.state, ReceiptState::Undeliverable);
    assert_eq!(r.message_id.as_deref(), Some("99"));
    let r = scan_raw_deliver_sm(&raw_body(0x04, b"1", b"id:3", &[0x04, 0x27, 0x00])).unwrap();
    assert!(r.tlvs.is_empty());
}

#[test]
fn raw_scan_gives_up_on_a_cut_body_or_a_non_receipt() {
    let body = raw_body(0x04, b"447700900123", STANDARD.as_bytes(), &[]);
    assert!(scan_raw_deliver_sm(&body[..body.len() - 1]).is_none());
    assert!(scan_raw_deliver_sm(&body[..10]).is_none());
    assert!(scan_raw_deliver_sm(&[]).is_none());
    assert!(scan_raw_deliver_sm(&raw_body(0x00, b"1", STANDARD.as_bytes(), &[])).is_none());
}

#[test]
fn raw_scan_of_a_data_sm_body_reads_its_tlvs() {
    let mut body = vec![0, 1, 1];
    body.extend(b"447700900123\0");
    body.extend([5, 0]);
    body.extend(b"HERALD\0");
    body.extend([0x04, 0x00, 0x00]);
    body.extend([
        0x00, 0x1E, 0x00, 0x03, b'4', b'2', 0x00, 0x04, 0x27, 0x00, 0x01, 0x08,
    ]);
    let r = scan_raw_data_sm(&body).unwrap();
    assert_eq!(r.message_id.as_deref(), Some("42"));
    assert_eq!(r.state, ReceiptState::Rejected);
}

fn tlv_strategy() -> impl Strategy<Value = Vec<DeliveryTlv>> {
    (
        proptest::option::of("[0-9A-Za-z-]{1,64}"),
        proptest::option::of(0u8..12),
        proptest::option::of((any::<u8>(), any::<u16>())),
    )
        .prop_map(|(id, state, network)| {
            let mut tlvs = Vec::new();
            if let Some(id) = id {
                tlvs.push(receipted_id(&id));
            }
            if let Some(state) = state {
                tlvs.push(DeliveryTlv::MessageState(MessageState::from(state)));
            }
            if let Some((t, code)) = network {
                tlvs.push(DeliveryTlv::NetworkErrorCode(NetworkErrorCode::new(
                    ErrorCodeNetworkType::from(t),
                    code,
                )));
            }
            tlvs
        })
}

fn word() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[!-~&&[^:]]{1,20}")
}

proptest! {
    #[test]
    fn parse_text_never_panics(s in any::<String>()) {
        let _ = parse_text(&s);
    }

    #[test]
    fn a_redacted_text_has_no_text_left_and_the_same_other_fields(parts in proptest::collection::vec(
        prop_oneof![
            Just("id:".to_owned()), Just("stat:".to_owned()), Just("Text : ".to_owned()),
            Just("text:".to_owned()), Just(" ".to_owned()), Just("\0".to_owned()), "\\PC{0,6}",
        ], 0..20)) {
        let raw = parts.concat();
        let before = parse_text(&raw);
        match redact_text_field(&raw) {
            None => prop_assert_eq!(before.text, None),
            Some(redacted) => {
                let after = parse_text(&redacted);
                prop_assert_eq!(after.text.as_deref().map(|t| t.trim_matches(' ')), Some(""));
                prop_assert_eq!(TextFields { text: None, ..after }, TextFields { text: None, ..before });
            }
        }
    }

    #[test]
    fn parse_text_never_panics_on_key_soup(parts in proptest::collection::vec(
        prop_oneof![
            Just("id:".to_owned()), Just("ID : ".to_owned()), Just("submit date:".to_owned()),
            Just("text:".to_owned()), Just(" ".to_owned()), Just("\0".to_owned()), "\\PC{0,6}",
        ], 0..20)) {
        let _ = parse_text(&parts.concat());
    }

    #[test]
    fn raw_scan_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = scan_raw_deliver_sm(&bytes);
        let _ = scan_raw_data_sm(&bytes);
    }

    #[test]
    fn formatted_fields_parse_back_to_themselves(
        id in word(), sub in word(), dlvrd in word(), submit_date in word(), done_date in word(),
        stat in word(), err in word(), text in proptest::option::of("[^\0]{0,40}"),
    ) {
        let fields = TextFields { id, sub, dlvrd, submit_date, done_date, stat, err, text };
        prop_assert_eq!(parse_text(&format_text(&fields)), fields);
    }

    #[test]
    fn raw_scan_agrees_with_rusmpp_on_what_rusmpp_decodes(
        esm in prop_oneof![Just(0x04u8), Just(0x44), Just(0x20), Just(0x00)],
        text in "[ -~]{0,160}",
        tlvs in tlv_strategy(),
    ) {
        let pdu = deliver_sm(esm, text.as_bytes(), tlvs);
        let body = encode(&pdu);
        let len = body.len();
        let (decoded, _) = DeliverSm::decode(&mut BytesMut::from(&body[..]), len).unwrap();
        prop_assert_eq!(scan_raw_deliver_sm(&body), from_deliver_sm(&decoded));
    }
}
