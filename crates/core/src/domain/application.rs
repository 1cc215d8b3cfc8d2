//! A loan application as the core sees it.

use serde::{Deserialize, Serialize};
use time::Date;

use super::Amount;

/// Loan products; the policy configures each under `[products.<key>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Product {
    WorkingCapital,
    TaxLoan,
    InvoiceFinancing,
    Equipment,
    PropertySecured,
}

impl Product {
    pub const ALL: [Product; 5] = [
        Product::WorkingCapital,
        Product::TaxLoan,
        Product::InvoiceFinancing,
        Product::Equipment,
        Product::PropertySecured,
    ];

    /// Key of the product in the policy file.
    pub fn key(self) -> &'static str {
        match self {
            Product::WorkingCapital => "working_capital",
            Product::TaxLoan => "tax_loan",
            Product::InvoiceFinancing => "invoice_financing",
            Product::Equipment => "equipment",
            Product::PropertySecured => "property_secured",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Product::ALL.into_iter().find(|p| p.key() == key)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CollateralKind {
    CashDeposit,
    GovernmentBond,
    ResidentialRealEstate,
    CommercialRealEstate,
    IndustrialPlant,
    Receivables,
    Inventory,
    Machinery,
    Vehicle,
    Other,
}

impl CollateralKind {
    pub const ALL: [CollateralKind; 10] = [
        CollateralKind::CashDeposit,
        CollateralKind::GovernmentBond,
        CollateralKind::ResidentialRealEstate,
        CollateralKind::CommercialRealEstate,
        CollateralKind::IndustrialPlant,
        CollateralKind::Receivables,
        CollateralKind::Inventory,
        CollateralKind::Machinery,
        CollateralKind::Vehicle,
        CollateralKind::Other,
    ];

    /// Key of the collateral kind in the policy file.
    pub fn key(self) -> &'static str {
        match self {
            CollateralKind::CashDeposit => "cash_deposit",
            CollateralKind::GovernmentBond => "government_bond",
            CollateralKind::ResidentialRealEstate => "residential_real_estate",
            CollateralKind::CommercialRealEstate => "commercial_real_estate",
            CollateralKind::IndustrialPlant => "industrial_plant",
            CollateralKind::Receivables => "receivables",
            CollateralKind::Inventory => "inventory",
            CollateralKind::Machinery => "machinery",
            CollateralKind::Vehicle => "vehicle",
            CollateralKind::Other => "other",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        CollateralKind::ALL.into_iter().find(|k| k.key() == key)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collateral {
    pub kind: CollateralKind,
    pub appraised_value: Amount,
    pub lien_rank: u32,
    pub prior_liens: Amount,
    pub appraised_on: Option<Date>,
}

impl Collateral {
    /// Value available to the bank before haircuts: appraisal less claims ranking ahead.
    pub fn net_value(&self) -> Amount {
        Amount(self.appraised_value.0.saturating_sub(self.prior_liens.0).max(0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GuarantorKind {
    ActualController,
    NaturalPerson,
    Enterprise,
    GuaranteeCompany,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guarantor {
    pub kind: GuarantorKind,
    pub reference: String,
}

/// The application without its subject (the profile is resolved separately).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoanApplication {
    pub product: Product,
    pub requested_amount: Amount,
    pub term_months: u32,
    pub collateral: Vec<Collateral>,
    pub guarantors: Vec<Guarantor>,
    pub purpose: String,
    pub existing_group_exposure: Amount,
}
