//! Timestamps on the wire: RFC 3339 in UTC (`2026-11-27T08:09:42.389Z`), converted to and from
//! the store's milliseconds since the Unix epoch. Small enough not to need a date crate.

use crate::store::Millis;

const MS_PER_DAY: i64 = 86_400_000;

/// `2026-11-27T08:09:42.389Z`.
pub fn format(at: Millis) -> String {
    let days = at.div_euclid(MS_PER_DAY);
    let ms = at.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// RFC 3339 with a `Z` or `±hh:mm` offset, fractional seconds optional (kept to milliseconds).
pub fn parse(s: &str) -> Option<Millis> {
    parse_with(s, false)
}

/// [`parse`], and also ISO 8601 local forms the published clients send, read as UTC: no
/// offset (`2026-12-01T10:00:00`), or no seconds either (`2026-12-01T10:00`).
pub fn parse_lenient(s: &str) -> Option<Millis> {
    parse_with(s, true)
}

fn parse_with(s: &str, lenient: bool) -> Option<Millis> {
    let b = s.as_bytes();
    if b.len() < 16 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = s.get(from..to)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute) = (num(11, 13)?, num(14, 16)?);
    let (second, mut rest) = if b.get(16) == Some(&b':') {
        (num(17, 19)?, s.get(19..)?)
    } else if lenient {
        (0, &s[16..])
    } else {
        return None;
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        "" if lenient => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let (h, m) = (num_at(rest, 1)?, num_at(rest, 4)?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 60 + m)
        }
    };
    let days = days_from_civil(year, month, day);
    let local = days * MS_PER_DAY + hour * 3_600_000 + minute * 60_000 + second.min(59) * 1000;
    Some(local + millis - offset_minutes * 60_000)
}

fn num_at(s: &str, at: usize) -> Option<i64> {
    let part = s.get(at..at + 2)?;
    part.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| part.parse().ok())
        .flatten()
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's algorithms (days since 1970-01-01 ↔ proleptic Gregorian date).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_known_instants() {
        // 2026-12-01T10:00:00Z, checked with `date -u -d @1796119200`.
        assert_eq!(parse("2026-12-01T10:00:00Z"), Some(1_796_119_200_000));
        assert_eq!(format(1_796_119_200_000), "2026-12-01T10:00:00.000Z");
        assert_eq!(format(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            parse("2024-02-29T23:59:59.5+02:00"),
            Some(1_709_243_999_500)
        );
    }

    #[test]
    fn rejects_what_is_not_rfc_3339() {
        for bad in [
            "2026-12-01",
            "2026-12-01T10:00:00",
            "2026-13-01T10:00:00Z",
            "2026-02-30T10:00:00Z",
            "2026-12-01T10:00:00+0200",
            "2026-12-01T10:00:00.Z",
            "soon",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn lenient_parsing_reads_local_iso_forms_as_utc() {
        assert_eq!(
            parse_lenient("2026-12-01T10:00:00"),
            Some(1_796_119_200_000)
        );
        assert_eq!(parse_lenient("2026-12-01T10:00"), Some(1_796_119_200_000));
        assert_eq!(
            parse_lenient("2026-12-01T10:00:00.250000+00:00"),
            Some(1_796_119_200_250)
        );
        assert_eq!(parse_lenient("2026-12-01T10:00:0"), None);
        assert_eq!(parse("2026-12-01T10:00"), None);
    }

    #[test]
    fn format_then_parse_is_the_identity() {
        for at in [0, 1, 951_782_400_000, 1_796_119_200_123, 4_102_444_800_999] {
            assert_eq!(parse(&format(at)), Some(at));
        }
    }
}
