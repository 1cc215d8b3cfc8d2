//! Decision records on disk: insert-if-absent under the request id, the record, its expiry entry
//! and the stream entry in ONE write transaction, committed (fsync) before `record` returns.

use std::sync::Arc;

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::{
    DECISION_EXPIRY, DECISIONS, IDEM, Inner, STREAM, SWEEP_PER_WRITE, blocking, db_err, due_bound, expiry_key,
};
use crate::app::ports::{DecisionStore, Recorded, StoreError};
use crate::domain::Decision;
use crate::store::redis::{decode_decision, encode_decision, stream_fields};

/// Decision records, the idempotency index and the decision stream of one process.
#[derive(Clone)]
pub struct EmbeddedDecisionStore {
    pub(super) inner: Arc<Inner>,
}

/// One entry of the decision stream: its sequence number (from 1, increasing) and the fields the
/// Redis stream carries ([`stream_fields`]): no personal data, no profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    pub seq: u64,
    pub fields: Vec<(String, String)>,
}

/// `expires_at_ms` (8 bytes big-endian) in front of the record, so a read can tell an expired
/// record without decoding it.
fn stored_value(expires_at_ms: i64, record: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + record.len());
    v.extend_from_slice(&expires_at_ms.to_be_bytes());
    v.extend_from_slice(record);
    v
}

/// The decision in a stored value when it has not expired at `now`.
fn live_record(value: &[u8], now: i64) -> Result<Option<Decision>, StoreError> {
    let (expiry, record) = value
        .split_first_chunk::<8>()
        .ok_or_else(|| StoreError::Corrupt("decision record is truncated".to_owned()))?;
    if i64::from_be_bytes(*expiry) <= now {
        return Ok(None);
    }
    decode_decision(record).map(Some)
}

fn read_live(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
    now: i64,
) -> Result<Option<Decision>, StoreError> {
    match table.get(id).map_err(db_err)? {
        Some(guard) => live_record(guard.value(), now),
        None => Ok(None),
    }
}

/// Removes up to `limit` decisions (and their idempotency keys) that expired before `now`;
/// returns how many.
pub(super) fn sweep_expired(tx: &WriteTransaction, now: i64, limit: usize) -> Result<usize, StoreError> {
    let mut expiry = tx.open_table(DECISION_EXPIRY).map_err(db_err)?;
    let bound = due_bound(now);
    let mut due = Vec::new();
    for entry in expiry.range::<&[u8]>(..bound.as_slice()).map_err(db_err)?.take(limit) {
        let (k, v) = entry.map_err(db_err)?;
        due.push((k.value().to_vec(), v.value().to_owned()));
    }
    let mut decisions = tx.open_table(DECISIONS).map_err(db_err)?;
    let mut idem = tx.open_table(IDEM).map_err(db_err)?;
    for (key, request_id) in &due {
        let decision_id = std::str::from_utf8(key.get(8..).unwrap_or_default()).unwrap_or_default();
        decisions.remove(decision_id).map_err(db_err)?;
        // A retry after expiry may have recorded a new decision under the same request id.
        let points_here = idem
            .get(request_id.as_str())
            .map_err(db_err)?
            .is_some_and(|g| g.value() == decision_id);
        if points_here {
            idem.remove(request_id.as_str()).map_err(db_err)?;
        }
        expiry.remove(key.as_slice()).map_err(db_err)?;
    }
    Ok(due.len())
}

/// Appends the decision's stream entry and trims the stream to `maxlen` entries.
fn append_to_stream(tx: &WriteTransaction, decision: &Decision, maxlen: u64) -> Result<(), StoreError> {
    let mut stream = tx.open_table(STREAM).map_err(db_err)?;
    let next = stream.last().map_err(db_err)?.map_or(1, |(k, _)| k.value() + 1);
    let fields = serde_json::to_vec(&stream_fields(decision))
        .map_err(|e| StoreError::Corrupt(format!("stream entry encoding: {e}")))?;
    stream.insert(next, fields.as_slice()).map_err(db_err)?;
    while stream.len().map_err(db_err)? > maxlen {
        stream.pop_first().map_err(db_err)?;
    }
    Ok(())
}

impl Inner {
    fn record_blocking(&self, decision: Decision) -> Result<Recorded, StoreError> {
        let now = self.clock.now_ms();
        let record = encode_decision(&decision)?;
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let idem = tx.open_table(IDEM).map_err(db_err)?;
            let decisions = tx.open_table(DECISIONS).map_err(db_err)?;
            let existing_id = idem
                .get(decision.request_id.as_str())
                .map_err(db_err)?
                .map(|g| g.value().to_owned());
            if let Some(existing_id) = existing_id {
                // An expired record not yet swept counts as absent, as an expired Redis key does.
                if let Some(existing) = read_live(&decisions, &existing_id, now)? {
                    drop((idem, decisions));
                    tx.abort().map_err(db_err)?;
                    return Ok(Recorded::Existing(existing));
                }
            }
        }
        let expires_at = now.saturating_add(self.decision_retention_ms);
        {
            let mut idem = tx.open_table(IDEM).map_err(db_err)?;
            let mut decisions = tx.open_table(DECISIONS).map_err(db_err)?;
            let mut expiry = tx.open_table(DECISION_EXPIRY).map_err(db_err)?;
            let id = decision.decision_id.as_str();
            decisions
                .insert(id, stored_value(expires_at, &record).as_slice())
                .map_err(db_err)?;
            idem.insert(decision.request_id.as_str(), id).map_err(db_err)?;
            expiry
                .insert(expiry_key(expires_at, id).as_slice(), decision.request_id.as_str())
                .map_err(db_err)?;
        }
        append_to_stream(&tx, &decision, self.stream_maxlen)?;
        sweep_expired(&tx, now, SWEEP_PER_WRITE)?;
        tx.commit().map_err(db_err)?;
        Ok(Recorded::New(decision))
    }

    fn by_request_blocking(&self, request_id: &str) -> Result<Option<Decision>, StoreError> {
        let now = self.clock.now_ms();
        let tx = self.db.begin_read().map_err(db_err)?;
        let idem = tx.open_table(IDEM).map_err(db_err)?;
        let Some(id) = idem.get(request_id).map_err(db_err)?.map(|g| g.value().to_owned()) else {
            return Ok(None);
        };
        let decisions = tx.open_table(DECISIONS).map_err(db_err)?;
        match decisions.get(id.as_str()).map_err(db_err)? {
            Some(guard) => live_record(guard.value(), now),
            None => Err(StoreError::Corrupt(format!(
                "request {request_id} points to decision {id} whose record is missing"
            ))),
        }
    }

    fn get_blocking(&self, decision_id: &str) -> Result<Option<Decision>, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let decisions = tx.open_table(DECISIONS).map_err(db_err)?;
        read_live(&decisions, decision_id, self.clock.now_ms())
    }

    fn stream_after_blocking(&self, after: u64, limit: usize) -> Result<Vec<StreamEntry>, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let stream = tx.open_table(STREAM).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in stream.range(after.saturating_add(1)..).map_err(db_err)?.take(limit) {
            let (k, v) = entry.map_err(db_err)?;
            let fields: Vec<(String, String)> = serde_json::from_slice(v.value())
                .map_err(|e| StoreError::Corrupt(format!("stream entry {}: {e}", k.value())))?;
            out.push(StreamEntry { seq: k.value(), fields });
        }
        Ok(out)
    }
}

impl EmbeddedDecisionStore {
    /// Decision records in the file, expired ones not yet swept included (tests, diagnostics).
    pub async fn stored_records(&self) -> Result<u64, StoreError> {
        blocking(&self.inner, |inner| {
            let tx = inner.db.begin_read().map_err(db_err)?;
            tx.open_table(DECISIONS).map_err(db_err)?.len().map_err(db_err)
        })
        .await
    }

    /// Up to `limit` stream entries after sequence number `after` (0: from the oldest kept), in
    /// order. A consumer keeps the last `seq` it processed and asks again from there.
    pub async fn stream_after(&self, after: u64, limit: usize) -> Result<Vec<StreamEntry>, StoreError> {
        blocking(&self.inner, move |inner| inner.stream_after_blocking(after, limit)).await
    }
}

impl DecisionStore for EmbeddedDecisionStore {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn by_request(&self, request_id: &str) -> Result<Option<Decision>, StoreError> {
        let request_id = request_id.to_owned();
        blocking(&self.inner, move |inner| inner.by_request_blocking(&request_id)).await
    }

    async fn record(&self, decision: Decision) -> Result<Recorded, StoreError> {
        blocking(&self.inner, move |inner| inner.record_blocking(decision)).await
    }

    async fn get(&self, decision_id: &str) -> Result<Option<Decision>, StoreError> {
        let decision_id = decision_id.to_owned();
        blocking(&self.inner, move |inner| inner.get_blocking(&decision_id)).await
    }
}
