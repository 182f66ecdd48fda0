//! A tool-using conversation loop, as a runtime would hold it, and scripted SSE answers for
//! each protocol.

use perstack_core::id::new_id;
use perstack_core::{Message, TextPart, ToolCallPart, ToolResultContent, ToolResultPart};
use perstack_providers::{Provider, ProviderError, StreamEvent};
use serde_json::{Value, json};

use super::{Kind, request};

/// What our local `get_weather` tool answers.
pub fn run_tool(call: &ToolCallPart) -> String {
    let city = call
        .args
        .get("city")
        .and_then(Value::as_str)
        .unwrap_or("nowhere");
    format!("21C and sunny in {city}")
}

/// Holds a conversation: each user turn, then model turns until one calls no tool (at
/// most four rounds a turn). Streams every generation, checks the streamed text matches
/// the assembled one, and returns the whole message history.
pub async fn hold_conversation(
    p: &dyn Provider,
    kind: Kind,
    user_turns: &[&str],
) -> Result<Vec<Message>, ProviderError> {
    let mut messages = Vec::new();
    for user in user_turns {
        messages.push(Message::user_text(*user));
        for _round in 0..4 {
            let mut stream = p.stream(request(kind, messages.clone()));
            let mut streamed = String::new();
            while let Some(event) = stream.next().await {
                if let StreamEvent::TextDelta(t) = event? {
                    streamed.push_str(&t);
                }
            }
            let generation = stream.finish().await?;
            assert_eq!(
                streamed,
                generation.text(),
                "streamed text = assembled text"
            );
            messages.push(generation.to_message());
            let calls = generation.tool_calls();
            if calls.is_empty() {
                break;
            }
            let results = calls
                .iter()
                .map(|c| ToolResultPart {
                    id: new_id(),
                    tool_call_id: c.tool_call_id.clone(),
                    tool_name: c.tool_name.clone(),
                    contents: vec![ToolResultContent::Text(TextPart::new(run_tool(c)))],
                    is_error: None,
                })
                .collect();
            messages.push(Message::tool(results));
        }
    }
    Ok(messages)
}

/// The message kinds of a history, e.g. `["user", "expert:call", "tool", "expert:text"]`.
pub fn outline(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .map(|m| match m {
            Message::InstructionMessage { .. } => "instruction".to_string(),
            Message::UserMessage { .. } => "user".to_string(),
            Message::ToolMessage { .. } => "tool".to_string(),
            Message::ExpertMessage { contents, .. } => {
                let calls = contents
                    .iter()
                    .filter(|p| matches!(p, perstack_core::ExpertPart::ToolCall(_)))
                    .count();
                if calls > 0 {
                    "expert:call".to_string()
                } else {
                    "expert:text".to_string()
                }
            }
        })
        .collect()
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(e) => format!("event: {e}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// A scripted answer that calls `get_weather` for `city` with call id `id`.
pub fn tool_call_answer(kind: Kind, id: &str, city: &str) -> String {
    let args = json!({ "city": city }).to_string();
    let (head, tail) = args.split_at(5);
    match kind {
        Kind::Anthropic => [
            sse(Some("message_start"), &json!({"type": "message_start", "message": {"id": "msg", "usage": {"input_tokens": 10, "output_tokens": 1}}})),
            sse(Some("content_block_start"), &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": id, "name": "get_weather", "input": {}}})),
            sse(Some("content_block_delta"), &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": head}})),
            sse(Some("content_block_delta"), &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": tail}})),
            sse(Some("content_block_stop"), &json!({"type": "content_block_stop", "index": 0})),
            sse(Some("message_delta"), &json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}})),
            sse(Some("message_stop"), &json!({"type": "message_stop"})),
        ]
        .concat(),
        Kind::OpenAi | Kind::Compatible => [
            sse(None, &json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": null}}]})),
            sse(None, &json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": id, "type": "function", "function": {"name": "get_weather", "arguments": head}}]}}]})),
            sse(None, &json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": tail}}]}}]})),
            sse(None, &json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})),
            sse(None, &json!({"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 9, "total_tokens": 19}})),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat(),
        Kind::Gemini => sse(None, &json!({"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": city}}}]}, "finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 9, "totalTokenCount": 19}})),
    }
}

/// A scripted answer in plain text, streamed word by word.
pub fn text_answer(kind: Kind, text: &str) -> String {
    let words: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
    match kind {
        Kind::Anthropic => {
            let mut out = vec![
                sse(
                    Some("message_start"),
                    &json!({"type": "message_start", "message": {"id": "msg", "usage": {"input_tokens": 20, "output_tokens": 1}}}),
                ),
                sse(
                    Some("content_block_start"),
                    &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                ),
            ];
            for w in &words {
                out.push(sse(Some("content_block_delta"), &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}})));
            }
            out.push(sse(
                Some("content_block_stop"),
                &json!({"type": "content_block_stop", "index": 0}),
            ));
            out.push(sse(Some("message_delta"), &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": words.len()}})));
            out.push(sse(Some("message_stop"), &json!({"type": "message_stop"})));
            out.concat()
        }
        Kind::OpenAi | Kind::Compatible => {
            let mut out = vec![sse(
                None,
                &json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
            )];
            for w in &words {
                out.push(sse(
                    None,
                    &json!({"choices": [{"index": 0, "delta": {"content": w}}]}),
                ));
            }
            out.push(sse(
                None,
                &json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            ));
            out.push("data: [DONE]\n\n".to_string());
            out.concat()
        }
        Kind::Gemini => {
            let mut out = Vec::new();
            for (i, w) in words.iter().enumerate() {
                let mut candidate =
                    json!({"content": {"role": "model", "parts": [{"text": w}]}, "index": 0});
                if i + 1 == words.len() {
                    candidate["finishReason"] = json!("STOP");
                }
                out.push(sse(None, &json!({"candidates": [candidate]})));
            }
            out.concat()
        }
    }
}
