//! Pieces every generated request builder shares: URL building, query encoding, call options.

use std::fmt::{self, Display};
use std::time::Duration;

use runpod_transport::{RequestBuilder, Result, RetryPolicy, path};

/// One segment of a request path.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PathSegment<'a> {
    /// A fixed part of the path template (`pods`).
    Literal(&'static str),
    /// A value the caller gave (an id); percent-encoded, so `/`, `?` or spaces in it stay inside
    /// the segment.
    Param(&'a str),
}

/// Appends `segments` to `base` (which has no trailing slash); refuses a parameter that
/// cannot be one path segment (see [`runpod_transport::path::segment`]).
pub(crate) fn build_url(base: &str, segments: &[PathSegment<'_>]) -> Result<String> {
    let mut url = String::with_capacity(base.len() + 32);
    url.push_str(base.trim_end_matches('/'));
    for segment in segments {
        url.push('/');
        match segment {
            PathSegment::Literal(s) => url.push_str(s),
            PathSegment::Param(s) => path::push_segment(&mut url, s)?,
        }
    }
    Ok(url)
}

/// A query value for `style: form, explode: false`: the items joined with commas.
pub(crate) fn join_csv<T: Display>(items: &[T]) -> Csv<'_, T> {
    Csv(items)
}

/// Displays a list comma-separated (see [`join_csv`]).
pub(crate) struct Csv<'a, T>(&'a [T]);

impl<T: Display> Display for Csv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            item.fmt(f)?;
        }
        Ok(())
    }
}

/// Per-call overrides of the client's retry policy and timeouts (`with_*` on every builder).
#[derive(Debug, Clone, Default)]
pub(crate) struct CallOptions {
    pub(crate) retry: Option<RetryPolicy>,
    /// `Some(None)` switches the per-attempt bound off for this call.
    pub(crate) attempt_timeout: Option<Option<Duration>>,
    pub(crate) operation_timeout: Option<Option<Duration>>,
}

impl CallOptions {
    pub(crate) fn apply(&self, mut request: RequestBuilder) -> RequestBuilder {
        if let Some(policy) = &self.retry {
            request = request.with_retry(policy.clone());
        }
        if let Some(timeout) = self.attempt_timeout {
            request = request.with_attempt_timeout(timeout);
        }
        if let Some(timeout) = self.operation_timeout {
            request = request.with_operation_timeout(timeout);
        }
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_as_one_segment() {
        let url = build_url(
            "http://h/",
            &[
                PathSegment::Literal("v2"),
                PathSegment::Literal("catalog"),
                PathSegment::Literal("gpus"),
                PathSegment::Param("NVIDIA GeForce RTX 4090"),
            ],
        );
        assert_eq!(
            url.unwrap(),
            "http://h/v2/catalog/gpus/NVIDIA%20GeForce%20RTX%204090"
        );
        let url = build_url("http://h", &[PathSegment::Param("a/b?c#d%e")]);
        assert_eq!(url.unwrap(), "http://h/a%2Fb%3Fc%23d%25e");
        let url = build_url("http://h", &[PathSegment::Param("..")]);
        assert!(url.unwrap_err().is_invalid_input());
    }

    #[test]
    fn csv_joins_without_spaces() {
        assert_eq!(
            join_csv(&["POD", "SERVERLESS"]).to_string(),
            "POD,SERVERLESS"
        );
        assert_eq!(join_csv(&["FR"]).to_string(), "FR");
        assert_eq!(join_csv::<&str>(&[]).to_string(), "");
    }
}
