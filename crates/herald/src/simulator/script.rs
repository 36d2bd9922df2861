//! The simulated carrier's script: what happens to a message, decided by its numbers alone.
//!
//! This is the one place the table lives; the README copies it. The last two digits of the
//! destination (digits only, `+` stripped) pick the outcome, and `01`, `02`, `03` mirror Herald's
//! `err` codes 001 (failed to deliver), 002 (expired), 003 (invalid number):
//!
//! | destination ends in | `submit_sm_resp` | receipts |
//! |---|---|---|
//! | `01` | OK | `UNDELIV` (message_state 5, `err:001`, network_error_code GSM 1) |
//! | `02` | OK | `EXPIRED` (message_state 3) when the submit's `validity_period` ends (no validity: the configured default, 10 s) |
//! | `03` | `0x0B` ESME_RINVDSTADR | none |
//! | `04` | `0x58` ESME_RTHROTTLED; the next submit to the number is accepted (they alternate) | `DELIVRD` |
//! | `05` | OK | `DELIVRD` after the long delay (30 s) instead of the usual one (1 s) |
//! | `06` | OK | `ENROUTE` intermediate notification (`esm_class` 0x20) if `registered_delivery` has bit 0x10, then `DELIVRD` |
//! | `07` | OK | `DELIVRD`, sent twice |
//! | `08` | OK | `DELIVRD`, sent *before* the `submit_sm_resp` |
//! | `09` | OK | `DELIVRD` as Appendix B text only (no TLVs) |
//! | `10` | OK | `DELIVRD` as TLVs only (empty `short_message`) |
//! | anything else | OK | `DELIVRD` (message_state 2) |
//!
//! Also:
//! - A destination that is not 1–15 digits is refused with `0x0B`; the sender `Blocked` (any case)
//!   with `0x0A` ESME_RINVSRCADR; a `validity_period` that is not SMPP time with `0x62`.
//! - Destinations in the fictional UK range `+44 7700 900…` get their message id in HEX in the
//!   `submit_sm_resp` and in DECIMAL in the receipt (like some real carriers); all others get
//!   decimal in both. The last two digits still pick the outcome: `+447700900101` is hex and
//!   undeliverable.
//! - `registered_delivery` is honoured: bits 1..0 = 0 no receipt, 1 always, 2 on failure only,
//!   3 on success only; bit 0x10 asks for intermediate notifications.

use std::time::Duration;

use herald_smpp::receipt::ReceiptState;

/// Destinations starting with these digits get hex ids in the `submit_sm_resp`.
pub const HEX_ID_PREFIX: &str = "447700900";

/// The sender the simulated carrier refuses (`0x0A`), compared without case.
pub const BLOCKED_SENDER: &str = "Blocked";

/// What the simulated carrier does with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Delivered,
    Undeliverable,
    Expired,
    RejectDestination,
    RejectSender,
    /// Throttled on the first try, accepted on the next one.
    ThrottledOnce,
    Delayed,
    Intermediate,
    DuplicateReceipt,
    EarlyReceipt,
    TextOnlyReceipt,
    TlvOnlyReceipt,
}

/// The scenario and how message ids are written for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Script {
    pub scenario: Scenario,
    /// Hex id in the `submit_sm_resp`, decimal in the receipt.
    pub hex_ids: bool,
}

/// The scripting table (see the module documentation).
pub fn script(sender: &str, destination: &str) -> Script {
    let digits = destination.strip_prefix('+').unwrap_or(destination);
    let valid = (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    let hex_ids = valid && digits.starts_with(HEX_ID_PREFIX);
    let scenario = if !valid {
        Scenario::RejectDestination
    } else if sender.eq_ignore_ascii_case(BLOCKED_SENDER) {
        Scenario::RejectSender
    } else {
        let last_two = &digits[digits.len().saturating_sub(2)..];
        match last_two {
            "01" => Scenario::Undeliverable,
            "02" => Scenario::Expired,
            "03" => Scenario::RejectDestination,
            "04" => Scenario::ThrottledOnce,
            "05" => Scenario::Delayed,
            "06" => Scenario::Intermediate,
            "07" => Scenario::DuplicateReceipt,
            "08" => Scenario::EarlyReceipt,
            "09" => Scenario::TextOnlyReceipt,
            "10" => Scenario::TlvOnlyReceipt,
            _ => Scenario::Delivered,
        }
    };
    Script { scenario, hex_ids }
}

/// How a receipt carries its facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptFormat {
    TextAndTlvs,
    TextOnly,
    TlvsOnly,
}

/// One receipt to send for an accepted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedReceipt {
    /// Counted from the `submit_sm_resp`; zero for an early receipt, which goes before it.
    pub after: Duration,
    pub state: ReceiptState,
    pub intermediate: bool,
    pub format: ReceiptFormat,
    /// Sent before the `submit_sm_resp`.
    pub early: bool,
}

/// The delays a plan is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delays {
    pub receipt: Duration,
    pub long: Duration,
    /// Until the message's validity ends.
    pub validity_left: Duration,
}

/// The receipts an accepted message gets, given what its `registered_delivery` asks for.
/// Rejected and throttled scenarios get none.
pub fn plan(scenario: Scenario, registered_delivery: u8, delays: Delays) -> Vec<PlannedReceipt> {
    let final_receipt = |state, after| PlannedReceipt {
        after,
        state,
        intermediate: false,
        format: ReceiptFormat::TextAndTlvs,
        early: false,
    };
    let delivered = final_receipt(ReceiptState::Delivered, delays.receipt);
    let mut receipts = match scenario {
        Scenario::RejectDestination | Scenario::RejectSender => return Vec::new(),
        Scenario::Delivered | Scenario::ThrottledOnce => vec![delivered],
        Scenario::Undeliverable => vec![final_receipt(ReceiptState::Undeliverable, delays.receipt)],
        Scenario::Expired => vec![final_receipt(ReceiptState::Expired, delays.validity_left)],
        Scenario::Delayed => vec![final_receipt(ReceiptState::Delivered, delays.long)],
        Scenario::Intermediate => {
            let enroute = PlannedReceipt {
                after: delays.receipt / 2,
                state: ReceiptState::Enroute,
                intermediate: true,
                ..delivered
            };
            vec![enroute, delivered]
        }
        Scenario::DuplicateReceipt => vec![delivered, delivered],
        Scenario::EarlyReceipt => vec![PlannedReceipt {
            after: Duration::ZERO,
            early: true,
            ..delivered
        }],
        Scenario::TextOnlyReceipt => vec![PlannedReceipt {
            format: ReceiptFormat::TextOnly,
            ..delivered
        }],
        Scenario::TlvOnlyReceipt => vec![PlannedReceipt {
            format: ReceiptFormat::TlvsOnly,
            ..delivered
        }],
    };
    receipts.retain(|r| wanted(r, registered_delivery));
    receipts
}

/// SMPP 3.4 §5.2.17 (plus 5.0's success-only value 3).
fn wanted(r: &PlannedReceipt, registered_delivery: u8) -> bool {
    if r.intermediate {
        return registered_delivery & 0x10 != 0;
    }
    let success = r.state == ReceiptState::Delivered;
    match registered_delivery & 0x03 {
        0 => false,
        1 => true,
        2 => !success,
        _ => success,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELAYS: Delays = Delays {
        receipt: Duration::from_secs(1),
        long: Duration::from_secs(30),
        validity_left: Duration::from_secs(10),
    };

    #[test]
    fn the_last_two_digits_pick_the_scenario() {
        let cases = [
            ("+37255500000", Scenario::Delivered),
            ("37255500001", Scenario::Undeliverable),
            ("+37255500002", Scenario::Expired),
            ("+37255500003", Scenario::RejectDestination),
            ("+37255500004", Scenario::ThrottledOnce),
            ("+37255500005", Scenario::Delayed),
            ("+37255500006", Scenario::Intermediate),
            ("+37255500007", Scenario::DuplicateReceipt),
            ("+37255500008", Scenario::EarlyReceipt),
            ("+37255500009", Scenario::TextOnlyReceipt),
            ("+37255500010", Scenario::TlvOnlyReceipt),
            ("+37255500011", Scenario::Delivered),
            ("+37255500099", Scenario::Delivered),
            ("1", Scenario::Delivered),
        ];
        for (number, scenario) in cases {
            assert_eq!(script("Herald", number).scenario, scenario, "{number}");
        }
    }

    #[test]
    fn numbers_that_are_not_digits_are_invalid_destinations() {
        for number in ["", "+", "+3725550abc", "+1234567890123456", "37 255"] {
            assert_eq!(
                script("Herald", number).scenario,
                Scenario::RejectDestination,
                "{number:?}"
            );
        }
    }

    #[test]
    fn the_blocked_sender_is_refused_whatever_the_destination() {
        assert_eq!(
            script("BLOCKED", "+37255500000").scenario,
            Scenario::RejectSender
        );
        assert_eq!(
            script("blocked", "+37255500001").scenario,
            Scenario::RejectSender
        );
    }

    #[test]
    fn the_fictional_uk_range_gets_hex_ids_and_keeps_its_scenario() {
        let s = script("Herald", "+447700900101");
        assert!(s.hex_ids);
        assert_eq!(s.scenario, Scenario::Undeliverable);
        assert!(!script("Herald", "+37255500001").hex_ids);
        assert!(!script("Herald", "+44770090").hex_ids);
    }

    #[test]
    fn registered_delivery_zero_asks_for_no_receipt() {
        assert!(plan(Scenario::Delivered, 0, DELAYS).is_empty());
        assert!(plan(Scenario::Undeliverable, 0x10, DELAYS).is_empty());
    }

    #[test]
    fn failure_only_receipts_skip_deliveries() {
        assert!(plan(Scenario::Delivered, 2, DELAYS).is_empty());
        let failed = plan(Scenario::Undeliverable, 2, DELAYS);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].state, ReceiptState::Undeliverable);
        assert!(plan(Scenario::Expired, 3, DELAYS).is_empty());
    }

    #[test]
    fn expiry_comes_when_the_validity_ends() {
        let p = plan(Scenario::Expired, 1, DELAYS);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].state, ReceiptState::Expired);
        assert_eq!(p[0].after, DELAYS.validity_left);
    }

    #[test]
    fn intermediate_notifications_only_when_bit_0x10_asks() {
        let without = plan(Scenario::Intermediate, 1, DELAYS);
        assert_eq!(without.len(), 1);
        assert!(!without[0].intermediate);
        let with = plan(Scenario::Intermediate, 0x11, DELAYS);
        assert_eq!(with.len(), 2);
        assert!(with[0].intermediate);
        assert_eq!(with[0].state, ReceiptState::Enroute);
        assert!(with[0].after < with[1].after);
        assert_eq!(with[1].state, ReceiptState::Delivered);
    }

    #[test]
    fn rejected_messages_get_no_receipt() {
        assert!(plan(Scenario::RejectDestination, 1, DELAYS).is_empty());
        assert!(plan(Scenario::RejectSender, 0x11, DELAYS).is_empty());
    }

    #[test]
    fn receipt_quirks_are_planned_as_scripted() {
        assert_eq!(plan(Scenario::DuplicateReceipt, 1, DELAYS).len(), 2);
        assert!(plan(Scenario::EarlyReceipt, 1, DELAYS)[0].early);
        assert_eq!(plan(Scenario::Delayed, 1, DELAYS)[0].after, DELAYS.long);
        assert_eq!(
            plan(Scenario::TextOnlyReceipt, 1, DELAYS)[0].format,
            ReceiptFormat::TextOnly
        );
        assert_eq!(
            plan(Scenario::TlvOnlyReceipt, 1, DELAYS)[0].format,
            ReceiptFormat::TlvsOnly
        );
    }
}
