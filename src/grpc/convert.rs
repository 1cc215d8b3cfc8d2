//! Conversions between the protobuf contract and the domain. Incoming messages are validated
//! field by field; outgoing ones are built from recorded domain values only.

use time::Date;

use super::validate::{FieldPath, Sign, Validator};
use crate::domain::application::{Collateral, CollateralKind, Guarantor, GuarantorKind, LoanApplication, Product};
use crate::domain::authority::{AuthorityBasis, AuthorityStep};
use crate::domain::decision::{Decision, Outcome, ScoreResult};
use crate::domain::lgd::LgdSplit;
use crate::domain::personal::{AccountNumber, MobilePhone, PersonName, ResidentId};
use crate::domain::pricing::{DebtServiceCover, Price, RarocBreakdown};
use crate::domain::profile::*;
use crate::domain::scorecard::Contribution;
use crate::domain::uscc::Uscc;
use crate::domain::verification::{Figure, FigureValue, Finding};
use crate::domain::{Amount, Reason};
use crate::pb;
use crate::policy::{Policy, Severity};

/// Validates and normalises an enterprise id. `accept_checksum` lets a wrong check character
/// through (policy switch K01 -> F01); the flag says whether it was wrong.
pub fn enterprise_id<'p>(
    v: &mut Validator,
    path: impl Into<FieldPath<'p>>,
    raw: &str,
    accept_checksum: bool,
) -> Option<(Uscc, bool)> {
    let path = path.into();
    if raw.trim().is_empty() {
        v.violation(path, "is required (18-character Unified Social Credit Code)");
        return None;
    }
    match Uscc::parse_format(raw) {
        Ok((code, None)) => Some((code, false)),
        Ok((code, Some((expected, found)))) => {
            if accept_checksum {
                Some((code, true))
            } else {
                v.violation(path, format!("check character is {found:?} but should be {expected:?}"));
                None
            }
        }
        Err(e) => {
            v.violation(path, format!("not a Unified Social Credit Code: {e}"));
            None
        }
    }
}

fn industry_code(v: &mut Validator, path: FieldPath<'_>, raw: &str) -> Option<String> {
    let code = raw.trim().to_ascii_uppercase();
    let mut chars = code.chars();
    let valid =
        chars.next().is_some_and(|c| ('A'..='T').contains(&c)) && code.len() <= 5 && chars.all(|c| c.is_ascii_digit());
    if !valid {
        v.violation(
            path,
            "must be a GB/T 4754-2017 code: a section letter A..T and up to 4 digits, e.g. \"C3360\"",
        );
        return None;
    }
    Some(code)
}

/// Converts and validates a profile. `path` is the prefix of every violation (e.g. `profile`).
pub fn profile<'p>(
    v: &mut Validator,
    path: impl Into<FieldPath<'p>>,
    p: &pb::EnterpriseProfile,
    policy: &Policy,
) -> Option<EnterpriseProfile> {
    let path = path.into();
    let id = enterprise_id(
        v,
        path.child("enterprise_id"),
        &p.enterprise_id,
        policy.accept_uscc_checksum_failures,
    );
    let name = v.text(path.child("name"), &p.name, 1, 200);
    let industry = industry_code(v, path.child("industry_code"), &p.industry_code);
    let established_on = v.date(path.child("established_on"), p.established_on.as_ref(), true, true);
    let registry_status = registry_status(v, path.child("registry_status"), p.registry_status);
    let employees = v.count(path.child("employees"), p.employees, 1_000_000);

    let financials = required(v, path.child("financials"), p.financials.as_ref(), financials);
    let tax = p.tax.as_ref().map(|t| tax(v, path.child("tax"), t));
    let bank_flows = p
        .bank_flows
        .as_ref()
        .map(|b| bank_flows(v, path.child("bank_flows"), b));
    let invoices = p.invoices.as_ref().map(|i| invoices(v, path.child("invoices"), i));
    let utilities = p.utilities.as_ref().map(|u| utilities(v, path.child("utilities"), u));
    let social_insurance = p
        .social_insurance
        .as_ref()
        .map(|s| social_insurance(v, path.child("social_insurance"), s));
    let credit_history = required(
        v,
        path.child("credit_history"),
        p.credit_history.as_ref(),
        credit_history,
    );
    let legal = required(v, path.child("legal"), p.legal.as_ref(), legal);
    let controller = required(v, path.child("controller"), p.controller.as_ref(), controller);
    let guarantee_network = p
        .guarantee_network
        .as_ref()
        .map(|g| GuaranteeNetwork {
            mutual_guarantee: g.mutual_guarantee,
            circle_size: v.count(
                path.child("guarantee_network").child("circle_size"),
                g.circle_size,
                10_000,
            ),
        })
        .unwrap_or_default();

    let (enterprise_id, uscc_checksum_mismatch) = id?;
    Some(EnterpriseProfile {
        enterprise_id,
        uscc_checksum_mismatch,
        name: name?,
        industry_code: industry?,
        established_on: established_on?,
        registry_status: registry_status?,
        employees,
        financials: financials?,
        tax: tax.transpose_flat()?,
        bank_flows: bank_flows.transpose_flat()?,
        invoices: invoices.transpose_flat()?,
        utilities: utilities.transpose_flat()?,
        social_insurance: social_insurance.transpose_flat()?,
        credit_history: credit_history?,
        legal: legal?,
        controller: controller?,
        guarantee_network,
    })
}

/// A required sub-message, converted by `convert`; "is required" when absent.
fn required<'p, M, T>(
    v: &mut Validator,
    path: FieldPath<'p>,
    m: Option<&M>,
    convert: impl FnOnce(&mut Validator, FieldPath<'p>, &M) -> Option<T>,
) -> Option<T> {
    match m {
        Some(m) => convert(v, path, m),
        None => {
            v.violation(path, "is required");
            None
        }
    }
}

fn registry_status(v: &mut Validator, path: FieldPath<'_>, raw: i32) -> Option<RegistryStatus> {
    match pb::RegistryStatus::try_from(raw) {
        Ok(pb::RegistryStatus::Active) => Some(RegistryStatus::Active),
        Ok(pb::RegistryStatus::Revoked) => Some(RegistryStatus::Revoked),
        Ok(pb::RegistryStatus::Deregistered) => Some(RegistryStatus::Deregistered),
        Ok(pb::RegistryStatus::Liquidation) => Some(RegistryStatus::Liquidation),
        Ok(pb::RegistryStatus::Bankruptcy) => Some(RegistryStatus::Bankruptcy),
        Ok(pb::RegistryStatus::Unspecified) => {
            v.violation(path, "is required");
            None
        }
        Err(_) => {
            v.violation(path, format!("unknown value {raw}"));
            None
        }
    }
}

fn invoices(v: &mut Validator, base: FieldPath<'_>, i: &pb::Invoices) -> Option<Invoices> {
    let as_of = v.date(base.child("as_of"), i.as_of.as_ref(), true, true);
    let lineage = lineage(v, &base, RawLineage::of(&i.source, i.fetched_at.as_ref()), as_of, true);
    let optional =
        |v: &mut Validator, name: &str, m: Option<&pb::Money>| v.money(base.child(name), m, false, Sign::NonNegative);
    let sales = optional(v, "vat_sales_12m", i.vat_sales_12m.as_ref());
    let gross = optional(v, "issued_gross_12m", i.issued_gross_12m.as_ref());
    let cancelled = optional(v, "credit_notes_and_voids_12m", i.credit_notes_and_voids_12m.as_ref());
    let top_buyer = optional(v, "top_buyer_sales_12m", i.top_buyer_sales_12m.as_ref());
    at_most(
        v,
        base.child("credit_notes_and_voids_12m"),
        cancelled,
        gross,
        "issued_gross_12m",
    );
    at_most(v, base.child("top_buyer_sales_12m"), top_buyer, sales, "vat_sales_12m");
    let monthly_issued = monthly(v, base.child("monthly_issued"), &i.monthly_issued)?;
    Some(Invoices {
        as_of: as_of?,
        lineage: lineage?,
        vat_sales_12m: sales,
        vat_sales_prior_12m: optional(v, "vat_sales_prior_12m", i.vat_sales_prior_12m.as_ref()),
        monthly_issued,
        issued_gross_12m: gross,
        credit_notes_and_voids_12m: cancelled,
        top_buyer_sales_12m: top_buyer,
        top_buyer_related_party: i.top_buyer_related_party,
    })
}

/// A part that cannot exceed its whole.
fn at_most(v: &mut Validator, path: FieldPath<'_>, part: Option<Amount>, whole: Option<Amount>, whole_name: &str) {
    if let (Some(part), Some(whole)) = (part, whole)
        && part > whole
    {
        v.violation(path, format!("must not exceed {whole_name}"));
    }
}

/// Up to 12 monthly amounts, each >= 0.
fn monthly(v: &mut Validator, path: FieldPath<'_>, months: &[pb::Money]) -> Option<Vec<Amount>> {
    if months.len() > 12 {
        v.violation(path, format!("at most 12 months, got {}", months.len()));
        return None;
    }
    let mut out = Vec::with_capacity(months.len());
    let mut ok = true;
    for (i, m) in months.iter().enumerate() {
        match v.money(path.index(i), Some(m), true, Sign::NonNegative) {
            Some(a) => out.push(a),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// The lineage fields of a source message as sent.
struct RawLineage<'a> {
    source: &'a str,
    fetched_at: Option<&'a prost_types::Timestamp>,
}

impl<'a> RawLineage<'a> {
    fn of(source: &'a str, fetched_at: Option<&'a prost_types::Timestamp>) -> Self {
        RawLineage { source, fetched_at }
    }
}

/// Validates a source's `source` and `fetched_at` (both required on independent sources): the
/// fetch cannot be in the future, nor before the date the data is as of (a day of slack, for
/// a bank-local `as_of` against a UTC timestamp).
fn lineage(
    v: &mut Validator,
    base: &FieldPath<'_>,
    raw: RawLineage<'_>,
    as_of: Option<Date>,
    required: bool,
) -> Option<Lineage> {
    let source = if raw.source.trim().is_empty() && !required {
        Some(String::new())
    } else {
        v.text(base.child("source"), raw.source, 1, 100)
    };
    let fetched_at = match raw.fetched_at {
        None if required => {
            v.violation(base.child("fetched_at"), "is required (when the bank fetched the data)");
            None
        }
        None => Some(None),
        Some(ts) => fetched_at(v, base.child("fetched_at"), ts, as_of).map(Some),
    };
    Some(Lineage {
        source: source?,
        fetched_at_ms: fetched_at?,
        authorisation_ref: None,
    })
}

/// A fetch timestamp as milliseconds since the epoch.
fn fetched_at(v: &mut Validator, path: FieldPath<'_>, ts: &prost_types::Timestamp, as_of: Option<Date>) -> Option<i64> {
    let at = (0..1_000_000_000)
        .contains(&ts.nanos)
        .then(|| time::OffsetDateTime::from_unix_timestamp(ts.seconds).ok())
        .flatten()
        .filter(|t| (1900..=9999).contains(&t.year()));
    let Some(at) = at else {
        v.violation(path, "is not a valid timestamp (years 1900..9999, nanos 0..999999999)");
        return None;
    };
    if at.date() > v.latest_date {
        v.violation(path, format!("{} is in the future", at.date()));
        return None;
    }
    if let Some(as_of) = as_of
        && at.date().next_day().is_some_and(|d| d < as_of)
    {
        v.violation(
            path,
            format!(
                "{} is before as_of {as_of}: data cannot be fetched before its date",
                at.date()
            ),
        );
        return None;
    }
    Some(ts.seconds * 1000 + i64::from(ts.nanos / 1_000_000))
}

fn social_insurance(v: &mut Validator, base: FieldPath<'_>, s: &pb::SocialInsurance) -> Option<SocialInsurance> {
    let as_of = v.date(base.child("as_of"), s.as_of.as_ref(), true, true);
    let lineage = lineage(v, &base, RawLineage::of(&s.source, s.fetched_at.as_ref()), as_of, true);
    let insured_employees = v.count(base.child("insured_employees"), s.insured_employees, 1_000_000);
    Some(SocialInsurance {
        as_of: as_of?,
        lineage: lineage?,
        insured_employees,
    })
}

fn utilities(v: &mut Validator, base: FieldPath<'_>, u: &pb::Utilities) -> Option<Utilities> {
    let as_of = v.date(base.child("as_of"), u.as_of.as_ref(), true, true);
    let lineage = lineage(v, &base, RawLineage::of(&u.source, u.fetched_at.as_ref()), as_of, true);
    Some(Utilities {
        as_of: as_of?,
        lineage: lineage?,
        electricity_kwh_12m: u.electricity_kwh_12m,
        electricity_kwh_prior_12m: u.electricity_kwh_prior_12m,
    })
}

fn credit_history(v: &mut Validator, base: FieldPath<'_>, c: &pb::CreditHistory) -> Option<CreditHistory> {
    let as_of = v.date(base.child("as_of"), c.as_of.as_ref(), true, true);
    let lineage = lineage(v, &base, RawLineage::of(&c.source, c.fetched_at.as_ref()), as_of, true);
    // The report may only be used with the borrower's consent: its reference is required.
    let authorisation_ref = v.text(base.child("authorisation_ref"), &c.authorisation_ref, 1, 64);
    let net_new_debt_12m = v.money(
        base.child("net_new_debt_12m"),
        c.net_new_debt_12m.as_ref(),
        false,
        Sign::Any,
    );
    let history = CreditHistory {
        as_of: as_of.unwrap_or(Date::MIN),
        lineage: Lineage {
            authorisation_ref: authorisation_ref.clone(),
            ..lineage.clone().unwrap_or_default()
        },
        net_new_debt_12m,
        max_days_past_due_24m: v.count(base.child("max_days_past_due_24m"), c.max_days_past_due_24m, 10_000),
        current_days_past_due: v.count(base.child("current_days_past_due"), c.current_days_past_due, 10_000),
        current_overdue_technical: c.current_overdue_technical,
        months_of_history: v.count(base.child("months_of_history"), c.months_of_history, 1_200),
        inquiries_6m: v.count(base.child("inquiries_6m"), c.inquiries_6m, 1_000),
        new_lenders_6m: v.count(base.child("new_lenders_6m"), c.new_lenders_6m, 1_000),
        npl_classified_24m: c.npl_classified_24m,
    };
    if c.max_days_past_due_24m < c.current_days_past_due.min(730) {
        v.violation(
            base.child("max_days_past_due_24m"),
            "must be at least current_days_past_due (today is within the last 24 months)",
        );
    }
    (lineage.is_some() && authorisation_ref.is_some()).then_some(())?;
    as_of.map(|_| history)
}

fn legal(v: &mut Validator, base: FieldPath<'_>, l: &pb::LegalRecord) -> Option<LegalRecord> {
    let as_of = v.date(base.child("as_of"), l.as_of.as_ref(), true, true);
    let enforcement = v.money(
        base.child("unsettled_enforcement"),
        l.unsettled_enforcement.as_ref(),
        false,
        Sign::NonNegative,
    );
    let cases = v.count(base.child("open_litigation_cases"), l.open_litigation_cases, 10_000);
    let lineage = lineage(v, &base, RawLineage::of(&l.source, l.fetched_at.as_ref()), as_of, true)?;
    as_of.map(|as_of| LegalRecord {
        as_of,
        lineage,
        dishonest_judgment_debtor: l.dishonest_judgment_debtor,
        open_litigation_cases: cases,
        unsettled_enforcement: enforcement.unwrap_or(Amount::ZERO),
        sanctions_hit: l.sanctions_hit,
    })
}

/// `Option<Option<T>>` from an optional sub-message whose conversion may fail: absent is fine
/// (`Some(None)`), present and invalid is `None`.
trait TransposeFlat<T> {
    fn transpose_flat(self) -> Option<Option<T>>;
}

impl<T> TransposeFlat<T> for Option<Option<T>> {
    fn transpose_flat(self) -> Option<Option<T>> {
        match self {
            None => Some(None),
            Some(Some(t)) => Some(Some(t)),
            Some(None) => None,
        }
    }
}

fn financials(v: &mut Validator, base: FieldPath<'_>, f: &pb::Financials) -> Option<Financials> {
    let as_of = v.date(base.child("as_of"), f.as_of.as_ref(), true, true);
    use Sign::{Any, NonNegative as NonNeg, Positive};
    let m = |v: &mut Validator, name: &str, value: &Option<pb::Money>, required: bool, sign: Sign| {
        v.money(base.child(name), value.as_ref(), required, sign)
    };
    let revenue = m(v, "revenue", &f.revenue, true, NonNeg);
    let revenue_prior_year = m(v, "revenue_prior_year", &f.revenue_prior_year, false, NonNeg);
    let net_profit = m(v, "net_profit", &f.net_profit, true, Any);
    let ebit = m(v, "ebit", &f.ebit, true, Any);
    let interest_expense = m(v, "interest_expense", &f.interest_expense, true, NonNeg);
    let total_assets = m(v, "total_assets", &f.total_assets, true, Positive);
    let total_liabilities = m(v, "total_liabilities", &f.total_liabilities, true, NonNeg);
    let current_assets = m(v, "current_assets", &f.current_assets, true, NonNeg);
    let current_liabilities = m(v, "current_liabilities", &f.current_liabilities, true, NonNeg);
    let operating_cash_flow = m(v, "operating_cash_flow", &f.operating_cash_flow, true, Any);
    let existing_annual_debt_service = m(
        v,
        "existing_annual_debt_service",
        &f.existing_annual_debt_service,
        true,
        NonNeg,
    );
    let external_guarantees = m(v, "external_guarantees", &f.external_guarantees, true, NonNeg);
    balance_checks(
        v,
        base,
        (current_assets, total_assets),
        (current_liabilities, total_liabilities),
    );
    let working_capital = f
        .working_capital
        .as_ref()
        .map(|w| working_capital(v, base.child("working_capital"), w));
    // Declared statements: their lineage is optional.
    let lineage = lineage(v, &base, RawLineage::of(&f.source, f.fetched_at.as_ref()), as_of, false);
    Some(Financials {
        as_of: as_of?,
        lineage: lineage?,
        revenue: revenue?,
        revenue_prior_year,
        net_profit: net_profit?,
        ebit: ebit?,
        interest_expense: interest_expense?,
        total_assets: total_assets?,
        total_liabilities: total_liabilities?,
        current_assets: current_assets?,
        current_liabilities: current_liabilities?,
        operating_cash_flow: operating_cash_flow?,
        existing_annual_debt_service: existing_annual_debt_service?,
        external_guarantees: external_guarantees?,
        working_capital: working_capital.transpose_flat()?,
    })
}

fn working_capital(v: &mut Validator, b: FieldPath<'_>, w: &pb::WorkingCapitalInputs) -> Option<WorkingCapitalInputs> {
    let mm = |v: &mut Validator, name: &str, value: Option<&pb::Money>, required: bool| {
        v.money(b.child(name), value, required, Sign::NonNegative)
    };
    let cogs = v.money(
        b.child("cost_of_goods_sold"),
        w.cost_of_goods_sold.as_ref(),
        true,
        Sign::Positive,
    );
    let inputs = (
        mm(v, "avg_inventory", w.avg_inventory.as_ref(), false),
        mm(v, "avg_receivables", w.avg_receivables.as_ref(), false),
        mm(v, "avg_payables", w.avg_payables.as_ref(), false),
        mm(v, "avg_prepayments", w.avg_prepayments.as_ref(), false),
        mm(v, "avg_advances_received", w.avg_advances_received.as_ref(), false),
        mm(v, "own_funds", w.own_funds.as_ref(), false),
        mm(v, "existing_wc_loans", w.existing_wc_loans.as_ref(), false),
        mm(v, "other_wc_funding", w.other_wc_funding.as_ref(), false),
    );
    if !(-10_000..=100_000).contains(&w.expected_sales_growth_bps) {
        v.violation(b.child("expected_sales_growth_bps"), "must be -10000..100000");
    }
    let z = Amount::ZERO;
    cogs.map(|cogs| WorkingCapitalInputs {
        cost_of_goods_sold: cogs,
        avg_inventory: inputs.0.unwrap_or(z),
        avg_receivables: inputs.1.unwrap_or(z),
        avg_payables: inputs.2.unwrap_or(z),
        avg_prepayments: inputs.3.unwrap_or(z),
        avg_advances_received: inputs.4.unwrap_or(z),
        own_funds: inputs.5.unwrap_or(z),
        existing_wc_loans: inputs.6.unwrap_or(z),
        other_wc_funding: inputs.7.unwrap_or(z),
        expected_sales_growth_bps: w.expected_sales_growth_bps.clamp(-10_000, 100_000),
    })
}

/// Parts must not exceed their totals: (current, total) assets, (current, total) liabilities.
fn balance_checks(
    v: &mut Validator,
    base: FieldPath<'_>,
    assets: (Option<Amount>, Option<Amount>),
    liabilities: (Option<Amount>, Option<Amount>),
) {
    if let (Some(ca), Some(ta)) = assets
        && ca > ta
    {
        v.violation(base.child("current_assets"), "must not exceed total_assets");
    }
    if let (Some(cl), Some(tl)) = liabilities
        && cl > tl
    {
        v.violation(base.child("current_liabilities"), "must not exceed total_liabilities");
    }
}

fn tax(v: &mut Validator, base: FieldPath<'_>, t: &pb::TaxRecord) -> Option<TaxRecord> {
    let as_of = v.date(base.child("as_of"), t.as_of.as_ref(), true, true);
    let rating = t.credit_rating.trim();
    let credit_rating = if rating.is_empty() {
        Some(None)
    } else {
        match tax_rating(rating) {
            Some(r) => Some(Some(r)),
            None => {
                v.violation(
                    base.child("credit_rating"),
                    format!("must be A, B, M, C, D or empty, got {:?}", t.credit_rating),
                );
                None
            }
        }
    };
    let reported = v.money(
        base.child("reported_revenue_12m"),
        t.reported_revenue_12m.as_ref(),
        false,
        Sign::NonNegative,
    );
    let paid = v.money(
        base.child("tax_paid_12m"),
        t.tax_paid_12m.as_ref(),
        false,
        Sign::NonNegative,
    );
    let paid_prior = v.money(
        base.child("tax_paid_prior_12m"),
        t.tax_paid_prior_12m.as_ref(),
        false,
        Sign::NonNegative,
    );
    let lineage = lineage(v, &base, RawLineage::of(&t.source, t.fetched_at.as_ref()), as_of, true);
    Some(TaxRecord {
        as_of: as_of?,
        lineage: lineage?,
        credit_rating: credit_rating?,
        reported_revenue_12m: reported,
        tax_paid_12m: paid,
        tax_paid_prior_12m: paid_prior,
    })
}

fn bank_flows(v: &mut Validator, base: FieldPath<'_>, b: &pb::BankFlows) -> Option<BankFlows> {
    let as_of = v.date(base.child("as_of"), b.as_of.as_ref(), true, true);
    if b.monthly_inflows.len() > 12 {
        v.violation(
            base.child("monthly_inflows"),
            format!("at most 12 months, got {}", b.monthly_inflows.len()),
        );
        return None;
    }
    let mut inflows = Vec::with_capacity(b.monthly_inflows.len());
    let mut ok = true;
    let inflows_path = base.child("monthly_inflows");
    for (i, m) in b.monthly_inflows.iter().enumerate() {
        match v.money(inflows_path.index(i), Some(m), true, Sign::NonNegative) {
            Some(a) => inflows.push(a),
            None => ok = false,
        }
    }
    let outflow = v.money(
        base.child("outflow_12m"),
        b.outflow_12m.as_ref(),
        false,
        Sign::NonNegative,
    );
    let mut accounts = Vec::with_capacity(b.settlement_account_numbers.len());
    if b.settlement_account_numbers.len() > 20 {
        v.violation(
            base.child("settlement_account_numbers"),
            format!("at most 20 accounts, got {}", b.settlement_account_numbers.len()),
        );
        ok = false;
    } else {
        for (i, raw) in b.settlement_account_numbers.iter().enumerate() {
            match AccountNumber::parse(raw) {
                Ok(a) => accounts.push(a),
                Err(e) => {
                    v.violation(base.child("settlement_account_numbers").index(i), e);
                    ok = false;
                }
            }
        }
    }
    let round_trips = b
        .round_trips
        .as_ref()
        .map(|r| round_trips(v, base.child("round_trips"), r));
    let lineage = lineage(v, &base, RawLineage::of(&b.source, b.fetched_at.as_ref()), as_of, true);
    (ok).then_some(())?;
    Some(BankFlows {
        as_of: as_of?,
        lineage: lineage?,
        round_trips: round_trips.transpose_flat()?,
        monthly_inflows: inflows,
        outflow_12m: outflow,
        settlement_account_numbers: accounts,
    })
}

fn round_trips(v: &mut Validator, base: FieldPath<'_>, r: &pb::RoundTrips) -> Option<RoundTrips> {
    let amount = v.money(
        base.child("same_day_round_trip_amount"),
        r.same_day_round_trip_amount.as_ref(),
        true,
        Sign::NonNegative,
    );
    let counterparties = v.count(base.child("counterparties"), r.counterparties, 100_000);
    Some(RoundTrips {
        same_day_round_trip_amount: amount?,
        counterparties,
    })
}

fn controller(v: &mut Validator, base: FieldPath<'_>, c: &pb::Controller) -> Option<Controller> {
    use pb::ControllerCreditStanding as S;
    let standing = match S::try_from(c.credit_standing) {
        Ok(S::Clean) => Some(ControllerCredit::Clean),
        Ok(S::ThinFile) => Some(ControllerCredit::ThinFile),
        Ok(S::OneMinorEpisode) => Some(ControllerCredit::OneMinorEpisode),
        Ok(S::RepeatedOr3160Dpd) => Some(ControllerCredit::RepeatedOr31To60Dpd),
        Ok(S::Severe6189Dpd) => Some(ControllerCredit::Severe61To89Dpd),
        Ok(S::Defaulted90PlusDpd) => Some(ControllerCredit::Defaulted90PlusDpd),
        Ok(S::Unspecified) => {
            v.violation(base.child("credit_standing"), "is required");
            None
        }
        Err(_) => {
            v.violation(
                base.child("credit_standing"),
                format!("unknown value {}", c.credit_standing),
            );
            None
        }
    };
    if c.age == 0 || c.age > 150 {
        v.violation(base.child("age"), format!("must be 1..150, got {}", c.age));
    }
    let latest = v.latest_date;
    let name = personal(v, base.child("name"), &c.name, PersonName::parse);
    let id_number = personal(v, base.child("id_number"), &c.id_number, |s| {
        ResidentId::parse(s, latest)
    });
    let phone = personal(v, base.child("phone"), &c.phone, MobilePhone::parse);
    let changed_on = v.date(base.child("changed_on"), c.changed_on.as_ref(), false, true);
    if c.changed_on.is_some() && changed_on.is_none() {
        return None;
    }
    (1..=150).contains(&c.age).then_some(())?;
    Some(Controller {
        credit_standing: standing?,
        age: c.age,
        dishonest_judgment_debtor: c.dishonest_judgment_debtor,
        changed_on,
        name: name?,
        id_number: id_number?,
        phone: phone?,
    })
}

/// A tax credit rating in any letter case (without allocating an upper-case copy).
pub(crate) fn tax_rating(raw: &str) -> Option<TaxRating> {
    TaxRating::ALL
        .into_iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(raw))
}

/// An optional personal field: `Some(None)` when empty, `None` when invalid (a violation whose
/// description never repeats the value).
fn personal<T>(
    v: &mut Validator,
    path: FieldPath<'_>,
    raw: &str,
    parse: impl FnOnce(&str) -> Result<T, &'static str>,
) -> Option<Option<T>> {
    if raw.trim().is_empty() {
        return Some(None);
    }
    match parse(raw) {
        Ok(value) => Some(Some(value)),
        Err(e) => {
            v.violation(path, e);
            None
        }
    }
}

/// Converts and validates an application (without its subject).
pub fn application<'p>(
    v: &mut Validator,
    base: impl Into<FieldPath<'p>>,
    a: &pb::LoanApplication,
) -> Option<LoanApplication> {
    let base = base.into();
    let product = product_of(v, base.child("product"), a.product);
    let requested = v.money(
        base.child("requested_amount"),
        a.requested_amount.as_ref(),
        true,
        Sign::Positive,
    );
    if a.term_months == 0 || a.term_months > 600 {
        v.violation(
            base.child("term_months"),
            format!(
                "must be 1..600 months (and within the product's range), got {}",
                a.term_months
            ),
        );
    }
    let collateral = items(v, base.child("collateral"), &a.collateral, collateral_item);
    let guarantors = items(v, base.child("guarantors"), &a.guarantors, guarantor);
    let purpose = v.text(base.child("purpose"), &a.purpose, 1, 500);
    let existing = v.money(
        base.child("existing_group_exposure"),
        a.existing_group_exposure.as_ref(),
        false,
        Sign::NonNegative,
    );
    Some(LoanApplication {
        product: product?,
        requested_amount: requested?,
        term_months: a.term_months,
        collateral,
        guarantors,
        purpose: purpose?,
        existing_group_exposure: existing.unwrap_or(Amount::ZERO),
    })
}

fn product_of(v: &mut Validator, path: FieldPath<'_>, raw: i32) -> Option<Product> {
    match pb::Product::try_from(raw) {
        Ok(pb::Product::WorkingCapital) => Some(Product::WorkingCapital),
        Ok(pb::Product::TaxLoan) => Some(Product::TaxLoan),
        Ok(pb::Product::InvoiceFinancing) => Some(Product::InvoiceFinancing),
        Ok(pb::Product::Equipment) => Some(Product::Equipment),
        Ok(pb::Product::PropertySecured) => Some(Product::PropertySecured),
        Ok(pb::Product::Unspecified) => {
            v.violation(path, "is required");
            None
        }
        Err(_) => {
            v.violation(path, format!("unknown value {raw}"));
            None
        }
    }
}

/// At most 20 items of a repeated field, each converted by `convert` (the valid ones kept).
fn items<M, T>(
    v: &mut Validator,
    path: FieldPath<'_>,
    all: &[M],
    convert: impl Fn(&mut Validator, FieldPath<'_>, &M) -> Option<T>,
) -> Vec<T> {
    if all.len() > 20 {
        v.violation(path, "at most 20 items");
    }
    let mut kept = Vec::new();
    for (i, item) in all.iter().take(20).enumerate() {
        if let Some(t) = convert(v, path.index(i), item) {
            kept.push(t);
        }
    }
    kept
}

fn collateral_item(v: &mut Validator, b: FieldPath<'_>, c: &pb::Collateral) -> Option<Collateral> {
    let kind = collateral_kind(v, b.child("type"), c.r#type);
    let value = v.money(
        b.child("appraised_value"),
        c.appraised_value.as_ref(),
        true,
        Sign::Positive,
    );
    let rank = if c.lien_rank == 0 { 1 } else { c.lien_rank };
    if rank > 9 {
        v.violation(
            b.child("lien_rank"),
            format!("must be 1..9 (0 is read as 1), got {}", c.lien_rank),
        );
    }
    let prior = v.money(
        b.child("prior_liens"),
        c.prior_liens.as_ref(),
        rank > 1,
        Sign::NonNegative,
    );
    if rank == 1 && prior.is_some_and(Amount::is_positive) {
        v.violation(b.child("prior_liens"), "must be zero for a first lien");
    }
    let appraised_on = v.date(b.child("appraised_on"), c.appraised_on.as_ref(), false, true);
    Some(Collateral {
        kind: kind?,
        appraised_value: value?,
        lien_rank: rank.min(9),
        prior_liens: prior.unwrap_or(Amount::ZERO),
        appraised_on,
    })
}

fn guarantor(v: &mut Validator, b: FieldPath<'_>, g: &pb::Guarantor) -> Option<Guarantor> {
    let kind = match pb::GuarantorType::try_from(g.r#type) {
        Ok(pb::GuarantorType::ActualController) => Some(GuarantorKind::ActualController),
        Ok(pb::GuarantorType::NaturalPerson) => Some(GuarantorKind::NaturalPerson),
        Ok(pb::GuarantorType::Enterprise) => Some(GuarantorKind::Enterprise),
        Ok(pb::GuarantorType::GuaranteeCompany) => Some(GuarantorKind::GuaranteeCompany),
        _ => {
            v.violation(b.child("type"), "is required (a known guarantor type)");
            None
        }
    };
    let reference = v.text(b.child("reference"), &g.reference, 1, 64);
    Some(Guarantor {
        kind: kind?,
        reference: reference?,
    })
}

pub(crate) fn collateral_kind(v: &mut Validator, path: FieldPath<'_>, raw: i32) -> Option<CollateralKind> {
    use pb::CollateralType as T;
    let kind = match T::try_from(raw) {
        Ok(T::CashDeposit) => CollateralKind::CashDeposit,
        Ok(T::GovernmentBond) => CollateralKind::GovernmentBond,
        Ok(T::ResidentialRealEstate) => CollateralKind::ResidentialRealEstate,
        Ok(T::CommercialRealEstate) => CollateralKind::CommercialRealEstate,
        Ok(T::IndustrialPlant) => CollateralKind::IndustrialPlant,
        Ok(T::Receivables) => CollateralKind::Receivables,
        Ok(T::Inventory) => CollateralKind::Inventory,
        Ok(T::Machinery) => CollateralKind::Machinery,
        Ok(T::Vehicle) => CollateralKind::Vehicle,
        Ok(T::Other) => CollateralKind::Other,
        Ok(T::Unspecified) | Err(_) => {
            v.violation(path, "is required (a known collateral type)");
            return None;
        }
    };
    Some(kind)
}

// ---- domain -> proto ------------------------------------------------------------------------

pub fn money(currency: &str, a: Amount) -> pb::Money {
    pb::Money {
        currency: currency.to_owned(),
        units_minor: a.0,
    }
}

pub fn date(d: Date) -> pb::Date {
    pb::Date {
        year: d.year(),
        month: i32::from(u8::from(d.month())),
        day: i32::from(d.day()),
    }
}

pub fn timestamp_ms(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

pub fn reason(currency: &str, r: &Reason) -> pb::Reason {
    pb::Reason {
        code: r.code.clone(),
        message: r.message.clone(),
        characteristic: r.characteristic.clone().unwrap_or_default(),
        points: r.points,
        max_points: r.max_points,
        figures: figures(currency, &r.figures),
        thresholds: figures(currency, &r.thresholds),
    }
}

/// Figures as the API shows them; a number that is not finite (a ratio over zero) shows as 0,
/// as every ratio of the API does.
pub fn figures(currency: &str, list: &[Figure]) -> Vec<pb::ComparedFigure> {
    list.iter().map(|f| figure(currency, f)).collect()
}

fn figure(currency: &str, f: &Figure) -> pb::ComparedFigure {
    pb::ComparedFigure {
        name: f.name.clone(),
        value: Some(match &f.value {
            FigureValue::Amount(a) => pb::compared_figure::Value::Amount(money(currency, *a)),
            FigureValue::Number(n) => pb::compared_figure::Value::Number(finite(*n)),
            FigureValue::Text(t) => pb::compared_figure::Value::Text(t.clone()),
        }),
    }
}

pub fn product(p: Product) -> pb::Product {
    match p {
        Product::WorkingCapital => pb::Product::WorkingCapital,
        Product::TaxLoan => pb::Product::TaxLoan,
        Product::InvoiceFinancing => pb::Product::InvoiceFinancing,
        Product::Equipment => pb::Product::Equipment,
        Product::PropertySecured => pb::Product::PropertySecured,
    }
}

fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

/// A ScoreResponse, moving the result's strings (the Score and ScorePortfolio hot path).
pub fn score_response(
    currency: &str,
    enterprise_id: &str,
    profile_version: u64,
    s: ScoreResult,
    policy_version: &str,
) -> pb::ScoreResponse {
    let card = s.scorecard;
    pb::ScoreResponse {
        enterprise_id: enterprise_id.to_owned(),
        score: card.score,
        pd: finite(card.pd),
        grade: card.grade,
        master_pd: card.master_pd_bps as f64 / 10_000.0,
        reasons: card.reasons.into_iter().map(|r| reason_into(currency, r)).collect(),
        contributions: card.contributions.into_iter().map(contribution_into).collect(),
        verification: s.verification.into_iter().map(|f| finding_into(currency, f)).collect(),
        policy_version: policy_version.to_owned(),
        profile_version,
        evaluation_date: Some(date(s.features.evaluation_date)),
        item_id: String::new(),
        sequence: 0,
        error: None,
    }
}

fn contribution_into(c: Contribution) -> pb::Contribution {
    pb::Contribution {
        characteristic: c.characteristic,
        reason_code: c.reason_code,
        value: c.value,
        bin: c.bin,
        points: c.points,
        max_points: c.max_points,
    }
}

fn finding_into(currency: &str, f: Finding) -> pb::VerificationFinding {
    pb::VerificationFinding {
        figures: figures(currency, &f.figures),
        thresholds: figures(currency, &f.thresholds),
        code: f.code,
        check: f.check,
        severity: match f.severity {
            Severity::Info => pb::FindingSeverity::Info,
            Severity::Warning => pb::FindingSeverity::Warning,
            Severity::Critical => pb::FindingSeverity::Critical,
        } as i32,
        ratio: finite(f.ratio),
        band: f.band,
        message: f.message,
    }
}

fn reason_into(currency: &str, r: Reason) -> pb::Reason {
    pb::Reason {
        figures: figures(currency, &r.figures),
        thresholds: figures(currency, &r.thresholds),
        code: r.code,
        message: r.message,
        characteristic: r.characteristic.unwrap_or_default(),
        points: r.points,
        max_points: r.max_points,
    }
}

/// A recorded decision as the API answers it, moving its strings instead of copying them (the
/// Decide and GetDecision hot path).
pub fn decision_into(currency: &str, d: Decision) -> pb::Decision {
    let e = d.evaluation;
    let card = e.scorecard;
    pb::Decision {
        decision_id: d.decision_id,
        request_id: d.request_id,
        enterprise_id: d.enterprise_id,
        outcome: match e.outcome {
            Outcome::Approve => pb::Outcome::Approve,
            Outcome::CounterOffer => pb::Outcome::CounterOffer,
            Outcome::Refer => pb::Outcome::Refer,
            Outcome::Decline => pb::Outcome::Decline,
        } as i32,
        score: card.score,
        pd: finite(card.pd),
        grade: card.grade,
        approved_amount: Some(money(currency, e.approved_amount)),
        interest_rate_bps: i32::try_from(e.interest_rate_bps).unwrap_or(i32::MAX),
        expected_loss: Some(money(currency, e.expected_loss)),
        required_authority: e.required_authority,
        reasons: e.reasons.into_iter().map(|r| reason_into(currency, r)).collect(),
        conditions: e.conditions.into_iter().map(|r| reason_into(currency, r)).collect(),
        verification: e.verification.into_iter().map(|f| finding_into(currency, f)).collect(),
        policy_version: e.policy_version,
        decided_at: Some(timestamp_ms(d.decided_at_ms)),
        product: product(d.product) as i32,
        requested_amount: Some(money(currency, d.requested_amount)),
        term_months: d.term_months,
        knock_outs: e.knock_outs.into_iter().map(|r| reason_into(currency, r)).collect(),
        refer_flags: e.refer_flags.into_iter().map(|r| reason_into(currency, r)).collect(),
        master_pd: card.master_pd_bps as f64 / 10_000.0,
        lgd_bps: i32::try_from(e.lgd_bps).unwrap_or(i32::MAX),
        raroc: finite(e.raroc),
        limit_caps: e
            .limit
            .caps
            .into_iter()
            .map(|c| pb::LimitCap {
                name: c.name,
                amount: Some(money(currency, c.amount)),
                binding: c.binding,
                detail: c.detail,
            })
            .collect(),
        authority_description: e.authority_description,
        contributions: card.contributions.into_iter().map(contribution_into).collect(),
        policy_hash: e.policy_hash,
        profile_version: d.profile_version,
        inputs_digest: d.inputs_digest,
        evaluation_date: Some(date(e.evaluation_date)),
        caller: d.caller,
        sources: e.sources.into_iter().map(source_used_into).collect(),
        debt_service: e.debt_service.map(|c| debt_service_into(currency, c)),
        price: e.price.map(price_into),
        lgd_split: e.lgd_split.map(|s| lgd_split_into(currency, s)),
        raroc_inputs: e.raroc_breakdown.map(raroc_into),
        authority_basis: e.authority_basis.map(|b| authority_basis_into(currency, b)),
    }
}

/// Basis points as the API's 32-bit field (policy values are far inside it).
fn bps32(bps: i64) -> i32 {
    i32::try_from(bps).unwrap_or(if bps < 0 { i32::MIN } else { i32::MAX })
}

fn debt_service_into(currency: &str, c: DebtServiceCover) -> pb::DebtServiceCover {
    pb::DebtServiceCover {
        cfads: Some(money(currency, c.cfads)),
        existing_debt_service: Some(money(currency, c.existing_debt_service)),
        new_debt_service: Some(money(currency, c.new_debt_service)),
        capacity_rate_bps: bps32(c.capacity_rate_bps),
        notional_tenor_months: c.notional_tenor_months,
        dscr_after: finite(c.dscr_after),
    }
}

fn price_into(p: Price) -> pb::PriceBuildUp {
    pb::PriceBuildUp {
        base_rate_name: p.base_rate_name,
        base_rate_bps: bps32(p.base_rate_bps),
        base_rate_effective_from: p.base_rate_effective_from.map(date),
        grade_spread_bps: bps32(p.spread_bps),
        secured_discount_bps: bps32(p.secured_discount_bps),
        tenor_premium_bps: bps32(p.tenor_premium_bps),
        rate_bps: bps32(p.rate_bps),
    }
}

fn lgd_split_into(currency: &str, s: LgdSplit) -> pb::LgdSplit {
    pb::LgdSplit {
        exposure: Some(money(currency, s.exposure)),
        secured_parts: s
            .secured_parts
            .into_iter()
            .map(|p| pb::SecuredPart {
                collateral_type: collateral_type(p.kind) as i32,
                recognised_value: Some(money(currency, p.recognised_value)),
                covered: Some(money(currency, p.covered)),
                lgd_bps: bps32(p.lgd_bps),
            })
            .collect(),
        unsecured: Some(money(currency, s.unsecured)),
        unsecured_lgd_bps: bps32(s.unsecured_lgd_bps),
        lgd_bps: bps32(s.lgd_bps),
    }
}

fn raroc_into(r: RarocBreakdown) -> pb::RarocInputs {
    pb::RarocInputs {
        rate_bps: bps32(r.rate_bps),
        funding_cost_bps: bps32(r.funding_cost_bps),
        operating_cost_bps: bps32(r.operating_cost_bps),
        master_pd_bps: bps32(r.master_pd_bps),
        lgd_bps: bps32(r.lgd_bps),
        expected_loss_bps: finite(r.expected_loss_bps),
        margin_bps: finite(r.margin_bps),
        risk_weight_bps: bps32(r.risk_weight_bps),
        capital_ratio_bps: bps32(r.capital_ratio_bps),
        capital_bps: finite(r.capital_bps),
        raroc: finite(r.raroc),
        hurdle: finite(r.hurdle),
    }
}

fn authority_basis_into(currency: &str, b: AuthorityBasis) -> pb::AuthorityBasis {
    pb::AuthorityBasis {
        limits_level: b.limits_level,
        passed_over: b
            .passed_over
            .into_iter()
            .map(|p| pb::AuthorityLimit {
                level: p.level,
                limit: p.limit,
                figures: figures(currency, &p.figures),
                thresholds: figures(currency, &p.thresholds),
            })
            .collect(),
        step: match b.step {
            AuthorityStep::None => pb::AuthorityStep::None,
            AuthorityStep::KnockOutOverride => pb::AuthorityStep::KnockOutOverride,
            AuthorityStep::DeclineOneUp => pb::AuthorityStep::DeclineOneUp,
            AuthorityStep::PricingExceptionOneUp => pb::AuthorityStep::PricingExceptionOneUp,
        } as i32,
        level: b.level,
    }
}

/// A collateral kind as the API names it.
fn collateral_type(kind: CollateralKind) -> pb::CollateralType {
    use pb::CollateralType as T;
    match kind {
        CollateralKind::CashDeposit => T::CashDeposit,
        CollateralKind::GovernmentBond => T::GovernmentBond,
        CollateralKind::ResidentialRealEstate => T::ResidentialRealEstate,
        CollateralKind::CommercialRealEstate => T::CommercialRealEstate,
        CollateralKind::IndustrialPlant => T::IndustrialPlant,
        CollateralKind::Receivables => T::Receivables,
        CollateralKind::Inventory => T::Inventory,
        CollateralKind::Machinery => T::Machinery,
        CollateralKind::Vehicle => T::Vehicle,
        CollateralKind::Other => T::Other,
    }
}

fn source_used_into(s: SourceUsed) -> pb::SourceUsed {
    pb::SourceUsed {
        name: s.name,
        as_of: Some(date(s.as_of)),
        source: s.lineage.source,
        fetched_at: s.lineage.fetched_at_ms.map(timestamp_ms),
        authorisation_ref: s.lineage.authorisation_ref.unwrap_or_default(),
    }
}

/// Domain profile back to proto (GetProfile).
pub fn profile_to_pb(currency: &str, p: &EnterpriseProfile) -> pb::EnterpriseProfile {
    let m = |a: Amount| Some(money(currency, a));
    pb::EnterpriseProfile {
        enterprise_id: p.enterprise_id.to_string(),
        name: p.name.clone(),
        industry_code: p.industry_code.clone(),
        established_on: Some(date(p.established_on)),
        registry_status: match p.registry_status {
            RegistryStatus::Active => pb::RegistryStatus::Active,
            RegistryStatus::Revoked => pb::RegistryStatus::Revoked,
            RegistryStatus::Deregistered => pb::RegistryStatus::Deregistered,
            RegistryStatus::Liquidation => pb::RegistryStatus::Liquidation,
            RegistryStatus::Bankruptcy => pb::RegistryStatus::Bankruptcy,
        } as i32,
        employees: p.employees,
        financials: Some(financials_to_pb(currency, &p.financials)),
        tax: p.tax.as_ref().map(|t| pb::TaxRecord {
            as_of: Some(date(t.as_of)),
            credit_rating: t.credit_rating.map(|r| r.as_str().to_owned()).unwrap_or_default(),
            reported_revenue_12m: t.reported_revenue_12m.and_then(m),
            tax_paid_12m: t.tax_paid_12m.and_then(m),
            tax_paid_prior_12m: t.tax_paid_prior_12m.and_then(m),
            source: t.lineage.source.clone(),
            fetched_at: t.lineage.fetched_at_ms.map(timestamp_ms),
        }),
        bank_flows: p.bank_flows.as_ref().map(|b| bank_flows_to_pb(currency, b)),
        invoices: p.invoices.as_ref().map(|i| invoices_to_pb(currency, i)),
        utilities: p.utilities.as_ref().map(|u| pb::Utilities {
            as_of: Some(date(u.as_of)),
            electricity_kwh_12m: u.electricity_kwh_12m,
            electricity_kwh_prior_12m: u.electricity_kwh_prior_12m,
            source: u.lineage.source.clone(),
            fetched_at: u.lineage.fetched_at_ms.map(timestamp_ms),
        }),
        social_insurance: p.social_insurance.as_ref().map(|s| pb::SocialInsurance {
            as_of: Some(date(s.as_of)),
            source: s.lineage.source.clone(),
            fetched_at: s.lineage.fetched_at_ms.map(timestamp_ms),
            insured_employees: s.insured_employees,
        }),
        credit_history: Some(credit_history_to_pb(currency, &p.credit_history)),
        legal: Some(pb::LegalRecord {
            as_of: Some(date(p.legal.as_of)),
            dishonest_judgment_debtor: p.legal.dishonest_judgment_debtor,
            open_litigation_cases: p.legal.open_litigation_cases,
            unsettled_enforcement: m(p.legal.unsettled_enforcement),
            sanctions_hit: p.legal.sanctions_hit,
            source: p.legal.lineage.source.clone(),
            fetched_at: p.legal.lineage.fetched_at_ms.map(timestamp_ms),
        }),
        controller: Some(controller_to_pb(&p.controller)),
        guarantee_network: Some(pb::GuaranteeNetwork {
            mutual_guarantee: p.guarantee_network.mutual_guarantee,
            circle_size: p.guarantee_network.circle_size,
        }),
    }
}

fn bank_flows_to_pb(currency: &str, b: &BankFlows) -> pb::BankFlows {
    let m = |a: Amount| Some(money(currency, a));
    pb::BankFlows {
        as_of: Some(date(b.as_of)),
        monthly_inflows: b.monthly_inflows.iter().map(|a| money(currency, *a)).collect(),
        outflow_12m: b.outflow_12m.and_then(m),
        settlement_account_numbers: b
            .settlement_account_numbers
            .iter()
            .map(|a| a.expose().to_owned())
            .collect(),
        source: b.lineage.source.clone(),
        fetched_at: b.lineage.fetched_at_ms.map(timestamp_ms),
        round_trips: b.round_trips.as_ref().map(|r| pb::RoundTrips {
            same_day_round_trip_amount: m(r.same_day_round_trip_amount),
            counterparties: r.counterparties,
        }),
    }
}

fn invoices_to_pb(currency: &str, i: &Invoices) -> pb::Invoices {
    let m = |a: Amount| Some(money(currency, a));
    pb::Invoices {
        as_of: Some(date(i.as_of)),
        vat_sales_12m: i.vat_sales_12m.and_then(m),
        vat_sales_prior_12m: i.vat_sales_prior_12m.and_then(m),
        source: i.lineage.source.clone(),
        fetched_at: i.lineage.fetched_at_ms.map(timestamp_ms),
        monthly_issued: i.monthly_issued.iter().map(|a| money(currency, *a)).collect(),
        issued_gross_12m: i.issued_gross_12m.and_then(m),
        credit_notes_and_voids_12m: i.credit_notes_and_voids_12m.and_then(m),
        top_buyer_sales_12m: i.top_buyer_sales_12m.and_then(m),
        top_buyer_related_party: i.top_buyer_related_party,
    }
}

fn credit_history_to_pb(currency: &str, h: &CreditHistory) -> pb::CreditHistory {
    let m = |a: Amount| Some(money(currency, a));
    pb::CreditHistory {
        as_of: Some(date(h.as_of)),
        max_days_past_due_24m: h.max_days_past_due_24m,
        current_days_past_due: h.current_days_past_due,
        current_overdue_technical: h.current_overdue_technical,
        months_of_history: h.months_of_history,
        inquiries_6m: h.inquiries_6m,
        new_lenders_6m: h.new_lenders_6m,
        npl_classified_24m: h.npl_classified_24m,
        source: h.lineage.source.clone(),
        fetched_at: h.lineage.fetched_at_ms.map(timestamp_ms),
        authorisation_ref: h.lineage.authorisation_ref.clone().unwrap_or_default(),
        net_new_debt_12m: h.net_new_debt_12m.and_then(m),
    }
}

fn financials_to_pb(currency: &str, f: &Financials) -> pb::Financials {
    let m = |a: Amount| Some(money(currency, a));
    pb::Financials {
        as_of: Some(date(f.as_of)),
        revenue: m(f.revenue),
        revenue_prior_year: f.revenue_prior_year.and_then(m),
        net_profit: m(f.net_profit),
        ebit: m(f.ebit),
        interest_expense: m(f.interest_expense),
        total_assets: m(f.total_assets),
        total_liabilities: m(f.total_liabilities),
        current_assets: m(f.current_assets),
        current_liabilities: m(f.current_liabilities),
        operating_cash_flow: m(f.operating_cash_flow),
        existing_annual_debt_service: m(f.existing_annual_debt_service),
        external_guarantees: m(f.external_guarantees),
        working_capital: f.working_capital.as_ref().map(|w| pb::WorkingCapitalInputs {
            cost_of_goods_sold: m(w.cost_of_goods_sold),
            avg_inventory: m(w.avg_inventory),
            avg_receivables: m(w.avg_receivables),
            avg_payables: m(w.avg_payables),
            avg_prepayments: m(w.avg_prepayments),
            avg_advances_received: m(w.avg_advances_received),
            own_funds: m(w.own_funds),
            existing_wc_loans: m(w.existing_wc_loans),
            other_wc_funding: m(w.other_wc_funding),
            expected_sales_growth_bps: w.expected_sales_growth_bps,
        }),
        source: f.lineage.source.clone(),
        fetched_at: f.lineage.fetched_at_ms.map(timestamp_ms),
    }
}

fn controller_to_pb(c: &Controller) -> pb::Controller {
    pb::Controller {
        credit_standing: match c.credit_standing {
            ControllerCredit::Clean => pb::ControllerCreditStanding::Clean,
            ControllerCredit::ThinFile => pb::ControllerCreditStanding::ThinFile,
            ControllerCredit::OneMinorEpisode => pb::ControllerCreditStanding::OneMinorEpisode,
            ControllerCredit::RepeatedOr31To60Dpd => pb::ControllerCreditStanding::RepeatedOr3160Dpd,
            ControllerCredit::Severe61To89Dpd => pb::ControllerCreditStanding::Severe6189Dpd,
            ControllerCredit::Defaulted90PlusDpd => pb::ControllerCreditStanding::Defaulted90PlusDpd,
        } as i32,
        age: c.age,
        dishonest_judgment_debtor: c.dishonest_judgment_debtor,
        changed_on: c.changed_on.map(date),
        name: c.name.as_ref().map(|n| n.expose().to_owned()).unwrap_or_default(),
        id_number: c.id_number.as_ref().map(|n| n.expose().to_owned()).unwrap_or_default(),
        phone: c.phone.as_ref().map(|n| n.expose().to_owned()).unwrap_or_default(),
    }
}
