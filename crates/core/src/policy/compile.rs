//! Compilation of a parsed policy file. Each section is validated next to its file type (one
//! module a section); this puts the sections together. Every check records an error naming the
//! field and its line and carries on, so one load reports every problem.

use std::collections::BTreeMap;

use super::ctx::Ctx;
use super::file::PolicyFile;
use super::*;

pub(super) fn compile(f: PolicyFile, hash: String) -> Result<Policy, PolicyErrors> {
    let mut ctx = Ctx::default();
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
    let monitoring = f
        .monitoring
        .compile(&mut ctx, &grades, &f.messages, knockouts.max_debt_to_assets);
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
