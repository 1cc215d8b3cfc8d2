//! Feature derivation: from a profile to the ratios, growth rates and categories that the
//! verification, scorecard, knock-out and limit steps read. Pure and total: a division by zero
//! gives a missing value or +infinity, never NaN.

use time::Date;

use super::Amount;
use super::profile::{ControllerCredit, EnterpriseProfile, TaxRating};
use super::rulebook::Policy;
use super::vocabulary::{IndustryClass, RevenueSource};

pub use super::vocabulary::FeatureId;

/// A feature's value for one profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureValue {
    Number(f64),
    Category(&'static str),
    Missing,
}

impl FeatureValue {
    /// As shown to a person in contributions.
    pub fn display(self) -> String {
        match self {
            FeatureValue::Number(x) if x.is_infinite() => "no debt / no denominator".to_owned(),
            // Integral and below 2^53: exact as an integer, the same digits as "{x:.0}".
            FeatureValue::Number(x) if x.fract() == 0.0 && x.abs() < 1e15 => match x as i64 {
                0 if x.is_sign_negative() => "-0".to_owned(),
                n => n.to_string(),
            },
            FeatureValue::Number(x) => fixed4(x).unwrap_or_else(|| format!("{x:.4}")),
            FeatureValue::Category(c) => c.to_owned(),
            FeatureValue::Missing => "missing".to_owned(),
        }
    }
}

/// `format!("{x:.4}")`, digit for digit (the exact binary value rounded half to even), in
/// integer arithmetic: the standard library's exact float formatting is the single largest cost
/// of a scorecard. `None` for NaN, infinities and magnitudes beyond 2^60, left to `format!`.
fn fixed4(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    let bits = x.to_bits();
    let biased = i32::try_from((bits >> 52) & 0x7ff).ok()?;
    let fraction = bits & ((1u64 << 52) - 1);
    // x = mantissa * 2^exponent exactly.
    let (mantissa, exponent) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    let scaled = u128::from(mantissa) * 10_000; // below 2^67
    let units = if exponent >= 0 {
        if exponent > 60 {
            return None;
        }
        scaled << exponent
    } else {
        let shift = exponent.unsigned_abs();
        if shift >= 128 {
            0 // below half a unit (scaled < 2^67 <= 2^(shift-1)): rounds to zero
        } else {
            let whole = scaled >> shift;
            let rest = scaled & ((1u128 << shift) - 1);
            let half = 1u128 << (shift - 1);
            if rest > half || (rest == half && whole % 2 == 1) {
                whole + 1
            } else {
                whole
            }
        }
    };
    let sign = if x.is_sign_negative() { "-" } else { "" };
    Some(format!("{sign}{}.{:04}", units / 10_000, units % 10_000))
}

/// Everything derived from a profile, in one place.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Completed years since registration (anniversary-based).
    pub years_in_business: u32,
    pub declared_revenue: Amount,
    pub verified_revenue: Option<Amount>,
    pub verified_revenue_source: Option<RevenueSource>,
    /// Year-on-year growth of verified revenue (VAT output invoices, both years); `None` without
    /// it: self-declared statements feed only the cross-checks.
    pub revenue_growth: Option<f64>,
    pub net_profit_margin: Option<f64>,
    pub debt_to_assets: f64,
    /// `None` when there are neither current assets nor current liabilities.
    pub current_ratio: Option<f64>,
    /// EBIT over interest expense; see [`interest_coverage`] for the cases without interest.
    pub interest_coverage: Option<f64>,
    pub tax_rating: Option<TaxRating>,
    pub controller_credit: ControllerCredit,
    /// `None` when the credit history is shorter than the policy's minimum and shows no delays.
    pub enterprise_max_dpd_24m: Option<u32>,
    pub industry_class: IndustryClass,
    pub inflow_cv: Option<f64>,
    pub bank_inflows_12m: Option<Amount>,
    pub declared_to_verified: Option<f64>,
    /// Total assets less total liabilities (may be negative).
    pub net_assets: Amount,
    /// Cash flow available for debt service.
    pub cfads: Amount,
    pub existing_debt_service: Amount,
    /// Average annual tax paid over the last two years, when both years are known.
    pub avg_annual_tax_paid: Option<Amount>,
    pub evaluation_date: Date,
}

impl Features {
    pub fn value(&self, id: FeatureId) -> FeatureValue {
        use FeatureValue::{Category, Missing, Number};
        match id {
            FeatureId::YearsInBusiness => Number(f64::from(self.years_in_business)),
            FeatureId::VerifiedRevenue => self.verified_revenue.map_or(Missing, |a| Number(a.as_major_f64())),
            FeatureId::RevenueGrowth => self.revenue_growth.map_or(Missing, Number),
            FeatureId::NetProfitMargin => self.net_profit_margin.map_or(Missing, Number),
            FeatureId::DebtToAssets => Number(self.debt_to_assets),
            FeatureId::CurrentRatio => self.current_ratio.map_or(Missing, Number),
            FeatureId::InterestCoverage => self.interest_coverage.map_or(Missing, Number),
            FeatureId::TaxCreditRating => self.tax_rating.map_or(Missing, |r| Category(r.as_str())),
            FeatureId::ControllerCredit => Category(self.controller_credit.as_str()),
            FeatureId::EnterpriseMaxDpd24m => self.enterprise_max_dpd_24m.map_or(Missing, |d| Number(f64::from(d))),
            FeatureId::IndustryRisk => Category(self.industry_class.as_str()),
            FeatureId::InflowCv => self.inflow_cv.map_or(Missing, Number),
            FeatureId::DeclaredToVerifiedRevenue => self.declared_to_verified.map_or(Missing, Number),
        }
    }
}

/// `a / b` as a ratio; `None` when `b` is zero or negative.
pub fn ratio(a: Amount, b: Amount) -> Option<f64> {
    (b.0 > 0).then(|| a.0 as f64 / b.0 as f64)
}

/// Growth `(now - prior) / prior` with the difference taken exactly in integers, so that values
/// on a bin edge (e.g. exactly -5%) land on it; `None` without a positive base.
pub fn growth(now: Amount, prior: Amount) -> Option<f64> {
    (prior.0 > 0).then(|| (i128::from(now.0) - i128::from(prior.0)) as f64 / prior.0 as f64)
}

/// Completed years between two dates (0 when `to` is before `from`).
pub fn completed_years(from: Date, to: Date) -> u32 {
    if to <= from {
        return 0;
    }
    let mut years = to.year() - from.year();
    if (to.month() as u8, to.day()) < (from.month() as u8, from.day()) {
        years -= 1;
    }
    u32::try_from(years.max(0)).unwrap_or(0)
}

/// Completed months between two dates (0 when `to` is before `from`).
pub fn completed_months(from: Date, to: Date) -> u32 {
    if to <= from {
        return 0;
    }
    let mut months = (to.year() - from.year()) * 12 + (to.month() as i32 - from.month() as i32);
    if to.day() < from.day() {
        months -= 1;
    }
    u32::try_from(months.max(0)).unwrap_or(0)
}

/// Coefficient of variation (population standard deviation / mean) of monthly inflows.
pub fn coefficient_of_variation(values: &[Amount]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().map(|a| a.0 as f64).sum::<f64>() / n;
    if mean <= 0.0 {
        return None;
    }
    let variance = values.iter().map(|a| (a.0 as f64 - mean).powi(2)).sum::<f64>() / n;
    Some(variance.sqrt() / mean)
}

pub fn derive(profile: &EnterpriseProfile, policy: &Policy, evaluation_date: Date) -> Features {
    let fin = &profile.financials;
    let (verified_revenue, verified_revenue_source) = verified_revenue(profile, policy);
    let inflows = profile
        .bank_flows
        .as_ref()
        .map(|b| b.monthly_inflows.as_slice())
        .unwrap_or(&[]);
    let inflow_cv = (inflows.len() >= policy.scaling.min_inflow_months)
        .then(|| coefficient_of_variation(inflows))
        .flatten();
    let bank_inflows_12m =
        (!inflows.is_empty()).then(|| inflows.iter().fold(Amount::ZERO, |acc, a| acc.saturating_add(*a)));
    let history = &profile.credit_history;
    let enterprise_max_dpd_24m =
        if history.max_days_past_due_24m == 0 && history.months_of_history < policy.scaling.min_history_months {
            None
        } else {
            Some(history.max_days_past_due_24m)
        };
    Features {
        years_in_business: completed_years(profile.established_on, evaluation_date),
        declared_revenue: fin.revenue,
        verified_revenue,
        verified_revenue_source,
        revenue_growth: revenue_growth(profile),
        net_profit_margin: ratio(fin.net_profit, fin.revenue),
        debt_to_assets: ratio(fin.total_liabilities, fin.total_assets).unwrap_or(f64::INFINITY),
        // No current liabilities: infinitely liquid if there are current assets, no data if neither.
        current_ratio: match ratio(fin.current_assets, fin.current_liabilities) {
            Some(r) => Some(r),
            None if fin.current_assets.is_positive() => Some(f64::INFINITY),
            None => None,
        },
        interest_coverage: interest_coverage(fin.ebit, fin.interest_expense, fin.existing_annual_debt_service),
        tax_rating: profile.tax.as_ref().and_then(|t| t.credit_rating),
        controller_credit: profile.controller.credit_standing,
        enterprise_max_dpd_24m,
        industry_class: policy.industries.classify(&profile.industry_code),
        inflow_cv,
        bank_inflows_12m,
        declared_to_verified: verified_revenue.and_then(|v| ratio(fin.revenue, v)),
        net_assets: fin.total_assets.saturating_sub(fin.total_liabilities),
        cfads: fin.operating_cash_flow,
        existing_debt_service: fin.existing_annual_debt_service,
        avg_annual_tax_paid: profile
            .tax
            .as_ref()
            .and_then(|t| Some((t.tax_paid_12m?, t.tax_paid_prior_12m?)))
            .map(|(a, b)| Amount(((i128::from(a.0) + i128::from(b.0)) / 2) as i64)),
        evaluation_date,
    }
}

/// Revenue from the first of the policy's verifying sources that has it, and that source.
fn verified_revenue(profile: &EnterpriseProfile, policy: &Policy) -> (Option<Amount>, Option<RevenueSource>) {
    for source in &policy.verification.verified_revenue_sources {
        let found = match source {
            RevenueSource::Invoices => profile.invoices.as_ref().and_then(|i| i.vat_sales_12m),
            RevenueSource::Tax => profile.tax.as_ref().and_then(|t| t.reported_revenue_12m),
        };
        if let Some(v) = found {
            return (Some(v), Some(*source));
        }
    }
    (None, None)
}

/// Growth of verified revenue: VAT output invoices are the one independent source with both
/// years on file (tax returns and bank flows carry the last 12 months only). No declared fallback.
fn revenue_growth(profile: &EnterpriseProfile) -> Option<f64> {
    let invoices = profile.invoices.as_ref()?;
    growth(invoices.vat_sales_12m?, invoices.vat_sales_prior_12m?)
}

/// EBIT / interest expense, the scorecard's calibrated ratio, when interest is reported. Without
/// reported interest the ratio must not default to the best bin while debt is being serviced:
/// - existing debt service: EBIT / that debt service (it includes any interest, so the ratio is
///   no better than the true interest coverage);
/// - no debt service and positive EBIT: no interest-bearing debt, +infinity (the best bin, as
///   the policy's label says);
/// - no debt service and EBIT of zero or below: undefined, `None` (the missing bin).
pub fn interest_coverage(ebit: Amount, interest: Amount, debt_service: Amount) -> Option<f64> {
    if interest.is_positive() {
        ratio(ebit, interest)
    } else if debt_service.is_positive() {
        ratio(ebit, debt_service)
    } else if ebit.is_positive() {
        Some(f64::INFINITY)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    /// Values where formatting goes wrong first: zeros, ties, subnormals, huge, NaN, infinities.
    fn edge_values() -> Vec<f64> {
        vec![
            0.0,
            -0.0,
            0.03125,
            0.09375,
            -0.00001,
            0.00005,
            0.00015,
            0.5,
            2.5,
            -2.5,
            1.0 / 3.0,
            0.1,
            0.12345,
            1e-310,
            -5e-324,
            123456.789,
            1e15,
            1e17,
            1e18 + 0.5,
            9.007_199_254_740_993e15,
            1e300,
            -1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]
    }

    /// Exact ties at the fifth decimal and their neighbours.
    fn ties_at_the_fifth_decimal() -> Vec<f64> {
        let mut values = Vec::new();
        for k in 0..2_000 {
            let tie = (f64::from(k) + 0.5) / 10_000.0;
            values.extend([
                tie,
                -tie,
                f64::from_bits(tie.to_bits() + 1),
                f64::from_bits(tie.to_bits() - 1),
            ]);
        }
        values
    }

    /// Bit patterns across every exponent (a fixed linear congruential sequence), and ordinary
    /// magnitudes: ratios, growth rates, amounts.
    fn spread_values() -> Vec<f64> {
        let mut values = Vec::new();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            values.push(f64::from_bits(state));
            values.push((state >> 11) as f64 / (1u64 << 40) as f64 - 2_000.0);
        }
        values
    }

    #[test]
    fn display_matches_the_standard_formatting_digit_for_digit() {
        let std = |x: f64| {
            if x.is_infinite() {
                "no debt / no denominator".to_owned()
            } else if x.fract() == 0.0 && x.abs() < 1e15 {
                format!("{x:.0}")
            } else {
                format!("{x:.4}")
            }
        };
        let mut values = edge_values();
        values.extend(ties_at_the_fifth_decimal());
        values.extend(spread_values());
        for x in values {
            assert_eq!(FeatureValue::Number(x).display(), std(x), "{x:e} ({:#x})", x.to_bits());
        }
    }

    #[test]
    fn completed_years_counts_anniversaries() {
        assert_eq!(completed_years(date!(2021 - 03 - 15), date!(2025 - 03 - 14)), 3);
        assert_eq!(completed_years(date!(2021 - 03 - 15), date!(2025 - 03 - 15)), 4);
        assert_eq!(completed_years(date!(2025 - 03 - 15), date!(2024 - 03 - 15)), 0);
        // 29 February: the anniversary in a common year is 1 March.
        assert_eq!(completed_years(date!(2020 - 02 - 29), date!(2021 - 02 - 28)), 0);
        assert_eq!(completed_years(date!(2020 - 02 - 29), date!(2021 - 03 - 01)), 1);
    }

    #[test]
    fn completed_months_counts_month_days() {
        assert_eq!(completed_months(date!(2025 - 01 - 31), date!(2025 - 07 - 30)), 5);
        assert_eq!(completed_months(date!(2025 - 01 - 31), date!(2025 - 07 - 31)), 6);
    }

    #[test]
    fn cv_of_constant_flows_is_zero_and_empty_is_missing() {
        assert_eq!(coefficient_of_variation(&[Amount(100); 12]), Some(0.0));
        assert_eq!(coefficient_of_variation(&[]), None);
        assert_eq!(coefficient_of_variation(&[Amount(0), Amount(0)]), None);
        let cv = coefficient_of_variation(&[Amount(50), Amount(150)]).expect("defined");
        assert!((cv - 0.5).abs() < 1e-12);
    }

    #[test]
    fn ratio_guards_zero_denominator() {
        assert_eq!(ratio(Amount(5), Amount(0)), None);
        assert_eq!(ratio(Amount(5), Amount(10)), Some(0.5));
    }
}
