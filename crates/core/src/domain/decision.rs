//! The decision pipeline: composes features, verification, scorecard, limit, knock-outs, price,
//! authority and conditions into one explainable, reproducible evaluation (docs/DOMAIN.md 2).

use serde::{Deserialize, Serialize};
use time::Date;

use super::application::LoanApplication;
use super::authority::{
    AuthorityBasis, AuthorityContext, AuthorityInputs, AuthorityStep, one_up, passed_over, required_level,
};
use super::features::{Features, derive};
use super::figure::Figure;
use super::knockouts::{RuleInputs, knock_outs, refer_flags};
use super::lgd::{LgdSplit, lgd_split_on};
use super::limits::{LimitInputs, LimitOutcome, compute};
use super::pricing::{
    DebtServiceCover, Price, RarocBreakdown, annual_payment, base_rate_on, dscr, expected_loss, highest_base_rate_bps,
    price, raroc_breakdown,
};
use super::profile::{EnterpriseProfile, SourceUsed};
use super::rulebook::{AuthorityLevel, Policy, ProductPolicy};
use super::scorecard::{ScoreCard, score};
use super::security;
use super::verification::{Finding, verify};
use super::vocabulary::Band;
use super::{Amount, Reason};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Approve,
    CounterOffer,
    Refer,
    Decline,
}

/// A problem with an application that only the policy can see (product not offered, term out
/// of range, required collateral missing). The adapter turns these into field violations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationProblem {
    pub field: &'static str,
    pub message: String,
}

/// A stage of the pipeline, as an observer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Features,
    Verification,
    Scorecard,
    Limit,
    KnockOuts,
    Pricing,
    Authority,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Features => "features",
            Stage::Verification => "verification",
            Stage::Scorecard => "scorecard",
            Stage::Limit => "limit",
            Stage::KnockOuts => "knock_outs",
            Stage::Pricing => "pricing",
            Stage::Authority => "authority",
        }
    }
}

/// What a stage concluded, by reference. The observer picks what it may show (the core does not
/// know who watches or how: it stays free of I/O and of any telemetry library).
#[derive(Debug, Clone, Copy)]
pub enum StageReport<'a> {
    Features(&'a Features),
    Verification(&'a [Finding]),
    Scorecard(&'a ScoreCard),
    Limit(&'a LimitOutcome),
    KnockOuts {
        knock_outs: &'a [Reason],
        refer_flags: &'a [Reason],
    },
    Pricing {
        price: Option<&'a Price>,
        pricing_exception: bool,
    },
    Authority {
        level: &'a str,
    },
}

/// Watches the pipeline stage by stage: `start` just before a stage runs, `finish` with its
/// report right after. The adapter uses it for trace spans; [`Unobserved`] costs nothing.
pub trait StageObserver {
    /// Whatever the observer keeps while a stage runs (a span guard, a start time).
    type Guard;
    fn start(&mut self, stage: Stage) -> Self::Guard;
    fn finish(&mut self, guard: Self::Guard, report: StageReport<'_>);
}

/// The observer of [`decide`] and [`score_profile`]: nobody.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl StageObserver for Unobserved {
    type Guard = ();
    #[inline(always)]
    fn start(&mut self, _stage: Stage) {
        // Nothing observed: the stage runs with no guard to hold.
    }

    #[inline(always)]
    fn finish(&mut self, _guard: (), _report: StageReport<'_>) {
        // Nothing observed.
    }
}

/// Score and cross-checks of a profile, without an application.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreResult {
    pub features: Features,
    pub scorecard: ScoreCard,
    pub verification: Vec<Finding>,
}

/// Everything the policy concluded about one application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub outcome: Outcome,
    pub scorecard: ScoreCard,
    pub verification: Vec<Finding>,
    pub knock_outs: Vec<Reason>,
    pub refer_flags: Vec<Reason>,
    /// Knock-outs or flags first, then the scorecard's reasons.
    pub reasons: Vec<Reason>,
    pub conditions: Vec<Reason>,
    pub limit: LimitOutcome,
    pub approved_amount: Amount,
    pub price: Option<Price>,
    pub interest_rate_bps: i64,
    pub lgd_bps: i64,
    pub expected_loss: Amount,
    pub raroc: f64,
    pub dscr_after: f64,
    pub required_authority: String,
    pub authority_description: String,
    pub evaluation_date: Date,
    pub policy_version: String,
    pub policy_hash: String,
    /// The source blocks of the profile the evaluation read, with their lineage (empty in
    /// records made before lineage was kept).
    #[serde(default)]
    pub sources: Vec<SourceUsed>,
    /// The figures of `dscr_after`. Defaulted (as are the explanations below) so that records
    /// written before they existed still read.
    #[serde(default)]
    pub debt_service: Option<DebtServiceCover>,
    /// How `lgd_bps` splits the exposure into secured and unsecured parts.
    #[serde(default)]
    pub lgd_split: Option<LgdSplit>,
    /// What `raroc` is made of (absent when the loan is not priced).
    #[serde(default)]
    pub raroc_breakdown: Option<RarocBreakdown>,
    /// Why `required_authority` is the level it is.
    #[serde(default)]
    pub authority_basis: Option<AuthorityBasis>,
}

/// A recorded decision: the evaluation plus its identity and provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub decision_id: String,
    pub request_id: String,
    pub enterprise_id: String,
    pub product: super::Product,
    pub requested_amount: Amount,
    pub term_months: u32,
    /// Milliseconds since the Unix epoch (UTC).
    pub decided_at_ms: i64,
    pub profile_version: u64,
    /// SHA-256 of the application as the caller sent it: a retry must match it.
    pub request_digest: String,
    /// SHA-256 of the application and the resolved profile the evaluation used.
    pub inputs_digest: String,
    pub evaluation: Evaluation,
    /// Identity of the system that asked for it (client certificate or token; empty without
    /// authentication). Defaulted so that records written before it existed still read.
    #[serde(default)]
    pub caller: String,
}

/// Scores a profile as of a date.
pub fn score_profile(profile: &EnterpriseProfile, policy: &Policy, evaluation_date: Date) -> ScoreResult {
    score_profile_observed(profile, policy, evaluation_date, &mut Unobserved)
}

/// [`score_profile`], stage by stage under an observer.
pub fn score_profile_observed<O: StageObserver>(
    profile: &EnterpriseProfile,
    policy: &Policy,
    evaluation_date: Date,
    observer: &mut O,
) -> ScoreResult {
    let guard = observer.start(Stage::Features);
    let features = derive(profile, policy, evaluation_date);
    observer.finish(guard, StageReport::Features(&features));
    let guard = observer.start(Stage::Verification);
    let verification = verify(profile, &features, policy);
    observer.finish(guard, StageReport::Verification(&verification));
    let guard = observer.start(Stage::Scorecard);
    let scorecard = score(profile, &features, policy);
    observer.finish(guard, StageReport::Scorecard(&scorecard));
    ScoreResult {
        features,
        scorecard,
        verification,
    }
}

/// Checks the parts of an application that depend on the policy.
pub fn check_application(app: &LoanApplication, policy: &Policy) -> Vec<ApplicationProblem> {
    let mut problems = Vec::new();
    let Some(product) = policy.products.get(&app.product) else {
        problems.push(ApplicationProblem {
            field: "application.product",
            message: format!(
                "product {:?} is not offered by policy {}; offered: {:?}",
                app.product.key(),
                policy.version,
                policy.product_keys()
            ),
        });
        return problems;
    };
    if app.requested_amount < policy.limits.min_limit {
        problems.push(ApplicationProblem {
            field: "application.requested_amount.units_minor",
            message: format!("the smallest loan the policy grants is {}", policy.limits.min_limit),
        });
    }
    if app.term_months < product.min_term_months || app.term_months > product.max_term_months {
        problems.push(ApplicationProblem {
            field: "application.term_months",
            message: format!(
                "term must be {}..{} months for {}",
                product.min_term_months,
                product.max_term_months,
                app.product.key()
            ),
        });
    }
    if !product.required_collateral.is_empty()
        && !app
            .collateral
            .iter()
            .any(|c| product.required_collateral.contains(&c.kind))
    {
        problems.push(ApplicationProblem {
            field: "application.collateral",
            message: format!(
                "{} requires collateral of kind {:?}",
                app.product.key(),
                product.required_collateral.iter().map(|k| k.key()).collect::<Vec<_>>()
            ),
        });
    }
    problems
}

/// Decides an application for a profile as of a date. Pure: the same inputs and policy give the
/// same evaluation, bit for bit.
pub fn decide(
    app: &LoanApplication,
    profile: &EnterpriseProfile,
    policy: &Policy,
    evaluation_date: Date,
) -> Result<Evaluation, Vec<ApplicationProblem>> {
    decide_observed(app, profile, policy, evaluation_date, &mut Unobserved)
}

/// [`decide`], stage by stage under an observer (the same evaluation, bit for bit).
pub fn decide_observed<O: StageObserver>(
    app: &LoanApplication,
    profile: &EnterpriseProfile,
    policy: &Policy,
    evaluation_date: Date,
    observer: &mut O,
) -> Result<Evaluation, Vec<ApplicationProblem>> {
    let case = Case::new(app, profile, policy, evaluation_date)?;
    let ScoreResult {
        features,
        scorecard: card,
        verification,
    } = score_profile_observed(profile, policy, evaluation_date, observer);
    let band = case.band(&card);
    let capacity = case.limit_stage(&features, &card, evaluation_date, observer);
    let mut rules = case.rules_stage(&features, &verification, &capacity, observer);
    let priced = case.pricing_stage(&card, capacity.offered, evaluation_date, observer);
    let verdict = case.verdict(&card, band, &mut rules, &capacity, &priced);
    let (authority, authority_basis) = case.authority_stage(&card, band, &rules, &verdict, &priced, observer);
    let Verdict {
        outcome,
        reasons,
        approved_amount,
        conditions,
    } = verdict;
    let rate = if outcome == Outcome::Decline {
        0
    } else {
        priced.price.as_ref().map_or(0, |p| p.rate_bps)
    };
    Ok(Evaluation {
        outcome,
        expected_loss: expected_loss(approved_amount, card.master_pd_bps, priced.lgd),
        scorecard: card,
        verification,
        knock_outs: rules.knock_outs,
        refer_flags: rules.refer_flags,
        reasons,
        conditions,
        limit: capacity.limit,
        approved_amount,
        price: priced.price,
        interest_rate_bps: rate,
        lgd_bps: priced.lgd,
        raroc: priced.raroc,
        dscr_after: capacity.dscr_after,
        required_authority: authority.level.clone(),
        authority_description: authority.description.clone(),
        evaluation_date,
        policy_version: policy.version.clone(),
        policy_hash: policy.hash.clone(),
        sources: profile.sources_used(),
        debt_service: Some(capacity.cover),
        lgd_split: Some(priced.split),
        raroc_breakdown: priced.breakdown,
        authority_basis: Some(authority_basis),
    })
}

/// What every stage of one decision reads.
struct Case<'a> {
    app: &'a LoanApplication,
    profile: &'a EnterpriseProfile,
    policy: &'a Policy,
    product: &'a ProductPolicy,
    evaluation_date: Date,
}

/// The limit, the amount offered and the debt service cover with it.
struct Capacity {
    limit: LimitOutcome,
    offered: Amount,
    dscr_after: f64,
    debt_service_after: Amount,
    /// The figures of `dscr_after`.
    cover: DebtServiceCover,
}

/// What the knock-out and refer rules found.
struct Rules {
    knock_outs: Vec<Reason>,
    refer_flags: Vec<Reason>,
}

/// The outcome, its explanation and what is granted.
struct Verdict {
    outcome: Outcome,
    /// The reasons that lead, then the scorecard's.
    reasons: Vec<Reason>,
    approved_amount: Amount,
    conditions: Vec<Reason>,
}

/// LGD, price and return of the offered amount.
struct Priced {
    lgd: i64,
    price: Option<Price>,
    raroc: f64,
    pricing_exception: bool,
    split: LgdSplit,
    breakdown: Option<RarocBreakdown>,
    /// The evaluation date, when no base rate is in force on it (flag P02).
    unpriced_on: Option<Date>,
}

impl<'a> Case<'a> {
    /// The case of an application the policy can decide, or what is wrong with it.
    fn new(
        app: &'a LoanApplication,
        profile: &'a EnterpriseProfile,
        policy: &'a Policy,
        evaluation_date: Date,
    ) -> Result<Self, Vec<ApplicationProblem>> {
        let problems = check_application(app, policy);
        if !problems.is_empty() {
            return Err(problems);
        }
        let Some(product) = policy.products.get(&app.product) else {
            return Err(problems);
        };
        Ok(Case {
            app,
            profile,
            policy,
            product,
            evaluation_date,
        })
    }

    /// The grade's band, as the product overrides it; no grade declines.
    fn band(&self, card: &ScoreCard) -> Band {
        match card.grade_index {
            Some(g) => self
                .product
                .band_overrides
                .get(&g)
                .copied()
                .unwrap_or(self.policy.grades[g].band),
            None => Band::Decline,
        }
    }

    /// Capacity is priced before collateral is known to help (no secured discount): conservative.
    fn limit_stage<O: StageObserver>(
        &self,
        features: &Features,
        card: &ScoreCard,
        date: Date,
        observer: &mut O,
    ) -> Capacity {
        let (app, policy) = (self.app, self.policy);
        let guard = observer.start(Stage::Limit);
        let capacity_rate_bps = card
            .grade_index
            .and_then(|g| price(policy, g, None, app.term_months, date))
            .map_or_else(|| worst_rate_bps(policy, app.term_months, date), |p| p.rate_bps);
        let limit = compute(
            policy,
            &LimitInputs {
                application: app,
                profile: self.profile,
                features,
                product: self.product,
                grade_index: card.grade_index,
                capacity_rate_bps,
            },
        );
        let offered = app.requested_amount.min(limit.limit);
        let new_service = annual_payment(offered, capacity_rate_bps, policy.limits.notional_tenor_months);
        let debt_service_after = features.existing_debt_service.saturating_add(new_service);
        let dscr_after = dscr(features.cfads, debt_service_after);
        observer.finish(guard, StageReport::Limit(&limit));
        Capacity {
            limit,
            offered,
            dscr_after,
            debt_service_after,
            cover: DebtServiceCover {
                cfads: features.cfads,
                existing_debt_service: features.existing_debt_service,
                new_debt_service: new_service,
                capacity_rate_bps,
                notional_tenor_months: policy.limits.notional_tenor_months,
                dscr_after,
            },
        }
    }

    fn rules_stage<O: StageObserver>(
        &self,
        features: &Features,
        findings: &[Finding],
        capacity: &Capacity,
        observer: &mut O,
    ) -> Rules {
        let inputs = RuleInputs {
            profile: self.profile,
            application: self.app,
            features,
            product: self.product,
            findings,
            dscr_after: capacity.dscr_after,
            debt_service_after: capacity.debt_service_after,
        };
        let guard = observer.start(Stage::KnockOuts);
        let rules = Rules {
            knock_outs: knock_outs(self.policy, &inputs),
            refer_flags: refer_flags(self.policy, &inputs),
        };
        observer.finish(
            guard,
            StageReport::KnockOuts {
                knock_outs: &rules.knock_outs,
                refer_flags: &rules.refer_flags,
            },
        );
        rules
    }

    fn pricing_stage<O: StageObserver>(
        &self,
        card: &ScoreCard,
        offered: Amount,
        date: Date,
        observer: &mut O,
    ) -> Priced {
        let (app, policy) = (self.app, self.policy);
        let guard = observer.start(Stage::Pricing);
        let exposure = if offered.is_positive() {
            offered
        } else {
            app.requested_amount
        };
        let split = lgd_split_on(policy, exposure, &app.collateral, date);
        let lgd = split.lgd_bps;
        let price = card
            .grade_index
            .and_then(|g| price(policy, g, Some(lgd), app.term_months, date));
        let breakdown = price
            .as_ref()
            .map(|p| raroc_breakdown(policy, p.rate_bps, card.master_pd_bps, lgd));
        let raroc = breakdown.as_ref().map_or(0.0, |b| b.raroc);
        let pricing_exception = price.is_some() && raroc < policy.pricing.raroc_hurdle;
        let unpriced_on = base_rate_on(policy, date, app.term_months).is_none().then_some(date);
        observer.finish(
            guard,
            StageReport::Pricing {
                price: price.as_ref(),
                pricing_exception,
            },
        );
        Priced {
            lgd,
            price,
            raroc,
            pricing_exception,
            split,
            breakdown,
            unpriced_on,
        }
    }

    /// The outcome, the reasons that lead the explanation (then the scorecard's), the amount
    /// granted and its conditions. A pricing exception becomes a refer flag.
    fn verdict(
        &self,
        card: &ScoreCard,
        band: Band,
        rules: &mut Rules,
        capacity: &Capacity,
        priced: &Priced,
    ) -> Verdict {
        if let Some(mut reasons) = self.decline_reasons(card, band, &rules.knock_outs, &capacity.limit) {
            reasons.extend(card.reasons.iter().cloned());
            return Verdict {
                outcome: Outcome::Decline,
                reasons,
                approved_amount: Amount::ZERO,
                conditions: Vec::new(),
            };
        }
        let policy = self.policy;
        let mut reasons = Vec::new();
        if priced.pricing_exception {
            rules
                .refer_flags
                .push(Reason::coded("P01", &policy.message("P01")).with_figures(
                    vec![Figure::number("raroc", priced.raroc)],
                    vec![Figure::number("raroc_hurdle", policy.pricing.raroc_hurdle)],
                ));
        }
        if let Some(date) = priced.unpriced_on {
            rules.refer_flags.push(no_base_rate_flag(policy, date));
        }
        if band == Band::Refer {
            reasons.push(band_reason(policy, "S02", card, band));
        }
        reasons.extend(rules.refer_flags.iter().cloned());
        let outcome = if band == Band::Refer || !rules.refer_flags.is_empty() {
            Outcome::Refer
        } else if capacity.offered < self.app.requested_amount {
            reasons.push(counter_offer_reason(policy, self.app.requested_amount, &capacity.limit));
            Outcome::CounterOffer
        } else {
            Outcome::Approve
        };
        reasons.extend(card.reasons.iter().cloned());
        Verdict {
            outcome,
            reasons,
            approved_amount: capacity.offered,
            conditions: conditions(
                policy,
                self.app,
                card.grade_index,
                capacity.offered,
                self.evaluation_date,
            ),
        }
    }

    /// Why the application is declined, if it is: knock-outs, no grade, a declining band or a
    /// limit below the minimum.
    fn decline_reasons(
        &self,
        card: &ScoreCard,
        band: Band,
        knock_outs: &[Reason],
        limit: &LimitOutcome,
    ) -> Option<Vec<Reason>> {
        let policy = self.policy;
        if !knock_outs.is_empty() || card.grade_index.is_none() {
            Some(knock_outs.to_vec())
        } else if band == Band::Decline {
            Some(vec![band_reason(policy, "S01", card, band)])
        } else if limit.below_minimum {
            let binding = binding_cap(limit);
            let detail = binding.map_or(String::new(), |c| format!("{} cap: {}", c.name, c.detail));
            let mut figures = vec![Figure::amount("limit", limit.limit)];
            figures.extend(binding.map(|c| Figure::amount(&format!("cap.{}", c.name), c.amount)));
            let message = format!("{} ({detail})", policy.message("L01"));
            Some(vec![Reason::coded("L01", &message).with_figures(
                figures,
                vec![Figure::amount("min_limit", policy.limits.min_limit)],
            )])
        } else {
            None
        }
    }

    /// The authority level the decision needs.
    fn authority_stage<O: StageObserver>(
        &self,
        card: &ScoreCard,
        band: Band,
        rules: &Rules,
        verdict: &Verdict,
        priced: &Priced,
        observer: &mut O,
    ) -> (&AuthorityLevel, AuthorityBasis) {
        let guard = observer.start(Stage::Authority);
        let band_refers = band == Band::Refer;
        let (index, basis) = self.authority_index(card, rules, verdict, band_refers, priced);
        let authority = &self.policy.authority[index];
        observer.finish(
            guard,
            StageReport::Authority {
                level: &authority.level,
            },
        );
        (authority, basis)
    }

    /// Index of the authority level the decision needs, and why: the limits that stopped each
    /// lower level and the step up of a decline or a pricing exception.
    fn authority_index(
        &self,
        card: &ScoreCard,
        rules: &Rules,
        verdict: &Verdict,
        band_refers: bool,
        priced: &Priced,
    ) -> (usize, AuthorityBasis) {
        let needs_person = band_refers || !rules.refer_flags.is_empty();
        let policy = self.policy;
        let minimums: Vec<(String, usize)> = rules
            .refer_flags
            .iter()
            .filter_map(|f| Some((f.code.clone(), *policy.authority_minimums.get(&f.code)?)))
            .collect();
        let min_level = minimums.iter().map(|(_, level)| *level).max().unwrap_or(0);
        let amount = if verdict.approved_amount.is_positive() {
            verdict.approved_amount
        } else {
            self.app.requested_amount
        };
        let inputs = AuthorityInputs {
            grade_index: card.grade_index,
            new_amount: amount,
            total_exposure: self.app.existing_group_exposure.saturating_add(amount),
            needs_person,
            min_level,
        };
        let needed = required_level(policy, &inputs);
        let (index, step) = match verdict.outcome {
            // A knock-out is outside policy: only the top level may override it.
            Outcome::Decline if !rules.knock_outs.is_empty() => {
                (policy.authority.len() - 1, AuthorityStep::KnockOutOverride)
            }
            Outcome::Decline => (one_up(policy, needed), AuthorityStep::DeclineOneUp),
            _ if priced.pricing_exception => (one_up(policy, needed), AuthorityStep::PricingExceptionOneUp),
            _ => (needed, AuthorityStep::None),
        };
        let context = AuthorityContext {
            grade: &card.grade,
            minimums: &minimums,
            needs_person_because: &needs_person_because(card, rules, band_refers),
        };
        let basis = AuthorityBasis {
            limits_level: policy.authority[needed].level.clone(),
            passed_over: passed_over(policy, &inputs, &context, needed),
            step,
            level: policy.authority[index].level.clone(),
        };
        (index, basis)
    }
}

/// Why a person must look, as the authority explanation says it (empty when nothing does).
fn needs_person_because(card: &ScoreCard, rules: &Rules, band_refers: bool) -> String {
    let mut parts: Vec<String> = Vec::new();
    if band_refers {
        parts.push(format!("grade {} is in the refer band", card.grade));
    }
    if !rules.refer_flags.is_empty() {
        let codes: Vec<&str> = rules.refer_flags.iter().map(|f| f.code.as_str()).collect();
        parts.push(format!("refer flags {}", codes.join(", ")));
    }
    parts.join("; ")
}

/// P02: nothing to price with on `date`; a person prices the loan.
fn no_base_rate_flag(policy: &Policy, date: Date) -> Reason {
    let first = policy.pricing.base_rates.first().map(|r| r.effective_from.to_string());
    Reason::coded("P02", &policy.message("P02")).with_figures(
        vec![Figure::text("evaluation_date", date.to_string())],
        vec![Figure::text("base_rates[0].effective_from", first.unwrap_or_default())],
    )
}

/// The cap that sets the limit.
fn binding_cap(limit: &LimitOutcome) -> Option<&super::limits::Cap> {
    limit.caps.iter().find(|c| c.binding)
}

/// The highest rate the policy would charge: used for capacity when the grade is not priced or
/// no base rate is in force on `date` (then the highest base rate of the series stands in).
fn worst_rate_bps(policy: &Policy, term_months: u32, date: Date) -> i64 {
    let spread = policy.grades.iter().filter_map(|g| g.spread_bps).max().unwrap_or(0);
    let base =
        base_rate_on(policy, date, term_months).map_or_else(|| highest_base_rate_bps(policy, term_months), |b| b.bps);
    base + spread + super::pricing::tenor_premium_bps(policy, term_months)
}

/// L02: the request, the limit and the cap that set it.
fn counter_offer_reason(policy: &Policy, requested: Amount, limit: &LimitOutcome) -> Reason {
    let binding = binding_cap(limit);
    let detail = binding.map_or(String::new(), |c| format!("binding cap: {}", c.name));
    let mut figures = vec![
        Figure::amount("requested_amount", requested),
        Figure::amount("limit", limit.limit),
    ];
    figures.extend(binding.map(|c| Figure::amount(&format!("cap.{}", c.name), c.amount)));
    Reason::coded("L02", &format!("{} ({detail})", policy.message("L02"))).with_figures(
        figures,
        vec![Figure::amount("rounding_unit", policy.limits.rounding_unit)],
    )
}

/// The reason of a score band (S01 decline, S02 refer): the score, grade and the band's range.
fn band_reason(policy: &Policy, code: &str, card: &ScoreCard, band: Band) -> Reason {
    let message = format!("{} (grade {})", policy.message(code), card.grade);
    let mut thresholds = vec![Figure::text("band", format!("{band:?}").to_lowercase())];
    thresholds.extend(
        card.grade_index
            .and_then(|g| policy.grades[g].min_score)
            .map(|m| Figure::number("min_score", f64::from(m))),
    );
    Reason::coded(code, &message).with_figures(
        vec![
            Figure::number("score", f64::from(card.score)),
            Figure::text("grade", card.grade.clone()),
        ],
        thresholds,
    )
}

/// The policy's conditions that apply. "Has collateral" means an item is offered (whatever it
/// covers, it is registered); a stale appraisal attaches the revaluation condition with the age
/// and period of each stale item.
fn conditions(
    policy: &Policy,
    app: &LoanApplication,
    grade_index: Option<usize>,
    amount: Amount,
    on: Date,
) -> Vec<Reason> {
    let stale = security::any_stale_appraisal(policy, &app.collateral, on);
    let offered = !app.collateral.is_empty();
    policy
        .conditions
        .iter()
        .filter(|c| c.grades.is_empty() || grade_index.is_some_and(|g| c.grades.contains(&g)))
        .filter(|c| c.products.is_empty() || c.products.contains(&app.product))
        .filter(|c| c.has_collateral.is_none_or(|h| h == offered))
        .filter(|c| c.stale_appraisal.is_none_or(|s| s == stale))
        .filter(|c| c.min_amount.is_none_or(|m| amount >= m))
        .filter(|c| c.min_term_months.is_none_or(|m| app.term_months >= m))
        .map(|c| {
            let reason = Reason::coded(&c.code, &c.message);
            if c.stale_appraisal == Some(true) {
                let (figures, thresholds) = security::stale_appraisal_figures(policy, &app.collateral, on);
                reason.with_figures(figures, thresholds)
            } else {
                reason
            }
        })
        .collect()
}
