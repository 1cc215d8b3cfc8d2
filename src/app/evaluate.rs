//! Score, Monitor, ScorePortfolio batches, GetDecision and the profile cache's own calls.

use std::collections::HashMap;

use super::ports::{Clock, DecisionStore, ProfileStore, StoreError, StoredProfile};
use super::{App, AppError, Observer, PortfolioObserver, Subject};
use crate::domain::decision::{Decision, ScoreResult, score_profile, score_profile_observed};
use crate::domain::monitoring::{LoanSnapshot, MonitorResult, monitor_observed};
use crate::domain::{EnterpriseProfile, Uscc};

/// A scored profile: the result, whose profile it was and the cached version (0 for inline).
#[derive(Debug, Clone)]
pub struct Scored {
    pub result: ScoreResult,
    pub enterprise_id: Uscc,
    pub profile_version: u64,
}

impl<P: ProfileStore, D: DecisionStore, O: Observer, C: Clock> App<P, D, O, C> {
    /// The profile to evaluate and its cached version (0 for inline).
    pub(super) async fn resolve(&self, subject: Subject, now: i64) -> Result<(EnterpriseProfile, u64), AppError> {
        match subject {
            Subject::Inline(p) => Ok((*p, 0)),
            Subject::Stored(id) => match self.profiles.get(&id, now).await? {
                Some(stored) => Ok((stored.profile, stored.version)),
                None => Err(AppError::profile_not_found(&id)),
            },
        }
    }

    /// Scores a profile, stage by stage under the observer.
    pub async fn score(&self, subject: Subject) -> Result<Scored, AppError> {
        let now = self.now_ms();
        let (profile, profile_version) = self.resolve(subject, now).await?;
        let policy = self.policy();
        let date = self.calendar.evaluation_date(now);
        let result = score_profile_observed(&profile, policy, date, &mut self.observer.stages());
        self.observer.scored(&result, policy);
        Ok(Scored {
            result,
            enterprise_id: profile.enterprise_id,
            profile_version,
        })
    }

    /// Monitors a loan, rescoring its borrower when there is one.
    pub async fn monitor(&self, loan: &LoanSnapshot, subject: Option<Subject>) -> Result<MonitorResult, AppError> {
        let now = self.now_ms();
        let profile = match subject {
            Some(s) => Some(self.resolve(s, now).await?.0),
            None => None,
        };
        let policy = self.policy();
        let date = self.calendar.evaluation_date(now);
        let result = monitor_observed(loan, profile.as_ref(), policy, date, &mut self.observer.monitor_steps());
        self.observer.monitored(&result, policy);
        Ok(result)
    }

    /// Scores one batch of a portfolio stream, in order; profiles by id are fetched together
    /// (one lookup, observed by `portfolio`). No stage is observed per item.
    pub async fn score_batch(
        &self,
        items: Vec<Result<Subject, AppError>>,
        portfolio: &mut impl PortfolioObserver,
    ) -> Vec<Result<Scored, AppError>> {
        let now = self.now_ms();
        let ids: Vec<Uscc> = items
            .iter()
            .filter_map(|s| match s {
                Ok(Subject::Stored(id)) => Some(id.clone()),
                _ => None,
            })
            .collect();
        let fetched = portfolio.lookup(ids.len(), self.lookup_many(&ids, now)).await;
        let results: Vec<Result<Scored, AppError>> = items
            .into_iter()
            .map(|item| self.score_item(item?, &fetched, now))
            .collect();
        portfolio.batch(results.len(), results.iter().filter(|r| r.is_err()).count());
        results
    }

    async fn lookup_many(&self, ids: &[Uscc], now: i64) -> Result<HashMap<Uscc, StoredProfile>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.profiles.get_many(ids, now).await
    }

    fn score_item(
        &self,
        subject: Subject,
        fetched: &Result<HashMap<Uscc, StoredProfile>, StoreError>,
        now: i64,
    ) -> Result<Scored, AppError> {
        let scored = |profile: &EnterpriseProfile, profile_version| Scored {
            result: score_profile(profile, self.policy(), self.calendar.evaluation_date(now)),
            enterprise_id: profile.enterprise_id.clone(),
            profile_version,
        };
        match subject {
            Subject::Inline(p) => Ok(scored(&p, 0)),
            Subject::Stored(id) => match fetched {
                Ok(found) => match found.get(&id) {
                    Some(stored) => Ok(scored(&stored.profile, stored.version)),
                    None => Err(AppError::profile_not_found(&id)),
                },
                Err(e) => Err(AppError::from(e.clone())),
            },
        }
    }

    /// A recorded decision by id (`id` as the caller sent it; ids are looked up lowercase).
    pub async fn decision(&self, id: &str) -> Result<Decision, AppError> {
        self.decisions
            .get(&id.to_ascii_lowercase())
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "decision",
                reason: "DECISION_NOT_FOUND",
                id: id.to_owned(),
            })
    }

    /// Stores a profile (conditionally with `expected_version`).
    pub async fn put_profile(
        &self,
        profile: EnterpriseProfile,
        expected_version: Option<u64>,
    ) -> Result<StoredProfile, AppError> {
        Ok(self.profiles.put(profile, expected_version, self.now_ms()).await?)
    }

    /// A live profile of the cache.
    pub async fn get_profile(&self, id: &Uscc) -> Result<StoredProfile, AppError> {
        self.profiles
            .read(id, self.now_ms())
            .await?
            .ok_or_else(|| AppError::profile_not_found(id))
    }

    /// Removes a profile; whether one was live. Not found unless `allow_missing`.
    pub async fn delete_profile(&self, id: &Uscc, allow_missing: bool) -> Result<bool, AppError> {
        let deleted = self.profiles.delete(id, self.now_ms()).await?;
        if !deleted && !allow_missing {
            return Err(AppError::profile_not_found(id));
        }
        Ok(deleted)
    }
}
