//! Decorators of the store ports: a `profile.lookup` span per profile lookup of an evaluation,
//! a `profile.lookup_many` span per batch lookup, a `decision.record` span per record, and the
//! lookup and decision metrics. Spans only inside a sampled call ([`call_sampled`]).

use std::collections::HashMap;

use tracing::field::Empty;
use tracing::{Instrument as _, Span};

use super::grpc::call_sampled;
use super::metrics::{Lookup, metrics};
use crate::app::{Calendar, DecisionStore, ProfileStore, Recorded, StoreError, StoredProfile};
use crate::domain::{Decision, EnterpriseProfile, Uscc};

/// A [`ProfileStore`] whose evaluation lookups (`get`, `get_many`) are traced and counted.
pub struct TracedProfileStore<S> {
    inner: S,
    /// For the age of a profile's financial data at the evaluation date.
    calendar: Calendar,
}

impl<S: ProfileStore> TracedProfileStore<S> {
    pub fn new(inner: S, calendar: Calendar) -> Self {
        TracedProfileStore { inner, calendar }
    }

    fn lookup_span(&self) -> Span {
        if !call_sampled() {
            return Span::none();
        }
        tracing::debug_span!(
            "profile.lookup",
            profile.store = self.inner.kind(),
            profile.found = Empty,
            profile.version = Empty,
            profile.cache_age_s = Empty,
            profile.data_age_days = Empty,
            otel.status_code = Empty,
        )
    }

    fn looked_up(&self, span: &Span, result: &Result<Option<StoredProfile>, StoreError>, now_ms: i64) -> Lookup {
        match result {
            Ok(Some(stored)) => {
                if !span.is_disabled() {
                    span.record("profile.found", true);
                    span.record("profile.version", stored.version);
                    span.record("profile.cache_age_s", (now_ms - stored.stored_at_ms).max(0) / 1000);
                    span.record(
                        "profile.data_age_days",
                        (self.calendar.evaluation_date(now_ms) - stored.profile.financials.as_of).whole_days(),
                    );
                }
                Lookup::Hit
            }
            Ok(None) => {
                span.record("profile.found", false);
                Lookup::Miss
            }
            Err(_) => {
                span.record("otel.status_code", "ERROR");
                Lookup::Error
            }
        }
    }
}

impl<S: ProfileStore> ProfileStore for TracedProfileStore<S> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn put(
        &self,
        profile: EnterpriseProfile,
        expected_version: Option<u64>,
        now_ms: i64,
    ) -> Result<StoredProfile, StoreError> {
        self.inner.put(profile, expected_version, now_ms).await
    }

    /// Under a `profile.lookup` span (store, hit or miss, cache age, age of the financial
    /// data), counted.
    async fn get(&self, id: &Uscc, now_ms: i64) -> Result<Option<StoredProfile>, StoreError> {
        let span = self.lookup_span();
        let result = self.inner.get(id, now_ms).instrument(span.clone()).await;
        let outcome = self.looked_up(&span, &result, now_ms);
        metrics().profile_lookup(self.inner.kind(), outcome, 1);
        result
    }

    async fn read(&self, id: &Uscc, now_ms: i64) -> Result<Option<StoredProfile>, StoreError> {
        self.inner.read(id, now_ms).await
    }

    /// Under one `profile.lookup_many` span, counted per id.
    async fn get_many(&self, ids: &[Uscc], now_ms: i64) -> Result<HashMap<Uscc, StoredProfile>, StoreError> {
        let kind = self.inner.kind();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let span = if call_sampled() {
            tracing::debug_span!(
                "profile.lookup_many",
                profile.store = kind,
                profile.requested = ids.len(),
                profile.found = Empty,
                otel.status_code = Empty,
            )
        } else {
            Span::none()
        };
        let result = self.inner.get_many(ids, now_ms).instrument(span.clone()).await;
        match &result {
            Ok(found) => {
                span.record("profile.found", found.len());
                metrics().profile_lookup(kind, Lookup::Hit, found.len() as u64);
                metrics().profile_lookup(kind, Lookup::Miss, ids.len().saturating_sub(found.len()) as u64);
            }
            Err(_) => {
                span.record("otel.status_code", "ERROR");
                metrics().profile_lookup(kind, Lookup::Error, ids.len() as u64);
            }
        }
        result
    }

    async fn delete(&self, id: &Uscc, now_ms: i64) -> Result<bool, StoreError> {
        self.inner.delete(id, now_ms).await
    }
}

/// A [`DecisionStore`] whose records are traced, and counted in the decision metrics when new
/// (a retry that gets the recorded decision back is not).
pub struct TracedDecisionStore<S> {
    inner: S,
}

impl<S: DecisionStore> TracedDecisionStore<S> {
    pub fn new(inner: S) -> Self {
        TracedDecisionStore { inner }
    }
}

impl<S: DecisionStore> DecisionStore for TracedDecisionStore<S> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn new_decision_id(&self, request_id: &str) -> String {
        self.inner.new_decision_id(request_id)
    }

    async fn by_request(&self, request_id: &str) -> Result<Option<Decision>, StoreError> {
        self.inner.by_request(request_id).await
    }

    /// Under a `decision.record` span.
    async fn record(&self, decision: Decision) -> Result<Recorded, StoreError> {
        let span = if call_sampled() {
            tracing::debug_span!(
                "decision.record",
                decision.store = self.inner.kind(),
                decision.id = decision.decision_id.as_str(),
                decision.recorded = Empty,
                otel.status_code = Empty,
            )
        } else {
            Span::none()
        };
        let result = self.inner.record(decision).instrument(span.clone()).await;
        match &result {
            Ok(Recorded::New(d)) => {
                span.record("decision.recorded", "new");
                metrics().decision_recorded(&d.evaluation);
            }
            Ok(Recorded::Existing(d)) => {
                span.record("decision.recorded", "existing");
                span.record("decision.id", d.decision_id.as_str());
            }
            Err(_) => {
                span.record("otel.status_code", "ERROR");
            }
        }
        result
    }

    async fn get(&self, decision_id: &str) -> Result<Option<Decision>, StoreError> {
        self.inner.get(decision_id).await
    }
}
