//! Shared fixtures for the pure-core integration tests: the worked example of docs/DOMAIN.md 13
//! as a profile and an application, the evaluation date, and small helpers.
#![allow(dead_code)]

use riskdecision_core::domain::application::{LoanApplication, Product};
use riskdecision_core::domain::decision::{Evaluation, decide};
use riskdecision_core::domain::profile::{
    BankFlows, Controller, ControllerCredit, CreditHistory, EnterpriseProfile, Financials, GuaranteeNetwork, Invoices,
    LegalRecord, Lineage, RegistryStatus, TaxRating, TaxRecord,
};
use riskdecision_core::domain::{Amount, Uscc};
use riskdecision_core::policy::Policy;
use time::Date;
use time::macros::date;

/// Evaluation date of every fixture: 4 completed years after `established_on` (2022-03-01).
pub const EVAL_DATE: Date = date!(2026 - 06 - 30);

/// The USCC of the worked example (checksum-valid, docs/DOMAIN.md 12.1).
pub const WORKED_EXAMPLE_USCC: &str = "91110000600037341L";

/// Whole yuan as an amount in fen.
pub fn cny(yuan: i64) -> Amount {
    Amount::from_major(yuan)
}

/// The embedded default policy (`sme-default-1.1.0`).
pub fn policy() -> Policy {
    Policy::embedded_default().expect("the embedded default policy is valid")
}

/// Monthly net business inflows, oldest first: alternating 114,583 / 302,083 yuan.
/// Mean 208,333, population standard deviation 93,750, CV = 0.450001; 12-month total
/// 2,499,996, so declared revenue / bank inflows = 1.05 (green band 0.7..1.3).
pub fn worked_example_inflows() -> Vec<Amount> {
    (0..12)
        .map(|m| if m % 2 == 0 { cny(114_583) } else { cny(302_083) })
        .collect()
}

/// docs/DOMAIN.md 13.1 worked example profile, as of [`EVAL_DATE`].
///
/// Scorecard inputs: 4 years (46); verified revenue 2,500,000 from VAT invoices (44); growth
/// 2,500,000 / 2,450,980 - 1 = +2.0% (46); net margin 65,625 / 2,625,000 = 2.5% (42);
/// debt-to-assets 1,240,000 / 2,000,000 = 62% (45); current ratio 1.2 (47); interest coverage
/// 150,000 / 50,000 = 3.0 (46); tax rating B (48); controller clean (56); enterprise max dpd 0
/// with 36 months of history (58); industry F (medium, 46); inflow CV 0.45 (46); declared /
/// verified revenue 1.05 (52). Total 622.
pub fn worked_example_profile() -> EnterpriseProfile {
    EnterpriseProfile {
        enterprise_id: Uscc::parse(WORKED_EXAMPLE_USCC).expect("test vector is a valid USCC"),
        uscc_checksum_mismatch: false,
        name: "Worked Example Trading Co., Ltd.".to_owned(),
        // GB/T 4754 F51xx wholesale: class "medium", and not an electricity-checked industry.
        industry_code: "F5100".to_owned(),
        established_on: date!(2022 - 03 - 01),
        registry_status: RegistryStatus::Active,
        employees: 25,
        financials: worked_example_financials(),
        tax: Some(TaxRecord {
            as_of: date!(2026 - 06 - 15),
            lineage: Lineage::default(),
            credit_rating: Some(TaxRating::B),
            reported_revenue_12m: Some(cny(2_550_000)),
            tax_paid_12m: Some(cny(62_000)),
            tax_paid_prior_12m: Some(cny(58_000)),
        }),
        bank_flows: Some(BankFlows {
            as_of: date!(2026 - 06 - 15),
            lineage: Lineage::default(),
            monthly_inflows: worked_example_inflows(),
            outflow_12m: Some(cny(2_380_000)),
            settlement_account_numbers: Vec::new(),
            round_trips: None,
        }),
        invoices: Some(Invoices {
            as_of: date!(2026 - 06 - 15),
            lineage: Lineage::default(),
            vat_sales_12m: Some(cny(2_500_000)),
            vat_sales_prior_12m: Some(cny(2_450_980)),
            monthly_issued: Vec::new(),
            issued_gross_12m: None,
            credit_notes_and_voids_12m: None,
            top_buyer_sales_12m: None,
            top_buyer_related_party: false,
        }),
        utilities: None,
        social_insurance: None,
        credit_history: worked_example_credit_history(),
        legal: LegalRecord {
            as_of: date!(2026 - 06 - 20),
            lineage: Lineage::default(),
            dishonest_judgment_debtor: false,
            open_litigation_cases: 0,
            unsettled_enforcement: Amount::ZERO,
            sanctions_hit: false,
        },
        controller: Controller {
            credit_standing: ControllerCredit::Clean,
            age: 45,
            dishonest_judgment_debtor: false,
            changed_on: None,
            name: None,
            id_number: None,
            phone: None,
        },
        guarantee_network: GuaranteeNetwork {
            mutual_guarantee: false,
            circle_size: 0,
        },
    }
}

/// The worked example's financial statements (year end 2025).
pub fn worked_example_financials() -> Financials {
    Financials {
        as_of: date!(2025 - 12 - 31),
        lineage: Lineage::default(),
        revenue: cny(2_625_000),
        revenue_prior_year: Some(cny(2_573_530)),
        net_profit: cny(65_625),
        ebit: cny(150_000),
        interest_expense: cny(50_000),
        total_assets: cny(2_000_000),
        total_liabilities: cny(1_240_000),
        current_assets: cny(1_200_000),
        current_liabilities: cny(1_000_000),
        operating_cash_flow: cny(300_000),
        existing_annual_debt_service: cny(100_000),
        external_guarantees: Amount::ZERO,
        working_capital: None,
    }
}

/// The worked example's credit report: clean, 36 months of history.
pub fn worked_example_credit_history() -> CreditHistory {
    CreditHistory {
        as_of: date!(2026 - 06 - 20),
        lineage: Lineage::default(),
        max_days_past_due_24m: 0,
        current_days_past_due: 0,
        current_overdue_technical: false,
        months_of_history: 36,
        inquiries_6m: 2,
        new_lenders_6m: 1,
        npl_classified_24m: false,
        net_new_debt_12m: None,
    }
}

/// A calendar date of a test.
pub fn date(year: i32, month: time::Month, day: u8) -> Date {
    Date::from_calendar_date(year, month, day).expect("valid test date")
}

/// The contribution (points, bin label) of one characteristic for a profile.
pub fn contribution(profile: &EnterpriseProfile, id: &str) -> (i32, String) {
    let card = riskdecision_core::domain::decision::score_profile(profile, &policy(), EVAL_DATE).scorecard;
    let c = card
        .contributions
        .iter()
        .find(|c| c.characteristic == id)
        .expect("characteristic exists");
    (c.points, c.bin.clone())
}

/// The worked example profile with one change.
pub fn with(f: impl FnOnce(&mut EnterpriseProfile)) -> EnterpriseProfile {
    let mut p = worked_example_profile();
    f(&mut p);
    p
}

/// The worked example application with one change.
pub fn app_with(f: impl FnOnce(&mut LoanApplication)) -> LoanApplication {
    let mut a = worked_example_application();
    f(&mut a);
    a
}

/// docs/DOMAIN.md 13.1 application: unsecured tax loan of 800,000 for 12 months.
pub fn worked_example_application() -> LoanApplication {
    LoanApplication {
        product: Product::TaxLoan,
        requested_amount: cny(800_000),
        term_months: 12,
        collateral: Vec::new(),
        guarantors: Vec::new(),
        purpose: "working capital for inventory".to_owned(),
        existing_group_exposure: Amount::ZERO,
    }
}

/// Decides with the default policy at [`EVAL_DATE`]; the application must pass its checks.
pub fn evaluate(app: &LoanApplication, profile: &EnterpriseProfile) -> Evaluation {
    evaluate_with(app, profile, &policy())
}

pub fn evaluate_with(app: &LoanApplication, profile: &EnterpriseProfile, policy: &Policy) -> Evaluation {
    decide(app, profile, policy, EVAL_DATE).expect("application passes the product checks")
}

pub fn knock_out_codes(e: &Evaluation) -> Vec<&str> {
    e.knock_outs.iter().map(|r| r.code.as_str()).collect()
}

pub fn flag_codes(e: &Evaluation) -> Vec<&str> {
    e.refer_flags.iter().map(|r| r.code.as_str()).collect()
}

pub fn reason_codes(e: &Evaluation) -> Vec<&str> {
    e.reasons.iter().map(|r| r.code.as_str()).collect()
}

pub fn condition_codes(e: &Evaluation) -> Vec<&str> {
    e.conditions.iter().map(|r| r.code.as_str()).collect()
}
