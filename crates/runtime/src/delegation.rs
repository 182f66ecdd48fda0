//! Delegation: the delegates of a step run concurrently as runs of their own; their results
//! return to the parent as tool results of its next run. When delegates stop for the
//! application (interactive tool, approval), the parent's delegation is suspended: the
//! results of the others are kept in a [`SuspendedDelegation`] record and the job stops with
//! the first waiting delegate's checkpoint (see `resume.rs` for the way back).

use perstack_checkpoint::{FinishedDelegate, SuspendedDelegation, WaitingDelegate};
use perstack_core::{
    Checkpoint, CheckpointStatus, DelegationTarget, ExpertPart, Message, MessagePart, TextPart,
    ToolResult, Usage, id::new_id,
};

use crate::emitter::JobTracker;
use crate::error::RuntimeError;
use crate::run::{Hosts, Runtime};
use crate::setting::{InteractiveToolCallResult, RunInput, RunSetting};
use crate::stop::StopSignal;

/// How an Expert's execution (its runs and its delegates') ended.
#[derive(Debug, Clone)]
pub(crate) enum Ended {
    /// Its last run stopped: the final checkpoint and, when it completed, the result text.
    Stopped {
        /// The final checkpoint.
        checkpoint: Checkpoint,
        /// The result text.
        text: Option<String>,
    },
    /// A delegate below it waits for the application.
    Waiting(Waiting),
}

/// A delegation subtree waiting for the application.
#[derive(Debug, Clone)]
pub(crate) struct Waiting {
    /// The innermost stopped checkpoint: what the job reports and what is resumed.
    pub(crate) checkpoint: Checkpoint,
    /// Tokens used in the subtree so far, its top Expert included.
    pub(crate) usage: Usage,
    /// The highest step number reached in it.
    pub(crate) step_number: u32,
}

/// What serving a parent's delegations led to.
#[derive(Debug)]
pub(crate) enum Delegated {
    /// Every delegate has a result: the parent's next run.
    Next(Box<RunSetting>),
    /// At least one delegate waits for the application.
    Waiting(Box<Waiting>),
}

/// A delegate whose outcome is known.
#[derive(Debug, Clone)]
pub(crate) enum Settled {
    /// It has a result for the parent.
    Finished(FinishedDelegate),
    /// It waits for the application.
    Waiting(Box<Waiting>),
}

/// True for the statuses that stop a job for the application.
pub(crate) fn stops_for_application(status: CheckpointStatus) -> bool {
    match status {
        CheckpointStatus::StoppedByInteractiveTool | CheckpointStatus::StoppedByApproval => true,
        CheckpointStatus::Init
        | CheckpointStatus::Proceeding
        | CheckpointStatus::Completed
        | CheckpointStatus::StoppedByDelegate
        | CheckpointStatus::StoppedByExceededMaxSteps
        | CheckpointStatus::StoppedByError
        | CheckpointStatus::StoppedByBudget
        | CheckpointStatus::StoppedBySignal => false,
    }
}

/// What the delegation `target` ended with, for its parent.
pub(crate) fn settle(target: &DelegationTarget, ended: Result<Ended, RuntimeError>) -> Settled {
    let finished = |text: String, is_error: bool, usage: Usage, step_number: u32| {
        Settled::Finished(FinishedDelegate {
            result: ToolResult {
                id: target.tool_call_id.clone(),
                skill_name: format!("delegate/{}", target.expert.key),
                tool_name: target.tool_name.clone(),
                result: vec![MessagePart::Text(TextPart::new(text))],
                is_error: is_error.then_some(true),
            },
            usage,
            step_number,
        })
    };
    match ended {
        Ok(Ended::Waiting(w)) => Settled::Waiting(Box::new(w)),
        Ok(Ended::Stopped { checkpoint, .. }) if stops_for_application(checkpoint.status) => {
            Settled::Waiting(Box::new(Waiting {
                usage: checkpoint.usage,
                step_number: checkpoint.step_number,
                checkpoint,
            }))
        }
        Ok(Ended::Stopped { checkpoint, text }) => {
            let text = delegate_result_text(&target.expert.key, &checkpoint, text);
            let is_error = checkpoint.status != CheckpointStatus::Completed;
            finished(text, is_error, checkpoint.usage, checkpoint.step_number)
        }
        // A delegate that cannot run is an error result for the parent, not the job's end.
        Err(e) => finished(
            format!("Delegate \"{}\" failed: {e}", target.expert.key),
            true,
            Usage::default(),
            0,
        ),
    }
}

impl Runtime {
    /// Serves the delegations of `parent`: runs every delegate not in `known` concurrently,
    /// then either returns the parent's next run (which resumes with all results, the first
    /// as the input, the rest as partial results) or, when delegates wait for the
    /// application, records the suspended delegation and reports the first waiting one.
    pub(crate) async fn delegate(
        &self,
        setting: RunSetting,
        parent: Checkpoint,
        known: Vec<(String, Settled)>,
        tracker: &JobTracker,
        hosts: &Hosts,
        stop: &StopSignal,
    ) -> Result<Delegated, RuntimeError> {
        let targets = parent.delegate_to.clone().unwrap_or_default();
        let fresh: Vec<&DelegationTarget> = targets
            .iter()
            .filter(|t| !known.iter().any(|(id, _)| id == &t.tool_call_id))
            .collect();
        let ran = futures::future::join_all(fresh.iter().map(|t| {
            let child = child_setting(&setting, &parent, t);
            self.run_expert(child, tracker, hosts, stop)
        }))
        .await;
        let mut settled: Vec<(String, Settled)> = known;
        for (t, ended) in fresh.iter().zip(ran) {
            settled.push((t.tool_call_id.clone(), settle(t, ended)));
        }
        // Call order.
        let mut ordered: Vec<Settled> = Vec::new();
        for t in &targets {
            if let Some(i) = settled.iter().position(|(id, _)| id == &t.tool_call_id) {
                ordered.push(settled.swap_remove(i).1);
            }
        }
        let mut usage = parent.usage;
        let mut step_number = parent.step_number;
        let mut finished = Vec::new();
        let mut waiting = Vec::new();
        for (target, s) in targets.iter().zip(ordered) {
            match s {
                Settled::Finished(f) => {
                    usage += f.usage;
                    step_number = step_number.max(f.step_number);
                    finished.push(f);
                }
                Settled::Waiting(w) => {
                    usage += w.usage;
                    step_number = step_number.max(w.step_number);
                    waiting.push((target.tool_call_id.clone(), w));
                }
            }
        }
        if let Some((_, first)) = waiting.first() {
            let report = Waiting {
                checkpoint: first.checkpoint.clone(),
                usage,
                step_number,
            };
            if let Some(storage) = &self.storage {
                let record = SuspendedDelegation {
                    parent_checkpoint_id: parent.id.clone(),
                    root: parent.delegated_by.is_none(),
                    finished,
                    waiting: waiting
                        .into_iter()
                        .map(|(tool_call_id, w)| WaitingDelegate {
                            tool_call_id,
                            checkpoint_id: w.checkpoint.id,
                            usage: w.usage,
                            step_number: w.step_number,
                        })
                        .collect(),
                };
                storage.store_suspended(&setting.job_id, &record)?;
            }
            return Ok(Delegated::Waiting(Box::new(report)));
        }
        if let Some(storage) = &self.storage {
            storage.remove_suspended(&setting.job_id, &parent.id)?;
        }
        Ok(Delegated::Next(Box::new(parent_next(
            setting,
            parent,
            finished,
            usage,
            step_number,
        ))))
    }
}

/// The run of delegate `target` of `parent`, from a fresh checkpoint.
fn child_setting(setting: &RunSetting, parent: &Checkpoint, t: &DelegationTarget) -> RunSetting {
    let mut child = setting.clone();
    child.run_id = new_id();
    child.expert_key = t.expert.key.clone();
    child.input = RunInput::query(t.query.clone());
    let mut cp = Checkpoint::init(new_id(), &setting.job_id, &child.run_id, t.expert.clone());
    cp.step_number = parent.step_number;
    cp.delegated_by = Some(perstack_core::DelegatedBy {
        expert: parent.expert.clone(),
        tool_call_id: t.tool_call_id.clone(),
        tool_name: t.tool_name.clone(),
        checkpoint_id: parent.id.clone(),
        run_id: parent.run_id.clone(),
    });
    child.checkpoint = Some(cp);
    child
}

/// The parent's next run once every delegate finished.
fn parent_next(
    setting: RunSetting,
    parent: Checkpoint,
    finished: Vec<FinishedDelegate>,
    usage: Usage,
    step_number: u32,
) -> RunSetting {
    let mut next = setting;
    let mut cp = parent;
    cp.step_number = step_number;
    cp.usage = usage;
    let mut results = finished.into_iter().map(|f| f.result);
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
            is_error: r.is_error,
        }),
        decisions: Vec::new(),
    };
    next.checkpoint = Some(cp);
    next
}

/// What a parent receives from a delegate that stopped: its result, or why there is none.
fn delegate_result_text(key: &str, cp: &Checkpoint, text: Option<String>) -> String {
    match cp.status {
        CheckpointStatus::Completed => text.or_else(|| last_text(&cp.messages)).unwrap_or_default(),
        CheckpointStatus::StoppedByError => format!(
            "Delegate \"{key}\" stopped with an error: {}",
            cp.error
                .as_ref()
                .map_or("unknown error", |e| e.message.as_str())
        ),
        CheckpointStatus::StoppedByExceededMaxSteps => {
            format!("Delegate \"{key}\" reached the step limit without a result.")
        }
        CheckpointStatus::StoppedByBudget | CheckpointStatus::StoppedBySignal => format!(
            "Delegate \"{key}\" was stopped before finishing ({:?}).",
            cp.status
        ),
        // Stops for the application are settled as waiting before this is reached.
        CheckpointStatus::StoppedByInteractiveTool
        | CheckpointStatus::StoppedByApproval
        | CheckpointStatus::Init
        | CheckpointStatus::Proceeding
        | CheckpointStatus::StoppedByDelegate => format!(
            "Delegate \"{key}\" ended in an unexpected state ({:?}).",
            cp.status
        ),
    }
}

/// The text of the conversation's last message when it is the model's (a completed run's
/// result, as Perstack reads it).
fn last_text(messages: &[Message]) -> Option<String> {
    let Some(Message::ExpertMessage { contents, .. }) = messages.last() else {
        return None;
    };
    contents.iter().find_map(|p| match p {
        ExpertPart::Text(t) => Some(t.text.clone()),
        ExpertPart::ToolCall(_) | ExpertPart::Thinking(_) => None,
    })
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
