//! `[scaling]` and `[[scorecard]]`: odds scaling and the characteristics with their bins.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::ctx::Ctx;
use super::{Bound, CategoryBin, CategoryBins, Characteristic, CharacteristicBins, NumericBin, NumericBins, Scaling};
use crate::domain::features::FeatureId;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingFile {
    pub base_score: f64,
    pub base_odds: f64,
    pub pdo: f64,
    pub pd_floor_bps: i64,
    pub max_reasons: usize,
    pub min_history_months: u32,
    pub min_inflow_months: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharacteristicFile {
    pub id: String,
    pub feature: String,
    pub reason_code: String,
    pub reason: String,
    pub missing_points: Option<i32>,
    pub bins: Vec<BinFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinFile {
    pub below: Option<f64>,
    pub at_most: Option<f64>,
    pub values: Option<Vec<String>>,
    pub points: i32,
    pub label: Option<String>,
}

impl ScalingFile {
    pub(super) fn compile(&self, ctx: &mut Ctx) -> Scaling {
        if !(self.pdo.is_finite() && self.pdo > 0.0) {
            ctx.err("scaling.pdo", "must be a positive number");
        }
        if !(self.base_odds.is_finite() && self.base_odds > 0.0) {
            ctx.err("scaling.base_odds", "must be a positive number");
        }
        if !self.base_score.is_finite() {
            ctx.err("scaling.base_score", "must be a finite number");
        }
        let pd_floor_bps = ctx.bps("scaling.pd_floor_bps", self.pd_floor_bps, 10_000);
        if self.max_reasons == 0 || self.max_reasons > 20 {
            ctx.err("scaling.max_reasons", "must be 1..20");
        }
        if self.min_inflow_months < 2 || self.min_inflow_months > 12 {
            ctx.err("scaling.min_inflow_months", "must be 2..12");
        }
        let factor = self.pdo / std::f64::consts::LN_2;
        Scaling {
            factor,
            offset: self.base_score - factor * self.base_odds.ln(),
            pd_floor_bps,
            max_reasons: self.max_reasons,
            min_history_months: self.min_history_months,
            min_inflow_months: self.min_inflow_months,
        }
    }
}

/// The scorecard: unique ids, each characteristic valid; an invalid one is left out (the policy
/// is then refused anyway).
pub(super) fn compile_scorecard(ctx: &mut Ctx, chars: &[CharacteristicFile]) -> Vec<Characteristic> {
    let mut ids = BTreeSet::new();
    if chars.is_empty() {
        ctx.err("scorecard", "at least one characteristic is required");
    }
    let mut out = Vec::new();
    for (i, c) in chars.iter().enumerate() {
        let base = format!("scorecard[{i}]");
        if !ids.insert(c.id.clone()) {
            ctx.err(format!("{base}.id"), format!("duplicate characteristic id {:?}", c.id));
        }
        out.extend(c.compile(ctx, &base));
    }
    out
}

impl CharacteristicFile {
    fn compile(&self, ctx: &mut Ctx, base: &str) -> Option<Characteristic> {
        if self.reason_code.trim().is_empty() || self.reason.trim().is_empty() {
            ctx.err(format!("{base}.reason_code"), "reason_code and reason are required");
        }
        let Some(feature) = FeatureId::parse(&self.feature) else {
            let expected = FeatureId::ALL.map(FeatureId::name);
            let message = format!("unknown feature {:?}; expected one of {expected:?}", self.feature);
            ctx.err(format!("{base}.feature"), message);
            return None;
        };
        if feature.can_be_missing() && self.missing_points.is_none() {
            ctx.err(
                format!("{base}.missing_points"),
                format!("required: feature {:?} can be missing", self.feature),
            );
        }
        let bins = match feature.categories() {
            Some(categories) => self.category_bins(ctx, base, categories)?,
            None => self.numeric_bins(ctx, base)?,
        };
        let bin_max = self.bins.iter().map(|b| b.points).max().unwrap_or(0);
        if self.bins.iter().any(|b| !(-1000..=1000).contains(&b.points)) {
            ctx.err(format!("{base}.bins"), "points must be within -1000..1000");
        }
        Some(Characteristic {
            id: self.id.clone(),
            feature,
            reason_code: self.reason_code.clone(),
            reason: self.reason.clone(),
            missing_points: self.missing_points,
            bins,
            max_points: bin_max.max(self.missing_points.unwrap_or(i32::MIN)),
        })
    }

    fn category_bins(&self, ctx: &mut Ctx, base: &str, categories: &[&str]) -> Option<CharacteristicBins> {
        let mut bins = Vec::new();
        for (j, b) in self.bins.iter().enumerate() {
            if b.below.is_some() || b.at_most.is_some() {
                ctx.err(
                    format!("{base}.bins[{j}]"),
                    "a categorical feature's bins take `values`, not bounds",
                );
            }
            let values = b.values.clone().unwrap_or_default();
            let label = b.label.clone().unwrap_or_else(|| values.join(", "));
            bins.push(CategoryBin {
                values,
                value: b.points,
                label,
            });
        }
        CategoryBins::new(bins, categories)
            .map(CharacteristicBins::Category)
            .map_err(|(j, msg)| ctx.err(format!("{base}.bins[{j}]"), msg))
            .ok()
    }

    fn numeric_bins(&self, ctx: &mut Ctx, base: &str) -> Option<CharacteristicBins> {
        let mut bins = Vec::new();
        for (j, b) in self.bins.iter().enumerate() {
            if b.values.is_some() {
                ctx.err(
                    format!("{base}.bins[{j}]"),
                    "a numeric feature's bins take `below`/`at_most`, not `values`",
                );
            }
            let bound = ctx.bound(&format!("{base}.bins[{j}]"), b.below, b.at_most);
            let label = b.label.clone().unwrap_or_else(|| match bound {
                Bound::Below(x) => format!("< {x}"),
                Bound::AtMost(x) => format!("<= {x}"),
                Bound::Unbounded => "above".to_owned(),
            });
            bins.push(NumericBin {
                bound,
                value: b.points,
                label,
            });
        }
        NumericBins::new(bins)
            .map(CharacteristicBins::Numeric)
            .map_err(|(j, msg)| ctx.err(format!("{base}.bins[{j}]"), msg))
            .ok()
    }
}
