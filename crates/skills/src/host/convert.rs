//! MCP payloads (as JSON, so no rmcp type leaks out) to perstack wire types: tool
//! listings to [`ToolDefinition`]s, tool results to message parts.

use perstack_core::{FileInlinePart, ImageInlinePart, MessagePart, TextPart, ToolDefinition};
use serde_json::{Map, Value, json};

/// A tool from a `tools/list` answer, attributed to `skill_name`. `None` when the entry
/// has no usable name.
pub fn tool_definition(skill_name: &str, tool: &Value) -> Option<ToolDefinition> {
    let name = tool.get("name")?.as_str()?.to_string();
    let description = tool
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_string);
    let input_schema = match tool.get("inputSchema") {
        Some(schema @ Value::Object(_)) => schema.clone(),
        // The spec requires an object schema; a server that omits it takes no arguments.
        _ => json!({ "type": "object", "properties": {} }),
    };
    Some(ToolDefinition {
        skill_name: skill_name.to_string(),
        name,
        description,
        input_schema: input_schema.into(),
    })
}

/// `value` without JSON nulls (object members and array elements), which TOML cannot
/// hold: what `perstack.lock` stores of an input schema (`"default": null` is the usual
/// case). Live schemas are compared with locked ones in this form.
pub fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|v| !v.is_null())
                .map(without_nulls)
                .collect(),
        ),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => value.clone(),
    }
}

/// The content of a `tools/call` result as message parts, and its `isError` flag.
/// Text, images and embedded resources are kept; audio becomes a file part; a resource
/// link becomes text naming it. An empty result says so, as Perstack does.
pub fn tool_result_parts(
    tool_name: &str,
    args: &Map<String, Value>,
    result: &Value,
) -> (Vec<MessagePart>, bool) {
    let is_error = result.get("isError").and_then(Value::as_bool) == Some(true);
    let mut parts: Vec<MessagePart> = result
        .get("content")
        .and_then(Value::as_array)
        .map(|blocks| blocks.iter().filter_map(content_part).collect())
        .unwrap_or_default();
    if parts.is_empty() {
        if let Some(structured) = result.get("structuredContent") {
            parts.push(text(structured.to_string()));
        } else {
            parts.push(text(format!(
                "Tool {tool_name} returned nothing with arguments: {}",
                Value::Object(args.clone())
            )));
        }
    }
    (parts, is_error)
}

fn text(s: impl Into<String>) -> MessagePart {
    MessagePart::Text(TextPart::new(s))
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn content_part(block: &Value) -> Option<MessagePart> {
    let kind = str_field(block, "type")?;
    Some(match kind {
        "text" => text(str_field(block, "text").unwrap_or_default()),
        "image" => MessagePart::ImageInline(ImageInlinePart {
            id: perstack_core::id::new_id(),
            encoded_data: str_field(block, "data")?.to_string(),
            mime_type: str_field(block, "mimeType")
                .unwrap_or("image/png")
                .to_string(),
        }),
        "audio" => MessagePart::FileInline(FileInlinePart {
            id: perstack_core::id::new_id(),
            encoded_data: str_field(block, "data")?.to_string(),
            mime_type: str_field(block, "mimeType")
                .unwrap_or("application/octet-stream")
                .to_string(),
        }),
        "resource" => resource_part(block.get("resource")?)?,
        "resource_link" => {
            let uri = str_field(block, "uri")?;
            let name = str_field(block, "name").unwrap_or(uri);
            text(format!("Resource link: {name} ({uri})"))
        }
        other => {
            tracing::debug!(
                kind = other,
                "skipping an MCP content block of unknown type"
            );
            return None;
        }
    })
}

fn resource_part(resource: &Value) -> Option<MessagePart> {
    if let Some(t) = str_field(resource, "text") {
        return Some(text(t));
    }
    let blob = str_field(resource, "blob")?;
    let mime_type = str_field(resource, "mimeType").unwrap_or("application/octet-stream");
    Some(if mime_type.starts_with("image/") {
        MessagePart::ImageInline(ImageInlinePart {
            id: perstack_core::id::new_id(),
            encoded_data: blob.to_string(),
            mime_type: mime_type.to_string(),
        })
    } else {
        MessagePart::FileInline(FileInlinePart {
            id: perstack_core::id::new_id(),
            encoded_data: blob.to_string(),
            mime_type: mime_type.to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    /// Parts without their random ids, for comparison.
    fn shape(parts: &[MessagePart]) -> Vec<Value> {
        parts
            .iter()
            .map(|p| {
                let mut v = serde_json::to_value(p).unwrap();
                v.as_object_mut().unwrap().remove("id");
                v
            })
            .collect()
    }

    #[test]
    fn keeps_text_image_resource_and_error_flag() {
        let result = json!({
            "content": [
                {"type": "text", "text": "hello"},
                {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "file:///a.txt", "mimeType": "text/plain", "text": "inside"}},
                {"type": "resource", "resource": {"uri": "file:///a.pdf", "mimeType": "application/pdf", "blob": "JVBERi0="}},
                {"type": "resource_link", "uri": "file:///b", "name": "b"},
                {"type": "audio", "data": "AAAA", "mimeType": "audio/wav"},
                {"type": "hologram"}
            ],
            "isError": true
        });
        let (parts, is_error) = tool_result_parts("t", &Map::new(), &result);
        assert!(is_error);
        assert_eq!(
            shape(&parts),
            vec![
                json!({"type": "textPart", "text": "hello"}),
                json!({"type": "imageInlinePart", "encodedData": "iVBORw0KGgo=", "mimeType": "image/png"}),
                json!({"type": "textPart", "text": "inside"}),
                json!({"type": "fileInlinePart", "encodedData": "JVBERi0=", "mimeType": "application/pdf"}),
                json!({"type": "textPart", "text": "Resource link: b (file:///b)"}),
                json!({"type": "fileInlinePart", "encodedData": "AAAA", "mimeType": "audio/wav"}),
            ]
        );
    }

    #[test]
    fn empty_result_says_so() {
        let mut args = Map::new();
        args.insert("x".into(), json!(1));
        let (parts, is_error) = tool_result_parts("t", &args, &json!({"content": []}));
        assert!(!is_error);
        assert_eq!(
            shape(&parts),
            vec![
                json!({"type": "textPart", "text": "Tool t returned nothing with arguments: {\"x\":1}"})
            ]
        );
        let (parts, _) = tool_result_parts(
            "t",
            &args,
            &json!({"content": [], "structuredContent": {"a": 1}}),
        );
        assert_eq!(
            shape(&parts),
            vec![json!({"type": "textPart", "text": "{\"a\":1}"})]
        );
    }

    #[test]
    fn tool_definitions_from_listing() {
        let def = tool_definition(
            "s",
            &json!({"name": "echo", "description": "Echo", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}}),
        )
        .unwrap();
        assert_eq!(
            def,
            ToolDefinition {
                skill_name: "s".into(),
                name: "echo".into(),
                description: Some("Echo".into()),
                input_schema: json!({"type": "object", "properties": {"text": {"type": "string"}}})
                    .into(),
            }
        );
        assert_eq!(
            tool_definition("s", &json!({"description": "nameless"})),
            None
        );
        let bare = tool_definition("s", &json!({"name": "x"})).unwrap();
        assert_eq!(
            *bare.input_schema,
            json!({"type": "object", "properties": {}})
        );
    }
}
