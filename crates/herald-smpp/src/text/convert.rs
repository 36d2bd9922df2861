//! `autoconvert`: replacing characters outside GSM 03.38 so a text can travel as GSM-7.
//!
//! A single character outside GSM 03.38 sends the whole text as UCS-2, which more than halves
//! what a segment holds (70 characters instead of 160). Word processors and phones put such
//! characters into otherwise plain texts all the time: curly quotes, dashes, non-breaking spaces,
//! an ellipsis. Replacing them with their plain look-alikes costs the reader nothing.
//!
//! The replacement is all or nothing: it is made only when the converted text is GSM-7 through
//! and through. If one character still has no GSM form (an emoji, Cyrillic), the text goes as
//! UCS-2 anyway, and then it goes exactly as written.

use std::borrow::Cow;

use super::{Alphabet, alphabet_of};

/// How far `autoconvert` may change a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Autoconvert {
    /// Typographic look-alikes only (quotes, dashes, spaces, ellipsis).
    #[default]
    On,
    /// Also accented Latin letters that GSM 03.38 lacks, to their base letters (`ő` → `o`).
    Full,
    /// Never change the text.
    Off,
}

/// The text to send under `mode`: converted when that makes it GSM-7, else unchanged.
pub fn autoconvert(text: &str, mode: Autoconvert) -> Cow<'_, str> {
    if mode == Autoconvert::Off || alphabet_of(text) == Alphabet::Gsm7 {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match look_alike(c) {
            Some(plain) => out.push_str(plain),
            None if mode == Autoconvert::Full => match base_letter(c) {
                Some(base) => out.push_str(base),
                None => out.push(c),
            },
            None => out.push(c),
        }
    }
    if alphabet_of(&out) == Alphabet::Gsm7 {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// Typographic characters and their plain GSM forms. Characters GSM 03.38 has are never here.
fn look_alike(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{00B4}' | '`' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}'
        | '\u{00BB}' => "\"",
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
        | '\u{2212}' => "-",
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' | '\t' => " ",
        '\u{2026}' => "...",
        '\u{2039}' => "<",
        '\u{203A}' => ">",
        '\u{2022}' | '\u{00B7}' => "*",
        // Invisible: a zero-width space, joiner or byte-order mark shows nothing.
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => "",
        _ => return None,
    })
}

/// Latin letters GSM 03.38 lacks, and the letters they are written without their marks. Letters
/// it has (é, è, ù, ì, ò, Ç, Ä, Ö, Ñ, Ü, ä, ö, ñ, ü, à, Å, å, Æ, æ, Ø, ø, ß, É) never reach here.
fn base_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'á' | 'â' | 'ã' | 'ā' | 'ă' | 'ą' => "a",
        'Á' | 'À' | 'Â' | 'Ã' | 'Ā' | 'Ă' | 'Ą' => "A",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'Ć' | 'Ĉ' | 'Ċ' | 'Č' => "C",
        'ď' | 'đ' => "d",
        'Ď' | 'Đ' => "D",
        'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'È' | 'Ê' | 'Ë' | 'Ē' | 'Ĕ' | 'Ė' | 'Ę' | 'Ě' => "E",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'Ĝ' | 'Ğ' | 'Ġ' | 'Ģ' => "G",
        'ĥ' | 'ħ' => "h",
        'Ĥ' | 'Ħ' => "H",
        'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'Í' | 'Ì' | 'Î' | 'Ï' | 'Ĩ' | 'Ī' | 'Ĭ' | 'Į' | 'İ' => "I",
        'ĵ' => "j",
        'Ĵ' => "J",
        'ķ' => "k",
        'Ķ' => "K",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'Ĺ' | 'Ļ' | 'Ľ' | 'Ŀ' | 'Ł' => "L",
        'ń' | 'ņ' | 'ň' => "n",
        'Ń' | 'Ņ' | 'Ň' => "N",
        'ó' | 'ô' | 'õ' | 'ō' | 'ŏ' | 'ő' => "o",
        'Ó' | 'Ò' | 'Ô' | 'Õ' | 'Ō' | 'Ŏ' | 'Ő' => "O",
        'œ' => "oe",
        'Œ' => "OE",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'Ŕ' | 'Ŗ' | 'Ř' => "R",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
        'Ś' | 'Ŝ' | 'Ş' | 'Š' | 'Ș' => "S",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'Ţ' | 'Ť' | 'Ŧ' | 'Ț' => "T",
        'ú' | 'û' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'Ú' | 'Ù' | 'Û' | 'Ũ' | 'Ū' | 'Ŭ' | 'Ů' | 'Ű' | 'Ų' => "U",
        'ŵ' => "w",
        'Ŵ' => "W",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'Ý' | 'Ÿ' | 'Ŷ' => "Y",
        'ź' | 'ż' | 'ž' => "z",
        'Ź' | 'Ż' | 'Ž' => "Z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::segment_count;
    use super::*;

    #[test]
    fn typographic_characters_become_their_plain_look_alikes() {
        let text = "\u{201C}Don\u{2019}t\u{201D} \u{2013} wait\u{2026}\u{00A0}now \u{2014} ok";
        assert_eq!(
            autoconvert(text, Autoconvert::On),
            "\"Don't\" - wait... now - ok"
        );
    }

    #[test]
    fn converting_keeps_the_message_in_one_gsm_segment_instead_of_three_ucs2() {
        let text = format!("{}\u{2019}", "a".repeat(150));
        assert_eq!(segment_count(&text), 3);
        assert_eq!(segment_count(&autoconvert(&text, Autoconvert::On)), 1);
    }

    #[test]
    fn on_leaves_accented_letters_and_so_the_whole_text_unchanged() {
        let text = "Tere \u{2019}õhtu\u{2019}";
        assert_eq!(autoconvert(text, Autoconvert::On), text);
        assert_eq!(
            alphabet_of(&autoconvert(text, Autoconvert::On)),
            Alphabet::Ucs2
        );
    }

    #[test]
    fn full_also_writes_accented_letters_without_their_marks() {
        assert_eq!(
            autoconvert("Tere \u{2019}õhtu\u{2019}, Győr, Łódź", Autoconvert::Full),
            "Tere 'ohtu', Gyor, Lodz"
        );
    }

    #[test]
    fn letters_gsm_has_are_never_changed() {
        let text = "é è ù ì ò Ç Ä Ö Ñ Ü ä ö ñ ü à Å å Æ æ Ø ø ß É \u{2013}";
        assert_eq!(
            autoconvert(text, Autoconvert::Full),
            "é è ù ì ò Ç Ä Ö Ñ Ü ä ö ñ ü à Å å Æ æ Ø ø ß É -"
        );
    }

    #[test]
    fn a_character_without_a_gsm_form_leaves_the_text_exactly_as_written() {
        for mode in [Autoconvert::On, Autoconvert::Full] {
            let text = "\u{201C}Привет\u{201D} õ";
            assert!(matches!(autoconvert(text, mode), Cow::Borrowed(t) if t == text));
            let text = "ok \u{2014} 😀";
            assert_eq!(autoconvert(text, mode), text);
        }
    }

    #[test]
    fn off_never_changes_anything() {
        let text = "\u{201C}quoted\u{201D}";
        assert_eq!(autoconvert(text, Autoconvert::Off), text);
        assert_eq!(
            alphabet_of(&autoconvert(text, Autoconvert::Off)),
            Alphabet::Ucs2
        );
    }

    #[test]
    fn every_replacement_is_itself_gsm() {
        for c in (0u32..0x3100).filter_map(char::from_u32) {
            for out in [look_alike(c), base_letter(c)].into_iter().flatten() {
                assert_eq!(alphabet_of(out), Alphabet::Gsm7, "{c:?} → {out:?}");
                assert_eq!(
                    alphabet_of(&c.to_string()),
                    Alphabet::Ucs2,
                    "{c:?} is GSM already"
                );
            }
        }
    }
}
