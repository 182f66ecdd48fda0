//! Tool calls, tool results and tool definitions.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::message::MessagePart;

/// A tool call made by an Expert, resolved to the skill that serves it (Perstack's `ToolCall`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolCall {
    /// The provider's tool call id.
    pub id: String,
    /// Skill that provides the tool.
    pub skill_name: String,
    /// Tool name.
    pub tool_name: String,
    /// Arguments (a JSON object).
    pub args: Map<String, Value>,
}

/// The result of a tool call (Perstack's `ToolResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    /// The id of the call this answers.
    pub id: String,
    /// Skill that provided the tool.
    pub skill_name: String,
    /// Tool name.
    pub tool_name: String,
    /// Content returned by the tool.
    pub result: Vec<MessagePart>,
    /// True when the call failed or was refused (a denial, a failed delegate, a tool that
    /// reported an error); carried to the model as the tool result part's `isError`.
    /// Ours, additive: Perstack's `ToolResult` has no such field and ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
}

/// A tool as offered to the model: name, description and JSON Schema of its input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolDefinition {
    /// Skill that provides the tool.
    pub skill_name: String,
    /// Tool name as the model sees it.
    pub name: String,
    /// What the tool does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments object. Shared: a tool list is handed to every step's
    /// request, and copying each schema each step cost more than building the request.
    pub input_schema: Arc<Value>,
}
