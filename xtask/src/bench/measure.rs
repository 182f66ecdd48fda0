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
    /// The spawn floor of the moment: median spawn-to-exit of `true` through the same helper,
    /// measured right before this client started (the machine's speed drifts over minutes).
    pub floor: Duration,
    /// Client time of each step: a model answer's last byte to the next request's head.
    pub step_times: Vec<Duration>,
    /// Peak resident memory of the process, bytes.
    pub peak_rss: u64,
    /// Bytes the process wrote to stdout.
    pub stdout_bytes: u64,
}

/// A client command to run against a fresh scripted LLM.
pub struct Client<'a> {
    /// The command, its environment cleared and set in full (it runs under the `peak-rss`
    /// helper, which passes on only the variables set here); stdout goes to `stdout_path`.
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
    let report = client.stdout_path.with_extension("rss");
    let mut command = under_helper(&client.command, &report, false)?;
    settle();
    let floor = floor_now(&report)?;
    let start = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {:?}", client.command.get_program()))?;
    let (status, _) = wait_with_peak_rss(child.id())?;
    let peak_rss = read_report(&report);
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
        floor,
        step_times,
        peak_rss,
        stdout_bytes,
    })
}

/// Lets the machine settle before a client starts: the files earlier clients (and this
/// client's setup) wrote are written back now, not while the next client is timed. On two
/// cores, writeback after a peer that writes many files (codex's sessions) otherwise lands in
/// the next client's start; every client gets the same pause.
#[allow(unsafe_code)]
fn settle() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::thread::sleep(Duration::from_millis(50));
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

/// Runs `cmd` (its environment added to this process's) with stdout to `stdout_path`
/// (stderr shown); its exit code and peak memory.
pub fn run_plain(cmd: &Command, stdout_path: &Path) -> Result<(i32, u64)> {
    let report = stdout_path.with_extension("rss");
    let child = under_helper(cmd, &report, true)?
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(stdout_path)?)
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    let (code, _) = wait_with_peak_rss(child.id())?;
    Ok((code, read_report(&report)))
}

/// `cmd` run by the `peak-rss` helper (`cargo xtask peak-rss`), which writes the peak to
/// `report`: a child started by this (large) process would report at least this process's
/// own peak. The helper gets `cmd`'s variables, its folder and, unless `inherit_env`, no
/// others, and passes them on unchanged.
fn under_helper(cmd: &Command, report: &Path, inherit_env: bool) -> Result<Command> {
    let _ = std::fs::remove_file(report);
    let mut helper = Command::new(std::env::current_exe().context("locating the xtask binary")?);
    if !inherit_env {
        helper.env_clear();
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => helper.env(key, v),
            None => helper.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        helper.current_dir(dir);
    }
    helper
        .arg("peak-rss")
        .arg(report)
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    Ok(helper)
}

/// The peak the helper wrote, 0 when it wrote none (it could not start the program).
fn read_report(report: &Path) -> u64 {
    std::fs::read_to_string(report)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// `cargo xtask peak-rss REPORT -- PROGRAM ARGS..`: runs the program (this process's
/// environment, folder and standard streams), writes its peak resident memory in bytes to
/// REPORT and exits with its exit code (128 + signal when killed).
#[allow(unsafe_code)]
pub fn peak_rss_helper(report: &Path, command: &[std::ffi::OsString]) -> Result<()> {
    let Some((program, args)) = command.split_first() else {
        bail!("peak-rss: no program given");
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    // A hook makes std fork rather than vfork: the forked copy holds only this process's
    // anonymous pages (its code is not copied), so the high-water mark `exec` carries over
    // is a few hundred KB instead of all this process has touched.
    // SAFETY: the hook does nothing.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || Ok(()));
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", program.to_string_lossy()))?;
    let (code, peak) = wait_with_peak_rss(child.id())?;
    std::fs::write(report, peak.to_string())
        .with_context(|| format!("writing {}", report.display()))?;
    std::process::exit(code)
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

/// The peak memory the helper reports for `true` (median of `runs` runs): the least any
/// figure can show.
pub fn rss_floor(runs: usize, scratch: &Path) -> Result<u64> {
    std::fs::create_dir_all(scratch)?;
    let report = scratch.join("floor.rss");
    let mut peaks = Vec::with_capacity(runs);
    for _ in 0..runs {
        time_true(&report)?;
        peaks.push(read_report(&report));
    }
    Ok(Stats::of(&peaks).median)
}

/// The spawn floor right now: median of three spawn-to-exit times of `true` through the
/// helper, as the clients are started.
fn floor_now(report: &Path) -> Result<Duration> {
    let times = (0..3)
        .map(|_| time_true(report))
        .collect::<Result<Vec<_>>>()?;
    Ok(Stats::of(&times).median)
}

/// One spawn-to-exit time of `true` through the helper (this process's environment). The
/// helper's report overwrites `report` in place: no file is deleted and made again just
/// before a client starts.
fn time_true(report: &Path) -> Result<Duration> {
    let mut helper = Command::new(std::env::current_exe().context("locating the xtask binary")?);
    helper.arg("peak-rss").arg(report).arg("--").arg("true");
    let start = Instant::now();
    let status = helper.status().context("running true")?;
    let took = start.elapsed();
    if !status.success() {
        bail!("`true` failed");
    }
    Ok(took)
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
