//! OpenAI Chat Completions request body, for OpenAI, Azure and compatible servers.

use perstack_core::config::ProviderName;
use perstack_core::{ExpertPart, Message, ToolResultContent, UserPart};
use serde_json::{Map, Value, json};
use url::Url;

use crate::config::{OpenAiFlavor, OpenAiOptions};
use crate::error::ProviderError;
use crate::prompt_cache::Encoded;
use crate::protocol::common::{system_prompt, tool_result_text};
use crate::protocol::{Body, Conversation, WireRequest, join, path_safe_model};
use crate::types::{GenerationRequest, reasoning_effort};

/// The name of this encoding in a prompt cache.
const PROTOCOL: &str = "openai-chat";

/// Whether an OpenAI model is a reasoning model (takes `reasoning_effort`, no
/// temperature, `developer` instead of `system`), by the same rule as the AI SDK.
pub(crate) fn is_reasoning_model(model: &str) -> bool {
    let m = model.rsplit('/').next().unwrap_or(model);
    (m.starts_with('o') && m.chars().nth(1).is_some_and(|c| c.is_ascii_digit()))
        || (m.starts_with("gpt-5") && !m.starts_with("gpt-5-chat"))
}

/// Encodes a streaming chat completion request. With a prompt cache, only the messages
/// after the cached prefix are encoded; the body is assembled around the prefix's bytes.
pub(crate) fn encode(
    provider: ProviderName,
    opts: &OpenAiOptions,
    base: &Url,
    req: &GenerationRequest,
    conv: Conversation<'_>,
) -> Result<WireRequest, ProviderError> {
    let s = &req.settings;
    let native = !matches!(opts.flavor, OpenAiFlavor::Compatible);
    let reasoning = native && is_reasoning_model(&s.model);
    let system = system_prompt(req, conv.messages).map(|(text, _)| {
        let role = if reasoning { "developer" } else { "system" };
        json!({"role": role, "content": text})
    });
    // Everything after `messages`, in the order the API documents.
    let mut rest = Map::new();
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": t.input_schema});
                if let Some(d) = &t.description {
                    f["description"] = json!(d);
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        rest.insert("tools".into(), Value::Array(tools));
    }
    // OpenAI replaced `max_tokens` (which reasoning models reject); compatible servers
    // mostly know only the old name.
    let max_key = if native {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    rest.insert(max_key.into(), json!(s.max_tokens));
    if reasoning {
        if let Some(effort) = reasoning_effort(s.reasoning_budget) {
            rest.insert("reasoning_effort".into(), json!(effort));
        }
    } else if let Some(t) = s.temperature {
        rest.insert("temperature".into(), json!(t));
    }
    rest.insert("stream".into(), json!(true));
    rest.insert("stream_options".into(), json!({"include_usage": true}));
    let failed = |e: serde_json::Error| ProviderError::InvalidRequest {
        provider,
        message: format!("cannot serialise the request: {e}"),
    };
    let mut local = Encoded::default();
    let encoded = conv.encoded.unwrap_or(&mut local);
    append_messages(encoded, conv.messages).map_err(failed)?;
    let body = body_bytes(&s.model, system.as_ref(), &encoded.bytes, &rest).map_err(failed)?;

    let mut headers = Vec::new();
    if let Some(org) = &opts.organization {
        headers.push(("openai-organization", org.clone()));
    }
    if let Some(project) = &opts.project {
        headers.push(("openai-project", project.clone()));
    }
    let url = match &opts.flavor {
        OpenAiFlavor::OpenAi | OpenAiFlavor::Compatible => {
            join(provider, base, "/chat/completions")?
        }
        OpenAiFlavor::Azure {
            api_version,
            deployment_urls,
        } => {
            let path = if *deployment_urls {
                format!(
                    "/deployments/{}/chat/completions",
                    path_safe_model(provider, &s.model)?
                )
            } else {
                "/v1/chat/completions".to_string()
            };
            let mut url = join(provider, base, &path)?;
            url.query_pairs_mut()
                .append_pair("api-version", api_version);
            url
        }
    };
    Ok(WireRequest {
        url,
        body: Body::Bytes(body),
        headers,
    })
}

/// Brings `encoded` up to date with `messages`: encodes those after the prefix it holds
/// (all of them when it holds another encoding or a conversation that no longer fits).
fn append_messages(encoded: &mut Encoded, messages: &[Message]) -> Result<(), serde_json::Error> {
    if encoded.protocol != PROTOCOL || encoded.count > messages.len() {
        *encoded = Encoded {
            protocol: PROTOCOL,
            ..Encoded::default()
        };
    }
    for value in self::messages(messages.get(encoded.count..).unwrap_or_default()) {
        if !encoded.bytes.is_empty() {
            encoded.bytes.push(b',');
        }
        serde_json::to_writer(&mut encoded.bytes, &value)?;
    }
    encoded.count = messages.len();
    Ok(())
}

/// `{"model":..,"messages":[system?, ..messages],..rest}` as bytes.
fn body_bytes(
    model: &str,
    system: Option<&Value>,
    messages: &[u8],
    rest: &Map<String, Value>,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(messages.len() + 4096);
    out.extend_from_slice(b"{\"model\":");
    serde_json::to_writer(&mut out, model)?;
    out.extend_from_slice(b",\"messages\":[");
    if let Some(system) = system {
        serde_json::to_writer(&mut out, system)?;
        if !messages.is_empty() {
            out.push(b',');
        }
    }
    out.extend_from_slice(messages);
    out.push(b']');
    for (key, value) in rest {
        out.push(b',');
        serde_json::to_writer(&mut out, key)?;
        out.push(b':');
        serde_json::to_writer(&mut out, value)?;
    }
    out.push(b'}');
    Ok(out)
}

fn data_uri(mime: &str, data: &str) -> String {
    format!("data:{mime};base64,{data}")
}

fn messages(messages: &[Message]) -> Vec<Value> {
    let mut out = Vec::new();
    for m in messages {
        match m {
            Message::InstructionMessage { .. } => {}
            Message::UserMessage { contents, .. } => {
                if contents.is_empty() {
                    continue;
                }
                out.push(json!({"role": "user", "content": user_content(contents)}));
            }
            Message::ExpertMessage { contents, .. } => {
                let text: String = contents
                    .iter()
                    .filter_map(|p| match p {
                        ExpertPart::Text(t) => Some(t.text.as_str()),
                        ExpertPart::ToolCall(_) | ExpertPart::Thinking(_) => None,
                    })
                    .collect();
                let calls: Vec<Value> = contents
                    .iter()
                    .filter_map(|p| match p {
                        ExpertPart::ToolCall(c) => Some(json!({
                            "id": c.tool_call_id,
                            "type": "function",
                            "function": {"name": c.tool_name, "arguments": c.args.to_string()},
                        })),
                        ExpertPart::Text(_) | ExpertPart::Thinking(_) => None,
                    })
                    .collect();
                if text.is_empty() && calls.is_empty() {
                    continue;
                }
                let mut msg = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
                if !calls.is_empty() {
                    msg["tool_calls"] = Value::Array(calls);
                }
                out.push(msg);
            }
            Message::ToolMessage { contents, .. } => {
                // Tool messages carry text only; images follow in a user message.
                let mut images = Vec::new();
                for r in contents {
                    out.push(json!({
                        "role": "tool",
                        "tool_call_id": r.tool_call_id,
                        "content": tool_result_text(r),
                    }));
                    for c in &r.contents {
                        match c {
                            ToolResultContent::Image(i) => images.push(json!({
                                "type": "image_url",
                                "image_url": {"url": data_uri(&i.mime_type, &i.encoded_data)},
                            })),
                            ToolResultContent::File(f) => {
                                images.push(file_part(&f.mime_type, &f.encoded_data))
                            }
                            ToolResultContent::Text(_) => {}
                        }
                    }
                }
                if !images.is_empty() {
                    out.push(json!({"role": "user", "content": images}));
                }
            }
        }
    }
    out
}

fn file_part(mime: &str, data: &str) -> Value {
    json!({"type": "file", "file": {"filename": "file", "file_data": data_uri(mime, data)}})
}

/// A plain string when the message is only text (what every compatible server takes),
/// content parts otherwise.
fn user_content(parts: &[UserPart]) -> Value {
    let only_text: Option<Vec<&str>> = parts
        .iter()
        .map(|p| match p {
            UserPart::Text(t) => Some(t.text.as_str()),
            UserPart::ImageUrl(_)
            | UserPart::ImageInline(_)
            | UserPart::ImageBinary(_)
            | UserPart::FileUrl(_)
            | UserPart::FileInline(_)
            | UserPart::FileBinary(_) => None,
        })
        .collect();
    if let Some(texts) = only_text {
        return json!(texts.join("\n"));
    }
    let content: Vec<Value> = parts
        .iter()
        .map(|p| match p {
            UserPart::Text(t) => json!({"type": "text", "text": t.text}),
            UserPart::ImageUrl(u) => json!({"type": "image_url", "image_url": {"url": u.url}}),
            UserPart::ImageInline(i) => {
                json!({"type": "image_url", "image_url": {"url": data_uri(&i.mime_type, &i.encoded_data)}})
            }
            UserPart::ImageBinary(b) => {
                json!({"type": "image_url", "image_url": {"url": data_uri(&b.mime_type, &b.data)}})
            }
            // Chat Completions cannot fetch files by URL; pass the reference on as text.
            UserPart::FileUrl(u) => json!({"type": "text", "text": format!("[file: {}]", u.url)}),
            UserPart::FileInline(f) => file_part(&f.mime_type, &f.encoded_data),
            UserPart::FileBinary(b) => file_part(&b.mime_type, &b.data),
        })
        .collect();
    Value::Array(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt_cache::PromptCache;
    use crate::protocol::Body;
    use crate::types::GenerationSettings;
    use perstack_core::{TextPart, ToolCallPart, ToolResultPart};
    use pretty_assertions::assert_eq;

    fn conversation(steps: usize) -> Vec<Message> {
        let mut out = vec![Message::instruction("Be brief."), Message::user_text("Go")];
        for i in 0..steps {
            out.push(Message::expert(vec![ExpertPart::ToolCall(ToolCallPart {
                id: format!("p{i}"),
                tool_call_id: format!("c{i}"),
                tool_name: "echo".into(),
                args: json!({"text": i}),
            })]));
            out.push(Message::tool(vec![ToolResultPart {
                id: format!("r{i}"),
                tool_call_id: format!("c{i}"),
                tool_name: "echo".into(),
                contents: vec![ToolResultContent::Text(TextPart::new(format!("echo {i}")))],
                is_error: None,
            }]));
        }
        out
    }

    /// The body `protocol::encode` builds for `req` (with its cache, if any).
    fn body(req: &GenerationRequest) -> Value {
        let spec = crate::config::ProviderSpec {
            name: ProviderName::OpenAi,
            base_url: "http://127.0.0.1:1/v1".parse().unwrap(),
            api_key: None,
            auth: crate::config::AuthStyle::Bearer,
            headers: Vec::new(),
            protocol: crate::config::Protocol::OpenAi(OpenAiOptions {
                flavor: OpenAiFlavor::OpenAi,
                organization: None,
                project: None,
            }),
        };
        let wire = crate::protocol::encode(&spec, req).unwrap();
        let Body::Bytes(bytes) = wire.body else {
            panic!("OpenAI bodies are bytes")
        };
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_cached_prefix_plus_the_new_messages_is_the_whole_body() {
        let cache = PromptCache::new();
        let mut settings = GenerationSettings::new("gpt-4o");
        settings.prompt_cache = Some(cache.clone());
        let full = conversation(5);
        let mut before = 0;
        for steps in [0, 1, 4, 5] {
            let all = full[..2 + 2 * steps].to_vec();
            let cached = GenerationRequest {
                system: None,
                messages: cache.unseen(&all),
                tools: Vec::new(),
                settings: settings.clone(),
            };
            let whole = GenerationRequest {
                messages: all.clone(),
                settings: GenerationSettings::new("gpt-4o"),
                ..cached.clone()
            };
            // Only what is new travels; the rest comes from the cache.
            assert_eq!(cached.messages.len(), all.len() - before);
            assert_eq!(body(&cached), body(&whole), "after {steps} steps");
            assert_eq!(cache.len(), all.len());
            before = all.len();
        }
        // A rewritten conversation starts the cache over.
        let other = vec![Message::user_text("Something else")];
        assert_eq!(cache.unseen(&other), other);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn reasoning_models_are_recognised() {
        for m in [
            "o1",
            "o3-mini",
            "o4-mini",
            "gpt-5",
            "gpt-5-mini",
            "openai/o3",
        ] {
            assert!(is_reasoning_model(m), "{m}");
        }
        for m in ["gpt-4o", "gpt-4.1", "gpt-5-chat-latest", "omni", "llama3"] {
            assert!(!is_reasoning_model(m), "{m}");
        }
    }
}
