//! This runtime and its peers side by side, against the same scripted LLM on loopback: each
//! client reads `steps` files one by one through its own file tool, then finishes. Runs are
//! interleaved (perstack, agentao, codex, perstack, ...) so a busy moment hits all alike.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use perstack_testkit::Turn;
use serde_json::json;

use super::measure::{Client, Sample, Stats, mb, mean, ms, run_client};

/// One client of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// This runtime's `perstack run`: the static binary the container image ships.
    Perstack,
    /// The same runtime as `cargo build --release` links it (dynamically, against the
    /// machine's glibc): what a user who builds from source runs.
    PerstackDynamic,
    /// agentao (Python), `agentao -p`.
    Agentao,
    /// codex (Rust), `codex exec --json`.
    Codex,
}

impl Peer {
    /// Every peer, in table order.
    pub const ALL: [Peer; 4] = [
        Peer::Perstack,
        Peer::PerstackDynamic,
        Peer::Agentao,
        Peer::Codex,
    ];

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Perstack => "perstack (this runtime, static binary of the image)",
            Peer::PerstackDynamic => "perstack (`cargo build --release`, dynamic)",
            Peer::Agentao => "agentao 0.5.17 (Python)",
            Peer::Codex => "codex 0.169.0 (Rust)",
        }
    }
}

/// The results of one peer: its samples, or why it could not run.
#[derive(Debug)]
pub struct PeerResult {
    /// The peer.
    pub peer: Peer,
    /// One sample per successful run.
    pub samples: Vec<Sample>,
    /// Why runs failed (the first few), or why the peer could not be set up.
    pub failures: Vec<String>,
}

/// What the peers need on disk.
pub struct Setup {
    /// The image's static binary (`cargo xtask image`'s build).
    pub perstack: PathBuf,
    /// `target/release/perstack`.
    pub perstack_dynamic: PathBuf,
    /// `.tools/bench`, where the bench peers were installed (or failed to be).
    pub tools: PathBuf,
    /// A scratch folder for workspaces, homes and outputs.
    pub scratch: PathBuf,
    /// Why the peers could not be installed, if they could not.
    pub install_error: Option<String>,
}

const NOTES: &str = "# Notes\n\nOne line of notes.\n";

/// Runs every peer `runs` times, interleaved, each reading a file `steps` times.
pub fn run(setup: &Setup, runs: usize, steps: usize) -> Vec<PeerResult> {
    let mut results: Vec<PeerResult> = Peer::ALL
        .iter()
        .map(|&peer| PeerResult {
            peer,
            samples: Vec::new(),
            failures: Vec::new(),
        })
        .collect();
    for round in 0..runs {
        for result in &mut results {
            // Kept until the bench ends (`bench::Scratch`): files deleted now would slow the
            // next client's file creation on some disks.
            let dir = setup.scratch.join(format!("{:?}-{round}", result.peer));
            match once(setup, result.peer, steps, &dir) {
                Ok(sample) => result.samples.push(sample),
                Err(e) => result.failures.push(format!("{e:#}")),
            }
        }
        eprintln!("bench: side by side, round {}/{runs} done", round + 1);
    }
    results
}

fn once(setup: &Setup, peer: Peer, steps: usize, dir: &Path) -> Result<Sample> {
    let ws = dir.join("ws");
    let home = dir.join("home");
    std::fs::create_dir_all(&ws)?;
    std::fs::create_dir_all(&home)?;
    // A different file each step: agentao halts a run that repeats one call ("doom loop").
    for i in 0..steps {
        std::fs::write(ws.join(format!("n{i}.md")), NOTES)?;
    }
    let stdout_path = dir.join("stdout");
    let query = format!(
        "Read n0.md to n{}.md, then finish.",
        steps.saturating_sub(1)
    );
    // Nothing from this shell reaches the clients but what they need.
    let clean = |program: &Path| {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .current_dir(&ws)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("OPENAI_API_KEY", "sk-bench-not-a-secret");
        cmd
    };
    let mut cmd;
    let (call, end): (fn(usize) -> Turn, Vec<Turn>) = match peer {
        Peer::Perstack | Peer::PerstackDynamic => {
            let config = dir.join("perstack.toml");
            std::fs::write(&config, perstack_config())?;
            let bin = match peer {
                Peer::PerstackDynamic => &setup.perstack_dynamic,
                Peer::Perstack | Peer::Agentao | Peer::Codex => &setup.perstack,
            };
            cmd = super::measure::perstack_run(bin, &config, &ws, &home);
            cmd.args(["reader", &query]);
            (
                |i| Turn::call("readTextFile", json!({"path": format!("n{i}.md")})),
                vec![
                    Turn::call("attemptCompletion", json!({})),
                    Turn::text("Done."),
                ],
            )
        }
        Peer::Agentao => {
            let bin = setup.tools.join("venv/bin/agentao");
            unavailable(setup, &bin)?;
            cmd = clean(&bin);
            cmd.args(["-p", &query]).env("OPENAI_MODEL", "bench-model");
            (
                |i| Turn::call("read_file", json!({"file_path": format!("n{i}.md")})),
                vec![Turn::text("Done.")],
            )
        }
        Peer::Codex => {
            // The native binary the npm package ships; its node launcher would add node's
            // start to every figure.
            let bin = setup.tools.join(
                "npm/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex",
            );
            unavailable(setup, &bin)?;
            cmd = clean(&bin);
            cmd.args(["exec", "--json", "--skip-git-repo-check", "-C"])
                .arg(&ws)
                .args(["-m", "bench-model", "-c", "model_provider=bench", &query])
                .env("CODEX_HOME", &home);
            (
                |i| {
                    Turn::call(
                        "exec_command",
                        json!({"cmd": format!("cat n{i}.md"), "login": false}),
                    )
                },
                vec![Turn::text("Done.")],
            )
        }
    };
    let mut script: Vec<Turn> = (0..steps).map(call).collect();
    let expect_requests = steps + end.len();
    script.extend(end);
    let mut sample = run_client(
        Client {
            command: cmd,
            script,
            expect_requests,
            stdout_path: &stdout_path,
        },
        |cmd, url| {
            cmd.env("OPENAI_BASE_URL", url);
            if peer == Peer::Codex {
                cmd.arg("-c").arg(format!(
                    "model_providers.bench={{name=\"bench\",base_url=\"{url}\",wire_api=\"responses\",env_key=\"OPENAI_API_KEY\"}}"
                ));
            }
        },
    )?;
    // The tool steps only (not the step after attemptCompletion).
    sample.step_times.truncate(steps);
    Ok(sample)
}

/// The Expert the bench runs: reads a file as the model asks.
pub fn perstack_config() -> &'static str {
    "model = \"bench-model\"\nmaxSteps = 100000\n[provider]\nproviderName = \"openai\"\n\
     [experts.\"reader\"]\ninstruction = \"Read notes.md as often as asked, then call attemptCompletion.\"\n"
}

fn unavailable(setup: &Setup, bin: &Path) -> Result<()> {
    if bin.exists() {
        return Ok(());
    }
    match &setup.install_error {
        Some(e) => anyhow::bail!("not installed: {e}"),
        None => anyhow::bail!("not installed: {} is missing", bin.display()),
    }
}

/// The side-by-side table (Markdown) with ratios against this runtime.
pub fn table(results: &[PeerResult], floor: Duration, runs: usize, steps: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Spawn floor (median spawn-to-exit of `true`, three runs right before each client \
         run, whose first request is counted over its own floor): {:.2} ms. {runs} interleaved \
         runs per client, {steps} tool steps each; median (min–max).\n",
        ms(floor)
    );
    out.push_str(
        "| client | first request over spawn floor, ms | peak RSS, MB | client time per tool step, ms | runs ok |\n|---|---|---|---|---|\n",
    );
    let ours = results.iter().find(|r| r.peer == Peer::Perstack);
    let base = ours.map(|r| figures(r, floor));
    for r in results {
        if r.samples.is_empty() {
            let why = r.failures.first().map_or("no run", String::as_str);
            let _ = writeln!(
                out,
                "| {} | could not run: {} | | | 0/{runs} |",
                r.peer.name(),
                why.replace('|', "/")
            );
            continue;
        }
        let f = figures(r, floor);
        let ratio = |ours: f64, theirs: f64| match (r.peer, ours > 0.0) {
            (Peer::Perstack | Peer::PerstackDynamic, _) | (_, false) => String::new(),
            (Peer::Agentao | Peer::Codex, true) => format!(" **{:.1}×**", theirs / ours),
        };
        let (bf, br, bs) = base.map_or((0.0, 0.0, 0.0), |b| {
            (b.first.median, b.rss.median, b.step.median)
        });
        let _ = writeln!(
            out,
            "| {} | {:.1} ({:.1}–{:.1}){} | {:.1} ({:.1}–{:.1}){} | {:.2} ({:.2}–{:.2}){} | {}/{runs} |",
            r.peer.name(),
            f.first.median,
            f.first.min,
            f.first.max,
            ratio(bf, f.first.median),
            f.rss.median,
            f.rss.min,
            f.rss.max,
            ratio(br, f.rss.median),
            f.step.median,
            f.step.min,
            f.step.max,
            ratio(bs, f.step.median),
            r.samples.len()
        );
    }
    for r in results.iter().filter(|r| !r.failures.is_empty()) {
        let _ = writeln!(
            out,
            "\n{}: {} failed run(s); first: {}",
            r.peer.name(),
            r.failures.len(),
            r.failures.first().map_or("", String::as_str)
        );
    }
    out
}

/// Float stats in table units.
#[derive(Debug, Clone, Copy)]
pub struct FloatStats {
    /// Median.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

/// One peer's figures: first request over the floor (ms), peak RSS (MB), client ms per step.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// First request over the spawn floor, ms.
    pub first: FloatStats,
    /// Peak RSS, MB.
    pub rss: FloatStats,
    /// Client time per tool step, ms.
    pub step: FloatStats,
}

/// The figures of `r`'s samples.
pub fn figures(r: &PeerResult, floor: Duration) -> Figures {
    let conv = |s: Stats<Duration>| FloatStats {
        median: ms(s.median),
        min: ms(s.min),
        max: ms(s.max),
    };
    let first: Vec<Duration> = r
        .samples
        .iter()
        .map(|s| {
            s.first_request
                .saturating_sub(if s.floor.is_zero() { floor } else { s.floor })
        })
        .collect();
    let rss: Vec<u64> = r.samples.iter().map(|s| s.peak_rss).collect();
    let step: Vec<Duration> = r.samples.iter().map(|s| mean(&s.step_times)).collect();
    let rss = Stats::of(&rss);
    Figures {
        first: conv(Stats::of(&first)),
        rss: FloatStats {
            median: mb(rss.median),
            min: mb(rss.min),
            max: mb(rss.max),
        },
        step: conv(Stats::of(&step)),
    }
}
