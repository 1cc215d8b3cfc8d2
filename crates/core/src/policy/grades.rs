//! `[[grades]]` (best first) and `[default_grade]`.

use super::ctx::Ctx;
use super::{Band, DefaultGrade, Grade};

/// A `[[grades]]` entry as written: band and money not yet validated.
pub type GradeFile = Grade<String, i64>;

/// `[default_grade]` is read straight into the compiled type; its bounds are checked below.
pub type DefaultGradeFile = DefaultGrade;

/// The grades: unique names, minimum scores falling and master PDs not falling down the list.
pub(super) fn compile_grades(ctx: &mut Ctx, grades: &[GradeFile]) -> Vec<Grade> {
    let mut out: Vec<Grade> = Vec::new();
    if grades.len() < 2 {
        ctx.err("grades", "at least two grades are required");
    }
    let last = grades.len().saturating_sub(1);
    for (i, g) in grades.iter().enumerate() {
        let base = format!("grades[{i}]");
        if out.iter().any(|o| o.name == g.name) || g.name.trim().is_empty() {
            ctx.err(format!("{base}.name"), "grade names must be non-empty and unique");
        }
        g.check_min_score(ctx, &base, i == last, out.last());
        let grade = g.compile(ctx, &base, out.last());
        out.push(grade);
    }
    out
}

impl GradeFile {
    fn check_min_score(&self, ctx: &mut Ctx, base: &str, is_last: bool, previous: Option<&Grade>) {
        match (is_last, self.min_score) {
            (true, Some(_)) => ctx.err(
                format!("{base}.min_score"),
                "the last grade takes every lower score: leave min_score out",
            ),
            (false, None) => ctx.err(format!("{base}.min_score"), "required for every grade but the last"),
            _ => {}
        }
        if let (Some(prev), Some(cur)) = (previous.and_then(|p| p.min_score), self.min_score)
            && cur >= prev
        {
            ctx.err(
                format!("{base}.min_score"),
                format!("must be below the previous grade's {prev} (grades are listed best first)"),
            );
        }
    }

    fn compile(&self, ctx: &mut Ctx, base: &str, previous: Option<&Grade>) -> Grade {
        let band = Band::parse(&self.band).unwrap_or_else(|| {
            ctx.err(
                format!("{base}.band"),
                format!(
                    "unknown band {:?}; expected approve, approve_with_conditions, refer or decline",
                    self.band
                ),
            );
            Band::Decline
        });
        if band != Band::Decline && self.spread_bps.is_none() {
            ctx.err(format!("{base}.spread_bps"), "required for a grade that can be lent to");
        }
        if let Some(s) = self.spread_bps {
            ctx.bps(&format!("{base}.spread_bps"), s, 5_000);
        }
        let master_pd_bps = ctx.bps(&format!("{base}.master_pd_bps"), self.master_pd_bps, 10_000);
        if previous.is_some_and(|prev| master_pd_bps < prev.master_pd_bps) {
            ctx.err(
                format!("{base}.master_pd_bps"),
                "master PDs must not fall from a better grade to a worse one",
            );
        }
        Grade {
            name: self.name.clone(),
            min_score: self.min_score,
            master_pd_bps,
            band,
            spread_bps: self.spread_bps,
            max_unsecured: ctx.positive_amount(&format!("{base}.max_unsecured"), self.max_unsecured),
        }
    }
}

impl DefaultGradeFile {
    /// The grade of a borrower in default; its name must differ from every scored grade's.
    pub(super) fn compile(&self, ctx: &mut Ctx, grades: &[Grade]) -> DefaultGrade {
        ctx.bps("default_grade.master_pd_bps", self.master_pd_bps, 10_000);
        if grades.iter().any(|g| g.name == self.name) {
            ctx.err("default_grade.name", "must differ from every grade name");
        }
        if self.min_current_dpd == 0 {
            ctx.err("default_grade.min_current_dpd", "must be at least 1");
        }
        self.clone()
    }
}
