//! Steps: one generation plus the tool calls it made.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::message::Message;
use crate::tool::{ToolCall, ToolResult};
use crate::usage::Usage;

/// One step of a run (Perstack's `Step`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Step number, 1-based.
    pub step_number: u32,
    /// Messages added to the conversation before generating (instruction, user, tool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_messages: Option<Vec<Message>>,
    /// Messages produced in this step.
    pub new_messages: Vec<Message>,
    /// Tool calls made in this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Their results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_results: Option<Vec<ToolResult>>,
    /// Calls still waiting (MCP, then delegate, then interactive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_tool_calls: Option<Vec<ToolCall>>,
    /// Results collected so far when the step was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_tool_results: Option<Vec<ToolResult>>,
    /// Usage of this step.
    pub usage: Usage,
    /// Start time, ms since the epoch.
    pub started_at: u64,
    /// End time, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
}
