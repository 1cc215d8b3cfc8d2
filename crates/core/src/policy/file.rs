//! The policy file as written (TOML), before validation. Unknown keys are errors so that a typo
//! never silently falls back to a default. Each section's type stands in the module that
//! validates it.

use std::collections::BTreeMap;

use serde::Deserialize;

pub use super::authority::AuthorityFile;
pub use super::collateral::{CollateralFile, LgdFile};
pub use super::conditions::ConditionFile;
pub use super::grades::{DefaultGradeFile, GradeFile};
pub use super::industries::IndustriesFile;
pub use super::knockouts::{KnockoutsFile, ReferFile};
pub use super::limits::LimitsFile;
pub use super::monitoring::MonitoringFile;
pub use super::pricing::PricingFile;
pub use super::products::ProductFile;
pub use super::scorecard::{CharacteristicFile, ScalingFile};
pub use super::verification::VerificationFile;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub version: String,
    pub currency: String,
    pub utc_offset_hours: i8,
    #[serde(default)]
    pub accept_uscc_checksum_failures: bool,
    pub scaling: ScalingFile,
    pub scorecard: Vec<CharacteristicFile>,
    pub grades: Vec<GradeFile>,
    pub default_grade: DefaultGradeFile,
    pub industries: IndustriesFile,
    pub knockouts: KnockoutsFile,
    pub refer: ReferFile,
    pub verification: VerificationFile,
    pub limits: LimitsFile,
    pub products: BTreeMap<String, ProductFile>,
    pub lgd: LgdFile,
    pub collateral: BTreeMap<String, CollateralFile>,
    pub pricing: PricingFile,
    pub authority: Vec<AuthorityFile>,
    #[serde(default)]
    pub authority_minimums: BTreeMap<String, String>,
    #[serde(default)]
    pub conditions: Vec<ConditionFile>,
    pub monitoring: MonitoringFile,
    pub messages: BTreeMap<String, String>,
}
