//! The hand walk used for receipts the codec refuses, on arbitrary bytes: never panic.
#![no_main]

use herald_smpp::receipt::{scan_raw_data_sm, scan_raw_deliver_sm};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = scan_raw_deliver_sm(body);
    let _ = scan_raw_data_sm(body);
});
