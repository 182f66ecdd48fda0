//! When to retry a failed attempt and how long to wait first.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use crate::error::ProviderError;

/// Retry settings of a provider client.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (`maxRetries`, default 5).
    pub max_retries: u32,
    /// Wait before the first retry; doubles each time.
    pub initial_backoff: Duration,
    /// Upper bound of the computed wait.
    pub max_backoff: Duration,
    /// A `retry-after` longer than this ends retrying instead of waiting.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: perstack_core::config::DEFAULT_MAX_RETRIES,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff before retry number `retry` (0-based), reduced by up to a
    /// quarter by `jitter` in `[0, 1)` so that clients do not retry in lockstep.
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(20));
        let base = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        base.mul_f64(1.0 - 0.25 * jitter.clamp(0.0, 1.0))
    }

    /// The wait before retrying after `error`, or `None` when it must not be retried:
    /// not retryable, retries used up, a `retry-after` beyond the limit, or a wait that
    /// would pass the generation deadline (`remaining`).
    pub fn delay_for(
        &self,
        error: &ProviderError,
        retries_done: u32,
        remaining: Duration,
        jitter: f64,
    ) -> Option<Duration> {
        if !error.is_retryable() || retries_done >= self.max_retries {
            return None;
        }
        let delay = match error.retry_after() {
            Some(asked) if asked > self.max_retry_after => return None,
            Some(asked) => asked,
            None => self.backoff(retries_done, jitter),
        };
        (delay < remaining).then_some(delay)
    }
}

/// A random number in `[0, 1)` for jitter.
pub(crate) fn jitter() -> f64 {
    let bits = getrandom::u64().unwrap_or(0x9E37_79B9_7F4A_7C15);
    // 53 random bits make a uniformly spaced f64 in [0, 1).
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The wait a response asks for: `retry-after-ms`, else `retry-after` in seconds or as
/// an HTTP date (relative to `now`).
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = get("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `x-should-retry: true|false`, the server's explicit verdict.
pub(crate) fn should_retry_header(headers: &HeaderMap) -> Option<bool> {
    match headers.get("x-should-retry")?.to_str().ok()?.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Whether an HTTP error status is worth retrying.
///
/// 408, 409, 429 and 5xx (529 included) are; 400, 401, 403, 404 and a 429 that means
/// the account is out of credit never are; `x-should-retry` decides the rest.
pub(crate) fn status_is_retryable(
    status: u16,
    should_retry: Option<bool>,
    error_type: Option<&str>,
    message: &str,
) -> bool {
    if matches!(status, 400 | 401 | 403 | 404) {
        return false;
    }
    if status == 429 && is_spend_limit(error_type, message) {
        return false;
    }
    if let Some(verdict) = should_retry {
        return verdict;
    }
    matches!(status, 408 | 409 | 429) || status >= 500
}

/// Whether an error reported without a status (an error event in the stream) is worth
/// retrying, judged by its type.
pub(crate) fn error_type_is_retryable(error_type: Option<&str>, message: &str) -> bool {
    let Some(kind) = error_type else {
        return false;
    };
    if is_spend_limit(error_type, message) {
        return false;
    }
    let kind = kind.to_ascii_lowercase();
    [
        "overloaded",
        "rate_limit",
        "server",
        "api_error",
        "unavailable",
        "internal",
        "timeout",
        "resource_exhausted",
        "deadline_exceeded",
        "aborted",
    ]
    .iter()
    .any(|k| kind.contains(k))
        || matches!(
            kind.as_str(),
            "408" | "409" | "429" | "500" | "502" | "503" | "504" | "529"
        )
}

/// A 429 that means "out of credit" rather than "slow down": retrying cannot help.
fn is_spend_limit(error_type: Option<&str>, message: &str) -> bool {
    let kind = error_type.unwrap_or_default().to_ascii_lowercase();
    if matches!(
        kind.as_str(),
        "insufficient_quota"
            | "billing_hard_limit_reached"
            | "billing_not_active"
            | "access_terminated"
    ) {
        return true;
    }
    let message = message.to_ascii_lowercase();
    [
        "insufficient_quota",
        "credit balance is too low",
        "spend limit",
        "billing_hard_limit",
    ]
    .iter()
    .any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use perstack_core::config::ProviderName;
    use pretty_assertions::assert_eq;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn api(status: u16, retry_after: Option<Duration>) -> ProviderError {
        ProviderError::Api(ApiError {
            provider: ProviderName::Anthropic,
            status: Some(status),
            error_type: None,
            message: String::new(),
            request_id: None,
            retry_after,
            retryable: status_is_retryable(status, None, None, ""),
        })
    }

    #[test]
    fn retry_after_ms_wins_then_seconds_then_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(
                &headers(&[("retry-after-ms", "250"), ("retry-after", "3")]),
                now
            ),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "3")]), now),
            Some(Duration::from_secs(3))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &date)]), now),
            Some(Duration::from_secs(7))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &past)]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")]), now), None);
    }

    #[test]
    fn statuses_are_classified_as_the_issue_lists() {
        for s in [408, 409, 429, 500, 502, 503, 504, 529] {
            assert!(status_is_retryable(s, None, None, ""), "{s}");
        }
        for s in [400, 401, 403, 404, 422] {
            assert!(!status_is_retryable(s, None, None, ""), "{s}");
        }
        // x-should-retry decides the rest, but never overrides the hard no's.
        assert!(status_is_retryable(422, Some(true), None, ""));
        assert!(!status_is_retryable(400, Some(true), None, ""));
        assert!(!status_is_retryable(503, Some(false), None, ""));
        assert!(!status_is_retryable(
            429,
            None,
            Some("insufficient_quota"),
            ""
        ));
        assert!(!status_is_retryable(
            429,
            None,
            None,
            "Your credit balance is too low"
        ));
        assert_eq!(
            should_retry_header(&headers(&[("x-should-retry", "true")])),
            Some(true)
        );
    }

    #[test]
    fn error_event_types_are_classified() {
        assert!(error_type_is_retryable(Some("overloaded_error"), ""));
        assert!(error_type_is_retryable(Some("server_error"), ""));
        assert!(error_type_is_retryable(Some("529"), ""));
        assert!(!error_type_is_retryable(Some("invalid_request_error"), ""));
        assert!(!error_type_is_retryable(None, "boom"));
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_down() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(0, 0.0), Duration::from_millis(500));
        assert_eq!(p.backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(p.backoff(10, 0.0), Duration::from_secs(8));
        assert_eq!(p.backoff(0, 1.0), Duration::from_millis(375));
        let j = jitter();
        assert!((0.0..1.0).contains(&j));
    }

    #[test]
    fn delay_respects_budget_retry_after_and_deadline() {
        let p = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        let long = Duration::from_secs(3600);
        assert_eq!(
            p.delay_for(&api(503, None), 0, long, 0.0),
            Some(Duration::from_millis(500))
        );
        assert_eq!(p.delay_for(&api(503, None), 2, long, 0.0), None);
        assert_eq!(p.delay_for(&api(401, None), 0, long, 0.0), None);
        let asked = Some(Duration::from_secs(2));
        assert_eq!(
            p.delay_for(&api(429, asked), 0, long, 0.0),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            p.delay_for(&api(429, asked), 0, Duration::from_secs(1), 0.0),
            None
        );
        let too_long = Some(Duration::from_secs(120));
        assert_eq!(p.delay_for(&api(429, too_long), 0, long, 0.0), None);
    }
}
