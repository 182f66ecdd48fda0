//! Delegation: the delegates of a step run concurrently as runs of their own; their results
//! return to the parent as tool results of its next run.

use perstack_core::{
    Checkpoint, CheckpointStatus, ExpertRef, MessagePart, TextPart, ToolResult, id::new_id,
};

use crate::emitter::JobTracker;
use crate::error::RuntimeError;
use crate::run::{Hosts, Runtime};
use crate::setting::{InteractiveToolCallResult, RunInput, RunSetting};
use crate::stop::StopSignal;

impl Runtime {
    /// Runs every delegation of `parent` concurrently and returns the parent's next run,
    /// which resumes with their results (first as the input, the rest as partial results).
    pub(crate) async fn delegate(
        &self,
        setting: RunSetting,
        parent: Checkpoint,
        tracker: &JobTracker,
        hosts: &Hosts,
        stop: &StopSignal,
    ) -> Result<RunSetting, RuntimeError> {
        let targets = parent.delegate_to.clone().unwrap_or_default();
        let parent_ref = DelegatedFrom {
            expert: parent.expert.clone(),
            checkpoint_id: parent.id.clone(),
            run_id: setting.run_id.clone(),
        };
        let children = futures::future::join_all(targets.iter().map(|t| {
            let mut child = setting.clone();
            child.run_id = new_id();
            child.expert_key = t.expert.key.clone();
            child.input = RunInput::query(t.query.clone());
            let mut cp =
                Checkpoint::init(new_id(), &setting.job_id, &child.run_id, t.expert.clone());
            cp.step_number = parent.step_number;
            cp.delegated_by = Some(perstack_core::DelegatedBy {
                expert: parent_ref.expert.clone(),
                tool_call_id: t.tool_call_id.clone(),
                tool_name: t.tool_name.clone(),
                checkpoint_id: parent_ref.checkpoint_id.clone(),
                run_id: parent_ref.run_id.clone(),
            });
            child.checkpoint = Some(cp);
            self.run_expert(child, tracker, hosts, stop, false)
        }))
        .await;
        let mut step_number = parent.step_number;
        let mut usage = parent.usage;
        let mut results = Vec::new();
        for (target, child) in targets.iter().zip(children) {
            let text = match child {
                Ok((cp, text)) => {
                    step_number = step_number.max(cp.step_number);
                    usage += cp.usage;
                    delegate_result_text(&target.expert.key, &cp, text)
                }
                // A delegate that cannot run is an error result for the parent, not the job's end.
                Err(e) => format!("Delegate \"{}\" failed: {e}", target.expert.key),
            };
            results.push(ToolResult {
                id: target.tool_call_id.clone(),
                skill_name: format!("delegate/{}", target.expert.key),
                tool_name: target.tool_name.clone(),
                result: vec![MessagePart::Text(TextPart::new(text))],
            });
        }
        let mut next = setting;
        let mut cp = parent;
        cp.step_number = step_number;
        cp.usage = usage;
        let mut results = results.into_iter();
        let first = results.next();
        cp.partial_tool_results
            .get_or_insert_with(Vec::new)
            .extend(results);
        // Only the delegation answered through the input is still open; the others are
        // already among the partial results.
        if let Some(targets) = &mut cp.delegate_to {
            targets.retain(|t| first.as_ref().is_some_and(|f| f.id == t.tool_call_id));
        }
        next.run_id = new_id();
        next.expert_key = cp.expert.key.clone();
        next.input = RunInput {
            text: None,
            interactive_tool_call_result: first.map(|r| InteractiveToolCallResult {
                tool_call_id: r.id,
                tool_name: r.tool_name,
                skill_name: r.skill_name,
                text: r.result.iter().map(part_text).collect(),
            }),
            decisions: Vec::new(),
        };
        next.checkpoint = Some(cp);
        Ok(next)
    }
}

/// The parent a delegation returns to.
struct DelegatedFrom {
    expert: ExpertRef,
    checkpoint_id: String,
    run_id: String,
}

/// What a parent receives from a delegate: its result, or why there is none.
fn delegate_result_text(key: &str, cp: &Checkpoint, text: Option<String>) -> String {
    match cp.status {
        CheckpointStatus::Completed => text.unwrap_or_default(),
        CheckpointStatus::StoppedByError => format!(
            "Delegate \"{key}\" stopped with an error: {}",
            cp.error
                .as_ref()
                .map_or("unknown error", |e| e.message.as_str())
        ),
        CheckpointStatus::StoppedByExceededMaxSteps => {
            format!("Delegate \"{key}\" reached the step limit without a result.")
        }
        CheckpointStatus::StoppedByInteractiveTool | CheckpointStatus::StoppedByApproval => {
            format!(
                "Delegate \"{key}\" stopped waiting for the application; delegates cannot do that."
            )
        }
        CheckpointStatus::StoppedByBudget | CheckpointStatus::StoppedBySignal => {
            format!(
                "Delegate \"{key}\" was stopped before finishing ({:?}).",
                cp.status
            )
        }
        CheckpointStatus::Init
        | CheckpointStatus::Proceeding
        | CheckpointStatus::StoppedByDelegate => {
            format!(
                "Delegate \"{key}\" ended in an unexpected state ({:?}).",
                cp.status
            )
        }
    }
}

fn part_text(part: &MessagePart) -> &str {
    match part {
        MessagePart::Text(t) => &t.text,
        MessagePart::ImageUrl(_)
        | MessagePart::ImageInline(_)
        | MessagePart::ImageBinary(_)
        | MessagePart::FileUrl(_)
        | MessagePart::FileInline(_)
        | MessagePart::FileBinary(_)
        | MessagePart::ToolCall(_)
        | MessagePart::ToolResult(_)
        | MessagePart::Thinking(_) => "",
    }
}
