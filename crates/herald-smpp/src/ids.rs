//! Carrier message ids, normalised so a receipt finds its submission.
//!
//! Carriers write the same id differently in the `submit_sm_resp` and in the receipt: case,
//! leading zeros, and most often hex in one place and decimal in the other (`1A2B3C` vs
//! `1715004`). An id therefore has up to three keys; a receipt matches a submission when
//!
//! - their `exact` keys are equal, or
//! - the receipt read as decimal equals the submission read as hex, or
//! - the receipt read as hex equals the submission read as decimal.
//!
//! The exact match is tried first: it is the only unambiguous one.

/// The lookup keys of one carrier message id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdKeys {
    /// Trimmed, lowercase, leading zeros removed (a lone `0` stays).
    pub exact: String,
    /// The id's value if it is all decimal digits, as canonical decimal.
    pub as_decimal: Option<String>,
    /// The id's value if it is all hex digits (at most 32), as canonical decimal.
    pub as_hex: Option<String>,
}

impl IdKeys {
    pub fn of(id: &str) -> Self {
        let trimmed = id.trim_matches(|c: char| c.is_whitespace() || c == '\0');
        let lower = trimmed.to_ascii_lowercase();
        let exact = strip_leading_zeros(&lower).to_owned();
        let as_decimal = (!exact.is_empty() && exact.bytes().all(|b| b.is_ascii_digit()))
            .then(|| exact.clone());
        let as_hex = (!exact.is_empty() && exact.len() <= 32 && exact.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u128::from_str_radix(&exact, 16).ok())
            .flatten()
            .map(|v| v.to_string());
        Self {
            exact,
            as_decimal,
            as_hex,
        }
    }

    /// Whether a receipt carrying `self` belongs to a submission acknowledged with `submitted`.
    pub fn matches_submission(&self, submitted: &IdKeys) -> bool {
        self.exact == submitted.exact
            || (self.as_decimal.is_some() && self.as_decimal == submitted.as_hex)
            || (self.as_hex.is_some() && self.as_hex == submitted.as_decimal)
    }
}

fn strip_leading_zeros(s: &str) -> &str {
    let stripped = s.trim_start_matches('0');
    if stripped.is_empty() && !s.is_empty() {
        "0"
    } else {
        stripped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hex_submission_matches_decimal_receipt() {
        let submitted = IdKeys::of("1A2B3C");
        let receipt = IdKeys::of("1715004");
        assert!(receipt.matches_submission(&submitted));
    }

    #[test]
    fn decimal_submission_matches_hex_receipt() {
        let submitted = IdKeys::of("1715004");
        let receipt = IdKeys::of("001a2b3c");
        assert!(receipt.matches_submission(&submitted));
    }

    #[test]
    fn case_leading_zeros_and_padding_do_not_matter() {
        let submitted = IdKeys::of("00AbC-12\0");
        assert!(IdKeys::of("abc-12").matches_submission(&submitted));
        assert_eq!(IdKeys::of("0000").exact, "0");
    }

    #[test]
    fn different_ids_do_not_match() {
        assert!(!IdKeys::of("1715005").matches_submission(&IdKeys::of("1A2B3C")));
        let uuid = IdKeys::of("6f1c0f8e-3b1d-4b7a-9e53-0c1d2e3f4a5b");
        assert_eq!((uuid.as_decimal.clone(), uuid.as_hex.clone()), (None, None));
        assert!(!uuid.matches_submission(&IdKeys::of("6f1c0f8e")));
    }

    proptest! {
        #[test]
        fn a_number_matches_itself_in_either_base(n in any::<u64>()) {
            let hex = IdKeys::of(&format!("{n:X}"));
            let dec = IdKeys::of(&n.to_string());
            prop_assert!(dec.matches_submission(&hex));
            prop_assert!(hex.matches_submission(&dec));
        }

        #[test]
        fn any_text_is_accepted_and_matches_itself(s in "\\PC{0,80}") {
            let k = IdKeys::of(&s);
            prop_assert!(k.matches_submission(&k));
        }
    }
}
