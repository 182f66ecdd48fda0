//! HTTP plumbing: request headers, sending, and turning failed responses into errors.
//! reqwest types stay inside this crate.

use std::time::{Duration, SystemTime};

use perstack_core::config::ProviderName;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::config::{AuthStyle, ProviderSpec};
use crate::error::{ApiError, ProviderError};
use crate::protocol::common::{clip, error_envelope};
use crate::retry::{retry_after, should_retry_header, status_is_retryable};
use crate::secret::Secret;

/// Most bytes of an error body we read.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Response headers that carry a request id, by provider convention.
const REQUEST_ID_HEADERS: [&str; 5] = [
    "request-id",
    "x-request-id",
    "x-goog-request-id",
    "apim-request-id",
    "x-amzn-requestid",
];

/// Headers of every request to `spec`: JSON in, SSE out, the key, the protocol's own,
/// then the configured extras (which win).
pub(crate) fn request_headers(
    spec: &ProviderSpec,
    protocol_headers: &[(&'static str, String)],
) -> Result<HeaderMap, ProviderError> {
    let cfg = |message: String| ProviderError::Config {
        provider: spec.name,
        message,
    };
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    if let Some(key) = &spec.api_key {
        let (name, value) = match &spec.auth {
            AuthStyle::Header(name) => (
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| cfg(format!("auth header name {name:?} is not valid")))?,
                key.expose().to_string(),
            ),
            AuthStyle::Bearer => (AUTHORIZATION, format!("Bearer {}", key.expose())),
        };
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| cfg("the API key contains characters not allowed in a header".into()))?;
        value.set_sensitive(true);
        h.insert(name, value);
    }
    for (name, value) in protocol_headers {
        let value = HeaderValue::from_str(value)
            .map_err(|_| cfg(format!("header {name} has an invalid value")))?;
        h.insert(*name, value);
    }
    for (name, value) in &spec.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| cfg(format!("header name {name:?} is not valid")))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| cfg(format!("header {name} has an invalid value")))?;
        // Custom headers often carry tokens.
        value.set_sensitive(true);
        h.insert(name, value);
    }
    Ok(h)
}

/// The request id a response carries, if any.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    REQUEST_ID_HEADERS
        .iter()
        .find_map(|n| headers.get(*n))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A transport error before any response, as a retryable connection error. The message
/// is the whole error chain, scrubbed of the key.
pub(crate) fn connection_error(
    provider: ProviderName,
    err: &reqwest::Error,
    key: Option<&Secret>,
) -> ProviderError {
    ProviderError::Connection {
        provider,
        message: scrub(key, &error_chain(err)),
    }
}

/// A transport error talking to `perstack proxy`'s socket: what failed and how to fix it.
pub(crate) fn egress_error(
    provider: ProviderName,
    egress: &perstack_core::egress::Egress,
    err: &reqwest::Error,
) -> ProviderError {
    ProviderError::Connection {
        provider,
        message: format!(
            "cannot reach perstack proxy at {egress} ({}); start `perstack proxy --socket {}` \
             outside the sandbox and mount the socket's folder, or run without --egress",
            scrub(None, &error_chain(err)),
            egress.socket().display()
        ),
    }
}

/// `err` and its sources, joined.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

/// Removes the key and anything shaped like a credential.
pub(crate) fn scrub(key: Option<&Secret>, text: &str) -> String {
    let text = match key {
        Some(k) => k.scrub(text),
        None => text.to_string(),
    };
    perstack_core::secrets::redact_secret_shapes(&text)
}

/// Reads at most [`MAX_ERROR_BODY`] bytes of a body within `limit`; a slow or broken
/// error body must not hide the status we already have.
pub(crate) async fn read_capped(response: &mut reqwest::Response, limit: Duration) -> Vec<u8> {
    let mut body = Vec::new();
    let read = async {
        while body.len() < MAX_ERROR_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
    };
    let _ = tokio::time::timeout(limit, read).await;
    body.truncate(MAX_ERROR_BODY);
    body
}

/// The error for an HTTP error response: the provider's message and type, the request id,
/// `retry-after`, and whether to retry.
pub(crate) fn status_error(
    provider: ProviderName,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    key: Option<&Secret>,
) -> ProviderError {
    let (message, error_type) = match serde_json::from_slice::<Value>(body) {
        Ok(v) => error_envelope(&v),
        Err(_) => {
            let text = String::from_utf8_lossy(body).trim().to_string();
            ((!text.is_empty()).then_some(text), None)
        }
    };
    let message = message.unwrap_or_else(|| {
        reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error")
            .to_string()
    });
    let message = clip(scrub(key, &message));
    let retryable = status_is_retryable(
        status,
        should_retry_header(headers),
        error_type.as_deref(),
        &message,
    );
    ProviderError::Api(ApiError {
        provider,
        status: Some(status),
        error_type,
        message,
        request_id: request_id(headers),
        retry_after: retry_after(headers, SystemTime::now()),
        retryable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AnthropicOptions, Protocol};
    use pretty_assertions::assert_eq;

    fn spec(auth: AuthStyle) -> ProviderSpec {
        ProviderSpec {
            name: ProviderName::Anthropic,
            base_url: url::Url::parse("http://127.0.0.1:1/v1").unwrap(),
            api_key: Some(Secret::new("sk-ant-abcdefghijklmnopqrstuvwxyz")),
            auth,
            headers: vec![("anthropic-version".into(), "2024-01-01".into())],
            protocol: Protocol::Anthropic(AnthropicOptions {
                version: "2023-06-01".into(),
            }),
        }
    }

    #[test]
    fn headers_carry_auth_and_configured_headers_win() {
        let h = request_headers(
            &spec(AuthStyle::Header("x-api-key".into())),
            &[("anthropic-version", "2023-06-01".into())],
        )
        .unwrap();
        assert_eq!(h["x-api-key"], "sk-ant-abcdefghijklmnopqrstuvwxyz");
        assert!(h["x-api-key"].is_sensitive());
        assert_eq!(h["anthropic-version"], "2024-01-01");
        assert!(!format!("{h:?}").contains("sk-ant-abc"));
        let h = request_headers(&spec(AuthStyle::Bearer), &[]).unwrap();
        assert_eq!(h[AUTHORIZATION], "Bearer sk-ant-abcdefghijklmnopqrstuvwxyz");
    }

    #[test]
    fn status_errors_keep_message_type_and_request_id_without_the_key() {
        let key = Secret::new("sk-ant-abcdefghijklmnopqrstuvwxyz");
        let mut headers = HeaderMap::new();
        headers.insert("request-id", HeaderValue::from_static("req_42"));
        headers.insert("retry-after", HeaderValue::from_static("2"));
        let body = br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-ant-abcdefghijklmnopqrstuvwxyz"}}"#;
        let e = status_error(ProviderName::Anthropic, 401, &headers, body, Some(&key));
        assert_eq!(
            e.to_string(),
            "anthropic: HTTP 401 (authentication_error): invalid x-api-key [REDACTED] [request id: req_42]"
        );
        assert!(!e.is_retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        let e = status_error(ProviderName::OpenAi, 503, &HeaderMap::new(), b"", None);
        assert_eq!(e.to_string(), "openai: HTTP 503: Service Unavailable");
        assert!(e.is_retryable());
    }
}
