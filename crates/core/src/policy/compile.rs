//! Compilation of a parsed policy file. Each section is validated next to its file type (one
//! module a section); this puts the sections together. Every check records an error naming the
//! field and its line and carries on, so one load reports every problem.

use std::collections::BTreeMap;

use super::ctx::Ctx;
use super::file::{self, PolicyFile};
use super::lines::Lines;
use super::*;

pub(super) fn compile(f: PolicyFile, hash: String, lines: &Lines) -> Result<Policy, PolicyErrors> {
    let mut ctx = Ctx::new(lines);
    check_header(&mut ctx, &f);
    let scaling = f.scaling.compile(&mut ctx);
    let scorecard = scorecard::compile_scorecard(&mut ctx, &f.scorecard);
    let grades = grades::compile_grades(&mut ctx, &f.grades);
    let default_grade = f.default_grade.compile(&mut ctx, &grades);
    let industries = f.industries.compile(&mut ctx);
    let knockouts = f.knockouts.compile(&mut ctx);
    let refer = f.refer.compile(&mut ctx);
    let verification = f.verification.compile(&mut ctx);
    let limits = f.limits.compile(&mut ctx);
    let products = products::compile_products(&mut ctx, &f.products, &grades);
    let unsecured_lgd_bps = f.lgd.compile(&mut ctx);
    let collateral = collateral::compile_collateral(&mut ctx, &f.collateral);
    let pricing = f.pricing.compile(&mut ctx, &grades);
    let authority = authority::compile_authority(&mut ctx, &f.authority, &grades);
    let authority_minimums = authority::compile_authority_minimums(&mut ctx, &f.authority_minimums, &authority);
    let conditions = conditions::compile_conditions(&mut ctx, &f.conditions, &grades);
    let monitoring = compile_monitoring(&mut ctx, &f.monitoring, &grades, &f.messages);
    check_messages(&mut ctx, &f.messages);
    ctx.finish()?;
    Ok(Policy {
        version: f.version,
        hash,
        currency: f.currency,
        utc_offset_hours: f.utc_offset_hours,
        accept_uscc_checksum_failures: f.accept_uscc_checksum_failures,
        scaling,
        scorecard,
        grades,
        default_grade,
        industries,
        knockouts,
        refer,
        verification,
        limits,
        products,
        unsecured_lgd_bps,
        collateral,
        pricing,
        authority,
        authority_minimums,
        conditions,
        monitoring,
        messages: f.messages,
    })
}

/// The top-level keys: version, currency and time zone.
fn check_header(ctx: &mut Ctx, f: &PolicyFile) {
    if f.version.trim().is_empty() || f.version.len() > 64 {
        ctx.err("version", "must be 1..64 characters");
    }
    if f.currency.len() != 3 || !f.currency.chars().all(|c| c.is_ascii_uppercase()) {
        ctx.err("currency", "must be a 3-letter upper-case ISO 4217 code");
    }
    if !(-12..=14).contains(&f.utc_offset_hours) {
        ctx.err("utc_offset_hours", "must be between -12 and 14");
    }
}

/// `[messages]`: every code the engine emits needs a message.
fn check_messages(ctx: &mut Ctx, messages: &BTreeMap<String, String>) {
    for code in ENGINE_CODES {
        if messages.get(*code).is_none_or(|m| m.trim().is_empty()) {
            ctx.err(format!("messages.{code}"), "a message is required for this engine code");
        }
    }
}

/// `YYYY-MM-DD` to a date.
pub fn parse_iso_date(s: &str) -> Option<time::Date> {
    let mut parts = s.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
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

/// Thresholds must worsen from yellow to orange to red: `worse(a, b)` says b is at least as bad.
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

fn compile_monitoring(
    ctx: &mut Ctx,
    m: &file::MonitoringFile,
    grades: &[Grade],
    messages: &BTreeMap<String, String>,
) -> Monitoring {
    let b = "monitoring";
    if !(m.special_mention_from_dpd <= m.substandard_from_dpd
        && m.substandard_from_dpd <= m.doubtful_from_dpd
        && m.doubtful_from_dpd <= m.loss_from_dpd)
    {
        ctx.err(
            format!("{b}.loss_from_dpd"),
            "dpd thresholds must rise: special mention <= substandard <= doubtful <= loss",
        );
    }
    if m.stage2_from_dpd > m.stage3_from_dpd {
        ctx.err(format!("{b}.stage3_from_dpd"), "must not be below stage2_from_dpd");
    }
    let mut provision_bps = BTreeMap::new();
    for c in LoanClass::ALL {
        match m.provision_bps.get(c.key()) {
            Some(v) => {
                provision_bps.insert(c, ctx.bps(&format!("{b}.provision_bps.{}", c.key()), *v, 10_000));
            }
            None => ctx.err(format!("{b}.provision_bps.{}", c.key()), "missing"),
        }
    }
    for k in m.provision_bps.keys() {
        if LoanClass::parse(k).is_none() {
            ctx.err(format!("{b}.provision_bps.{k}"), "unknown loan class");
        }
    }
    let w = &m.warning;
    let wb = "monitoring.warning";
    let grade_list = |ctx: &mut Ctx, field: &str, names: &[String]| -> Vec<usize> {
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
    };
    let mut actions = BTreeMap::new();
    for (level, codes) in &w.actions {
        match WarningLevel::parse(level) {
            Some(l) if l != WarningLevel::Green => {
                for code in codes {
                    if !messages.contains_key(code) {
                        ctx.err(
                            format!("{wb}.actions.{level}"),
                            format!("action {code:?} has no entry in [messages]"),
                        );
                    }
                }
                actions.insert(l, codes.clone());
            }
            _ => ctx.err(format!("{wb}.actions.{level}"), "levels are yellow, orange and red"),
        }
    }
    let warning = Warning {
        dpd: levels(ctx, &format!("{wb}.dpd"), &w.dpd, false),
        revenue_change: levels(ctx, &format!("{wb}.revenue_change"), &w.revenue_change, true),
        tax_paid_change: levels(ctx, &format!("{wb}.tax_paid_change"), &w.tax_paid_change, true),
        bank_inflow_change: levels(ctx, &format!("{wb}.bank_inflow_change"), &w.bank_inflow_change, true),
        electricity_change: levels(ctx, &format!("{wb}.electricity_change"), &w.electricity_change, true),
        collateral_coverage_below: levels(
            ctx,
            &format!("{wb}.collateral_coverage_below"),
            &w.collateral_coverage_below,
            true,
        ),
        debt_to_assets_increase_yellow: ctx.fraction(
            &format!("{wb}.debt_to_assets_increase_yellow"),
            w.debt_to_assets_increase_yellow,
            0.0,
            10.0,
        ),
        debt_to_assets_above: levels(
            ctx,
            &format!("{wb}.debt_to_assets_above"),
            &w.debt_to_assets_above,
            false,
        ),
        grade_notches_down: levels(ctx, &format!("{wb}.grade_notches_down"), &w.grade_notches_down, false),
        orange_grades: grade_list(ctx, &format!("{wb}.orange_grades"), &w.orange_grades),
        red_grades: grade_list(ctx, &format!("{wb}.red_grades"), &w.red_grades),
        new_lenders_6m: levels(ctx, &format!("{wb}.new_lenders_6m"), &w.new_lenders_6m, false),
        inquiries_6m: levels(ctx, &format!("{wb}.inquiries_6m"), &w.inquiries_6m, false),
        covenant_breaches: levels(ctx, &format!("{wb}.covenant_breaches"), &w.covenant_breaches, false),
        related_party_default: WarningLevel::parse(&w.related_party_default).unwrap_or_else(|| {
            ctx.err(
                format!("{wb}.related_party_default"),
                "must be green, yellow, orange or red",
            );
            WarningLevel::Orange
        }),
        actions,
    };
    Monitoring {
        technical_dpd_max: m.technical_dpd_max,
        special_mention_from_dpd: m.special_mention_from_dpd,
        substandard_from_dpd: m.substandard_from_dpd,
        doubtful_from_dpd: m.doubtful_from_dpd,
        loss_from_dpd: m.loss_from_dpd,
        restructured_min_class: class(ctx, &format!("{b}.restructured_min_class"), &m.restructured_min_class),
        restructured_from_npl_min_class: class(
            ctx,
            &format!("{b}.restructured_from_npl_min_class"),
            &m.restructured_from_npl_min_class,
        ),
        debt_over_90_share_substandard: ctx.fraction(
            &format!("{b}.debt_over_90_share_substandard"),
            m.debt_over_90_share_substandard,
            0.0,
            1.0,
        ),
        insolvent_min_class: class(ctx, &format!("{b}.insolvent_min_class"), &m.insolvent_min_class),
        orange_min_class: class(ctx, &format!("{b}.orange_min_class"), &m.orange_min_class),
        red_min_class: class(ctx, &format!("{b}.red_min_class"), &m.red_min_class),
        stage2_from_dpd: m.stage2_from_dpd,
        stage3_from_dpd: m.stage3_from_dpd,
        sicr_pd_multiple: ctx.fraction(&format!("{b}.sicr_pd_multiple"), m.sicr_pd_multiple, 1.0, 100.0),
        sicr_min_pd_increase: ctx.fraction(&format!("{b}.sicr_min_pd_increase"), m.sicr_min_pd_increase, 0.0, 1.0),
        sicr_grade_notches: m.sicr_grade_notches,
        undrawn_ccf_bps: ctx.bps(&format!("{b}.undrawn_ccf_bps"), m.undrawn_ccf_bps, 10_000),
        fallback_pd_bps: ctx.bps(&format!("{b}.fallback_pd_bps"), m.fallback_pd_bps, 10_000),
        provision_bps,
        warning,
    }
}
