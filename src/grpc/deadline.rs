//! The caller's deadline from `grpc-timeout`, so that handlers give up with DEADLINE_EXCEEDED
//! (rather than tonic's CANCELLED) and never hold a store call past it.

use std::future::Future;
use std::time::Duration;

use tonic::metadata::MetadataMap;

use super::status::ApiError;

/// Parses `grpc-timeout` (an integer of at most 8 digits and a unit H, M, S, m, u or n).
pub fn from_metadata(metadata: &MetadataMap) -> Option<Duration> {
    let raw = metadata.get("grpc-timeout")?.to_str().ok()?;
    if raw.len() < 2 || raw.len() > 9 {
        return None;
    }
    let (digits, unit) = raw.split_at(raw.len() - 1);
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value.saturating_mul(3600)),
        "M" => Duration::from_secs(value.saturating_mul(60)),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

/// Runs `fut` within the deadline, if there is one.
pub async fn within<T>(
    deadline: Option<Duration>,
    fut: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    match deadline {
        Some(d) => tokio::time::timeout(d, fut)
            .await
            .unwrap_or(Err(ApiError::DeadlineExceeded)),
        None => fut.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(v: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("grpc-timeout", v.parse().expect("ascii"));
        m
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(from_metadata(&md("2H")), Some(Duration::from_secs(7200)));
        assert_eq!(from_metadata(&md("3M")), Some(Duration::from_secs(180)));
        assert_eq!(from_metadata(&md("5S")), Some(Duration::from_secs(5)));
        assert_eq!(from_metadata(&md("250m")), Some(Duration::from_millis(250)));
        assert_eq!(from_metadata(&md("7u")), Some(Duration::from_micros(7)));
        assert_eq!(from_metadata(&md("9n")), Some(Duration::from_nanos(9)));
    }

    #[test]
    fn rejects_malformed_values() {
        assert_eq!(from_metadata(&md("S")), None);
        assert_eq!(from_metadata(&md("10x")), None);
        assert_eq!(from_metadata(&md("123456789S")), None);
        assert_eq!(from_metadata(&MetadataMap::new()), None);
    }
}
