//! Anthropic Messages API request body.

use perstack_core::{ExpertPart, Message, ToolResultContent, UserPart};
use serde_json::{Map, Value, json};
use url::Url;

use crate::config::AnthropicOptions;
use crate::protocol::common::system_prompt;
use crate::protocol::{Body, Conversation, WireRequest};
use crate::types::{GenerationRequest, reasoning_tokens};

/// Anthropic's minimum thinking budget.
const MIN_THINKING_BUDGET: u32 = 1024;

/// Encodes a streaming `POST {base}/messages`.
pub(crate) fn encode(
    opts: &AnthropicOptions,
    base: &Url,
    req: &GenerationRequest,
    conv: Conversation<'_>,
) -> WireRequest {
    let s = &req.settings;
    let mut body = Map::new();
    body.insert("model".into(), json!(s.model));
    let thinking = reasoning_tokens(s.reasoning_budget)
        .filter(|_| supports_thinking(&s.model))
        .map(|b| b.max(MIN_THINKING_BUDGET));
    // Like the AI SDK: the thinking budget comes on top of the answer's tokens, so that
    // `max_tokens` stays above `budget_tokens` as the API requires.
    let max_tokens = s.max_tokens.saturating_add(thinking.unwrap_or(0));
    body.insert("max_tokens".into(), json!(max_tokens));
    if let Some((text, cache)) = system_prompt(req, conv.messages) {
        let mut block = json!({"type": "text", "text": text});
        if cache {
            block["cache_control"] = json!({"type": "ephemeral"});
        }
        body.insert("system".into(), json!([block]));
    }
    body.insert("messages".into(), Value::Array(messages(conv.messages)));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut tool = json!({"name": t.name, "input_schema": t.input_schema});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                tool
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    match thinking {
        // The API rejects a temperature other than 1 with thinking on.
        Some(budget) => {
            body.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
        }
        None => {
            if let Some(t) = s.temperature {
                body.insert("temperature".into(), json!(t));
            }
        }
    }
    body.insert("stream".into(), json!(true));
    WireRequest {
        url: messages_url(base),
        body: Body::Json(Value::Object(body)),
        headers: vec![("anthropic-version", opts.version.clone())],
    }
}

/// Claude 3 models before 3.7 reject `thinking`; Perstack's default budget would make
/// every request to them fail.
pub(crate) fn supports_thinking(model: &str) -> bool {
    !model.starts_with("claude-3-") || model.starts_with("claude-3-7")
}

fn messages_url(base: &Url) -> Url {
    let mut url = base.clone();
    let path = format!("{}/messages", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// Converts the conversation, merging consecutive turns of the same role (tool results
/// are user turns) and dropping messages that end up empty.
fn messages(messages: &[Message]) -> Vec<Value> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in messages {
        let (role, mut blocks, cache) = match m {
            Message::InstructionMessage { .. } => continue,
            Message::UserMessage {
                contents, cache, ..
            } => (
                "user",
                contents.iter().filter_map(user_block).collect::<Vec<_>>(),
                *cache,
            ),
            Message::ExpertMessage {
                contents, cache, ..
            } => (
                "assistant",
                contents.iter().filter_map(expert_block).collect(),
                *cache,
            ),
            Message::ToolMessage {
                contents, cache, ..
            } => {
                let blocks = contents
                    .iter()
                    .map(|r| {
                        let content: Vec<Value> =
                            r.contents.iter().filter_map(tool_result_content).collect();
                        let mut block =
                            json!({"type": "tool_result", "tool_use_id": r.tool_call_id});
                        if !content.is_empty() {
                            block["content"] = Value::Array(content);
                        }
                        if r.is_error == Some(true) {
                            block["is_error"] = json!(true);
                        }
                        block
                    })
                    .collect();
                ("user", blocks, *cache)
            }
        };
        if blocks.is_empty() {
            continue;
        }
        if cache == Some(true)
            && let Some(last) = blocks.last_mut()
        {
            last["cache_control"] = json!({"type": "ephemeral"});
        }
        match out.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.append(&mut blocks),
            _ => out.push((role, blocks)),
        }
    }
    out.into_iter()
        .map(|(role, mut content)| {
            // tool_result blocks must open a user turn.
            content.sort_by_key(|b| b["type"] != "tool_result");
            json!({"role": role, "content": content})
        })
        .collect()
}

fn base64_source(mime: &str, data: &str) -> Value {
    json!({"type": "base64", "media_type": mime, "data": data})
}

fn user_block(part: &UserPart) -> Option<Value> {
    // The API rejects empty text blocks.
    Some(match part {
        UserPart::Text(t) if t.text.is_empty() => return None,
        UserPart::Text(t) => json!({"type": "text", "text": t.text}),
        UserPart::ImageUrl(u) => json!({"type": "image", "source": {"type": "url", "url": u.url}}),
        UserPart::ImageInline(i) => {
            json!({"type": "image", "source": base64_source(&i.mime_type, &i.encoded_data)})
        }
        UserPart::ImageBinary(b) => {
            json!({"type": "image", "source": base64_source(&b.mime_type, &b.data)})
        }
        UserPart::FileUrl(u) => {
            json!({"type": "document", "source": {"type": "url", "url": u.url}})
        }
        UserPart::FileInline(f) => {
            json!({"type": "document", "source": base64_source(&f.mime_type, &f.encoded_data)})
        }
        UserPart::FileBinary(b) => {
            json!({"type": "document", "source": base64_source(&b.mime_type, &b.data)})
        }
    })
}

fn expert_block(part: &ExpertPart) -> Option<Value> {
    match part {
        ExpertPart::Text(t) if t.text.is_empty() => None,
        ExpertPart::Text(t) => Some(json!({"type": "text", "text": t.text})),
        ExpertPart::ToolCall(c) => {
            let input = if c.args.is_object() {
                c.args.clone()
            } else {
                json!({})
            };
            Some(
                json!({"type": "tool_use", "id": c.tool_call_id, "name": c.tool_name, "input": input}),
            )
        }
        // Unsigned reasoning (from another provider) cannot be sent back.
        ExpertPart::Thinking(t) => match &t.signature {
            None => None,
            Some(sig) if t.thinking.is_empty() => {
                Some(json!({"type": "redacted_thinking", "data": sig}))
            }
            Some(sig) => {
                Some(json!({"type": "thinking", "thinking": t.thinking, "signature": sig}))
            }
        },
    }
}

fn tool_result_content(c: &ToolResultContent) -> Option<Value> {
    Some(match c {
        ToolResultContent::Text(t) if t.text.is_empty() => return None,
        ToolResultContent::Text(t) => json!({"type": "text", "text": t.text}),
        ToolResultContent::Image(i) => {
            json!({"type": "image", "source": base64_source(&i.mime_type, &i.encoded_data)})
        }
        ToolResultContent::File(f) => {
            json!({"type": "document", "source": base64_source(&f.mime_type, &f.encoded_data)})
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinking_is_left_out_for_models_without_it() {
        for m in [
            "claude-sonnet-4-5",
            "claude-3-7-sonnet-20250219",
            "claude-opus-4-1",
        ] {
            assert!(supports_thinking(m), "{m}");
        }
        for m in ["claude-3-5-haiku-latest", "claude-3-opus-20240229"] {
            assert!(!supports_thinking(m), "{m}");
        }
    }
}
