//! Validation and compilation of a parsed policy file. Every check pushes an error naming the
//! field and carries on, so one load reports every problem.

use std::collections::{BTreeMap, BTreeSet};

use super::file::{self, PolicyFile};
use super::*;
use crate::domain::Amount;
use crate::domain::application::{CollateralKind, Product};
use crate::domain::features::FeatureId;
use crate::domain::profile::TaxRating;

pub(super) struct Ctx<'a> {
    text: &'a str,
    errors: Vec<PolicyError>,
}

impl Ctx<'_> {
    pub(super) fn err(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let field = field.into();
        let line = locate(self.text, &field);
        self.errors.push(PolicyError {
            field,
            line,
            message: message.into(),
        });
    }

    fn positive_amount(&mut self, field: &str, major: i64) -> Amount {
        if major < 0 {
            self.err(field, "must not be negative");
        } else if major > 1_000_000_000_000 {
            self.err(field, "is unreasonably large (above 10^12)");
        }
        Amount::from_major(major.clamp(0, 1_000_000_000_000))
    }

    pub(super) fn bps(&mut self, field: &str, value: i64, max: i64) -> i64 {
        if !(0..=max).contains(&value) {
            self.err(field, format!("must be between 0 and {max} basis points"));
        }
        value
    }

    pub(super) fn fraction(&mut self, field: &str, value: f64, lo: f64, hi: f64) -> f64 {
        if !value.is_finite() || value < lo || value > hi {
            self.err(field, format!("must be a number between {lo} and {hi}"));
        }
        value
    }
}

/// Best-effort line of a dotted field path: finds the table header (`[a.b]` or the n-th
/// `[[a]]`), then the key within it.
fn locate(text: &str, field: &str) -> u32 {
    let mut segments: Vec<(String, Option<usize>)> = Vec::new();
    for part in field.split('.') {
        match part.split_once('[') {
            Some((name, rest)) => {
                let idx = rest
                    .trim_end_matches(']')
                    .split("][")
                    .next()
                    .and_then(|n| n.parse().ok());
                segments.push((name.to_owned(), idx));
            }
            None => segments.push((part.to_owned(), None)),
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0usize;
    let mut found = 0usize;
    // Longest header prefix that exists.
    for take in (1..=segments.len()).rev() {
        let (head, idx) = &segments[take - 1];
        let path: Vec<&str> = segments[..take].iter().map(|(n, _)| n.as_str()).collect();
        let dotted = path.join(".");
        if let Some(n) = idx {
            let header = format!("[[{dotted}]]");
            if let Some(pos) = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.trim() == header)
                .map(|(i, _)| i)
                .nth(*n)
            {
                start = pos;
                found = take;
                break;
            }
        } else {
            let header = format!("[{dotted}]");
            if let Some(pos) = lines.iter().position(|l| l.trim() == header) {
                start = pos;
                found = take;
                break;
            }
        }
        let _ = head;
    }
    // Then the first remaining key inside that table (up to the next header).
    if let Some((key, _)) = segments.get(found).filter(|_| found > 0 || segments.len() == 1) {
        for (i, line) in lines.iter().enumerate().skip(if found > 0 { start + 1 } else { 0 }) {
            let t = line.trim_start();
            if found > 0 && t.starts_with('[') && !t.starts_with("[[") && i > start {
                break;
            }
            if found > 0 && t.starts_with("[[") {
                break;
            }
            if t.starts_with(&format!("{key} ")) || t.starts_with(&format!("{key}=")) {
                return u32::try_from(i + 1).unwrap_or(0);
            }
        }
    }
    if found > 0 {
        u32::try_from(start + 1).unwrap_or(0)
    } else {
        0
    }
}

fn bound(ctx: &mut Ctx, field: &str, below: Option<f64>, at_most: Option<f64>) -> Bound {
    match (below, at_most) {
        (Some(x), None) => Bound::Below(x),
        (None, Some(x)) => Bound::AtMost(x),
        (None, None) => Bound::Unbounded,
        (Some(_), Some(_)) => {
            ctx.err(field, "give either `below` or `at_most`, not both");
            Bound::Unbounded
        }
    }
}

pub(super) fn compile(f: PolicyFile, hash: String, text: &str) -> Result<Policy, PolicyErrors> {
    let mut ctx = Ctx {
        text,
        errors: Vec::new(),
    };

    if f.version.trim().is_empty() || f.version.len() > 64 {
        ctx.err("version", "must be 1..64 characters");
    }
    if f.currency.len() != 3 || !f.currency.chars().all(|c| c.is_ascii_uppercase()) {
        ctx.err("currency", "must be a 3-letter upper-case ISO 4217 code");
    }
    if !(-12..=14).contains(&f.utc_offset_hours) {
        ctx.err("utc_offset_hours", "must be between -12 and 14");
    }

    let scaling = compile_scaling(&mut ctx, &f.scaling);
    let scorecard = compile_scorecard(&mut ctx, &f.scorecard);
    let grades = compile_grades(&mut ctx, &f.grades);
    let grade_idx = |name: &str| grades.iter().position(|g| g.name == name);

    let default_grade = DefaultGrade {
        name: f.default_grade.name.clone(),
        min_current_dpd: f.default_grade.min_current_dpd,
        master_pd_bps: ctx.bps("default_grade.master_pd_bps", f.default_grade.master_pd_bps, 10_000),
    };
    if grade_idx(&default_grade.name).is_some() {
        ctx.err("default_grade.name", "must differ from every grade name");
    }
    if default_grade.min_current_dpd == 0 {
        ctx.err("default_grade.min_current_dpd", "must be at least 1");
    }

    let industries = compile_industries(&mut ctx, &f.industries);
    let knockouts = compile_knockouts(&mut ctx, &f.knockouts);
    let refer = compile_refer(&mut ctx, &f.refer);
    let verification = compile_verification(&mut ctx, &f.verification);
    let limits = compile_limits(&mut ctx, &f.limits);

    let mut products = BTreeMap::new();
    for (key, p) in &f.products {
        let base = format!("products.{key}");
        let Some(product) = Product::from_key(key) else {
            ctx.err(
                &base,
                format!("unknown product; expected one of {:?}", Product::ALL.map(Product::key)),
            );
            continue;
        };
        if p.min_term_months == 0 || p.min_term_months > p.max_term_months || p.max_term_months > 600 {
            ctx.err(
                format!("{base}.max_term_months"),
                "need 1 <= min_term_months <= max_term_months <= 600",
            );
        }
        let mut caps = Vec::new();
        for (i, c) in p.caps.iter().enumerate() {
            match CapKind::ALL.into_iter().find(|k| k.key() == c) {
                Some(k) if !caps.contains(&k) => caps.push(k),
                Some(_) => ctx.err(format!("{base}.caps[{i}]"), format!("cap {c:?} listed twice")),
                None => ctx.err(
                    format!("{base}.caps[{i}]"),
                    format!(
                        "unknown cap {c:?}; expected one of {:?}",
                        CapKind::ALL.map(CapKind::key)
                    ),
                ),
            }
        }
        let cap = p.cap.map(|c| ctx.positive_amount(&format!("{base}.cap"), c));
        if caps.contains(&CapKind::Product) && cap.is_none() {
            ctx.err(format!("{base}.cap"), "required when caps include \"product\"");
        }
        let revenue_fraction = p
            .revenue_fraction
            .map(|v| ctx.fraction(&format!("{base}.revenue_fraction"), v, 0.0, 1.0));
        let mut required_collateral = Vec::new();
        for (i, k) in p.required_collateral.iter().enumerate() {
            match CollateralKind::from_key(k) {
                Some(kind) => required_collateral.push(kind),
                None => ctx.err(
                    format!("{base}.required_collateral[{i}]"),
                    format!("unknown collateral kind {k:?}"),
                ),
            }
        }
        let mut band_overrides = BTreeMap::new();
        for (grade, band) in &p.band_overrides {
            match (grade_idx(grade), Band::parse(band)) {
                (Some(g), Some(b)) => {
                    band_overrides.insert(g, b);
                }
                (None, _) => ctx.err(format!("{base}.band_overrides.{grade}"), "unknown grade"),
                (_, None) => ctx.err(
                    format!("{base}.band_overrides.{grade}"),
                    format!("unknown band {band:?}"),
                ),
            }
        }
        products.insert(
            product,
            ProductPolicy {
                min_term_months: p.min_term_months,
                max_term_months: p.max_term_months,
                cap,
                caps,
                min_years_in_business: p.min_years_in_business,
                revenue_fraction,
                unsecured_allowance: p.unsecured_allowance,
                required_collateral,
                band_overrides,
            },
        );
    }
    if products.is_empty() {
        ctx.err("products", "the policy must offer at least one product");
    }

    let unsecured_lgd_bps = ctx.bps("lgd.unsecured_lgd_bps", f.lgd.unsecured_lgd_bps, 10_000);
    let mut collateral = BTreeMap::new();
    for (key, c) in &f.collateral {
        let base = format!("collateral.{key}");
        let Some(kind) = CollateralKind::from_key(key) else {
            ctx.err(
                &base,
                format!(
                    "unknown collateral kind; expected one of {:?}",
                    CollateralKind::ALL.map(CollateralKind::key)
                ),
            );
            continue;
        };
        let cp = CollateralPolicy {
            lending_haircut_bps: ctx.bps(&format!("{base}.lending_haircut_bps"), c.lending_haircut_bps, 10_000),
            secured_lgd_bps: ctx.bps(&format!("{base}.secured_lgd_bps"), c.secured_lgd_bps, 10_000),
            supervisory_haircut_bps: ctx.bps(
                &format!("{base}.supervisory_haircut_bps"),
                c.supervisory_haircut_bps,
                10_000,
            ),
        };
        collateral.insert(kind, cp);
    }
    for kind in CollateralKind::ALL {
        if !collateral.contains_key(&kind) {
            ctx.err(
                format!("collateral.{}", kind.key()),
                "missing: every collateral kind needs parameters",
            );
        }
    }

    let pricing = compile_pricing(&mut ctx, &f.pricing, &grades);
    let authority = compile_authority(&mut ctx, &f.authority, &grades);
    let mut authority_minimums = BTreeMap::new();
    for (code, level) in &f.authority_minimums {
        match authority.iter().position(|a| &a.level == level) {
            Some(i) => {
                authority_minimums.insert(code.clone(), i);
            }
            None => ctx.err(
                format!("authority_minimums.{code}"),
                format!("unknown authority level {level:?}"),
            ),
        }
    }

    let mut conditions = Vec::new();
    for (i, c) in f.conditions.iter().enumerate() {
        let base = format!("conditions[{i}]");
        if c.code.trim().is_empty() || c.message.trim().is_empty() {
            ctx.err(format!("{base}.code"), "code and message are required");
        }
        let mut cg = Vec::new();
        for g in &c.grades {
            match grade_idx(g) {
                Some(idx) => cg.push(idx),
                None => ctx.err(format!("{base}.grades"), format!("unknown grade {g:?}")),
            }
        }
        let mut cp = Vec::new();
        for p in &c.products {
            match Product::from_key(p) {
                Some(prod) => cp.push(prod),
                None => ctx.err(format!("{base}.products"), format!("unknown product {p:?}")),
            }
        }
        let min_amount = c
            .min_amount
            .map(|a| ctx.positive_amount(&format!("{base}.min_amount"), a));
        conditions.push(ConditionRule {
            code: c.code.clone(),
            message: c.message.clone(),
            grades: cg,
            products: cp,
            has_collateral: c.has_collateral,
            min_amount,
            min_term_months: c.min_term_months,
        });
    }

    let monitoring = super::monitoring::compile_monitoring(&mut ctx, &f.monitoring, &grades, &f.messages);

    for code in ENGINE_CODES {
        if f.messages.get(*code).is_none_or(|m| m.trim().is_empty()) {
            ctx.err(format!("messages.{code}"), "a message is required for this engine code");
        }
    }

    if !ctx.errors.is_empty() {
        return Err(PolicyErrors(ctx.errors));
    }
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

fn compile_scaling(ctx: &mut Ctx, s: &file::ScalingFile) -> Scaling {
    if !(s.pdo.is_finite() && s.pdo > 0.0) {
        ctx.err("scaling.pdo", "must be a positive number");
    }
    if !(s.base_odds.is_finite() && s.base_odds > 0.0) {
        ctx.err("scaling.base_odds", "must be a positive number");
    }
    if !s.base_score.is_finite() {
        ctx.err("scaling.base_score", "must be a finite number");
    }
    let pd_floor_bps = ctx.bps("scaling.pd_floor_bps", s.pd_floor_bps, 10_000);
    if s.max_reasons == 0 || s.max_reasons > 20 {
        ctx.err("scaling.max_reasons", "must be 1..20");
    }
    if s.min_inflow_months < 2 || s.min_inflow_months > 12 {
        ctx.err("scaling.min_inflow_months", "must be 2..12");
    }
    let factor = s.pdo / std::f64::consts::LN_2;
    Scaling {
        factor,
        offset: s.base_score - factor * s.base_odds.ln(),
        pd_floor_bps,
        max_reasons: s.max_reasons,
        min_history_months: s.min_history_months,
        min_inflow_months: s.min_inflow_months,
    }
}

fn compile_scorecard(ctx: &mut Ctx, chars: &[file::CharacteristicFile]) -> Vec<Characteristic> {
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    if chars.is_empty() {
        ctx.err("scorecard", "at least one characteristic is required");
    }
    for (i, c) in chars.iter().enumerate() {
        let base = format!("scorecard[{i}]");
        if !ids.insert(c.id.clone()) {
            ctx.err(format!("{base}.id"), format!("duplicate characteristic id {:?}", c.id));
        }
        if c.reason_code.trim().is_empty() || c.reason.trim().is_empty() {
            ctx.err(format!("{base}.reason_code"), "reason_code and reason are required");
        }
        let Some(feature) = FeatureId::parse(&c.feature) else {
            ctx.err(
                format!("{base}.feature"),
                format!(
                    "unknown feature {:?}; expected one of {:?}",
                    c.feature,
                    FeatureId::ALL.map(FeatureId::name)
                ),
            );
            continue;
        };
        if feature.can_be_missing() && c.missing_points.is_none() {
            ctx.err(
                format!("{base}.missing_points"),
                format!("required: feature {:?} can be missing", c.feature),
            );
        }
        let bins = match feature.categories() {
            Some(categories) => {
                let mut bins = Vec::new();
                for (j, b) in c.bins.iter().enumerate() {
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
                match CategoryBins::new(bins, categories) {
                    Ok(bins) => CharacteristicBins::Category(bins),
                    Err((j, msg)) => {
                        ctx.err(format!("{base}.bins[{j}]"), msg);
                        continue;
                    }
                }
            }
            None => {
                let mut bins = Vec::new();
                for (j, b) in c.bins.iter().enumerate() {
                    if b.values.is_some() {
                        ctx.err(
                            format!("{base}.bins[{j}]"),
                            "a numeric feature's bins take `below`/`at_most`, not `values`",
                        );
                    }
                    let bound = bound(ctx, &format!("{base}.bins[{j}]"), b.below, b.at_most);
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
                match NumericBins::new(bins) {
                    Ok(bins) => CharacteristicBins::Numeric(bins),
                    Err((j, msg)) => {
                        ctx.err(format!("{base}.bins[{j}]"), msg);
                        continue;
                    }
                }
            }
        };
        let bin_max = c.bins.iter().map(|b| b.points).max().unwrap_or(0);
        let max_points = bin_max.max(c.missing_points.unwrap_or(i32::MIN));
        if c.bins.iter().any(|b| !(-1000..=1000).contains(&b.points)) {
            ctx.err(format!("{base}.bins"), "points must be within -1000..1000");
        }
        out.push(Characteristic {
            id: c.id.clone(),
            feature,
            reason_code: c.reason_code.clone(),
            reason: c.reason.clone(),
            missing_points: c.missing_points,
            bins,
            max_points,
        });
    }
    out
}

fn compile_grades(ctx: &mut Ctx, grades: &[file::GradeFile]) -> Vec<Grade> {
    let mut out: Vec<Grade> = Vec::new();
    if grades.len() < 2 {
        ctx.err("grades", "at least two grades are required");
    }
    let last = grades.len().saturating_sub(1);
    for (i, g) in grades.iter().enumerate() {
        let base = format!("grades[{i}]");
        if out.iter().any(|o| o.name == g.name) || g.name.trim().is_empty() {
            ctx.err(format!("{base}.name"), "grade names must be non-empty and unique");
        }
        match (i == last, g.min_score) {
            (true, Some(_)) => ctx.err(
                format!("{base}.min_score"),
                "the last grade takes every lower score: leave min_score out",
            ),
            (false, None) => ctx.err(format!("{base}.min_score"), "required for every grade but the last"),
            _ => {}
        }
        if let (Some(prev), Some(cur)) = (out.last().and_then(|p| p.min_score), g.min_score)
            && cur >= prev
        {
            ctx.err(
                format!("{base}.min_score"),
                format!("must be below the previous grade's {prev} (grades are listed best first)"),
            );
        }
        let band = Band::parse(&g.band).unwrap_or_else(|| {
            ctx.err(
                format!("{base}.band"),
                format!(
                    "unknown band {:?}; expected approve, approve_with_conditions, refer or decline",
                    g.band
                ),
            );
            Band::Decline
        });
        if band != Band::Decline && g.spread_bps.is_none() {
            ctx.err(format!("{base}.spread_bps"), "required for a grade that can be lent to");
        }
        if let Some(s) = g.spread_bps {
            ctx.bps(&format!("{base}.spread_bps"), s, 5_000);
        }
        let master_pd_bps = ctx.bps(&format!("{base}.master_pd_bps"), g.master_pd_bps, 10_000);
        if let Some(prev) = out.last()
            && master_pd_bps < prev.master_pd_bps
        {
            ctx.err(
                format!("{base}.master_pd_bps"),
                "master PDs must not fall from a better grade to a worse one",
            );
        }
        out.push(Grade {
            name: g.name.clone(),
            min_score: g.min_score,
            master_pd_bps,
            band,
            spread_bps: g.spread_bps,
            max_unsecured: ctx.positive_amount(&format!("{base}.max_unsecured"), g.max_unsecured),
        });
    }
    out
}

fn compile_industries(ctx: &mut Ctx, f: &file::IndustriesFile) -> IndustryTable {
    let unknown_class = IndustryClass::parse(&f.unknown_class).unwrap_or_else(|| {
        ctx.err("industries.unknown_class", "must be low, medium, high or prohibited");
        IndustryClass::High
    });
    let mut prefixes: Vec<(String, IndustryClass)> = Vec::new();
    for (class, list) in [
        (IndustryClass::Low, &f.low),
        (IndustryClass::Medium, &f.medium),
        (IndustryClass::High, &f.high),
        (IndustryClass::Prohibited, &f.prohibited),
    ] {
        for p in list {
            let valid = p.len() <= 5
                && p.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && p.chars().skip(1).all(|c| c.is_ascii_digit());
            if !valid {
                ctx.err(
                    format!("industries.{}", class.as_str()),
                    format!("{p:?} is not a GB/T 4754 code prefix (a letter and up to 4 digits)"),
                );
            }
            if prefixes.iter().any(|(q, _)| q == p) {
                ctx.err(
                    format!("industries.{}", class.as_str()),
                    format!("prefix {p:?} is listed twice"),
                );
            }
            prefixes.push((p.clone(), class));
        }
    }
    prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    IndustryTable {
        unknown_class,
        prefixes,
    }
}

fn ratings(ctx: &mut Ctx, field: &str, list: &[String]) -> Vec<TaxRating> {
    list.iter()
        .filter_map(|r| {
            let parsed = TaxRating::parse(r);
            if parsed.is_none() {
                ctx.err(field, format!("unknown tax rating {r:?}; expected A, B, M, C or D"));
            }
            parsed
        })
        .collect()
}

fn compile_knockouts(ctx: &mut Ctx, k: &file::KnockoutsFile) -> Knockouts {
    if k.controller_min_age >= k.controller_max_age {
        ctx.err("knockouts.controller_max_age", "must be above controller_min_age");
    }
    Knockouts {
        min_years_in_business: k.min_years_in_business,
        knockout_tax_ratings: ratings(ctx, "knockouts.knockout_tax_ratings", &k.knockout_tax_ratings),
        unsecured_knockout_tax_ratings: ratings(
            ctx,
            "knockouts.unsecured_knockout_tax_ratings",
            &k.unsecured_knockout_tax_ratings,
        ),
        max_enforcement_to_net_assets: ctx.fraction(
            "knockouts.max_enforcement_to_net_assets",
            k.max_enforcement_to_net_assets,
            0.0,
            10.0,
        ),
        max_technical_current_dpd: k.max_technical_current_dpd,
        knockout_max_dpd_24m: k.knockout_max_dpd_24m,
        min_dscr: ctx.fraction("knockouts.min_dscr", k.min_dscr, 0.0, 10.0),
        max_debt_to_assets: ctx.fraction("knockouts.max_debt_to_assets", k.max_debt_to_assets, 0.0, 10.0),
        max_guarantees_to_net_assets: ctx.fraction(
            "knockouts.max_guarantees_to_net_assets",
            k.max_guarantees_to_net_assets,
            0.0,
            100.0,
        ),
        max_group_exposure: ctx.positive_amount("knockouts.max_group_exposure", k.max_group_exposure),
        controller_min_age: k.controller_min_age,
        controller_max_age: k.controller_max_age,
    }
}

fn compile_refer(ctx: &mut Ctx, r: &file::ReferFile) -> Refer {
    let a = &r.max_data_age_days;
    for (name, days) in [
        ("financials", a.financials),
        ("tax", a.tax),
        ("invoices", a.invoices),
        ("bank_flows", a.bank_flows),
        ("utilities", a.utilities),
        ("credit_report", a.credit_report),
        ("legal", a.legal),
    ] {
        if !(1..=3650).contains(&days) {
            ctx.err(format!("refer.max_data_age_days.{name}"), "must be 1..3650 days");
        }
    }
    if r.circle_refer_at < 2 {
        ctx.err("refer.circle_refer_at", "must be at least 2");
    }
    Refer {
        dscr_refer_below: ctx.fraction("refer.dscr_refer_below", r.dscr_refer_below, 0.0, 10.0),
        controller_change_months: r.controller_change_months,
        new_lenders_refer_at: r.new_lenders_refer_at,
        circle_refer_at: r.circle_refer_at,
        max_data_age_days: DataAges {
            financials: a.financials,
            tax: a.tax,
            invoices: a.invoices,
            bank_flows: a.bank_flows,
            utilities: a.utilities,
            credit_report: a.credit_report,
            legal: a.legal,
        },
    }
}

fn severity_bins(ctx: &mut Ctx, field: &str, f: &file::BandsFile) -> NumericBins<Severity> {
    let mut bins = Vec::new();
    for (j, b) in f.bands.iter().enumerate() {
        let bfield = format!("{field}.bands[{j}]");
        let bound = bound(ctx, &bfield, b.below, b.at_most);
        let severity = Severity::parse(&b.severity).unwrap_or_else(|| {
            ctx.err(
                &bfield,
                format!("unknown severity {:?}; expected info, warning or critical", b.severity),
            );
            Severity::Warning
        });
        bins.push(NumericBin {
            bound,
            value: severity,
            label: b.label.clone().unwrap_or_default(),
        });
    }
    NumericBins::new(bins).unwrap_or_else(|(j, msg)| {
        ctx.err(format!("{field}.bands[{j}]"), msg);
        // Placeholder so compilation goes on collecting errors; an erroneous policy is never returned.
        NumericBins::catch_all(Severity::Info)
    })
}

fn compile_verification(ctx: &mut Ctx, v: &file::VerificationFile) -> Verification {
    let mut sources = Vec::new();
    for (i, s) in v.verified_revenue_sources.iter().enumerate() {
        match s.as_str() {
            "invoices" => sources.push(RevenueSource::Invoices),
            "tax" => sources.push(RevenueSource::Tax),
            _ => ctx.err(
                format!("verification.verified_revenue_sources[{i}]"),
                format!("unknown source {s:?}; expected \"invoices\" or \"tax\""),
            ),
        }
    }
    if sources.is_empty() {
        ctx.err(
            "verification.verified_revenue_sources",
            "at least one source is required",
        );
    }
    Verification {
        verified_revenue_sources: sources,
        electricity_industries: v.electricity_industries.clone(),
        electricity_critical_drop_with_revenue_up: ctx.fraction(
            "verification.electricity_critical_drop_with_revenue_up",
            v.electricity_critical_drop_with_revenue_up,
            -1.0,
            0.0,
        ),
        inquiries_refer_above: v.inquiries_refer_above,
        revenue_vs_invoices: severity_bins(ctx, "verification.revenue_vs_invoices", &v.revenue_vs_invoices),
        revenue_vs_tax: severity_bins(ctx, "verification.revenue_vs_tax", &v.revenue_vs_tax),
        revenue_vs_bank_inflows: severity_bins(ctx, "verification.revenue_vs_bank_inflows", &v.revenue_vs_bank_inflows),
        tax_return_vs_invoices: severity_bins(ctx, "verification.tax_return_vs_invoices", &v.tax_return_vs_invoices),
        electricity_intensity: severity_bins(ctx, "verification.electricity_intensity", &v.electricity_intensity),
    }
}

fn compile_limits(ctx: &mut Ctx, l: &file::LimitsFile) -> Limits {
    let mut tax_multiples = BTreeMap::new();
    for (k, m) in &l.tax_multiples {
        match TaxRating::parse(k) {
            Some(r) if (0..=100).contains(m) => {
                tax_multiples.insert(r, *m);
            }
            Some(_) => ctx.err(format!("limits.tax_multiples.{k}"), "must be 0..100"),
            None => ctx.err(format!("limits.tax_multiples.{k}"), "unknown tax rating"),
        }
    }
    if l.rounding_unit <= 0 {
        ctx.err("limits.rounding_unit", "must be positive");
    }
    if !(1..=600).contains(&l.notional_tenor_months) {
        ctx.err("limits.notional_tenor_months", "must be 1..600");
    }
    Limits {
        revenue_fraction: ctx.fraction("limits.revenue_fraction", l.revenue_fraction, 0.0, 1.0),
        dscr_min: ctx.fraction("limits.dscr_min", l.dscr_min, 0.1, 10.0),
        notional_tenor_months: l.notional_tenor_months,
        rounding_unit: ctx.positive_amount("limits.rounding_unit", l.rounding_unit),
        min_limit: ctx.positive_amount("limits.min_limit", l.min_limit),
        group_limit: ctx.positive_amount("limits.group_limit", l.group_limit),
        tax_multiples,
    }
}

fn compile_pricing(ctx: &mut Ctx, p: &file::PricingFile, grades: &[Grade]) -> Pricing {
    let effective = parse_iso_date(&p.base_rate_effective_from).unwrap_or_else(|| {
        ctx.err("pricing.base_rate_effective_from", "must be a date YYYY-MM-DD");
        time::Date::MIN
    });
    let mut discount_grades = Vec::new();
    for g in &p.secured_discount_grades {
        match grades.iter().position(|x| &x.name == g) {
            Some(i) => discount_grades.push(i),
            None => ctx.err("pricing.secured_discount_grades", format!("unknown grade {g:?}")),
        }
    }
    if p.base_rate_name.trim().is_empty() {
        ctx.err("pricing.base_rate_name", "required");
    }
    Pricing {
        base_rate_name: p.base_rate_name.clone(),
        base_rate_bps: ctx.bps("pricing.base_rate_bps", p.base_rate_bps, 5_000),
        base_rate_effective_from: effective,
        secured_discount_bps: ctx.bps("pricing.secured_discount_bps", p.secured_discount_bps, 1_000),
        secured_discount_grades: discount_grades,
        secured_discount_max_lgd_bps: ctx.bps(
            "pricing.secured_discount_max_lgd_bps",
            p.secured_discount_max_lgd_bps,
            10_000,
        ),
        tenor_premium_bps_per_year: ctx.bps(
            "pricing.tenor_premium_bps_per_year",
            p.tenor_premium_bps_per_year,
            1_000,
        ),
        tenor_premium_max_bps: ctx.bps("pricing.tenor_premium_max_bps", p.tenor_premium_max_bps, 5_000),
        tenor_premium_from_months: p.tenor_premium_from_months,
        funding_cost_bps: ctx.bps("pricing.funding_cost_bps", p.funding_cost_bps, 5_000),
        operating_cost_bps: ctx.bps("pricing.operating_cost_bps", p.operating_cost_bps, 5_000),
        risk_weight_bps: ctx.bps("pricing.risk_weight_bps", p.risk_weight_bps, 100_000),
        capital_ratio_bps: {
            let v = ctx.bps("pricing.capital_ratio_bps", p.capital_ratio_bps, 10_000);
            if v == 0 {
                ctx.err("pricing.capital_ratio_bps", "must be positive");
            }
            v
        },
        raroc_hurdle: ctx.fraction("pricing.raroc_hurdle", p.raroc_hurdle, -1.0, 10.0),
    }
}

fn compile_authority(ctx: &mut Ctx, levels: &[file::AuthorityFile], grades: &[Grade]) -> Vec<AuthorityLevel> {
    let mut out: Vec<AuthorityLevel> = Vec::new();
    if levels.is_empty() {
        ctx.err("authority", "at least one authority level is required");
    }
    let last = levels.len().saturating_sub(1);
    for (i, a) in levels.iter().enumerate() {
        let base = format!("authority[{i}]");
        if a.level.trim().is_empty() || out.iter().any(|o| o.level == a.level) {
            ctx.err(format!("{base}.level"), "levels must be non-empty and unique");
        }
        let max_grade = a.max_grade.as_ref().and_then(|g| {
            let idx = grades.iter().position(|x| &x.name == g);
            if idx.is_none() {
                ctx.err(format!("{base}.max_grade"), format!("unknown grade {g:?}"));
            }
            idx
        });
        if i == last
            && (a.max_new_amount.is_some()
                || a.max_total_exposure.is_some()
                || a.max_grade.is_some()
                || a.straight_through)
        {
            ctx.err(
                format!("{base}.level"),
                "the last level must have no limits: it takes everything outside the others",
            );
        }
        if i != last && a.max_total_exposure.is_none() {
            ctx.err(
                format!("{base}.max_total_exposure"),
                "required for every level but the last",
            );
        }
        out.push(AuthorityLevel {
            level: a.level.clone(),
            description: a.description.clone(),
            max_new_amount: a
                .max_new_amount
                .map(|v| ctx.positive_amount(&format!("{base}.max_new_amount"), v)),
            max_total_exposure: a
                .max_total_exposure
                .map(|v| ctx.positive_amount(&format!("{base}.max_total_exposure"), v)),
            max_grade,
            straight_through: a.straight_through,
        });
    }
    out
}

/// `YYYY-MM-DD` to a date.
pub fn parse_iso_date(s: &str) -> Option<time::Date> {
    let mut parts = s.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
}
