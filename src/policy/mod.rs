//! The credit policy: parsed from TOML, validated with errors that name the field (and the line
//! when it can be found), compiled once into plain structures the core reads without lookups by
//! string on the hot path. Versioned by its own `version` string and the SHA-256 of its bytes.

mod bins;
mod compile;
mod file;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

pub use bins::{Bound, CategoryBin, CategoryBins, NumericBin, NumericBins};
pub use compile::parse_iso_date;

use crate::domain::application::{CollateralKind, Product};
use crate::domain::features::FeatureId;
use crate::domain::profile::TaxRating;

/// The embedded default policy (DOMAIN.md section 8).
pub const DEFAULT_POLICY_TOML: &str = include_str!("../../policies/default.toml");

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// Dotted path, e.g. `scorecard[3].bins[1]`.
    pub field: String,
    /// 1-based line, 0 when unknown.
    pub line: u32,
    pub message: String,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}: {}", self.line, self.field, self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// All problems found while loading a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid policy: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct PolicyErrors(pub Vec<PolicyError>);

/// Decision band of a grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Band {
    Approve,
    ApproveWithConditions,
    Refer,
    Decline,
}

impl Band {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(Band::Approve),
            "approve_with_conditions" => Some(Band::ApproveWithConditions),
            "refer" => Some(Band::Refer),
            "decline" => Some(Band::Decline),
            _ => None,
        }
    }
}

/// Severity of a verification band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// Industry risk class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IndustryClass {
    Low,
    Medium,
    High,
    Prohibited,
}

impl IndustryClass {
    pub const ALL: [IndustryClass; 4] = [
        IndustryClass::Low,
        IndustryClass::Medium,
        IndustryClass::High,
        IndustryClass::Prohibited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IndustryClass::Low => "low",
            IndustryClass::Medium => "medium",
            IndustryClass::High => "high",
            IndustryClass::Prohibited => "prohibited",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        IndustryClass::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Odds scaling and scorecard-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    pub factor: f64,
    pub offset: f64,
    pub pd_floor_bps: i64,
    pub max_reasons: usize,
    pub min_history_months: u32,
    pub min_inflow_months: usize,
}

impl Scaling {
    /// PD implied by a score: 1 / (1 + odds_good), odds_good = exp((score - offset) / factor).
    pub fn pd(&self, score: i32) -> f64 {
        1.0 / (1.0 + ((f64::from(score) - self.offset) / self.factor).exp())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CharacteristicBins {
    Numeric(NumericBins<i32>),
    Category(CategoryBins<i32>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Characteristic {
    pub id: String,
    pub feature: FeatureId,
    pub reason_code: String,
    pub reason: String,
    pub missing_points: Option<i32>,
    pub bins: CharacteristicBins,
    pub max_points: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grade {
    pub name: String,
    pub min_score: Option<i32>,
    pub master_pd_bps: i64,
    pub band: Band,
    pub spread_bps: Option<i64>,
    pub max_unsecured: crate::domain::Amount,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DefaultGrade {
    pub name: String,
    pub min_current_dpd: u32,
    pub master_pd_bps: i64,
}

/// Industry code prefixes to classes; the longest matching prefix wins.
#[derive(Debug, Clone, PartialEq)]
pub struct IndustryTable {
    pub unknown_class: IndustryClass,
    /// Sorted longest prefix first.
    pub prefixes: Vec<(String, IndustryClass)>,
}

impl IndustryTable {
    pub fn classify(&self, industry_code: &str) -> IndustryClass {
        self.prefixes
            .iter()
            .find(|(prefix, _)| industry_code.starts_with(prefix.as_str()))
            .map_or(self.unknown_class, |(_, class)| *class)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Knockouts {
    pub min_years_in_business: u32,
    pub knockout_tax_ratings: Vec<TaxRating>,
    pub unsecured_knockout_tax_ratings: Vec<TaxRating>,
    pub max_enforcement_to_net_assets: f64,
    pub max_technical_current_dpd: u32,
    pub knockout_max_dpd_24m: u32,
    pub min_dscr: f64,
    pub max_debt_to_assets: f64,
    pub max_guarantees_to_net_assets: f64,
    pub max_group_exposure: crate::domain::Amount,
    pub controller_min_age: u32,
    pub controller_max_age: u32,
}

/// Maximum age of each source's data in days (flag F05).
#[derive(Debug, Clone, PartialEq)]
pub struct DataAges {
    pub financials: i64,
    pub tax: i64,
    pub invoices: i64,
    pub bank_flows: i64,
    pub utilities: i64,
    pub credit_report: i64,
    pub legal: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Refer {
    pub dscr_refer_below: f64,
    pub controller_change_months: u32,
    pub new_lenders_refer_at: u32,
    pub circle_refer_at: u32,
    pub max_data_age_days: DataAges,
}

/// Where verified revenue may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevenueSource {
    Invoices,
    Tax,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub verified_revenue_sources: Vec<RevenueSource>,
    pub electricity_industries: Vec<String>,
    pub electricity_critical_drop_with_revenue_up: f64,
    pub inquiries_refer_above: u32,
    pub revenue_vs_invoices: NumericBins<Severity>,
    pub revenue_vs_tax: NumericBins<Severity>,
    pub revenue_vs_bank_inflows: NumericBins<Severity>,
    pub tax_return_vs_invoices: NumericBins<Severity>,
    pub electricity_intensity: NumericBins<Severity>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub revenue_fraction: f64,
    pub dscr_min: f64,
    pub notional_tenor_months: u32,
    pub rounding_unit: crate::domain::Amount,
    pub min_limit: crate::domain::Amount,
    pub group_limit: crate::domain::Amount,
    pub tax_multiples: BTreeMap<TaxRating, i64>,
}

/// Caps a product may apply (request and group always apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CapKind {
    Revenue,
    WorkingCapital,
    Dscr,
    Tax,
    Secured,
    Product,
}

impl CapKind {
    pub const ALL: [CapKind; 6] = [
        CapKind::Revenue,
        CapKind::WorkingCapital,
        CapKind::Dscr,
        CapKind::Tax,
        CapKind::Secured,
        CapKind::Product,
    ];

    pub fn key(self) -> &'static str {
        match self {
            CapKind::Revenue => "revenue",
            CapKind::WorkingCapital => "working_capital",
            CapKind::Dscr => "dscr",
            CapKind::Tax => "tax",
            CapKind::Secured => "secured",
            CapKind::Product => "product",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProductPolicy {
    pub min_term_months: u32,
    pub max_term_months: u32,
    pub cap: Option<crate::domain::Amount>,
    pub caps: Vec<CapKind>,
    pub min_years_in_business: Option<u32>,
    pub revenue_fraction: Option<f64>,
    pub unsecured_allowance: bool,
    pub required_collateral: Vec<CollateralKind>,
    /// Grade index -> band.
    pub band_overrides: BTreeMap<usize, Band>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CollateralPolicy {
    pub lending_haircut_bps: i64,
    pub secured_lgd_bps: i64,
    pub supervisory_haircut_bps: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    pub base_rate_name: String,
    pub base_rate_bps: i64,
    pub base_rate_effective_from: time::Date,
    pub secured_discount_bps: i64,
    /// Grade indexes eligible for the secured discount.
    pub secured_discount_grades: Vec<usize>,
    pub secured_discount_max_lgd_bps: i64,
    pub tenor_premium_bps_per_year: i64,
    pub tenor_premium_max_bps: i64,
    pub funding_cost_bps: i64,
    pub operating_cost_bps: i64,
    pub risk_weight_bps: i64,
    pub capital_ratio_bps: i64,
    pub raroc_hurdle: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthorityLevel {
    pub level: String,
    pub description: String,
    pub max_new_amount: Option<crate::domain::Amount>,
    pub max_total_exposure: Option<crate::domain::Amount>,
    /// Worst grade index the level may approve (None = any).
    pub max_grade: Option<usize>,
    pub straight_through: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConditionRule {
    pub code: String,
    pub message: String,
    pub grades: Vec<usize>,
    pub products: Vec<Product>,
    pub has_collateral: Option<bool>,
    pub min_amount: Option<crate::domain::Amount>,
    pub min_term_months: Option<u32>,
}

/// A validated, compiled policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub version: String,
    /// SHA-256 of the file's bytes, lower-case hex.
    pub hash: String,
    pub currency: String,
    pub utc_offset_hours: i8,
    pub accept_uscc_checksum_failures: bool,
    pub scaling: Scaling,
    pub scorecard: Vec<Characteristic>,
    /// Best first.
    pub grades: Vec<Grade>,
    pub default_grade: DefaultGrade,
    pub industries: IndustryTable,
    pub knockouts: Knockouts,
    pub refer: Refer,
    pub verification: Verification,
    pub limits: Limits,
    pub products: BTreeMap<Product, ProductPolicy>,
    pub unsecured_lgd_bps: i64,
    pub collateral: BTreeMap<CollateralKind, CollateralPolicy>,
    pub pricing: Pricing,
    /// Lowest first; the last has no limits.
    pub authority: Vec<AuthorityLevel>,
    /// Refer-flag code -> minimum authority index.
    pub authority_minimums: BTreeMap<String, usize>,
    pub conditions: Vec<ConditionRule>,
    pub monitoring: Monitoring,
    pub messages: BTreeMap<String, String>,
}

/// Regulatory loan class, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum LoanClass {
    Normal,
    SpecialMention,
    Substandard,
    Doubtful,
    Loss,
}

impl LoanClass {
    pub const ALL: [LoanClass; 5] = [
        LoanClass::Normal,
        LoanClass::SpecialMention,
        LoanClass::Substandard,
        LoanClass::Doubtful,
        LoanClass::Loss,
    ];

    pub fn key(self) -> &'static str {
        match self {
            LoanClass::Normal => "normal",
            LoanClass::SpecialMention => "special_mention",
            LoanClass::Substandard => "substandard",
            LoanClass::Doubtful => "doubtful",
            LoanClass::Loss => "loss",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        LoanClass::ALL.into_iter().find(|c| c.key() == s)
    }

    /// Substandard, doubtful and loss are non-performing.
    pub fn non_performing(self) -> bool {
        self >= LoanClass::Substandard
    }
}

/// Early-warning level, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum WarningLevel {
    Green,
    Yellow,
    Orange,
    Red,
}

impl WarningLevel {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "green" => Some(WarningLevel::Green),
            "yellow" => Some(WarningLevel::Yellow),
            "orange" => Some(WarningLevel::Orange),
            "red" => Some(WarningLevel::Red),
            _ => None,
        }
    }
}

/// Thresholds per warning level (any may be absent).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels<T> {
    pub yellow: Option<T>,
    pub orange: Option<T>,
    pub red: Option<T>,
}

impl<T: Copy> Levels<T> {
    /// The worst level whose threshold `hit` says is reached.
    pub fn level(&self, hit: impl Fn(T) -> bool) -> WarningLevel {
        if self.red.is_some_and(&hit) {
            WarningLevel::Red
        } else if self.orange.is_some_and(&hit) {
            WarningLevel::Orange
        } else if self.yellow.is_some_and(&hit) {
            WarningLevel::Yellow
        } else {
            WarningLevel::Green
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub dpd: Levels<u32>,
    pub revenue_change: Levels<f64>,
    pub tax_paid_change: Levels<f64>,
    pub bank_inflow_change: Levels<f64>,
    pub electricity_change: Levels<f64>,
    pub collateral_coverage_below: Levels<f64>,
    pub debt_to_assets_increase_yellow: f64,
    pub debt_to_assets_above: Levels<f64>,
    pub grade_notches_down: Levels<u32>,
    pub orange_grades: Vec<usize>,
    pub red_grades: Vec<usize>,
    pub new_lenders_6m: Levels<u32>,
    pub inquiries_6m: Levels<u32>,
    pub covenant_breaches: Levels<u32>,
    pub related_party_default: WarningLevel,
    /// Action codes by level (yellow, orange, red).
    pub actions: BTreeMap<WarningLevel, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Monitoring {
    pub technical_dpd_max: u32,
    pub special_mention_from_dpd: u32,
    pub substandard_from_dpd: u32,
    pub doubtful_from_dpd: u32,
    pub loss_from_dpd: u32,
    pub restructured_min_class: LoanClass,
    pub restructured_from_npl_min_class: LoanClass,
    pub debt_over_90_share_substandard: f64,
    pub insolvent_min_class: LoanClass,
    pub orange_min_class: LoanClass,
    pub red_min_class: LoanClass,
    pub stage2_from_dpd: u32,
    pub stage3_from_dpd: u32,
    pub sicr_pd_multiple: f64,
    pub sicr_min_pd_increase: f64,
    pub sicr_grade_notches: u32,
    pub undrawn_ccf_bps: i64,
    pub fallback_pd_bps: i64,
    pub provision_bps: BTreeMap<LoanClass, i64>,
    pub warning: Warning,
}

/// Codes the engine emits; each needs a message in `[messages]`.
pub const ENGINE_CODES: &[&str] = &[
    "K02", "K03", "K04", "K05", "K06", "K07", "K08", "K09", "K10", "K11", "K12", "K13", "K14", "K15", "F01", "F02",
    "F03", "F04", "F05", "F06", "F07", "F08", "L01", "L02", "P01", "S01", "S02",
];

impl Policy {
    /// Parses and validates a policy file. All problems are reported, not only the first.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyErrors> {
        let hash = sha256_hex(text.as_bytes());
        let file: file::PolicyFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |span| line_of_offset(text, span.start));
            PolicyErrors(vec![PolicyError {
                field: "(file)".into(),
                line,
                message: e.message().to_owned(),
            }])
        })?;
        compile::compile(file, hash, text)
    }

    /// The embedded default policy. It is validated by a unit test, so failure here is a build
    /// defect, reported as an error rather than a panic.
    pub fn embedded_default() -> Result<Policy, PolicyErrors> {
        Policy::from_toml(DEFAULT_POLICY_TOML)
    }

    /// Message for an engine code (the code itself if the policy has none, which validation
    /// prevents for engine codes).
    pub fn message(&self, code: &str) -> String {
        self.messages.get(code).cloned().unwrap_or_else(|| code.to_owned())
    }

    pub fn grade_index(&self, name: &str) -> Option<usize> {
        self.grades.iter().position(|g| g.name == name)
    }

    /// Product keys the policy offers.
    pub fn product_keys(&self) -> Vec<&'static str> {
        self.products.keys().map(|p| p.key()).collect()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

fn line_of_offset(text: &str, offset: usize) -> u32 {
    let end = offset.min(text.len());
    let newlines = text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count();
    u32::try_from(newlines + 1).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_is_lower_case_hex_of_the_digest() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn embedded_default_loads() {
        let policy = Policy::embedded_default().expect("default policy is valid");
        assert_eq!(policy.version, "sme-default-1.0.0");
        assert_eq!(policy.scorecard.len(), 13);
        assert_eq!(policy.grades.len(), 10);
        assert_eq!(policy.hash.len(), 64);
        assert_eq!(policy.products.len(), 5);
        let max_total: i32 = policy.scorecard.iter().map(|c| c.max_points).sum();
        assert_eq!(max_total, 708, "DOMAIN.md 8.2: max total 708");
    }

    #[test]
    fn scaling_matches_the_check_values() {
        let policy = Policy::embedded_default().expect("valid");
        assert!((policy.scaling.factor - 28.853_900_82).abs() < 1e-7);
        assert!((policy.scaling.offset - 487.122_876_2).abs() < 1e-6);
        for (score, pd) in [
            (700, 0.000_625),
            (660, 0.002_49),
            (640, 0.004_98),
            (620, 0.009_90),
            (600, 0.019_61),
            (580, 0.038_46),
            (560, 0.0741),
            (540, 0.1379),
            (520, 0.2424),
            (500, 0.3902),
        ] {
            let got = policy.scaling.pd(score);
            assert!((got - pd).abs() / pd < 0.005, "score {score}: pd {got} vs {pd}");
        }
    }

    #[test]
    fn industry_prefix_longest_wins() {
        let policy = Policy::embedded_default().expect("valid");
        assert_eq!(policy.industries.classify("C3360"), IndustryClass::Medium);
        assert_eq!(policy.industries.classify("C2511"), IndustryClass::Prohibited);
        assert_eq!(policy.industries.classify("C2520"), IndustryClass::High);
        assert_eq!(policy.industries.classify("I6510"), IndustryClass::Low);
        assert_eq!(policy.industries.classify("I5100"), IndustryClass::Medium);
        assert_eq!(policy.industries.classify("T9000"), IndustryClass::High); // unknown
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = Policy::from_toml("version = \"x\"\ncurrency = 3\n").expect_err("invalid");
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].line, 2, "{:?}", err.0);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let text = DEFAULT_POLICY_TOML.replace("pd_floor_bps = 5", "pd_floor_bps = 5\npd_flor_bps = 6");
        let err = Policy::from_toml(&text).expect_err("typo must be caught");
        assert!(err.0[0].message.contains("pd_flor_bps"), "{:?}", err.0);
        assert!(err.0[0].line > 0);
    }

    #[test]
    fn semantic_errors_name_the_field_and_line() {
        let text = DEFAULT_POLICY_TOML.replacen(
            "{ below = 2, points = 36, label = \"[1, 2)\" }",
            "{ below = 0.5, points = 36, label = \"[1, 2)\" }",
            1,
        );
        let err = Policy::from_toml(&text).expect_err("unordered bins");
        let e = err
            .0
            .iter()
            .find(|e| e.field == "scorecard[0].bins[1]")
            .expect("names the bin");
        assert!(e.line > 0 && e.message.contains("above"), "{e:?}");

        let text = DEFAULT_POLICY_TOML.replace("feature = \"inflow_cv\"", "feature = \"inflow_cov\"");
        let err = Policy::from_toml(&text).expect_err("unknown feature");
        assert!(
            err.0
                .iter()
                .any(|e| e.field == "scorecard[11].feature" && e.message.contains("inflow_cov")),
            "{:?}",
            err.0
        );

        let text = DEFAULT_POLICY_TOML.replace("max_grade = \"G7\"", "max_grade = \"G77\"");
        let err = Policy::from_toml(&text).expect_err("unknown grade");
        assert!(err.0.iter().any(|e| e.field == "authority[2].max_grade"), "{:?}", err.0);
    }

    #[test]
    fn several_errors_are_reported_together() {
        let text = DEFAULT_POLICY_TOML
            .replace("currency = \"CNY\"", "currency = \"cny\"")
            .replace("K15 = ", "X15 = ")
            .replace("min_limit = 50_000", "min_limit = -1");
        let err = Policy::from_toml(&text).expect_err("three problems");
        let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"currency"), "{fields:?}");
        assert!(fields.contains(&"messages.K15"), "{fields:?}");
        assert!(fields.contains(&"limits.min_limit"), "{fields:?}");
    }
}
