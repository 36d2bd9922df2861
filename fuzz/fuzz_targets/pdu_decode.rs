//! A frame body (everything after `command_length`) through the same path a carrier's bytes
//! take: rusmpp decodes it alone; a receipt is read from the PDU, or scanned by hand when the
//! codec refuses it. Nothing may panic.
#![no_main]

use bytes::BytesMut;
use herald_smpp::receipt;
use libfuzzer_sys::fuzz_target;
use rusmpp::decode::DecodeWithLength;
use rusmpp::{Command, Pdu};

const DELIVER_SM: [u8; 4] = [0, 0, 0, 5];
const DATA_SM: [u8; 4] = [0, 0, 1, 3];

fuzz_target!(|frame: &[u8]| {
    let mut bytes = BytesMut::from(frame);
    match <Command as DecodeWithLength>::decode(&mut bytes, frame.len()) {
        Ok((command, _)) => match command.pdu() {
            Some(Pdu::DeliverSm(pdu)) => {
                let _ = receipt::from_deliver_sm(pdu);
            }
            Some(Pdu::DataSm(pdu)) => {
                let _ = receipt::from_data_sm(pdu);
            }
            _ => {}
        },
        Err(_) if frame.len() >= 12 && frame[..4] == DELIVER_SM => {
            let _ = receipt::scan_raw_deliver_sm(&frame[12..]);
        }
        Err(_) if frame.len() >= 12 && frame[..4] == DATA_SM => {
            let _ = receipt::scan_raw_data_sm(&frame[12..]);
        }
        Err(_) => {}
    }
});
