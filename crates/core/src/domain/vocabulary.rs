//! The words the rules and the policy share: decision bands, severities, industry classes, where
//! verified revenue comes from, limit caps, loan classes and warning levels. Each parses from the
//! key the policy file uses.

/// Decision band of a grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Band {
    Approve,
    ApproveWithConditions,
    Refer,
    Decline,
}

impl Band {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(Band::Approve),
            "approve_with_conditions" => Some(Band::ApproveWithConditions),
            "refer" => Some(Band::Refer),
            "decline" => Some(Band::Decline),
            _ => None,
        }
    }
}

/// Severity of a verification band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// Industry risk class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IndustryClass {
    Low,
    Medium,
    High,
    Prohibited,
}

impl IndustryClass {
    pub const ALL: [IndustryClass; 4] = [
        IndustryClass::Low,
        IndustryClass::Medium,
        IndustryClass::High,
        IndustryClass::Prohibited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IndustryClass::Low => "low",
            IndustryClass::Medium => "medium",
            IndustryClass::High => "high",
            IndustryClass::Prohibited => "prohibited",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        IndustryClass::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Where verified revenue may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevenueSource {
    Invoices,
    Tax,
}

/// Caps a product may apply (request and group always apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CapKind {
    Revenue,
    WorkingCapital,
    Dscr,
    Tax,
    Secured,
    Product,
}

impl CapKind {
    pub const ALL: [CapKind; 6] = [
        CapKind::Revenue,
        CapKind::WorkingCapital,
        CapKind::Dscr,
        CapKind::Tax,
        CapKind::Secured,
        CapKind::Product,
    ];

    pub fn key(self) -> &'static str {
        match self {
            CapKind::Revenue => "revenue",
            CapKind::WorkingCapital => "working_capital",
            CapKind::Dscr => "dscr",
            CapKind::Tax => "tax",
            CapKind::Secured => "secured",
            CapKind::Product => "product",
        }
    }
}

/// Regulatory loan class, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum LoanClass {
    Normal,
    SpecialMention,
    Substandard,
    Doubtful,
    Loss,
}

impl LoanClass {
    pub const ALL: [LoanClass; 5] = [
        LoanClass::Normal,
        LoanClass::SpecialMention,
        LoanClass::Substandard,
        LoanClass::Doubtful,
        LoanClass::Loss,
    ];

    pub fn key(self) -> &'static str {
        match self {
            LoanClass::Normal => "normal",
            LoanClass::SpecialMention => "special_mention",
            LoanClass::Substandard => "substandard",
            LoanClass::Doubtful => "doubtful",
            LoanClass::Loss => "loss",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        LoanClass::ALL.into_iter().find(|c| c.key() == s)
    }

    /// Substandard, doubtful and loss are non-performing.
    pub fn non_performing(self) -> bool {
        self >= LoanClass::Substandard
    }
}

/// Early-warning level, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum WarningLevel {
    Green,
    Yellow,
    Orange,
    Red,
}

impl WarningLevel {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "green" => Some(WarningLevel::Green),
            "yellow" => Some(WarningLevel::Yellow),
            "orange" => Some(WarningLevel::Orange),
            "red" => Some(WarningLevel::Red),
            _ => None,
        }
    }
}

/// Features a scorecard characteristic may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureId {
    YearsInBusiness,
    VerifiedRevenue,
    RevenueGrowth,
    NetProfitMargin,
    DebtToAssets,
    CurrentRatio,
    InterestCoverage,
    TaxCreditRating,
    ControllerCredit,
    EnterpriseMaxDpd24m,
    IndustryRisk,
    InflowCv,
    DeclaredToVerifiedRevenue,
}

const TAX_CATEGORIES: &[&str] = &["A", "B", "M", "C", "D"];
const CONTROLLER_CATEGORIES: &[&str] = &[
    "clean",
    "thin_file",
    "one_minor_episode",
    "repeated_or_31_60_dpd",
    "severe_61_89_dpd",
    "defaulted_90_plus_dpd",
];
const INDUSTRY_CATEGORIES: &[&str] = &["low", "medium", "high", "prohibited"];

impl FeatureId {
    pub const ALL: [FeatureId; 13] = [
        FeatureId::YearsInBusiness,
        FeatureId::VerifiedRevenue,
        FeatureId::RevenueGrowth,
        FeatureId::NetProfitMargin,
        FeatureId::DebtToAssets,
        FeatureId::CurrentRatio,
        FeatureId::InterestCoverage,
        FeatureId::TaxCreditRating,
        FeatureId::ControllerCredit,
        FeatureId::EnterpriseMaxDpd24m,
        FeatureId::IndustryRisk,
        FeatureId::InflowCv,
        FeatureId::DeclaredToVerifiedRevenue,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FeatureId::YearsInBusiness => "years_in_business",
            FeatureId::VerifiedRevenue => "verified_revenue",
            FeatureId::RevenueGrowth => "revenue_growth",
            FeatureId::NetProfitMargin => "net_profit_margin",
            FeatureId::DebtToAssets => "debt_to_assets",
            FeatureId::CurrentRatio => "current_ratio",
            FeatureId::InterestCoverage => "interest_coverage",
            FeatureId::TaxCreditRating => "tax_credit_rating",
            FeatureId::ControllerCredit => "controller_credit",
            FeatureId::EnterpriseMaxDpd24m => "enterprise_max_dpd_24m",
            FeatureId::IndustryRisk => "industry_risk",
            FeatureId::InflowCv => "inflow_cv",
            FeatureId::DeclaredToVerifiedRevenue => "declared_to_verified_revenue",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        FeatureId::ALL.into_iter().find(|f| f.name() == s)
    }

    /// The categories of a categorical feature; `None` for numeric ones.
    pub fn categories(self) -> Option<&'static [&'static str]> {
        match self {
            FeatureId::TaxCreditRating => Some(TAX_CATEGORIES),
            FeatureId::ControllerCredit => Some(CONTROLLER_CATEGORIES),
            FeatureId::IndustryRisk => Some(INDUSTRY_CATEGORIES),
            _ => None,
        }
    }

    /// Whether a profile can lack the data for this feature.
    pub fn can_be_missing(self) -> bool {
        !matches!(
            self,
            FeatureId::YearsInBusiness
                | FeatureId::ControllerCredit
                | FeatureId::IndustryRisk
                | FeatureId::DebtToAssets
        )
    }
}
