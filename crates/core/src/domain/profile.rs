//! The enterprise profile as the core sees it: validated, in policy-currency minor units.

use serde::{Deserialize, Serialize};
use time::Date;

use super::personal::{AccountNumber, MobilePhone, PersonName, ResidentId};
use super::{Amount, Uscc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegistryStatus {
    Active,
    Revoked,
    Deregistered,
    Liquidation,
    Bankruptcy,
}

/// Tax credit rating (纳税信用等级).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaxRating {
    A,
    B,
    M,
    C,
    D,
}

impl TaxRating {
    pub const ALL: [TaxRating; 5] = [TaxRating::A, TaxRating::B, TaxRating::M, TaxRating::C, TaxRating::D];

    pub fn as_str(self) -> &'static str {
        match self {
            TaxRating::A => "A",
            TaxRating::B => "B",
            TaxRating::M => "M",
            TaxRating::C => "C",
            TaxRating::D => "D",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        TaxRating::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The actual controller's personal credit record over 24 months, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ControllerCredit {
    Clean,
    ThinFile,
    OneMinorEpisode,
    RepeatedOr31To60Dpd,
    Severe61To89Dpd,
    Defaulted90PlusDpd,
}

impl ControllerCredit {
    pub const ALL: [ControllerCredit; 6] = [
        ControllerCredit::Clean,
        ControllerCredit::ThinFile,
        ControllerCredit::OneMinorEpisode,
        ControllerCredit::RepeatedOr31To60Dpd,
        ControllerCredit::Severe61To89Dpd,
        ControllerCredit::Defaulted90PlusDpd,
    ];

    /// Category name used by the policy's scorecard bins.
    pub fn as_str(self) -> &'static str {
        match self {
            ControllerCredit::Clean => "clean",
            ControllerCredit::ThinFile => "thin_file",
            ControllerCredit::OneMinorEpisode => "one_minor_episode",
            ControllerCredit::RepeatedOr31To60Dpd => "repeated_or_31_60_dpd",
            ControllerCredit::Severe61To89Dpd => "severe_61_89_dpd",
            ControllerCredit::Defaulted90PlusDpd => "defaulted_90_plus_dpd",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnterpriseProfile {
    pub enterprise_id: Uscc,
    /// True when the USCC's check character is wrong and the policy accepted it (flag F01).
    pub uscc_checksum_mismatch: bool,
    pub name: String,
    pub industry_code: String,
    pub established_on: Date,
    pub registry_status: RegistryStatus,
    pub employees: u32,
    pub financials: Financials,
    pub tax: Option<TaxRecord>,
    pub bank_flows: Option<BankFlows>,
    pub invoices: Option<Invoices>,
    pub utilities: Option<Utilities>,
    /// Social-insurance registrations (headcount check V11). Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub social_insurance: Option<SocialInsurance>,
    pub credit_history: CreditHistory,
    pub legal: LegalRecord,
    pub controller: Controller,
    pub guarantee_network: GuaranteeNetwork,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Financials {
    pub as_of: Date,
    /// Where the data came from (provider, fetch time); empty in records made before lineage.
    #[serde(default, skip_serializing_if = "Lineage::is_empty")]
    pub lineage: Lineage,
    pub revenue: Amount,
    pub revenue_prior_year: Option<Amount>,
    pub net_profit: Amount,
    pub ebit: Amount,
    pub interest_expense: Amount,
    pub total_assets: Amount,
    pub total_liabilities: Amount,
    pub current_assets: Amount,
    pub current_liabilities: Amount,
    pub operating_cash_flow: Amount,
    pub existing_annual_debt_service: Amount,
    pub external_guarantees: Amount,
    pub working_capital: Option<WorkingCapitalInputs>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkingCapitalInputs {
    pub cost_of_goods_sold: Amount,
    pub avg_inventory: Amount,
    pub avg_receivables: Amount,
    pub avg_payables: Amount,
    pub avg_prepayments: Amount,
    pub avg_advances_received: Amount,
    pub own_funds: Amount,
    pub existing_wc_loans: Amount,
    pub other_wc_funding: Amount,
    pub expected_sales_growth_bps: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxRecord {
    pub as_of: Date,
    /// Where the data came from (provider, fetch time); empty in records made before lineage.
    #[serde(default, skip_serializing_if = "Lineage::is_empty")]
    pub lineage: Lineage,
    pub credit_rating: Option<TaxRating>,
    pub reported_revenue_12m: Option<Amount>,
    pub tax_paid_12m: Option<Amount>,
    pub tax_paid_prior_12m: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankFlows {
    pub as_of: Date,
    /// Where the data came from (provider, fetch time); empty in records made before lineage.
    #[serde(default, skip_serializing_if = "Lineage::is_empty")]
    pub lineage: Lineage,
    /// Net business inflows per month, oldest first.
    pub monthly_inflows: Vec<Amount>,
    pub outflow_12m: Option<Amount>,
    /// PERSONAL DATA: settlement account numbers (masked in `Debug`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settlement_account_numbers: Vec<AccountNumber>,
    /// Round-tripping summary (V15). Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_trips: Option<RoundTrips>,
}

/// Money that came in and went back out the same day to the same counterparty, over the months
/// of `monthly_inflows`, as a bank's data provider aggregates it (no raw transactions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundTrips {
    /// Sum of the inflows that left the account the same day to the counterparty they came from.
    pub same_day_round_trip_amount: Amount,
    /// Number of distinct counterparties involved.
    pub counterparties: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invoices {
    pub as_of: Date,
    /// Where the data came from (provider, fetch time); empty in records made before lineage.
    #[serde(default, skip_serializing_if = "Lineage::is_empty")]
    pub lineage: Lineage,
    pub vat_sales_12m: Option<Amount>,
    pub vat_sales_prior_12m: Option<Amount>,
    /// Output invoices issued per month (gross, before credit notes), oldest first, the latest
    /// month last (invoice spike V12). Empty when the platform did not provide them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monthly_issued: Vec<Amount>,
    /// Gross output invoices issued over 12 months, credit-noted or voided ones included (V13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_gross_12m: Option<Amount>,
    /// Red-letter invoices (credit notes) and voided invoices over the same 12 months (V13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_notes_and_voids_12m: Option<Amount>,
    /// Net invoiced sales to the largest buyer over 12 months (customer concentration V14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_buyer_sales_12m: Option<Amount>,
    /// The largest buyer is a related party of the enterprise.
    #[serde(default)]
    pub top_buyer_related_party: bool,
}

/// Social-insurance registrations of the enterprise (社保参保人数).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SocialInsurance {
    pub as_of: Date,
    #[serde(default, skip_serializing_if = "Lineage::is_empty")]
    pub lineage: Lineage,
    /// Employees insured by the enterprise at `as_of`.
    pub insured_employees: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utilities {
    pub as_of: Date,
    /// Where the data came from (provider, fetch time); empty in records made before lineage.
    #[serde(default, skip_serializing_if = "Lineage::is_empty")]
    pub lineage: Lineage,
    pub electricity_kwh_12m: u64,
    pub electricity_kwh_prior_12m: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditHistory {
    pub as_of: Date,
    /// Where the data came from (provider, fetch time); empty in records made before lineage.
    #[serde(default, skip_serializing_if = "Lineage::is_empty")]
    pub lineage: Lineage,
    pub max_days_past_due_24m: u32,
    pub current_days_past_due: u32,
    pub current_overdue_technical: bool,
    pub months_of_history: u32,
    pub inquiries_6m: u32,
    pub new_lenders_6m: u32,
    pub npl_classified_24m: bool,
    /// Increase in debt outstanding at all lenders over the last 12 months: new credit minus
    /// repayments, so renewals net out; zero or negative when debt fell (financing hunger V16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_new_debt_12m: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegalRecord {
    pub as_of: Date,
    /// Where the data came from (provider, fetch time); empty in records made before lineage.
    #[serde(default, skip_serializing_if = "Lineage::is_empty")]
    pub lineage: Lineage,
    pub dishonest_judgment_debtor: bool,
    pub open_litigation_cases: u32,
    pub unsettled_enforcement: Amount,
    pub sanctions_hit: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Controller {
    pub credit_standing: ControllerCredit,
    pub age: u32,
    pub dishonest_judgment_debtor: bool,
    pub changed_on: Option<Date>,
    /// PERSONAL DATA (optional, not used by the policy; masked in `Debug`). Skipped when absent
    /// so that digests of profiles without them are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<PersonName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<ResidentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<MobilePhone>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuaranteeNetwork {
    pub mutual_guarantee: bool,
    pub circle_size: u32,
}

/// Lineage of one source block: the provider or system it came from, when it was fetched, and
/// for credit-bureau data the borrower's authorisation (consent) reference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Milliseconds since the Unix epoch (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorisation_ref: Option<String>,
}

impl Lineage {
    pub fn is_empty(&self) -> bool {
        self.source.is_empty() && self.fetched_at_ms.is_none() && self.authorisation_ref.is_none()
    }
}

/// One source block a decision used, as the decision record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceUsed {
    /// The block: "financials", "tax", "invoices", "bank_flows", "utilities",
    /// "social_insurance", "credit_report" or "legal".
    pub name: String,
    pub as_of: Date,
    #[serde(default, skip_serializing_if = "Lineage::is_empty")]
    pub lineage: Lineage,
}

impl EnterpriseProfile {
    /// Every source block present, in a fixed order, with its date and lineage.
    pub fn sources_used(&self) -> Vec<SourceUsed> {
        let used = |name: &str, as_of: Date, lineage: &Lineage| SourceUsed {
            name: name.to_owned(),
            as_of,
            lineage: lineage.clone(),
        };
        let f = &self.financials;
        let mut out = vec![used("financials", f.as_of, &f.lineage)];
        out.extend(self.tax.as_ref().map(|t| used("tax", t.as_of, &t.lineage)));
        out.extend(self.invoices.as_ref().map(|i| used("invoices", i.as_of, &i.lineage)));
        out.extend(
            self.bank_flows
                .as_ref()
                .map(|b| used("bank_flows", b.as_of, &b.lineage)),
        );
        out.extend(self.utilities.as_ref().map(|u| used("utilities", u.as_of, &u.lineage)));
        out.extend(
            self.social_insurance
                .as_ref()
                .map(|s| used("social_insurance", s.as_of, &s.lineage)),
        );
        let (c, l) = (&self.credit_history, &self.legal);
        out.push(used("credit_report", c.as_of, &c.lineage));
        out.push(used("legal", l.as_of, &l.lineage));
        out
    }
}
