//! Builds a job's events by hand for transcript tests.

use perstack_core::message::{ExpertPart, ThinkingPart};
use perstack_core::{
    Checkpoint, CheckpointStatus, DelegatedBy, ExpertRef, Message, MessagePart, Step, TextPart,
    ToolCall, ToolResult, Usage,
};
use perstack_events::{
    Event, InteractiveToolCallInfo, RunEvent, RunEventPayload, RuntimeEvent, RuntimeEventPayload,
};
use serde_json::json;

use crate::render::{Renderer, Style};

pub(super) const T0: u64 = 1_700_000_000_000;

/// Builds a job's events with timestamps 250 ms apart.
#[derive(Default)]
pub(super) struct Job {
    pub(super) events: Vec<Event>,
}

pub(super) fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        reasoning_tokens: 0,
        total_tokens: input + output,
        cached_input_tokens: 0,
        cache_write_input_tokens: 0,
    }
}

pub(super) fn expert(key: &str) -> ExpertRef {
    ExpertRef {
        key: key.into(),
        name: key.into(),
        version: "1.0.0".into(),
    }
}

pub(super) fn cp(run: &str, key: &str, status: CheckpointStatus, step: u32) -> Checkpoint {
    let mut c = Checkpoint::init(format!("cp-{run}-{step}"), "job1", run, expert(key));
    c.status = status;
    c.step_number = step;
    c.usage = usage(1200 * u64::from(step), 80 * u64::from(step));
    c
}

pub(super) fn step(n: u32) -> Step {
    Step {
        step_number: n,
        input_messages: None,
        new_messages: Vec::new(),
        tool_calls: None,
        tool_results: None,
        pending_tool_calls: None,
        partial_tool_results: None,
        usage: usage(1200, 80),
        started_at: T0,
        finished_at: None,
    }
}

pub(super) fn call(id: &str, skill: &str, tool: &str, args: serde_json::Value) -> ToolCall {
    ToolCall {
        id: id.into(),
        skill_name: skill.into(),
        tool_name: tool.into(),
        args: args.as_object().cloned().unwrap_or_default(),
    }
}

pub(super) fn result(id: &str, tool: &str, text: &str) -> ToolResult {
    ToolResult {
        id: id.into(),
        skill_name: "@perstack/base".into(),
        tool_name: tool.into(),
        result: vec![MessagePart::Text(TextPart {
            id: format!("t-{id}"),
            text: text.into(),
        })],
        is_error: None,
    }
}

pub(super) fn said(id: &str, text: &str, thinking: Option<&str>) -> Message {
    let mut contents = Vec::new();
    if let Some(t) = thinking {
        contents.push(ExpertPart::Thinking(ThinkingPart {
            id: format!("th-{id}"),
            thinking: t.into(),
            signature: None,
        }));
    }
    contents.push(ExpertPart::Text(TextPart {
        id: format!("tx-{id}"),
        text: text.into(),
    }));
    Message::ExpertMessage {
        id: id.into(),
        contents,
        cache: None,
    }
}

impl Job {
    pub(super) fn ts(&self) -> u64 {
        T0 + 250 * self.events.len() as u64
    }

    pub(super) fn init(
        &mut self,
        run: &str,
        key: &str,
        query: Option<&str>,
        answer: Option<(&str, &str)>,
    ) {
        let timestamp = self.ts();
        self.events.push(Event::from(RuntimeEvent {
            id: format!("e{}", self.events.len()),
            timestamp,
            job_id: "job1".into(),
            run_id: run.into(),
            payload: RuntimeEventPayload::InitializeRuntime {
                runtime_version: "0.1.0".into(),
                runtime: Some("local".into()),
                expert_name: key.into(),
                experts: vec![key.into()],
                model: "claude-sonnet-4-5".into(),
                max_steps: Some(5),
                max_retries: 5,
                timeout: 300_000,
                query: query.map(str::to_string),
                interactive_tool_call: answer.map(|(id, text)| InteractiveToolCallInfo {
                    tool_name: "askUser".into(),
                    tool_call_id: id.into(),
                    text: text.into(),
                }),
                git_revision: None,
                expert_version: Some("1.0.0".into()),
                config_hash: None,
                lockfile_hash: None,
                event_schema_version: None,
                egress: None,
                confinement: None,
                provider_endpoint: None,
            },
        }));
    }

    pub(super) fn skill(&mut self, run: &str, payload: RuntimeEventPayload) {
        let timestamp = self.ts();
        self.events.push(Event::from(RuntimeEvent {
            id: format!("e{}", self.events.len()),
            timestamp,
            job_id: "job1".into(),
            run_id: run.into(),
            payload,
        }));
    }

    pub(super) fn ev(&mut self, run: &str, key: &str, step: u32, payload: RunEventPayload) {
        let timestamp = self.ts();
        self.events.push(Event::from(RunEvent {
            id: format!("e{}", self.events.len()),
            timestamp,
            job_id: "job1".into(),
            run_id: run.into(),
            expert_key: key.into(),
            step_number: step,
            payload,
        }));
    }

    /// initializeRuntime + startRun + startGeneration of a fresh run.
    pub(super) fn fresh(&mut self, run: &str, key: &str, query: &str, by: Option<(&str, &str)>) {
        self.init(run, key, Some(query), None);
        let mut initial = cp(run, key, CheckpointStatus::Init, 1);
        initial.delegated_by = by.map(|(parent_run, parent)| DelegatedBy {
            expert: expert(parent),
            tool_call_id: "d1".into(),
            tool_name: key.into(),
            checkpoint_id: "cp-parent".into(),
            run_id: parent_run.into(),
        });
        self.ev(
            run,
            key,
            1,
            RunEventPayload::StartRun {
                initial_checkpoint: initial,
                input_messages: Vec::new(),
            },
        );
        self.ev(
            run,
            key,
            1,
            RunEventPayload::StartGeneration {
                messages: Vec::new(),
            },
        );
    }

    /// One step that reads a file (text and reasoning from the model, an error result).
    pub(super) fn read_step(&mut self, run: &str, key: &str, n: u32) {
        let c = call(
            &format!("c{n}"),
            "@perstack/base",
            "readTextFile",
            json!({"path": "notes.md"}),
        );
        self.ev(
            run,
            key,
            n,
            RunEventPayload::CallTools {
                new_message: said(
                    &format!("m{n}"),
                    "Reading the notes.",
                    Some("The notes should say what to do."),
                ),
                tool_calls: vec![c.clone()],
                usage: usage(1200, 80),
            },
        );
        self.ev(
            run,
            key,
            n,
            RunEventPayload::ResolveToolResults {
                tool_results: vec![result(
                    &c.id,
                    "readTextFile",
                    r#"{"error":"NotFound","message":"notes.md does not exist"}"#,
                )],
            },
        );
    }

    pub(super) fn render(&self, style: Style, verbose: bool) -> String {
        self.render_for(style, verbose, super::super::Invocation::default())
    }

    /// Rendered with the flags of `invocation` in the printed commands.
    pub(super) fn render_for(
        &self,
        style: Style,
        verbose: bool,
        invocation: super::super::Invocation,
    ) -> String {
        let mut r = Renderer::new(style, verbose).with_invocation(invocation);
        let mut out: String = self.events.iter().map(|e| r.render(e)).collect();
        out.push_str(&r.finish());
        out
    }
}
