//! Decision records in Redis: insert-if-absent under the request id, the record itself and the
//! event-stream entry written by ONE Lua script, all in the hash slot of the request's shard.

use std::sync::{Arc, LazyLock};

use ::redis::Script;

use super::Shared;
use super::keys::{shard_of_decision_id, stamped_decision_id};
use crate::app::ports::{DecisionStore, Recorded, StoreError};
use crate::domain::{Decision, Outcome};

/// Schema byte in front of the CBOR of a decision record. CBOR rather than JSON because an
/// evaluation can hold non-finite floats (an infinite DSCR when there is no debt to serve),
/// which JSON turns into `null` and cannot read back.
pub const DECISION_SCHEMA_V1: u8 = 1;

/// KEYS[1] idem key, KEYS[2] decision key, KEYS[3] stream (one hash tag).
/// ARGV[1] decision id, ARGV[2] record, ARGV[3] retention ms, ARGV[4] stream MAXLEN (~),
/// ARGV[5] decision key prefix of this shard (to read back an existing decision),
/// ARGV[6..] stream field/value pairs.
/// Returns {1, id, nil} when recorded, {0, existing id, existing record or nil} when the request id
/// already has a decision.
static RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, 6))
  return {1, ARGV[1], false}
end
local existing = redis.call('GET', KEYS[1])
return {0, existing, redis.call('GET', ARGV[5] .. existing)}
"#,
    )
});

/// KEYS[1] idem key; ARGV[1] decision key prefix of its shard.
/// Returns nil, or {decision id, record or nil}.
static BY_REQUEST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local id = redis.call('GET', KEYS[1])
if not id then
  return false
end
return {id, redis.call('GET', ARGV[1] .. id)}
"#,
    )
});

/// Decision records shared by every replica through Redis.
#[derive(Clone)]
pub struct RedisDecisionStore {
    pub(super) shared: Arc<Shared>,
}

impl RedisDecisionStore {
    /// PING within the call budget (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.shared.ping().await
    }

    /// The decision event streams, one per shard (consumers read them all, e.g. with one
    /// `XREAD` per stream or a consumer group per stream).
    pub fn stream_keys(&self) -> Vec<String> {
        self.shared.keys.streams()
    }

    /// The key prefix in use.
    pub fn prefix(&self) -> &str {
        self.shared.keys.prefix()
    }
}

pub(crate) fn encode_decision(d: &Decision) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![DECISION_SCHEMA_V1];
    ciborium::into_writer(d, &mut out).map_err(|e| StoreError::Corrupt(format!("decision encoding: {e}")))?;
    Ok(out)
}

pub(crate) fn decode_decision(bytes: &[u8]) -> Result<Decision, StoreError> {
    match bytes.split_first() {
        Some((&DECISION_SCHEMA_V1, cbor)) => {
            ciborium::from_reader(cbor).map_err(|e| StoreError::Corrupt(format!("decision record: {e}")))
        }
        Some((other, _)) => Err(StoreError::Corrupt(format!(
            "decision record has unknown schema version {other}"
        ))),
        None => Err(StoreError::Corrupt("decision record is empty".to_owned())),
    }
}

/// Outcome names on the stream (the proto enum without its prefix).
pub fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Approve => "APPROVE",
        Outcome::CounterOffer => "COUNTER_OFFER",
        Outcome::Refer => "REFER",
        Outcome::Decline => "DECLINE",
    }
}

/// The stream entry of a decision: identifiers, outcome and provenance, no personal data and
/// no profile. The USCC of an individual business identifies a person (docs/DOMAIN.md 12.3): it goes
/// on the stream masked, with its keyed pseudonym (`enterprise_ref`, HMAC-SHA256) for joins.
pub fn stream_fields(d: &Decision) -> Vec<(&'static str, String)> {
    use crate::pii;
    let e = &d.evaluation;
    let mut fields = vec![
        ("decision_id", d.decision_id.clone()),
        ("request_id", d.request_id.clone()),
        (
            "enterprise_id",
            pii::enterprise_id_for_logs(&d.enterprise_id).into_owned(),
        ),
        ("product", d.product.key().to_owned()),
        ("outcome", outcome_name(e.outcome).to_owned()),
        ("grade", e.scorecard.grade.clone()),
        ("score", e.scorecard.score.to_string()),
        ("requested_amount_minor", d.requested_amount.0.to_string()),
        ("approved_amount_minor", e.approved_amount.0.to_string()),
        ("policy_version", e.policy_version.clone()),
        ("profile_version", d.profile_version.to_string()),
        ("inputs_digest", d.inputs_digest.clone()),
        ("decided_at_ms", d.decided_at_ms.to_string()),
        ("caller", d.caller.clone()),
    ];
    if pii::is_individual_business(&d.enterprise_id) {
        fields.push(("enterprise_ref", pii::pseudonym(&d.enterprise_id)));
    }
    fields
}

type Existing = (Option<String>, Option<Vec<u8>>);

impl DecisionStore for RedisDecisionStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn new_decision_id(&self, request_id: &str) -> String {
        stamped_decision_id(self.shared.keys.shard_of_request(request_id))
    }

    async fn by_request(&self, request_id: &str) -> Result<Option<Decision>, StoreError> {
        let keys = &self.shared.keys;
        let shard = keys.shard_of_request(request_id);
        let mut inv = BY_REQUEST.prepare_invoke();
        inv.key(keys.idem(shard, request_id)).arg(keys.decision_prefix(shard));
        let found: Option<Existing> = self.shared.redis.invoke("decision by request", &inv).await?;
        match found {
            None => Ok(None),
            Some((_, Some(bytes))) => decode_decision(&bytes).map(Some),
            Some((id, None)) => Err(StoreError::Corrupt(format!(
                "request {request_id} points to decision {} whose record is missing",
                id.unwrap_or_default()
            ))),
        }
    }

    async fn record(&self, decision: Decision) -> Result<Recorded, StoreError> {
        let keys = &self.shared.keys;
        let shard = keys.shard_of_request(&decision.request_id);
        if shard_of_decision_id(&decision.decision_id) != Some(shard) {
            // The three keys of the script must share a hash slot: only ids from
            // `new_decision_id` carry the right shard.
            return Err(StoreError::Corrupt(format!(
                "decision id {} was not issued for request {} (use DecisionStore::new_decision_id)",
                decision.decision_id, decision.request_id
            )));
        }
        let record = encode_decision(&decision)?;
        let mut inv = RECORD.prepare_invoke();
        inv.key(keys.idem(shard, &decision.request_id))
            .key(keys.decision(shard, &decision.decision_id))
            .key(keys.stream(shard))
            .arg(&decision.decision_id)
            .arg(record)
            .arg(self.shared.decision_retention_ms)
            .arg(self.shared.stream_maxlen)
            .arg(keys.decision_prefix(shard));
        for (field, value) in stream_fields(&decision) {
            inv.arg(field).arg(value);
        }
        let reply: (i64, Option<String>, Option<Vec<u8>>) = self.shared.redis.invoke("record decision", &inv).await?;
        match reply {
            (1, _, _) => Ok(Recorded::New(decision)),
            (_, _, Some(bytes)) => decode_decision(&bytes).map(Recorded::Existing),
            (_, id, None) => Err(StoreError::Corrupt(format!(
                "request {} points to decision {} whose record is missing",
                decision.request_id,
                id.unwrap_or_default()
            ))),
        }
    }

    async fn get(&self, decision_id: &str) -> Result<Option<Decision>, StoreError> {
        let Some(shard) = shard_of_decision_id(decision_id) else {
            return Ok(None);
        };
        let key = self.shared.keys.decision(shard, decision_id);
        let bytes: Option<Vec<u8>> = self
            .shared
            .redis
            .query("get decision", ::redis::cmd("GET").arg(&key))
            .await?;
        bytes.map(|b| decode_decision(&b)).transpose()
    }
}
