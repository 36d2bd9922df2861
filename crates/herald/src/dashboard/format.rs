//! How the dashboard writes values: times in UTC, rates, the status words customers read.

use crate::domain::Status;
use crate::store::Millis;

/// `2026-11-27 10:55:36` (UTC).
pub fn time(at: Millis) -> String {
    let secs = at.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `10:55:36.120`, for events close together.
pub fn time_ms(at: Millis) -> String {
    format!("{}.{:03}", time(at), at.rem_euclid(1000))
}

/// `HH:MM` or `MM-DD` depending on how long the period is, for chart labels.
pub fn short_time(at: Millis, period: Millis) -> String {
    let full = time(at);
    if period <= 2 * 86_400_000 {
        full[11..16].to_owned()
    } else {
        full[5..10].to_owned()
    }
}

/// Howard Hinnant's days-to-civil: proleptic Gregorian (year, month, day) of days since
/// 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `97.5 %`, or `–` when nothing is final yet.
pub fn rate(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_owned(), |r| format!("{:.1} %", r * 100.0))
}

/// The word the dashboard shows for a status: Delivered, Sent, Failed, Rejected, Queued,
/// Scheduled.
pub fn status(status: Status) -> &'static str {
    match status {
        Status::Scheduled => "Scheduled",
        Status::Queued => "Queued",
        Status::Sent => "Sent",
        Status::Delivered => "Delivered",
        Status::Failed => "Failed",
        Status::Rejected => "Rejected",
    }
}

/// What an `err` code means, in the source document's words.
pub fn err_meaning(err: crate::domain::ErrCode) -> &'static str {
    match err.0 {
        0 => "no error",
        1 => "failed to deliver",
        2 => "expired",
        3 => "invalid number",
        4 => "error crediting account",
        5 => "no destination country or operator",
        6 => "too many identical messages",
        7 => "sender name not allowed",
        8 => "number is in blacklist",
        999 => "general temporary error",
        _ => "unknown",
    }
}

/// `value` percent-encoded for a URL's query (everything but unreserved characters).
pub fn query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_utc() {
        assert_eq!(time(0), "1970-01-01 00:00:00");
        assert_eq!(time(1_795_776_936_120), "2026-11-27 10:55:36");
        assert_eq!(time_ms(1_795_776_936_120), "2026-11-27 10:55:36.120");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn a_query_value_is_percent_encoded() {
        assert_eq!(query_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn the_rate_is_a_percentage_or_a_dash() {
        assert_eq!(rate(Some(0.975)), "97.5 %");
        assert_eq!(rate(None), "–");
    }
}
