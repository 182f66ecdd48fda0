//! Approval stops: which tool calls wait for an operator's decision (`requireApproval`), and
//! how the decisions given on resume are applied to the stopped checkpoint.

use std::collections::HashSet;

use perstack_core::{Checkpoint, ToolCall};

use crate::error::RuntimeError;
use crate::setting::RunSetting;

/// What the operator decided about one call that waited for approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run the call.
    Approve,
    /// Do not run it; the model is told it was denied, with the reason if any.
    Deny {
        /// Why, told to the model.
        reason: Option<String>,
    },
}

/// A decision about the pending call `tool_call_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallDecision {
    /// The call decided on.
    pub tool_call_id: String,
    /// The decision.
    pub decision: Decision,
}

/// True when `tool` matches a `requireApproval` entry: the exact name, or `prefix*`.
pub(crate) fn pattern_matches(pattern: &str, tool: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => tool.starts_with(prefix),
        None => pattern == tool,
    }
}

/// True when the running Expert's skill that offers `call` requires approval for it.
pub(crate) fn needs_approval(setting: &RunSetting, call: &ToolCall) -> bool {
    setting
        .experts
        .get(&setting.expert_key)
        .and_then(|e| e.skills.as_ref())
        .and_then(|skills| skills.get(&call.skill_name))
        .is_some_and(|skill| {
            skill
                .require_approval()
                .iter()
                .any(|p| pattern_matches(p, &call.tool_name))
        })
}

/// The text a denied call answers the model with.
pub(crate) fn denial_text(reason: Option<&str>) -> String {
    let base = "Error: the operator denied this tool call; it was not run.";
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => format!("{base} Reason: {r}"),
        None => base.to_string(),
    }
}

/// Applies `decisions` to a `stoppedByApproval` checkpoint: denied calls leave the pending
/// calls and are answered with a denial; the approved call ids are returned so that they run
/// without stopping again. Every call waiting for approval needs a decision.
pub(crate) fn apply_decisions(
    setting: &RunSetting,
    decisions: &[ToolCallDecision],
    cp: &mut Checkpoint,
) -> Result<HashSet<String>, RuntimeError> {
    let pending = cp.pending_tool_calls.take().unwrap_or_default();
    let mut approved = HashSet::new();
    let mut denied = Vec::new();
    for d in decisions {
        if !pending.iter().any(|c| c.id == d.tool_call_id) {
            return Err(RuntimeError::InvalidInput(format!(
                "tool call {} is not pending in this checkpoint",
                d.tool_call_id
            )));
        }
        let conflict = match &d.decision {
            Decision::Approve => {
                approved.insert(d.tool_call_id.clone());
                denied.iter().any(|(id, _)| id == &d.tool_call_id)
            }
            Decision::Deny { reason } => {
                denied.push((d.tool_call_id.clone(), reason.clone()));
                approved.contains(&d.tool_call_id)
            }
        };
        if conflict {
            return Err(RuntimeError::InvalidInput(format!(
                "tool call {} is both approved and denied",
                d.tool_call_id
            )));
        }
    }
    let undecided: Vec<&str> = pending
        .iter()
        .filter(|c| needs_approval(setting, c))
        .filter(|c| !approved.contains(&c.id) && !denied.iter().any(|(id, _)| id == &c.id))
        .map(|c| c.id.as_str())
        .collect();
    if !undecided.is_empty() {
        return Err(RuntimeError::InvalidInput(format!(
            "the run waits for approval: approve or deny each of {}",
            undecided.join(", ")
        )));
    }
    let mut remaining = Vec::new();
    for call in pending {
        match denied.iter().find(|(id, _)| id == &call.id) {
            Some((_, reason)) => cp.partial_tool_results.get_or_insert_with(Vec::new).push(
                perstack_core::ToolResult {
                    id: call.id.clone(),
                    skill_name: call.skill_name.clone(),
                    tool_name: call.tool_name.clone(),
                    result: vec![perstack_core::MessagePart::Text(
                        perstack_core::TextPart::new(denial_text(reason.as_deref())),
                    )],
                    is_error: Some(true),
                },
            ),
            None => remaining.push(call),
        }
    }
    cp.pending_tool_calls = (!remaining.is_empty()).then_some(remaining);
    Ok(approved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_names_and_prefixes() {
        assert!(pattern_matches("exec", "exec"));
        assert!(!pattern_matches("exec", "execute"));
        assert!(pattern_matches("delete*", "deleteFile"));
        assert!(pattern_matches("delete*", "delete"));
        assert!(!pattern_matches("delete*", "undelete"));
        assert!(pattern_matches("*", "anything"));
    }

    #[test]
    fn denial_text_carries_the_reason() {
        assert_eq!(
            denial_text(Some(" too risky ")),
            "Error: the operator denied this tool call; it was not run. Reason: too risky"
        );
        assert_eq!(
            denial_text(None),
            "Error: the operator denied this tool call; it was not run."
        );
    }
}
