//! What each provider puts on the wire, as received by the scripted server.

#![allow(clippy::unwrap_used, clippy::wildcard_enum_match_arm)] // test helpers outside #[test] fns

mod support;

use perstack_core::config::{ReasoningBudget, ReasoningLevel};
use perstack_core::{
    ExpertPart, ImageInlinePart, Message, TextPart, ThinkingPart, ToolCallPart, ToolResultContent,
    ToolResultPart, UserPart,
};
use perstack_providers::{
    OpenAiFlavor, OpenAiOptions, Protocol, Provider, ProviderError, StreamEvent,
};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use support::{
    Kind, Recorded, Reply, ScriptedServer, TEST_KEY, fixture, provider, request, test_options,
};

/// A conversation with every part kind: images, signed thinking, a tool call and its
/// result (text and image), and a cached follow-up.
fn conversation() -> Vec<Message> {
    vec![
        Message::instruction("Answer in one sentence."),
        Message::UserMessage {
            id: "u1".into(),
            contents: vec![
                UserPart::Text(TextPart::new("What is the weather in Paris?")),
                UserPart::ImageInline(ImageInlinePart {
                    id: "i1".into(),
                    encoded_data: "aGVsbG8=".into(),
                    mime_type: "image/png".into(),
                }),
            ],
            cache: None,
        },
        Message::expert(vec![
            ExpertPart::Thinking(ThinkingPart {
                id: "t1".into(),
                thinking: "Need the tool.".into(),
                signature: Some("sig-1".into()),
            }),
            ExpertPart::Text(TextPart::new("Checking.")),
            ExpertPart::ToolCall(ToolCallPart {
                id: "p1".into(),
                tool_call_id: "call_1".into(),
                tool_name: "get_weather".into(),
                args: json!({"city": "Paris"}),
            }),
        ]),
        Message::tool(vec![ToolResultPart {
            id: "r1".into(),
            tool_call_id: "call_1".into(),
            tool_name: "get_weather".into(),
            contents: vec![
                ToolResultContent::Text(TextPart::new("21C and sunny")),
                ToolResultContent::Image(ImageInlinePart {
                    id: "i2".into(),
                    encoded_data: "d29ybGQ=".into(),
                    mime_type: "image/jpeg".into(),
                }),
            ],
            is_error: Some(false),
        }]),
        Message::UserMessage {
            id: "u2".into(),
            contents: vec![UserPart::Text(TextPart::new("Thanks. And tomorrow?"))],
            cache: Some(true),
        },
    ]
}

fn success_body(kind: Kind) -> String {
    match kind {
        Kind::Anthropic => fixture("anthropic_thinking_text_tool.sse"),
        Kind::OpenAi => fixture("openai_text_two_tools.sse"),
        Kind::Compatible => fixture("compat_deepseek_style.sse"),
        Kind::Gemini => fixture("gemini_thought_text_call.sse"),
    }
}

async fn send(
    kind: Kind,
    provider_kind: &perstack_providers::HttpProvider,
    req: perstack_providers::GenerationRequest,
    server: &ScriptedServer,
) -> Recorded {
    let _ = kind;
    provider_kind.stream(req).finish().await.unwrap();
    server.requests().pop().unwrap()
}

/// The request as a snapshot: method, target, relevant headers (key masked), body.
fn wire(r: &Recorded, key_header: &str) -> Value {
    let auth = r.header(key_header).unwrap();
    assert!(auth.ends_with(TEST_KEY), "{key_header}: {auth}");
    let keep = [
        "content-type",
        "accept",
        "anthropic-version",
        "openai-organization",
    ];
    let headers: serde_json::Map<String, Value> = r
        .headers
        .iter()
        .filter(|(k, _)| keep.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({"method": r.method, "target": r.target, "headers": headers, "body": r.body})
}

#[tokio::test]
async fn every_protocol_encodes_the_full_conversation() {
    for (kind, key_header) in [
        (Kind::Anthropic, "x-api-key"),
        (Kind::OpenAi, "authorization"),
        (Kind::Compatible, "authorization"),
        (Kind::Gemini, "x-goog-api-key"),
    ] {
        let server = ScriptedServer::start(vec![Reply::sse(&success_body(kind))]).await;
        let base = match kind {
            Kind::Anthropic | Kind::OpenAi | Kind::Compatible => format!("{}/v1", server.url),
            Kind::Gemini => format!("{}/v1beta", server.url),
        };
        let p = provider(kind, &base, test_options());
        let mut req = request(kind, conversation());
        req.settings.reasoning_budget = ReasoningBudget::Level(ReasoningLevel::Medium);
        req.settings.temperature = Some(0.5);
        let recorded = send(kind, &p, req, &server).await;
        insta::assert_json_snapshot!(
            format!("wire_{kind:?}").to_lowercase(),
            wire(&recorded, key_header)
        );
    }
}

#[tokio::test]
async fn openai_reasoning_models_get_effort_developer_role_and_no_temperature() {
    let server = ScriptedServer::start(vec![Reply::sse(&success_body(Kind::OpenAi))]).await;
    let p = provider(Kind::OpenAi, &format!("{}/v1", server.url), test_options());
    let mut req = request(Kind::OpenAi, vec![Message::user_text("hi")]);
    req.settings.model = "o4-mini".into();
    req.settings.temperature = Some(0.2);
    req.settings.reasoning_budget = ReasoningBudget::Tokens(9000);
    let body = send(Kind::OpenAi, &p, req, &server).await.body;
    assert_eq!(body["reasoning_effort"], "high");
    assert_eq!(body["messages"][0]["role"], "developer");
    assert_eq!(body["max_completion_tokens"], 512);
    assert!(body.get("temperature").is_none());
    assert!(body.get("max_tokens").is_none());
}

#[tokio::test]
async fn anthropic_without_reasoning_sends_temperature_and_no_thinking() {
    let server = ScriptedServer::start(vec![Reply::sse(&success_body(Kind::Anthropic))]).await;
    let p = provider(
        Kind::Anthropic,
        &format!("{}/v1", server.url),
        test_options(),
    );
    let mut req = request(Kind::Anthropic, vec![Message::user_text("hi")]);
    req.settings.temperature = Some(0.25);
    let r = send(Kind::Anthropic, &p, req, &server).await;
    assert_eq!(r.body["temperature"], 0.25);
    assert_eq!(r.body["max_tokens"], 512);
    assert!(r.body.get("thinking").is_none());
    assert_eq!(r.target, "/v1/messages");
}

#[tokio::test]
async fn azure_urls_carry_the_api_version_and_deployment() {
    for (deployment_urls, want) in [
        (
            true,
            "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
        ),
        (false, "/openai/v1/chat/completions?api-version=2024-10-21"),
    ] {
        let server = ScriptedServer::start(vec![Reply::sse(&success_body(Kind::OpenAi))]).await;
        let mut spec = Kind::OpenAi.spec(&format!("{}/openai", server.url));
        spec.auth = perstack_providers::AuthStyle::Header("api-key".into());
        spec.protocol = Protocol::OpenAi(OpenAiOptions {
            flavor: OpenAiFlavor::Azure {
                api_version: "2024-10-21".into(),
                deployment_urls,
            },
            organization: Some("org-1".into()),
            project: None,
        });
        let p = perstack_providers::HttpProvider::new(spec, test_options()).unwrap();
        let r = send(
            Kind::OpenAi,
            &p,
            request(Kind::OpenAi, vec![Message::user_text("hi")]),
            &server,
        )
        .await;
        assert_eq!(r.target, want);
        assert_eq!(r.header("api-key"), Some(TEST_KEY));
        assert_eq!(r.header("openai-organization"), Some("org-1"));
        assert!(r.header("authorization").is_none());
    }
}

#[tokio::test]
async fn configured_headers_override_ours() {
    let server = ScriptedServer::start(vec![Reply::sse(&success_body(Kind::Anthropic))]).await;
    let mut spec = Kind::Anthropic.spec(&format!("{}/v1", server.url));
    spec.headers = vec![
        ("anthropic-version".into(), "2099-01-01".into()),
        ("x-team".into(), "blue".into()),
    ];
    let p = perstack_providers::HttpProvider::new(spec, test_options()).unwrap();
    let r = send(
        Kind::Anthropic,
        &p,
        request(Kind::Anthropic, vec![Message::user_text("hi")]),
        &server,
    )
    .await;
    assert_eq!(r.header("anthropic-version"), Some("2099-01-01"));
    assert_eq!(r.header("x-team"), Some("blue"));
}

#[tokio::test]
async fn an_empty_model_or_unsafe_model_id_is_an_invalid_request_without_network() {
    let p = provider(Kind::Gemini, "http://127.0.0.1:9/v1beta", test_options());
    let mut req = request(Kind::Gemini, vec![Message::user_text("hi")]);
    req.settings.model = "../../admin".into();
    let mut s = p.stream(req);
    let err = s.next().await.unwrap().unwrap_err();
    assert!(matches!(err, ProviderError::InvalidRequest { .. }), "{err}");
    assert!(!err.is_retryable());
    assert!(s.next().await.is_none());
    let mut req = request(Kind::Anthropic, vec![Message::user_text("hi")]);
    req.settings.model = String::new();
    let err = provider(Kind::Anthropic, "http://127.0.0.1:9/v1", test_options())
        .stream(req)
        .finish()
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::InvalidRequest { .. }), "{err}");
}

#[tokio::test]
async fn events_arrive_while_the_body_is_still_streaming() {
    // A stream whose second half is held back: the first text must be readable before it.
    let text = success_body(Kind::Anthropic);
    let cut = text
        .find("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2")
        .unwrap();
    let server =
        ScriptedServer::start(vec![Reply::sse_then(&text[..cut], support::End::Stall)]).await;
    let p = provider(
        Kind::Anthropic,
        &format!("{}/v1", server.url),
        test_options(),
    );
    let mut s = p.stream(request(Kind::Anthropic, vec![Message::user_text("hi")]));
    let mut texts = Vec::new();
    while let Some(ev) = s.next().await {
        if let StreamEvent::TextDelta(t) = ev.unwrap() {
            texts.push(t);
            if texts.len() == 2 {
                break;
            }
        }
    }
    assert_eq!(texts.concat(), "Let me check the weather — ☀️?");
}
