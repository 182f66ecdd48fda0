//! The live status line (step, tokens, elapsed time, estimated cost): drawn in place on
//! stderr while `start` runs, never part of the transcript.

use perstack_core::Usage;
use perstack_events::{Event, RunEventPayload, RuntimeEventPayload};

use super::text;

/// Estimates the cost in US dollars of `usage` on `model`; `None` when the price is unknown.
///
/// The extension point for a price table: [`Status::with_cost`] takes any such function.
pub type CostEstimator = Box<dyn Fn(&str, &Usage) -> Option<f64> + Send>;

/// What the status line shows, folded from events.
pub struct Status {
    step: u32,
    model: String,
    /// Usage of the job as of the last checkpoint of the job's Expert.
    settled: Usage,
    /// Usage of generations since then (delegates' included).
    pending: Usage,
    cost: Option<CostEstimator>,
    /// What the runtime waits for now (the model, tools), if anything.
    waiting: Option<String>,
}

/// Spinner frames, one per redraw tick.
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// How long one spinner frame shows.
const FRAME_MS: u64 = 100;

impl std::fmt::Debug for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Status")
            .field("step", &self.step)
            .field("settled", &self.settled)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl Default for Status {
    fn default() -> Self {
        Status::new()
    }
}

impl Status {
    /// Nothing seen yet.
    pub fn new() -> Self {
        Status {
            step: 0,
            model: String::new(),
            settled: Usage::default(),
            pending: Usage::default(),
            cost: None,
            waiting: None,
        }
    }

    /// Shows an estimated cost computed by `estimator`.
    #[allow(dead_code)] // the extension point for a price table; no table exists yet
    pub fn with_cost(mut self, estimator: CostEstimator) -> Self {
        self.cost = Some(estimator);
        self
    }

    /// Takes in one event.
    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::Run(e) => {
                self.step = self.step.max(e.step_number);
                self.waiting = waiting_for(&e.payload, &self.model, self.waiting.take());
                match &e.payload {
                    RunEventPayload::CallTools { usage, .. }
                    | RunEventPayload::Retry { usage, .. } => self.pending += *usage,
                    // Same generation as the callTools before them: counted once.
                    RunEventPayload::CallInteractiveTool { .. }
                    | RunEventPayload::CallDelegate { .. } => {}
                    RunEventPayload::StartRun { .. }
                    | RunEventPayload::StartGeneration { .. }
                    | RunEventPayload::ResolveToolResults { .. }
                    | RunEventPayload::AttemptCompletion { .. }
                    | RunEventPayload::FinishToolCall { .. }
                    | RunEventPayload::ResumeToolCalls { .. }
                    | RunEventPayload::FinishAllToolCalls { .. }
                    | RunEventPayload::ContinueToNextStep { .. }
                    | RunEventPayload::StopRunByInteractiveTool { .. }
                    | RunEventPayload::StopRunByDelegate { .. }
                    | RunEventPayload::StopRunByExceededMaxSteps { .. }
                    | RunEventPayload::StopRunByError { .. }
                    | RunEventPayload::CompleteRun { .. }
                    | RunEventPayload::StopRunByApproval { .. }
                    | RunEventPayload::StopRunByBudget { .. }
                    | RunEventPayload::StopRunBySignal { .. }
                    | RunEventPayload::StartStreamingReasoning {}
                    | RunEventPayload::StreamReasoning { .. }
                    | RunEventPayload::CompleteStreamingReasoning { .. }
                    | RunEventPayload::StartStreamingRunResult {}
                    | RunEventPayload::StreamRunResult { .. }
                    | RunEventPayload::CompleteStreamingRunResult { .. } => {
                        // The job's usage as of a checkpoint of the job's Expert.
                        if let Some(cp) = e.payload.checkpoint()
                            && cp.delegated_by.is_none()
                        {
                            self.settled = cp.usage;
                            self.pending = Usage::default();
                        }
                    }
                }
            }
            Event::Runtime(e) => {
                if let RuntimeEventPayload::InitializeRuntime { model, .. } = &e.payload {
                    self.model = model.clone();
                }
            }
            Event::Unknown(_) => {}
        }
    }

    /// The job's usage so far.
    pub fn usage(&self) -> Usage {
        self.settled + self.pending
    }

    /// The line, given the elapsed time: a spinner and what the runtime waits for first.
    pub fn line(&self, elapsed_ms: u64) -> String {
        let u = self.usage();
        let frame = usize::try_from(elapsed_ms / FRAME_MS).unwrap_or(0) % SPINNER.len();
        let mut s = match &self.waiting {
            Some(w) => format!("{} {w} · ", SPINNER[frame]),
            None => String::new(),
        };
        s += &format!(
            "step {} · {} in / {} out tokens · {}",
            self.step.max(1),
            text::tokens(u.input_tokens),
            text::tokens(u.output_tokens),
            text::duration(elapsed_ms)
        );
        if let Some(cost) = self.cost.as_ref().and_then(|f| f(&self.model, &u)) {
            s.push_str(&format!(" · ~${cost:.4}"));
        }
        s
    }
}

/// What the runtime waits for after `payload` (`previous` while nothing changes it).
fn waiting_for(payload: &RunEventPayload, model: &str, previous: Option<String>) -> Option<String> {
    match payload {
        RunEventPayload::StartGeneration { .. } | RunEventPayload::Retry { .. } => {
            Some(if model.is_empty() {
                "waiting for the model".to_string()
            } else {
                format!("waiting for {model}")
            })
        }
        RunEventPayload::CallTools { tool_calls, .. }
        | RunEventPayload::CallDelegate { tool_calls, .. } => {
            let names: Vec<&str> = tool_calls.iter().map(|c| c.tool_name.as_str()).collect();
            Some(format!("running {}", text::clip(&names.join(", "), 60)))
        }
        RunEventPayload::StreamReasoning { .. }
        | RunEventPayload::StreamRunResult { .. }
        | RunEventPayload::StartStreamingReasoning {}
        | RunEventPayload::StartStreamingRunResult {}
        | RunEventPayload::CompleteStreamingReasoning { .. }
        | RunEventPayload::CompleteStreamingRunResult { .. }
        | RunEventPayload::FinishToolCall { .. } => previous,
        RunEventPayload::StartRun { .. }
        | RunEventPayload::CallInteractiveTool { .. }
        | RunEventPayload::ResolveToolResults { .. }
        | RunEventPayload::AttemptCompletion { .. }
        | RunEventPayload::ResumeToolCalls { .. }
        | RunEventPayload::FinishAllToolCalls { .. }
        | RunEventPayload::ContinueToNextStep { .. }
        | RunEventPayload::StopRunByInteractiveTool { .. }
        | RunEventPayload::StopRunByDelegate { .. }
        | RunEventPayload::StopRunByExceededMaxSteps { .. }
        | RunEventPayload::StopRunByError { .. }
        | RunEventPayload::CompleteRun { .. }
        | RunEventPayload::StopRunByApproval { .. }
        | RunEventPayload::StopRunByBudget { .. }
        | RunEventPayload::StopRunBySignal { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn the_line_shows_step_tokens_time_and_an_optional_cost() {
        let s = Status::new();
        assert_eq!(s.line(1500), "step 1 · 0 in / 0 out tokens · 1.5s");
        let s = Status::new().with_cost(Box::new(|_, _| Some(0.0123)));
        assert_eq!(s.line(0), "step 1 · 0 in / 0 out tokens · 0ms · ~$0.0123");
    }

    #[test]
    fn the_line_names_the_model_or_the_tools_waited_for_with_a_spinner() {
        let model = "claude-sonnet-4-5";
        let generating = waiting_for(
            &RunEventPayload::StartGeneration {
                messages: Vec::new(),
            },
            model,
            None,
        );
        let mut s = Status::new();
        s.waiting = generating;
        assert_eq!(
            s.line(0),
            "⠋ waiting for claude-sonnet-4-5 · step 1 · 0 in / 0 out tokens · 0ms"
        );
        assert!(s.line(100).starts_with("⠙ waiting for claude-sonnet-4-5"));
    }
}
