//! SMPP time format (`validity_period`, `schedule_delivery_time`): `YYMMDDhhmmsstnnp`.
//!
//! Two forms share the 16 characters. Relative (`p` = `R`): a duration written as years, months,
//! days, hours, minutes, seconds (`000000060000000R` is 6 hours). Absolute (`p` = `+` or `-`): a
//! local time, `t` tenths of a second, and `nn` quarter hours ahead of (`+`) or behind (`-`) UTC.
//! Two-digit years are 2000–2099.
//!
//! The calendar arithmetic is the proleptic Gregorian day count, written here because it is a
//! dozen lines and pulling a date crate into the protocol crate for it is not worth it.

use std::time::Duration;

/// How long a relative "month" and "year" last. The specification does not say; these are the
/// values SMSCs commonly use, and [`relative`] and [`parse`] agree on them.
const DAY: i64 = 86_400;
const MONTH: i64 = 30 * DAY;
const YEAR: i64 = 365 * DAY;

/// The relative form of `d`, whole seconds (rounded down), split into the largest units first.
/// Durations beyond 99 years are written as the longest one the format holds.
pub fn relative(d: Duration) -> String {
    let max = 99 * YEAR + 11 * MONTH + 29 * DAY + 23 * 3600 + 59 * 60 + 59;
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX).min(max);
    let (years, rest) = (secs / YEAR, secs % YEAR);
    let (months, rest) = (rest / MONTH, rest % MONTH);
    let (days, rest) = (rest / DAY, rest % DAY);
    let (hours, rest) = (rest / 3600, rest % 3600);
    let (minutes, seconds) = (rest / 60, rest % 60);
    format!("{years:02}{months:02}{days:02}{hours:02}{minutes:02}{seconds:02}000R")
}

/// The absolute form of a unix time, written in UTC (offset `00+`). Years outside 2000–2099
/// cannot be written and are clamped to that range's ends.
pub fn absolute_utc(unix_secs: i64) -> String {
    let lowest = days_from_civil(2000, 1, 1) * DAY;
    let highest = days_from_civil(2100, 1, 1) * DAY - 1;
    let t = unix_secs.clamp(lowest, highest);
    let (year, month, day) = civil_from_days(t.div_euclid(DAY));
    let secs = t.rem_euclid(DAY);
    format!(
        "{:02}{month:02}{day:02}{:02}{:02}{:02}000+",
        year % 100,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Reads either form as a unix time (relative ones counted from `now_unix`). `None` when empty
/// or malformed: wrong length, non-digits, impossible dates, offsets beyond 12 hours.
/// A relative value's fields may exceed their clock range (`48` hours): it is a duration.
pub fn parse(s: &str, now_unix: i64) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || !b[..15].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let two = |i: usize| i64::from(b[i] - b'0') * 10 + i64::from(b[i + 1] - b'0');
    let (yy, mo, dd, hh, mi, ss) = (two(0), two(2), two(4), two(6), two(8), two(10));
    match b[15] {
        b'R' => {
            // A duration, not a clock reading: `000000480000000R` (48 hours) is unambiguous.
            let span = yy * YEAR + mo * MONTH + dd * DAY + hh * 3600 + mi * 60 + ss;
            now_unix.checked_add(span)
        }
        sign @ (b'+' | b'-') => {
            let quarters = two(13);
            let year = 2000 + yy;
            if !(1..=12).contains(&mo)
                || dd < 1
                || dd > days_in_month(year, mo)
                || hh > 23
                || mi > 59
                || ss > 59
                || quarters > 48
            {
                return None;
            }
            let local = days_from_civil(year, mo, dd) * DAY + hh * 3600 + mi * 60 + ss;
            let offset = quarters * 15 * 60;
            // Local time is UTC plus the offset, so UTC is local minus it.
            Some(if sign == b'+' {
                local - offset
            } else {
                local + offset
            })
        }
        _ => None,
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a Gregorian date. Years are counted from March so that the leap
/// day falls at the end of the counting year, which makes month lengths a fixed formula.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    #[test]
    fn six_hours_is_the_documented_relative_value() {
        assert_eq!(relative(Duration::from_secs(6 * 3600)), "000000060000000R");
    }

    #[test]
    fn relative_splits_into_days_months_and_years() {
        assert_eq!(relative(Duration::from_secs(0)), "000000000000000R");
        assert_eq!(relative(Duration::from_secs(90_061)), "000001010101000R");
        assert_eq!(
            relative(Duration::from_secs(45 * 86_400)),
            "000115000000000R"
        );
        assert_eq!(
            relative(Duration::from_secs(400 * 86_400)),
            "010105000000000R"
        );
        assert_eq!(relative(Duration::from_millis(1_999)), "000000000001000R");
        assert_eq!(relative(Duration::MAX), "991129235959000R");
    }

    #[test]
    fn known_dates_are_written_in_utc() {
        assert_eq!(absolute_utc(NOW), "231114221320000+");
        assert_eq!(absolute_utc(951_782_400), "000229000000000+"); // 2000-02-29
        assert_eq!(absolute_utc(4_102_444_799), "991231235959000+"); // 2099-12-31
    }

    #[test]
    fn dates_outside_the_two_digit_century_are_clamped() {
        assert_eq!(absolute_utc(0), "000101000000000+");
        assert_eq!(absolute_utc(i64::MAX), "991231235959000+");
        assert_eq!(absolute_utc(i64::MIN), "000101000000000+");
    }

    #[test]
    fn relative_values_are_counted_from_now() {
        assert_eq!(parse("000000060000000R", NOW), Some(NOW + 6 * 3600));
        assert_eq!(
            parse("000102030405000R", NOW),
            Some(NOW + 32 * DAY + 3 * 3600 + 4 * 60 + 5)
        );
        assert_eq!(parse("000000480000000R", NOW), Some(NOW + 2 * DAY));
    }

    #[test]
    fn absolute_values_apply_their_quarter_hour_offset() {
        // 12:00 local at UTC+01:00 (4 quarters) is 11:00 UTC; at UTC-02:30 it is 14:30 UTC.
        let noon_utc = parse("240301120000000+", 0).unwrap();
        assert_eq!(parse("240301120000004+", 0), Some(noon_utc - 3600));
        assert_eq!(parse("240301120000010-", 0), Some(noon_utc + 9000));
        assert_eq!(
            parse("240301120000500+", 0),
            Some(noon_utc),
            "tenths are ignored"
        );
        assert_eq!(noon_utc, days_from_civil(2024, 3, 1) * DAY + 12 * 3600);
    }

    #[test]
    fn malformed_times_are_refused() {
        for bad in [
            "",
            "000000060000000",
            "000000060000000r",
            "0000000600000000R",
            "00000006000000 R",
            "231301120000000+",
            "230230120000000+",
            "230229120000000+",
            "240229126000000+",
            "240301120000049+",
            "240301120000000X",
            "２40301120000000+",
        ] {
            assert_eq!(parse(bad, NOW), None, "{bad:?}");
        }
        assert!(
            parse("240229120000000+", NOW).is_some(),
            "2024 is a leap year"
        );
    }

    #[test]
    fn day_counts_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_675), (2023, 11, 14));
        assert_eq!(civil_from_days(47_482), (2100, 1, 1));
    }

    proptest! {
        #[test]
        fn day_counts_round_trip(days in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn absolute_times_in_the_century_round_trip(t in 946_684_800i64..4_102_444_800) {
            prop_assert_eq!(parse(&absolute_utc(t), 0), Some(t));
        }

        #[test]
        fn relative_durations_round_trip(secs in 0u64..(99 * 365 * 86_400)) {
            prop_assert_eq!(parse(&relative(Duration::from_secs(secs)), NOW), Some(NOW + secs as i64));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}", now in any::<i64>()) {
            let _ = parse(&s, now);
        }
    }
}
