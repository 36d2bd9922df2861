//! Message text on the wire: choosing the alphabet, encoding it, and cutting long texts into
//! concatenated segments.
//!
//! A text that fits GSM 03.38 (basic table plus the extension table reached through ESC) is sent
//! as unpacked septets, one per octet, with `data_coding` 0; anything else as UCS-2 (UTF-16BE,
//! `data_coding` 8). Sizes follow the concatenation rules every carrier applies:
//!
//! | alphabet | single | per part (8-bit reference UDH `05 00 03 ref total seq`) |
//! |---|---|---|
//! | GSM-7 (septets) | 160 | 153 |
//! | UCS-2 (UTF-16 units) | 70 | 67 |
//! | binary (octets) | 140 | 134 |
//!
//! A part never ends between ESC and its extension character, nor between the two halves of a
//! surrogate pair: a handset would render garbage at the join.

mod convert;

pub use convert::{Autoconvert, autoconvert};

/// The alphabet a text is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alphabet {
    Gsm7,
    Ucs2,
}

impl Alphabet {
    pub fn data_coding(self) -> u8 {
        match self {
            Alphabet::Gsm7 => DATA_CODING_GSM7,
            Alphabet::Ucs2 => DATA_CODING_UCS2,
        }
    }
}

/// A text (or binary payload) ready for `submit_sm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub alphabet: Alphabet,
    pub data_coding: u8,
    /// One `short_message` per segment, UDH included when there is more than one.
    pub parts: Vec<Vec<u8>>,
    /// `0x40` (UDH indicator) when multipart, else `0x00`.
    pub esm_class: u8,
}

pub const DATA_CODING_GSM7: u8 = 0;
pub const DATA_CODING_LATIN1: u8 = 3;
pub const DATA_CODING_BINARY: u8 = 4;
pub const DATA_CODING_UCS2: u8 = 8;

/// The UDH indicator bit of `esm_class`.
pub const ESM_CLASS_UDHI: u8 = 0x40;

/// The concatenation header counts parts in one octet.
pub const MAX_PARTS: usize = 255;

const ESC: u8 = 0x1B;
const GSM7_SINGLE: usize = 160;
const GSM7_PART: usize = 153;
const UCS2_SINGLE: usize = 70;
const UCS2_PART: usize = 67;
const BINARY_SINGLE: usize = 140;
const BINARY_PART: usize = 134;

/// GSM 03.38 basic character set, indexed by septet. 0x1B is the escape to the extension table
/// and never stands for a character itself.
const BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// GSM 03.38 extension table: (septet after ESC, character).
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

const NOT_IN_BASIC: u8 = 0xFF;

/// The basic-table septet of each ASCII character, [`NOT_IN_BASIC`] for those the basic table
/// lacks (some are in the extension table), derived from [`BASIC`].
const ASCII_IN_BASIC: [u8; 128] = {
    let mut table = [NOT_IN_BASIC; 128];
    let mut septet = 0;
    while septet < BASIC.len() {
        let c = BASIC[septet] as usize;
        if c < table.len() && table[c] == NOT_IN_BASIC {
            table[c] = septet as u8;
        }
        septet += 1;
    }
    table
};

/// The septets of one character: one from the basic table, two (ESC + code) from the extension
/// table, none when GSM 03.38 cannot express it.
fn gsm_septets(c: char) -> Option<GsmChar> {
    if c == '\u{1B}' {
        return None;
    }
    // Most text is ASCII: a table lookup instead of a search through the 128 entries.
    if let Some(&i) = ASCII_IN_BASIC.get(c as usize) {
        if i != NOT_IN_BASIC {
            return Some(GsmChar::Basic(i));
        }
    } else if let Some(i) = BASIC.iter().position(|&b| b == c) {
        return Some(GsmChar::Basic(i as u8));
    }
    EXTENSION
        .iter()
        .find(|&&(_, e)| e == c)
        .map(|&(code, _)| GsmChar::Extended(code))
}

#[derive(Clone, Copy)]
enum GsmChar {
    Basic(u8),
    Extended(u8),
}

impl GsmChar {
    fn len(self) -> usize {
        match self {
            GsmChar::Basic(_) => 1,
            GsmChar::Extended(_) => 2,
        }
    }

    fn push_to(self, out: &mut Vec<u8>) {
        match self {
            GsmChar::Basic(s) => out.push(s),
            GsmChar::Extended(s) => out.extend_from_slice(&[ESC, s]),
        }
    }
}

/// The alphabet `text` will be sent in: GSM-7 when every character is in GSM 03.38.
pub fn alphabet_of(text: &str) -> Alphabet {
    if text.chars().all(|c| gsm_septets(c).is_some()) {
        Alphabet::Gsm7
    } else {
        Alphabet::Ucs2
    }
}

/// Encodes `text` and cuts it into segments; `concat_ref` is the reference shared by the parts
/// of this message (callers vary it per message so handsets do not mix two messages' parts).
///
/// Callers must check [`segment_count`] against [`MAX_PARTS`] first: the header cannot count
/// beyond 255, and the total it carries saturates there.
pub fn encode(text: &str, concat_ref: u8) -> Encoded {
    let alphabet = alphabet_of(text);
    let units = match alphabet {
        Alphabet::Gsm7 => gsm_units(text),
        Alphabet::Ucs2 => ucs2_units(text),
    };
    // A UTF-16 unit is two octets; a septet is one.
    let octets_per_unit = match alphabet {
        Alphabet::Gsm7 => 1,
        Alphabet::Ucs2 => 2,
    };
    let (single, part) = limits(alphabet);
    let parts = pack(units, octets_per_unit, single, part, concat_ref);
    Encoded {
        alphabet,
        data_coding: alphabet.data_coding(),
        esm_class: if parts.len() > 1 { ESM_CLASS_UDHI } else { 0 },
        parts,
    }
}

/// One segment carrying the customer's own user data header `udh` (length octet included)
/// ahead of `text`, UDHI set; `None` when the two do not fit one segment. A customer header is
/// never combined with Herald's concatenation: whoever writes the header owns the message's
/// structure. In GSM-7 the header takes its octets rounded up to whole septets.
pub fn encode_with_udh(text: &str, udh: &[u8]) -> Option<Encoded> {
    let alphabet = alphabet_of(text);
    let room = BINARY_SINGLE.checked_sub(udh.len())?;
    let (units, fits) = match alphabet {
        Alphabet::Gsm7 => {
            // One octet per septet, an escaped character's two included.
            let units = gsm_units(text);
            let septets = units.octets.len();
            let header_septets = (udh.len() * 8).div_ceil(7);
            (units, septets + header_septets <= GSM7_SINGLE)
        }
        Alphabet::Ucs2 => {
            let units = ucs2_units(text);
            let fits = units.octets.len() <= room;
            (units, fits)
        }
    };
    fits.then(|| {
        let mut part = udh.to_vec();
        part.extend_from_slice(&units.octets);
        Encoded {
            alphabet,
            data_coding: alphabet.data_coding(),
            parts: vec![part],
            esm_class: ESM_CLASS_UDHI,
        }
    })
}

/// One binary segment with the customer's header ahead of `data`; `None` when over 140 octets.
pub fn binary_with_udh(data: &[u8], udh: &[u8]) -> Option<Vec<u8>> {
    (udh.len() + data.len() <= BINARY_SINGLE).then(|| [udh, data].concat())
}

/// Cuts an opaque binary payload (`data_coding` 4) into segments of whole octets.
pub fn encode_binary(data: &[u8], concat_ref: u8) -> Vec<Vec<u8>> {
    let units = Units {
        octets: data.to_vec(),
        bounds: (0..=data.len()).collect(),
    };
    pack(units, 1, BINARY_SINGLE, BINARY_PART, concat_ref)
}

/// How many binary segments `data` needs.
pub fn binary_segment_count(data: &[u8]) -> usize {
    count_parts(&vec![1; data.len()], BINARY_SINGLE, BINARY_PART)
}

/// How many segments `text` needs (what the customer pays for).
pub fn segment_count(text: &str) -> usize {
    let alphabet = alphabet_of(text);
    let lengths: Vec<usize> = match alphabet {
        Alphabet::Gsm7 => text
            .chars()
            .filter_map(gsm_septets)
            .map(GsmChar::len)
            .collect(),
        Alphabet::Ucs2 => text.chars().map(char::len_utf16).collect(),
    };
    let (single, part) = limits(alphabet);
    count_parts(&lengths, single, part)
}

fn limits(alphabet: Alphabet) -> (usize, usize) {
    match alphabet {
        Alphabet::Gsm7 => (GSM7_SINGLE, GSM7_PART),
        Alphabet::Ucs2 => (UCS2_SINGLE, UCS2_PART),
    }
}

/// A text's octets in its alphabet, cut only between characters: an escaped GSM character's
/// two septets or a UTF-16 surrogate pair stay in one segment.
///
/// One buffer with the characters' bounds rather than a buffer per character: encoding runs
/// for every message accepted, and a vector per character was an allocation and a free each.
struct Units {
    octets: Vec<u8>,
    /// Where each character starts in `octets`, and last where the final one ends.
    bounds: Vec<usize>,
}

impl Units {
    fn with_capacity(octets: usize) -> Self {
        let mut bounds = Vec::with_capacity(octets + 1);
        bounds.push(0);
        Self {
            octets: Vec::with_capacity(octets),
            bounds,
        }
    }

    /// Ends the character whose octets were pushed last.
    fn end_character(&mut self) {
        self.bounds.push(self.octets.len());
    }

    /// The octets of characters `from..to`.
    fn span(&self, from: usize, to: usize) -> &[u8] {
        &self.octets[self.bounds[from]..self.bounds[to]]
    }

    fn count(&self) -> usize {
        self.bounds.len() - 1
    }
}

/// Each character as its indivisible group of septets (ESC stays with its code).
fn gsm_units(text: &str) -> Units {
    let mut units = Units::with_capacity(text.len());
    for g in text.chars().filter_map(gsm_septets) {
        g.push_to(&mut units.octets);
        units.end_character();
    }
    units
}

/// Each character as its indivisible UTF-16BE octets (a surrogate pair stays whole).
fn ucs2_units(text: &str) -> Units {
    let mut units = Units::with_capacity(text.len() * 2);
    let mut buf = [0u16; 2];
    for c in text.chars() {
        for u in c.encode_utf16(&mut buf) {
            units.octets.extend_from_slice(&u.to_be_bytes());
        }
        units.end_character();
    }
    units
}

/// Greedy cut: a unit that does not fit whole starts the next part. `lengths` are in the
/// alphabet's counting unit (septets, UTF-16 units or octets).
fn cut_points(lengths: &[usize], part: usize) -> Vec<usize> {
    let mut starts = vec![0];
    let mut used = 0;
    for (i, &len) in lengths.iter().enumerate() {
        if used + len > part {
            starts.push(i);
            used = 0;
        }
        used += len;
    }
    starts
}

fn count_parts(lengths: &[usize], single: usize, part: usize) -> usize {
    if lengths.iter().sum::<usize>() <= single {
        1
    } else {
        cut_points(lengths, part).len()
    }
}

/// Joins indivisible `units` into segments; limits count `octets_per_unit`-sized units.
fn pack(
    units: Units,
    octets_per_unit: usize,
    single: usize,
    part: usize,
    concat_ref: u8,
) -> Vec<Vec<u8>> {
    if units.octets.len() / octets_per_unit <= single {
        return vec![units.octets];
    }
    let lengths: Vec<usize> = units
        .bounds
        .windows(2)
        .map(|w| (w[1] - w[0]) / octets_per_unit)
        .collect();
    let starts = cut_points(&lengths, part);
    let total = starts.len().min(MAX_PARTS) as u8;
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            let end = starts.get(n + 1).copied().unwrap_or(units.count());
            let seq = (n + 1).min(MAX_PARTS) as u8;
            let mut out = vec![0x05, 0x00, 0x03, concat_ref, total, seq];
            out.extend_from_slice(units.span(start, end));
            out
        })
        .collect()
}

/// Splits a `short_message` into its user data header (empty when the UDH indicator is clear)
/// and the text octets. A header longer than the message yields no header and all octets, so a
/// malformed peer message is still readable.
pub fn split_udh(esm_class: u8, short_message: &[u8]) -> (&[u8], &[u8]) {
    if esm_class & ESM_CLASS_UDHI == 0 {
        return (&[], short_message);
    }
    match short_message.first() {
        Some(&udhl) if (udhl as usize) < short_message.len() => {
            short_message.split_at(udhl as usize + 1)
        }
        _ => (&[], short_message),
    }
}

/// `data_coding` with a message class (GSM 03.38 §4): 0 flash (shown, not stored), 1 phone,
/// 2 SIM, 3 terminal equipment. GSM-7 and binary take the 1111 coding group (`0xF0`/`0xF4`),
/// UCS-2 the general group with the class bit (`0x18`). `None` for a class above 3 or a
/// `data_coding` that cannot carry one (Latin-1 and the others have no class form).
pub fn with_message_class(data_coding: u8, class: u8) -> Option<u8> {
    if class > 3 {
        return None;
    }
    match data_coding {
        DATA_CODING_GSM7 => Some(0xF0 | class),
        DATA_CODING_BINARY => Some(0xF4 | class),
        DATA_CODING_UCS2 => Some(0x18 | class),
        _ => None,
    }
}

/// Where a segment stands in its concatenated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concat {
    pub reference: u16,
    pub total: u8,
    /// 1-based.
    pub seq: u8,
}

/// The concatenation of a user data header that holds nothing else: the information element
/// 0x00 (8-bit reference) or 0x08 (16-bit reference). `None` for any other header, which must
/// then travel as it is.
pub fn concat_of(udh: &[u8]) -> Option<Concat> {
    match udh {
        [0x05, 0x00, 0x03, reference, total, seq] => Some(Concat {
            reference: u16::from(*reference),
            total: *total,
            seq: *seq,
        }),
        [0x06, 0x08, 0x04, hi, lo, total, seq] => Some(Concat {
            reference: u16::from_be_bytes([*hi, *lo]),
            total: *total,
            seq: *seq,
        }),
        _ => None,
    }
}

/// Decodes message octets (without UDH) for display: GSM-7 unpacked septets, Latin-1, UCS-2;
/// anything else (binary, unknown codings) as lowercase hex. Never fails: undecodable input
/// becomes U+FFFD.
pub fn decode(data_coding: u8, bytes: &[u8]) -> String {
    match data_coding {
        DATA_CODING_GSM7 => decode_gsm7(bytes),
        1 => bytes
            .iter()
            .map(|&b| if b.is_ascii() { b as char } else { '\u{FFFD}' })
            .collect(),
        DATA_CODING_LATIN1 => bytes.iter().map(|&b| b as char).collect(),
        DATA_CODING_UCS2 => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => bytes.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

fn decode_gsm7(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut it = bytes.iter();
    while let Some(&b) = it.next() {
        if b == ESC {
            match it.next() {
                Some(&code) => out.push(
                    EXTENSION
                        .iter()
                        .find(|&&(c, _)| c == code)
                        // Unknown extension code: 03.38 says show the basic character instead.
                        .map(|&(_, ch)| ch)
                        .unwrap_or_else(|| basic_char(code)),
                ),
                None => out.push(' '),
            }
        } else {
            out.push(basic_char(b));
        }
    }
    out
}

fn basic_char(septet: u8) -> char {
    BASIC.get(septet as usize).copied().unwrap_or('\u{FFFD}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn udh(parts: &Encoded, n: usize) -> &[u8] {
        &parts.parts[n][..6]
    }

    #[test]
    fn plain_ascii_is_gsm7_with_data_coding_zero() {
        let e = encode("Hello, world!", 7);
        assert_eq!(e.alphabet, Alphabet::Gsm7);
        assert_eq!(e.data_coding, 0);
        assert_eq!(e.esm_class, 0);
        assert_eq!(e.parts, vec![b"Hello, world!".to_vec()]);
    }

    /// The ASCII table gives what a search of the basic table (first match) gives, for every
    /// ASCII character and for every character either table holds.
    #[test]
    fn ascii_table_agrees_with_a_search_of_the_basic_table() {
        let searched = |c: char| {
            if c == '\u{1B}' {
                return None;
            }
            BASIC
                .iter()
                .position(|&b| b == c)
                .map(|i| (1, i as u8))
                .or_else(|| {
                    EXTENSION
                        .iter()
                        .find(|&&(_, e)| e == c)
                        .map(|&(code, _)| (2, code))
                })
        };
        let looked_up = |c: char| {
            gsm_septets(c).map(|g| match g {
                GsmChar::Basic(s) => (1, s),
                GsmChar::Extended(s) => (2, s),
            })
        };
        let every = (0u8..128)
            .map(char::from)
            .chain(BASIC)
            .chain(EXTENSION.iter().map(|&(_, c)| c))
            .chain(['é', 'Ω', '😀']);
        for c in every {
            assert_eq!(looked_up(c), searched(c), "{c:?}");
        }
    }

    #[test]
    fn gsm_specific_characters_map_to_their_septets() {
        let e = encode("@£$¥èΔ_ÄÖÑÜ§¿äöñüà", 0);
        assert_eq!(
            e.parts[0],
            vec![
                0x00, 0x01, 0x02, 0x03, 0x04, 0x10, 0x11, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F, 0x60, 0x7B,
                0x7C, 0x7D, 0x7E, 0x7F
            ]
        );
    }

    #[test]
    fn extension_characters_are_escaped() {
        let e = encode("€[]{}|^~\\\u{0C}", 0);
        assert_eq!(e.alphabet, Alphabet::Gsm7);
        assert_eq!(
            e.parts[0],
            vec![
                0x1B, 0x65, 0x1B, 0x3C, 0x1B, 0x3E, 0x1B, 0x28, 0x1B, 0x29, 0x1B, 0x40, 0x1B, 0x14,
                0x1B, 0x3D, 0x1B, 0x2F, 0x1B, 0x0A
            ]
        );
    }

    #[test]
    fn exactly_160_gsm_characters_fit_one_segment() {
        let text = "a".repeat(160);
        assert_eq!(segment_count(&text), 1);
        let e = encode(&text, 1);
        assert_eq!(e.parts.len(), 1);
        assert_eq!(e.parts[0].len(), 160);
        assert_eq!(e.esm_class, 0);
    }

    #[test]
    fn a_161st_gsm_character_makes_two_segments_of_153_and_8() {
        let text = "a".repeat(161);
        assert_eq!(segment_count(&text), 2);
        let e = encode(&text, 0x2A);
        assert_eq!(e.esm_class, 0x40);
        assert_eq!(e.parts.len(), 2);
        assert_eq!(udh(&e, 0), &[0x05, 0x00, 0x03, 0x2A, 2, 1]);
        assert_eq!(udh(&e, 1), &[0x05, 0x00, 0x03, 0x2A, 2, 2]);
        assert_eq!(e.parts[0].len(), 6 + 153);
        assert_eq!(e.parts[1].len(), 6 + 8);
    }

    #[test]
    fn the_euro_sign_counts_two_septets() {
        assert_eq!(segment_count(&"€".repeat(80)), 1);
        assert_eq!(segment_count(&format!("{}a", "€".repeat(80))), 2);
        assert_eq!(segment_count(&format!("{}€", "a".repeat(159))), 2);
    }

    #[test]
    fn an_escape_pair_is_never_split_across_parts() {
        // 152 plain septets then a euro: the pair would straddle 153, so it starts part two.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let e = encode(&text, 0);
        assert_eq!(e.parts.len(), 2);
        assert_eq!(e.parts[0].len(), 6 + 152);
        assert_eq!(&e.parts[1][6..9], &[0x1B, 0x65, b'b']);
    }

    #[test]
    fn exactly_70_ucs2_characters_fit_one_segment_and_71_need_two() {
        let seventy = "Ж".repeat(70);
        assert_eq!(segment_count(&seventy), 1);
        let e = encode(&seventy, 0);
        assert_eq!(
            (e.alphabet, e.data_coding, e.parts.len()),
            (Alphabet::Ucs2, 8, 1)
        );
        assert_eq!(e.parts[0].len(), 140);
        assert_eq!(&e.parts[0][..2], &[0x04, 0x16]);

        let seventy_one = "Ж".repeat(71);
        assert_eq!(segment_count(&seventy_one), 2);
        let e = encode(&seventy_one, 9);
        assert_eq!(e.parts[0].len(), 6 + 134);
        assert_eq!(e.parts[1].len(), 6 + 8);
        assert_eq!(udh(&e, 1), &[0x05, 0x00, 0x03, 9, 2, 2]);
    }

    #[test]
    fn one_non_gsm_character_makes_the_whole_text_ucs2() {
        assert_eq!(alphabet_of("Tere, õhtu!"), Alphabet::Ucs2);
        assert_eq!(alphabet_of("Tere, öhtu!"), Alphabet::Gsm7);
    }

    #[test]
    fn an_emoji_counts_two_utf16_units() {
        assert_eq!(segment_count(&"😀".repeat(35)), 1);
        assert_eq!(segment_count(&format!("{}a", "😀".repeat(35))), 2);
        assert_eq!(encode("😀", 0).parts[0], vec![0xD8, 0x3D, 0xDE, 0x00]);
    }

    #[test]
    fn a_surrogate_pair_is_never_split_across_parts() {
        // 66 units then an emoji: the pair would straddle 67, so it starts part two.
        let text = format!("{}😀{}", "Ж".repeat(66), "x".repeat(10));
        let e = encode(&text, 0);
        assert_eq!(e.parts.len(), 2);
        assert_eq!(e.parts[0].len(), 6 + 132);
        assert_eq!(&e.parts[1][6..12], &[0xD8, 0x3D, 0xDE, 0x00, 0x00, b'x']);
    }

    #[test]
    fn binary_payloads_use_140_and_134_octet_parts() {
        assert_eq!(binary_segment_count(&[0u8; 140]), 1);
        assert_eq!(binary_segment_count(&[0u8; 141]), 2);
        let parts = encode_binary(&[0xFFu8; 141], 3);
        assert_eq!(parts[0].len(), 6 + 134);
        assert_eq!(parts[1].len(), 6 + 7);
    }

    #[test]
    fn split_udh_separates_header_from_text() {
        let e = encode(&"a".repeat(200), 5);
        let (h, body) = split_udh(e.esm_class, &e.parts[1]);
        assert_eq!(h, &[0x05, 0x00, 0x03, 5, 2, 2]);
        assert_eq!(body.len(), 47);
        assert_eq!(split_udh(0x40, &[0x09, 1]), (&[][..], &[0x09, 1][..]));
        assert_eq!(split_udh(0x00, b"hi"), (&[][..], &b"hi"[..]));
    }

    #[test]
    fn decode_reads_gsm_ucs2_latin1_and_shows_binary_as_hex() {
        assert_eq!(decode(0, &[0x1B, 0x65, 0x00, 0x41]), "€@A");
        assert_eq!(decode(8, &[0x04, 0x16, 0xD8, 0x3D, 0xDE, 0x00]), "Ж😀");
        assert_eq!(decode(3, &[0xE9]), "é");
        assert_eq!(decode(4, &[0xDE, 0xAD]), "dead");
        // Odd UCS-2 length and a lone trailing ESC must not panic.
        assert_eq!(decode(8, &[0x00]), "\u{0}");
        assert_eq!(decode(0, &[0x1B]), " ");
    }

    #[test]
    fn a_customer_header_goes_ahead_of_the_text_in_one_segment_or_not_at_all() {
        let port = [0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0];
        let e = encode_with_udh("hi", &port).unwrap();
        assert_eq!(e.esm_class, ESM_CLASS_UDHI);
        assert_eq!(e.parts, vec![[&port[..], b"hi"].concat()]);
        assert_eq!(split_udh(e.esm_class, &e.parts[0]), (&port[..], &b"hi"[..]));
        // 7 octets take 8 septets: 152 characters fit, 153 do not.
        assert!(encode_with_udh(&"a".repeat(152), &port).is_some());
        assert!(encode_with_udh(&"a".repeat(153), &port).is_none());
        // UCS-2: 133 octets of room, so 66 characters.
        assert_eq!(
            encode_with_udh(&"Ж".repeat(66), &port).unwrap().data_coding,
            8
        );
        assert!(encode_with_udh(&"Ж".repeat(67), &port).is_none());
        assert_eq!(
            binary_with_udh(&[0xAB; 133], &port).map(|p| p.len()),
            Some(140)
        );
        assert!(binary_with_udh(&[0xAB; 134], &port).is_none());
    }

    #[test]
    fn a_message_class_sets_the_class_bits_of_each_alphabet() {
        assert_eq!(with_message_class(DATA_CODING_GSM7, 0), Some(0xF0));
        assert_eq!(with_message_class(DATA_CODING_GSM7, 3), Some(0xF3));
        assert_eq!(with_message_class(DATA_CODING_BINARY, 1), Some(0xF5));
        assert_eq!(with_message_class(DATA_CODING_UCS2, 2), Some(0x1A));
        assert_eq!(with_message_class(DATA_CODING_GSM7, 4), None);
        assert_eq!(with_message_class(DATA_CODING_LATIN1, 0), None);
    }

    #[test]
    fn a_concatenation_header_is_read_with_either_reference_size_and_nothing_else() {
        let e = encode(&"a".repeat(200), 0x2A);
        let (udh, _) = split_udh(e.esm_class, &e.parts[1]);
        assert_eq!(
            concat_of(udh),
            Some(Concat {
                reference: 0x2A,
                total: 2,
                seq: 2
            })
        );
        assert_eq!(
            concat_of(&[0x06, 0x08, 0x04, 0x01, 0x02, 3, 1]),
            Some(Concat {
                reference: 0x0102,
                total: 3,
                seq: 1
            })
        );
        // A port-addressing header, or concatenation plus another element, is not only SAR.
        assert_eq!(concat_of(&[0x04, 0x05, 0x02, 0x0B, 0x84]), None);
        assert_eq!(concat_of(&[0x08, 0x00, 0x03, 1, 2, 1, 0x0A, 0x00]), None);
    }

    proptest! {
        #[test]
        fn any_text_survives_encode_then_decode(text in "\\PC{0,400}") {
            let e = encode(&text, 1);
            let decoded: String = e
                .parts
                .iter()
                .map(|p| decode(e.data_coding, split_udh(e.esm_class, p).1))
                .collect();
            prop_assert_eq!(decoded, text.clone());
            prop_assert_eq!(e.parts.len(), segment_count(&text));
        }

        #[test]
        fn gsm_parts_never_exceed_their_limit(text in "[a-z€\\[\\]]{0,600}") {
            let e = encode(&text, 1);
            let limit = if e.parts.len() == 1 { 160 } else { 6 + 153 };
            for p in &e.parts {
                prop_assert!(p.len() <= limit);
                prop_assert_ne!(p.last(), Some(&0x1B));
            }
        }
    }
}
