//! The use cases of the service — Decide, Score, Monitor, MonitorPortfolio, ScorePortfolio and the profile
//! cache — over ports (stores, clock, ids) and an observer, in core types and [`AppError`].
//! No transport here: `grpc` adapts requests to these calls and their results back.

mod calendar;
mod decide;
pub mod error;
mod evaluate;
mod monitor_portfolio;
pub mod ports;
mod shared;

use std::future::Future;
use std::sync::Arc;

use time::Date;

pub use calendar::{Calendar, local_date};
pub use decide::DecideCommand;
pub use error::{AppError, Violation};
pub use evaluate::Scored;
pub use monitor_portfolio::{MAX_PORTFOLIO_LOANS, PortfolioLoan};
pub use ports::{
    Clock, DecisionStore, IdSource, ProfileStore, Recorded, StoreError, StoredProfile, SystemClock, UuidV7Ids, now_ms,
};
pub use shared::{SharedDecisions, SharedProfiles};

use crate::domain::decision::{Decision, ScoreResult, StageObserver, Unobserved};
use crate::domain::monitoring::{MonitorObserver, MonitorResult};
use crate::domain::{EnterpriseProfile, Uscc};
use crate::policy::Policy;

/// The policy in force and where it came from.
#[derive(Debug)]
pub struct LoadedPolicy {
    pub policy: Policy,
    /// "embedded" or the file path.
    pub source: String,
    pub loaded_at_ms: i64,
    pub content: String,
}

/// What a server is built from: the policy, the two stores and the business date.
pub struct AppState<P, D> {
    pub policy: Arc<LoadedPolicy>,
    pub profiles: P,
    pub decisions: D,
    /// A pinned business date (test, replay and batch environments); the bank-local calendar
    /// date when `None`.
    pub business_date: Option<Date>,
}

impl<P, D> AppState<P, D> {
    /// The business calendar of this state.
    pub fn calendar(&self) -> Calendar {
        Calendar {
            business_date: self.business_date,
            utc_offset_hours: self.policy.policy.utc_offset_hours,
        }
    }

    /// The date evaluations are made as of.
    pub fn evaluation_date(&self, now_ms: i64) -> Date {
        self.calendar().evaluation_date(now_ms)
    }

    /// Latest acceptable as-of date: the evaluation date plus a day of slack.
    pub fn latest_input_date(&self, now_ms: i64) -> Date {
        self.calendar().latest_input_date(now_ms)
    }
}

/// Whom a request is about.
#[derive(Debug, Clone)]
pub enum Subject {
    /// A profile of the cache, by id.
    Stored(Uscc),
    /// A profile sent with the request.
    Inline(Box<EnterpriseProfile>),
}

/// How a ScorePortfolio stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortfolioEnd {
    /// The client closed its side and every item was answered.
    Complete,
    /// Past `--max-stream-items`: the stream ended RESOURCE_EXHAUSTED.
    ItemLimit,
    /// The request stream broke (transport error, oversized item).
    InputError,
    /// The client went away before reading every answer.
    Cancelled,
    /// The server began shutting down: the stream ended UNAVAILABLE after the items read so far.
    Shutdown,
}

impl PortfolioEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            PortfolioEnd::Complete => "complete",
            PortfolioEnd::ItemLimit => "item_limit",
            PortfolioEnd::InputError => "input_error",
            PortfolioEnd::Cancelled => "cancelled",
            PortfolioEnd::Shutdown => "shutdown",
        }
    }
}

/// What the use cases tell an observer (telemetry implements it; [`NoObserver`] ignores all).
pub trait Observer: Send + Sync + 'static {
    /// Observes the stages of one Score or Decide.
    type Stages: StageObserver;
    /// Observes the steps of one Monitor.
    type MonitorSteps: MonitorObserver;
    /// Observes one ScorePortfolio stream.
    type Portfolio: PortfolioObserver;

    fn stages(&self) -> Self::Stages;
    /// A Score call's result.
    fn scored(&self, result: &ScoreResult, policy: &Policy);
    fn monitor_steps(&self) -> Self::MonitorSteps;
    /// A Monitor call's result.
    fn monitored(&self, result: &MonitorResult, policy: &Policy);
    /// A Decide call's decision (new or recorded before).
    fn decided(&self, decision: &Decision);
    /// Call inside the call that opens the stream, before spawning its task.
    fn portfolio(&self) -> Self::Portfolio;
}

/// Observes one ScorePortfolio stream, whose items are scored in a task of their own.
pub trait PortfolioObserver: Send + Sized + 'static {
    /// The stream's task, made by `task` from this observer.
    fn detached<Fut: Future + Send>(self, task: impl FnOnce(Self) -> Fut) -> impl Future<Output = Fut::Output> + Send;
    /// Runs the profile lookup of one batch of `requested` ids.
    fn lookup<F: Future + Send>(&mut self, requested: usize, lookup: F) -> impl Future<Output = F::Output> + Send;
    /// One batch answered: `items` responses, `failed` of them with an item error.
    fn batch(&mut self, items: usize, failed: usize);
    /// How the stream ended (`Cancelled` unless said otherwise).
    fn end(&mut self, end: PortfolioEnd);
}

/// Observes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {
    type Stages = Unobserved;
    type MonitorSteps = Unobserved;
    type Portfolio = NoObserver;

    fn stages(&self) -> Unobserved {
        Unobserved
    }
    fn scored(&self, _: &ScoreResult, _: &Policy) {}
    fn monitor_steps(&self) -> Unobserved {
        Unobserved
    }
    fn monitored(&self, _: &MonitorResult, _: &Policy) {}
    fn decided(&self, _: &Decision) {}
    fn portfolio(&self) -> NoObserver {
        NoObserver
    }
}

impl PortfolioObserver for NoObserver {
    fn detached<Fut: Future + Send>(self, task: impl FnOnce(Self) -> Fut) -> impl Future<Output = Fut::Output> + Send {
        task(self)
    }
    fn lookup<F: Future + Send>(&mut self, _: usize, lookup: F) -> impl Future<Output = F::Output> + Send {
        lookup
    }
    fn batch(&mut self, _: usize, _: usize) {}
    fn end(&mut self, _: PortfolioEnd) {}
}

/// The use cases over their ports.
pub struct App<P, D, O = NoObserver, C = SystemClock> {
    pub policy: Arc<LoadedPolicy>,
    pub calendar: Calendar,
    pub profiles: P,
    pub decisions: D,
    pub observer: O,
    pub clock: C,
}

impl<P, D, O, C: Clock> App<P, D, O, C> {
    /// The policy deciding.
    pub fn policy(&self) -> &Policy {
        &self.policy.policy
    }

    /// Now, by the clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Latest acceptable as-of date of an input, now.
    pub fn latest_input_date(&self) -> Date {
        self.calendar.latest_input_date(self.now_ms())
    }
}
