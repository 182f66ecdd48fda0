//! Test support: a scripted LLM server, a test tool host, and a harness that runs the real
//! runtime with the real HTTP provider against them, storing into a temporary workspace.

#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: failing loudly is the point

pub mod host;
pub mod outline;
pub mod script;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use perstack_checkpoint::Storage;
use perstack_core::config::{PerstackConfig, ProviderName, ReasoningBudget, ReasoningLevel};
use perstack_events::Event;
use perstack_providers::{
    AnthropicOptions, AuthStyle, ClientOptions, HttpProvider, Protocol, ProviderSpec, RetryPolicy,
    Secret,
};
use perstack_runtime::{
    CollectingListener, RunInput, RunOutcome, RunSetting, Runtime, SharedToolHost,
};

use host::TestHost;
use server::{Reply, ScriptedLlm};

/// Route needles: a request belongs to the Expert whose system prompt names it.
pub const MAIN: &str = "the expert \"main\"";
/// See [`MAIN`].
pub const HELPER: &str = "the expert \"helper\"";
/// See [`MAIN`].
pub const OTHER: &str = "the expert \"other\"";

/// The experts every test can run.
pub const CONFIG: &str = r#"
[experts.main]
instruction = "Answer the user's question."
delegates = ["helper", "other"]

[experts.helper]
description = "Helps with sub-tasks."
instruction = "Help."

[experts.other]
description = "Does other sub-tasks."
instruction = "Help differently."
"#;

/// A fixed start time: the instruction message tells the model the time.
pub const STARTED_AT: u64 = 1_700_000_000_000;

/// Options of a harness.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Retries inside the provider (before anything streamed).
    pub provider_retries: u32,
    /// Parties of the `meet` rendezvous.
    pub parties: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            provider_retries: 0,
            parties: 2,
        }
    }
}

/// A runtime wired to a scripted LLM, the test host and storage in a temp workspace.
pub struct Harness {
    pub llm: ScriptedLlm,
    pub provider: Arc<HttpProvider>,
    pub host: Arc<TestHost>,
    pub storage: Arc<Storage>,
    pub listener: Arc<CollectingListener>,
    pub runtime: Runtime,
    pub config: PerstackConfig,
    pub dir: tempfile::TempDir,
}

impl Harness {
    /// A harness answering with `replies`.
    pub async fn new(replies: Vec<Reply>) -> Harness {
        Harness::with(replies, Options::default()).await
    }

    /// A harness with options.
    pub async fn with(replies: Vec<Reply>, options: Options) -> Harness {
        let llm = ScriptedLlm::start(replies).await;
        let spec = ProviderSpec {
            name: ProviderName::Anthropic,
            base_url: llm.base_url.parse().unwrap(),
            api_key: Some(Secret::new("sk-test-0123456789")),
            auth: AuthStyle::Header("x-api-key".into()),
            headers: Vec::new(),
            protocol: Protocol::Anthropic(AnthropicOptions {
                version: "2023-06-01".into(),
            }),
        };
        let client = ClientOptions {
            retry: RetryPolicy {
                max_retries: options.provider_retries,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(2),
                max_retry_after: Duration::from_secs(1),
            },
            use_env_proxy: false,
            egress: None,
            ..ClientOptions::default()
        };
        let provider = Arc::new(HttpProvider::new(spec, client).unwrap());
        let host = TestHost::new(options.parties);
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(Storage::new(dir.path()));
        let listener = Arc::new(CollectingListener::new());
        let runtime = Runtime::new(provider.clone(), Arc::new(SharedToolHost(host.clone())))
            .with_storage(Arc::clone(&storage))
            .with_listener(listener.clone());
        let config: PerstackConfig = toml::from_str(CONFIG).unwrap();
        Harness {
            llm,
            provider,
            host,
            storage,
            listener,
            runtime,
            config,
            dir,
        }
    }

    /// Serves tools through `factory` instead of the shared test host (same storage and
    /// listener).
    pub fn with_factory(mut self, factory: Arc<dyn perstack_runtime::ToolHostFactory>) -> Self {
        self.runtime = Runtime::new(self.provider.clone(), factory)
            .with_storage(Arc::clone(&self.storage))
            .with_listener(self.listener.clone());
        self
    }

    /// A fresh run of `main` with `query`: deterministic time, no runtime backoff.
    pub fn setting(&self, query: &str) -> RunSetting {
        let mut s = RunSetting::from_config(
            &self.config,
            "main",
            "claude-sonnet-4-5",
            RunInput::query(query),
        );
        s.started_at = STARTED_AT;
        s.retry_backoff = Duration::ZERO;
        s.reasoning_budget = ReasoningBudget::Level(ReasoningLevel::None);
        s.max_retries = 2;
        s
    }

    /// Runs `setting` to its end.
    pub async fn run(&self, setting: RunSetting) -> RunOutcome {
        self.runtime.run(setting).await.unwrap()
    }

    /// Every event the listener received.
    pub fn events(&self) -> Vec<Event> {
        self.listener.events()
    }

    /// The event outline of everything received so far.
    pub fn outline(&self) -> String {
        outline::outline(&self.events())
    }

    /// Checks what storage holds for the job against what was emitted: the final checkpoint
    /// loads back equal, every run's log verifies and holds exactly the emitted events.
    pub fn assert_stored(&self, outcome: &RunOutcome) {
        let job = self.storage.load_job(&outcome.job.id).unwrap();
        pretty_assertions::assert_eq!(job, outcome.job);
        let cp = self
            .storage
            .load_checkpoint(&outcome.job.id, &outcome.checkpoint.id)
            .unwrap();
        pretty_assertions::assert_eq!(cp, outcome.checkpoint);
        let events = self.events();
        let mut runs: Vec<String> = Vec::new();
        for e in &events {
            if !runs.iter().any(|r| r == e.run_id()) {
                runs.push(e.run_id().to_string());
            }
        }
        for run in runs {
            let path = self
                .storage
                .layout()
                .events_file(&outcome.job.id, &run)
                .unwrap();
            let report = perstack_checkpoint::verify_event_log(&path).unwrap();
            assert_eq!(report.first_break, None, "event log of run {run} verifies");
            let stored = self.storage.read_run_events(&outcome.job.id, &run).unwrap();
            let emitted: Vec<Event> = events
                .iter()
                .filter(|e| e.run_id() == run)
                .cloned()
                .collect();
            pretty_assertions::assert_eq!(stored, emitted, "log of run {run} = emitted events");
            assert_compact(&path, &emitted);
        }
    }
}

/// Checks the stored lines of a run against its emitted events: every conversation a
/// checkpoint carries is stored whole, each message inline once: the messages an earlier
/// checkpoint of the log carried are a reference to the message log, only the new ones
/// are inline (the event log alone can rebuild the message log; see docs/storage.md).
fn assert_compact(path: &std::path::Path, emitted: &[Event]) {
    use perstack_events::RunEventPayload as P;
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), emitted.len());
    // Messages of the run's conversation already carried by an earlier line.
    let mut carried = 0usize;
    for (line, event) in lines.iter().zip(emitted) {
        let stored: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(stored["v"], 2, "stored-line format");
        let Event::Run(run) = event else { continue };
        let mut conversations = Vec::new();
        if let P::ContinueToNextStep { checkpoint, .. } = &run.payload {
            conversations.push(("/checkpoint/messages", checkpoint));
        }
        if let Some(cp) = run.payload.checkpoint() {
            let pointer = match run.payload.type_name() {
                "startRun" => "/initialCheckpoint/messages",
                "continueToNextStep" => "/nextCheckpoint/messages",
                _ => "/checkpoint/messages",
            };
            conversations.push((pointer, cp));
        }
        for (pointer, cp) in conversations {
            let place = stored["event"].pointer(pointer).unwrap();
            let (count, inline) = match place.as_array() {
                Some(all) => (0, all.len()),
                None => (
                    place["count"].as_u64().unwrap() as usize,
                    place.get("tail").map_or(0, |t| t.as_array().unwrap().len()),
                ),
            };
            let len = cp.messages.len();
            assert_eq!(
                count + inline,
                len,
                "{pointer} of {}",
                run.payload.type_name()
            );
            assert_eq!(
                count,
                carried.min(len),
                "{} stores {pointer} as a reference to what earlier lines carried, got {place}",
                run.payload.type_name()
            );
            carried = carried.max(len);
        }
    }
}

/// `value` with ids and times replaced by placeholders, for wire-format snapshots.
pub fn redact(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    const KEYS: [&str; 7] = [
        "id",
        "timestamp",
        "jobId",
        "runId",
        "checkpointId",
        "startedAt",
        "finishedAt",
    ];
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    // Scripted tool call ids (`c1`) stay; generated ids are 24 characters.
                    let generated = v.as_str().is_some_and(|s| s.len() == 24) || k != "id";
                    if KEYS.contains(&k.as_str()) && !v.is_null() && generated {
                        let placeholder = Value::String(format!("[{k}]"));
                        (k, placeholder)
                    } else {
                        (k, redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other @ (Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_)) => other,
    }
}
