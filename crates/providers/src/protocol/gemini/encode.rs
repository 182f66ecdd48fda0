//! Gemini `streamGenerateContent` request body.

use perstack_core::config::ProviderName;
use perstack_core::{ExpertPart, Message, ToolResultContent, UserPart};
use serde_json::{Map, Value, json};
use url::Url;

use crate::error::ProviderError;
use crate::protocol::common::{system_prompt, tool_result_text};
use crate::protocol::{Body, Conversation, WireRequest, join, path_safe_model};
use crate::types::{GenerationRequest, reasoning_tokens};

/// Encodes `POST {base}/models/{model}:streamGenerateContent?alt=sse`.
pub(crate) fn encode(
    provider: ProviderName,
    base: &Url,
    req: &GenerationRequest,
    conv: Conversation<'_>,
) -> Result<WireRequest, ProviderError> {
    let s = &req.settings;
    let model = path_safe_model(provider, &s.model)?;
    let mut url = join(
        provider,
        base,
        &format!("/models/{model}:streamGenerateContent"),
    )?;
    url.query_pairs_mut().append_pair("alt", "sse");

    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents(conv.messages)));
    if let Some((text, _)) = system_prompt(req, conv.messages) {
        body.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": text}]}),
        );
    }
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                // `parametersJsonSchema` takes full JSON Schema, unlike the OpenAPI subset
                // of `parameters` (which rejects `additionalProperties`, `$schema`...).
                let mut d = json!({"name": t.name, "parametersJsonSchema": t.input_schema});
                if let Some(desc) = &t.description {
                    d["description"] = json!(desc);
                }
                d
            })
            .collect();
        body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    let mut config = Map::new();
    config.insert("maxOutputTokens".into(), json!(s.max_tokens));
    if let Some(t) = s.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(budget) = reasoning_tokens(s.reasoning_budget).filter(|_| supports_thinking(&model))
    {
        config.insert(
            "thinkingConfig".into(),
            json!({"thinkingBudget": budget, "includeThoughts": true}),
        );
    }
    body.insert("generationConfig".into(), Value::Object(config));
    Ok(WireRequest {
        url,
        body: Body::Json(Value::Object(body)),
        headers: Vec::new(),
    })
}

/// Gemini 1.x and 2.0 reject `thinkingConfig`; Perstack's default budget would make every
/// request to them fail.
pub(crate) fn supports_thinking(model: &str) -> bool {
    !(model.starts_with("gemini-1") || model.starts_with("gemini-2.0"))
}

/// Converts the conversation into `contents`, merging consecutive turns of one role.
fn contents(messages: &[Message]) -> Vec<Value> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in messages {
        let (role, mut parts) = match m {
            Message::InstructionMessage { .. } => continue,
            Message::UserMessage { contents, .. } => (
                "user",
                contents.iter().filter_map(user_part).collect::<Vec<_>>(),
            ),
            Message::ExpertMessage { contents, .. } => ("model", model_parts(contents)),
            Message::ToolMessage { contents, .. } => {
                let mut parts = Vec::new();
                let mut media = Vec::new();
                for r in contents {
                    parts.push(json!({"functionResponse": {
                        "name": r.tool_name,
                        "response": {"name": r.tool_name, "content": tool_result_text(r)},
                    }}));
                    for c in &r.contents {
                        match c {
                            ToolResultContent::Image(i) => {
                                media.push(inline(&i.mime_type, &i.encoded_data))
                            }
                            ToolResultContent::File(f) => {
                                media.push(inline(&f.mime_type, &f.encoded_data))
                            }
                            ToolResultContent::Text(_) => {}
                        }
                    }
                }
                parts.append(&mut media);
                ("user", parts)
            }
        };
        if parts.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last_role, last_parts)) if *last_role == role => last_parts.append(&mut parts),
            _ => out.push((role, parts)),
        }
    }
    out.into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect()
}

fn inline(mime: &str, data: &str) -> Value {
    json!({"inlineData": {"mimeType": mime, "data": data}})
}

fn user_part(part: &UserPart) -> Option<Value> {
    Some(match part {
        UserPart::Text(t) if t.text.is_empty() => return None,
        UserPart::Text(t) => json!({"text": t.text}),
        UserPart::ImageUrl(u) | UserPart::FileUrl(u) => {
            json!({"fileData": {"mimeType": u.mime_type, "fileUri": u.url}})
        }
        UserPart::ImageInline(i) => inline(&i.mime_type, &i.encoded_data),
        UserPart::FileInline(f) => inline(&f.mime_type, &f.encoded_data),
        UserPart::ImageBinary(b) | UserPart::FileBinary(b) => inline(&b.mime_type, &b.data),
    })
}

/// Model turn parts. Thought text is not sent back (Gemini ignores it); a thought
/// signature is attached to the part that followed it in the stream, as Gemini requires.
fn model_parts(contents: &[ExpertPart]) -> Vec<Value> {
    let mut parts: Vec<Value> = Vec::new();
    let mut signature: Option<&str> = None;
    for p in contents {
        let mut part = match p {
            ExpertPart::Thinking(t) => {
                if let Some(sig) = &t.signature {
                    signature = Some(sig);
                }
                continue;
            }
            ExpertPart::Text(t) if t.text.is_empty() => continue,
            ExpertPart::Text(t) => json!({"text": t.text}),
            ExpertPart::ToolCall(c) => {
                let args = if c.args.is_object() {
                    c.args.clone()
                } else {
                    json!({})
                };
                json!({"functionCall": {"name": c.tool_name, "args": args}})
            }
        };
        if let Some(sig) = signature.take() {
            part["thoughtSignature"] = json!(sig);
        }
        parts.push(part);
    }
    // A signature with nothing after it stays with the turn's last part.
    if let (Some(sig), Some(last)) = (signature, parts.last_mut())
        && last.get("thoughtSignature").is_none()
    {
        last["thoughtSignature"] = json!(sig);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinking_config_is_left_out_for_models_without_thinking() {
        assert!(supports_thinking("gemini-2.5-pro"));
        assert!(supports_thinking("gemini-3-pro-preview"));
        assert!(!supports_thinking("gemini-2.0-flash"));
        assert!(!supports_thinking("gemini-1.5-pro"));
    }
}
