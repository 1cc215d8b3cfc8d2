//! The scorecard: points per characteristic (first-hit bins), total score, PD from the odds
//! scaling, master-scale grade and reason codes ranked by points lost (docs/DOMAIN.md 5.3-5.5).

use serde::{Deserialize, Serialize};

use super::Reason;
use super::features::{FeatureValue, Features};
use super::profile::EnterpriseProfile;
use super::rulebook::{CharacteristicBins, Policy};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    pub characteristic: String,
    pub reason_code: String,
    pub value: String,
    pub bin: String,
    pub points: i32,
    pub max_points: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreCard {
    pub score: i32,
    /// PD implied by the score.
    pub pd: f64,
    /// Index into the policy's grades; `None` for the default grade.
    pub grade_index: Option<usize>,
    pub grade: String,
    /// Master-scale PD of the grade, floored, in basis points.
    pub master_pd_bps: i64,
    pub contributions: Vec<Contribution>,
    /// Top shortfalls, largest first.
    pub reasons: Vec<Reason>,
}

pub fn score(profile: &EnterpriseProfile, features: &Features, policy: &Policy) -> ScoreCard {
    let mut contributions = Vec::with_capacity(policy.scorecard.len());
    for c in &policy.scorecard {
        let value = features.value(c.feature);
        let (points, bin) = match (value, &c.bins) {
            // Validation guarantees missing_points exists for features that can be missing.
            (FeatureValue::Missing, _) => (c.missing_points.unwrap_or(0), "missing".to_owned()),
            (FeatureValue::Number(x), CharacteristicBins::Numeric(bins)) => {
                let b = bins.find(x);
                (b.value, b.label.clone())
            }
            (FeatureValue::Category(cat), CharacteristicBins::Category(bins)) => match bins.find(cat) {
                Some(b) => (b.value, b.label.clone()),
                None => (c.missing_points.unwrap_or(0), "missing".to_owned()),
            },
            // A feature/bin kind mismatch is rejected when the policy loads.
            _ => (c.missing_points.unwrap_or(0), "missing".to_owned()),
        };
        contributions.push(Contribution {
            characteristic: c.id.clone(),
            reason_code: c.reason_code.clone(),
            value: value.display(),
            bin,
            points,
            max_points: c.max_points,
        });
    }
    let score: i32 = contributions.iter().map(|c| c.points).sum();
    let pd = policy.scaling.pd(score);

    let in_default = profile.credit_history.current_days_past_due >= policy.default_grade.min_current_dpd;
    let (grade_index, grade, master_pd_bps) = if in_default {
        (
            None,
            policy.default_grade.name.clone(),
            policy.default_grade.master_pd_bps,
        )
    } else {
        let idx = policy
            .grades
            .iter()
            .position(|g| g.min_score.is_none_or(|min| score >= min))
            .unwrap_or(policy.grades.len() - 1);
        let g = &policy.grades[idx];
        (Some(idx), g.name.clone(), g.master_pd_bps)
    };

    ScoreCard {
        score,
        pd,
        grade_index,
        grade,
        master_pd_bps: master_pd_bps.max(policy.scaling.pd_floor_bps),
        reasons: reasons(&contributions, policy),
        contributions,
    }
}

/// "Points below maximum": largest shortfall first, ties in scorecard order (stable sort).
fn reasons(contributions: &[Contribution], policy: &Policy) -> Vec<Reason> {
    let mut ranked: Vec<(usize, &Contribution)> = contributions
        .iter()
        .enumerate()
        .filter(|(_, c)| c.max_points > c.points)
        .collect();
    ranked.sort_by(|(ia, a), (ib, b)| {
        (b.max_points - b.points)
            .cmp(&(a.max_points - a.points))
            .then(ia.cmp(ib))
    });
    ranked
        .into_iter()
        .take(policy.scaling.max_reasons)
        .map(|(i, c)| Reason {
            code: c.reason_code.clone(),
            message: policy.scorecard[i].reason.clone(),
            characteristic: Some(c.characteristic.clone()),
            points: c.points,
            max_points: c.max_points,
            figures: Vec::new(),
            thresholds: Vec::new(),
        })
        .collect()
}
