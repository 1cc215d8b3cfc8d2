//! Unified Social Credit Code (统一社会信用代码, GB 32100-2015) parsing and check-digit validation.
//!
//! 18 characters from a 31-symbol alphabet (no I, O, S, V, Z); the last is a mod-31 check
//! character with weights 3^(i-1) mod 31 (GB 32100-2015; docs/DOMAIN.md 12.1; python-stdnum `cn.uscc`).

use std::fmt;

const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// A syntactically valid USCC (normalised: trimmed, no spaces or hyphens, upper case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Uscc(String);

/// Why a string is not a valid USCC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    #[error("must be 18 characters after removing spaces and hyphens, got {0}")]
    Length(usize),
    #[error("character {ch:?} at position {position} is not allowed (allowed: 0-9 and A-Z except I, O, S, V, Z)")]
    Character { position: usize, ch: char },
    #[error("positions 3-8 must be a 6-digit administrative-division code")]
    Division,
    #[error("check character is {found:?} but should be {expected:?}")]
    CheckDigit { expected: char, found: char },
}

impl Uscc {
    /// Parses and fully validates, including the check character.
    pub fn parse(raw: &str) -> Result<Self, UsccError> {
        let (code, check) = Self::parse_format(raw)?;
        if let Some((expected, found)) = check {
            return Err(UsccError::CheckDigit { expected, found });
        }
        Ok(code)
    }

    /// Parses the format; returns the code and `Some((expected, found))` when only the check
    /// character is wrong, so a policy can choose to accept it with a refer flag.
    pub fn parse_format(raw: &str) -> Result<(Self, Option<(char, char)>), UsccError> {
        let normalised: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let count = normalised.chars().count();
        if count != 18 {
            return Err(UsccError::Length(count));
        }
        let mut values = [0u32; 18];
        for (i, ch) in normalised.chars().enumerate() {
            let value = ALPHABET
                .iter()
                .position(|&a| char::from(a) == ch)
                .ok_or(UsccError::Character { position: i + 1, ch })?;
            values[i] = value as u32;
        }
        if values[2..8].iter().any(|&v| v > 9) {
            return Err(UsccError::Division);
        }
        let sum: u32 = values[..17].iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
        let check = ((31 - sum % 31) % 31) as usize;
        let expected = char::from(ALPHABET[check]);
        let found = normalised.chars().last().unwrap_or(' ');
        let mismatch = (expected != found).then_some((expected, found));
        Ok((Uscc(normalised), mismatch))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Entity-type character (position 2): for market-regulation codes '1' enterprise,
    /// '2' individual business, '3' farmers' cooperative.
    pub fn entity_type(&self) -> char {
        self.0.chars().nth(1).unwrap_or('0')
    }
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_published_and_synthetic_vectors() {
        for code in [
            "91110000600037341L",
            "91440300MA5FLX5R1W",
            "92330100MA2H7K3L0N",
            "935101000000000008",
        ] {
            assert!(Uscc::parse(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn normalises_spaces_hyphens_and_case() {
        let code = Uscc::parse(" 9111-0000 6000 37341l ").expect("valid after normalising");
        assert_eq!(code.as_str(), "91110000600037341L");
    }

    #[test]
    fn rejects_wrong_check_character() {
        assert_eq!(
            Uscc::parse("91110000600037341M"),
            Err(UsccError::CheckDigit {
                expected: 'L',
                found: 'M'
            })
        );
        // The pilot-region code quoted in some references fails the mod-31 check.
        assert!(matches!(
            Uscc::parse("91350100M0001TGQXM"),
            Err(UsccError::CheckDigit { .. })
        ));
    }

    #[test]
    fn parse_format_reports_checksum_mismatch_separately() {
        let (code, mismatch) = Uscc::parse_format("91350100M0001TGQXM").expect("format is fine");
        assert_eq!(code.as_str(), "91350100M0001TGQXM");
        assert!(mismatch.is_some());
    }

    #[test]
    fn rejects_bad_length_alphabet_and_division() {
        assert_eq!(Uscc::parse("9111000060003734"), Err(UsccError::Length(16)));
        assert!(matches!(
            Uscc::parse("91110000600037341I"),
            Err(UsccError::Character { position: 18, .. })
        ));
        assert!(matches!(
            Uscc::parse("9111O000600037341L"),
            Err(UsccError::Character { position: 5, .. })
        ));
        assert_eq!(Uscc::parse("9111A000600037341L"), Err(UsccError::Division));
    }
}
