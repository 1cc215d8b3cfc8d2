//! The policy file as written (TOML), before validation. Unknown keys are errors so that a typo
//! never silently falls back to a default.

use std::collections::BTreeMap;

use serde::Deserialize;

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeFile {
    pub name: String,
    pub min_score: Option<i32>,
    pub master_pd_bps: i64,
    pub band: String,
    pub spread_bps: Option<i64>,
    #[serde(default)]
    pub max_unsecured: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultGradeFile {
    pub name: String,
    pub min_current_dpd: u32,
    pub master_pd_bps: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndustriesFile {
    pub unknown_class: String,
    #[serde(default)]
    pub low: Vec<String>,
    #[serde(default)]
    pub medium: Vec<String>,
    #[serde(default)]
    pub high: Vec<String>,
    #[serde(default)]
    pub prohibited: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnockoutsFile {
    pub min_years_in_business: u32,
    pub knockout_tax_ratings: Vec<String>,
    pub unsecured_knockout_tax_ratings: Vec<String>,
    pub max_enforcement_to_net_assets: f64,
    pub max_technical_current_dpd: u32,
    pub knockout_max_dpd_24m: u32,
    pub min_dscr: f64,
    pub max_debt_to_assets: f64,
    pub max_guarantees_to_net_assets: f64,
    pub max_group_exposure: i64,
    pub controller_min_age: u32,
    pub controller_max_age: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferFile {
    pub dscr_refer_below: f64,
    pub controller_change_months: u32,
    pub new_lenders_refer_at: u32,
    pub circle_refer_at: u32,
    pub max_data_age_days: DataAgeFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataAgeFile {
    pub financials: i64,
    pub tax: i64,
    pub invoices: i64,
    pub bank_flows: i64,
    pub utilities: i64,
    pub credit_report: i64,
    pub legal: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationFile {
    pub verified_revenue_sources: Vec<String>,
    pub electricity_industries: Vec<String>,
    pub electricity_critical_drop_with_revenue_up: f64,
    pub inquiries_refer_above: u32,
    pub revenue_vs_invoices: BandsFile,
    pub revenue_vs_tax: BandsFile,
    pub revenue_vs_bank_inflows: BandsFile,
    pub tax_return_vs_invoices: BandsFile,
    pub electricity_intensity: BandsFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandsFile {
    pub bands: Vec<BandFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandFile {
    pub below: Option<f64>,
    pub at_most: Option<f64>,
    pub severity: String,
    pub label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    pub revenue_fraction: f64,
    pub dscr_min: f64,
    pub notional_tenor_months: u32,
    pub rounding_unit: i64,
    pub min_limit: i64,
    pub group_limit: i64,
    pub tax_multiples: BTreeMap<String, i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductFile {
    pub min_term_months: u32,
    pub max_term_months: u32,
    pub cap: Option<i64>,
    pub caps: Vec<String>,
    pub min_years_in_business: Option<u32>,
    pub revenue_fraction: Option<f64>,
    #[serde(default = "default_true")]
    pub unsecured_allowance: bool,
    #[serde(default)]
    pub required_collateral: Vec<String>,
    #[serde(default)]
    pub band_overrides: BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LgdFile {
    pub unsecured_lgd_bps: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollateralFile {
    pub lending_haircut_bps: i64,
    pub secured_lgd_bps: i64,
    pub supervisory_haircut_bps: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingFile {
    pub base_rate_name: String,
    pub base_rate_bps: i64,
    pub base_rate_effective_from: String,
    pub secured_discount_bps: i64,
    pub secured_discount_grades: Vec<String>,
    pub secured_discount_max_lgd_bps: i64,
    pub tenor_premium_bps_per_year: i64,
    pub tenor_premium_max_bps: i64,
    pub tenor_premium_from_months: u32,
    pub funding_cost_bps: i64,
    pub operating_cost_bps: i64,
    pub risk_weight_bps: i64,
    pub capital_ratio_bps: i64,
    pub raroc_hurdle: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorityFile {
    pub level: String,
    pub description: String,
    pub max_new_amount: Option<i64>,
    pub max_total_exposure: Option<i64>,
    pub max_grade: Option<String>,
    #[serde(default)]
    pub straight_through: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionFile {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub grades: Vec<String>,
    #[serde(default)]
    pub products: Vec<String>,
    pub has_collateral: Option<bool>,
    pub min_amount: Option<i64>,
    pub min_term_months: Option<u32>,
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
