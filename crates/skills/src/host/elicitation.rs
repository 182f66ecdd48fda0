//! Servers asking the user for input (`elicitation/create`): the application answers
//! through an [`ElicitationHandler`]; fields the answer leaves out get the schema's
//! defaults (SEP-1034). Without a handler the host declares no elicitation capability, so
//! servers do not ask.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

/// The application's answer to one elicitation request.
#[derive(Debug, Clone, PartialEq)]
pub enum ElicitationAnswer {
    /// The user gave these fields.
    Accept(Map<String, Value>),
    /// The user said no.
    Decline,
    /// The user dismissed the request.
    Cancel,
}

/// Answers skills' elicitation requests.
pub trait ElicitationHandler: Send + Sync {
    /// Answers `request` (the request's params: `message`, `requestedSchema`, or `url`
    /// for a URL elicitation) from `skill`.
    fn elicit(
        &self,
        skill: &str,
        request: Value,
    ) -> Pin<Box<dyn Future<Output = ElicitationAnswer> + Send>>;
}

/// `content` with every property the schema gives a `default` for and `content` lacks.
pub fn with_defaults(mut content: Map<String, Value>, schema: &Value) -> Map<String, Value> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return content;
    };
    for (name, property) in properties {
        if let Some(default) = property.get("default")
            && !content.contains_key(name)
        {
            content.insert(name.clone(), default.clone());
        }
    }
    content
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn defaults_fill_only_missing_fields() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "default": "John Doe"},
                "age": {"type": "integer", "default": 30},
                "score": {"type": "number", "default": 95.5},
                "status": {"type": "string", "enum": ["active", "inactive"], "default": "active"},
                "verified": {"type": "boolean", "default": true},
                "note": {"type": "string"}
            }
        });
        let given = json!({"age": 41}).as_object().cloned().unwrap();
        assert_eq!(
            Value::Object(with_defaults(given, &schema)),
            json!({"age": 41, "name": "John Doe", "score": 95.5, "status": "active", "verified": true})
        );
        let given = json!({"x": 1}).as_object().cloned().unwrap();
        assert_eq!(with_defaults(given.clone(), &json!({})), given);
    }
}
