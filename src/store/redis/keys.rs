//! The Redis key scheme (see the module documentation of `store::redis` for the layout and the
//! Redis Cluster slot choice) and the decision-shard arithmetic.

use sha2::{Digest, Sha256};

use crate::domain::Uscc;

/// Largest number of decision shards: the shard is stamped into one byte of the decision id.
pub const MAX_DECISION_SHARDS: u16 = 256;

/// Builds every key riskd uses from a validated prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    shards: u16,
}

/// Why a key prefix is refused.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > 64 {
        return Err("the Redis key prefix must be 1..64 characters".to_owned());
    }
    if !prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
    {
        return Err(format!(
            "the Redis key prefix {prefix:?} may only use A-Z, a-z, 0-9, '.', '_', ':' and '-' \
             (braces would break the Cluster hash tags)"
        ));
    }
    Ok(())
}

impl Keys {
    pub fn new(prefix: &str, shards: u16) -> Result<Self, String> {
        check_prefix(prefix)?;
        if shards == 0 || shards > MAX_DECISION_SHARDS {
            return Err(format!(
                "decision shards must be 1..={MAX_DECISION_SHARDS}, got {shards}"
            ));
        }
        Ok(Keys {
            prefix: prefix.to_owned(),
            shards,
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn shards(&self) -> u16 {
        self.shards
    }

    /// `{prefix}:profile:{<id>}`: schema byte + JSON of the stored profile, with the profile TTL.
    pub fn profile(&self, id: &Uscc) -> String {
        format!("{}:profile:{{{}}}", self.prefix, id.as_str())
    }

    /// `{prefix}:profile-version:{<id>}`: the last version written, without TTL, so that versions
    /// never go back after expiry or delete. Same hash tag as the profile.
    pub fn profile_version(&self, id: &Uscc) -> String {
        format!("{}:profile-version:{{{}}}", self.prefix, id.as_str())
    }

    /// The decision shard of a request id: a stable hash, so every replica agrees.
    pub fn shard_of_request(&self, request_id: &str) -> u8 {
        let digest = Sha256::digest(request_id.as_bytes());
        let h = u16::from_be_bytes([digest[0], digest[1]]);
        // shards <= 256, so the remainder fits in a byte.
        u8::try_from(h % self.shards).unwrap_or(0)
    }

    /// `{prefix}:idem:{d<shard>}:<request_id>` -> decision id.
    pub fn idem(&self, shard: u8, request_id: &str) -> String {
        format!("{}:idem:{{d{shard}}}:{request_id}", self.prefix)
    }

    /// `{prefix}:decision:{d<shard>}:` (the decision id follows).
    pub fn decision_prefix(&self, shard: u8) -> String {
        format!("{}:decision:{{d{shard}}}:", self.prefix)
    }

    /// `{prefix}:decision:{d<shard>}:<decision_id>` -> schema byte + CBOR of the decision.
    pub fn decision(&self, shard: u8, decision_id: &str) -> String {
        format!("{}{decision_id}", self.decision_prefix(shard))
    }

    /// `{prefix}:decisions:{d<shard>}`: the decision event stream of one shard.
    pub fn stream(&self, shard: u8) -> String {
        format!("{}:decisions:{{d{shard}}}", self.prefix)
    }

    /// Every decision stream, for consumers and tests.
    pub fn streams(&self) -> Vec<String> {
        (0..self.shards)
            .filter_map(|s| u8::try_from(s).ok())
            .map(|s| self.stream(s))
            .collect()
    }
}

/// A fresh decision id for a request: a UUIDv7 whose last byte is the request's shard, so that a
/// decision can be found by its id alone (GetDecision) in the slot its request id chose.
pub fn stamped_decision_id(shard: u8) -> String {
    let mut bytes = *uuid::Uuid::now_v7().as_bytes();
    // Byte 15 is random in a UUIDv7 (rand_b); version and variant bits are elsewhere.
    bytes[15] = shard;
    uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
}

/// The shard stamped into a decision id, if it is a UUID.
pub fn shard_of_decision_id(decision_id: &str) -> Option<u8> {
    uuid::Uuid::try_parse(decision_id).ok().map(|u| u.as_bytes()[15])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uscc() -> Uscc {
        Uscc::parse("91110000600037341L").expect("valid uscc")
    }

    #[test]
    fn profile_keys_share_one_hash_tag() {
        let k = Keys::new("riskd", 1).expect("keys");
        assert_eq!(k.profile(&uscc()), "riskd:profile:{91110000600037341L}");
        assert_eq!(k.profile_version(&uscc()), "riskd:profile-version:{91110000600037341L}");
    }

    #[test]
    fn decision_keys_share_the_request_shard_tag() {
        let k = Keys::new("riskd", 16).expect("keys");
        let shard = k.shard_of_request("req-1");
        assert!(shard < 16);
        let id = stamped_decision_id(shard);
        assert_eq!(shard_of_decision_id(&id), Some(shard));
        assert_eq!(k.idem(shard, "req-1"), format!("riskd:idem:{{d{shard}}}:req-1"));
        assert_eq!(k.decision(shard, &id), format!("riskd:decision:{{d{shard}}}:{id}"));
        assert_eq!(k.stream(shard), format!("riskd:decisions:{{d{shard}}}"));
        assert_eq!(k.streams().len(), 16);
        // Stamped ids stay valid version-7 UUIDs.
        let parsed = uuid::Uuid::parse_str(&id).expect("uuid");
        assert_eq!(parsed.get_version_num(), 7);
    }

    #[test]
    fn one_shard_maps_everything_to_zero() {
        let k = Keys::new("p", 1).expect("keys");
        for r in ["a", "b", "c", "request-000042"] {
            assert_eq!(k.shard_of_request(r), 0);
        }
    }

    #[test]
    fn shards_spread_requests() {
        let k = Keys::new("p", 16).expect("keys");
        let mut seen = [0u32; 16];
        for i in 0..1600 {
            seen[usize::from(k.shard_of_request(&format!("req-{i}")))] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }

    #[test]
    fn bad_prefixes_and_shard_counts_are_refused() {
        assert!(Keys::new("", 1).is_err());
        assert!(Keys::new("a{b}", 1).is_err());
        assert!(Keys::new("a b", 1).is_err());
        assert!(Keys::new("ok", 0).is_err());
        assert!(Keys::new("ok", 257).is_err());
        assert!(Keys::new("ok.test-1:x", 256).is_ok());
        assert_eq!(shard_of_decision_id("not-a-uuid"), None);
    }
}
