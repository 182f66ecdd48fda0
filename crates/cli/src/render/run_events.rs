//! Run events: headers, the model's text, tool calls and results, streaming, stops.

use perstack_core::message::ExpertPart;
use perstack_core::{Checkpoint, CheckpointStatus, Message, MessagePart, ToolCall, ToolResult};
use perstack_events::{RunEvent, RunEventPayload};

use super::{Renderer, RunView, stop, text};

impl Renderer {
    pub(super) fn run_event(&mut self, e: &RunEvent, out: &mut String) {
        if let RunEventPayload::StartRun {
            initial_checkpoint, ..
        } = &e.payload
        {
            // The job goes on: the last stop's commands no longer apply.
            self.pending_hints.clear();
            self.start_run(e, initial_checkpoint, out);
            return;
        }
        let view = self.view(e);
        let depth = view.depth;
        if view.headed_step != Some(e.step_number) {
            self.run_view(e).headed_step = Some(e.step_number);
            let header = format!("── step {} ──", e.step_number);
            let header = self.style.bold(&header);
            self.line(out, depth, &header);
        }
        match &e.payload {
            RunEventPayload::StartRun { .. }
            | RunEventPayload::StartGeneration { .. }
            | RunEventPayload::ResumeToolCalls { .. }
            | RunEventPayload::ContinueToNextStep { .. }
            | RunEventPayload::StopRunByDelegate { .. }
            | RunEventPayload::StartStreamingReasoning {}
            | RunEventPayload::StartStreamingRunResult {} => {}
            RunEventPayload::Retry { reason, .. } => {
                let l = format!("↺ retry: {}", text::clip(&text::reason(reason), 160));
                let l = self.style.yellow(&l);
                self.line(out, depth, &l);
            }
            RunEventPayload::CallTools {
                new_message,
                tool_calls,
                ..
            }
            | RunEventPayload::CallDelegate {
                new_message,
                tool_calls,
                ..
            } => {
                if matches!(e.payload, RunEventPayload::CallDelegate { .. }) {
                    self.delegate_calls
                        .extend(tool_calls.iter().map(|c| c.id.clone()));
                }
                self.message(e, new_message, out);
                for c in tool_calls {
                    self.call(depth, c, out);
                }
            }
            RunEventPayload::CallInteractiveTool {
                new_message,
                tool_call,
                ..
            } => {
                self.message(e, new_message, out);
                self.call(depth, tool_call, out);
            }
            RunEventPayload::ResolveToolResults { tool_results } => {
                for r in tool_results {
                    self.result(depth, r, out);
                }
            }
            RunEventPayload::AttemptCompletion { tool_result } => {
                let remaining = text::result_text(tool_result);
                if !matches!(remaining.trim(), "" | "{}" | "[]") {
                    let l = format!("↳ not done yet: {}", text::result(tool_result));
                    let l = self.style.yellow(&l);
                    self.line(out, depth + 1, &l);
                }
            }
            RunEventPayload::FinishToolCall { new_messages }
            | RunEventPayload::FinishAllToolCalls { new_messages } => {
                for r in tool_message_results(new_messages) {
                    self.result(depth, &r, out);
                }
            }
            RunEventPayload::StreamReasoning { delta } => self.reasoning(out, depth, delta),
            RunEventPayload::CompleteStreamingReasoning { .. } => {
                self.break_line(out);
                self.run_view(e).reasoning_streamed_step = Some(e.step_number);
            }
            RunEventPayload::StreamRunResult { delta } => self.write(out, depth, delta),
            RunEventPayload::CompleteStreamingRunResult { text } => {
                self.break_line(out);
                let v = self.run_view(e);
                v.streamed_result = true;
                v.last_text = Some(text.clone());
            }
            RunEventPayload::CompleteRun { .. }
            | RunEventPayload::StopRunByInteractiveTool { .. }
            | RunEventPayload::StopRunByExceededMaxSteps { .. }
            | RunEventPayload::StopRunByError { .. }
            | RunEventPayload::StopRunByApproval { .. }
            | RunEventPayload::StopRunByBudget { .. }
            | RunEventPayload::StopRunBySignal { .. } => {
                self.break_line(out);
                let view = self.view(e);
                let (lines, hints) = self.stop_lines(e, &view);
                for l in lines {
                    self.line(out, depth, &l);
                }
                if view.depth == 0 {
                    self.pending_hints = hints;
                }
            }
        }
    }

    /// The run's view, created on first sight (a run replayed from its middle).
    fn view(&mut self, e: &RunEvent) -> RunView {
        self.run_view(e).clone()
    }

    fn run_view(&mut self, e: &RunEvent) -> &mut RunView {
        self.runs
            .entry(e.run_id.clone())
            .or_insert_with(|| RunView {
                depth: 0,
                expert: e.expert_key.clone(),
                started_at: e.timestamp,
                max_steps: None,
                headed_step: None,
                reasoning_streamed_step: None,
                streamed_result: false,
                last_text: None,
            })
    }

    fn start_run(&mut self, e: &RunEvent, cp: &Checkpoint, out: &mut String) {
        let init = self.inits.remove(&e.run_id);
        let depth = match &cp.delegated_by {
            Some(by) => self.runs.get(&by.run_id).map_or(1, |p| p.depth + 1),
            None => 0,
        };
        let expert = e.expert_key.clone();
        self.runs.insert(
            e.run_id.clone(),
            RunView {
                depth,
                expert: expert.clone(),
                started_at: init.as_ref().map_or(e.timestamp, |i| i.timestamp),
                max_steps: init.as_ref().and_then(|i| i.max_steps),
                headed_step: None,
                reasoning_streamed_step: None,
                streamed_result: false,
                last_text: None,
            },
        );
        let model = init.as_ref().map(|i| i.model.as_str()).unwrap_or("");
        let with_model = |s: String| {
            if model.is_empty() {
                s
            } else {
                format!("{s} · {model}")
            }
        };
        let answer = init.as_ref().and_then(|i| i.answer.clone());
        let header = match (&answer, cp.status, &cp.delegated_by) {
            (Some(a), _, _) if self.delegate_calls.contains(&a.tool_call_id) => {
                format!("↩ {expert} continues with the delegation results")
            }
            (Some(a), _, _) => format!(
                "↻ {expert} resumes with the answer to {} ({})",
                a.tool_name, a.tool_call_id
            ),
            (None, CheckpointStatus::StoppedByApproval, _) => {
                format!("↻ {expert} resumes with the approval decisions")
            }
            (None, CheckpointStatus::Init, Some(by)) => {
                with_model(format!("▶ {expert} (delegated by {})", by.expert.key))
            }
            (None, CheckpointStatus::Init, None) => with_model(format!("▶ {expert}")),
            (None, status, _) => with_model(format!(
                "↻ {expert} continues from step {} ({})",
                cp.step_number,
                stop::status_name(status)
            )),
        };
        let header = self.style.bold(&header);
        self.line(out, depth, &header);
        if let Some(q) = init.and_then(|i| i.query).filter(|q| !q.trim().is_empty()) {
            let q = q.trim_end();
            let mut lines = q.lines();
            if let Some(first) = lines.next() {
                let l = format!("› {first}");
                self.line(out, depth, &l);
            }
            for rest in lines {
                let l = format!("  {rest}");
                self.line(out, depth, &l);
            }
        }
    }

    /// The model's text and reasoning from a message it produced.
    fn message(&mut self, e: &RunEvent, m: &Message, out: &mut String) {
        let Message::ExpertMessage { id, contents, .. } = m else {
            return;
        };
        // callTools and callDelegate/callInteractiveTool carry the same message.
        if !self.shown_messages.insert(id.clone()) {
            return;
        }
        let view = self.view(e);
        for part in contents {
            match part {
                ExpertPart::Text(t) if !t.text.trim().is_empty() => {
                    self.block(out, view.depth, &t.text);
                    self.run_view(e).last_text = Some(t.text.clone());
                }
                ExpertPart::Thinking(t)
                    if !t.thinking.trim().is_empty()
                        && view.reasoning_streamed_step != Some(e.step_number) =>
                {
                    self.break_line(out);
                    self.reasoning(out, view.depth, &format!("{}\n", t.thinking.trim_end()));
                }
                ExpertPart::Text(_) | ExpertPart::Thinking(_) | ExpertPart::ToolCall(_) => {}
            }
        }
    }

    fn call(&mut self, depth: usize, c: &ToolCall, out: &mut String) {
        if !self.shown_calls.insert(c.id.clone()) {
            return;
        }
        let head = format!("● {} › {}", c.skill_name, c.tool_name);
        let args = text::args(&c.args);
        let l = if args.is_empty() {
            self.style.cyan(&head)
        } else {
            format!("{}  {args}", self.style.cyan(&head))
        };
        self.line(out, depth, &l);
    }

    fn result(&mut self, depth: usize, r: &ToolResult, out: &mut String) {
        if !self.shown_results.insert(r.id.clone()) {
            return;
        }
        let summary = text::result(r);
        let l = if text::is_error(r) {
            self.style.red(&format!("✗ {}: {summary}", r.tool_name))
        } else {
            self.style.dim(&format!("↳ {}: {summary}", r.tool_name))
        };
        self.line(out, depth + 1, &l);
    }
}

/// Tool results carried by the tool messages of `messages`.
fn tool_message_results(messages: &[Message]) -> Vec<ToolResult> {
    let mut out = Vec::new();
    for m in messages {
        if let Message::ToolMessage { contents, .. } = m {
            for p in contents {
                out.push(ToolResult {
                    id: p.tool_call_id.clone(),
                    skill_name: String::new(),
                    tool_name: p.tool_name.clone(),
                    result: vec![MessagePart::ToolResult(p.clone())],
                    is_error: p.is_error,
                });
            }
        }
    }
    out
}
