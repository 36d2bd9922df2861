//! Amounts of money in the account currency: balances, prices per segment, charges.
//!
//! Kept as whole micro-units (millionths) in an `i64`, never as floats, so charging and refunding
//! add up exactly; the operator writes them as decimal strings (`"0.05"`, `"100.00"`).

use std::fmt;

/// Micro-units per unit of currency.
const MICROS: i64 = 1_000_000;

/// A non-negative amount of money, exact to a millionth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{0:?} is not a decimal amount like \"0.05\" (at most six decimals)")]
    Malformed(String),
    #[error("{0:?} is too large")]
    TooLarge(String),
}

impl Money {
    pub const ZERO: Money = Money(0);

    /// `"12"`, `"0.05"`, `"100.000001"`: digits with an optional point and up to six decimals.
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        let malformed = || MoneyError::Malformed(s.to_owned());
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > 6 || s.ends_with('.') {
            return Err(malformed());
        }
        let too_large = || MoneyError::TooLarge(s.to_owned());
        let units: i64 = int.parse().map_err(|_| too_large())?;
        let frac_micros: i64 = format!("{frac:0<6}").parse().map_err(|_| malformed())?;
        units
            .checked_mul(MICROS)
            .and_then(|m| m.checked_add(frac_micros))
            .map(Money)
            .ok_or_else(too_large)
    }

    pub const fn from_micros(micros: i64) -> Self {
        Money(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// The price of `count` segments at this price each, if it fits.
    pub fn times(self, count: u32) -> Option<Money> {
        self.0.checked_mul(i64::from(count)).map(Money)
    }
}

/// At least two decimals, more only when the amount has them: `707.54`, `0.05`, `0.0035`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (units, micros) = (abs / MICROS as u64, abs % MICROS as u64);
        let frac = format!("{micros:06}");
        let frac = frac.trim_end_matches('0');
        write!(f, "{sign}{units}.{frac:0<2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_become_exact_micro_units() {
        assert_eq!(Money::parse("0.05").unwrap().micros(), 50_000);
        assert_eq!(Money::parse("100.00").unwrap().micros(), 100_000_000);
        assert_eq!(Money::parse("12").unwrap().micros(), 12_000_000);
        assert_eq!(Money::parse("0.000001").unwrap().micros(), 1);
    }

    #[test]
    fn malformed_or_negative_amounts_are_refused() {
        for bad in [
            "",
            ".5",
            "5.",
            "-1",
            "1.0000001",
            "1,5",
            "1e3",
            " 1",
            "0x10",
        ] {
            assert!(Money::parse(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            Money::parse("99999999999999999999"),
            Err(MoneyError::TooLarge(_))
        ));
    }

    #[test]
    fn amounts_print_with_at_least_two_decimals() {
        for (s, shown) in [
            ("707.54", "707.54"),
            ("0", "0.00"),
            ("0.5", "0.50"),
            ("0.0035", "0.0035"),
            ("100.000000", "100.00"),
        ] {
            assert_eq!(Money::parse(s).unwrap().to_string(), shown);
        }
    }

    #[test]
    fn a_price_times_its_segments_is_exact() {
        let price = Money::parse("0.05").unwrap();
        assert_eq!(price.times(3), Some(Money::parse("0.15").unwrap()));
        assert_eq!(Money::from_micros(i64::MAX).times(2), None);
    }
}
