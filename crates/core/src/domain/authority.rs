//! Approval authority (docs/DOMAIN.md 10): who must approve, from the exposure after the loan,
//! the grade and whether anything needs a person.

use super::Amount;
use super::rulebook::Policy;

pub struct AuthorityInputs {
    /// Grade index; `None` (default grade) can only go to the last level.
    pub grade_index: Option<usize>,
    pub new_amount: Amount,
    pub total_exposure: Amount,
    /// A refer flag, a refer band or a condition means a person must look.
    pub needs_person: bool,
    /// Lowest level allowed by the flags raised.
    pub min_level: usize,
}

/// Index of the lowest level that may approve.
pub fn required_level(policy: &Policy, input: &AuthorityInputs) -> usize {
    let last = policy.authority.len() - 1;
    let Some(grade) = input.grade_index else {
        return last;
    };
    policy
        .authority
        .iter()
        .enumerate()
        .skip(input.min_level)
        .find(|(_, a)| {
            a.max_grade.is_none_or(|g| grade <= g)
                && a.max_new_amount.is_none_or(|m| input.new_amount <= m)
                && a.max_total_exposure.is_none_or(|m| input.total_exposure <= m)
                && !(a.straight_through && input.needs_person)
        })
        .map_or(last, |(i, _)| i)
}

/// One level up, for overrides and pricing exceptions (saturating at the top).
pub fn one_up(policy: &Policy, level: usize) -> usize {
    (level + 1).min(policy.authority.len() - 1)
}
