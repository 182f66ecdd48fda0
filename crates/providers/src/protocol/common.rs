//! Helpers shared by the wire protocols.

use perstack_core::config::ProviderName;
use perstack_core::message::InstructionPart;
use perstack_core::{Message, ToolResultContent, ToolResultPart};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ApiError, ProviderError, StreamFailure};
use crate::retry::error_type_is_retryable;
use crate::types::GenerationRequest;

/// Longest provider message we keep in an error.
const MAX_MESSAGE_CHARS: usize = 2000;

/// The system prompt: the request's own, then the text of any instruction messages.
/// The cache hint is set if either asks for it.
pub(crate) fn system_prompt(
    req: &GenerationRequest,
    messages: &[Message],
) -> Option<(String, bool)> {
    let mut texts: Vec<&str> = Vec::new();
    let mut cache = false;
    if let Some(s) = &req.system {
        if !s.text.is_empty() {
            texts.push(&s.text);
        }
        cache |= s.cache;
    }
    for m in messages {
        if let Message::InstructionMessage {
            contents, cache: c, ..
        } = m
        {
            texts.extend(
                contents
                    .iter()
                    .map(|p| match p {
                        InstructionPart::Text(t) => t.text.as_str(),
                    })
                    .filter(|t| !t.is_empty()),
            );
            cache |= c.unwrap_or(false);
        }
    }
    (!texts.is_empty()).then(|| (texts.join("\n"), cache))
}

/// The text of a tool result, parts joined by newlines.
pub(crate) fn tool_result_text(result: &ToolResultPart) -> String {
    let texts: Vec<&str> = result
        .contents
        .iter()
        .filter_map(|c| match c {
            ToolResultContent::Text(t) => Some(t.text.as_str()),
            ToolResultContent::Image(_) | ToolResultContent::File(_) => None,
        })
        .collect();
    texts.join("\n")
}

/// Parses one event's JSON, or reports a malformed stream.
pub(crate) fn parse_event<T: DeserializeOwned>(
    provider: ProviderName,
    data: &str,
) -> Result<T, ProviderError> {
    serde_json::from_str(data).map_err(|e| malformed(provider, format!("invalid event JSON: {e}")))
}

/// A malformed-stream error.
pub(crate) fn malformed(provider: ProviderName, message: String) -> ProviderError {
    ProviderError::Stream {
        provider,
        kind: StreamFailure::Malformed,
        message,
        request_id: None,
    }
}

/// A truncated-stream error.
pub(crate) fn truncated(provider: ProviderName, message: &str) -> ProviderError {
    ProviderError::Stream {
        provider,
        kind: StreamFailure::Truncated,
        message: message.to_string(),
        request_id: None,
    }
}

/// Parses streamed tool arguments; they must form a JSON object (empty means `{}`).
pub(crate) fn tool_args(
    provider: ProviderName,
    tool_name: &str,
    tool_call_id: &str,
    raw: &str,
) -> Result<Value, ProviderError> {
    let bad = |message: String| ProviderError::MalformedToolCall {
        provider,
        tool_name: tool_name.to_string(),
        tool_call_id: tool_call_id.to_string(),
        message,
        request_id: None,
    };
    if raw.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(other) => Err(bad(format!(
            "expected a JSON object, got {}",
            json_kind(&other)
        ))),
        Err(e) => Err(bad(format!("invalid JSON: {e}"))),
    }
}

/// Checks already-parsed tool arguments (Gemini sends an object); null means `{}`.
pub(crate) fn tool_args_value(
    provider: ProviderName,
    tool_name: &str,
    tool_call_id: &str,
    value: Value,
) -> Result<Value, ProviderError> {
    match value {
        Value::Null => Ok(Value::Object(Default::default())),
        v @ Value::Object(_) => Ok(v),
        other @ (Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_)) => {
            Err(ProviderError::MalformedToolCall {
                provider,
                tool_name: tool_name.to_string(),
                tool_call_id: tool_call_id.to_string(),
                message: format!("expected a JSON object, got {}", json_kind(&other)),
                request_id: None,
            })
        }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Message and type/code from any provider's error envelope: `{"error": {"message",
/// "type"|"code"|"status"}}` (OpenAI, Anthropic, Gemini), `{"message", "type"}`, or a
/// bare string. Codes may be strings or integers.
pub(crate) fn error_envelope(body: &Value) -> (Option<String>, Option<String>) {
    let inner = match body.get("error") {
        Some(e @ Value::Object(_)) => e,
        Some(Value::String(s)) => return (Some(s.clone()), None),
        _ => body,
    };
    let message = inner
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            inner
                .get("detail")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let kind = ["type", "code", "status"]
        .iter()
        .filter_map(|k| inner.get(*k))
        .find_map(|v| match v {
            Value::String(s) if !s.is_empty() && s != "error" => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Null
            | Value::Bool(_)
            | Value::String(_)
            | Value::Array(_)
            | Value::Object(_) => None,
        });
    (message, kind)
}

/// An error event inside a stream (no HTTP status).
pub(crate) fn stream_error_event(provider: ProviderName, body: &Value) -> ProviderError {
    let (message, kind) = error_envelope(body);
    let message = clip(message.unwrap_or_else(|| "the provider reported an error".into()));
    let retryable = error_type_is_retryable(kind.as_deref(), &message);
    ProviderError::Api(ApiError {
        provider,
        status: None,
        error_type: kind,
        message,
        request_id: None,
        retry_after: None,
        retryable,
    })
}

/// Cuts an overly long message at a character boundary.
pub(crate) fn clip(mut message: String) -> String {
    if let Some((i, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(i);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn envelopes_of_every_provider_are_understood() {
        let anthropic = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        assert_eq!(
            error_envelope(&anthropic),
            (Some("Overloaded".into()), Some("overloaded_error".into()))
        );
        let openai = json!({"error": {"message": "m", "type": null, "code": 429}});
        assert_eq!(
            error_envelope(&openai),
            (Some("m".into()), Some("429".into()))
        );
        let gemini = json!({"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}});
        assert_eq!(
            error_envelope(&gemini),
            (Some("busy".into()), Some("503".into()))
        );
        assert_eq!(
            error_envelope(&json!({"error": "plain"})),
            (Some("plain".into()), None)
        );
    }

    #[test]
    fn tool_args_must_be_objects() {
        let p = ProviderName::OpenAi;
        assert_eq!(tool_args(p, "t", "c", "").unwrap(), json!({}));
        assert_eq!(
            tool_args(p, "t", "c", "{\"a\":1}").unwrap(),
            json!({"a": 1})
        );
        let err = tool_args(p, "t", "c", "{\"a\":").unwrap_err();
        assert!(matches!(err, ProviderError::MalformedToolCall { .. }));
        assert!(tool_args(p, "t", "c", "[1]").is_err());
        assert_eq!(
            tool_args_value(p, "t", "c", Value::Null).unwrap(),
            json!({})
        );
        assert!(tool_args_value(p, "t", "c", json!("x")).is_err());
    }

    #[test]
    fn clip_keeps_short_messages_and_cuts_long_ones() {
        assert_eq!(clip("short".into()), "short");
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        assert_eq!(clip(long).chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
