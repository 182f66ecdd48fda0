//! Many executions in one process through the library API: the runtime's `concurrent`
//! example (release build) against a scripted LLM served from this process, so the server's
//! threads and buffers are not counted in the example's peak memory.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use perstack_testkit::{ScriptOptions, ScriptedLlm, Turn};
use serde_json::{Value, json};

/// The example's JSON line, plus the peak memory the kernel counted for it.
#[derive(Debug, Clone)]
pub struct Report {
    /// The example's line (executions, completed, stepP50Ms, stepP99Ms, wallMs, ...).
    pub line: Value,
    /// Peak resident memory of the example process, bytes (`wait4`).
    pub peak_rss: u64,
}

/// Builds the example and runs `executions` executions of `steps` tool steps each.
pub fn run(
    root: &Path,
    target: &Path,
    executions: usize,
    steps: usize,
    build: bool,
) -> Result<Report> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = if !build {
        std::process::ExitStatus::default()
    } else {
        Command::new(&cargo)
            .current_dir(root)
            .args([
                "build",
                "--quiet",
                "--release",
                "-p",
                "perstack-runtime",
                "--example",
                "concurrent",
            ])
            .status()
            .context("building the concurrent example")?
    };
    if !status.success() {
        bail!("building the concurrent example failed");
    }
    // The same script as the example's own (see its `script`): reads, then completion.
    let mut script: Vec<Turn> = std::iter::repeat_n(
        Turn::call("readTextFile", json!({"path": "notes.md"})),
        steps,
    )
    .collect();
    script.push(Turn::call("attemptCompletion", json!({})));
    script.push(Turn::text("Done."));
    let llm = ScriptedLlm::start_with(
        script,
        ScriptOptions {
            by_depth: true,
            discard_bodies: true,
        },
    )?;
    let out_dir = target.join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let out_path = out_dir.join("concurrent.jsonl");
    let mut cmd = Command::new(target.join("release/examples/concurrent"));
    cmd.args([executions.to_string(), steps.to_string()])
        .env("PERSTACK_BENCH_LLM", &llm.base_url);
    let sample = super::measure::run_plain(&cmd, &out_path)?;
    let text = std::fs::read_to_string(&out_path)?;
    let line: Value = text
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .with_context(|| format!("the example printed no JSON line: {text}"))?;
    if sample.0 != 0 {
        bail!("the example failed (exit {}): {line}", sample.0);
    }
    Ok(Report {
        line,
        peak_rss: sample.1,
    })
}
