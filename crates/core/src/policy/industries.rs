//! `[industries]`: GB/T 4754 code prefixes by risk class.

use serde::Deserialize;

use super::ctx::Ctx;
use super::{IndustryClass, IndustryTable};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndustriesFile {
    pub unknown_class: String,
    #[serde(default)]
    pub low: Vec<String>,
    #[serde(default)]
    pub medium: Vec<String>,
    #[serde(default)]
    pub high: Vec<String>,
    #[serde(default)]
    pub prohibited: Vec<String>,
}

impl IndustriesFile {
    /// Valid, unique prefixes, sorted longest first so that the longest match wins.
    pub(super) fn compile(&self, ctx: &mut Ctx) -> IndustryTable {
        let unknown_class = IndustryClass::parse(&self.unknown_class).unwrap_or_else(|| {
            ctx.err("industries.unknown_class", "must be low, medium, high or prohibited");
            IndustryClass::High
        });
        let mut prefixes: Vec<(String, IndustryClass)> = Vec::new();
        for (class, list) in [
            (IndustryClass::Low, &self.low),
            (IndustryClass::Medium, &self.medium),
            (IndustryClass::High, &self.high),
            (IndustryClass::Prohibited, &self.prohibited),
        ] {
            let field = format!("industries.{}", class.as_str());
            for p in list {
                if !is_code_prefix(p) {
                    ctx.err(
                        &field,
                        format!("{p:?} is not a GB/T 4754 code prefix (a letter and up to 4 digits)"),
                    );
                }
                if prefixes.iter().any(|(q, _)| q == p) {
                    ctx.err(&field, format!("prefix {p:?} is listed twice"));
                }
                prefixes.push((p.clone(), class));
            }
        }
        prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        IndustryTable {
            unknown_class,
            prefixes,
        }
    }
}

/// An upper-case letter and up to four digits.
fn is_code_prefix(p: &str) -> bool {
    p.len() <= 5
        && p.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && p.chars().skip(1).all(|c| c.is_ascii_digit())
}
