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
