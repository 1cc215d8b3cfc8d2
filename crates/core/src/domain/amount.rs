//! Money in the policy currency as integer minor units (fen for CNY). Never a float.

use std::fmt;

/// An amount in minor units of the policy currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Amount(pub i64);

/// Minor units per major unit. Every currency the policy can use (CNY) has two decimals.
pub const MINOR_PER_MAJOR: i64 = 100;

impl Amount {
    pub const ZERO: Amount = Amount(0);

    pub fn minor(self) -> i64 {
        self.0
    }

    /// From whole major units (policy files state amounts in yuan). Saturates instead of
    /// overflowing, which the policy validation keeps out of reach anyway.
    pub fn from_major(major: i64) -> Self {
        Amount(major.saturating_mul(MINOR_PER_MAJOR))
    }

    /// Value in major units as a float, for ratios and bins only (never for money arithmetic).
    pub fn as_major_f64(self) -> f64 {
        self.0 as f64 / MINOR_PER_MAJOR as f64
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn saturating_add(self, other: Amount) -> Amount {
        Amount(self.0.saturating_add(other.0))
    }

    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }

    /// Rounds down to a multiple of `unit` (non-negative amounts only; negatives become zero).
    pub fn floor_to(self, unit: Amount) -> Amount {
        if self.0 <= 0 || unit.0 <= 0 {
            return Amount(self.0.max(0));
        }
        Amount(self.0 - self.0 % unit.0)
    }

    /// `self * bps / 10_000`, rounded half up, computed exactly in 128-bit integers.
    pub fn mul_bps(self, bps: i64) -> Amount {
        Amount(div_round_half_up(i128::from(self.0) * i128::from(bps), 10_000))
    }

    /// Amount scaled by a non-negative factor and rounded *down* to the minor unit. Used where a
    /// policy factor is irrational (annuity factors) or a plain fraction; the result is money again.
    pub fn scale_floor(self, factor: f64) -> Amount {
        if !factor.is_finite() || factor <= 0.0 || self.0 <= 0 {
            return Amount::ZERO;
        }
        let scaled = (self.0 as f64 * factor).floor();
        if scaled >= i64::MAX as f64 {
            Amount(i64::MAX)
        } else {
            Amount(scaled as i64)
        }
    }
}

/// Integer division rounding half away from zero.
pub fn div_round_half_up(numerator: i128, denominator: i128) -> i64 {
    debug_assert!(denominator > 0);
    let half = denominator / 2;
    let q = if numerator >= 0 {
        (numerator + half) / denominator
    } else {
        (numerator - half) / denominator
    };
    i64::try_from(q).unwrap_or(if q > 0 { i64::MAX } else { i64::MIN })
}

impl fmt::Display for Amount {
    /// Major units with two decimals, e.g. `2500000.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_to_rounds_down_to_the_unit() {
        let unit = Amount::from_major(10_000);
        assert_eq!(Amount::from_major(369_999).floor_to(unit), Amount::from_major(360_000));
        assert_eq!(Amount::from_major(360_000).floor_to(unit), Amount::from_major(360_000));
        assert_eq!(Amount(-5).floor_to(unit), Amount::ZERO);
    }

    #[test]
    fn mul_bps_is_exact_and_rounds_half_up() {
        assert_eq!(Amount(36_000_000).mul_bps(4500), Amount(16_200_000));
        assert_eq!(Amount(1).mul_bps(5000), Amount(1)); // 0.5 rounds up
        assert_eq!(Amount(1).mul_bps(4999), Amount(0));
    }

    #[test]
    fn display_uses_major_units() {
        assert_eq!(Amount(126_360).to_string(), "1263.60");
        assert_eq!(Amount(-5).to_string(), "-0.05");
    }

    #[test]
    fn scale_floor_never_rounds_up() {
        assert_eq!(Amount(14_000_000).scale_floor(2.835_364), Amount(39_695_096));
        assert_eq!(Amount(100).scale_floor(f64::NAN), Amount::ZERO);
    }
}
