//! The one place where service errors become gRPC statuses with standard error details
//! (`google.rpc.BadRequest`, `google.rpc.ErrorInfo`). Nothing a caller sent becomes INTERNAL.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use super::validate::Violation;
use crate::store::StoreError;

/// Error domain in `ErrorInfo`.
pub const ERROR_DOMAIN: &str = "riskdecision.v1";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request: {} field violation(s)", .0.len())]
    Invalid(Vec<Violation>),
    #[error("{what} {id} not found")]
    NotFound {
        what: &'static str,
        reason: &'static str,
        id: String,
    },
    #[error("profile version conflict: expected {expected}, current {current}")]
    VersionConflict { expected: u64, current: u64 },
    #[error("request id {request_id} was already used for a different application (decision {decision_id})")]
    RequestIdReused { request_id: String, decision_id: String },
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    #[error("deadline exceeded")]
    DeadlineExceeded,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(msg) => ApiError::Unavailable(msg),
            StoreError::VersionConflict { expected, current } => ApiError::VersionConflict { expected, current },
            StoreError::Corrupt(msg) => ApiError::Internal(msg),
        }
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Invalid(violations) => {
                let message = match violations.first() {
                    Some(v) if violations.len() == 1 => format!("invalid {}: {}", v.field, v.description),
                    Some(v) => format!(
                        "{} invalid fields; first: {}: {}",
                        violations.len(),
                        v.field,
                        v.description
                    ),
                    None => "invalid request".to_owned(),
                };
                let fv: Vec<FieldViolation> = violations
                    .into_iter()
                    .map(|v| FieldViolation::new(v.field, v.description))
                    .collect();
                Status::with_error_details(Code::InvalidArgument, message, ErrorDetails::with_bad_request(fv))
            }
            ApiError::NotFound { what, reason, id } => Status::with_error_details(
                Code::NotFound,
                format!("{what} {id} not found"),
                ErrorDetails::with_error_info(reason, ERROR_DOMAIN, HashMap::from([("id".to_owned(), id)])),
            ),
            ApiError::VersionConflict { expected, current } => Status::with_error_details(
                Code::Aborted,
                format!("profile version is {current}, not the expected {expected}: re-read and retry"),
                ErrorDetails::with_error_info(
                    "PROFILE_VERSION_MISMATCH",
                    ERROR_DOMAIN,
                    HashMap::from([
                        ("expected_version".to_owned(), expected.to_string()),
                        ("current_version".to_owned(), current.to_string()),
                    ]),
                ),
            ),
            ApiError::RequestIdReused {
                request_id,
                decision_id,
            } => Status::with_error_details(
                Code::AlreadyExists,
                format!("request_id {request_id} was already used for a different application; use a new request_id"),
                ErrorDetails::with_error_info(
                    "REQUEST_ID_REUSED",
                    ERROR_DOMAIN,
                    HashMap::from([
                        ("request_id".to_owned(), request_id),
                        ("decision_id".to_owned(), decision_id),
                    ]),
                ),
            ),
            ApiError::Unavailable(msg) => Status::unavailable(format!("dependency unavailable, retry later: {msg}")),
            ApiError::DeadlineExceeded => {
                Status::deadline_exceeded("the request's deadline passed before it completed")
            }
            ApiError::Internal(detail) => {
                // The detail stays in the log; callers get a generic message.
                tracing::error!(error = %detail, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

pub fn invalid(field: &str, description: impl Into<String>) -> ApiError {
    ApiError::Invalid(vec![Violation {
        field: field.to_owned(),
        description: description.into(),
    }])
}
