//! The pure credit-policy core of the SME risk-decision service.
//!
//! - [`domain`]: the vocabulary (products, collateral, bands, severities, loan classes, warning
//!   levels), the compiled policy the rules read ([`domain::rulebook`]) and the rules themselves,
//!   as plain data and pure functions.
//! - [`policy`]: the bank's policy file (TOML), parsed and validated into a
//!   [`domain::rulebook::Policy`], with its version and SHA-256.
//!
//! `policy` depends on `domain`, never the reverse. Nothing here does I/O or async work.

pub mod domain;
pub mod policy;
