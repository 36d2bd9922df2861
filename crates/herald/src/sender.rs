//! Sender names: what a message says it is from (SMPP `source_addr`).
//!
//! Handsets show two kinds: an alphanumeric name of at most 11 characters (the GSM limit for an
//! alphanumeric originating address) or a phone number of at most 15 digits. An account may use
//! only the names its operator allowed (err 007 otherwise); the first one is its default.

/// Alphanumeric names: letters, digits and spaces, up to this many characters.
pub const MAX_ALPHANUMERIC: usize = 11;
/// Numeric senders: up to this many digits (E.164), optionally after a `+`.
pub const MAX_DIGITS: usize = 15;

/// Whether `name` is a sender a handset can show: 1 to 11 letters, digits and spaces (not only
/// spaces), or a number of 1 to 15 digits.
pub fn is_well_formed(name: &str) -> bool {
    let digits = name.strip_prefix('+').unwrap_or(name);
    let numeric = !digits.is_empty()
        && digits.len() <= MAX_DIGITS
        && digits.bytes().all(|b| b.is_ascii_digit());
    let alphanumeric = name.len() <= MAX_ALPHANUMERIC
        && name.bytes().any(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ');
    numeric || alphanumeric
}

/// Whether an account whose allowed list is `allowed` may send as `name`. An empty list allows
/// any well-formed name.
pub fn is_allowed(allowed: &[String], name: &str) -> bool {
    is_well_formed(name) && (allowed.is_empty() || allowed.iter().any(|a| a == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_up_to_eleven_letters_and_numbers_of_up_to_fifteen_digits_are_well_formed() {
        for ok in [
            "Herald",
            "My Shop 24",
            "ABCDEFGHIJK",
            "372555",
            "+372555000000000",
        ] {
            assert!(is_well_formed(ok), "{ok:?}");
        }
        for bad in [
            "",
            "ABCDEFGHIJKL",
            "   ",
            "Shop!",
            "Pood\u{e4}",
            "1234567890123456",
            "+",
        ] {
            assert!(!is_well_formed(bad), "{bad:?}");
        }
    }

    #[test]
    fn only_listed_names_are_allowed_and_an_empty_list_allows_any_well_formed_one() {
        let list = vec!["Herald".to_owned(), "Shop".to_owned()];
        assert!(is_allowed(&list, "Shop"));
        assert!(!is_allowed(&list, "shop"), "names are compared exactly");
        assert!(!is_allowed(&list, "Bank"));
        assert!(is_allowed(&[], "Bank"));
        assert!(!is_allowed(&[], "Far Too Long Name"));
    }
}
