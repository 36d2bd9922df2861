use super::*;
use bytes::BytesMut;
use proptest::prelude::*;
use rusmpp::decode::DecodeWithLength;
use rusmpp::encode::owned::Encode;
use rusmpp::{Command, CommandStatus};

fn plain(message: &[u8]) -> Submit<'_> {
    Submit {
        source: "HERALD",
        destination: "+447700900123",
        data_coding: 0,
        esm_class: 0,
        short_message: message,
        registered_delivery: 1,
        validity_period: None,
    }
}

fn body(pdu: &impl Encode) -> Vec<u8> {
    let mut buf = BytesMut::new();
    pdu.encode(&mut buf);
    buf.to_vec()
}

/// Encodes a whole command as it goes on the wire (with `command_length`), decodes it back.
fn round_trip(pdu: Pdu) -> Command {
    let command = Command::new(CommandStatus::EsmeRok, 7, pdu);
    let mut wire = BytesMut::new();
    command.encode(&mut wire);
    let len = wire.len();
    let (decoded, _) = Command::decode(&mut wire, len).unwrap();
    decoded
}

fn outgoing(state: ReceiptState) -> OutgoingReceipt<'static> {
    OutgoingReceipt {
        original_source: "HERALD",
        original_destination: "+447700900123",
        message_id: "1A2B3C",
        state,
        intermediate: false,
        submit_date: "2311142213",
        done_date: "2311142214",
        err: "000",
        network_error: None,
        text: "Your code is 123456, valid for 10 minutes",
    }
}

#[test]
fn submit_sm_encodes_to_the_golden_bytes() {
    let pdu = submit_sm(&plain(b"Hi")).unwrap();
    let mut expected = vec![0x00]; // service_type ""
    expected.extend([0x05, 0x00]);
    expected.extend(b"HERALD\0");
    expected.extend([0x01, 0x01]);
    expected.extend(b"447700900123\0");
    // esm_class, protocol_id, priority, schedule "", validity "", registered_delivery,
    // replace_if_present, data_coding, sm_default_msg_id, sm_length, short_message
    expected.extend([0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02]);
    expected.extend(b"Hi");
    assert_eq!(body(&pdu), expected);
    assert_eq!(
        body(&pdu)[25],
        0x00,
        "esm_class must not be rusmpp's default 0x08"
    );
}

#[test]
fn numeric_sender_is_international_isdn() {
    let pdu = submit_sm(&Submit {
        source: "+447700900999",
        ..plain(b"x")
    })
    .unwrap();
    assert_eq!(
        (pdu.source_addr_ton, pdu.source_addr_npi),
        (Ton::International, Npi::Isdn)
    );
    assert_eq!(pdu.source_addr.to_string(), "447700900999");
    let pdu = submit_sm(&Submit {
        source: "Acme 24",
        ..plain(b"x")
    })
    .unwrap();
    assert_eq!(
        (pdu.source_addr_ton, pdu.source_addr_npi),
        (Ton::Alphanumeric, Npi::Unknown)
    );
    assert_eq!(pdu.source_addr.to_string(), "Acme 24");
}

#[test]
fn validity_period_is_written_when_given_and_checked() {
    let pdu = submit_sm(&Submit {
        validity_period: Some("000000060000000R"),
        ..plain(b"x")
    })
    .unwrap();
    assert_eq!(pdu.validity_period.to_string(), "000000060000000R");
    let err = submit_sm(&Submit {
        validity_period: Some("6h"),
        ..plain(b"x")
    })
    .unwrap_err();
    assert!(matches!(
        err,
        PduError::InvalidField {
            field: "validity_period",
            ..
        }
    ));
}

#[test]
fn a_long_message_travels_in_message_payload() {
    let long = vec![b'a'; 300];
    let pdu = submit_sm(&plain(&long)).unwrap();
    assert_eq!(pdu.sm_length(), 0);
    assert_eq!(submit_sm_fields(&pdu).message, long);
    let max = vec![b'b'; MESSAGE_PAYLOAD_MAX];
    assert_eq!(
        submit_sm_fields(&submit_sm(&plain(&max)).unwrap()).message,
        max
    );
}

#[test]
fn a_message_beyond_the_tlv_limit_is_refused_not_truncated() {
    let too_long = vec![b'a'; MESSAGE_PAYLOAD_MAX + 1];
    assert_eq!(
        submit_sm(&plain(&too_long)).unwrap_err(),
        PduError::MessageTooLong {
            len: MESSAGE_PAYLOAD_MAX + 1
        }
    );
}

#[test]
fn as_payload_even_a_short_message_travels_in_message_payload() {
    let text = vec![b'c'; 200];
    let pdu = submit_sm_as_payload(&Submit {
        data_coding: 1,
        ..plain(&text)
    })
    .unwrap();
    assert_eq!(pdu.sm_length(), 0);
    assert_eq!(u8::from(pdu.data_coding), 1);
    let tail = body(&pdu)[body(&pdu).len() - 4 - text.len()..].to_vec();
    assert_eq!(
        tail[..4],
        [0x04, 0x24, 0x00, 200],
        "message_payload tag and length"
    );
    assert_eq!(submit_sm_fields(&pdu).message, text);
    assert_eq!(
        submit_sm_as_payload(&plain(&vec![b'a'; MESSAGE_PAYLOAD_MAX + 1])).unwrap_err(),
        PduError::MessageTooLong {
            len: MESSAGE_PAYLOAD_MAX + 1
        }
    );
}

#[test]
fn exactly_255_octets_still_fit_short_message() {
    let pdu = submit_sm(&plain(&[b'z'; 255])).unwrap();
    assert_eq!(pdu.sm_length(), 255);
}

#[test]
fn bad_addresses_are_refused_without_echoing_them() {
    let err = submit_sm(&Submit {
        destination: "+4477009001234567890123",
        ..plain(b"x")
    })
    .unwrap_err();
    assert!(matches!(
        err,
        PduError::InvalidField {
            field: "destination_addr",
            ..
        }
    ));
    assert!(!err.to_string().contains("447700"));
    let err = submit_sm(&Submit {
        source: "Héraldo",
        ..plain(b"x")
    })
    .unwrap_err();
    assert!(matches!(
        err,
        PduError::InvalidField {
            field: "source_addr",
            ..
        }
    ));
}

#[test]
fn submit_fields_read_back_what_was_built() {
    let submit = Submit {
        source: "447700900999",
        destination: "447700900123",
        data_coding: 8,
        esm_class: 0x40,
        short_message: &[0x05, 0x00, 0x03, 0x01, 0x02, 0x01, 0x00, 0x41],
        registered_delivery: 0x11,
        validity_period: Some("231114221320000+"),
    };
    let Some(Pdu::SubmitSm(decoded)) = round_trip(submit_sm(&submit).unwrap().into())
        .pdu()
        .cloned()
    else {
        panic!("not a submit_sm");
    };
    assert_eq!(
        submit_sm_fields(&decoded),
        SubmitFields {
            source: "447700900999".into(),
            source_ton: 1,
            destination: "447700900123".into(),
            data_coding: 8,
            esm_class: 0x40,
            registered_delivery: 0x11,
            validity_period: Some("231114221320000+".into()),
            message: submit.short_message.to_vec(),
        }
    );
}

#[test]
fn binds_announce_smpp_3_4() {
    for kind in [
        BindKind::Transmitter,
        BindKind::Receiver,
        BindKind::Transceiver,
    ] {
        let pdu = bind(kind, "herald", "secret", "").unwrap();
        let encoded = match &pdu {
            Pdu::BindTransmitter(b) => body(b),
            Pdu::BindReceiver(b) => body(b),
            Pdu::BindTransceiver(b) => body(b),
            other => panic!("{kind:?} built {other:?}"),
        };
        let mut expected = b"herald\0secret\0\0".to_vec();
        expected.extend([0x34, 0x00, 0x00, 0x00]);
        assert_eq!(encoded, expected, "{kind:?}");
    }
}

#[test]
fn bind_ids_follow_the_command_kind() {
    let id = |k| round_trip(bind(k, "herald", "pw", "SMPP").unwrap()).id();
    assert_eq!(
        id(BindKind::Transmitter),
        rusmpp::CommandId::BindTransmitter
    );
    assert_eq!(id(BindKind::Receiver), rusmpp::CommandId::BindReceiver);
    assert_eq!(
        id(BindKind::Transceiver),
        rusmpp::CommandId::BindTransceiver
    );
}

#[test]
fn a_too_long_password_is_refused_without_showing_it() {
    let err = bind(BindKind::Transceiver, "herald", "averylongsecret", "").unwrap_err();
    assert!(matches!(
        err,
        PduError::InvalidField {
            field: "password",
            ..
        }
    ));
    assert!(!err.to_string().contains("averylongsecret"));
    assert!(bind(BindKind::Transceiver, "a-system-id-of-16", "pw", "").is_err());
}

#[test]
fn receipt_swaps_the_addresses_and_says_it_is_a_receipt() {
    let pdu = receipt_deliver_sm(&outgoing(ReceiptState::Delivered)).unwrap();
    assert_eq!(pdu.source_addr.to_string(), "447700900123");
    assert_eq!(
        (pdu.source_addr_ton, pdu.source_addr_npi),
        (Ton::International, Npi::Isdn)
    );
    assert_eq!(pdu.destination_addr.to_string(), "HERALD");
    assert_eq!(pdu.dest_addr_ton, Ton::Alphanumeric);
    assert_eq!(u8::from(pdu.esm_class), 0x04);
    let short: &[u8] = pdu.short_message().as_ref();
    assert_eq!(
        short,
        b"id:1A2B3C sub:001 dlvrd:001 submit date:2311142213 done date:2311142214 stat:DELIVRD err:000 text:Your code is 123456,"
    );
}

#[test]
fn receipt_tlvs_carry_the_id_with_its_nul_and_the_state() {
    let receipt = OutgoingReceipt {
        network_error: Some(NetworkError {
            network_type: 3,
            code: 27,
        }),
        err: "027",
        ..outgoing(ReceiptState::Undeliverable)
    };
    let encoded = body(&receipt_deliver_sm(&receipt).unwrap());
    let tail = [
        &[0x00, 0x1E, 0x00, 0x07][..],
        b"1A2B3C\0",
        &[0x04, 0x27, 0x00, 0x01, 0x05],
        &[0x04, 0x23, 0x00, 0x03, 0x03, 0x00, 0x1B],
    ]
    .concat();
    assert!(encoded.ends_with(&tail), "{encoded:02x?}");
}

#[test]
fn our_receipts_read_back_through_our_receipt_parser() {
    for state in [
        ReceiptState::Delivered,
        ReceiptState::Undeliverable,
        ReceiptState::Expired,
    ] {
        let sent = OutgoingReceipt {
            network_error: Some(NetworkError {
                network_type: 3,
                code: 1,
            }),
            ..outgoing(state)
        };
        let Some(Pdu::DeliverSm(decoded)) = round_trip(receipt_deliver_sm(&sent).unwrap().into())
            .pdu()
            .cloned()
        else {
            panic!("not a deliver_sm");
        };
        let read = receipt::from_deliver_sm(&decoded).unwrap();
        assert_eq!(read.message_id.as_deref(), Some("1A2B3C"));
        assert_eq!(read.state, state);
        assert_eq!(read.stat_word.as_deref(), Some(state.stat_word()));
        assert_eq!(read.network_error, sent.network_error);
        assert_eq!(read.done_date.as_deref(), Some("2311142214"));
        assert!(!read.intermediate);
    }
}

#[test]
fn intermediate_receipt_uses_esm_class_0x20() {
    let pdu = receipt_deliver_sm(&OutgoingReceipt {
        intermediate: true,
        ..outgoing(ReceiptState::Enroute)
    })
    .unwrap();
    assert_eq!(u8::from(pdu.esm_class), 0x20);
    assert!(receipt::from_deliver_sm(&pdu).unwrap().intermediate);
}

#[test]
fn receipt_for_an_id_longer_than_64_characters_is_refused() {
    let id = "9".repeat(65);
    let err = receipt_deliver_sm(&OutgoingReceipt {
        message_id: &id,
        ..outgoing(ReceiptState::Delivered)
    });
    assert!(matches!(
        err,
        Err(PduError::InvalidField {
            field: "receipted_message_id",
            ..
        })
    ));
}

proptest! {
    #[test]
    fn any_message_up_to_the_limit_reads_back_unchanged(message in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let pdu = submit_sm(&plain(&message)).unwrap();
        let Some(Pdu::SubmitSm(decoded)) = round_trip(pdu.into()).pdu().cloned() else {
            panic!("not a submit_sm");
        };
        prop_assert_eq!(submit_sm_fields(&decoded).message, message);
        prop_assert_eq!(u8::from(decoded.esm_class), 0);
    }
}

#[test]
fn sar_tlvs_follow_the_submit_body_in_tag_order() {
    let mut pdu = submit_sm(&plain(b"part")).unwrap();
    push_sar(
        &mut pdu,
        crate::text::Concat {
            reference: 0x0102,
            total: 3,
            seq: 2,
        },
    );
    let bytes = body(&pdu);
    assert_eq!(
        &bytes[bytes.len() - 16..],
        &[
            0x02, 0x0C, 0x00, 0x02, 0x01, 0x02, // sar_msg_ref_num
            0x02, 0x0E, 0x00, 0x01, 3, // sar_total_segments
            0x02, 0x0F, 0x00, 0x01, 2, // sar_segment_seqnum
        ]
    );
    assert!(bytes.windows(5).any(|w| w == b"\x04part"));
}
