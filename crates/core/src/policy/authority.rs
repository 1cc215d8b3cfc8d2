//! `[[authority]]` (lowest first; the last takes everything) and `[authority_minimums]`.

use std::collections::BTreeMap;

use super::ctx::Ctx;
use super::{AuthorityLevel, Grade};

/// An `[[authority]]` entry as written: money and the grade name not yet validated.
pub type AuthorityFile = AuthorityLevel<i64, String>;

/// The levels: unique names, every level but the last limited, the last unlimited.
pub(super) fn compile_authority(ctx: &mut Ctx, levels: &[AuthorityFile], grades: &[Grade]) -> Vec<AuthorityLevel> {
    let mut out: Vec<AuthorityLevel> = Vec::new();
    if levels.is_empty() {
        ctx.err("authority", "at least one authority level is required");
    }
    let last = levels.len().saturating_sub(1);
    for (i, a) in levels.iter().enumerate() {
        let base = format!("authority[{i}]");
        if a.level.trim().is_empty() || out.iter().any(|o| o.level == a.level) {
            ctx.err(format!("{base}.level"), "levels must be non-empty and unique");
        }
        let level = a.compile(ctx, &base, grades, i == last);
        out.push(level);
    }
    out
}

impl AuthorityFile {
    fn compile(&self, ctx: &mut Ctx, base: &str, grades: &[Grade], is_last: bool) -> AuthorityLevel {
        let max_grade = self
            .max_grade
            .as_ref()
            .and_then(|g| ctx.grade_index(&format!("{base}.max_grade"), grades, g));
        let limited = self.max_new_amount.is_some()
            || self.max_total_exposure.is_some()
            || self.max_grade.is_some()
            || self.straight_through;
        if is_last && limited {
            ctx.err(
                format!("{base}.level"),
                "the last level must have no limits: it takes everything outside the others",
            );
        }
        if !is_last && self.max_total_exposure.is_none() {
            ctx.err(
                format!("{base}.max_total_exposure"),
                "required for every level but the last",
            );
        }
        let amount = |ctx: &mut Ctx, name: &str, v: i64| ctx.positive_amount(&format!("{base}.{name}"), v);
        AuthorityLevel {
            level: self.level.clone(),
            description: self.description.clone(),
            max_new_amount: self.max_new_amount.map(|v| amount(ctx, "max_new_amount", v)),
            max_total_exposure: self.max_total_exposure.map(|v| amount(ctx, "max_total_exposure", v)),
            max_grade,
            straight_through: self.straight_through,
        }
    }
}

/// Refer-flag code -> index of the lowest level that may approve it.
pub(super) fn compile_authority_minimums(
    ctx: &mut Ctx,
    minimums: &BTreeMap<String, String>,
    authority: &[AuthorityLevel],
) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (code, level) in minimums {
        match authority.iter().position(|a| &a.level == level) {
            Some(i) => {
                out.insert(code.clone(), i);
            }
            None => ctx.err(
                format!("authority_minimums.{code}"),
                format!("unknown authority level {level:?}"),
            ),
        }
    }
    out
}
