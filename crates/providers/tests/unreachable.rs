//! Failing fast: a refused local endpoint fails at the first attempt with a message
//! naming what to start; other connection failures are retried within the one budget,
//! including retries the caller already spent.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use perstack_core::Message;
use perstack_core::config::ProviderName;
use perstack_providers::{GenerationRequest, HttpProvider, Provider, ProviderError};
use pretty_assertions::assert_eq;
use support::{Kind, request, test_options};

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn hi() -> GenerationRequest {
    request(Kind::Compatible, vec![Message::user_text("hi")])
}

/// A listener that accepts every connection and closes it at once; counts them.
async fn slamming_door() -> (String, Arc<AtomicU32>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let count = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (url, count)
}

#[tokio::test]
async fn a_refused_ollama_fails_at_once_saying_to_start_it() {
    let url = format!("http://127.0.0.1:{}/v1", closed_port());
    let mut spec = Kind::Compatible.spec(&url);
    spec.name = ProviderName::Ollama;
    let p = HttpProvider::new(spec, test_options()).unwrap();
    let started = Instant::now();
    let err = p.stream(hi()).finish().await.unwrap_err();
    let elapsed = started.elapsed();
    let origin = url.trim_end_matches("/v1");
    assert_eq!(
        err.to_string(),
        format!(
            "ollama: cannot reach {origin} — is Ollama running? (connection refused; start it \
             with `ollama serve` or point OLLAMA_BASE_URL at it)"
        )
    );
    assert!(!err.is_retryable());
    assert!(matches!(err, ProviderError::Unreachable { .. }));
    // No backoff at all: generous bound for a loaded CI machine.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[tokio::test]
async fn a_refused_local_openai_compatible_server_says_to_start_it() {
    let url = format!("http://localhost:{}/v1", closed_port());
    let p = support::provider(Kind::OpenAi, &url, test_options());
    let req = request(Kind::OpenAi, vec![Message::user_text("hi")]);
    let err = p.stream(req).finish().await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("— is the server running?"),
        "{err}"
    );
}

#[tokio::test]
async fn a_connection_closed_before_a_response_uses_exactly_the_retry_budget() {
    let (url, accepted) = slamming_door().await;
    let p = support::provider(Kind::Compatible, &url, test_options());
    let err = p.stream(hi()).finish().await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    // maxRetries 2 in test_options: one attempt and two retries.
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retries_the_caller_already_spent_count_against_the_budget() {
    let (url, accepted) = slamming_door().await;
    let p = support::provider(Kind::Compatible, &url, test_options());
    let mut req = hi();
    req.settings.retries_used = 1;
    let _ = p.stream(req).finish().await.unwrap_err();
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    let mut req = hi();
    req.settings.retries_used = 2;
    let _ = p.stream(req).finish().await.unwrap_err();
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "no retry left");
}
