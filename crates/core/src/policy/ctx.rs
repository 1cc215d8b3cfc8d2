//! What every section's validation shares: the list of errors found so far and checks of the
//! kinds of number a policy holds. Errors name their field; the loader adds the lines
//! (`Policy::from_toml`) only when there are errors, so a valid policy pays nothing for them.

use super::{Bound, Grade, PolicyError, PolicyErrors};
use crate::domain::Amount;

/// Errors collected while compiling a policy: every check records its problem and carries on, so
/// that one load reports every problem.
#[derive(Default)]
pub(super) struct Ctx {
    errors: Vec<PolicyError>,
}

impl Ctx {
    /// The errors found, if any.
    pub(super) fn finish(self) -> Result<(), PolicyErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(PolicyErrors(self.errors))
        }
    }

    pub(super) fn err(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(PolicyError {
            field: field.into(),
            line: 0,
            message: message.into(),
        });
    }

    pub(super) fn positive_amount(&mut self, field: &str, major: i64) -> Amount {
        if major < 0 {
            self.err(field, "must not be negative");
        } else if major > 1_000_000_000_000 {
            self.err(field, "is unreasonably large (above 10^12)");
        }
        Amount::from_major(major.clamp(0, 1_000_000_000_000))
    }

    pub(super) fn bps(&mut self, field: &str, value: i64, max: i64) -> i64 {
        if !(0..=max).contains(&value) {
            self.err(field, format!("must be between 0 and {max} basis points"));
        }
        value
    }

    pub(super) fn fraction(&mut self, field: &str, value: f64, lo: f64, hi: f64) -> f64 {
        if !value.is_finite() || value < lo || value > hi {
            self.err(field, format!("must be a number between {lo} and {hi}"));
        }
        value
    }

    /// A name the policy looked up (`parsed`), or an error at `field` listing the `expected` ones.
    pub(super) fn known<K>(&mut self, field: &str, parsed: Option<K>, what: &str, expected: &[&str]) -> Option<K> {
        if parsed.is_none() {
            self.err(field, format!("unknown {what}; expected one of {expected:?}"));
        }
        parsed
    }

    /// A bin's upper bound: `below` or `at_most`, or neither for the last bin.
    pub(super) fn bound(&mut self, field: &str, below: Option<f64>, at_most: Option<f64>) -> Bound {
        match (below, at_most) {
            (Some(x), None) => Bound::Below(x),
            (None, Some(x)) => Bound::AtMost(x),
            (None, None) => Bound::Unbounded,
            (Some(_), Some(_)) => {
                self.err(field, "give either `below` or `at_most`, not both");
                Bound::Unbounded
            }
        }
    }

    /// Index of each named grade; an unknown name is an error at `field`.
    pub(super) fn grade_indexes(&mut self, field: &str, grades: &[Grade], names: &[String]) -> Vec<usize> {
        names
            .iter()
            .filter_map(|g| self.grade_index(field, grades, g))
            .collect()
    }

    /// Index of a named grade; an unknown name is an error at `field`.
    pub(super) fn grade_index(&mut self, field: &str, grades: &[Grade], name: &str) -> Option<usize> {
        let idx = grades.iter().position(|x| x.name == name);
        if idx.is_none() {
            self.err(field, format!("unknown grade {name:?}"));
        }
        idx
    }
}
