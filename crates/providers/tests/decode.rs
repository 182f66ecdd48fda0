//! Decoding recorded provider streams: every delta shape, chunk boundaries anywhere, and
//! streams that end badly.

#![allow(clippy::unwrap_used, clippy::wildcard_enum_match_arm)] // test helpers outside #[test] fns

mod support;

use perstack_core::ExpertPart;
use perstack_providers::replay::{Replay, replay, replay_body};
use perstack_providers::{Generation, ProviderError, StopReason, StreamEvent, StreamFailure};
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use serde_json::{Value, json};
use support::{Kind, fixture};

/// Events as short strings, without the random part ids.
fn events(events: &[StreamEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            StreamEvent::TextDelta(t) => format!("text {t:?}"),
            StreamEvent::ReasoningDelta(t) => format!("reasoning {t:?}"),
            StreamEvent::ReasoningDone(p) => {
                format!("reasoning-done {:?} sig={:?}", p.thinking, p.signature)
            }
            StreamEvent::ToolCall(c) => {
                format!(
                    "tool {} {} {}",
                    norm_id(&c.tool_call_id),
                    c.tool_name,
                    c.args
                )
            }
            StreamEvent::Usage(u) => format!(
                "usage in={} out={} reasoning={} cached={} total={}",
                u.input_tokens,
                u.output_tokens,
                u.reasoning_tokens,
                u.cached_input_tokens,
                u.total_tokens
            ),
            StreamEvent::Finish(r) => format!("finish {r:?}"),
            StreamEvent::Retrying { attempt, .. } => format!("retrying {attempt}"),
        })
        .collect()
}

/// Tool call ids we generate (Gemini sends none) are random: `call_` + 24 characters.
fn norm_id(id: &str) -> String {
    if id.len() == 29 && id.starts_with("call_") {
        "call_*".into()
    } else {
        id.to_string()
    }
}

/// The generation as JSON without part ids (tool call ids kept unless generated).
fn shape(g: &Generation) -> Value {
    let parts: Vec<Value> = g
        .parts
        .iter()
        .map(|p| {
            let mut v = serde_json::to_value(p).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("id");
            if let Some(Value::String(id)) = o.get("toolCallId") {
                let id = norm_id(id);
                o.insert("toolCallId".into(), json!(id));
            }
            v
        })
        .collect();
    json!({"parts": parts, "usage": g.usage, "stop": format!("{:?}", g.stop_reason)})
}

fn ok(r: &Replay) -> &Generation {
    match &r.result {
        Ok(g) => g,
        Err(e) => panic!("expected success, got {e}"),
    }
}

fn body(kind: Kind, name: &str) -> Replay {
    replay_body(kind.name(), &kind.protocol(), fixture(name).as_bytes())
}

#[test]
fn anthropic_thinking_signature_text_and_tool_use() {
    let r = body(Kind::Anthropic, "anthropic_thinking_text_tool.sse");
    assert_eq!(
        events(&r.events),
        vec![
            "usage in=40 out=1 reasoning=0 cached=10 total=41",
            "reasoning \"The user wants \"",
            "reasoning \"the weather in Paris.\"",
            "reasoning-done \"The user wants the weather in Paris.\" sig=Some(\"EqQBCgIYAhIM1gbcDa9GJwZA2b3h\")",
            "text \"Let me check \"",
            "text \"the weather — ☀\\u{fe0f}?\"",
            "tool toolu_01 get_weather {\"city\":\"Paris\",\"unit\":\"c\"}",
            "usage in=40 out=89 reasoning=0 cached=10 total=129",
            "finish ToolUse",
        ]
    );
    insta::assert_json_snapshot!(shape(ok(&r)));
}

#[test]
fn anthropic_redacted_thinking_and_tool_use_without_input() {
    let r = body(Kind::Anthropic, "anthropic_redacted_and_compat_tool.sse");
    let g = ok(&r);
    assert_eq!(
        shape(g)["parts"],
        json!([
            {"type": "thinkingPart", "thinking": "", "signature": "EmwKAhgBEgy3va3pzix"},
            {"type": "toolCallPart", "toolCallId": "toolu_02", "toolName": "get_weather", "args": {"city": "Oslo"}},
            {"type": "toolCallPart", "toolCallId": "toolu_03", "toolName": "get_time", "args": {}},
        ])
    );
    assert_eq!(g.stop_reason, StopReason::ToolUse);
    assert_eq!(g.usage.output_tokens, 30);
}

#[test]
fn anthropic_error_event_mid_stream_is_a_retryable_api_error() {
    let r = body(Kind::Anthropic, "anthropic_overloaded_midstream.sse");
    let err = r.result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "anthropic: error event (overloaded_error): Overloaded"
    );
    assert!(err.is_retryable());
    assert_eq!(events(&r.events)[1], "text \"Partial\"");
}

#[test]
fn openai_text_and_interleaved_tool_calls_with_usage() {
    let r = body(Kind::OpenAi, "openai_text_two_tools.sse");
    assert_eq!(
        events(&r.events),
        vec![
            "text \"Checking \"",
            "text \"both — ok.\"",
            "tool call_a get_weather {\"city\":\"Paris\"}",
            "tool call_b get_time {\"tz\":\"CET\"}",
            "usage in=50 out=20 reasoning=4 cached=8 total=70",
            "finish ToolUse",
        ]
    );
    insta::assert_json_snapshot!(shape(ok(&r)));
}

#[test]
fn compatible_ollama_style_whole_call_no_index_no_usage_no_done() {
    let r = body(Kind::Compatible, "compat_ollama_style.sse");
    assert_eq!(
        events(&r.events),
        vec![
            "reasoning \"Need the weather.\"",
            "reasoning-done \"Need the weather.\" sig=None",
            "tool call_x1 get_weather {\"city\":\"Lima\"}",
            // finish_reason "stop" with tool calls is normalised to tool use.
            "finish ToolUse",
        ]
    );
}

#[test]
fn compatible_deepseek_style_reasoning_content_and_brace_first_chunk() {
    let r = body(Kind::Compatible, "compat_deepseek_style.sse");
    assert_eq!(
        events(&r.events),
        vec![
            "reasoning \"Think \"",
            "reasoning \"first.\"",
            "reasoning-done \"Think first.\" sig=None",
            "text \"Answer: 42\"",
            "tool call_0 get_weather {\"city\":\"Rome\"}",
            "usage in=12 out=30 reasoning=20 cached=6 total=42",
            "finish ToolUse",
        ]
    );
}

#[test]
fn openai_error_chunk_with_integer_code() {
    let r = body(Kind::OpenAi, "openai_error_chunk.sse");
    let err = r.result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "openai: error event (server_error): The server had an error while processing your request."
    );
    assert!(err.is_retryable());
}

#[test]
fn gemini_thoughts_text_and_signed_function_call_over_crlf() {
    let r = body(Kind::Gemini, "gemini_thought_text_call.sse");
    assert_eq!(
        events(&r.events),
        vec![
            "reasoning \"Weather in Paris? \"",
            "usage in=30 out=0 reasoning=0 cached=0 total=30",
            "reasoning \"Call the tool.\"",
            "reasoning-done \"Weather in Paris? Call the tool.\" sig=None",
            "text \"Let me look \"",
            "text \"that up.\"",
            "tool call_* get_weather {\"city\":\"Paris\"}",
            "usage in=30 out=52 reasoning=40 cached=4 total=82",
            "finish ToolUse",
        ]
    );
    let g = ok(&r);
    let kinds: Vec<Value> = shape(g)["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!([p["type"], p.get("signature")]))
        .collect();
    assert_eq!(
        kinds,
        vec![
            json!(["thinkingPart", null]),
            json!(["textPart", null]),
            // The signature that came on the function call part precedes it.
            json!(["thinkingPart", "c2lnLWdlbWluaQ=="]),
            json!(["toolCallPart", null]),
        ]
    );
}

#[test]
fn truncated_streams_are_errors_not_partial_results() {
    let cases = [
        (
            Kind::Anthropic,
            "anthropic_thinking_text_tool.sse",
            "event: message_delta",
        ),
        (
            Kind::OpenAi,
            "openai_text_two_tools.sse",
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},",
        ),
        (
            Kind::Gemini,
            "gemini_thought_text_call.sse",
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"that up.\"}",
        ),
    ];
    for (kind, name, cut_before) in cases {
        let text = fixture(name);
        let cut = text.find(cut_before).unwrap();
        let r = replay_body(kind.name(), &kind.protocol(), &text.as_bytes()[..cut]);
        match r.result {
            Err(ProviderError::Stream {
                kind: StreamFailure::Truncated,
                ..
            }) => {}
            other => panic!("{name}: expected truncation, got {other:?}"),
        }
        assert!(
            !r.events.iter().any(|e| matches!(e, StreamEvent::Finish(_))),
            "{name}: no finish on a truncated stream"
        );
    }
}

#[test]
fn malformed_json_is_a_malformed_stream_error() {
    for kind in Kind::ALL {
        let r = replay_body(
            kind.name(),
            &kind.protocol(),
            b"data: {\"type\": \"message_st\n\n",
        );
        match r.result {
            Err(
                e @ ProviderError::Stream {
                    kind: StreamFailure::Malformed,
                    ..
                },
            ) => {
                assert!(e.is_retryable());
            }
            other => panic!("{kind:?}: {other:?}"),
        }
    }
}

#[test]
fn malformed_tool_arguments_never_pass_as_a_tool_call() {
    let anthropic = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n\
        data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"get_weather\",\"input\":{}}}\n\n\
        data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \\\"Par\"}}\n\n\
        data: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
    let openai = "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\"\"}}]}}]}\n\n\
        data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n";
    let gemini = "data: {\"candidates\":[{\"content\":{\"parts\":[]},\"finishReason\":\"MALFORMED_FUNCTION_CALL\"}]}\n\n";
    for (kind, text) in [
        (Kind::Anthropic, anthropic),
        (Kind::OpenAi, openai),
        (Kind::Gemini, gemini),
    ] {
        let r = replay_body(kind.name(), &kind.protocol(), text.as_bytes());
        assert!(
            matches!(r.result, Err(ProviderError::MalformedToolCall { .. })),
            "{kind:?}: {:?}",
            r.result
        );
        assert!(r.result.as_ref().unwrap_err().is_retryable());
        assert!(
            !r.events
                .iter()
                .any(|e| matches!(e, StreamEvent::ToolCall(_)))
        );
    }
}

#[test]
fn anthropic_delta_for_unknown_block_is_malformed() {
    let text = "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n";
    let r = replay_body(
        Kind::Anthropic.name(),
        &Kind::Anthropic.protocol(),
        text.as_bytes(),
    );
    assert!(matches!(
        r.result,
        Err(ProviderError::Stream {
            kind: StreamFailure::Malformed,
            ..
        })
    ));
}

#[test]
fn gemini_blocked_prompt_finishes_with_content_filter() {
    let text = "data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":{\"promptTokenCount\":3}}\n\n";
    let r = replay_body(
        Kind::Gemini.name(),
        &Kind::Gemini.protocol(),
        text.as_bytes(),
    );
    assert_eq!(ok(&r).stop_reason, StopReason::ContentFilter);
}

const GOOD: [(Kind, &str); 5] = [
    (Kind::Anthropic, "anthropic_thinking_text_tool.sse"),
    (Kind::Anthropic, "anthropic_redacted_and_compat_tool.sse"),
    (Kind::OpenAi, "openai_text_two_tools.sse"),
    (Kind::Compatible, "compat_deepseek_style.sse"),
    (Kind::Gemini, "gemini_thought_text_call.sse"),
];

fn split_at<'a>(bytes: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut positions: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    positions.sort_unstable();
    let mut chunks = Vec::new();
    let mut last = 0;
    for p in positions {
        chunks.push(&bytes[last..p]);
        last = p;
    }
    chunks.push(&bytes[last..]);
    chunks
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The same stream split at random byte positions decodes to the same events and result.
    #[test]
    fn random_chunk_boundaries_do_not_change_the_result(
        which in 0..GOOD.len(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let (kind, name) = GOOD[which];
        let text = fixture(name);
        let whole = replay_body(kind.name(), &kind.protocol(), text.as_bytes());
        let split = replay(kind.name(), &kind.protocol(), split_at(text.as_bytes(), &cuts));
        prop_assert_eq!(events(&split.events), events(&whole.events));
        prop_assert_eq!(shape(ok(&split)), shape(ok(&whole)));
    }

    /// A stream cut anywhere either fails, or (cut after the end marker) yields exactly the
    /// full content — never a partial answer or a half tool call passed on as complete.
    #[test]
    fn a_cut_stream_never_yields_partial_content(
        which in 0..GOOD.len(),
        cut in any::<prop::sample::Index>(),
    ) {
        let (kind, name) = GOOD[which];
        let text = fixture(name);
        let whole = replay_body(kind.name(), &kind.protocol(), text.as_bytes());
        let cut = cut.index(text.len() + 1);
        let prefix = replay_body(kind.name(), &kind.protocol(), &text.as_bytes()[..cut]);
        if let Ok(g) = &prefix.result {
            let full = ok(&whole);
            prop_assert_eq!(&shape(g)["parts"], &shape(full)["parts"]);
            prop_assert_eq!(&g.stop_reason, &full.stop_reason);
        } else {
            let calls = prefix.events.iter().filter(|e| matches!(e, StreamEvent::ToolCall(_))).count();
            let full_calls = whole.events.iter().filter(|e| matches!(e, StreamEvent::ToolCall(_))).count();
            prop_assert!(calls <= full_calls);
            prop_assert!(!prefix.events.iter().any(|e| matches!(e, StreamEvent::Finish(_))));
        }
    }
}

#[test]
fn parts_are_only_text_thinking_and_tool_calls() {
    let r = body(Kind::Anthropic, "anthropic_thinking_text_tool.sse");
    let g = ok(&r);
    assert_eq!(g.text(), "Let me check the weather — ☀️?");
    assert_eq!(g.tool_calls().len(), 1);
    assert!(matches!(g.parts[0], ExpertPart::Thinking(_)));
}
