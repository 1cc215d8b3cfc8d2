//! The one place where service errors ([`AppError`]) become gRPC statuses with standard error
//! details (`google.rpc.BadRequest`, `google.rpc.ErrorInfo`). Nothing a caller sent becomes
//! INTERNAL.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::app::{AppError, Violation};

pub use crate::pb::ERROR_DOMAIN;

// Service limits of an INVALID_ARGUMENT answer (not credit policy). Its `BadRequest` travels in
// the `grpc-status-details-bin` trailer, base64-encoded next to `grpc-message`, and C-core gRPC
// clients (Python, C++, Ruby) refuse response metadata over 8 KiB by default: they then report
// RESOURCE_EXHAUSTED instead of our answer. With these bounds the trailer stays under about
// 6 KiB whatever the request: at most 20 violations, each field path and description clipped to
// 160 bytes, at most 3 KiB of them, then one last violation saying how many were left out.

/// Field violations listed in one answer; the rest are counted in a last violation.
pub const MAX_FIELD_VIOLATIONS: usize = 20;
/// Longest field path or description of a listed violation (bytes; clipped at a character).
pub const MAX_VIOLATION_TEXT_BYTES: usize = 160;
/// Field paths and descriptions listed in one answer, in bytes.
pub const MAX_FIELD_VIOLATION_BYTES: usize = 3 * 1024;

/// How long a caller should wait before retrying a call that failed because a store (Redis)
/// did not answer: the readiness probe checks it every 2 s and the client reconnects by itself,
/// so a second is the scale on which it comes back (not credit policy).
pub const STORE_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

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
        AppError::StoreUnavailable(msg) | AppError::StoreTimeout(msg) => store_unavailable(&msg),
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

/// UNAVAILABLE for a store that failed or did not answer in time, with `google.rpc.RetryInfo`.
///
/// The store may still have recorded a decision it did not confirm in time (a Redis that
/// resumes after a stall runs the script it had received): a retry with the same `request_id`
/// then returns that decision, never a second one. The `ErrorInfo` says so to programs.
fn store_unavailable(detail: &str) -> Status {
    let mut details = ErrorDetails::with_retry_info(Some(STORE_RETRY_DELAY));
    details.set_error_info(
        "STORE_UNAVAILABLE",
        ERROR_DOMAIN,
        HashMap::from([("retry_with_same_request_id".to_owned(), "true".to_owned())]),
    );
    Status::with_error_details(
        Code::Unavailable,
        format!(
            "dependency unavailable, retry later with the same request_id (a decision recorded meanwhile is returned, not made twice): {detail}"
        ),
        details,
    )
}

/// `text` cut to at most `max` bytes at a character boundary, marked with "..." when cut.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

fn bad_request(violations: Vec<Violation>) -> Status {
    let total = violations.len();
    let message = match violations.first() {
        Some(v) if total == 1 => format!(
            "invalid {}: {}",
            clip(&v.field, MAX_VIOLATION_TEXT_BYTES),
            clip(&v.description, MAX_VIOLATION_TEXT_BYTES)
        ),
        Some(v) => format!(
            "{total} invalid fields; first: {}: {}",
            clip(&v.field, MAX_VIOLATION_TEXT_BYTES),
            clip(&v.description, MAX_VIOLATION_TEXT_BYTES)
        ),
        None => "invalid request".to_owned(),
    };
    let mut listed = Vec::with_capacity(total.min(MAX_FIELD_VIOLATIONS) + 1);
    let mut bytes = 0;
    for v in violations.into_iter().take(MAX_FIELD_VIOLATIONS) {
        let field = clip(&v.field, MAX_VIOLATION_TEXT_BYTES);
        let description = clip(&v.description, MAX_VIOLATION_TEXT_BYTES);
        bytes += field.len() + description.len();
        if bytes > MAX_FIELD_VIOLATION_BYTES {
            break;
        }
        listed.push(FieldViolation::new(field, description));
    }
    let left_out = total - listed.len();
    if left_out > 0 {
        // An empty field path: the request as a whole.
        listed.push(FieldViolation::new(
            "",
            format!(
                "{left_out} more invalid field{} left out (at most {MAX_FIELD_VIOLATIONS} are listed): correct these and send again",
                if left_out == 1 { "" } else { "s" }
            ),
        ));
    }
    Status::with_error_details(Code::InvalidArgument, message, ErrorDetails::with_bad_request(listed))
}

fn error_info<const N: usize>(reason: &str, metadata: [(&str, String); N]) -> ErrorDetails {
    let metadata: HashMap<String, String> = metadata.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata)
}

/// One invalid field.
pub fn invalid(field: &str, description: impl Into<String>) -> AppError {
    AppError::invalid(field, description)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violations(n: usize, description: &str) -> Vec<Violation> {
        (0..n)
            .map(|i| Violation {
                field: format!("application.collateral[{i}].appraised_value.currency"),
                description: description.to_owned(),
            })
            .collect()
    }

    #[test]
    fn violations_are_listed_up_to_the_cap_then_counted() {
        let status = bad_request(violations(3, "is required"));
        let listed = status.get_details_bad_request().expect("details").field_violations;
        assert_eq!(listed.len(), 3);
        let status = bad_request(violations(57, "is required"));
        let listed = status.get_details_bad_request().expect("details").field_violations;
        assert_eq!(listed.len(), MAX_FIELD_VIOLATIONS + 1);
        let last = listed.last().expect("last");
        assert_eq!(last.field, "");
        assert!(
            last.description.starts_with("37 more invalid fields left out"),
            "{last:?}"
        );
        assert!(status.message().starts_with("57 invalid fields; first: "));
    }

    #[test]
    fn long_and_non_ascii_texts_are_clipped_within_the_byte_budget() {
        let status = bad_request(violations(40, &"\u{7a0e}".repeat(500)));
        let listed = status.get_details_bad_request().expect("details").field_violations;
        assert!(listed.iter().all(|v| v.description.len() <= MAX_VIOLATION_TEXT_BYTES));
        let listed_bytes: usize = listed[..listed.len() - 1]
            .iter()
            .map(|v| v.field.len() + v.description.len())
            .sum();
        assert!(listed_bytes <= MAX_FIELD_VIOLATION_BYTES, "{listed_bytes}");
        assert!(status.details().len().div_ceil(3) * 4 + status.message().len() * 3 < 8 * 1024);
        assert_eq!(clip("abcdef", 6), "abcdef");
        assert_eq!(clip("abcdefg", 6), "abc...");
    }

    #[test]
    fn store_failures_carry_retry_info() {
        let status = from_app(AppError::StoreTimeout("redis call timed out".into()));
        assert_eq!(status.code(), Code::Unavailable);
        let retry = status.get_details_retry_info().expect("RetryInfo");
        assert_eq!(retry.retry_delay, Some(STORE_RETRY_DELAY));
        assert!(status.message().contains("same request_id"));
    }
}
