//! The credit policy: parsed from TOML, validated with errors that name the field (and the line
//! when it can be found), compiled once into plain structures the core reads without lookups by
//! string on the hot path. Versioned by its own `version` string and the SHA-256 of its bytes.

mod authority;
mod collateral;
mod compile;
mod conditions;
mod ctx;
mod file;
mod grades;
mod industries;
mod knockouts;
mod limits;
mod lines;
mod monitoring;
mod pricing;
mod products;
mod scorecard;
mod verification;

use sha2::{Digest, Sha256};

pub use compile::parse_iso_date;
// The compiled policy and its vocabulary live in the domain; re-exported so that callers name the
// policy they load and the types it holds from one place.
pub use crate::domain::bins::{Bound, CategoryBin, CategoryBins, NumericBin, NumericBins};
pub use crate::domain::rulebook::*;
pub use crate::domain::vocabulary::{Band, CapKind, IndustryClass, LoanClass, RevenueSource, Severity, WarningLevel};

/// The embedded default policy (`policies/default.toml`; docs/POLICY.md).
pub const DEFAULT_POLICY_TOML: &str = include_str!("../../../../policies/default.toml");

/// The default policy with the one line setting `key` (at any depth) replaced by `key = value`,
/// for varying one setting; `None` unless exactly one line sets `key`.
pub fn default_policy_with(key: &str, value: &str) -> Option<String> {
    let prefix = format!("{key} =");
    let sets_key = |line: &str| line.trim_start().starts_with(&prefix);
    if DEFAULT_POLICY_TOML.lines().filter(|l| sets_key(l)).count() != 1 {
        return None;
    }
    let lines: Vec<String> = DEFAULT_POLICY_TOML
        .lines()
        .map(|l| {
            if sets_key(l) {
                format!("{key} = {value}")
            } else {
                l.to_owned()
            }
        })
        .collect();
    Some(lines.join("\n"))
}

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// Dotted path, e.g. `scorecard[3].bins[1]`.
    pub field: String,
    /// 1-based line, 0 when unknown.
    pub line: u32,
    pub message: String,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}: {}", self.line, self.field, self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// All problems found while loading a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid policy: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct PolicyErrors(pub Vec<PolicyError>);

/// Adds the line of each error's field, from the spans of a second parse: only a policy with
/// errors pays for the index (a valid one loads without it).
fn with_lines(text: &str, mut errors: PolicyErrors) -> PolicyErrors {
    if let Ok(document) = toml::de::DeTable::parse(text) {
        let lines = lines::Lines::index(text, document.get_ref());
        for error in &mut errors.0 {
            error.line = lines.line(&error.field);
        }
    }
    errors
}

impl Policy {
    /// Parses and validates a policy file. All problems are reported, not only the first, each
    /// with the line of its field (from the parser's spans).
    pub fn from_toml(text: &str) -> Result<Policy, PolicyErrors> {
        let hash = sha256_hex(text.as_bytes());
        let syntax = |e: toml::de::Error| {
            let line = e.span().map_or(0, |span| lines::line_of_offset(text, span.start));
            PolicyErrors(vec![PolicyError {
                field: "(file)".into(),
                line,
                message: e.message().to_owned(),
            }])
        };
        let file: file::PolicyFile = toml::from_str(text).map_err(syntax)?;
        compile::compile(file, hash).map_err(|errors| with_lines(text, errors))
    }

    /// The embedded default policy. It is validated by a unit test, so failure here is a build
    /// defect, reported as an error rather than a panic.
    pub fn embedded_default() -> Result<Policy, PolicyErrors> {
        Policy::from_toml(DEFAULT_POLICY_TOML)
    }

    /// Message for an engine code (the code itself if the policy has none, which validation
    /// prevents for engine codes).
    pub fn message(&self, code: &str) -> String {
        self.messages.get(code).cloned().unwrap_or_else(|| code.to_owned())
    }

    pub fn grade_index(&self, name: &str) -> Option<usize> {
        self.grades.iter().position(|g| g.name == name)
    }

    /// Product keys the policy offers.
    pub fn product_keys(&self) -> Vec<&'static str> {
        self.products.keys().map(|p| p.key()).collect()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_is_lower_case_hex_of_the_digest() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn embedded_default_loads() {
        let policy = Policy::embedded_default().expect("default policy is valid");
        assert_eq!(policy.version, "sme-default-1.1.0");
        assert_eq!(policy.scorecard.len(), 13);
        assert_eq!(policy.grades.len(), 10);
        assert_eq!(policy.hash.len(), 64);
        assert_eq!(policy.products.len(), 5);
        let max_total: i32 = policy.scorecard.iter().map(|c| c.max_points).sum();
        assert_eq!(max_total, 708, "docs/DOMAIN.md 5.1: max total 708");
    }

    #[test]
    fn scaling_matches_the_check_values() {
        let policy = Policy::embedded_default().expect("valid");
        assert!((policy.scaling.factor - 28.853_900_82).abs() < 1e-7);
        assert!((policy.scaling.offset - 487.122_876_2).abs() < 1e-6);
        for (score, pd) in [
            (700, 0.000_625),
            (660, 0.002_49),
            (640, 0.004_98),
            (620, 0.009_90),
            (600, 0.019_61),
            (580, 0.038_46),
            (560, 0.0741),
            (540, 0.1379),
            (520, 0.2424),
            (500, 0.3902),
        ] {
            let got = policy.scaling.pd(score);
            assert!((got - pd).abs() / pd < 0.005, "score {score}: pd {got} vs {pd}");
        }
    }

    #[test]
    fn industry_prefix_longest_wins() {
        let policy = Policy::embedded_default().expect("valid");
        assert_eq!(policy.industries.classify("C3360"), IndustryClass::Medium);
        assert_eq!(policy.industries.classify("C2511"), IndustryClass::Prohibited);
        assert_eq!(policy.industries.classify("C2520"), IndustryClass::High);
        assert_eq!(policy.industries.classify("I6510"), IndustryClass::Low);
        assert_eq!(policy.industries.classify("I5100"), IndustryClass::Medium);
        assert_eq!(policy.industries.classify("T9000"), IndustryClass::High); // unknown
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = Policy::from_toml("version = \"x\"\ncurrency = 3\n").expect_err("invalid");
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].line, 2, "{:?}", err.0);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let text = DEFAULT_POLICY_TOML.replace("pd_floor_bps = 5", "pd_floor_bps = 5\npd_flor_bps = 6");
        let err = Policy::from_toml(&text).expect_err("typo must be caught");
        assert!(err.0[0].message.contains("pd_flor_bps"), "{:?}", err.0);
        assert!(err.0[0].line > 0);
    }

    #[test]
    fn semantic_errors_name_the_field_and_line() {
        let text = DEFAULT_POLICY_TOML.replacen(
            "{ below = 2, points = 36, label = \"[1, 2)\" }",
            "{ below = 0.5, points = 36, label = \"[1, 2)\" }",
            1,
        );
        let err = Policy::from_toml(&text).expect_err("unordered bins");
        let e = err
            .0
            .iter()
            .find(|e| e.field == "scorecard[0].bins[1]")
            .expect("names the bin");
        assert!(e.line > 0 && e.message.contains("above"), "{e:?}");

        let text = DEFAULT_POLICY_TOML.replace("feature = \"inflow_cv\"", "feature = \"inflow_cov\"");
        let err = Policy::from_toml(&text).expect_err("unknown feature");
        assert!(
            err.0
                .iter()
                .any(|e| e.field == "scorecard[11].feature" && e.message.contains("inflow_cov")),
            "{:?}",
            err.0
        );

        let text = DEFAULT_POLICY_TOML.replace("max_grade = \"G7\"", "max_grade = \"G77\"");
        let err = Policy::from_toml(&text).expect_err("unknown grade");
        assert!(err.0.iter().any(|e| e.field == "authority[2].max_grade"), "{:?}", err.0);
    }

    #[test]
    fn several_errors_are_reported_together() {
        let text = DEFAULT_POLICY_TOML
            .replace("currency = \"CNY\"", "currency = \"cny\"")
            .replace("K15 = ", "X15 = ")
            .replace("min_limit = 50_000", "min_limit = -1");
        let err = Policy::from_toml(&text).expect_err("three problems");
        let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"currency"), "{fields:?}");
        assert!(fields.contains(&"messages.K15"), "{fields:?}");
        assert!(fields.contains(&"limits.min_limit"), "{fields:?}");
    }

    /// 1-based line of the first line of `text` that starts with `needle` (after indentation).
    fn line_with(text: &str, needle: &str) -> u32 {
        let index = text
            .lines()
            .position(|l| l.trim_start().starts_with(needle))
            .expect("needle in text");
        u32::try_from(index + 1).expect("small file")
    }

    fn error_at<'a>(err: &'a PolicyErrors, field: &str) -> &'a PolicyError {
        err.0
            .iter()
            .find(|e| e.field == field)
            .unwrap_or_else(|| panic!("no error at {field}: {:?}", err.0))
    }

    #[test]
    fn errors_deep_in_the_file_report_the_line_of_their_field() {
        let text = DEFAULT_POLICY_TOML
            .replace("max_grade = \"G7\"", "max_grade = \"G77\"")
            .replacen(
                "{ below = 0.6, points = 46, label = \"CV [0.3, 0.6)\" }",
                "{ below = 0.2, points = 46, label = \"CV [0.3, 0.6)\" }",
                1,
            )
            .replace(
                "{ at_most = 0.40, severity = \"warning\", label = \"(20%, 40%]\" }",
                "{ at_most = 0.40, severity = \"fatal\", label = \"(20%, 40%]\" }",
            );
        let text = text.replacen("secured_lgd_bps = 2000", "secured_lgd_bps = 20000", 1);
        let err = Policy::from_toml(&text).expect_err("four problems");
        assert_eq!(err.0.len(), 4, "{:?}", err.0);
        for (field, needle) in [
            ("authority[2].max_grade", "max_grade = \"G77\""),
            ("scorecard[11].bins[1]", "{ below = 0.2, points = 46"),
            (
                "verification.electricity_intensity.bands[3]",
                "{ at_most = 0.40, severity = \"fatal\"",
            ),
            (
                "collateral.residential_real_estate.secured_lgd_bps",
                "secured_lgd_bps = 20000",
            ),
        ] {
            let e = error_at(&err, field);
            assert_eq!(e.line, line_with(&text, needle), "{e:?}");
            assert!(
                e.line > 300 || field.starts_with("scorecard"),
                "deep in the file: {e:?}"
            );
        }
    }

    #[test]
    fn a_missing_key_is_reported_at_its_table() {
        let text = DEFAULT_POLICY_TOML.replace("K15 = ", "X15 = ");
        let err = Policy::from_toml(&text).expect_err("missing message");
        assert_eq!(error_at(&err, "messages.K15").line, line_with(&text, "[messages]"));

        let text = DEFAULT_POLICY_TOML.replace("[collateral.vehicle]", "[collateral.vehicles]");
        let err = Policy::from_toml(&text).expect_err("unknown and missing kind");
        let unknown = error_at(&err, "collateral.vehicles");
        assert_eq!(unknown.line, line_with(&text, "[collateral.vehicles]"));
        let missing = error_at(&err, "collateral.vehicle");
        assert_eq!(
            missing.line,
            line_with(&text, "[collateral."),
            "the first collateral table"
        );
    }

    #[test]
    fn type_errors_deep_in_the_file_carry_their_line() {
        let text = DEFAULT_POLICY_TOML.replace("max_grade = \"G7\"", "max_grade = 7");
        let err = Policy::from_toml(&text).expect_err("a number where a grade name goes");
        assert_eq!(err.0.len(), 1, "{:?}", err.0);
        assert_eq!(err.0[0].field, "(file)");
        assert_eq!(err.0[0].line, line_with(&text, "max_grade = 7"), "{:?}", err.0);
    }
}
