//! What a use case can fail with, in the service's own terms (adapters map it: `grpc::status`).

use super::ports::StoreError;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is invalid; every violation found.
    #[error("invalid request: {} field violation(s)", .0.len())]
    Invalid(Vec<Violation>),
    /// What the request is about does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        what: &'static str,
        reason: &'static str,
        id: String,
    },
    /// A conditional write found another version (the caller re-reads and retries).
    #[error("profile version conflict: expected {expected}, current {current}")]
    VersionConflict { expected: u64, current: u64 },
    /// The request id already names a decision about a different application.
    #[error("request id {request_id} was already used for a different application (decision {decision_id})")]
    RequestIdReused { request_id: String, decision_id: String },
    /// A store cannot serve the call now.
    #[error("dependency unavailable: {0}")]
    StoreUnavailable(String),
    /// A store did not answer in time.
    #[error("dependency timed out: {0}")]
    StoreTimeout(String),
    /// A bug or unreadable data: the detail is for the log, never for the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// One invalid field.
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        AppError::Invalid(vec![Violation {
            field: field.to_owned(),
            description: description.into(),
        }])
    }

    /// No live profile for `id`.
    pub fn profile_not_found(id: &impl ToString) -> Self {
        AppError::NotFound {
            what: "profile",
            reason: "PROFILE_NOT_FOUND",
            id: id.to_string(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(msg) => AppError::StoreUnavailable(msg),
            StoreError::Timeout(msg) => AppError::StoreTimeout(msg),
            StoreError::VersionConflict { expected, current } => AppError::VersionConflict { expected, current },
            StoreError::Corrupt(msg) => AppError::Internal(msg),
        }
    }
}
