//! How a run ended, and what to do next: the exact command that resumes it.

use perstack_core::{CheckpointStatus, ToolCall, Usage};
use perstack_events::{RunEvent, RunEventPayload};
use serde_json::Value;

use super::invocation::Invocation;
use super::{Renderer, RunView, text};

/// The wire name of a checkpoint status.
pub(super) fn status_name(status: CheckpointStatus) -> &'static str {
    match status {
        CheckpointStatus::Init => "init",
        CheckpointStatus::Proceeding => "proceeding",
        CheckpointStatus::Completed => "completed",
        CheckpointStatus::StoppedByInteractiveTool => "stoppedByInteractiveTool",
        CheckpointStatus::StoppedByDelegate => "stoppedByDelegate",
        CheckpointStatus::StoppedByExceededMaxSteps => "stoppedByExceededMaxSteps",
        CheckpointStatus::StoppedByError => "stoppedByError",
        CheckpointStatus::StoppedByApproval => "stoppedByApproval",
        CheckpointStatus::StoppedByBudget => "stoppedByBudget",
        CheckpointStatus::StoppedBySignal => "stoppedBySignal",
    }
}

/// `s` as one shell word: bare when safe, else single-quoted.
pub(crate) fn shell_word(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@/._:-+=,".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `perstack start [--config C] [--workspace W] --continue-job JOB <flags> EXPERT ""`: the
/// transcript is for a person, who goes on with `start` (it takes every flag of `run`).
fn resume_command(inv: &Invocation, job: &str, flags: &str, expert: &str) -> String {
    continue_command(inv, job, flags, expert, "\"\"")
}

/// `perstack start ... --continue-job JOB FLAGS EXPERT QUERY` (QUERY already quoted).
fn continue_command(inv: &Invocation, job: &str, flags: &str, expert: &str, query: &str) -> String {
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" {flags}")
    };
    format!(
        "perstack start{} --continue-job {}{flags} {} {query}",
        inv.run_flags(),
        shell_word(job),
        shell_word(expert)
    )
}

fn usage_summary(step: u32, usage: &Usage, elapsed_ms: u64) -> String {
    format!(
        "step {step} · {} in / {} out tokens · {}",
        text::tokens(usage.input_tokens),
        text::tokens(usage.output_tokens),
        text::duration(elapsed_ms)
    )
}

impl Renderer {
    /// The lines for a stop (or completion) event, and apart from them the next-step hints
    /// (only for the job's Expert: a delegate's stop goes back to its parent as a result),
    /// printed once the transcript ends.
    pub(super) fn stop_lines(&self, e: &RunEvent, view: &RunView) -> (Vec<String>, Vec<String>) {
        let st = self.style;
        let top = view.depth == 0;
        let expert = &view.expert;
        let job = &e.job_id;
        let inv = &self.invocation;
        let elapsed = e.timestamp.saturating_sub(view.started_at);
        let mut lines = Vec::new();
        let mut hint = |label: &str, cmd: String| {
            if top {
                lines.push(format!("  {} {cmd}", st.dim(&format!("{label}:"))));
            }
        };
        let mut head: Vec<String> = Vec::new();
        match &e.payload {
            RunEventPayload::CompleteRun {
                checkpoint, text, ..
            } => {
                if !view.streamed_result && view.last_text.as_deref() != Some(text.as_str()) {
                    head.extend(text.trim_end().lines().map(str::to_string));
                }
                head.push(st.green(&format!(
                    "✔ {expert} completed · {}",
                    usage_summary(checkpoint.step_number, &checkpoint.usage, elapsed)
                )));
            }
            RunEventPayload::StopRunByInteractiveTool { checkpoint, .. } => {
                let calls = checkpoint.pending_tool_calls.clone().unwrap_or_default();
                let call = calls.first();
                let name = call.map_or("an interactive tool".to_string(), |c| {
                    format!("{} › {} ({})", c.skill_name, c.tool_name, c.id)
                });
                head.push(st.yellow(&format!("⏸ {expert} waits for an answer: {name}")));
                if let Some(c) = call {
                    head.extend(question(c).into_iter().map(|l| format!("  {l}")));
                }
                hint(
                    "answer",
                    continue_command(inv, job, "-i", expert, "'YOUR ANSWER'"),
                );
            }
            RunEventPayload::StopRunByApproval { tool_calls, .. } => {
                head.push(st.yellow(&format!(
                    "⏸ {expert} waits for approval of {} call{}:",
                    tool_calls.len(),
                    if tool_calls.len() == 1 { "" } else { "s" }
                )));
                for c in tool_calls {
                    head.push(format!(
                        "  {} › {} ({})  {}",
                        c.skill_name,
                        c.tool_name,
                        c.id,
                        text::args(&c.args)
                    ));
                }
                let ids = |flag: &str| {
                    tool_calls
                        .iter()
                        .map(|c| format!("{flag} {}", shell_word(&c.id)))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                hint(
                    "approve",
                    resume_command(inv, job, &ids("--approve"), expert),
                );
                hint(
                    "deny",
                    resume_command(
                        inv,
                        job,
                        &format!("{} --reason 'WHY'", ids("--deny")),
                        expert,
                    ),
                );
            }
            RunEventPayload::StopRunByExceededMaxSteps { checkpoint, .. } => {
                let limit = view.max_steps.unwrap_or(checkpoint.step_number);
                head.push(st.yellow(&format!(
                    "■ {expert} reached the step limit ({limit}) · {}",
                    usage_summary(checkpoint.step_number, &checkpoint.usage, elapsed)
                )));
                let more = limit.saturating_mul(2).max(checkpoint.step_number + 10);
                hint(
                    "raise the limit",
                    resume_command(inv, job, &format!("--max-steps {more}"), expert),
                );
            }
            RunEventPayload::StopRunByBudget {
                checkpoint,
                reason,
                budget,
                ..
            } => {
                head.push(st.yellow(&format!(
                    "■ {expert} stopped by a budget: {reason} · {}",
                    usage_summary(checkpoint.step_number, &checkpoint.usage, elapsed)
                )));
                let flag = raise_budget_flag(budget.as_ref(), reason, &checkpoint.usage);
                hint("raise the budget", resume_command(inv, job, &flag, expert));
            }
            RunEventPayload::StopRunByError {
                checkpoint, error, ..
            } => {
                head.push(st.red(&format!(
                    "✗ {expert} stopped with an error: {}: {}",
                    error.name,
                    text::one_line(&error.message)
                )));
                head.push(st.dim(&format!(
                    "  {}",
                    usage_summary(checkpoint.step_number, &checkpoint.usage, elapsed)
                )));
                hint(
                    "details",
                    format!(
                        "perstack log{} --job {} --errors",
                        inv.log_flags(),
                        shell_word(job)
                    ),
                );
                if matches!(error.status_code, Some(401 | 403)) {
                    // The same key fails the same way: fix it first.
                    hint("fix", auth_fix(&error.message));
                    hint("then resume", resume_command(inv, job, "", expert));
                } else {
                    hint("retry", resume_command(inv, job, "", expert));
                }
            }
            RunEventPayload::StopRunBySignal {
                checkpoint, signal, ..
            } => {
                head.push(st.yellow(&format!(
                    "■ {expert} interrupted by {signal} · {}",
                    usage_summary(checkpoint.step_number, &checkpoint.usage, elapsed)
                )));
                hint("resume", resume_command(inv, job, "", expert));
            }
            RunEventPayload::StartRun { .. }
            | RunEventPayload::StartGeneration { .. }
            | RunEventPayload::Retry { .. }
            | RunEventPayload::CallTools { .. }
            | RunEventPayload::CallInteractiveTool { .. }
            | RunEventPayload::CallDelegate { .. }
            | RunEventPayload::ResolveToolResults { .. }
            | RunEventPayload::AttemptCompletion { .. }
            | RunEventPayload::FinishToolCall { .. }
            | RunEventPayload::ResumeToolCalls { .. }
            | RunEventPayload::FinishAllToolCalls { .. }
            | RunEventPayload::ContinueToNextStep { .. }
            | RunEventPayload::StopRunByDelegate { .. }
            | RunEventPayload::StartStreamingReasoning {}
            | RunEventPayload::StreamReasoning { .. }
            | RunEventPayload::CompleteStreamingReasoning { .. }
            | RunEventPayload::StartStreamingRunResult {}
            | RunEventPayload::StreamRunResult { .. }
            | RunEventPayload::CompleteStreamingRunResult { .. } => {}
        }
        (head, lines)
    }
}

/// An interactive call's input, as the question to answer: each argument on its own line,
/// strings as they are (a multi-line question stays readable).
fn question(call: &ToolCall) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in &call.args {
        match v {
            Value::String(s) => {
                let mut lines = s.trim_end().lines();
                out.push(format!("{k}: {}", lines.next().unwrap_or("")));
                out.extend(lines.map(|l| format!("  {l}")));
            }
            Value::Null
            | Value::Bool(_)
            | Value::Number(_)
            | Value::Array(_)
            | Value::Object(_) => {
                out.push(format!("{k}: {v}"));
            }
        }
    }
    out
}

/// The flag that lets a job stopped by a budget go on: from the event's `budget` figures, or
/// its reason text for logs written before `budget` existed.
fn raise_budget_flag(
    budget: Option<&perstack_events::BudgetExceeded>,
    reason: &str,
    usage: &perstack_core::Usage,
) -> String {
    use perstack_events::BudgetExceeded;
    match budget {
        // Suggest twice what was spent: enough to see progress, small enough to stay a limit.
        Some(BudgetExceeded::Tokens { limit, used }) => {
            format!(
                "--max-total-tokens {}",
                (*limit).max(*used).saturating_mul(2).max(1000)
            )
        }
        Some(BudgetExceeded::Cost { limit, used, .. }) => {
            format!("--max-total-cost {:.2}", (limit.max(*used) * 2.0).max(1.0))
        }
        Some(BudgetExceeded::Duration { .. }) => "--max-duration SECONDS".to_string(),
        None if reason.starts_with("maxDuration") => "--max-duration SECONDS".to_string(),
        None if reason.starts_with("maxTotalTokens") => format!(
            "--max-total-tokens {}",
            usage.total_tokens.saturating_mul(2).max(1000)
        ),
        None if reason.starts_with("maxTotalCost") => "--max-total-cost USD".to_string(),
        None => String::new(),
    }
}

/// What to fix after the provider refused the credentials (HTTP 401/403): the key variable
/// of the provider the message names (`openai: HTTP 401 ...`), when it has one.
fn auth_fix(message: &str) -> String {
    let var = message
        .split(':')
        .next()
        .and_then(|p| p.trim().parse::<perstack_core::config::ProviderName>().ok())
        .and_then(crate::commands::why::key_var);
    match var {
        Some(var) => format!(
            "the provider refused the key: set a valid {var} (environment or env file); \
             the same key fails the same way"
        ),
        None => "the provider refused the key: set a valid API key (environment or env file); \
                 the same key fails the same way"
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("call_1_0"), "call_1_0");
        assert_eq!(shell_word("@acme/writer@1.0.0"), "@acme/writer@1.0.0");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
