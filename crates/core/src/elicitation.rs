//! A run stopped because an MCP server asked the user during a tool call (ours): what the
//! checkpoint keeps in `metadata.elicitation`, and the application's answer.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Checkpoint;

/// The key under the checkpoint's `metadata`.
pub const METADATA_KEY: &str = "elicitation";

/// What a server asked (`elicitation/create` form params).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElicitationRequest {
    /// The question.
    pub message: String,
    /// The JSON Schema of the answer's fields.
    pub requested_schema: Value,
}

/// The application's answer, in MCP's `ElicitResult` shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum ElicitationReply {
    /// The user gave these fields.
    Accept {
        /// The fields (the schema's defaults are added for the ones left out).
        content: Map<String, Value>,
    },
    /// The user said no.
    Decline,
    /// The user dismissed the request.
    Cancel,
}

impl ElicitationReply {
    /// Reads an answer given as text: `decline`, `cancel`, or a JSON object of fields.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "decline" => Ok(ElicitationReply::Decline),
            "cancel" => Ok(ElicitationReply::Cancel),
            other => match serde_json::from_str::<Value>(other) {
                Ok(Value::Object(content)) => Ok(ElicitationReply::Accept { content }),
                Ok(_) | Err(_) => Err(format!(
                    "the run waits for an answer to a skill's question: give a JSON object of \
                     the requested fields, `decline` or `cancel` (got {other:?})"
                )),
            },
        }
    }
}

/// A question the application answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnsweredElicitation {
    /// The question.
    #[serde(flatten)]
    pub request: ElicitationRequest,
    /// The answer.
    pub answer: ElicitationReply,
}

/// The elicitations of one tool call: the one waiting for the application, and those
/// answered, which are given to the server at once when the call runs again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElicitationState {
    /// The tool call that asked.
    pub tool_call_id: String,
    /// Its skill.
    pub skill_name: String,
    /// Its tool.
    pub tool_name: String,
    /// The question waiting for the application (none once answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<ElicitationRequest>,
    /// Questions already answered, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answered: Vec<AnsweredElicitation>,
}

impl ElicitationState {
    /// The state kept in `cp`, if any (unreadable metadata counts as none).
    pub fn of(cp: &Checkpoint) -> Option<Self> {
        let value = cp.metadata.as_ref()?.get(METADATA_KEY)?;
        serde_json::from_value(value.clone()).ok()
    }

    /// Takes the state out of `cp`.
    pub fn take(cp: &mut Checkpoint) -> Option<Self> {
        let state = Self::of(cp);
        if let Some(metadata) = cp.metadata.as_mut() {
            metadata.remove(METADATA_KEY);
            if metadata.is_empty() {
                cp.metadata = None;
            }
        }
        state
    }

    /// Stores the state in `cp`.
    pub fn store(&self, cp: &mut Checkpoint) {
        if let Ok(value) = serde_json::to_value(self) {
            cp.metadata
                .get_or_insert_with(Map::new)
                .insert(METADATA_KEY.to_string(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn answers_are_a_json_object_decline_or_cancel() {
        assert_eq!(
            ElicitationReply::parse(r#" {"age": 41} "#),
            Ok(ElicitationReply::Accept {
                content: json!({"age": 41}).as_object().cloned().unwrap_or_default()
            })
        );
        assert_eq!(
            ElicitationReply::parse("decline"),
            Ok(ElicitationReply::Decline)
        );
        assert_eq!(
            ElicitationReply::parse("cancel\n"),
            Ok(ElicitationReply::Cancel)
        );
        // On the wire as MCP's `ElicitResult`.
        let accept = ElicitationReply::parse(r#"{"age": 41}"#).unwrap_or(ElicitationReply::Cancel);
        assert_eq!(
            serde_json::to_value(&accept).ok(),
            Some(json!({"action": "accept", "content": {"age": 41}}))
        );
        assert_eq!(
            serde_json::to_value(ElicitationReply::Decline).ok(),
            Some(json!({"action": "decline"}))
        );
        for bad in ["yes", "[1]", "\"Ada\"", ""] {
            assert!(ElicitationReply::parse(bad).is_err(), "{bad}");
        }
    }
}
