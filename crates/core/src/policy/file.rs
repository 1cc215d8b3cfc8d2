//! The policy file as written (TOML), before validation. Unknown keys are errors so that a typo
//! never silently falls back to a default. Each section's type stands in the module that
//! validates it.

use std::collections::BTreeMap;

use serde::Deserialize;

pub use super::authority::AuthorityFile;
pub use super::collateral::{CollateralFile, LgdFile};
pub use super::conditions::ConditionFile;
pub use super::grades::{DefaultGradeFile, GradeFile};
pub use super::industries::IndustriesFile;
pub use super::knockouts::{KnockoutsFile, ReferFile};
pub use super::limits::LimitsFile;
pub use super::pricing::PricingFile;
pub use super::products::ProductFile;
pub use super::scorecard::{CharacteristicFile, ScalingFile};
pub use super::verification::VerificationFile;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub version: String,
    pub currency: String,
    pub utc_offset_hours: i8,
    #[serde(default)]
    pub accept_uscc_checksum_failures: bool,
    pub scaling: ScalingFile,
    pub scorecard: Vec<CharacteristicFile>,
    pub grades: Vec<GradeFile>,
    pub default_grade: DefaultGradeFile,
    pub industries: IndustriesFile,
    pub knockouts: KnockoutsFile,
    pub refer: ReferFile,
    pub verification: VerificationFile,
    pub limits: LimitsFile,
    pub products: BTreeMap<String, ProductFile>,
    pub lgd: LgdFile,
    pub collateral: BTreeMap<String, CollateralFile>,
    pub pricing: PricingFile,
    pub authority: Vec<AuthorityFile>,
    #[serde(default)]
    pub authority_minimums: BTreeMap<String, String>,
    #[serde(default)]
    pub conditions: Vec<ConditionFile>,
    pub monitoring: MonitoringFile,
    pub messages: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringFile {
    pub technical_dpd_max: u32,
    pub special_mention_from_dpd: u32,
    pub substandard_from_dpd: u32,
    pub doubtful_from_dpd: u32,
    pub loss_from_dpd: u32,
    pub restructured_min_class: String,
    pub restructured_from_npl_min_class: String,
    pub credit_impaired_min_class: String,
    pub repaid_by_new_borrowing_min_class: String,
    pub unapproved_purpose_change_min_class: String,
    pub other_bank_npl_min_class: String,
    pub debt_over_90_share_substandard: f64,
    pub debt_over_90_min_class: String,
    pub insolvent_min_class: String,
    pub insolvent_registry_statuses: Vec<String>,
    pub orange_min_class: String,
    pub red_min_class: String,
    pub stage2_from_dpd: u32,
    pub stage3_from_dpd: u32,
    pub stage3_from_class: String,
    pub stage2_from_class: String,
    pub stage2_from_warning: String,
    pub sicr_pd_multiple: f64,
    pub sicr_min_pd_increase: f64,
    pub sicr_grade_notches: u32,
    pub undrawn_ccf_bps: i64,
    pub fallback_pd_bps: i64,
    pub lifetime_pd_min_months: u32,
    pub stage3_pd_bps: i64,
    pub provision_bps: BTreeMap<String, i64>,
    pub warning: WarningFile,
}

/// Thresholds per level; a level may be left out.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelsFile<T> {
    pub yellow: Option<T>,
    pub orange: Option<T>,
    pub red: Option<T>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningFile {
    pub dpd: LevelsFile<u32>,
    pub revenue_change: LevelsFile<f64>,
    pub tax_paid_change: LevelsFile<f64>,
    pub tax_rating: BTreeMap<String, TaxRatingWarningFile>,
    pub bank_inflow_change: LevelsFile<f64>,
    pub settlement_account_closed: String,
    pub electricity_change: LevelsFile<f64>,
    pub electricity_supply_cut: String,
    pub litigation: LitigationFile,
    pub control_change: ControlChangeFile,
    pub collateral_coverage_below: LevelsFile<f64>,
    pub collateral_lost: String,
    pub guarantor: GuarantorFile,
    pub debt_to_assets_increase_yellow: f64,
    pub debt_to_assets_above: LevelsFile<f64>,
    pub grade_notches_down: LevelsFile<u32>,
    pub orange_grades: Vec<String>,
    pub red_grades: Vec<String>,
    pub default_grade: String,
    pub new_lenders_6m: LevelsFile<u32>,
    pub inquiries_6m: LevelsFile<u32>,
    pub other_bank_npl: String,
    pub covenant_breaches: LevelsFile<u32>,
    pub related_party_default: String,
    pub family_escalation: Vec<FamilyEscalationFile>,
    pub actions: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRatingWarningFile {
    pub level: String,
    pub when: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LitigationFile {
    pub new_case: String,
    pub material: String,
    pub dishonest_or_frozen: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuarantorFile {
    pub downgraded: String,
    pub overdue: String,
    pub insolvent_or_withdrawn: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlChangeFile {
    pub changed: String,
    pub changed_with_other_signal: String,
    pub controller_unreachable: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyEscalationFile {
    pub families: usize,
    pub at_least: String,
    pub raise_to: String,
}
