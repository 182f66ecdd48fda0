//! Running one client process against the scripted LLM and taking its figures: time to the
//! first model request, client time between a tool call's answer and the next request, peak
//! resident memory (the kernel's own count, from `wait4`), stdout bytes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use perstack_testkit::{ScriptOptions, ScriptedLlm, Turn};

/// What one client run gave.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Spawn to the first model request's head arriving.
    pub first_request: Duration,
    /// Client time of each step: a model answer's last byte to the next request's head.
    pub step_times: Vec<Duration>,
    /// Peak resident memory of the process, bytes.
    pub peak_rss: u64,
    /// Bytes the process wrote to stdout.
    pub stdout_bytes: u64,
}

/// A client command to run against a fresh scripted LLM.
pub struct Client<'a> {
    /// The command, its environment set; stdout is captured to `stdout_path`.
    pub command: Command,
    /// The script, answered by conversation depth.
    pub script: Vec<Turn>,
    /// Model requests a complete run makes.
    pub expect_requests: usize,
    /// Where stdout goes.
    pub stdout_path: &'a Path,
}

/// Runs `client` once against a scripted LLM whose base URL `configure` gives the command.
pub fn run_client(
    mut client: Client<'_>,
    configure: impl FnOnce(&mut Command, &str),
) -> Result<Sample> {
    let llm = ScriptedLlm::start_with(
        client.script,
        ScriptOptions {
            by_depth: true,
            discard_bodies: true,
        },
    )?;
    configure(&mut client.command, &llm.base_url);
    let stdout = std::fs::File::create(client.stdout_path)?;
    let stderr_path = client.stdout_path.with_extension("stderr");
    let stderr = std::fs::File::create(&stderr_path)?;
    let start = Instant::now();
    let child = client
        .command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {:?}", client.command.get_program()))?;
    let (status, peak_rss) = wait_with_peak_rss(child.id())?;
    let timings = llm.timings();
    let stdout_bytes = std::fs::metadata(client.stdout_path)?.len();
    if status != 0 || timings.len() < client.expect_requests {
        let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let tail: Vec<&str> = err.lines().rev().take(6).collect();
        bail!(
            "exit status {status}, {} of {} model requests; stderr ends: {}",
            timings.len(),
            client.expect_requests,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    let first_request = timings
        .first()
        .map(|t| t.received.saturating_duration_since(start))
        .unwrap_or_default();
    let step_times = timings
        .windows(2)
        .filter_map(|w| match w {
            [a, b] => Some(b.received.saturating_duration_since(a.answered)),
            _ => None,
        })
        .collect();
    Ok(Sample {
        first_request,
        step_times,
        peak_rss,
        stdout_bytes,
    })
}

/// `perstack run` of the bench's Expert (`reader` and the query are the caller's to add): a
/// clean environment (PATH, HOME, a key that is no secret), the OpenAI provider with model
/// `bench-model`, `config`, and workspace `ws`, which is also the working folder.
pub fn perstack_run(program: &Path, config: &Path, ws: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("OPENAI_API_KEY", "sk-bench-not-a-secret")
        .current_dir(ws)
        .args(["run", "--config"])
        .arg(config)
        .args([
            "--provider",
            "openai",
            "--model",
            "bench-model",
            "--workspace",
        ])
        .arg(ws);
    cmd
}

/// Runs `cmd` with stdout to `stdout_path` (stderr shown); its exit code and peak memory.
pub fn run_plain(mut cmd: Command, stdout_path: &Path) -> Result<(i32, u64)> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(stdout_path)?)
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    wait_with_peak_rss(child.id())
}

/// Waits for child `pid` and returns its exit status (128+signal when killed) and its peak
/// resident memory in bytes (`ru_maxrss` of `wait4`, which std's `Child::wait` does not give).
#[allow(unsafe_code)]
fn wait_with_peak_rss(pid: u32) -> Result<(i32, u64)> {
    let pid = libc::pid_t::try_from(pid)?;
    let mut status: libc::c_int = 0;
    // SAFETY: all-zero bytes are a valid `rusage` (plain integers and timevals).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our child, not yet waited for; both pointers are to live locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4");
        }
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    // Linux reports ru_maxrss in KiB.
    Ok((code, u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024))
}

/// The process-spawn floor: median spawn-to-exit time of `true` over `runs` runs.
pub fn spawn_floor(runs: usize) -> Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let status = Command::new("true").status().context("running true")?;
        times.push(start.elapsed());
        if !status.success() {
            bail!("`true` failed");
        }
    }
    Ok(Stats::of(&times).median)
}

/// Median, min and max of some durations or sizes.
#[derive(Debug, Clone, Copy)]
pub struct Stats<T> {
    /// The median (the upper one of an even count).
    pub median: T,
    /// The smallest.
    pub min: T,
    /// The largest.
    pub max: T,
}

impl<T: Copy + Ord + Default> Stats<T> {
    /// The stats of `values` (all defaults when empty).
    pub fn of(values: &[T]) -> Self {
        let mut v = values.to_vec();
        v.sort();
        Stats {
            median: v.get(v.len() / 2).copied().unwrap_or_default(),
            min: v.first().copied().unwrap_or_default(),
            max: v.last().copied().unwrap_or_default(),
        }
    }
}

/// The mean of `d`, zero when empty.
pub fn mean(d: &[Duration]) -> Duration {
    if d.is_empty() {
        return Duration::ZERO;
    }
    d.iter().sum::<Duration>() / u32::try_from(d.len()).unwrap_or(u32::MAX)
}

/// Milliseconds, for tables.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Megabytes (10^6), for tables.
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Total size of the regular files under `dir` (0 when it does not exist).
pub fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}
