//! The fault matrix over real HTTP: statuses, retry headers, dropped, stalled, truncated and
//! malformed streams, timeouts — each must end in the right typed error or a retry.

#![allow(clippy::unwrap_used, clippy::wildcard_enum_match_arm)] // test helpers outside #[test] fns

mod support;

use std::time::{Duration, Instant};

use perstack_core::Message;
use perstack_providers::{
    ClientOptions, Generation, GenerationStream, Provider, ProviderError, StreamEvent,
    StreamFailure,
};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::{
    End, Kind, Reply, ScriptedServer, TEST_KEY, fixture, provider, request, test_options,
};

/// Reads a stream to its end: every event, then the outcome.
async fn drain(mut s: GenerationStream) -> (Vec<StreamEvent>, Result<Generation, ProviderError>) {
    let mut events = Vec::new();
    while let Some(ev) = s.next().await {
        match ev {
            Ok(e) => events.push(e),
            Err(err) => {
                assert!(s.next().await.is_none(), "nothing after an error");
                let again = s.finish().await.unwrap_err();
                assert_eq!(again, err, "finish repeats the error");
                return (events, Err(err));
            }
        }
    }
    (events, s.finish().await)
}

fn base(kind: Kind, server: &ScriptedServer) -> String {
    match kind {
        Kind::Gemini => format!("{}/v1beta", server.url),
        Kind::Anthropic | Kind::OpenAi | Kind::Compatible => format!("{}/v1", server.url),
    }
}

fn good(kind: Kind) -> String {
    match kind {
        Kind::Anthropic => fixture("anthropic_thinking_text_tool.sse"),
        Kind::OpenAi => fixture("openai_text_two_tools.sse"),
        Kind::Compatible => fixture("compat_deepseek_style.sse"),
        Kind::Gemini => fixture("gemini_thought_text_call.sse"),
    }
}

/// The part of a good stream up to (not including) its first text content.
fn before_content(kind: Kind) -> String {
    let text = good(kind);
    let marker = match kind {
        Kind::Anthropic => "event: content_block_start",
        Kind::OpenAi => {
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Checking"
        }
        Kind::Compatible => {
            "data: {\"id\":\"d1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"reasoning_content\":\"Think"
        }
        Kind::Gemini => "data: {",
    };
    text[..text.find(marker).unwrap()].to_string()
}

/// The part of a good stream that carries some content but not the end.
fn with_content(kind: Kind) -> String {
    let text = good(kind);
    let marker = match kind {
        Kind::Anthropic => {
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2"
        }
        Kind::OpenAi => {
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1"
        }
        Kind::Compatible => {
            "data: {\"id\":\"d1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\""
        }
        Kind::Gemini => "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"that up.\"}",
    };
    text[..text.find(marker).unwrap()].to_string()
}

fn retries(events: &[StreamEvent]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Retrying { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect()
}

fn hi(kind: Kind) -> perstack_providers::GenerationRequest {
    request(
        kind,
        vec![Message::user_text("What is the weather in Paris?")],
    )
}

#[tokio::test]
async fn a_429_with_retry_after_ms_is_retried_after_the_wait() {
    for kind in Kind::ALL {
        let server = ScriptedServer::start(vec![
            Reply::error(
                429,
                &[("retry-after-ms", "150"), ("x-request-id", "req_a")],
                json!({"error": {"message": "slow down", "type": "rate_limit_error"}}),
            ),
            Reply::sse(&good(kind)),
        ])
        .await;
        let p = provider(kind, &base(kind, &server), test_options());
        let started = Instant::now();
        let (events, result) = drain(p.stream(hi(kind))).await;
        assert!(result.is_ok(), "{kind:?}: {result:?}");
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "waited as asked"
        );
        match &events[0] {
            StreamEvent::Retrying {
                attempt: 1,
                delay,
                reason,
            } => {
                assert_eq!(*delay, Duration::from_millis(150));
                assert!(
                    reason.contains("HTTP 429") && reason.contains("slow down"),
                    "{reason}"
                );
            }
            other => panic!("{kind:?}: first event {other:?}"),
        }
        assert_eq!(server.requests().len(), 2);
    }
}

#[tokio::test]
async fn retry_after_in_seconds_and_as_http_date_are_honoured() {
    let date = httpdate_in(Duration::from_secs(1));
    let server = ScriptedServer::start(vec![
        Reply::error(503, &[("retry-after", "0")], json!({})),
        Reply::error(529, &[("retry-after", &date)], json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
        Reply::sse(&good(Kind::Anthropic)),
    ])
    .await;
    let p = provider(
        Kind::Anthropic,
        &base(Kind::Anthropic, &server),
        test_options(),
    );
    let (events, result) = drain(p.stream(hi(Kind::Anthropic))).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(retries(&events), vec![1, 2]);
    match &events[1] {
        StreamEvent::Retrying { delay, .. } => {
            assert!(*delay <= Duration::from_secs(2), "{delay:?}")
        }
        other => panic!("{other:?}"),
    }
}

fn httpdate_in(d: Duration) -> String {
    // HTTP dates have second precision: round up so the wait is not already over.
    httpdate::fmt_http_date(std::time::SystemTime::now() + d + Duration::from_millis(999))
}

#[tokio::test]
async fn client_errors_are_not_retried_and_keep_message_and_request_id() {
    for status in [400, 401, 403, 404] {
        let server = ScriptedServer::start(vec![
            Reply::error(status, &[("request-id", "req_nope")], json!({"type": "error", "error": {"type": "invalid_request_error", "message": format!("bad key {TEST_KEY}")}})),
            Reply::sse(&good(Kind::Anthropic)),
        ])
        .await;
        let p = provider(
            Kind::Anthropic,
            &base(Kind::Anthropic, &server),
            test_options(),
        );
        let (events, result) = drain(p.stream(hi(Kind::Anthropic))).await;
        let err = result.unwrap_err();
        assert!(events.is_empty());
        assert_eq!(server.requests().len(), 1, "{status} not retried");
        assert!(!err.is_retryable());
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.request_id(), Some("req_nope"));
        assert_eq!(
            err.to_string(),
            format!(
                "anthropic: HTTP {status} (invalid_request_error): bad key [REDACTED] [request id: req_nope]"
            )
        );
        assert!(!format!("{err:?}").contains(TEST_KEY));
        assert!(!format!("{p:?}").contains(TEST_KEY));
    }
}

#[tokio::test]
async fn a_spend_limit_429_is_not_retried() {
    let server = ScriptedServer::start(vec![
        Reply::error(429, &[("retry-after", "1")], json!({"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "code": "insufficient_quota"}})),
        Reply::sse(&good(Kind::OpenAi)),
    ])
    .await;
    let p = provider(Kind::OpenAi, &base(Kind::OpenAi, &server), test_options());
    let (_, result) = drain(p.stream(hi(Kind::OpenAi))).await;
    let err = result.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn x_should_retry_overrides_the_status_default() {
    let server = ScriptedServer::start(vec![
        Reply::error(503, &[("x-should-retry", "false")], json!({})),
        Reply::sse(&good(Kind::OpenAi)),
    ])
    .await;
    let p = provider(Kind::OpenAi, &base(Kind::OpenAi, &server), test_options());
    let (_, result) = drain(p.stream(hi(Kind::OpenAi))).await;
    assert!(!result.unwrap_err().is_retryable());
    assert_eq!(server.requests().len(), 1);

    let server = ScriptedServer::start(vec![
        Reply::error(422, &[("x-should-retry", "true")], json!({})),
        Reply::sse(&good(Kind::OpenAi)),
    ])
    .await;
    let p = provider(Kind::OpenAi, &base(Kind::OpenAi, &server), test_options());
    let (_, result) = drain(p.stream(hi(Kind::OpenAi))).await;
    assert!(result.is_ok());
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn retries_stop_at_max_retries() {
    let overloaded = || {
        Reply::error(
            529,
            &[],
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        )
    };
    let server =
        ScriptedServer::start(vec![overloaded(), overloaded(), overloaded(), overloaded()]).await;
    let p = provider(
        Kind::Anthropic,
        &base(Kind::Anthropic, &server),
        test_options(),
    );
    let (events, result) = drain(p.stream(hi(Kind::Anthropic))).await;
    let err = result.unwrap_err();
    assert_eq!(retries(&events), vec![1, 2]);
    assert_eq!(
        server.requests().len(),
        3,
        "first attempt plus max_retries = 2"
    );
    assert!(err.is_retryable());
    assert_eq!(err.status(), Some(529));
    let mut no_retries = test_options();
    no_retries.retry.max_retries = 0;
    let server = ScriptedServer::start(vec![overloaded()]).await;
    let p = provider(Kind::Anthropic, &base(Kind::Anthropic, &server), no_retries);
    assert!(drain(p.stream(hi(Kind::Anthropic))).await.1.is_err());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_ends_retrying() {
    let server = ScriptedServer::start(vec![
        Reply::error(
            429,
            &[("retry-after", "4")],
            json!({"error": {"message": "later"}}),
        ),
        Reply::sse(&good(Kind::OpenAi)),
    ])
    .await;
    let mut options = test_options();
    options.timeout = Duration::from_secs(2);
    let p = provider(Kind::OpenAi, &base(Kind::OpenAi, &server), options);
    let (events, result) = drain(p.stream(hi(Kind::OpenAi))).await;
    let err = result.unwrap_err();
    assert!(events.is_empty());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(4)));
    assert!(err.is_retryable());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn connection_refused_by_a_local_port_is_reported_without_retrying() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = provider(
        Kind::OpenAi,
        &format!("http://127.0.0.1:{port}/v1"),
        test_options(),
    );
    let (events, result) = drain(p.stream(hi(Kind::OpenAi))).await;
    let err = result.unwrap_err();
    assert!(matches!(err, ProviderError::Unreachable { .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(retries(&events), Vec::<u32>::new());
}

#[tokio::test]
async fn failures_before_any_content_are_retried_transparently() {
    for kind in Kind::ALL {
        for end in [End::Disconnect, End::Clean] {
            let server = ScriptedServer::start(vec![
                Reply::sse_then(&before_content(kind), end),
                Reply::sse(&good(kind)),
            ])
            .await;
            let p = provider(kind, &base(kind, &server), test_options());
            let (events, result) = drain(p.stream(hi(kind))).await;
            assert!(result.is_ok(), "{kind:?} {end:?}: {result:?}");
            assert_eq!(retries(&events), vec![1], "{kind:?} {end:?}");
            assert_eq!(server.requests().len(), 2);
        }
    }
}

#[tokio::test]
async fn an_error_event_before_content_is_retried() {
    let first = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let server =
        ScriptedServer::start(vec![Reply::sse(first), Reply::sse(&good(Kind::Anthropic))]).await;
    let p = provider(
        Kind::Anthropic,
        &base(Kind::Anthropic, &server),
        test_options(),
    );
    let (events, result) = drain(p.stream(hi(Kind::Anthropic))).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(retries(&events), vec![1]);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_disconnect_after_content_is_a_retryable_stream_error() {
    for kind in Kind::ALL {
        let server = ScriptedServer::start(vec![
            Reply::sse_then(&with_content(kind), End::Disconnect),
            Reply::sse(&good(kind)),
        ])
        .await;
        let p = provider(kind, &base(kind, &server), test_options());
        let (events, result) = drain(p.stream(hi(kind))).await;
        match result {
            Err(
                ref e @ ProviderError::Stream {
                    kind: StreamFailure::Disconnected,
                    ..
                },
            ) => {
                assert!(e.is_retryable());
            }
            other => panic!("{kind:?}: {other:?}"),
        }
        assert!(events.iter().any(|e| matches!(
            e,
            StreamEvent::TextDelta(_) | StreamEvent::ReasoningDelta(_)
        )));
        assert!(!events.iter().any(|e| matches!(e, StreamEvent::Finish(_))));
        assert_eq!(
            server.requests().len(),
            1,
            "{kind:?}: no transparent retry after content"
        );
    }
}

#[tokio::test]
async fn a_clean_end_without_the_end_marker_is_truncation() {
    for kind in Kind::ALL {
        let server =
            ScriptedServer::start(vec![Reply::sse_then(&with_content(kind), End::Clean)]).await;
        let p = provider(kind, &base(kind, &server), test_options());
        let (events, result) = drain(p.stream(hi(kind))).await;
        assert!(
            matches!(
                result,
                Err(ProviderError::Stream {
                    kind: StreamFailure::Truncated,
                    ..
                })
            ),
            "{kind:?}: {result:?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, StreamEvent::Finish(_) | StreamEvent::ToolCall(_))),
            "{kind:?}: no finish and no half tool call from a truncated stream"
        );
    }
}

#[tokio::test]
async fn a_stalled_stream_hits_the_idle_timeout() {
    for kind in Kind::ALL {
        let server =
            ScriptedServer::start(vec![Reply::sse_then(&with_content(kind), End::Stall)]).await;
        let mut options = test_options();
        options.idle_timeout = Duration::from_millis(300);
        let p = provider(kind, &base(kind, &server), options);
        let (_, result) = drain(p.stream(hi(kind))).await;
        match result {
            Err(
                ref e @ ProviderError::Stream {
                    kind: StreamFailure::Stalled,
                    ..
                },
            ) => {
                assert!(e.is_retryable());
                assert_eq!(
                    e.request_id(),
                    None,
                    "the scripted stall sends no request id"
                );
            }
            other => panic!("{kind:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_server_that_never_answers_is_stalled_and_retried() {
    let server = ScriptedServer::start(vec![Reply::Hang, Reply::sse(&good(Kind::Gemini))]).await;
    let mut options = test_options();
    options.idle_timeout = Duration::from_millis(300);
    let p = provider(Kind::Gemini, &base(Kind::Gemini, &server), options);
    let (events, result) = drain(p.stream(hi(Kind::Gemini))).await;
    assert!(result.is_ok(), "{result:?}");
    match &events[0] {
        StreamEvent::Retrying { reason, .. } => assert!(reason.contains("stalled"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_generation_timeout_bounds_a_slow_stream() {
    let server = ScriptedServer::start(vec![Reply::sse_then(
        &with_content(Kind::OpenAi),
        End::Stall,
    )])
    .await;
    let options = ClientOptions {
        timeout: Duration::from_millis(500),
        ..test_options()
    };
    let p = provider(Kind::OpenAi, &base(Kind::OpenAi, &server), options);
    let (_, result) = drain(p.stream(hi(Kind::OpenAi))).await;
    match result {
        Err(e @ ProviderError::Timeout { .. }) => {
            assert!(e.is_retryable());
            assert_eq!(e.to_string(), "openai: generation timed out after 500 ms");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn malformed_json_mid_stream_is_reported() {
    for kind in Kind::ALL {
        // Whether the content was already handed out when the bad event arrives depends on
        // how the network splits the body; either way the stream must end malformed.
        let body = format!("{}data: {{\"broken\": \n\n", with_content(kind));
        let server = ScriptedServer::start(vec![
            Reply::sse(&body),
            Reply::sse(&body),
            Reply::sse(&body),
        ])
        .await;
        let p = provider(kind, &base(kind, &server), test_options());
        let (_, result) = drain(p.stream(hi(kind))).await;
        match result {
            Err(
                ref e @ ProviderError::Stream {
                    kind: StreamFailure::Malformed,
                    ..
                },
            ) => {
                assert!(e.is_retryable());
                assert_eq!(
                    e.request_id(),
                    Some("req_scripted"),
                    "request id from the headers"
                );
            }
            other => panic!("{kind:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn json_where_a_stream_was_expected_is_an_error() {
    let server = ScriptedServer::start(vec![Reply::Body {
        status: 200,
        headers: vec![],
        content_type: "application/json".into(),
        body: br#"{"error": {"message": "gateway says no"}}"#.to_vec(),
    }])
    .await;
    let p = provider(Kind::OpenAi, &base(Kind::OpenAi, &server), test_options());
    let err = p.stream(hi(Kind::OpenAi)).finish().await.unwrap_err();
    assert!(err.to_string().contains("gateway says no"), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn oversized_events_are_rejected() {
    let big = format!("data: {{\"x\": \"{}\"}}\n\n", "a".repeat(4096));
    let body = format!("{}{big}", with_content(Kind::OpenAi));
    let server = ScriptedServer::start(vec![
        Reply::sse(&body),
        Reply::sse(&body),
        Reply::sse(&body),
    ])
    .await;
    let options = ClientOptions {
        max_event_bytes: 1024,
        ..test_options()
    };
    let p = provider(Kind::OpenAi, &base(Kind::OpenAi, &server), options);
    let err = p.stream(hi(Kind::OpenAi)).finish().await.unwrap_err();
    assert!(
        matches!(
            err,
            ProviderError::Stream {
                kind: StreamFailure::TooLarge,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn tiny_network_chunks_decode_like_one_chunk() {
    for kind in Kind::ALL {
        let server = ScriptedServer::start(vec![
            Reply::sse_chunked(&good(kind), 7),
            Reply::sse(&good(kind)),
        ])
        .await;
        let p = provider(kind, &base(kind, &server), test_options());
        let a = p.stream(hi(kind)).finish().await.unwrap();
        let b = p.stream(hi(kind)).finish().await.unwrap();
        assert_eq!(a.text(), b.text());
        assert_eq!(a.usage, b.usage);
        assert_eq!(a.stop_reason, b.stop_reason);
        assert_eq!(a.parts.len(), b.parts.len());
        assert_eq!(a.request_id.as_deref(), Some("req_scripted"));
    }
}
