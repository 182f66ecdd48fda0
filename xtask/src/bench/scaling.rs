//! How the cost of a step grows with the run: `perstack run` reading a file 10, 100 and 1000
//! times, with the default (full) events and with `--events compact`. Per step: client time,
//! stdout bytes, storage bytes; per run: peak memory; durable syncs per step counted with
//! `strace -c -f` where strace is installed.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use perstack_testkit::{ScriptOptions, ScriptedLlm, Turn};
use serde_json::json;

use super::measure::{Client, Sample, mb, mean, ms, run_client, tree_bytes};
use super::side_by_side::perstack_config;

/// The events a run prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Events {
    /// The default: Perstack's full events.
    Full,
    /// `--events compact`.
    Compact,
}

impl Events {
    /// Both, in table order.
    pub const ALL: [Events; 2] = [Events::Full, Events::Compact];

    /// The flag's value.
    pub fn name(self) -> &'static str {
        match self {
            Events::Full => "full",
            Events::Compact => "compact",
        }
    }
}

/// One row: a run of `steps` tool steps with `events`.
#[derive(Debug, Clone)]
pub struct Row {
    /// Tool steps.
    pub steps: usize,
    /// Which events.
    pub events: Events,
    /// The figures, or why there are none.
    pub result: Result<Figures, String>,
}

/// The figures of one row.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// Mean client time per tool step.
    pub step: Duration,
    /// Mean client time of the last tenth of the steps over that of the first tenth.
    pub growth: f64,
    /// Peak resident memory, bytes.
    pub peak_rss: u64,
    /// stdout bytes per step.
    pub stdout_per_step: f64,
    /// Storage bytes per step (everything under the workspace's perstack/).
    pub storage_per_step: f64,
    /// fsync + fdatasync per step, when counted.
    pub syncs_per_step: Option<f64>,
    /// rename per step, when counted.
    pub renames_per_step: Option<f64>,
}

/// Whether this `perstack` takes `--events compact`.
pub fn has_compact_flag(perstack: &Path) -> bool {
    Command::new(perstack)
        .args(["run", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--events"))
        .unwrap_or(false)
}

/// Runs every (steps, events) pair once; `count_syncs` adds an strace run per pair.
pub fn run(perstack: &Path, scratch: &Path, step_counts: &[usize], count_syncs: bool) -> Vec<Row> {
    let compact = has_compact_flag(perstack);
    let mut rows = Vec::new();
    for &steps in step_counts {
        for events in Events::ALL {
            let result = if events == Events::Compact && !compact {
                Err("this build has no --events flag yet".to_string())
            } else {
                once(perstack, scratch, steps, events, count_syncs).map_err(|e| format!("{e:#}"))
            };
            eprintln!(
                "bench: scaling, {steps} steps, {} events done",
                events.name()
            );
            rows.push(Row {
                steps,
                events,
                result,
            });
        }
    }
    rows
}

/// The bench's script: `steps` reads of notes.md, then attemptCompletion.
pub fn script(steps: usize) -> Vec<Turn> {
    let mut s: Vec<Turn> = std::iter::repeat_n(
        Turn::call("readTextFile", json!({"path": "notes.md"})),
        steps,
    )
    .collect();
    s.push(Turn::call("attemptCompletion", json!({})));
    s.push(Turn::text("Done."));
    s
}

/// `cargo xtask serve-script`: the scripted LLM the bench uses, serving `script(steps)`
/// (answered by conversation depth, bodies discarded) until the process is killed.
pub fn serve(steps: usize) -> Result<()> {
    let llm = perstack_testkit::ScriptedLlm::start_with(
        script(steps),
        perstack_testkit::ScriptOptions {
            by_depth: true,
            discard_bodies: true,
        },
    )?;
    writeln!(std::io::stdout().lock(), "{}", llm.base_url)?;
    loop {
        std::thread::park();
    }
}

struct Dirs {
    dir: PathBuf,
    ws: PathBuf,
    config: PathBuf,
}

fn fresh(scratch: &Path, name: &str) -> Result<Dirs> {
    let dir = scratch.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let ws = dir.join("ws");
    std::fs::create_dir_all(&ws)?;
    std::fs::write(ws.join("notes.md"), "# Notes\n\nOne line of notes.\n")?;
    let config = dir.join("perstack.toml");
    std::fs::write(&config, perstack_config())?;
    Ok(Dirs { dir, ws, config })
}

fn command(program: &Path, d: &Dirs, steps: usize, events: Events) -> Command {
    let mut cmd = super::measure::perstack_run(program, &d.config, &d.ws, &d.dir);
    if events == Events::Compact {
        cmd.args(["--events", "compact"]);
    }
    cmd.args([
        "reader",
        &format!("Read notes.md {steps} times, then finish."),
    ]);
    cmd
}

fn once(
    perstack: &Path,
    scratch: &Path,
    steps: usize,
    events: Events,
    count_syncs: bool,
) -> Result<Figures> {
    let d = fresh(scratch, &format!("scaling-{steps}-{}", events.name()))?;
    let stdout_path = d.dir.join("stdout");
    let mut sample: Sample = run_client(
        Client {
            command: command(perstack, &d, steps, events),
            script: script(steps),
            expect_requests: steps + 2,
            stdout_path: &stdout_path,
        },
        |cmd, url| {
            cmd.env("OPENAI_BASE_URL", url);
        },
    )?;
    sample.step_times.truncate(steps);
    let storage = tree_bytes(&d.ws.join("perstack"));
    let tenth = (steps / 10).max(1);
    let first = mean(sample.step_times.get(..tenth).unwrap_or_default());
    let last = mean(
        sample
            .step_times
            .get(sample.step_times.len().saturating_sub(tenth)..)
            .unwrap_or_default(),
    );
    let per_step = |n: u64| n as f64 / steps as f64;
    let (syncs, renames) = if count_syncs {
        let (s, r) = count(perstack, scratch, steps, events)?;
        (Some(per_step(s)), Some(per_step(r)))
    } else {
        (None, None)
    };
    Ok(Figures {
        step: mean(&sample.step_times),
        growth: if first.is_zero() {
            0.0
        } else {
            last.as_secs_f64() / first.as_secs_f64()
        },
        peak_rss: sample.peak_rss,
        stdout_per_step: per_step(sample.stdout_bytes),
        storage_per_step: per_step(storage),
        syncs_per_step: syncs,
        renames_per_step: renames,
    })
}

/// (fsync + fdatasync, rename*) calls of one run, counted by `strace -c -f`.
fn count(perstack: &Path, scratch: &Path, steps: usize, events: Events) -> Result<(u64, u64)> {
    let d = fresh(scratch, &format!("strace-{steps}-{}", events.name()))?;
    let llm = ScriptedLlm::start_with(
        script(steps),
        ScriptOptions {
            by_depth: true,
            discard_bodies: true,
        },
    )?;
    let summary = d.dir.join("strace.txt");
    let inner = command(perstack, &d, steps, events);
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-c",
        "-e",
        "trace=fsync,fdatasync,rename,renameat,renameat2",
        "-o",
    ])
    .arg(&summary)
    .arg(inner.get_program())
    .args(inner.get_args())
    .env_clear()
    .envs(inner.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
    .env("OPENAI_BASE_URL", &llm.base_url)
    .current_dir(&d.ws)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    let status = cmd.status().context("running strace")?;
    anyhow::ensure!(
        status.success(),
        "perstack under strace exited with {status}"
    );
    let text = std::fs::read_to_string(&summary)?;
    let calls = |names: &[&str]| -> u64 {
        text.lines()
            .filter_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                let name = cols.last()?;
                names
                    .contains(name)
                    .then(|| cols.get(3)?.parse::<u64>().ok())
                    .flatten()
            })
            .sum()
    };
    Ok((
        calls(&["fsync", "fdatasync"]),
        calls(&["rename", "renameat", "renameat2"]),
    ))
}

/// Whether strace is on PATH.
pub fn have_strace() -> bool {
    Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The scaling table (Markdown).
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| steps | events | client time per step, ms | last tenth / first tenth | peak RSS, MB | stdout bytes per step | storage bytes per step | fsync+fdatasync per step | renames per step |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let opt = |v: Option<f64>| v.map_or("not counted".to_string(), |v| format!("{v:.2}"));
    for r in rows {
        match &r.result {
            Ok(f) => {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.2} | {:.2}× | {:.1} | {:.0} | {:.0} | {} | {} |",
                    r.steps,
                    r.events.name(),
                    ms(f.step),
                    f.growth,
                    mb(f.peak_rss),
                    f.stdout_per_step,
                    f.storage_per_step,
                    opt(f.syncs_per_step),
                    opt(f.renames_per_step)
                );
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "| {} | {} | not measured: {} | | | | | | |",
                    r.steps,
                    r.events.name(),
                    e.replace('|', "/")
                );
            }
        }
    }
    out
}
