//! `command_status` classes: what a carrier's answer to a submit means for the message.
//!
//! Only four codes are worth retrying by default (`0x08`, `0x14`, `0x58`, `0x64`); every other
//! non-zero code is a permanent refusal. Carriers use codes their own way, and some invent
//! private ones (0x400–0x4FF), so the classification is a [`StatusPolicy`] a carrier's
//! configuration can override code by code.

use std::collections::HashMap;

/// What to do with a message after a carrier answered with a `command_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusClass {
    /// Accepted by the carrier.
    Ok,
    /// Not accepted now, but worth retrying later; `throttle` also asks to slow the link down.
    Temporary { throttle: bool },
    /// Refused for good: retrying would give the same answer.
    Permanent,
}

/// `ESME_ROK`.
pub const ESME_ROK: u32 = 0x00;
/// `ESME_RSYSERR`: system error at the carrier.
pub const ESME_RSYSERR: u32 = 0x08;
/// `ESME_RINVSRCADR`: the sender was refused.
pub const ESME_RINVSRCADR: u32 = 0x0A;
/// `ESME_RINVDSTADR`: the destination was refused.
pub const ESME_RINVDSTADR: u32 = 0x0B;
/// `ESME_RBINDFAIL`.
pub const ESME_RBINDFAIL: u32 = 0x0D;
/// `ESME_RINVPASWD`.
pub const ESME_RINVPASWD: u32 = 0x0E;
/// `ESME_RINVSYSID`.
pub const ESME_RINVSYSID: u32 = 0x0F;
/// `ESME_RMSGQFUL`: the carrier's queue is full.
pub const ESME_RMSGQFUL: u32 = 0x14;
/// `ESME_RTHROTTLED`: we are sending faster than the carrier allows.
pub const ESME_RTHROTTLED: u32 = 0x58;
/// `ESME_RX_T_APPN`: temporary application error.
pub const ESME_RX_T_APPN: u32 = 0x64;

/// The default classification plus a carrier's overrides.
#[derive(Debug, Clone, Default)]
pub struct StatusPolicy {
    overrides: HashMap<u32, StatusClass>,
}

impl StatusPolicy {
    /// Classifies `code` as `class` for this carrier. `ESME_ROK` (0) cannot be overridden: a
    /// misconfigured carrier must not turn every accepted message into a failure.
    pub fn with_override(mut self, code: u32, class: StatusClass) -> Self {
        if code != ESME_ROK {
            self.overrides.insert(code, class);
        }
        self
    }

    pub fn classify(&self, code: u32) -> StatusClass {
        if code == ESME_ROK {
            return StatusClass::Ok;
        }
        self.overrides
            .get(&code)
            .copied()
            .unwrap_or_else(|| default_class(code))
    }
}

fn default_class(code: u32) -> StatusClass {
    match code {
        ESME_ROK => StatusClass::Ok,
        ESME_RMSGQFUL | ESME_RTHROTTLED => StatusClass::Temporary { throttle: true },
        ESME_RSYSERR | ESME_RX_T_APPN => StatusClass::Temporary { throttle: false },
        _ => StatusClass::Permanent,
    }
}

/// Whether a bind failed because of its credentials: reconnecting cannot help, an operator must.
pub fn is_credential_error(code: u32) -> bool {
    matches!(code, ESME_RBINDFAIL | ESME_RINVPASWD | ESME_RINVSYSID)
}

/// Parses an override's class as written in a carrier's configuration:
/// `temporary`, `throttle` or `permanent` (any case).
pub fn parse_class(s: &str) -> Option<StatusClass> {
    match s.trim().to_ascii_lowercase().as_str() {
        "temporary" => Some(StatusClass::Temporary { throttle: false }),
        "throttle" => Some(StatusClass::Temporary { throttle: true }),
        "permanent" => Some(StatusClass::Permanent),
        _ => None,
    }
}

/// Parses an override's code as written in a carrier's configuration: `0x58`, `0X400` or `88`.
pub fn parse_code(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The SMPP name of a `command_status` (3.4, plus the 5.0 additions), for history and logs.
pub fn status_name(code: u32) -> Option<&'static str> {
    let name = match code {
        0x00 => "ESME_ROK",
        0x01 => "ESME_RINVMSGLEN",
        0x02 => "ESME_RINVCMDLEN",
        0x03 => "ESME_RINVCMDID",
        0x04 => "ESME_RINVBNDSTS",
        0x05 => "ESME_RALYBND",
        0x06 => "ESME_RINVPRTFLG",
        0x07 => "ESME_RINVREGDLVFLG",
        0x08 => "ESME_RSYSERR",
        0x0A => "ESME_RINVSRCADR",
        0x0B => "ESME_RINVDSTADR",
        0x0C => "ESME_RINVMSGID",
        0x0D => "ESME_RBINDFAIL",
        0x0E => "ESME_RINVPASWD",
        0x0F => "ESME_RINVSYSID",
        0x11 => "ESME_RCANCELFAIL",
        0x13 => "ESME_RREPLACEFAIL",
        0x14 => "ESME_RMSGQFUL",
        0x15 => "ESME_RINVSERTYP",
        0x33 => "ESME_RINVNUMDESTS",
        0x34 => "ESME_RINVDLNAME",
        0x40 => "ESME_RINVDESTFLAG",
        0x42 => "ESME_RINVSUBREP",
        0x43 => "ESME_RINVESMCLASS",
        0x44 => "ESME_RCNTSUBDL",
        0x45 => "ESME_RSUBMITFAIL",
        0x48 => "ESME_RINVSRCTON",
        0x49 => "ESME_RINVSRCNPI",
        0x50 => "ESME_RINVDSTTON",
        0x51 => "ESME_RINVDSTNPI",
        0x53 => "ESME_RINVSYSTYP",
        0x54 => "ESME_RINVREPFLAG",
        0x55 => "ESME_RINVNUMMSGS",
        0x58 => "ESME_RTHROTTLED",
        0x61 => "ESME_RINVSCHED",
        0x62 => "ESME_RINVEXPIRY",
        0x63 => "ESME_RINVDFTMSGID",
        0x64 => "ESME_RX_T_APPN",
        0x65 => "ESME_RX_P_APPN",
        0x66 => "ESME_RX_R_APPN",
        0x67 => "ESME_RQUERYFAIL",
        0xC0 => "ESME_RINVOPTPARSTREAM",
        0xC1 => "ESME_ROPTPARNOTALLWD",
        0xC2 => "ESME_RINVPARLEN",
        0xC3 => "ESME_RMISSINGOPTPARAM",
        0xC4 => "ESME_RINVOPTPARAMVAL",
        0xFE => "ESME_RDELIVERYFAILURE",
        0xFF => "ESME_RUNKNOWNERR",
        0x100 => "ESME_RSERTYPUNAUTH",
        0x101 => "ESME_RPROHIBITED",
        0x102 => "ESME_RSERTYPUNAVAIL",
        0x103 => "ESME_RSERTYPDENIED",
        0x104 => "ESME_RINVDCS",
        0x105 => "ESME_RINVSRCADDRSUBUNIT",
        0x106 => "ESME_RINVDSTADDRSUBUNIT",
        0x107 => "ESME_RINVBCASTFREQINT",
        0x108 => "ESME_RINVBCASTALIAS_NAME",
        0x109 => "ESME_RINVBCASTAREAFMT",
        0x10A => "ESME_RINVNUMBCAST_AREAS",
        0x10B => "ESME_RINVBCASTCNTTYPE",
        0x10C => "ESME_RINVBCASTMSGCLASS",
        0x10D => "ESME_RBCASTFAIL",
        0x10E => "ESME_RBCASTQUERYFAIL",
        0x10F => "ESME_RBCASTCANCELFAIL",
        0x110 => "ESME_RINVBCAST_REP",
        0x111 => "ESME_RINVBCASTSRVGRP",
        0x112 => "ESME_RINVBCASTCHANIND",
        _ => return None,
    };
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_four_documented_codes_are_temporary_by_default() {
        let policy = StatusPolicy::default();
        assert_eq!(policy.classify(0), StatusClass::Ok);
        assert_eq!(
            policy.classify(0x08),
            StatusClass::Temporary { throttle: false }
        );
        assert_eq!(
            policy.classify(0x14),
            StatusClass::Temporary { throttle: true }
        );
        assert_eq!(
            policy.classify(0x58),
            StatusClass::Temporary { throttle: true }
        );
        assert_eq!(
            policy.classify(0x64),
            StatusClass::Temporary { throttle: false }
        );
        for permanent in [0x0A, 0x0B, 0x45, 0x62, 0x65, 0xFF, 0x400, 0x4FF, u32::MAX] {
            assert_eq!(
                policy.classify(permanent),
                StatusClass::Permanent,
                "{permanent:#x}"
            );
        }
    }

    #[test]
    fn a_carrier_can_make_its_private_code_temporary_and_a_standard_one_permanent() {
        let policy = StatusPolicy::default()
            .with_override(0x401, StatusClass::Temporary { throttle: false })
            .with_override(0x58, StatusClass::Permanent);
        assert_eq!(
            policy.classify(0x401),
            StatusClass::Temporary { throttle: false }
        );
        assert_eq!(policy.classify(0x402), StatusClass::Permanent);
        assert_eq!(policy.classify(0x58), StatusClass::Permanent);
        assert_eq!(
            policy.classify(0x14),
            StatusClass::Temporary { throttle: true }
        );
    }

    #[test]
    fn overrides_belong_to_one_policy_only() {
        let base = StatusPolicy::default();
        let carrier = base
            .clone()
            .with_override(0x0B, StatusClass::Temporary { throttle: false });
        assert_eq!(
            carrier.classify(0x0B),
            StatusClass::Temporary { throttle: false }
        );
        assert_eq!(base.classify(0x0B), StatusClass::Permanent);
    }

    #[test]
    fn success_cannot_be_overridden() {
        let policy = StatusPolicy::default().with_override(0, StatusClass::Permanent);
        assert_eq!(policy.classify(0), StatusClass::Ok);
    }

    #[test]
    fn credential_errors_are_bind_fail_password_and_system_id() {
        assert!(is_credential_error(0x0D));
        assert!(is_credential_error(0x0E));
        assert!(is_credential_error(0x0F));
        assert!(!is_credential_error(0x08));
        assert!(!is_credential_error(0x05));
    }

    #[test]
    fn override_classes_parse_in_any_case_and_nothing_else() {
        assert_eq!(
            parse_class("temporary"),
            Some(StatusClass::Temporary { throttle: false })
        );
        assert_eq!(
            parse_class(" Throttle "),
            Some(StatusClass::Temporary { throttle: true })
        );
        assert_eq!(parse_class("PERMANENT"), Some(StatusClass::Permanent));
        assert_eq!(parse_class("ok"), None);
        assert_eq!(parse_class(""), None);
        assert_eq!(parse_class("temp"), None);
    }

    #[test]
    fn override_codes_parse_in_hex_or_decimal() {
        assert_eq!(parse_code("0x58"), Some(0x58));
        assert_eq!(parse_code("0X4fF"), Some(0x4FF));
        assert_eq!(parse_code("88"), Some(88));
        assert_eq!(parse_code("0x"), None);
        assert_eq!(parse_code("-1"), None);
        assert_eq!(parse_code("0x1_0000_0000"), None);
    }

    #[test]
    fn names_follow_the_specification() {
        assert_eq!(status_name(0), Some("ESME_ROK"));
        assert_eq!(status_name(0x0B), Some("ESME_RINVDSTADR"));
        assert_eq!(status_name(0x58), Some("ESME_RTHROTTLED"));
        assert_eq!(status_name(0x64), Some("ESME_RX_T_APPN"));
        assert_eq!(status_name(0x09), None);
        assert_eq!(status_name(0x400), None);
    }

    #[test]
    fn every_named_code_is_one_rusmpp_knows_too() {
        // An independent table: a code we name must be one the codec names, and the reverse.
        for code in 0u32..0x200 {
            let known = !matches!(
                rusmpp::CommandStatus::from(code),
                rusmpp::CommandStatus::Other(_)
            );
            assert_eq!(status_name(code).is_some(), known, "{code:#x}");
        }
    }
}
