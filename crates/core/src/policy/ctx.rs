//! What every section's validation shares: the list of errors found so far (each with the line of
//! its field) and checks of the kinds of number a policy holds.

use super::lines::Lines;
use super::{Bound, Grade, PolicyError, PolicyErrors};
use crate::domain::Amount;

/// Errors collected while compiling a policy: every check records its problem and carries on, so
/// that one load reports every problem.
pub(super) struct Ctx<'a> {
    lines: &'a Lines,
    errors: Vec<PolicyError>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(lines: &'a Lines) -> Self {
        Ctx {
            lines,
            errors: Vec::new(),
        }
    }

    /// The errors found, if any.
    pub(super) fn finish(self) -> Result<(), PolicyErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(PolicyErrors(self.errors))
        }
    }

    pub(super) fn err(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let field = field.into();
        let line = self.lines.line(&field);
        self.errors.push(PolicyError {
            field,
            line,
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
