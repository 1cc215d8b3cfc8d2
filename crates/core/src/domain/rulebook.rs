//! The compiled policy the rules read: every number of the bank's credit policy, validated and
//! laid out for lookups without strings on the hot path. Built only by the policy loader from the
//! policy file (`policies/default.toml` is the default).

use std::collections::BTreeMap;

use super::Amount;
use super::application::{CollateralKind, Product};
use super::bins::{CategoryBins, NumericBins};
use super::profile::{RegistryStatus, TaxRating};
use super::vocabulary::{Band, CapKind, FeatureId, IndustryClass, LoanClass, RevenueSource, Severity, WarningLevel};

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

/// A rating grade. The policy file's `[[grades]]` entries are read into `Grade<String, i64>`
/// (band and money as written) and validated into `Grade`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grade<B = Band, Money = Amount> {
    pub name: String,
    pub min_score: Option<i32>,
    pub master_pd_bps: i64,
    pub band: B,
    pub spread_bps: Option<i64>,
    #[serde(default)]
    pub max_unsecured: Money,
}

/// The grade of a borrower in default; read straight from the policy file.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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

/// Knock-out thresholds. The policy file's `[knockouts]` table is read into
/// `Knockouts<String, i64>` (ratings and money as written) and validated into `Knockouts`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knockouts<Rating = TaxRating, Money = Amount> {
    pub min_years_in_business: u32,
    pub knockout_tax_ratings: Vec<Rating>,
    pub unsecured_knockout_tax_ratings: Vec<Rating>,
    pub max_enforcement_to_net_assets: f64,
    pub max_technical_current_dpd: u32,
    pub knockout_max_dpd_24m: u32,
    pub min_dscr: f64,
    pub max_debt_to_assets: f64,
    pub max_guarantees_to_net_assets: f64,
    pub max_group_exposure: Money,
    pub controller_min_age: u32,
    pub controller_max_age: u32,
}

/// Maximum age of each source's data in days (flag F05). The policy file's table is read straight
/// into it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataAges {
    pub financials: i64,
    pub tax: i64,
    pub invoices: i64,
    pub bank_flows: i64,
    pub utilities: i64,
    pub social_insurance: i64,
    pub credit_report: i64,
    pub legal: i64,
}

/// Refer-flag thresholds; read straight from the policy file.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refer {
    pub dscr_refer_below: f64,
    pub controller_change_months: u32,
    pub new_lenders_refer_at: u32,
    pub circle_refer_at: u32,
    pub max_data_age_days: DataAges,
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
    /// V10: tax burden relative to the industry median.
    pub tax_burden: TaxBurden,
    /// V11: declared employees / social-insurance headcount.
    pub headcount: NumericBins<Severity>,
    /// V12: largest recent month of issued invoices / average of the months before.
    pub invoice_spike: InvoiceSpike,
    /// V13: credit notes and voids / gross issued invoices.
    pub credit_note_share: NumericBins<Severity>,
    /// V14: top buyer share of invoiced sales (a related-party top buyer lands one band up).
    pub customer_concentration: NumericBins<Severity>,
    /// V15: same-day round trips / net business inflows.
    pub round_tripping: NumericBins<Severity>,
    /// V16: new borrowing in 12 months / operating cash flow.
    pub financing_hunger: NumericBins<Severity>,
}

/// Median tax burden (tax paid / revenue in tax returns) per industry code prefix; the longest
/// matching prefix wins, `default_median` otherwise. Bands are on burden / median.
#[derive(Debug, Clone, PartialEq)]
pub struct TaxBurden {
    pub default_median: f64,
    /// (industry code prefix, median), in the policy file's order.
    pub medians: Vec<(String, f64)>,
    pub bands: NumericBins<Severity>,
}

impl TaxBurden {
    /// The median of the longest prefix of `industry_code` listed, else the default.
    pub fn median_for(&self, industry_code: &str) -> (String, f64) {
        self.medians
            .iter()
            .filter(|(prefix, _)| industry_code.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or_else(|| ("default".to_owned(), self.default_median), |(p, m)| (p.clone(), *m))
    }
}

/// Invoice spike: the largest of the last `recent_months` against the average of the
/// `baseline_months` before them.
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceSpike {
    pub recent_months: usize,
    pub baseline_months: usize,
    pub bands: NumericBins<Severity>,
}

/// Limit sizing. The policy file's `[limits]` table is read into `Limits<i64, String>` (money
/// and tax ratings as written) and validated into `Limits`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits<Money = Amount, Rating: Ord = TaxRating> {
    pub revenue_fraction: f64,
    pub dscr_min: f64,
    pub notional_tenor_months: u32,
    pub rounding_unit: Money,
    pub min_limit: Money,
    pub group_limit: Money,
    pub tax_multiples: BTreeMap<Rating, i64>,
    /// A loan counts as secured (K04, the unsecured knock-out ratings) when its collateral after
    /// lending haircuts covers at least this share of the requested amount.
    pub secured_min_coverage: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProductPolicy {
    pub min_term_months: u32,
    pub max_term_months: u32,
    pub cap: Option<Amount>,
    pub caps: Vec<CapKind>,
    pub min_years_in_business: Option<u32>,
    pub revenue_fraction: Option<f64>,
    pub unsecured_allowance: bool,
    pub required_collateral: Vec<CollateralKind>,
    /// Grade index -> band.
    pub band_overrides: BTreeMap<usize, Band>,
}

/// The policy file's table of a collateral kind is read straight into it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollateralPolicy {
    pub lending_haircut_bps: i64,
    pub secured_lgd_bps: i64,
    pub supervisory_haircut_bps: i64,
    /// An appraisal older than this many completed months (or undated) is stale.
    pub revaluation_months: u32,
    /// Extra haircut on a stale appraisal, added to the lending and the supervisory haircut.
    pub stale_appraisal_haircut_bps: i64,
}

/// Pricing parameters. The policy file's `[pricing]` table is read into
/// `Pricing<String, String>` (the date and grade names as written) and validated into `Pricing`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing<Day = time::Date, GradeRef = usize> {
    /// Name of the reference rate series, e.g. "LPR"; the tenor is added ("LPR 1Y", "LPR 5Y").
    pub base_rate_name: String,
    /// The reference rate as announced, oldest first: each entry is in force from its date until
    /// the next one.
    pub base_rates: Vec<BaseRate<Day>>,
    /// Terms above this many months price off the five-year rate, shorter ones off the one-year.
    pub five_year_rate_above_months: u32,
    pub secured_discount_bps: i64,
    /// Grade indexes eligible for the secured discount.
    pub secured_discount_grades: Vec<GradeRef>,
    pub secured_discount_max_lgd_bps: i64,
    pub tenor_premium_bps_per_year: i64,
    pub tenor_premium_max_bps: i64,
    /// Terms up to this many months carry no tenor premium.
    pub tenor_premium_from_months: u32,
    pub funding_cost_bps: i64,
    pub operating_cost_bps: i64,
    pub risk_weight_bps: i64,
    pub capital_ratio_bps: i64,
    pub raroc_hurdle: f64,
}

/// One announcement of the reference rate (the LPR is announced for two tenors at once).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseRate<Day = time::Date> {
    pub effective_from: Day,
    pub one_year_bps: i64,
    pub five_year_bps: i64,
}

/// An approval authority level. The policy file's `[[authority]]` entries are read into
/// `AuthorityLevel<i64, String>` (money and grade names as written) and validated into
/// `AuthorityLevel`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorityLevel<Money = Amount, GradeRef = usize> {
    pub level: String,
    pub description: String,
    pub max_new_amount: Option<Money>,
    pub max_total_exposure: Option<Money>,
    /// Worst grade index the level may approve (None = any).
    pub max_grade: Option<GradeRef>,
    #[serde(default)]
    pub straight_through: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConditionRule {
    pub code: String,
    pub message: String,
    pub grades: Vec<usize>,
    pub products: Vec<Product>,
    /// At least one collateral item offered (whatever it covers).
    pub has_collateral: Option<bool>,
    /// At least one collateral item's appraisal is stale (older than its revaluation period).
    pub stale_appraisal: Option<bool>,
    pub min_amount: Option<Amount>,
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

/// Thresholds per warning level (any may be absent). The policy file's tables are read straight
/// into it; the order of the thresholds is checked when the section is compiled.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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

/// When a current tax rating fires W04, given the rating at origination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxRatingTrigger {
    /// Whatever the rating was (or if it is unknown).
    Always,
    /// Only when the origination rating is known and better.
    Downgrade,
    /// When the origination rating is better or unknown.
    DowngradeOrUnknown,
}

impl TaxRatingTrigger {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "always" => Some(TaxRatingTrigger::Always),
            "downgrade" => Some(TaxRatingTrigger::Downgrade),
            "downgrade_or_unknown" => Some(TaxRatingTrigger::DowngradeOrUnknown),
            _ => None,
        }
    }

    /// Whether a move from `origination` to `current` fires.
    pub fn fires(self, origination: Option<TaxRating>, current: TaxRating) -> bool {
        match self {
            TaxRatingTrigger::Always => true,
            TaxRatingTrigger::Downgrade => origination.is_some_and(|was| was < current),
            TaxRatingTrigger::DowngradeOrUnknown => origination.is_none_or(|was| was < current),
        }
    }
}

/// The W04 level of one current tax rating. The policy file's entries are read into
/// `TaxRatingWarning<String, String>` (level and trigger as written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRatingWarning<Level = WarningLevel, When = TaxRatingTrigger> {
    pub level: Level,
    pub when: When,
}

/// W07 level per litigation state (no litigation is green). Read from the policy file as
/// `LitigationLevels<String>`, as are the other tables of levels below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LitigationLevels<Level = WarningLevel> {
    pub new_case: Level,
    pub material: Level,
    pub dishonest_or_frozen: Level,
}

/// W10 level per guarantor state (a stable guarantor is green).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuarantorLevels<Level = WarningLevel> {
    pub downgraded: Level,
    pub overdue: Level,
    pub insolvent_or_withdrawn: Level,
}

/// W08 level per control change (no change is green).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlChangeLevels<Level = WarningLevel> {
    /// A change of controller and no other signal.
    pub changed: Level,
    /// A change of controller while any other signal fired.
    pub changed_with_other_signal: Level,
    pub controller_unreachable: Level,
}

/// Escalation of the overall level: `families` distinct signal families at `at_least` or worse
/// raise the level to at least `raise_to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyEscalation<Level = WarningLevel> {
    pub families: usize,
    pub at_least: Level,
    pub raise_to: Level,
}

/// The early-warning tables. The policy file's `[monitoring.warning]` table is read into
/// `Warning<String, String, String, String>` (levels, tax ratings, triggers and grade names as
/// written) and validated into `Warning`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Warning<Level: Ord = WarningLevel, Rating: Ord = TaxRating, When = TaxRatingTrigger, GradeRef = usize> {
    pub dpd: Levels<u32>,
    pub revenue_change: Levels<f64>,
    pub tax_paid_change: Levels<f64>,
    /// W04 by current rating; a rating not listed never fires.
    pub tax_rating: BTreeMap<Rating, TaxRatingWarning<Level, When>>,
    pub bank_inflow_change: Levels<f64>,
    pub settlement_account_closed: Level,
    pub electricity_change: Levels<f64>,
    pub electricity_supply_cut: Level,
    pub litigation: LitigationLevels<Level>,
    pub control_change: ControlChangeLevels<Level>,
    /// W09 when the coverage at origination is unknown: absolute coverage floors.
    pub collateral_coverage_below: Levels<f64>,
    /// W09 when the coverage at origination is known: the fall of coverage since then, as a
    /// fraction of the coverage at origination (0.2 = a fifth lower).
    pub collateral_coverage_fall: Levels<f64>,
    pub collateral_lost: Level,
    pub guarantor: GuarantorLevels<Level>,
    pub debt_to_assets_increase_yellow: f64,
    pub debt_to_assets_above: Levels<f64>,
    pub grade_notches_down: Levels<u32>,
    pub orange_grades: Vec<GradeRef>,
    pub red_grades: Vec<GradeRef>,
    /// W12 when the current profile falls in the default grade.
    pub default_grade: Level,
    pub new_lenders_6m: Levels<u32>,
    pub inquiries_6m: Levels<u32>,
    pub other_bank_npl: Level,
    pub covenant_breaches: Levels<u32>,
    pub related_party_default: Level,
    /// Applied together; the highest `raise_to` that applies wins.
    pub family_escalation: Vec<FamilyEscalation<Level>>,
    /// Action codes by level (yellow, orange, red).
    pub actions: BTreeMap<Level, Vec<String>>,
}

/// One value per loan class, every class present by construction (so a lookup cannot miss).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByClass<T>([T; 5]);

impl<T: Copy> ByClass<T> {
    /// `value(class)` for every class.
    pub fn from_fn(value: impl FnMut(LoanClass) -> T) -> Self {
        ByClass(LoanClass::ALL.map(value))
    }

    pub fn get(&self, class: LoanClass) -> T {
        self[&class]
    }
}

impl<T> std::ops::Index<&LoanClass> for ByClass<T> {
    type Output = T;

    fn index(&self, class: &LoanClass) -> &T {
        // LoanClass::ALL lists the classes in declaration order, so the discriminant is the slot.
        &self.0[*class as usize]
    }
}

/// Classification, staging, provisions and early warning. The policy file's `[monitoring]`
/// table is read into `Monitoring<String, String, String, BTreeMap<String, i64>, Warning<..>>`
/// (classes, levels, registry statuses, the provision table and the warning tables as written)
/// and validated into `Monitoring`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitoring<
    Class = LoanClass,
    Level = WarningLevel,
    Status = RegistryStatus,
    Provisions = ByClass<i64>,
    Warnings = Warning,
> {
    pub technical_dpd_max: u32,
    pub special_mention_from_dpd: u32,
    pub substandard_from_dpd: u32,
    pub doubtful_from_dpd: u32,
    pub loss_from_dpd: u32,
    /// CL07: a restructured loan under observation is at least this class.
    pub restructured_min_class: Class,
    /// CL08: a loan non-performing before restructuring keeps at least its class before and
    /// at least this class while under observation (no upgrade during the observation).
    pub restructured_from_npl_min_class: Class,
    /// Length of a restructuring's observation period, from its start (the first repayment
    /// date after the modification).
    pub restructuring_observation_months: u32,
    /// CL16: restructured again within the previous restructuring's observation period.
    pub restructured_again_min_class: Class,
    /// CL17: a credit-impaired loan whose expected credit loss is at least this share of the
    /// outstanding principal is at least doubtful ...
    pub ecl_ratio_doubtful: f64,
    /// ... and at least loss from this share.
    pub ecl_ratio_loss: f64,
    /// CL18: an external rating this many notches below its origination rating or more ...
    pub external_downgrade_notches: u32,
    /// ... forces at least this class.
    pub external_downgrade_min_class: Class,
    /// CL19: when more than this share of the debtor's claims at the bank is non-performing ...
    pub debtor_npl_share: f64,
    /// ... all its claims are at least this class.
    pub debtor_npl_min_class: Class,
    /// CL09: the loan is credit-impaired.
    pub credit_impaired_min_class: Class,
    /// CL10: repaid by new borrowing.
    pub repaid_by_new_borrowing_min_class: Class,
    /// CL11: purpose changed without approval.
    pub unapproved_purpose_change_min_class: Class,
    /// CL12: another bank reports the borrower non-performing.
    pub other_bank_npl_min_class: Class,
    pub debt_over_90_share_substandard: f64,
    /// CL13: the class a debtor over that share is at least.
    pub debt_over_90_min_class: Class,
    pub insolvent_min_class: Class,
    /// CL14: registry statuses that count as insolvent.
    pub insolvent_registry_statuses: Vec<Status>,
    pub orange_min_class: Class,
    pub red_min_class: Class,
    pub stage2_from_dpd: u32,
    pub stage3_from_dpd: u32,
    /// ST08: classes (this one and worse) that are stage 3.
    pub stage3_from_class: Class,
    /// ST05: classes (this one and worse) that are at least stage 2.
    pub stage2_from_class: Class,
    /// ST05: warning levels (this one and worse) that are at least stage 2.
    pub stage2_from_warning: Level,
    pub sicr_pd_multiple: f64,
    pub sicr_min_pd_increase: f64,
    pub sicr_grade_notches: u32,
    pub undrawn_ccf_bps: i64,
    pub fallback_pd_bps: i64,
    /// Stage 2 lifetime PD: the horizon is the remaining term, but never shorter than this.
    pub lifetime_pd_min_months: u32,
    /// Stage 3 PD (credit-impaired).
    pub stage3_pd_bps: i64,
    pub provision_bps: Provisions,
    pub warning: Warnings,
}

/// Codes the engine emits; each needs a message in `[messages]`.
pub const ENGINE_CODES: &[&str] = &[
    "K02", "K03", "K04", "K05", "K06", "K07", "K08", "K09", "K10", "K11", "K12", "K13", "K14", "K15", "F01", "F02",
    "F03", "F04", "F05", "F06", "F07", "F08", "L01", "L02", "P01", "P02", "S01", "S02",
];
