//! Many executions at once in one process, each with several tool steps: every execution must
//! complete; prints the step latency (p50/p99) and this process's peak memory as one JSON
//! line. `cargo xtask bench` runs it with 1,000 executions against a scripted LLM server in
//! its own process (so the server's memory is not counted); alone it starts one in-process.
//!
//! ```sh
//! cargo run --release -p perstack-runtime --example concurrent -- 1000 3
//! PERSTACK_BENCH_LLM=http://127.0.0.1:PORT/v1 cargo run ... # a server started elsewhere
//! ```
//!
//! The server must answer by conversation depth (`ScriptedLlm::start_with` and `by_depth`):
//! `TOOL_STEPS` turns reading `notes.md`, then text with `attemptCompletion`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use perstack_runtime::embed::*;
use perstack_testkit::scripted_llm::{Options, ScriptedLlm, Turn};
use serde_json::json;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The script every execution follows: `steps` file reads, then the completion.
pub fn script(steps: usize) -> Vec<Turn> {
    let mut turns: Vec<Turn> = (0..steps)
        .map(|_| Turn::call("readTextFile", json!({"path": "notes.md"})))
        .collect();
    turns.push(Turn::call("attemptCompletion", json!({})));
    turns.push(Turn::text("Done."));
    turns
}

/// Per run: when its current step's generation started, and every finished step's latency.
#[derive(Default)]
struct Steps {
    started: HashMap<String, Instant>,
    latencies: Vec<Duration>,
}

impl Steps {
    fn record(&mut self, e: &CompactEvent) {
        let CompactEvent::Run(run) = e else { return };
        let now = Instant::now();
        match e.type_name() {
            "startGeneration" => {
                if let Some(prev) = self.started.insert(run.run_id.clone(), now) {
                    self.latencies.push(now - prev);
                }
            }
            "completeRun" => {
                if let Some(prev) = self.started.remove(&run.run_id) {
                    self.latencies.push(now - prev);
                }
            }
            _ => {}
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return 0.0;
    };
    let i = ((last as f64) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// This process's peak resident memory (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let executions: usize = args.next().map_or(Ok(1000), |n| n.parse())?;
    let steps: usize = args.next().map_or(Ok(3), |n| n.parse())?;
    let own_llm;
    let base_url = match std::env::var("PERSTACK_BENCH_LLM") {
        Ok(url) => url,
        Err(_) => {
            own_llm = ScriptedLlm::start_with(
                script(steps),
                Options {
                    by_depth: true,
                    discard_bodies: true,
                },
            )?;
            own_llm.base_url.clone()
        }
    };

    let (config, _) = parse_config(
        "perstack.toml",
        r#"
model = "gpt-4o-mini"
[provider]
providerName = "openai"
[experts."reader"]
instruction = "Read notes.md as often as asked, then call attemptCompletion."
"#,
    )
    .map_err(|d| format!("config: {d:?}"))?;
    let provider =
        HttpProvider::from_config_at(&config, Some(&base_url), Some(Secret::new("sk-bench")))?;
    let dir = tempfile::tempdir()?;
    let workspace = dir.path().join("workspace");
    std::fs::create_dir_all(&workspace)?;
    std::fs::write(workspace.join("notes.md"), "# Notes\n\nOne line.\n")?;
    let skills = Arc::new(SkillHostFactory::new(
        config.experts.clone(),
        HostOptions::new(&workspace).with_storage_outside_workspace(),
    ));
    let storage = Arc::new(Storage::in_state_dir(
        &dir.path().join("state"),
        &workspace,
    )?);
    let steps_seen = Arc::new(Mutex::new(Steps::default()));
    let seen = Arc::clone(&steps_seen);
    // The compact stream: a listener of Perstack's events would get the whole conversation
    // with every checkpoint, a copy per event per execution.
    let listener = move |e: &CompactEvent| {
        seen.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(e);
    };
    let runtime = Arc::new(
        Runtime::new(Arc::new(provider), Arc::clone(&skills) as _)
            .with_storage(Arc::clone(&storage))
            .with_compact_listener(Arc::new(listener)),
    );

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..executions {
        let runtime = Arc::clone(&runtime);
        let mut setting = RunSetting::from_config(
            &config,
            "reader",
            "gpt-4o-mini",
            RunInput::query(format!("Read the notes ({i})")),
        );
        setting.max_steps = Some(steps as u32 + 5);
        tasks.spawn(async move { runtime.run(setting).await });
    }
    let mut completed = 0;
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            Ok(outcome) if outcome.exit_code() == 0 => completed += 1,
            Ok(outcome) => failures.push(format!("{:?}", outcome.status())),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let wall = started.elapsed();
    skills.shutdown().await;

    let mut latencies = std::mem::take(
        &mut steps_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .latencies,
    );
    latencies.sort();
    let line = json!({
        "executions": executions,
        "completed": completed,
        "toolSteps": steps,
        "stepsMeasured": latencies.len(),
        "stepP50Ms": percentile(&latencies, 0.50),
        "stepP99Ms": percentile(&latencies, 0.99),
        "wallMs": wall.as_secs_f64() * 1e3,
        "peakRssBytes": peak_rss(),
        "failures": failures.iter().take(5).collect::<Vec<_>>(),
    });
    writeln!(std::io::stdout(), "{line}")?;
    if completed != executions {
        return Err(format!("{completed}/{executions} executions completed").into());
    }
    Ok(())
}
