//! Request parameters of the plain-text API, merged from the query string and an
//! `application/x-www-form-urlencoded` body.
//!
//! Merge rule: a parameter present in the body wins over the same parameter in the query string
//! (the body is what the client composed for this request; the query often comes from a base URL
//! template). Within one source the first occurrence counts.
//!
//! Values are kept as bytes: `data` carries percent-encoded binary that must not go through a
//! UTF-8 conversion, and `text` may be in the `charset` the client names.

use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: HashMap<String, Vec<u8>>,
}

impl Params {
    /// Merges `query` (the raw query string) and `body` (when it is a form).
    pub fn merge(query: Option<&str>, body: Option<&[u8]>) -> Self {
        let mut values = HashMap::new();
        if let Some(body) = body {
            insert_pairs(&mut values, body);
        }
        if let Some(query) = query {
            insert_pairs(&mut values, query.as_bytes());
        }
        Self { values }
    }

    /// The raw bytes of a parameter.
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.values.get(name).map(Vec::as_slice)
    }

    /// A parameter as text, trimmed; `None` when absent, empty, or not UTF-8.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.bytes(name)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// Present but not valid UTF-8: a malformed parameter, not a missing one.
    pub fn is_malformed_text(&self, name: &str) -> bool {
        self.bytes(name)
            .is_some_and(|b| std::str::from_utf8(b).is_err())
    }
}

/// Inserts `a=1&b=2` pairs, keeping values already present: an earlier source's, or an earlier
/// occurrence in this one (both merge rules at once).
fn insert_pairs(values: &mut HashMap<String, Vec<u8>>, input: &[u8]) {
    for pair in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let name = String::from_utf8_lossy(&percent_decode(name)).into_owned();
        values.entry(name).or_insert_with(|| percent_decode(value));
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; a `%` not
/// followed by two hex digits stays as it is (browsers and PHP do the same).
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                input.get(i + 1).and_then(hex),
                input.get(i + 2).and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_body_are_merged_and_the_body_wins() {
        let p = Params::merge(Some("to=1&text=query&from=Q"), Some(b"text=body&dlr-url=x"));
        assert_eq!(p.text("to"), Some("1"));
        assert_eq!(p.text("text"), Some("body"));
        assert_eq!(p.text("from"), Some("Q"));
        assert_eq!(p.text("dlr-url"), Some("x"));
    }

    #[test]
    fn the_first_occurrence_within_one_source_counts() {
        let p = Params::merge(Some("to=1&to=2"), None);
        assert_eq!(p.text("to"), Some("1"));
    }

    #[test]
    fn the_bodys_first_occurrence_wins_over_every_other() {
        let p = Params::merge(Some("to=q1&to=q2"), Some(b"to=b1&to=b2"));
        assert_eq!(p.text("to"), Some("b1"));
    }

    #[test]
    fn values_are_percent_and_plus_decoded() {
        let p = Params::merge(Some("text=Hello+w%C3%B6rld%21&to=%2B372+5555"), None);
        assert_eq!(p.text("text"), Some("Hello wörld!"));
        assert_eq!(p.text("to"), Some("+372 5555"));
    }

    #[test]
    fn binary_data_keeps_its_bytes() {
        let p = Params::merge(Some("data=%00%FF%80a"), None);
        assert_eq!(p.bytes("data"), Some(&[0x00, 0xFF, 0x80, b'a'][..]));
        assert!(p.is_malformed_text("data"));
        assert_eq!(p.text("data"), None);
    }

    #[test]
    fn a_stray_percent_is_kept_literally() {
        assert_eq!(percent_decode(b"100%"), b"100%");
        assert_eq!(percent_decode(b"%zz%4"), b"%zz%4");
    }

    #[test]
    fn empty_values_count_as_absent_text() {
        let p = Params::merge(Some("from=&flag"), None);
        assert_eq!(p.text("from"), None);
        assert_eq!(p.bytes("flag"), Some(&[][..]));
    }
}
