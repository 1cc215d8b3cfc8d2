//! Validation and compilation of the `[monitoring]` section: classification, IFRS 9 staging,
//! provisions and the early-warning levels. Like the rest of the compile step, every problem
//! pushes an error naming its field path and the step carries on.

use std::collections::BTreeMap;

use super::ctx::Ctx;
use crate::domain::profile::{RegistryStatus, TaxRating};
use crate::domain::rulebook::{
    ByClass, ControlChangeLevels, FamilyEscalation, Grade, GuarantorLevels, Levels, LitigationLevels, Monitoring,
    TaxRatingTrigger, TaxRatingWarning, Warning,
};
use crate::domain::vocabulary::{LoanClass, WarningLevel};

/// `[monitoring]` as written: classes, levels, registry statuses and the provision table not yet
/// validated.
pub type MonitoringFile = Monitoring<String, String, String, BTreeMap<String, i64>, WarningFile>;

/// `[monitoring.warning]` as written: levels, tax ratings, triggers and grade names not yet
/// validated.
pub type WarningFile = Warning<String, String, String, String>;

/// The tables of levels as written, one level name a state.
pub type TaxRatingWarningFile = TaxRatingWarning<String, String>;
pub type LitigationFile = LitigationLevels<String>;
pub type GuarantorFile = GuarantorLevels<String>;
pub type ControlChangeFile = ControlChangeLevels<String>;
pub type FamilyEscalationFile = FamilyEscalation<String>;

const SECTION: &str = "monitoring";
const WARNING: &str = "monitoring.warning";

/// Regulatory ceilings the bank's policy must stay within: regulation, not bank policy, so they
/// are constants here. A policy may classify or stage earlier (stricter), never later.
///
/// Measures on risk classification of financial assets of commercial banks (商业银行金融资产风险
/// 分类办法, CBIRC & PBOC Order [2023] No. 1): any overdue is at least special mention except an
/// operational or technical delay of at most 7 days; overdue more than 90 days is at least
/// substandard, more than 270 days at least doubtful, more than 360 days loss; a credit-impaired
/// asset whose expected credit loss is 50% or more of its book balance is at least doubtful, 90%
/// or more loss; when more than 10% of a non-retail debtor's claims at the bank are
/// non-performing, all of them are; more than 20% of the debtor's debt at all banks over 90 days
/// past due is at least substandard; a restructuring's observation period is at least one year;
/// a restructured asset is at least special mention, one non-performing before keeps at least
/// substandard, one restructured again during its observation period is at least doubtful.
pub mod regulatory {
    use crate::domain::vocabulary::LoanClass;

    pub const TECHNICAL_DPD_MAX: u32 = 7;
    pub const SPECIAL_MENTION_FROM_DPD: u32 = 1;
    pub const SUBSTANDARD_FROM_DPD: u32 = 91;
    pub const DOUBTFUL_FROM_DPD: u32 = 271;
    pub const LOSS_FROM_DPD: u32 = 361;
    pub const ECL_RATIO_DOUBTFUL: f64 = 0.50;
    pub const ECL_RATIO_LOSS: f64 = 0.90;
    pub const DEBTOR_NPL_SHARE: f64 = 0.10;
    pub const DEBT_OVER_90_SHARE: f64 = 0.20;
    pub const RESTRUCTURING_OBSERVATION_MONTHS: u32 = 12;
    pub const RESTRUCTURED_MIN_CLASS: LoanClass = LoanClass::SpecialMention;
    pub const RESTRUCTURED_FROM_NPL_MIN_CLASS: LoanClass = LoanClass::Substandard;
    pub const RESTRUCTURED_AGAIN_MIN_CLASS: LoanClass = LoanClass::Doubtful;
    /// IFRS 9 5.5.11 (rebuttable presumption: more than 30 days past due is a significant
    /// increase in credit risk) and B5.5.37 (default no later than 90 days past due).
    pub const STAGE2_FROM_DPD: u32 = 31;
    pub const STAGE3_FROM_DPD: u32 = 91;
}

impl MonitoringFile {
    /// Compiles `[monitoring]`; `grades` resolve grade names, `messages` must hold every action
    /// code.
    /// `max_debt_to_assets` is K12's admission ceiling: W11's absolute levels must not fire at
    /// a leverage the bank admits.
    pub(super) fn compile(
        &self,
        ctx: &mut Ctx,
        grades: &[Grade],
        messages: &BTreeMap<String, String>,
        max_debt_to_assets: f64,
    ) -> Monitoring {
        check_dpd_thresholds(ctx, self);
        check_regulatory_ceilings(ctx, self);
        let (stage3_from_class, stage2_from_class, stage2_from_warning) = staging(ctx, self);
        let [
            restructured,
            restructured_from_npl,
            impaired,
            repaid,
            purpose,
            other_bank,
            debt_over_90,
            insolvent,
            orange,
            red,
            restructured_again,
            external_downgrade,
            debtor_npl,
        ] = min_classes(ctx, self);
        check_minimum_classes(ctx, restructured, restructured_from_npl, restructured_again, debtor_npl);
        let bps = |ctx: &mut Ctx, key: &str, value: i64| ctx.bps(&format!("{SECTION}.{key}"), value, 10_000);
        let fraction = |ctx: &mut Ctx, key: &str, value: f64, lo: f64, hi: f64| {
            ctx.fraction(&format!("{SECTION}.{key}"), value, lo, hi)
        };
        let share = self.debt_over_90_share_substandard;
        let debt_over_90_share = fraction(ctx, "debt_over_90_share_substandard", share, 0.0, 1.0);
        let (ecl_ratio_doubtful, ecl_ratio_loss) = ecl_ratios(ctx, self);
        check_periods_and_notches(ctx, self);
        let debtor_npl_share = fraction(ctx, "debtor_npl_share", self.debtor_npl_share, 0.0, 1.0);
        Monitoring {
            technical_dpd_max: self.technical_dpd_max,
            special_mention_from_dpd: self.special_mention_from_dpd,
            substandard_from_dpd: self.substandard_from_dpd,
            doubtful_from_dpd: self.doubtful_from_dpd,
            loss_from_dpd: self.loss_from_dpd,
            restructured_min_class: restructured,
            restructured_from_npl_min_class: restructured_from_npl,
            restructuring_observation_months: self.restructuring_observation_months,
            restructured_again_min_class: restructured_again,
            ecl_ratio_doubtful,
            ecl_ratio_loss,
            external_downgrade_notches: self.external_downgrade_notches,
            external_downgrade_min_class: external_downgrade,
            debtor_npl_share,
            debtor_npl_min_class: debtor_npl,
            credit_impaired_min_class: impaired,
            repaid_by_new_borrowing_min_class: repaid,
            unapproved_purpose_change_min_class: purpose,
            other_bank_npl_min_class: other_bank,
            debt_over_90_share_substandard: debt_over_90_share,
            debt_over_90_min_class: debt_over_90,
            insolvent_min_class: insolvent,
            insolvent_registry_statuses: registry_statuses(ctx, &self.insolvent_registry_statuses),
            orange_min_class: orange,
            red_min_class: red,
            stage2_from_dpd: self.stage2_from_dpd,
            stage3_from_dpd: self.stage3_from_dpd,
            stage3_from_class,
            stage2_from_class,
            stage2_from_warning,
            sicr_pd_multiple: fraction(ctx, "sicr_pd_multiple", self.sicr_pd_multiple, 1.0, 100.0),
            sicr_min_pd_increase: fraction(ctx, "sicr_min_pd_increase", self.sicr_min_pd_increase, 0.0, 1.0),
            sicr_grade_notches: self.sicr_grade_notches,
            undrawn_ccf_bps: bps(ctx, "undrawn_ccf_bps", self.undrawn_ccf_bps),
            fallback_pd_bps: bps(ctx, "fallback_pd_bps", self.fallback_pd_bps),
            lifetime_pd_min_months: self.lifetime_pd_min_months,
            stage3_pd_bps: bps(ctx, "stage3_pd_bps", self.stage3_pd_bps),
            provision_bps: provision_rates(ctx, &self.provision_bps),
            warning: compile_warning(ctx, &self.warning, grades, messages, max_debt_to_assets),
        }
    }
}

/// The minimum classes of the qualitative triggers (CL07-CL15), in the order of the fields.
fn min_classes(ctx: &mut Ctx, m: &MonitoringFile) -> [LoanClass; 13] {
    [
        ("restructured_min_class", &m.restructured_min_class),
        ("restructured_from_npl_min_class", &m.restructured_from_npl_min_class),
        ("credit_impaired_min_class", &m.credit_impaired_min_class),
        (
            "repaid_by_new_borrowing_min_class",
            &m.repaid_by_new_borrowing_min_class,
        ),
        (
            "unapproved_purpose_change_min_class",
            &m.unapproved_purpose_change_min_class,
        ),
        ("other_bank_npl_min_class", &m.other_bank_npl_min_class),
        ("debt_over_90_min_class", &m.debt_over_90_min_class),
        ("insolvent_min_class", &m.insolvent_min_class),
        ("orange_min_class", &m.orange_min_class),
        ("red_min_class", &m.red_min_class),
        ("restructured_again_min_class", &m.restructured_again_min_class),
        ("external_downgrade_min_class", &m.external_downgrade_min_class),
        ("debtor_npl_min_class", &m.debtor_npl_min_class),
    ]
    .map(|(key, value)| class(ctx, &format!("{SECTION}.{key}"), value))
}

/// The class and warning-level staging thresholds, and the lifetime horizon: stage 2 must not
/// start at a worse class than stage 3, and a green trigger would put every loan in stage 2.
fn staging(ctx: &mut Ctx, m: &MonitoringFile) -> (LoanClass, LoanClass, WarningLevel) {
    let stage3_from_class = class(ctx, &format!("{SECTION}.stage3_from_class"), &m.stage3_from_class);
    let stage2_from_class = class(ctx, &format!("{SECTION}.stage2_from_class"), &m.stage2_from_class);
    if stage2_from_class > stage3_from_class {
        ctx.err(
            format!("{SECTION}.stage2_from_class"),
            "must not be worse than stage3_from_class",
        );
    }
    let stage2_from_warning = level(ctx, &format!("{SECTION}.stage2_from_warning"), &m.stage2_from_warning);
    if stage2_from_warning == WarningLevel::Green {
        ctx.err(
            format!("{SECTION}.stage2_from_warning"),
            "must be yellow, orange or red (green would put every loan in stage 2)",
        );
    }
    if m.lifetime_pd_min_months == 0 {
        ctx.err(format!("{SECTION}.lifetime_pd_min_months"), "must be at least 1");
    }
    (stage3_from_class, stage2_from_class, stage2_from_warning)
}

/// The expected-loss ratios of CL17: fractions, doubtful not above loss.
fn ecl_ratios(ctx: &mut Ctx, m: &MonitoringFile) -> (f64, f64) {
    let doubtful = ctx.fraction(&format!("{SECTION}.ecl_ratio_doubtful"), m.ecl_ratio_doubtful, 0.0, 1.0);
    let loss = ctx.fraction(&format!("{SECTION}.ecl_ratio_loss"), m.ecl_ratio_loss, 0.0, 1.0);
    if doubtful > loss {
        ctx.err(
            format!("{SECTION}.ecl_ratio_loss"),
            "must not be below ecl_ratio_doubtful",
        );
    }
    (doubtful, loss)
}

/// Sanity ranges of the restructuring observation period and the downgrade trigger (the
/// regulatory minimum of the period is checked with the other ceilings).
fn check_periods_and_notches(ctx: &mut Ctx, m: &MonitoringFile) {
    if m.restructuring_observation_months > 120 {
        ctx.err(
            format!("{SECTION}.restructuring_observation_months"),
            "must be at most 120 months",
        );
    }
    if !(1..=20).contains(&m.external_downgrade_notches) {
        ctx.err(
            format!("{SECTION}.external_downgrade_notches"),
            "must be between 1 and 20 notches",
        );
    }
}

/// The policy classifies and stages no later than the regulations allow ([`regulatory`]).
fn check_regulatory_ceilings(ctx: &mut Ctx, m: &MonitoringFile) {
    for (key, value, ceiling, why) in dpd_ceilings(m) {
        if value > ceiling {
            ctx.err(format!("{SECTION}.{key}"), format!("must be at most {ceiling}: {why}"));
        }
    }
    for (key, value, ceiling, why) in share_ceilings(m) {
        if value > ceiling {
            ctx.err(format!("{SECTION}.{key}"), format!("must be at most {ceiling}: {why}"));
        }
    }
    if m.restructuring_observation_months < regulatory::RESTRUCTURING_OBSERVATION_MONTHS {
        ctx.err(
            format!("{SECTION}.restructuring_observation_months"),
            "must be at least 12: the observation period of a restructuring is at least one year (2023 Measures)",
        );
    }
}

/// Each days-past-due threshold of the policy with its regulatory ceiling and the rule behind it.
fn dpd_ceilings(m: &MonitoringFile) -> [(&'static str, u32, u32, &'static str); 7] {
    use regulatory as r;
    [
        (
            "technical_dpd_max",
            m.technical_dpd_max,
            r::TECHNICAL_DPD_MAX,
            "a technical delay is at most 7 days past due (2023 Measures)",
        ),
        (
            "special_mention_from_dpd",
            m.special_mention_from_dpd,
            r::SPECIAL_MENTION_FROM_DPD,
            "any overdue is at least special mention (2023 Measures)",
        ),
        (
            "substandard_from_dpd",
            m.substandard_from_dpd,
            r::SUBSTANDARD_FROM_DPD,
            "overdue more than 90 days is at least substandard (2023 Measures)",
        ),
        (
            "doubtful_from_dpd",
            m.doubtful_from_dpd,
            r::DOUBTFUL_FROM_DPD,
            "overdue more than 270 days is at least doubtful (2023 Measures)",
        ),
        (
            "loss_from_dpd",
            m.loss_from_dpd,
            r::LOSS_FROM_DPD,
            "overdue more than 360 days is loss (2023 Measures)",
        ),
        (
            "stage2_from_dpd",
            m.stage2_from_dpd,
            r::STAGE2_FROM_DPD,
            "more than 30 days past due is stage 2 (IFRS 9 5.5.11)",
        ),
        (
            "stage3_from_dpd",
            m.stage3_from_dpd,
            r::STAGE3_FROM_DPD,
            "more than 90 days past due is stage 3 (IFRS 9 B5.5.37)",
        ),
    ]
}

/// Each share threshold of the policy with its regulatory ceiling and the rule behind it.
fn share_ceilings(m: &MonitoringFile) -> [(&'static str, f64, f64, &'static str); 4] {
    use regulatory as r;
    [
        (
            "ecl_ratio_doubtful",
            m.ecl_ratio_doubtful,
            r::ECL_RATIO_DOUBTFUL,
            "an expected loss of 50% or more is at least doubtful (2023 Measures)",
        ),
        (
            "ecl_ratio_loss",
            m.ecl_ratio_loss,
            r::ECL_RATIO_LOSS,
            "an expected loss of 90% or more is loss (2023 Measures)",
        ),
        (
            "debtor_npl_share",
            m.debtor_npl_share,
            r::DEBTOR_NPL_SHARE,
            "more than 10% of a debtor's claims non-performing makes all non-performing (2023 Measures)",
        ),
        (
            "debt_over_90_share_substandard",
            m.debt_over_90_share_substandard,
            r::DEBT_OVER_90_SHARE,
            "more than 20% of the debt at all banks over 90 days past due is at least substandard (2023 Measures)",
        ),
    ]
}

/// The restructuring and debtor-level classes may not be milder than the Measures' (a parse
/// error is reported by [`min_classes`] already).
fn check_minimum_classes(
    ctx: &mut Ctx,
    restructured: LoanClass,
    from_npl: LoanClass,
    again: LoanClass,
    debtor: LoanClass,
) {
    use regulatory as r;
    let floors = [
        ("restructured_min_class", restructured, r::RESTRUCTURED_MIN_CLASS),
        (
            "restructured_from_npl_min_class",
            from_npl,
            r::RESTRUCTURED_FROM_NPL_MIN_CLASS,
        ),
        ("restructured_again_min_class", again, r::RESTRUCTURED_AGAIN_MIN_CLASS),
        ("debtor_npl_min_class", debtor, LoanClass::Substandard),
    ];
    for (key, class, floor) in floors {
        if class < floor {
            ctx.err(
                format!("{SECTION}.{key}"),
                format!("must be {} or worse (2023 Measures)", floor.key()),
            );
        }
    }
}

/// The days-past-due ladders must rise, or a later rung could never be reached.
fn check_dpd_thresholds(ctx: &mut Ctx, m: &MonitoringFile) {
    if !(m.special_mention_from_dpd <= m.substandard_from_dpd
        && m.substandard_from_dpd <= m.doubtful_from_dpd
        && m.doubtful_from_dpd <= m.loss_from_dpd)
    {
        ctx.err(
            format!("{SECTION}.loss_from_dpd"),
            "dpd thresholds must rise: special mention <= substandard <= doubtful <= loss",
        );
    }
    if m.stage2_from_dpd > m.stage3_from_dpd {
        ctx.err(
            format!("{SECTION}.stage3_from_dpd"),
            "must not be below stage2_from_dpd",
        );
    }
}

/// A rate for every class, and nothing else: the compiled table cannot miss a class, so the
/// monitoring step needs no fallback rate.
fn provision_rates(ctx: &mut Ctx, rates: &BTreeMap<String, i64>) -> ByClass<i64> {
    for key in rates.keys() {
        if LoanClass::parse(key).is_none() {
            ctx.err(format!("{SECTION}.provision_bps.{key}"), "unknown loan class");
        }
    }
    ByClass::from_fn(|class| {
        let field = format!("{SECTION}.provision_bps.{}", class.key());
        match rates.get(class.key()) {
            Some(bps) => ctx.bps(&field, *bps, 10_000),
            None => {
                ctx.err(field, "missing");
                10_000
            }
        }
    })
}

/// W11's absolute levels start above K12's admission ceiling, or a loan approved at the
/// ceiling would be on the watch list from its first day.
fn check_leverage_backstop(ctx: &mut Ctx, above: &Levels<f64>, max_debt_to_assets: f64) {
    let lowest = [above.yellow, above.orange, above.red].into_iter().flatten().next();
    if let Some(t) = lowest.filter(|t| *t < max_debt_to_assets) {
        ctx.err(
            format!("{WARNING}.debt_to_assets_above"),
            format!("must not start below knockouts.max_debt_to_assets ({max_debt_to_assets}), got {t}"),
        );
    }
}

fn compile_warning(
    ctx: &mut Ctx,
    w: &WarningFile,
    grades: &[Grade],
    messages: &BTreeMap<String, String>,
    max_debt_to_assets: f64,
) -> Warning {
    let at = |key: &str| format!("{WARNING}.{key}");
    check_leverage_backstop(ctx, &w.debt_to_assets_above, max_debt_to_assets);
    Warning {
        dpd: levels(ctx, &at("dpd"), &w.dpd, false),
        revenue_change: levels(ctx, &at("revenue_change"), &w.revenue_change, true),
        tax_paid_change: levels(ctx, &at("tax_paid_change"), &w.tax_paid_change, true),
        tax_rating: tax_rating_warnings(ctx, &w.tax_rating),
        bank_inflow_change: levels(ctx, &at("bank_inflow_change"), &w.bank_inflow_change, true),
        settlement_account_closed: level(ctx, &at("settlement_account_closed"), &w.settlement_account_closed),
        electricity_change: levels(ctx, &at("electricity_change"), &w.electricity_change, true),
        electricity_supply_cut: level(ctx, &at("electricity_supply_cut"), &w.electricity_supply_cut),
        litigation: litigation_levels(ctx, &w.litigation),
        control_change: control_change_levels(ctx, &w.control_change),
        collateral_coverage_below: levels(
            ctx,
            &at("collateral_coverage_below"),
            &w.collateral_coverage_below,
            true,
        ),
        collateral_coverage_fall: fractions_rising(ctx, &at("collateral_coverage_fall"), &w.collateral_coverage_fall),
        collateral_lost: level(ctx, &at("collateral_lost"), &w.collateral_lost),
        guarantor: guarantor_levels(ctx, &w.guarantor),
        debt_to_assets_increase_yellow: ctx.fraction(
            &at("debt_to_assets_increase_yellow"),
            w.debt_to_assets_increase_yellow,
            0.0,
            10.0,
        ),
        debt_to_assets_above: levels(ctx, &at("debt_to_assets_above"), &w.debt_to_assets_above, false),
        grade_notches_down: levels(ctx, &at("grade_notches_down"), &w.grade_notches_down, false),
        orange_grades: grade_list(ctx, &at("orange_grades"), &w.orange_grades, grades),
        red_grades: grade_list(ctx, &at("red_grades"), &w.red_grades, grades),
        default_grade: level(ctx, &at("default_grade"), &w.default_grade),
        new_lenders_6m: levels(ctx, &at("new_lenders_6m"), &w.new_lenders_6m, false),
        inquiries_6m: levels(ctx, &at("inquiries_6m"), &w.inquiries_6m, false),
        other_bank_npl: level(ctx, &at("other_bank_npl"), &w.other_bank_npl),
        covenant_breaches: levels(ctx, &at("covenant_breaches"), &w.covenant_breaches, false),
        related_party_default: level(ctx, &at("related_party_default"), &w.related_party_default),
        family_escalation: family_escalation(ctx, &w.family_escalation),
        actions: actions(ctx, &w.actions, messages),
    }
}

fn class(ctx: &mut Ctx, field: &str, value: &str) -> LoanClass {
    LoanClass::parse(value).unwrap_or_else(|| {
        ctx.err(
            field,
            format!("unknown loan class {value:?}; expected normal, special_mention, substandard, doubtful or loss"),
        );
        LoanClass::Loss
    })
}

/// A single warning level; green is allowed and means the event never fires.
fn level(ctx: &mut Ctx, field: &str, value: &str) -> WarningLevel {
    WarningLevel::parse(value).unwrap_or_else(|| {
        ctx.err(field, "must be green, yellow, orange or red");
        WarningLevel::Orange
    })
}

/// Levels of states that worsen in order: each state's level must not be below the previous
/// one's, or the table would call a worse state less alarming.
fn ordered_levels(ctx: &mut Ctx, base: &str, states: [(&str, &str); 3]) -> [WarningLevel; 3] {
    let parsed = states.map(|(key, value)| level(ctx, &format!("{base}.{key}"), value));
    for i in 1..parsed.len() {
        if parsed[i] < parsed[i - 1] {
            ctx.err(
                format!("{base}.{}", states[i].0),
                format!("must not be below {base}.{}", states[i - 1].0),
            );
        }
    }
    parsed
}

fn litigation_levels(ctx: &mut Ctx, l: &LitigationFile) -> LitigationLevels {
    let [new_case, material, dishonest_or_frozen] = ordered_levels(
        ctx,
        &format!("{WARNING}.litigation"),
        [
            ("new_case", &l.new_case),
            ("material", &l.material),
            ("dishonest_or_frozen", &l.dishonest_or_frozen),
        ],
    );
    LitigationLevels {
        new_case,
        material,
        dishonest_or_frozen,
    }
}

fn guarantor_levels(ctx: &mut Ctx, g: &GuarantorFile) -> GuarantorLevels {
    let [downgraded, overdue, insolvent_or_withdrawn] = ordered_levels(
        ctx,
        &format!("{WARNING}.guarantor"),
        [
            ("downgraded", &g.downgraded),
            ("overdue", &g.overdue),
            ("insolvent_or_withdrawn", &g.insolvent_or_withdrawn),
        ],
    );
    GuarantorLevels {
        downgraded,
        overdue,
        insolvent_or_withdrawn,
    }
}

fn control_change_levels(ctx: &mut Ctx, c: &ControlChangeFile) -> ControlChangeLevels {
    let [changed, changed_with_other_signal, controller_unreachable] = ordered_levels(
        ctx,
        &format!("{WARNING}.control_change"),
        [
            ("changed", &c.changed),
            ("changed_with_other_signal", &c.changed_with_other_signal),
            ("controller_unreachable", &c.controller_unreachable),
        ],
    );
    ControlChangeLevels {
        changed,
        changed_with_other_signal,
        controller_unreachable,
    }
}

fn tax_rating_warnings(
    ctx: &mut Ctx,
    table: &BTreeMap<String, TaxRatingWarningFile>,
) -> BTreeMap<TaxRating, TaxRatingWarning> {
    let mut out = BTreeMap::new();
    for (rating, rule) in table {
        let base = format!("{WARNING}.tax_rating.{rating}");
        let level = level(ctx, &format!("{base}.level"), &rule.level);
        let when = TaxRatingTrigger::parse(&rule.when).unwrap_or_else(|| {
            ctx.err(
                format!("{base}.when"),
                format!(
                    "unknown trigger {:?}; expected always, downgrade or downgrade_or_unknown",
                    rule.when
                ),
            );
            TaxRatingTrigger::Always
        });
        match TaxRating::parse(rating) {
            Some(r) => {
                out.insert(r, TaxRatingWarning { level, when });
            }
            None => ctx.err(base, "unknown tax rating; expected A, B, M, C or D"),
        }
    }
    out
}

fn family_escalation(ctx: &mut Ctx, rules: &[FamilyEscalationFile]) -> Vec<FamilyEscalation> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let base = format!("{WARNING}.family_escalation[{i}]");
            if r.families < 2 {
                ctx.err(
                    format!("{base}.families"),
                    "must be at least 2 (one family is its own level)",
                );
            }
            let at_least = level(ctx, &format!("{base}.at_least"), &r.at_least);
            if at_least == WarningLevel::Green {
                ctx.err(format!("{base}.at_least"), "must be yellow, orange or red");
            }
            let raise_to = level(ctx, &format!("{base}.raise_to"), &r.raise_to);
            if raise_to <= at_least {
                ctx.err(format!("{base}.raise_to"), "must be worse than at_least");
            }
            FamilyEscalation {
                families: r.families,
                at_least,
                raise_to,
            }
        })
        .collect()
}

fn registry_statuses(ctx: &mut Ctx, names: &[String]) -> Vec<RegistryStatus> {
    names
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let status = match name.as_str() {
                "active" => Some(RegistryStatus::Active),
                "revoked" => Some(RegistryStatus::Revoked),
                "deregistered" => Some(RegistryStatus::Deregistered),
                "liquidation" => Some(RegistryStatus::Liquidation),
                "bankruptcy" => Some(RegistryStatus::Bankruptcy),
                _ => None,
            };
            if status.is_none() {
                ctx.err(
                    format!("{SECTION}.insolvent_registry_statuses[{i}]"),
                    format!("unknown registry status {name:?}; expected active, revoked, deregistered, liquidation or bankruptcy"),
                );
            }
            status
        })
        .collect()
}

fn grade_list(ctx: &mut Ctx, field: &str, names: &[String], grades: &[Grade]) -> Vec<usize> {
    names
        .iter()
        .filter_map(|g| {
            let idx = grades.iter().position(|x| &x.name == g);
            if idx.is_none() {
                ctx.err(field, format!("unknown grade {g:?}"));
            }
            idx
        })
        .collect()
}

/// Action codes by level; every code needs a message, and green has no actions.
fn actions(
    ctx: &mut Ctx,
    table: &BTreeMap<String, Vec<String>>,
    messages: &BTreeMap<String, String>,
) -> BTreeMap<WarningLevel, Vec<String>> {
    let mut out = BTreeMap::new();
    for (level, codes) in table {
        let field = format!("{WARNING}.actions.{level}");
        match WarningLevel::parse(level) {
            Some(l) if l != WarningLevel::Green => {
                for code in codes.iter().filter(|c| !messages.contains_key(*c)) {
                    ctx.err(&field, format!("action {code:?} has no entry in [messages]"));
                }
                out.insert(l, codes.clone());
            }
            _ => ctx.err(field, "levels are yellow, orange and red"),
        }
    }
    out
}

/// Levels of fractions in 0..1 (a worse level not lower), like a fall since origination.
fn fractions_rising(ctx: &mut Ctx, field: &str, l: &Levels<f64>) -> Levels<f64> {
    for x in [l.yellow, l.orange, l.red].into_iter().flatten() {
        if !x.is_finite() || x <= 0.0 || x >= 1.0 {
            ctx.err(
                field,
                format!("each threshold must be a fraction above 0 and below 1, got {x}"),
            );
        }
    }
    levels(ctx, field, l, false)
}

/// Thresholds must worsen from yellow to orange to red: with `worse_is_lower` a worse level's
/// threshold is not above the previous one, otherwise not below.
fn levels<T: Copy + PartialOrd + std::fmt::Display>(
    ctx: &mut Ctx,
    field: &str,
    l: &Levels<T>,
    worse_is_lower: bool,
) -> Levels<T> {
    let present: Vec<T> = [l.yellow, l.orange, l.red].into_iter().flatten().collect();
    if present.is_empty() {
        ctx.err(field, "at least one of yellow, orange, red is required");
    }
    for pair in present.windows(2) {
        let ordered = if worse_is_lower {
            pair[1] <= pair[0]
        } else {
            pair[1] >= pair[0]
        };
        if !ordered {
            let dir = if worse_is_lower { "not above" } else { "not below" };
            ctx.err(
                field,
                format!(
                    "each worse level's threshold must be {dir} the previous ({} then {})",
                    pair[0], pair[1]
                ),
            );
        }
    }
    *l
}

#[cfg(test)]
mod tests {
    use crate::policy::{Policy, PolicyError, default_policy_with};

    /// The default policy with the one line setting `key` (at any depth) replaced by
    /// `key = value`.
    fn with(key: &str, value: &str) -> String {
        default_policy_with(key, value).unwrap_or_else(|| panic!("{key} must be set on exactly one line"))
    }

    /// The error naming `field` (with a line) that loading `text` must report.
    fn error_at(text: &str, field: &str) -> PolicyError {
        let err = Policy::from_toml(text).expect_err("the change must be rejected");
        let e = err
            .0
            .iter()
            .find(|e| e.field == field)
            .unwrap_or_else(|| panic!("no error names {field}: {:?}", err.0));
        assert!(e.line > 0, "{e:?}");
        e.clone()
    }

    #[test]
    fn unknown_minimum_classes_name_their_field() {
        for key in [
            "restructured_min_class",
            "restructured_from_npl_min_class",
            "credit_impaired_min_class",
            "repaid_by_new_borrowing_min_class",
            "unapproved_purpose_change_min_class",
            "other_bank_npl_min_class",
            "debt_over_90_min_class",
            "insolvent_min_class",
            "orange_min_class",
            "red_min_class",
            "stage3_from_class",
            "stage2_from_class",
            "restructured_again_min_class",
            "external_downgrade_min_class",
            "debtor_npl_min_class",
        ] {
            let e = error_at(&with(key, "\"worst\""), &format!("monitoring.{key}"));
            assert!(e.message.contains("unknown loan class"), "{e:?}");
        }
    }

    #[test]
    fn unknown_single_levels_name_their_field() {
        for key in [
            "settlement_account_closed",
            "electricity_supply_cut",
            "collateral_lost",
            "default_grade",
            "other_bank_npl",
            "related_party_default",
        ] {
            let e = error_at(&with(key, "\"purple\""), &format!("monitoring.warning.{key}"));
            assert!(e.message.contains("green, yellow, orange or red"), "{e:?}");
        }
        error_at(
            &with("stage2_from_warning", "\"purple\""),
            "monitoring.stage2_from_warning",
        );
    }

    #[test]
    fn staging_thresholds_are_checked() {
        let e = error_at(
            &with("stage2_from_warning", "\"green\""),
            "monitoring.stage2_from_warning",
        );
        assert!(e.message.contains("every loan"), "{e:?}");
        let e = error_at(
            &with("stage2_from_class", "\"doubtful\""),
            "monitoring.stage2_from_class",
        );
        assert!(e.message.contains("stage3_from_class"), "{e:?}");
        error_at(
            &with("lifetime_pd_min_months", "0"),
            "monitoring.lifetime_pd_min_months",
        );
        let e = error_at(&with("stage3_pd_bps", "10001"), "monitoring.stage3_pd_bps");
        assert!(e.message.contains("basis points"), "{e:?}");
    }

    #[test]
    fn registry_statuses_must_be_known() {
        let text = with("insolvent_registry_statuses", "[\"bankruptcy\", \"closed\"]");
        let e = error_at(&text, "monitoring.insolvent_registry_statuses[1]");
        assert!(e.message.contains("\"closed\""), "{e:?}");
    }

    #[test]
    fn state_levels_must_not_improve_as_the_state_worsens() {
        let text = with(
            "litigation",
            "{ new_case = \"yellow\", material = \"red\", dishonest_or_frozen = \"orange\" }",
        );
        let e = error_at(&text, "monitoring.warning.litigation.dishonest_or_frozen");
        assert!(e.message.contains("monitoring.warning.litigation.material"), "{e:?}");
        let text = with(
            "litigation",
            "{ new_case = \"pink\", material = \"orange\", dishonest_or_frozen = \"red\" }",
        );
        error_at(&text, "monitoring.warning.litigation.new_case");
        let text = with(
            "guarantor",
            "{ downgraded = \"yellow\", overdue = \"green\", insolvent_or_withdrawn = \"red\" }",
        );
        error_at(&text, "monitoring.warning.guarantor.overdue");
        let text = with(
            "control_change",
            "{ changed = \"yellow\", changed_with_other_signal = \"green\", controller_unreachable = \"red\" }",
        );
        error_at(&text, "monitoring.warning.control_change.changed_with_other_signal");
    }

    #[test]
    fn tax_rating_table_is_checked() {
        let text = with("tax_rating", "{ X = { level = \"red\", when = \"always\" } }");
        let e = error_at(&text, "monitoring.warning.tax_rating.X");
        assert!(e.message.contains("unknown tax rating"), "{e:?}");
        let text = with("tax_rating", "{ M = { level = \"amber\", when = \"downgrade\" } }");
        error_at(&text, "monitoring.warning.tax_rating.M.level");
        let text = with("tax_rating", "{ C = { level = \"orange\", when = \"sometimes\" } }");
        let e = error_at(&text, "monitoring.warning.tax_rating.C.when");
        assert!(e.message.contains("downgrade_or_unknown"), "{e:?}");
    }

    #[test]
    fn family_escalations_are_checked() {
        let text = with(
            "family_escalation",
            "[{ families = 1, at_least = \"green\", raise_to = \"orange\" }, \
             { families = 2, at_least = \"orange\", raise_to = \"orange\" }]",
        );
        let e = error_at(&text, "monitoring.warning.family_escalation[0].families");
        assert!(e.message.contains("at least 2"), "{e:?}");
        error_at(&text, "monitoring.warning.family_escalation[0].at_least");
        let e = error_at(&text, "monitoring.warning.family_escalation[1].raise_to");
        assert!(e.message.contains("worse than at_least"), "{e:?}");
    }

    #[test]
    fn provision_rates_cover_every_class_and_nothing_else() {
        let text = with(
            "provision_bps",
            "{ normal = 100, special_mention = 200, substandard = 2500, doubtful = 5000, lost = 10000 }",
        );
        let e = error_at(&text, "monitoring.provision_bps.loss");
        assert_eq!(e.message, "missing");
        let e = error_at(&text, "monitoring.provision_bps.lost");
        assert!(e.message.contains("unknown loan class"), "{e:?}");
        let text = with(
            "provision_bps",
            "{ normal = 100, special_mention = 200, substandard = 2500, doubtful = 5000, loss = 10001 }",
        );
        error_at(&text, "monitoring.provision_bps.loss");
    }

    #[test]
    fn the_default_tables_compile_as_written() {
        use crate::domain::profile::{RegistryStatus, TaxRating};
        use crate::domain::rulebook::TaxRatingTrigger;
        use crate::domain::vocabulary::{LoanClass, WarningLevel};
        let m = Policy::embedded_default().expect("valid").monitoring;
        assert_eq!(m.warning.tax_rating.len(), 3);
        assert_eq!(
            m.warning.tax_rating[&TaxRating::C].when,
            TaxRatingTrigger::DowngradeOrUnknown
        );
        assert_eq!(m.warning.litigation.material, WarningLevel::Orange);
        assert_eq!(m.warning.control_change.changed_with_other_signal, WarningLevel::Orange);
        assert_eq!(m.warning.family_escalation.len(), 2);
        assert_eq!(
            m.insolvent_registry_statuses,
            [RegistryStatus::Bankruptcy, RegistryStatus::Liquidation]
        );
        assert_eq!(m.credit_impaired_min_class, LoanClass::Substandard);
        assert_eq!(m.provision_bps[&LoanClass::Loss], 10_000);
        assert_eq!((m.lifetime_pd_min_months, m.stage3_pd_bps), (12, 10_000));
    }
}
