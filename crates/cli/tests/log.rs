//! `perstack log` over a recorded job: filters, JSON, summary, and chain verification.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::process::{Command, Output};

use perstack_checkpoint::Storage;
use perstack_core::{Job, JobStatus, ToolCall, Usage};
use perstack_events::{RunEvent, RunEventMeta, RunEventPayload, RuntimeEvent, RuntimeEventPayload};

fn perstack(args: &[&str], ws: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(args)
        .arg("--workspace")
        .arg(ws)
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn call(name: &str) -> ToolCall {
    ToolCall {
        id: format!("c-{name}"),
        skill_name: "@perstack/base".into(),
        tool_name: name.into(),
        args: serde_json::Map::new(),
    }
}

fn record(ws: &Path) {
    let s = Storage::new(ws);
    s.store_job(&Job {
        id: "job1".into(),
        status: JobStatus::StoppedByError,
        coordinator_expert_key: "writer".into(),
        total_steps: 3,
        max_steps: Some(100),
        usage: Usage {
            input_tokens: 10,
            output_tokens: 5,
            reasoning_tokens: 0,
            total_tokens: 15,
            cached_input_tokens: 0,
            cache_write_input_tokens: 0,
        },
        started_at: 1,
        finished_at: Some(2),
    })
    .unwrap();
    let mut log = s.open_event_log("job1", "run1").unwrap();
    for (step, payload) in [
        (
            1,
            RunEventPayload::CallTools {
                new_message: perstack_core::Message::expert(vec![]),
                tool_calls: vec![call("readTextFile")],
                usage: Usage::default(),
            },
        ),
        (
            1,
            RunEventPayload::ResolveToolResults {
                tool_results: vec![],
            },
        ),
        (
            2,
            RunEventPayload::CallTools {
                new_message: perstack_core::Message::expert(vec![]),
                tool_calls: vec![call("exec")],
                usage: Usage::default(),
            },
        ),
        (
            2,
            RunEventPayload::Retry {
                reason: "529 overloaded".into(),
                new_messages: vec![],
                tool_calls: None,
                tool_results: None,
                usage: Usage::default(),
            },
        ),
        (
            3,
            RunEventPayload::StreamRunResult {
                delta: "partial".into(),
            },
        ),
    ] {
        let meta = RunEventMeta {
            job_id: "job1".into(),
            run_id: "run1".into(),
            expert_key: "writer".into(),
            step_number: step,
        };
        log.append(&RunEvent::new(&meta, payload).into(), false)
            .unwrap();
    }
}

#[test]
fn shows_filters_and_summarises_the_latest_job() {
    let ws = tempfile::tempdir().unwrap();
    record(ws.path());
    let all = perstack(&["log"], ws.path());
    assert_eq!(all.status.code(), Some(0));
    let text = out(&all);
    assert!(text.starts_with("job job1 (StoppedByError"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("[step")).count(),
        5,
        "{text}"
    );

    let tools = out(&perstack(&["log", "--tools"], ws.path()));
    assert_eq!(
        tools.lines().filter(|l| l.starts_with("[step")).count(),
        3,
        "{tools}"
    );
    assert!(tools.contains("@perstack/base/exec"));

    let errors = out(&perstack(
        &["log", "--job", "job1", "--errors", "--step", ">=2"],
        ws.path(),
    ));
    assert!(
        errors.contains("retry") && errors.contains("529 overloaded"),
        "{errors}"
    );
    assert!(!errors.contains("callTools"), "{errors}");

    let filtered = out(&perstack(
        &["log", "--filter", ".toolCalls[].toolName == \"exec\""],
        ws.path(),
    ));
    assert_eq!(
        filtered.lines().filter(|l| l.starts_with("[step")).count(),
        1,
        "{filtered}"
    );

    let paged = out(&perstack(
        &["log", "--offset", "1", "--take", "2"],
        ws.path(),
    ));
    assert_eq!(
        paged.lines().filter(|l| l.starts_with("[step")).count(),
        2,
        "{paged}"
    );

    let json: serde_json::Value = serde_json::from_str(&out(&perstack(
        &["log", "--json", "--type", "retry"],
        ws.path(),
    )))
    .unwrap();
    assert_eq!(json["events"].as_array().unwrap().len(), 1);
    assert_eq!(json["job"]["id"], "job1");

    let summary = out(&perstack(&["log", "--summary"], ws.path()));
    assert!(
        summary.contains("callTools") && summary.contains("5 events"),
        "{summary}"
    );
}

/// The recorded job as a crash leaves it (`running`): its log need not reach a run-ending
/// event, which `--verify` requires of a job whose record says it stopped.
fn mark_running(ws: &Path) {
    let s = Storage::new(ws);
    let mut job = s.load_job("job1").unwrap();
    job.status = JobStatus::Running;
    s.store_job(&job).unwrap();
}

#[test]
fn verify_reports_an_intact_chain_and_the_first_broken_link() {
    let ws = tempfile::tempdir().unwrap();
    record(ws.path());
    mark_running(ws.path());
    let ok = perstack(&["log", "--verify"], ws.path());
    assert_eq!(ok.status.code(), Some(0));
    assert!(
        out(&ok).contains("ok: run run1: 5 events, chain intact"),
        "{}",
        out(&ok)
    );

    let path = ws.path().join("perstack/jobs/job1/runs/run1/events.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("readTextFile", "deleteFile__");
    std::fs::write(&path, text).unwrap();
    let bad = perstack(&["log", "--verify"], ws.path());
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        out(&bad).contains("BROKEN: run run1:")
            && out(&bad).contains(":2: hash of the previous line"),
        "{}",
        out(&bad)
    );
}

#[test]
fn empty_workspace_and_bad_filters_say_so() {
    let ws = tempfile::tempdir().unwrap();
    let none = perstack(&["log"], ws.path());
    assert_eq!(none.status.code(), Some(0));
    assert!(out(&none).starts_with("No data found"));
    // Verifying nothing is not a success.
    let vacuous = perstack(&["log", "--verify"], ws.path());
    assert_eq!(vacuous.status.code(), Some(1));
    assert!(
        out(&vacuous).starts_with("nothing verified: no jobs under"),
        "{}",
        out(&vacuous)
    );
    record(ws.path());
    let bad = perstack(&["log", "--step", "x"], ws.path());
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid step filter"));
    let missing = perstack(&["log", "--job", "nope"], ws.path());
    assert_eq!(missing.status.code(), Some(2));
}

/// A job of `model` that used 1M input tokens (200k of them cached) and 100k output tokens.
fn record_priced_job(ws: &Path, model: &str) {
    let s = Storage::new(ws);
    s.store_job(&Job {
        id: "job2".into(),
        status: JobStatus::Completed,
        coordinator_expert_key: "writer".into(),
        total_steps: 1,
        max_steps: Some(100),
        usage: Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            reasoning_tokens: 0,
            total_tokens: 1_100_000,
            cached_input_tokens: 200_000,
            cache_write_input_tokens: 0,
        },
        started_at: 1,
        finished_at: Some(2),
    })
    .unwrap();
    let mut log = s.open_event_log("job2", "run1").unwrap();
    let init = RuntimeEvent::new(
        "job2",
        "run1",
        RuntimeEventPayload::InitializeRuntime {
            runtime_version: "0.1.0".into(),
            runtime: None,
            expert_name: "writer".into(),
            experts: vec!["writer".into()],
            model: model.into(),
            max_steps: Some(100),
            max_retries: 5,
            timeout: 300_000,
            query: Some("hi".into()),
            interactive_tool_call: None,
            git_revision: None,
            expert_version: None,
            config_hash: None,
            lockfile_hash: None,
            event_schema_version: None,
            egress: None,
            confinement: None,
            provider_endpoint: None,
        },
    );
    log.append(&init.into(), false).unwrap();
}

#[test]
fn summary_shows_the_estimated_cost_at_the_models_price() {
    let ws = tempfile::tempdir().unwrap();
    record_priced_job(ws.path(), "claude-sonnet-4-5-20250929");
    let plain = ws.path().join("plain.toml");
    std::fs::write(&plain, "[experts.writer]\ninstruction = \"Write.\"\n").unwrap();
    let plain = plain.to_str().unwrap();

    // Built-in list price of claude-sonnet-4-5: 800k uncached input at $3, 200k cached at
    // $0.30, 100k output at $15 per million tokens.
    let text = out(&perstack(
        &["log", "--summary", "--config", plain],
        ws.path(),
    ));
    assert!(
        text.contains("estimated cost: $3.9600 (claude-sonnet-4-5-20250929"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&out(&perstack(
        &["log", "--summary", "--json", "--config", plain],
        ws.path(),
    )))
    .unwrap();
    assert_eq!(json["model"], "claude-sonnet-4-5-20250929");
    let usd = json["estimatedCostUsd"].as_f64().unwrap();
    assert!((usd - 3.96).abs() < 1e-9, "{usd}");

    // A [pricing] override in the config replaces the list price.
    let priced = ws.path().join("priced.toml");
    std::fs::write(
        &priced,
        "[pricing.\"claude-sonnet-4-5\"]\ninput = 1.0\noutput = 10.0\ncacheRead = 0.5\n\
         [experts.writer]\ninstruction = \"Write.\"\n",
    )
    .unwrap();
    let text = out(&perstack(
        &["log", "--summary", "--config", priced.to_str().unwrap()],
        ws.path(),
    ));
    assert!(text.contains("estimated cost: $1.9000"), "{text}");
}

#[test]
fn summary_says_when_the_models_price_is_unknown() {
    let ws = tempfile::tempdir().unwrap();
    record_priced_job(ws.path(), "mystery-model");
    let plain = ws.path().join("plain.toml");
    std::fs::write(&plain, "[experts.writer]\ninstruction = \"Write.\"\n").unwrap();
    let o = perstack(
        &["log", "--summary", "--config", plain.to_str().unwrap()],
        ws.path(),
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(
        out(&o).contains(
            "estimated cost: unknown (no price for model \"mystery-model\"; add [pricing.\"mystery-model\"] to perstack.toml)"
        ),
        "{}",
        out(&o)
    );
    let json: serde_json::Value = serde_json::from_str(&out(&perstack(
        &[
            "log",
            "--summary",
            "--json",
            "--config",
            plain.to_str().unwrap(),
        ],
        ws.path(),
    )))
    .unwrap();
    assert_eq!(json["estimatedCostUsd"], serde_json::Value::Null);

    // An explicit config that does not load is an error, not a silent fallback.
    let o = perstack(
        &["log", "--summary", "--config", "/no/such/perstack.toml"],
        ws.path(),
    );
    assert_eq!(o.status.code(), Some(2));
}

/// A run stored the way the runtime stores it: the checkpoint first, then the event carrying
/// it, whose conversation becomes a reference to the run's message log.
fn record_compact(ws: &Path) -> perstack_core::Checkpoint {
    record(ws);
    let s = Storage::new(ws);
    let mut cp = perstack_core::Checkpoint::init(
        "cp1",
        "job1",
        "run2",
        perstack_core::ExpertRef {
            key: "writer".into(),
            name: "writer".into(),
            version: "1.0.0".into(),
        },
    );
    cp.messages = vec![
        perstack_core::Message::instruction("You write."),
        perstack_core::Message::user_text("the whole conversation"),
    ];
    cp.status = perstack_core::CheckpointStatus::StoppedBySignal;
    s.store_checkpoint(&cp).unwrap();
    let meta = RunEventMeta {
        job_id: "job1".into(),
        run_id: "run2".into(),
        expert_key: "writer".into(),
        step_number: 4,
    };
    let mut log = s.open_event_log("job1", "run2").unwrap();
    let step = perstack_core::Step {
        step_number: 4,
        input_messages: None,
        new_messages: vec![],
        tool_calls: None,
        tool_results: None,
        pending_tool_calls: None,
        partial_tool_results: None,
        usage: Usage::default(),
        started_at: 3,
        finished_at: Some(4),
    };
    for payload in [
        RunEventPayload::StartGeneration {
            messages: cp.messages.clone(),
        },
        RunEventPayload::StopRunBySignal {
            checkpoint: cp.clone(),
            step,
            signal: "SIGTERM".into(),
        },
    ] {
        let event = RunEvent::new(&meta, payload).into();
        s.append_event(&mut log, event, true).unwrap();
    }
    cp
}

#[test]
fn compact_events_show_whole_and_a_dangling_reference_is_reported() {
    let ws = tempfile::tempdir().unwrap();
    let cp = record_compact(ws.path());
    let stored =
        std::fs::read_to_string(ws.path().join("perstack/jobs/job1/runs/run2/events.jsonl"))
            .unwrap();
    // Held inline once (by the first line that carries it), referenced afterwards.
    assert_eq!(
        stored.matches("the whole conversation").count(),
        1,
        "{stored}"
    );

    let json = perstack(&["log", "--run", "run2", "--json"], ws.path());
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let events = value["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1]["checkpoint"],
        serde_json::to_value(&cp).unwrap(),
        "the checkpoint comes back whole"
    );
    assert_eq!(
        events[0]["messages"],
        serde_json::to_value(&cp.messages).unwrap()
    );
    mark_running(ws.path());
    let ok = perstack(&["log", "--verify"], ws.path());
    assert_eq!(ok.status.code(), Some(0), "{}", out(&ok));

    std::fs::remove_file(
        ws.path()
            .join("perstack/jobs/job1/runs/run2/messages-0.jsonl"),
    )
    .unwrap();
    let bad = perstack(&["log", "--verify", "--run", "run2"], ws.path());
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        out(&bad).contains("BROKEN: run run2:")
            && out(&bad).contains(":2: dangling message reference"),
        "{}",
        out(&bad)
    );
}
