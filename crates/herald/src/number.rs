//! Phone numbers a message is sent to, parsed once at the edge into E.164.
//!
//! A [`Destination`] exists only for a number that parses: international format (with or without
//! `+`), a country calling code that exists, and a national number the numbering plan could
//! hold. Herald deliberately does not demand that the number fall in a range the metadata
//! currently lists as assigned: numbering plans change faster than any copy of them, reserved
//! ranges (such as the UK's drama numbers) are served by test carriers, and the carrier has the
//! last word anyway (a `submit_sm_resp` of `0x0B` is reported as err 003). Which numbers Herald
//! serves at all is the route table's business (err 005).
//!
//! The `phonenumber` crate stays behind this module: nothing else names its types.

use std::fmt;

/// A destination number in E.164.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// E.164 digits without the `+`.
    digits: String,
    country_code: u16,
}

/// Why a number is not a [`Destination`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("a number is 1 to 15 digits, optionally after a +")]
    NotDigits,
    #[error("not a phone number: {0}")]
    Unparseable(String),
}

/// Loads the numbering plans now rather than on the first parse.
///
/// `phonenumber` builds its metadata (every region's patterns, compiled) the first time any
/// number is parsed: about 560 million instructions (callgrind). Done at start, that wait is not
/// the first customer's.
pub fn load_numbering_plans() {
    std::hint::black_box(&*phonenumber::metadata::DATABASE);
}

impl Destination {
    /// Accepts an optional leading `+` and spaces; what remains must be the international form
    /// of a phone number (country calling code first).
    pub fn parse(raw: &str) -> Result<Self, NumberError> {
        let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        let digits = compact.strip_prefix('+').unwrap_or(&compact);
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NumberError::NotDigits);
        }
        let parsed = phonenumber::parse(None, format!("+{digits}"))
            .map_err(|e| NumberError::Unparseable(e.to_string()))?;
        // E.164 is the calling code and the national number (its leading zeros kept), which is
        // what `phonenumber`'s E.164 mode writes; that formatter first matches the national
        // number against the country's display formats, which E.164 never uses (callgrind on
        // the end-to-end benchmark: ~10,000 instructions per message).
        let country_code = parsed.code().value();
        Ok(Self {
            digits: format!("{country_code}{}", parsed.national()),
            country_code,
        })
    }

    /// E.164 digits without the `+`: what routes match and what carriers are sent.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    pub fn country_code(&self) -> u16 {
        self.country_code
    }
}

/// `+37255500000`.
impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.digits)
    }
}

/// The ISO 3166 country codes (`"EE"`) that use `calling_code`, as the numbering metadata knows
/// them; non-geographic services have none.
pub fn countries_of(calling_code: u16) -> Vec<&'static str> {
    phonenumber::metadata::DATABASE
        .region(&calling_code)
        .unwrap_or_default()
        .into_iter()
        .filter(|id| is_country_id(id))
        .collect()
}

/// The country calling code of the ISO 3166 country `id` (`"EE"` → 372), any case.
pub fn calling_code_of(id: &str) -> Option<u16> {
    let id = id.to_ascii_uppercase();
    is_country_id(&id)
        .then(|| phonenumber::metadata::DATABASE.by_id(id.as_str()))
        .flatten()
        .map(|meta| meta.country_code())
}

/// Every country the numbering metadata knows, as (ISO 3166 code, calling code), sorted by code.
pub fn all_countries() -> Vec<(&'static str, u16)> {
    let mut all: Vec<_> = phonenumber::metadata::DATABASE
        .iter()
        .map(|meta| (meta.id(), meta.country_code()))
        .filter(|(id, _)| is_country_id(id))
        .collect();
    all.sort_unstable();
    all
}

/// The country of E.164 `digits` as a dashboard names it: `"EE +372"`, `"US/CA/… +1"` where a
/// calling code serves several countries, `"+882"` for a non-geographic one, `None` when no
/// calling code starts the digits. Calling codes are a prefix code (none is the start of
/// another), so the first three digits decide it.
pub fn country_label(digits: &str) -> Option<String> {
    let code = (1..=3.min(digits.len()))
        .filter_map(|n| digits.get(..n)?.parse::<u16>().ok())
        .find(|code| phonenumber::metadata::DATABASE.region(code).is_some())?;
    let countries = countries_of(code);
    Some(match countries.as_slice() {
        [] => format!("+{code}"),
        [one] => format!("{one} +{code}"),
        [a, b, ..] if countries.len() == 2 => format!("{a}/{b} +{code}"),
        [a, b, ..] => format!("{a}/{b}/… +{code}"),
    })
}

/// Two letters; the metadata also lists "001" for non-geographic calling codes.
fn is_country_id(id: &str) -> bool {
    id.len() == 2 && id.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_country_label_comes_from_the_calling_code_alone() {
        assert_eq!(country_label("37255500000").as_deref(), Some("EE +372"));
        assert_eq!(
            country_label("447700900123").as_deref(),
            Some("GB/GG/… +44")
        );
        assert_eq!(country_label("372").as_deref(), Some("EE +372"));
        assert_eq!(country_label("999123"), None);
        assert_eq!(country_label(""), None);
    }

    #[test]
    fn a_number_with_plus_and_spaces_is_stored_as_e164_digits() {
        let d = Destination::parse("+372 5555 5555").unwrap();
        assert_eq!(d.digits(), "37255555555");
        assert_eq!(d.country_code(), 372);
        assert_eq!(d.to_string(), "+37255555555");
        assert_eq!(Destination::parse("37255555555").unwrap(), d);
        // A national number's leading zero (Italy's landlines) is part of it.
        let milan = Destination::parse("+39 02 1234 5678").unwrap();
        assert_eq!(milan.digits(), "390212345678");
        assert_eq!(milan.country_code(), 39);
    }

    #[test]
    fn reserved_and_unassigned_ranges_of_real_countries_parse() {
        // Ofcom's drama range and a short German number: the carrier decides, not us.
        assert_eq!(
            Destination::parse("+447700900123").unwrap().country_code(),
            44
        );
        assert_eq!(Destination::parse("4915112345").unwrap().country_code(), 49);
    }

    #[test]
    fn what_is_not_a_phone_number_is_refused() {
        for bad in ["", "+", "hello", "+372-5555", "++372", "1234567890123456"] {
            assert_eq!(
                Destination::parse(bad),
                Err(NumberError::NotDigits),
                "{bad:?}"
            );
        }
        // No such country calling code; a national number too short to exist.
        for bad in ["+999123456", "3725", "1"] {
            assert!(
                matches!(Destination::parse(bad), Err(NumberError::Unparseable(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn countries_and_calling_codes_map_both_ways() {
        assert_eq!(calling_code_of("EE"), Some(372));
        assert_eq!(calling_code_of("ee"), Some(372));
        assert_eq!(calling_code_of("XX"), None);
        assert_eq!(calling_code_of("001"), None);
        assert_eq!(countries_of(372), vec!["EE"]);
        assert!(countries_of(1).contains(&"US") && countries_of(1).contains(&"CA"));
        let all = all_countries();
        assert!(all.contains(&("GB", 44)));
        assert!(all.iter().all(|(id, _)| id.len() == 2));
    }
}
