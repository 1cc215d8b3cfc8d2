//! The pure credit-policy core: plain data and pure functions, no I/O, no async, no proto types.
//!
//! Pipeline, in the order `decision::decide_observed` runs it (docs/DOMAIN.md 2.2): features ->
//! verification -> scorecard -> band -> limit -> knock-outs and refer flags (they read the
//! coverage after the offered loan) -> LGD, price and RAROC -> outcome -> conditions ->
//! authority -> interest and expected loss.

pub mod amount;
pub mod application;
pub mod authority;
pub mod bins;
pub mod decision;
pub mod features;
pub mod figure;
pub mod knockouts;
pub mod lgd;
pub mod limits;
pub mod monitoring;
pub mod personal;
pub mod pricing;
pub mod profile;
pub mod rulebook;
pub mod scorecard;
pub mod security;
pub mod uscc;
pub mod verification;
pub mod vocabulary;

pub use amount::Amount;
pub use application::{Collateral, CollateralKind, Guarantor, GuarantorKind, LoanApplication, Product};
pub use decision::{Decision, Evaluation, Outcome, decide};
pub use figure::{Figure, FigureValue};
pub use profile::EnterpriseProfile;
pub use scorecard::ScoreCard;
pub use uscc::Uscc;

/// One explanation item: a knock-out, refer flag, score reason, condition or limit rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reason {
    pub code: String,
    pub message: String,
    /// For score reasons: the characteristic, its points and its maximum.
    pub characteristic: Option<String>,
    pub points: i32,
    pub max_points: i32,
    /// The figures the rule compared (empty for score reasons, whose figures are the points).
    #[serde(default)]
    pub figures: Vec<Figure>,
    /// The policy thresholds it compared them with.
    #[serde(default)]
    pub thresholds: Vec<Figure>,
}

impl Reason {
    pub fn coded(code: &str, message: &str) -> Self {
        Reason {
            code: code.to_owned(),
            message: message.to_owned(),
            characteristic: None,
            points: 0,
            max_points: 0,
            figures: Vec::new(),
            thresholds: Vec::new(),
        }
    }

    /// The same reason, showing the figures compared and the thresholds they were compared with.
    pub fn with_figures(mut self, figures: Vec<Figure>, thresholds: Vec<Figure>) -> Self {
        self.figures = figures;
        self.thresholds = thresholds;
        self
    }
}
