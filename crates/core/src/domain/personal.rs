//! Personal data of natural persons carried in a profile (docs/DOMAIN.md 12.2, 12.3): the actual controller's
//! name, resident identity number and mobile phone, and settlement account numbers.
//!
//! Each value is a validated newtype whose `Debug` shows the masked form only (ID first 6 +
//! last 4, phone first 3 + last 4, account last 4, name first character), so that a profile
//! printed with `{:?}` by mistake leaks nothing. None implements `Display`: the clear value is
//! reached through `expose()` only, which the code calls where the value must travel (storage,
//! GetProfile for callers allowed to read it). Serialised transparently as the clear string
//! (profile storage).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

/// Keeps the first `head` and last `tail` characters, stars in between (at least one star).
pub fn mask(value: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len().max(1));
    }
    let mut out: String = chars[..head].iter().collect();
    out.extend(std::iter::repeat_n('*', chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// How many stars follow the first character of a masked name, whatever the name's length.
const NAME_STARS: usize = 2;

/// A person's name masked to a form of fixed length: the first character (the family name, as
/// a letter's salutation would show it) and always two stars, so the mask does not tell how many
/// characters the given name has. Empty stays empty.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => std::iter::once(first)
            .chain(std::iter::repeat_n('*', NAME_STARS))
            .collect(),
        None => String::new(),
    }
}

/// Removes spaces and hyphens.
fn compact(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_whitespace() && *c != '-').collect()
}

macro_rules! personal_newtype {
    ($name:ident, $mask:expr) => {
        #[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The clear value. Only for storage and for callers allowed to read personal data.
            pub fn expose(&self) -> &str {
                &self.0
            }

            /// The masked form for logs and for callers not allowed to read personal data.
            pub fn masked(&self) -> String {
                let f: fn(&str) -> String = $mask;
                f(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.masked())
            }
        }
    };
}

personal_newtype!(ResidentId, |s| mask(s, 6, 4));
personal_newtype!(MobilePhone, |s| mask(s, 3, 4));
personal_newtype!(AccountNumber, |s| format!(
    "****{}",
    mask(s, 0, 4).trim_start_matches('*')
));
personal_newtype!(PersonName, mask_name);

/// ISO 7064 MOD 11-2 weights of the 17 digits of a resident ID (2^(17-i) mod 11).
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character by `sum mod 11`.
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The ISO 7064 MOD 11-2 check character of the first 17 digits.
pub fn resident_id_check_char(digits17: &[u8]) -> Option<char> {
    if digits17.len() != 17 || !digits17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = digits17
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    Some(char::from(ID_CHECK[(sum % 11) as usize]))
}

impl ResidentId {
    /// Parses an 18-character PRC resident identity number (GB 11643-1999). The error never
    /// repeats the value (it is personal data).
    pub fn parse(raw: &str, latest_date: Date) -> Result<Self, &'static str> {
        let id = compact(raw).to_ascii_uppercase();
        let bytes = id.as_bytes();
        if bytes.len() != 18 {
            return Err("must be 18 characters (17 digits and a check character)");
        }
        if !bytes[..17].iter().all(u8::is_ascii_digit) || !(bytes[17].is_ascii_digit() || bytes[17] == b'X') {
            return Err("must be 17 digits followed by a digit or X");
        }
        if bytes[0] == b'0' {
            return Err("must start with a region code (first digit 1-9)");
        }
        let birth = Self::birth_date_of(bytes).ok_or("positions 7-14 must be a birth date YYYYMMDD")?;
        if birth > latest_date || birth.year() < 1900 {
            return Err("birth date (positions 7-14) is out of range");
        }
        if resident_id_check_char(&bytes[..17]) != Some(char::from(bytes[17])) {
            return Err("check character does not match (ISO 7064 MOD 11-2)");
        }
        Ok(ResidentId(id))
    }

    fn birth_date_of(bytes: &[u8]) -> Option<Date> {
        let num = |r: std::ops::Range<usize>| std::str::from_utf8(bytes.get(r)?).ok()?.parse::<u32>().ok();
        let year = i32::try_from(num(6..10)?).ok()?;
        let month = Month::try_from(u8::try_from(num(10..12)?).ok()?).ok()?;
        let day = u8::try_from(num(12..14)?).ok()?;
        Date::from_calendar_date(year, month, day).ok()
    }

    /// The holder's birth date.
    pub fn birth_date(&self) -> Option<Date> {
        Self::birth_date_of(self.0.as_bytes())
    }
}

impl MobilePhone {
    /// Parses a mainland mobile number: 11 digits `1[3-9]xxxxxxxxx`, optionally prefixed with
    /// `+86` or `86`. Stored as the 11 digits.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let compacted = compact(raw);
        let digits = compacted.strip_prefix("+86").unwrap_or(&compacted);
        let digits = if digits.len() == 13 {
            digits.strip_prefix("86").unwrap_or(digits)
        } else {
            digits
        };
        let b = digits.as_bytes();
        if b.len() != 11 || !b.iter().all(u8::is_ascii_digit) || b[0] != b'1' || !(b'3'..=b'9').contains(&b[1]) {
            return Err("must be a mainland mobile number: 11 digits starting 13..19 (optionally +86)");
        }
        Ok(MobilePhone(digits.to_owned()))
    }
}

impl AccountNumber {
    /// Parses a bank account number: 8..32 digits once spaces and hyphens are removed.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let digits = compact(raw);
        if !(8..=32).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be 8..32 digits");
        }
        Ok(AccountNumber(digits))
    }
}

impl PersonName {
    /// Parses a person's name: 1..50 characters after trimming, no control characters.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        let count = name.chars().count();
        if count == 0 || count > 50 {
            return Err("must be 1..50 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(PersonName(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LATEST: Date = time::macros::date!(2026 - 12 - 01);

    #[test]
    fn resident_id_check_character_follows_iso_7064_mod_11_2() {
        // The GB 11643-1999 example and other published vectors.
        for id in ["11010519491231002X", "440304198506123455", "110101199003074477"] {
            assert!(ResidentId::parse(id, LATEST).is_ok(), "{id}");
        }
        assert_eq!(resident_id_check_char(b"11010519491231002"), Some('X'));
        assert!(ResidentId::parse("110105194912310021", LATEST).is_err());
        assert!(ResidentId::parse("11010519491231002x", LATEST).is_ok());
    }

    #[test]
    fn resident_id_rejects_bad_shapes_and_dates() {
        assert!(ResidentId::parse("1101051949123100", LATEST).is_err());
        assert!(ResidentId::parse("11010519491331002X", LATEST).is_err()); // month 13
        assert!(ResidentId::parse("01010519491231002X", LATEST).is_err()); // region
        // Born after the latest acceptable date (check character made right for the test).
        let mut future = b"11010520300101001".to_vec();
        let check = resident_id_check_char(&future).expect("17 digits");
        future.push(check as u8);
        let future = String::from_utf8(future).expect("ascii");
        assert_eq!(
            ResidentId::parse(&future, LATEST),
            Err("birth date (positions 7-14) is out of range")
        );
    }

    #[test]
    fn errors_never_echo_the_value() {
        for bad in ["11010519491231002Y", "123", "11010519491231002 1"] {
            if let Err(e) = ResidentId::parse(bad, LATEST) {
                assert!(!e.contains("1101"), "{e}");
            }
        }
    }

    #[test]
    fn masks_follow_domain_7_4() {
        let id = ResidentId::parse("11010519491231002X", LATEST).expect("valid");
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(format!("{id:?}"), "ResidentId(110105********002X)");
        let phone = MobilePhone::parse("+86 138-0013-8000").expect("valid");
        assert_eq!(phone.expose(), "13800138000");
        assert_eq!(phone.masked(), "138****8000");
        let account = AccountNumber::parse("6222 0212 3456 7890 123").expect("valid");
        assert_eq!(account.masked(), "****0123");
        let name = PersonName::parse(" 张三丰 ").expect("valid");
        assert_eq!(name.masked(), "张**");
        assert_eq!(format!("{name:?}"), "PersonName(张**)");
        assert_eq!(mask("ab", 3, 4), "**");
    }

    #[test]
    fn masked_names_do_not_reveal_their_length() {
        assert_eq!(mask_name("张三"), "张**");
        assert_eq!(mask_name("王小明"), "王**");
        assert_eq!(mask_name("欧阳娜娜"), "欧**");
        assert_eq!(mask_name("Li"), "L**");
        assert_eq!(mask_name(""), "");
        let two = PersonName::parse("张三").expect("valid");
        assert_eq!(format!("{two:?}"), "PersonName(张**)");
    }

    #[test]
    fn phones_and_accounts_are_validated() {
        assert!(MobilePhone::parse("8613800138000").is_ok());
        assert!(MobilePhone::parse("12800138000").is_err());
        assert!(MobilePhone::parse("010-12345678").is_err());
        assert!(AccountNumber::parse("1234567").is_err());
        assert!(AccountNumber::parse("12345678x").is_err());
        assert!(PersonName::parse("  ").is_err());
        assert!(PersonName::parse("a\u{0}b").is_err());
    }
}
