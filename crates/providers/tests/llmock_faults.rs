//! The llmock peer's fault scenarios against every provider: `fail` with 429/529 and
//! `retry_after`, client errors, `stream_fault` disconnect/truncate/stall/malformed, and
//! `tool_fault` malformed_arguments. llmock also grades our client; its verdict must hold
//! no error findings.

#![allow(clippy::unwrap_used, clippy::wildcard_enum_match_arm)] // test helpers outside #[test] fns

mod support;

use std::time::Duration;

use perstack_core::Message;
use perstack_providers::{
    Generation, GenerationStream, Provider, ProviderError, StreamEvent, StreamFailure,
};
use perstack_testkit::Llmock;
use pretty_assertions::assert_eq;
use serde_json::json;
use support::{Kind, provider, request, test_options};

fn base(kind: Kind, mock: &Llmock) -> String {
    match kind {
        Kind::Anthropic => format!("{}/anthropic/v1", mock.url),
        Kind::OpenAi | Kind::Compatible => format!("{}/v1", mock.url),
        Kind::Gemini => format!("{}/gemini/v1beta", mock.url),
    }
}

async fn drain(mut s: GenerationStream) -> (Vec<StreamEvent>, Result<Generation, ProviderError>) {
    let mut events = Vec::new();
    while let Some(ev) = s.next().await {
        match ev {
            Ok(e) => events.push(e),
            Err(err) => return (events, Err(err)),
        }
    }
    (events, s.finish().await)
}

fn retry_delays(events: &[StreamEvent]) -> Vec<Duration> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Retrying { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect()
}

fn ask(kind: Kind) -> perstack_providers::GenerationRequest {
    request(
        kind,
        vec![Message::user_text("What is the weather in Paris?")],
    )
}

/// A plain-text request (no tools), so answers start with text right away.
fn chat(kind: Kind) -> perstack_providers::GenerationRequest {
    let mut r = ask(kind);
    r.tools.clear();
    r
}

fn assert_verdict_clean(mock: &Llmock, what: &str) {
    let errors = mock.error_findings();
    assert!(
        errors.is_empty(),
        "{what}: llmock found client bugs: {errors:#?}"
    );
}

#[tokio::test]
#[ignore = "peer: llmock; run with cargo xtask test"]
async fn llmock_rate_limits_are_retried_after_retry_after() {
    let mock = Llmock::start();
    for kind in Kind::ALL {
        mock.reset();
        mock.scenario(json!([{"type": "fail", "status": 429, "retry_after": 0.3, "times": 2}]));
        let p = provider(kind, &base(kind, &mock), test_options());
        let (events, result) = drain(p.stream(ask(kind))).await;
        assert!(result.is_ok(), "{kind:?}: {result:?}");
        assert_eq!(
            retry_delays(&events),
            vec![Duration::from_millis(300); 2],
            "{kind:?}"
        );
        assert_verdict_clean(&mock, &format!("{kind:?} 429"));
    }
}

#[tokio::test]
#[ignore = "peer: llmock; run with cargo xtask test"]
async fn llmock_overloaded_529_is_retried_then_reported_when_it_persists() {
    let mock = Llmock::start();
    for kind in Kind::ALL {
        mock.reset();
        mock.scenario(json!([{"type": "fail", "status": 529, "retry_after": 0.05, "times": 1}]));
        let p = provider(kind, &base(kind, &mock), test_options());
        let (events, result) = drain(p.stream(ask(kind))).await;
        assert!(result.is_ok(), "{kind:?}: {result:?}");
        assert_eq!(retry_delays(&events).len(), 1);

        mock.scenario(json!([{"type": "fail", "status": 529, "retry_after": 0.05, "times": null}]));
        let (events, result) = drain(p.stream(ask(kind))).await;
        let err = result.unwrap_err();
        assert_eq!(err.status(), Some(529), "{kind:?}: {err}");
        assert!(err.is_retryable());
        assert_eq!(retry_delays(&events).len(), 2, "bounded by max_retries");
        assert_verdict_clean(&mock, &format!("{kind:?} 529"));
    }
}

#[tokio::test]
#[ignore = "peer: llmock; run with cargo xtask test"]
async fn llmock_client_errors_are_not_retried() {
    let mock = Llmock::start();
    for kind in Kind::ALL {
        for status in [400, 401, 403, 404] {
            mock.reset();
            mock.scenario(json!([{"type": "fail", "status": status, "message": "nope"}]));
            let p = provider(kind, &base(kind, &mock), test_options());
            let (events, result) = drain(p.stream(ask(kind))).await;
            let err = result.unwrap_err();
            assert!(events.is_empty());
            assert_eq!(err.status(), Some(status));
            assert!(!err.is_retryable());
            assert!(err.to_string().contains("nope"), "{err}");
            assert_eq!(mock.requests()["count"], 1, "{kind:?} {status}");
            assert_verdict_clean(&mock, &format!("{kind:?} {status}"));
        }
    }
}

#[tokio::test]
#[ignore = "peer: llmock; run with cargo xtask test"]
async fn llmock_stream_faults_end_in_typed_errors_and_recover_on_retry() {
    // Paced chunks, so the content is normally handed out before the fault strikes.
    let mock = Llmock::start_with(&["--stream-chunk-delay-ms", "40"]);
    let mut options = test_options();
    options.idle_timeout = Duration::from_millis(500);
    let cases = [
        ("disconnect", StreamFailure::Disconnected),
        ("truncate", StreamFailure::Truncated),
        ("malformed", StreamFailure::Malformed),
        ("stall", StreamFailure::Stalled),
    ];
    let mut typed = 0;
    for kind in Kind::ALL {
        let p = provider(kind, &base(kind, &mock), options.clone());
        for (fault, want) in cases {
            mock.reset();
            mock.scenario(json!([
                {"type": "reply", "text": "one two three four five six seven eight nine ten", "times": null},
                {"type": "stream_fault", "kind": fault, "after_chunks": 5, "stall_seconds": 30},
            ]));
            let (events, result) = drain(p.stream(chat(kind))).await;
            match result {
                // Content was already out: the stream ends in the typed error, and the
                // runtime starts a new generation, which succeeds.
                Err(ProviderError::Stream { kind: got, .. }) if got == want => {
                    typed += 1;
                    assert!(!events.iter().any(|e| matches!(e, StreamEvent::Finish(_))));
                    let again = p.stream(chat(kind)).finish().await;
                    assert!(again.is_ok(), "{kind:?} {fault}: retry failed: {again:?}");
                }
                // The fault arrived with the first bytes: retried inside, transparently.
                Ok(_) => assert_eq!(retry_delays(&events).len(), 1, "{kind:?} {fault}"),
                other => panic!("{kind:?} {fault}: {other:?}"),
            }
            assert_verdict_clean(&mock, &format!("{kind:?} {fault}"));
        }
    }
    eprintln!("{typed} of 16 faults surfaced as typed stream errors");
}

#[tokio::test]
#[ignore = "peer: llmock; run with cargo xtask test"]
async fn llmock_stream_faults_before_any_content_are_retried_transparently() {
    let mock = Llmock::start();
    for kind in Kind::ALL {
        let p = provider(kind, &base(kind, &mock), test_options());
        for fault in ["disconnect", "truncate"] {
            mock.reset();
            mock.scenario(json!([{"type": "stream_fault", "kind": fault, "after_chunks": 0}]));
            let (events, result) = drain(p.stream(chat(kind))).await;
            let g = result.unwrap_or_else(|e| panic!("{kind:?} {fault}: {e}"));
            assert!(!g.text().is_empty());
            assert_eq!(retry_delays(&events).len(), 1, "{kind:?} {fault}");
            assert_verdict_clean(&mock, &format!("{kind:?} {fault} at 0"));
        }
    }
}

#[tokio::test]
#[ignore = "peer: llmock; run with cargo xtask test"]
async fn llmock_malformed_tool_arguments_are_never_passed_on() {
    let mock = Llmock::start();
    for kind in [Kind::Anthropic, Kind::OpenAi, Kind::Compatible] {
        let p = provider(kind, &base(kind, &mock), test_options());
        mock.reset();
        mock.scenario(json!([{"type": "tool_fault", "kind": "malformed_arguments", "times": 3}]));
        let (events, result) = drain(p.stream(ask(kind))).await;
        match result {
            Err(ref e @ ProviderError::MalformedToolCall { ref tool_name, .. }) => {
                assert_eq!(tool_name, "get_weather");
                assert!(e.is_retryable());
            }
            other => panic!("{kind:?}: {other:?}"),
        }
        assert!(!events.iter().any(|e| matches!(e, StreamEvent::ToolCall(_))));
        // Once: nothing was streamed yet, so the retry happens transparently and succeeds.
        mock.reset();
        mock.scenario(json!([{"type": "tool_fault", "kind": "malformed_arguments", "times": 1}]));
        let (events, result) = drain(p.stream(ask(kind))).await;
        let g = result.unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(g.tool_calls().len(), 1);
        assert_eq!(retry_delays(&events).len(), 1);
    }
    // Gemini sends arguments as an object, so they cannot be cut: llmock sends `{}`.
    let p = provider(Kind::Gemini, &base(Kind::Gemini, &mock), test_options());
    mock.reset();
    mock.scenario(json!([{"type": "tool_fault", "kind": "malformed_arguments"}]));
    let g = p.stream(ask(Kind::Gemini)).finish().await.unwrap();
    assert_eq!(g.tool_calls()[0].args, json!({}));
}
