//! The one place where service errors ([`AppError`]) become gRPC statuses with standard error
//! details (`google.rpc.BadRequest`, `google.rpc.ErrorInfo`). Nothing a caller sent becomes
//! INTERNAL.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::app::{AppError, Violation};

pub use crate::pb::ERROR_DOMAIN;

/// The status of a service error.
pub fn from_app(e: AppError) -> Status {
    match e {
        AppError::Invalid(violations) => bad_request(violations),
        AppError::NotFound { what, reason, id } => Status::with_error_details(
            Code::NotFound,
            format!("{what} {id} not found"),
            ErrorDetails::with_error_info(reason, ERROR_DOMAIN, HashMap::from([("id".to_owned(), id)])),
        ),
        AppError::VersionConflict { expected, current } => Status::with_error_details(
            Code::Aborted,
            format!("profile version is {current}, not the expected {expected}: re-read and retry"),
            error_info(
                "PROFILE_VERSION_MISMATCH",
                [
                    ("expected_version", expected.to_string()),
                    ("current_version", current.to_string()),
                ],
            ),
        ),
        AppError::RequestIdReused {
            request_id,
            decision_id,
        } => Status::with_error_details(
            Code::AlreadyExists,
            format!("request_id {request_id} was already used for a different application; use a new request_id"),
            error_info(
                "REQUEST_ID_REUSED",
                [("request_id", request_id), ("decision_id", decision_id)],
            ),
        ),
        AppError::StoreUnavailable(msg) | AppError::StoreTimeout(msg) => {
            Status::unavailable(format!("dependency unavailable, retry later: {msg}"))
        }
        AppError::Internal(detail) => {
            // The detail stays in the log; callers get a generic message.
            tracing::error!(error = %detail, "internal error");
            Status::internal("internal error")
        }
    }
}

impl From<AppError> for Status {
    fn from(e: AppError) -> Self {
        from_app(e)
    }
}

/// DEADLINE_EXCEEDED, for a call that ran out of time.
pub fn deadline_exceeded() -> Status {
    Status::deadline_exceeded("the request's deadline passed before it completed")
}

fn bad_request(violations: Vec<Violation>) -> Status {
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

fn error_info<const N: usize>(reason: &str, metadata: [(&str, String); N]) -> ErrorDetails {
    let metadata: HashMap<String, String> = metadata.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata)
}

/// One invalid field.
pub fn invalid(field: &str, description: impl Into<String>) -> AppError {
    AppError::invalid(field, description)
}
