//! One-line summaries of tool arguments and results.

use perstack_core::message::ToolResultContent;
use perstack_core::{MessagePart, ToolResult};
use serde_json::{Map, Value};

/// Longest summary of one argument value, in characters.
const VALUE_CHARS: usize = 48;
/// Longest argument summary of one call, in characters.
const ARGS_CHARS: usize = 140;
/// Longest result summary, in characters.
const RESULT_CHARS: usize = 120;

/// `s` cut to `n` characters, with `…` when cut.
pub fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `s` on one line: runs of whitespace (newlines included) become one space.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A retry's or error's reason for a person: a JSON body in it (a provider's error response)
/// is replaced by the message it carries, and the whole is one line.
pub fn reason(s: &str) -> String {
    let Some(start) = s.find('{') else {
        return one_line(s);
    };
    let mut body = serde_json::Deserializer::from_str(&s[start..]).into_iter::<Value>();
    let Some(Ok(json)) = body.next() else {
        return one_line(s);
    };
    let rest = &s[start + body.byte_offset()..];
    let head = s[..start].trim_end().trim_end_matches(':').trim_end();
    let message = json_message(&json).unwrap_or_default();
    let joined = [head, message.as_str(), rest.trim()]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    one_line(&joined)
}

/// The `message` (or `error` text) of an error body, looked for in nested objects too.
fn json_message(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    for key in ["message", "error", "detail"] {
        match obj.get(key) {
            Some(Value::String(s)) => return Some(s.clone()),
            Some(inner @ Value::Object(_)) => {
                if let Some(m) = json_message(inner) {
                    return Some(m);
                }
            }
            Some(_) | None => {}
        }
    }
    None
}

/// One argument value: bare when it is a short plain word, else JSON, clipped.
fn value(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let bare = !s.is_empty()
                && s.chars().count() <= VALUE_CHARS
                && s.chars()
                    .all(|c| !c.is_whitespace() && c != '"' && c != '\\');
            if bare {
                s.clone()
            } else {
                let clipped = clip(s, VALUE_CHARS);
                serde_json::to_string(&clipped).unwrap_or(clipped)
            }
        }
        Value::Array(items) => format!("[{} item{}]", items.len(), plural(items.len())),
        Value::Object(map) => format!("{{{} key{}}}", map.len(), plural(map.len())),
        Value::Null | Value::Bool(_) | Value::Number(_) => v.to_string(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `key=value key=value`, each value clipped, the whole clipped.
pub fn args(args: &Map<String, Value>) -> String {
    let joined = args
        .iter()
        .map(|(k, v)| format!("{k}={}", value(v)))
        .collect::<Vec<_>>()
        .join(" ");
    clip(&joined, ARGS_CHARS)
}

/// The text of a tool result: text parts joined, other parts named.
pub fn result_text(result: &ToolResult) -> String {
    let mut out: Vec<String> = Vec::new();
    for part in &result.result {
        match part {
            MessagePart::Text(t) => out.push(t.text.clone()),
            MessagePart::ToolResult(r) => {
                for c in &r.contents {
                    match c {
                        ToolResultContent::Text(t) => out.push(t.text.clone()),
                        ToolResultContent::Image(i) => out.push(format!("[image {}]", i.mime_type)),
                        ToolResultContent::File(f) => out.push(format!("[file {}]", f.mime_type)),
                    }
                }
            }
            MessagePart::ImageUrl(p) => out.push(format!("[image {}]", p.url)),
            MessagePart::ImageInline(p) => out.push(format!("[image {}]", p.mime_type)),
            MessagePart::ImageBinary(p) => out.push(format!("[image {}]", p.mime_type)),
            MessagePart::FileUrl(p) => out.push(format!("[file {}]", p.url)),
            MessagePart::FileInline(p) => out.push(format!("[file {}]", p.mime_type)),
            MessagePart::FileBinary(p) => out.push(format!("[file {}]", p.mime_type)),
            MessagePart::ToolCall(c) => out.push(format!("[call {}]", c.tool_name)),
            MessagePart::Thinking(_) => {}
        }
    }
    out.join("\n")
}

/// Whether a result reports a failure: flagged (`isError`, set by this runtime for tool
/// errors, denials and failed delegates), or, for logs of runtimes that do not flag, written
/// the way tools write errors (`Error: ...`, or the base skill's `{"error": ..., "message": ...}`).
pub fn is_error(result: &ToolResult) -> bool {
    let flagged = result.is_error == Some(true)
        || result
            .result
            .iter()
            .any(|p| matches!(p, MessagePart::ToolResult(r) if r.is_error == Some(true)));
    if flagged {
        return true;
    }
    let text = result_text(result);
    let head = text.trim_start();
    head.get(..5)
        .is_some_and(|h| h.eq_ignore_ascii_case("error"))
        || serde_json::from_str::<Value>(head)
            .ok()
            .is_some_and(|v| v.get("error").is_some())
}

/// A result on one line, clipped, with its line count when it had several.
pub fn result(result: &ToolResult) -> String {
    let text = result_text(result);
    let lines = text.lines().count();
    let flat = one_line(&text);
    let mut s = if flat.is_empty() {
        "(empty)".to_string()
    } else {
        clip(&flat, RESULT_CHARS)
    };
    if lines > 1 {
        s.push_str(&format!(" ({lines} lines)"));
    }
    s
}

/// Milliseconds as `850ms`, `12.3s` or `4m05s`.
pub fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
    } else {
        let s = ms / 1000;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// A token count with thousands separators.
pub fn tokens(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use perstack_core::TextPart;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn text_result(t: &str) -> ToolResult {
        ToolResult {
            id: "c1".into(),
            skill_name: "s".into(),
            tool_name: "t".into(),
            result: vec![MessagePart::Text(TextPart::new(t))],
            is_error: None,
        }
    }

    #[test]
    fn args_are_one_line_and_clipped() {
        let a = json!({"path": "hello.md", "text": "# Hello\n\nHi", "n": 3, "list": [1, 2]});
        assert_eq!(
            args(a.as_object().unwrap()),
            r##"path=hello.md text="# Hello\n\nHi" n=3 list=[2 items]"##
        );
        let long = json!({"text": "x".repeat(100)});
        assert_eq!(
            args(long.as_object().unwrap()),
            format!("text=\"{}…\"", "x".repeat(48))
        );
    }

    #[test]
    fn results_are_one_line_with_their_line_count() {
        assert_eq!(result(&text_result("a\nb\n")), "a b (2 lines)");
        assert_eq!(result(&text_result("")), "(empty)");
    }

    #[test]
    fn errors_are_recognised() {
        assert!(is_error(&text_result("Error: no such file")));
        assert!(is_error(&text_result("error: build failed")));
        assert!(is_error(&text_result(
            r#"{"error":"NotFound","message":"x"}"#
        )));
        assert!(!is_error(&text_result("all good")));
    }

    #[test]
    fn durations_and_tokens_read_well() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_345), "12.3s");
        assert_eq!(duration(245_000), "4m05s");
        assert_eq!(tokens(1_234_567), "1,234,567");
        assert_eq!(tokens(12), "12");
    }
}
