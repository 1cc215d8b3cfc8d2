//! Field-level validation of incoming messages. Collects every violation with its full path
//! (e.g. `application.profile.financials.revenue.units_minor`) instead of stopping at the first.

use std::fmt;

use time::Date;

use crate::domain::Amount;
use crate::pb;

/// A field's path, e.g. `application.collateral[0].type`, kept as borrowed segments and only
/// formatted when a violation is recorded: valid requests (almost all) never allocate one.
#[derive(Debug, Clone, Copy)]
pub struct FieldPath<'a> {
    parent: Option<&'a FieldPath<'a>>,
    segment: Segment<'a>,
}

#[derive(Debug, Clone, Copy)]
enum Segment<'a> {
    /// A field name, or at the root any prefix such as `application.profile`.
    Name(&'a str),
    /// An item of a repeated field.
    Index(usize),
}

impl<'a> FieldPath<'a> {
    pub const fn root(path: &'a str) -> Self {
        FieldPath {
            parent: None,
            segment: Segment::Name(path),
        }
    }

    /// `self.name`.
    pub fn child(&'a self, name: &'a str) -> FieldPath<'a> {
        FieldPath {
            parent: Some(self),
            segment: Segment::Name(name),
        }
    }

    /// `self[index]`.
    pub fn index(&'a self, index: usize) -> FieldPath<'a> {
        FieldPath {
            parent: Some(self),
            segment: Segment::Index(index),
        }
    }
}

impl<'a> From<&'a str> for FieldPath<'a> {
    fn from(path: &'a str) -> Self {
        FieldPath::root(path)
    }
}

impl fmt::Display for FieldPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
        }
        match self.segment {
            Segment::Name(name) if self.parent.is_some() => write!(f, ".{name}"),
            Segment::Name(name) => f.write_str(name),
            Segment::Index(i) => write!(f, "[{i}]"),
        }
    }
}

pub use crate::app::Violation;

/// Largest absolute amount accepted (10^15 minor units = 10^13 yuan): far above any SME figure,
/// far below where i64 arithmetic could overflow.
const MAX_ABS_MINOR: i64 = 1_000_000_000_000_000;

/// How an amount's sign is constrained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    Positive,
    NonNegative,
    Any,
}

pub struct Validator<'a> {
    pub currency: &'a str,
    /// Latest acceptable date for as-of and registration dates (bank-local today plus a day of
    /// slack for callers in other time zones).
    pub latest_date: Date,
    pub violations: Vec<Violation>,
}

impl<'a> Validator<'a> {
    pub fn new(currency: &'a str, latest_date: Date) -> Self {
        Validator {
            currency,
            latest_date,
            violations: Vec::new(),
        }
    }

    pub fn violation(&mut self, field: impl fmt::Display, description: impl Into<String>) {
        self.violations.push(Violation {
            field: field.to_string(),
            description: description.into(),
        });
    }

    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// A money field; `None` if absent (a violation when required) or invalid.
    pub fn money(&mut self, path: FieldPath<'_>, m: Option<&pb::Money>, required: bool, sign: Sign) -> Option<Amount> {
        let Some(m) = m else {
            if required {
                self.violation(path, "is required");
            }
            return None;
        };
        let mut ok = true;
        if m.currency.is_empty() {
            self.violation(
                path.child("currency"),
                format!("is required (the policy currency is {})", self.currency),
            );
            ok = false;
        } else if m.currency.len() != 3 || !m.currency.chars().all(|c| c.is_ascii_uppercase()) {
            self.violation(
                path.child("currency"),
                format!("{:?} is not an ISO 4217 currency code", m.currency),
            );
            ok = false;
        } else if m.currency != self.currency {
            self.violation(
                path.child("currency"),
                format!("must be {} (the policy currency), got {}", self.currency, m.currency),
            );
            ok = false;
        }
        let units = m.units_minor;
        let sign_ok = match sign {
            Sign::Positive => units > 0,
            Sign::NonNegative => units >= 0,
            Sign::Any => true,
        };
        if !sign_ok {
            let what = if sign == Sign::Positive {
                "must be greater than zero"
            } else {
                "must not be negative"
            };
            self.violation(path.child("units_minor"), format!("{what}, got {units}"));
            ok = false;
        } else if units.unsigned_abs() > MAX_ABS_MINOR as u64 {
            self.violation(
                path.child("units_minor"),
                format!("magnitude must not exceed {MAX_ABS_MINOR}"),
            );
            ok = false;
        }
        ok.then_some(Amount(units))
    }

    /// A date field; `not_future` rejects dates after `latest_date`.
    pub fn date(
        &mut self,
        path: FieldPath<'_>,
        d: Option<&pb::Date>,
        required: bool,
        not_future: bool,
    ) -> Option<Date> {
        let Some(d) = d else {
            if required {
                self.violation(path, "is required");
            }
            return None;
        };
        if !(1900..=9999).contains(&d.year) {
            self.violation(path.child("year"), format!("must be 1900..9999, got {}", d.year));
            return None;
        }
        let month = u8::try_from(d.month).ok().and_then(|m| time::Month::try_from(m).ok());
        let Some(month) = month else {
            self.violation(path.child("month"), format!("must be 1..12, got {}", d.month));
            return None;
        };
        let date = u8::try_from(d.day)
            .ok()
            .and_then(|day| Date::from_calendar_date(d.year, month, day).ok());
        let Some(date) = date else {
            self.violation(
                path.child("day"),
                format!("{} is not a day of {}-{:02}", d.day, d.year, d.month),
            );
            return None;
        };
        if not_future && date > self.latest_date {
            self.violation(path, format!("{date} is in the future"));
            return None;
        }
        Some(date)
    }

    pub fn count(&mut self, path: FieldPath<'_>, value: u32, max: u32) -> u32 {
        if value > max {
            self.violation(path, format!("must be at most {max}, got {value}"));
        }
        value.min(max)
    }

    pub fn text(&mut self, path: FieldPath<'_>, value: &str, min: usize, max: usize) -> Option<String> {
        let trimmed = value.trim();
        let len = trimmed.chars().count();
        if len < min || len > max {
            if len == 0 && min > 0 {
                self.violation(path, "is required");
            } else {
                self.violation(path, format!("must be {min}..{max} characters, got {len}"));
            }
            return None;
        }
        if trimmed.chars().any(char::is_control) {
            self.violation(path, "must not contain control characters");
            return None;
        }
        Some(trimmed.to_owned())
    }
}

/// Request ids: 1..128 characters of `[A-Za-z0-9._:-]`.
pub fn request_id<'p>(v: &mut Validator, path: impl Into<FieldPath<'p>>, id: &str) -> Option<String> {
    let path = path.into();
    if id.is_empty() {
        v.violation(path, "is required (an idempotency key chosen by the caller)");
        return None;
    }
    if id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
    {
        v.violation(path, "must be 1..128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'");
        return None;
    }
    Some(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_render_dotted_with_indexed_items() {
        let root = FieldPath::root("application.profile");
        assert_eq!(root.to_string(), "application.profile");
        let bank_flows = root.child("bank_flows");
        let inflows = bank_flows.child("monthly_inflows");
        assert_eq!(
            inflows.index(3).child("units_minor").to_string(),
            "application.profile.bank_flows.monthly_inflows[3].units_minor"
        );
    }

    #[test]
    fn valid_fields_record_nothing_and_violations_carry_the_full_path() {
        let mut v = Validator::new("CNY", Date::MAX);
        let app = FieldPath::root("application");
        let amount = pb::Money {
            currency: "CNY".to_owned(),
            units_minor: 5,
        };
        assert_eq!(
            v.money(app.child("requested_amount"), Some(&amount), true, Sign::Positive),
            Some(Amount(5))
        );
        assert!(v.is_clean());
        let collateral = app.child("collateral");
        v.count(collateral.index(0).child("lien_rank"), 10, 9);
        assert_eq!(v.violations[0].field, "application.collateral[0].lien_rank");
        assert_eq!(v.violations[0].description, "must be at most 9, got 10");
    }
}
