//! Personal data outside the stores (docs/DOMAIN.md 12.3): masked forms for people to read and an
//! HMAC-SHA256 pseudonym, keyed with a secret, for joins across logs and the decision stream.
//!
//! The key is process-wide, set once at start-up from `RISKD_PII_HMAC_KEY` or
//! `--pii-hmac-key-file` ([`install_key`]); without one a random per-process key is made on
//! first use and a warning logged (pseudonyms then only join within one process's lifetime).

use std::borrow::Cow;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::domain::personal::{mask, mask_name};
use crate::pb;

static KEY: OnceLock<hmac::Key> = OnceLock::new();
/// Set when the key came from configuration (not made up at random).
static CONFIGURED: AtomicBool = AtomicBool::new(false);

/// Shortest accepted key, bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// Installs the HMAC key. Fails when it is too short or a key is already in use.
pub fn install_key(secret: &[u8]) -> Result<(), String> {
    if secret.len() < MIN_KEY_BYTES {
        return Err(format!(
            "the PII HMAC key must be at least {MIN_KEY_BYTES} bytes, got {}",
            secret.len()
        ));
    }
    KEY.set(hmac::Key::new(hmac::HMAC_SHA256, secret))
        .map_err(|_| "the PII HMAC key is already set".to_owned())?;
    CONFIGURED.store(true, Ordering::Relaxed);
    Ok(())
}

/// Whether a configured key (rather than a random one) is in use.
pub fn key_installed() -> bool {
    CONFIGURED.load(Ordering::Relaxed)
}

fn key() -> &'static hmac::Key {
    KEY.get_or_init(|| {
        let mut bytes = [0u8; 32];
        if SystemRandom::new().fill(&mut bytes).is_err() {
            // No system randomness: keep going with a key only this process knows the time of.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            bytes[..16].copy_from_slice(&nanos.to_le_bytes());
        }
        tracing::warn!(
            "no PII HMAC key configured (RISKD_PII_HMAC_KEY or --pii-hmac-key-file): using a random \
             per-process key, so personal-data pseudonyms in logs and on the decision stream do not \
             join across restarts or replicas"
        );
        hmac::Key::new(hmac::HMAC_SHA256, &bytes)
    })
}

/// The keyed pseudonym of a personal value: the first 128 bits of HMAC-SHA256, hex.
pub fn pseudonym(value: &str) -> String {
    let tag = hmac::sign(key(), value.as_bytes());
    tag.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A USCC of an individual business (个体工商户: market-regulation authority '9', entity type
/// '2') identifies a person (docs/DOMAIN.md 12.3).
pub fn is_individual_business(uscc: &str) -> bool {
    uscc.starts_with("92")
}

/// An enterprise id as it may be logged or sent to a caller not allowed to read personal data:
/// in clear for organisations, masked (first 6 + last 4) for individual businesses.
pub fn enterprise_id_for_logs(uscc: &str) -> Cow<'_, str> {
    if is_individual_business(uscc) {
        Cow::Owned(mask(uscc, 6, 4))
    } else {
        Cow::Borrowed(uscc)
    }
}

/// Replaces the personal data of a decision with its masked form (Decide and GetDecision for
/// callers not allowed to read personal data): the enterprise id of an individual business. A
/// decision carries no other personal field (docs/SECURITY.md, "Personal data").
pub fn mask_decision(d: &mut pb::Decision) {
    if is_individual_business(&d.enterprise_id) {
        d.enterprise_id = mask(&d.enterprise_id, 6, 4);
    }
}

/// Replaces the personal fields of a profile with their masked forms (GetProfile for callers
/// not allowed to read personal data).
pub fn mask_profile(p: &mut pb::EnterpriseProfile) {
    if let Some(c) = p.controller.as_mut() {
        // Fixed length: the mask does not tell how long the name is.
        c.name = mask_name(&c.name);
        mask_in_place(&mut c.id_number, 6, 4);
        mask_in_place(&mut c.phone, 3, 4);
    }
    if let Some(b) = p.bank_flows.as_mut() {
        for account in &mut b.settlement_account_numbers {
            let last4: String = mask(account, 0, 4).trim_start_matches('*').to_owned();
            *account = format!("****{last4}");
        }
    }
}

fn mask_in_place(value: &mut String, head: usize, tail: usize) {
    if !value.is_empty() {
        *value = mask(value, head, tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn individual_business_ids_are_masked_for_logs() {
        assert_eq!(enterprise_id_for_logs("91110000600037341L"), "91110000600037341L");
        assert_eq!(enterprise_id_for_logs("92330100MA2H7K3L0N"), "923301********3L0N");
    }

    #[test]
    fn decisions_mask_only_an_individual_business_id() {
        let mut d = pb::Decision {
            enterprise_id: "92330100MA2H7K3L0N".into(),
            ..Default::default()
        };
        mask_decision(&mut d);
        assert_eq!(d.enterprise_id, "923301********3L0N");
        let mut org = pb::Decision {
            enterprise_id: "91110000600037341L".into(),
            ..Default::default()
        };
        mask_decision(&mut org);
        assert_eq!(org.enterprise_id, "91110000600037341L");
    }

    #[test]
    fn pseudonyms_are_stable_and_keyed() {
        let a = pseudonym("11010519491231002X");
        assert_eq!(a, pseudonym("11010519491231002X"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, pseudonym("110101199003074477"));
        assert!(!a.contains("1101051949"));
    }

    #[test]
    fn profile_masking() {
        let mut p = pb::EnterpriseProfile {
            controller: Some(pb::Controller {
                name: "张三".into(),
                id_number: "11010519491231002X".into(),
                phone: "13800138000".into(),
                ..Default::default()
            }),
            bank_flows: Some(pb::BankFlows {
                settlement_account_numbers: vec!["6222021234567890123".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        mask_profile(&mut p);
        let c = p.controller.as_ref().expect("controller");
        assert_eq!(
            (c.name.as_str(), c.id_number.as_str(), c.phone.as_str()),
            ("张**", "110105********002X", "138****8000")
        );
        assert_eq!(
            p.bank_flows.expect("flows").settlement_account_numbers,
            vec!["****0123"]
        );
    }
}
