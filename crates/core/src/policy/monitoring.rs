//! Validation and compilation of the `[monitoring]` section: classification, IFRS 9 staging,
//! provisions and the early-warning levels. Like the rest of the compile step, every problem
//! pushes an error naming its field path and the step carries on.

use std::collections::BTreeMap;

use super::compile::Ctx;
use super::file;
use crate::domain::profile::{RegistryStatus, TaxRating};
use crate::domain::rulebook::{
    ByClass, ControlChangeLevels, FamilyEscalation, Grade, GuarantorLevels, Levels, LitigationLevels, Monitoring,
    TaxRatingTrigger, TaxRatingWarning, Warning,
};
use crate::domain::vocabulary::{LoanClass, WarningLevel};

const SECTION: &str = "monitoring";
const WARNING: &str = "monitoring.warning";

/// Compiles `[monitoring]`; `grades` resolve grade names, `messages` must hold every action code.
pub(super) fn compile_monitoring(
    ctx: &mut Ctx,
    m: &file::MonitoringFile,
    grades: &[Grade],
    messages: &BTreeMap<String, String>,
) -> Monitoring {
    check_dpd_thresholds(ctx, m);
    let class_at = |ctx: &mut Ctx, key: &str, value: &str| class(ctx, &format!("{SECTION}.{key}"), value);
    let stage3_from_class = class_at(ctx, "stage3_from_class", &m.stage3_from_class);
    let stage2_from_class = class_at(ctx, "stage2_from_class", &m.stage2_from_class);
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
    Monitoring {
        technical_dpd_max: m.technical_dpd_max,
        special_mention_from_dpd: m.special_mention_from_dpd,
        substandard_from_dpd: m.substandard_from_dpd,
        doubtful_from_dpd: m.doubtful_from_dpd,
        loss_from_dpd: m.loss_from_dpd,
        restructured_min_class: class_at(ctx, "restructured_min_class", &m.restructured_min_class),
        restructured_from_npl_min_class: class_at(
            ctx,
            "restructured_from_npl_min_class",
            &m.restructured_from_npl_min_class,
        ),
        credit_impaired_min_class: class_at(ctx, "credit_impaired_min_class", &m.credit_impaired_min_class),
        repaid_by_new_borrowing_min_class: class_at(
            ctx,
            "repaid_by_new_borrowing_min_class",
            &m.repaid_by_new_borrowing_min_class,
        ),
        unapproved_purpose_change_min_class: class_at(
            ctx,
            "unapproved_purpose_change_min_class",
            &m.unapproved_purpose_change_min_class,
        ),
        other_bank_npl_min_class: class_at(ctx, "other_bank_npl_min_class", &m.other_bank_npl_min_class),
        debt_over_90_share_substandard: ctx.fraction(
            &format!("{SECTION}.debt_over_90_share_substandard"),
            m.debt_over_90_share_substandard,
            0.0,
            1.0,
        ),
        debt_over_90_min_class: class_at(ctx, "debt_over_90_min_class", &m.debt_over_90_min_class),
        insolvent_min_class: class_at(ctx, "insolvent_min_class", &m.insolvent_min_class),
        insolvent_registry_statuses: registry_statuses(ctx, &m.insolvent_registry_statuses),
        orange_min_class: class_at(ctx, "orange_min_class", &m.orange_min_class),
        red_min_class: class_at(ctx, "red_min_class", &m.red_min_class),
        stage2_from_dpd: m.stage2_from_dpd,
        stage3_from_dpd: m.stage3_from_dpd,
        stage3_from_class,
        stage2_from_class,
        stage2_from_warning,
        sicr_pd_multiple: ctx.fraction(&format!("{SECTION}.sicr_pd_multiple"), m.sicr_pd_multiple, 1.0, 100.0),
        sicr_min_pd_increase: ctx.fraction(
            &format!("{SECTION}.sicr_min_pd_increase"),
            m.sicr_min_pd_increase,
            0.0,
            1.0,
        ),
        sicr_grade_notches: m.sicr_grade_notches,
        undrawn_ccf_bps: ctx.bps(&format!("{SECTION}.undrawn_ccf_bps"), m.undrawn_ccf_bps, 10_000),
        fallback_pd_bps: ctx.bps(&format!("{SECTION}.fallback_pd_bps"), m.fallback_pd_bps, 10_000),
        lifetime_pd_min_months: m.lifetime_pd_min_months,
        stage3_pd_bps: ctx.bps(&format!("{SECTION}.stage3_pd_bps"), m.stage3_pd_bps, 10_000),
        provision_bps: provision_rates(ctx, &m.provision_bps),
        warning: compile_warning(ctx, &m.warning, grades, messages),
    }
}

/// The days-past-due ladders must rise, or a later rung could never be reached.
fn check_dpd_thresholds(ctx: &mut Ctx, m: &file::MonitoringFile) {
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

fn compile_warning(
    ctx: &mut Ctx,
    w: &file::WarningFile,
    grades: &[Grade],
    messages: &BTreeMap<String, String>,
) -> Warning {
    let at = |key: &str| format!("{WARNING}.{key}");
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

fn litigation_levels(ctx: &mut Ctx, l: &file::LitigationFile) -> LitigationLevels {
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

fn guarantor_levels(ctx: &mut Ctx, g: &file::GuarantorFile) -> GuarantorLevels {
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

fn control_change_levels(ctx: &mut Ctx, c: &file::ControlChangeFile) -> ControlChangeLevels {
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
    table: &BTreeMap<String, file::TaxRatingWarningFile>,
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

fn family_escalation(ctx: &mut Ctx, rules: &[file::FamilyEscalationFile]) -> Vec<FamilyEscalation> {
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

/// Thresholds must worsen from yellow to orange to red: with `worse_is_lower` a worse level's
/// threshold is not above the previous one, otherwise not below.
fn levels<T: Copy + PartialOrd + std::fmt::Display>(
    ctx: &mut Ctx,
    field: &str,
    l: &file::LevelsFile<T>,
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
    Levels {
        yellow: l.yellow,
        orange: l.orange,
        red: l.red,
    }
}
