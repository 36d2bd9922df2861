//! The Appendix B receipt-text parser on arbitrary UTF-8: it must never panic, and what it
//! reads must survive a format/parse round trip when the values have no whitespace.
#![no_main]

use herald_smpp::receipt::{format_text, parse_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let fields = parse_text(text);
    let again = parse_text(&format_text(&fields));
    // A value read from the text never contains a separator, so only `text:` (which runs to the
    // end and may begin with spaces that re-parse differently) can change in the round trip.
    assert_eq!(again.id, fields.id);
    assert_eq!(again.stat, fields.stat);
    assert_eq!(again.err, fields.err);
    assert_eq!(again.done_date, fields.done_date);
});
