//! Perstack's message schema as JSON Schema, written by hand for tests from the zod
//! definitions in Perstack's public repository (perstack-ai/perstack):
//! `packages/core/src/schemas/message-part.ts` (every `*PartSchema`: `basePartSchema.extend`
//! with `id`, a `type` literal and the part's fields; `signature` and `isError` optional) and
//! `packages/core/src/schemas/message.ts` (`instructionMessageSchema`, `userMessageSchema`,
//! `expertMessageSchema`, `toolMessageSchema`: `id`, a `type` literal, `contents` restricted
//! to the parts each kind admits, optional `cache`). zod objects strip unknown keys, so
//! extra properties are allowed here too. `z.url()` becomes `format: uri`.

#![allow(dead_code)] // each test file uses a part of it

use serde_json::{Value, json};

/// A part object: `id`, the `type` literal and the given required and optional fields.
fn part(tag: &str, required: &[(&str, Value)], optional: &[(&str, Value)]) -> Value {
    let mut props = serde_json::Map::new();
    props.insert("id".into(), json!({"type": "string"}));
    props.insert("type".into(), json!({"const": tag}));
    let mut names = vec![json!("id"), json!("type")];
    for (k, v) in required {
        props.insert((*k).into(), v.clone());
        names.push(json!(k));
    }
    for (k, v) in optional {
        props.insert((*k).into(), v.clone());
    }
    json!({"type": "object", "properties": props, "required": names})
}

/// `{"$ref": "#/$defs/<name>"}`.
fn r(name: &str) -> Value {
    json!({"$ref": format!("#/$defs/{name}")})
}

/// A message object whose `contents` items are one of `parts`.
fn message(tag: &str, parts: &[&str]) -> Value {
    let items: Vec<Value> = parts.iter().map(|p| r(p)).collect();
    part(
        tag,
        &[(
            "contents",
            json!({"type": "array", "items": {"anyOf": items}}),
        )],
        &[("cache", json!({"type": "boolean"}))],
    )
}

/// The `$defs` shared by [`message_schema`] and [`part_schema`].
fn defs() -> Value {
    let s = json!({"type": "string"});
    let url = json!({"type": "string", "format": "uri"});
    json!({
        "textPart": part("textPart", &[("text", s.clone())], &[]),
        "imageUrlPart": part("imageUrlPart", &[("url", url.clone()), ("mimeType", s.clone())], &[]),
        "imageInlinePart": part("imageInlinePart", &[("encodedData", s.clone()), ("mimeType", s.clone())], &[]),
        "imageBinaryPart": part("imageBinaryPart", &[("data", s.clone()), ("mimeType", s.clone())], &[]),
        "fileUrlPart": part("fileUrlPart", &[("url", url), ("mimeType", s.clone())], &[]),
        "fileInlinePart": part("fileInlinePart", &[("encodedData", s.clone()), ("mimeType", s.clone())], &[]),
        "fileBinaryPart": part("fileBinaryPart", &[("data", s.clone()), ("mimeType", s.clone())], &[]),
        "toolCallPart": part("toolCallPart", &[("toolCallId", s.clone()), ("toolName", s.clone()), ("args", json!({}))], &[]),
        "thinkingPart": part("thinkingPart", &[("thinking", s.clone())], &[("signature", s.clone())]),
        "toolResultPart": part(
            "toolResultPart",
            &[
                ("toolCallId", s.clone()),
                ("toolName", s),
                ("contents", json!({"type": "array", "items": {"anyOf": [
                    r("textPart"), r("imageInlinePart"), r("fileInlinePart")
                ]}})),
            ],
            &[("isError", json!({"type": "boolean"}))],
        ),
        "instructionMessage": message("instructionMessage", &["textPart"]),
        "userMessage": message("userMessage", &[
            "textPart", "imageUrlPart", "imageInlinePart", "imageBinaryPart",
            "fileUrlPart", "fileInlinePart", "fileBinaryPart",
        ]),
        "expertMessage": message("expertMessage", &["textPart", "toolCallPart", "thinkingPart"]),
        "toolMessage": message("toolMessage", &["toolResultPart"]),
    })
}

/// Perstack's `messageSchema`: one of the four message kinds.
pub fn message_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "anyOf": [r("instructionMessage"), r("userMessage"), r("expertMessage"), r("toolMessage")],
        "$defs": defs(),
    })
}

/// Perstack's `messagePartSchema`: any of the ten parts (the items of `ToolResult.result`).
pub fn part_schema() -> Value {
    let names = [
        "textPart",
        "imageUrlPart",
        "imageInlinePart",
        "imageBinaryPart",
        "fileUrlPart",
        "fileInlinePart",
        "fileBinaryPart",
        "toolCallPart",
        "toolResultPart",
        "thinkingPart",
    ];
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "anyOf": names.iter().map(|n| r(n)).collect::<Vec<_>>(),
        "$defs": defs(),
    })
}

/// Every error of `value` against `schema`, as text (empty when valid).
pub fn errors(schema: &Value, value: &Value) -> Vec<String> {
    match jsonschema::validator_for(schema) {
        Ok(v) => v.iter_errors(value).map(|e| e.to_string()).collect(),
        Err(e) => vec![format!("schema does not compile: {e}")],
    }
}
