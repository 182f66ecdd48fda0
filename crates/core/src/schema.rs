//! How the published JSON Schemas are generated: they describe what perstack writes.
//!
//! `schemars` makes every `Option` nullable. We never write `null` for an optional field
//! (`skip_serializing_if = "Option::is_none"` leaves it out), so a schema that allows `null`
//! there would tell consumers to expect something that never comes. The generators here
//! publish such fields as optional and not nullable; a field that *is* written as `null`
//! stays nullable because the serialize contract marks it required.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::Value;

/// The schema of `T` as perstack writes it (events, checkpoints): fields left out when empty
/// are optional, not nullable.
pub fn emitted_schema<T: JsonSchema>() -> Value {
    generate::<T>(SchemaSettings::draft2020_12().for_serialize())
}

/// The schema of `T` as perstack reads it from a format without `null` (`perstack.toml`):
/// optional fields are optional, not nullable.
pub fn input_schema<T: JsonSchema>() -> Value {
    generate::<T>(SchemaSettings::draft2020_12().for_deserialize())
}

fn generate<T: JsonSchema>(settings: SchemaSettings) -> Value {
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut schema = serde_json::to_value(schema).unwrap_or_default();
    strip_null_from_optional(&mut schema);
    schema
}

/// Walks every subschema; in each object schema, drops `null` from the properties it does
/// not require.
fn strip_null_from_optional(value: &mut Value) {
    match value {
        Value::Object(obj) => {
            let required: Vec<String> = obj
                .get("required")
                .and_then(Value::as_array)
                .map(|names| {
                    names
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(Value::Object(props)) = obj.get_mut("properties") {
                for (name, prop) in props.iter_mut() {
                    if !required.contains(name) {
                        drop_null(prop);
                    }
                }
            }
            for child in obj.values_mut() {
                strip_null_from_optional(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null_from_optional),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// Removes `null` from one schema, undoing each form `schemars` uses to allow it:
/// `"type": [T, "null"]`, `"anyOf": [S, {"type": "null"}]`, and `null` in `enum`.
fn drop_null(schema: &mut Value) {
    let Value::Object(obj) = schema else {
        return;
    };
    if let Some(Value::Array(types)) = obj.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            obj.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(values)) = obj.get_mut("enum") {
        values.retain(|v| !v.is_null());
        if let [only] = values.as_slice() {
            let only = only.clone();
            replace_key(obj, "enum", [("const".to_string(), only)]);
        }
    }
    if let Some(Value::Array(branches)) = obj.get_mut("anyOf") {
        branches.retain(|b| b.get("type").and_then(Value::as_str) != Some("null"));
        if let [Value::Object(branch)] = branches.as_slice() {
            // One branch left: its keywords take the place of the `anyOf` (siblings such as
            // `description` stay where they are).
            let branch = branch.clone();
            replace_key(obj, "anyOf", branch);
        }
    }
}

/// `obj` with `key` replaced, in place, by `entries` (key order is kept so the published
/// files read the same from one generation to the next).
fn replace_key(
    obj: &mut serde_json::Map<String, Value>,
    key: &str,
    entries: impl IntoIterator<Item = (String, Value)>,
) {
    let mut entries = Some(entries);
    let old = std::mem::take(obj);
    for (k, v) in old {
        if k == key {
            for (nk, nv) in entries.take().into_iter().flatten() {
                obj.entry(nk).or_insert(nv);
            }
        } else {
            obj.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde::Serialize;
    use serde_json::json;

    /// Every way an `Option` reaches a schema, written and skipped.
    #[derive(Serialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)] // only its schema is used
    struct Sample {
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        inner: Option<Inner>,
        #[serde(skip_serializing_if = "Option::is_none")]
        kind: Option<Kind>,
        /// Written as `null` when absent: stays nullable.
        always: Option<u32>,
    }

    #[derive(Serialize, JsonSchema)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[derive(Serialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    enum Kind {
        One,
    }

    #[test]
    fn skipped_options_are_optional_not_nullable() {
        let schema = emitted_schema::<Sample>();
        let props = &schema["properties"];
        assert_eq!(props["text"], json!({"type": "string"}));
        assert_eq!(props["inner"], json!({"$ref": "#/$defs/Inner"}));
        assert_eq!(props["kind"], json!({"$ref": "#/$defs/Kind"}));
        assert_eq!(
            props["always"],
            json!({"description": "Written as `null` when absent: stays nullable.",
                   "type": ["integer", "null"], "format": "uint32", "minimum": 0})
        );
        assert_eq!(schema["required"], json!(["always"]));
    }

    #[test]
    fn no_null_left_anywhere_but_where_written() {
        let text = serde_json::to_string(&emitted_schema::<Sample>()).unwrap_or_default();
        assert_eq!(text.matches("\"null\"").count(), 1, "{text}");
    }

    #[test]
    fn input_schema_drops_null_from_optional_fields() {
        let schema = input_schema::<Sample>();
        assert_eq!(schema["properties"]["text"], json!({"type": "string"}));
        assert_eq!(schema.get("required"), None);
    }
}
