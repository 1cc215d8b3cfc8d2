//! Approval authority (docs/DOMAIN.md 10): who must approve, from the exposure after the loan,
//! the grade and whether anything needs a person; and why (the limits that stopped each lower
//! level, and any step up).

use serde::{Deserialize, Serialize};

use super::Amount;
use super::figure::Figure;
use super::rulebook::{AuthorityLevel, Policy};

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

/// A limit of a level that the case exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// Below the lowest level a refer flag allows (`[authority_minimums]`).
    MinLevel,
    /// The grade is worse than the level's `max_grade`.
    Grade,
    NewAmount,
    TotalExposure,
    /// A straight-through level while a person must look.
    StraightThrough,
}

/// The limits of level `index` that the case exceeds (none: the level may approve it).
fn exceeded(index: usize, level: &AuthorityLevel, input: &AuthorityInputs, grade: usize) -> Vec<Limit> {
    let mut out = Vec::new();
    if index < input.min_level {
        out.push(Limit::MinLevel);
    }
    if level.max_grade.is_some_and(|g| grade > g) {
        out.push(Limit::Grade);
    }
    if level.max_new_amount.is_some_and(|m| input.new_amount > m) {
        out.push(Limit::NewAmount);
    }
    if level.max_total_exposure.is_some_and(|m| input.total_exposure > m) {
        out.push(Limit::TotalExposure);
    }
    if level.straight_through && input.needs_person {
        out.push(Limit::StraightThrough);
    }
    out
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
        .find(|(i, a)| exceeded(*i, a, input, grade).is_empty())
        .map_or(last, |(i, _)| i)
}

/// One up, for overrides and pricing exceptions (saturating at the top).
pub fn one_up(policy: &Policy, level: usize) -> usize {
    (level + 1).min(policy.authority.len() - 1)
}

/// A limit that stopped a lower level from deciding, with the figure that exceeded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassedOver {
    /// The level that could not decide, e.g. "L0".
    pub level: String,
    /// The policy field of the limit: "max_grade", "max_new_amount", "max_total_exposure",
    /// "straight_through", "authority_minimums" or "default_grade".
    pub limit: String,
    pub figures: Vec<Figure>,
    pub thresholds: Vec<Figure>,
}

/// A step up from the lowest level whose limits hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthorityStep {
    /// None: the level whose limits hold decides.
    None,
    /// A knock-out is outside policy: only the last level may override it.
    KnockOutOverride,
    /// A decline without knock-out is overridden one level up.
    DeclineOneUp,
    /// A pricing exception (P01) goes one level up.
    PricingExceptionOneUp,
}

/// Why the required authority is what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorityBasis {
    /// The lowest level whose limits hold for the case.
    pub limits_level: String,
    /// Every limit that stopped a lower level, lowest level first.
    pub passed_over: Vec<PassedOver>,
    pub step: AuthorityStep,
    /// The level required: `limits_level`, stepped up as `step` says.
    pub level: String,
}

/// What the explanation names besides the inputs: the grade's name, the flags that set the
/// minimum level (code and level index) and why a person must look.
pub struct AuthorityContext<'a> {
    pub grade: &'a str,
    pub minimums: &'a [(String, usize)],
    pub needs_person_because: &'a str,
}

/// The limits that stopped each level below `limits_level`, lowest first.
pub fn passed_over(
    policy: &Policy,
    input: &AuthorityInputs,
    context: &AuthorityContext<'_>,
    limits_level: usize,
) -> Vec<PassedOver> {
    let levels = policy.authority.iter().enumerate().take(limits_level);
    let Some(grade) = input.grade_index else {
        return levels
            .map(|(_, a)| PassedOver {
                level: a.level.clone(),
                limit: "default_grade".to_owned(),
                figures: vec![Figure::text("grade", context.grade)],
                thresholds: Vec::new(),
            })
            .collect();
    };
    levels
        .flat_map(|(i, a)| exceeded(i, a, input, grade).into_iter().map(move |limit| (a, limit)))
        .map(|(a, limit)| describe(policy, a, limit, input, context))
        .collect()
}

fn describe(
    policy: &Policy,
    a: &AuthorityLevel,
    limit: Limit,
    input: &AuthorityInputs,
    context: &AuthorityContext<'_>,
) -> PassedOver {
    let level_name = |i: usize| policy.authority.get(i).map_or_else(String::new, |l| l.level.clone());
    let (name, figures, thresholds) = match limit {
        Limit::MinLevel => {
            let flags = context.minimums.iter().filter(|(_, min)| *min == input.min_level);
            let (codes, thresholds): (Vec<String>, Vec<Figure>) = flags
                .map(|(code, min)| {
                    let field = format!("authority_minimums.{code}");
                    (code.clone(), Figure::text(&field, level_name(*min)))
                })
                .unzip();
            let figures = vec![Figure::text("refer_flags", codes.join(", "))];
            ("authority_minimums", figures, thresholds)
        }
        Limit::Grade => {
            let max = a
                .max_grade
                .and_then(|g| policy.grades.get(g))
                .map_or("", |g| g.name.as_str());
            (
                "max_grade",
                vec![Figure::text("grade", context.grade)],
                vec![Figure::text("max_grade", max)],
            )
        }
        Limit::NewAmount => (
            "max_new_amount",
            vec![Figure::amount("new_amount", input.new_amount)],
            vec![Figure::amount("max_new_amount", a.max_new_amount.unwrap_or_default())],
        ),
        Limit::TotalExposure => (
            "max_total_exposure",
            vec![Figure::amount("total_exposure", input.total_exposure)],
            vec![Figure::amount(
                "max_total_exposure",
                a.max_total_exposure.unwrap_or_default(),
            )],
        ),
        Limit::StraightThrough => (
            "straight_through",
            vec![Figure::text("needs_person", context.needs_person_because)],
            Vec::new(),
        ),
    };
    PassedOver {
        level: a.level.clone(),
        limit: name.to_owned(),
        figures,
        thresholds,
    }
}
