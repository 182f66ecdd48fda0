//! `cargo xtask bench`: every figure the project claims, measured on this machine.
//!
//! Runs the crates' `harness = false` benches (each prints `bench:` lines), times the release
//! `perstack` binary from the outside, runs it side by side with its peers against the same
//! scripted LLM, measures how the cost of a step grows with the run (table and SVG chart), and
//! runs many executions at once through the library. Writes `target/bench/report.md` (the
//! tables `docs/performance.md` shows) and `target/bench/scaling.svg`, and prints the report.

mod chart;
mod concurrent;
pub mod measure;
pub mod scaling;
pub mod side_by_side;
mod targets;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Parts of the bench, for `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// The crates' micro benches, binary size, startup and image size.
    Crates,
    /// perstack, agentao and codex side by side.
    Peers,
    /// Cost per step against run length, full and compact events, with the chart.
    Scaling,
    /// Many executions in one process (library API).
    Concurrent,
}

/// What to run and how often (`cargo xtask bench` flags).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Run only these parts (comma-separated; default all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Part>,
    /// Interleaved runs per client side by side.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Tool steps per side-by-side run.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Step counts of the scaling table (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    pub scaling: Vec<usize>,
    /// Executions at once in one process.
    #[arg(long, default_value_t = 1000)]
    pub executions: usize,
    /// Use the release binary (and example) as built.
    #[arg(long)]
    pub no_build: bool,
}

pub fn run(root: &Path, opts: &Options) -> Result<()> {
    let wanted = |p: Part| opts.only.is_empty() || opts.only.contains(&p);
    let target = target_dir(root);
    let out_dir = target.join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let mut report = format!(
        "# cargo xtask bench\n\nMachine: {}\n\nCommand: `{}`\n",
        machine(),
        command_line()
    );
    let scratch = Scratch::new(&out_dir)?;
    let mut lines = Vec::new();
    let mut checks = targets::Checks::default();
    if wanted(Part::Crates) {
        lines = crate_benches(root, !opts.no_build)?;
    }
    if !opts.no_build {
        crate::build_perstack(root, true)?;
        crate::image::build_static_binary(root)?;
    }
    // The figures are the image's binary (what a deployment runs); the side-by-side table
    // also shows the dynamically linked `cargo build --release` binary.
    let dynamic = target.join("release/perstack");
    let bin = crate::image::static_binary_path(root);
    if !bin.exists() {
        bail!(
            "{} is missing: run without --no-build (or `cargo xtask image`) first",
            bin.display()
        );
    }
    // A stale code layout shows up as memory; say how much of the list the binary still has.
    report.push_str(&match crate::layout::coverage(root) {
        Ok((found, listed)) => format!(
            "\nCode layout: the static binary has {found} of the {listed} functions of {} (`cargo xtask code-layout` rewrites it).\n",
            crate::layout::LIST
        ),
        Err(e) => format!("\nCode layout: not checked ({e:#}).\n"),
    });
    if wanted(Part::Peers) {
        let (tools, install_error) = match crate::peers::install_bench(root) {
            Ok(dir) => (dir, None),
            Err(e) => (
                crate::peers::tools_dir(root).join("bench"),
                Some(format!("{e:#}")),
            ),
        };
        let setup = side_by_side::Setup {
            perstack: bin.clone(),
            perstack_dynamic: dynamic.clone(),
            tools,
            scratch: scratch.0.clone(),
            install_error,
        };
        let rss_floor = measure::rss_floor(40, &scratch.0)?;
        let results = side_by_side::run(&setup, opts.runs, opts.steps);
        let floors: Vec<_> = results
            .iter()
            .flat_map(|r| r.samples.iter().map(|s| s.floor))
            .collect();
        let floor = measure::Stats::of(&floors).median;
        checks.side_by_side(&results, floor);
        report.push_str(&format!(
            "\n## Side by side\n\n{}\nEvery client is started by the bench's `peak-rss` helper, which takes the peak from `wait4`; for `true` it reports {:.1} MB, the least a figure can show.\n",
            side_by_side::table(&results, floor, opts.runs, opts.steps),
            measure::mb(rss_floor)
        ));
    }
    if wanted(Part::Scaling) {
        let strace = scaling::have_strace();
        let rows = scaling::run(&bin, &scratch.0, &opts.scaling, strace);
        checks.scaling(&rows);
        report.push_str(&format!("\n## Scaling\n\n{}", scaling::table(&rows)));
        if !strace {
            report.push_str("\nSyncs not counted: strace is not installed.\n");
        }
        let svg = chart::svg(&rows, &format!("{} — {}", machine(), command_line()));
        std::fs::write(out_dir.join("scaling.svg"), svg)?;
        report.push_str("\nChart: scaling.svg (beside this report)\n");
    }
    if wanted(Part::Concurrent) {
        let section = match concurrent::run(root, &target, opts.executions, 3, !opts.no_build) {
            Ok(r) => {
                checks.concurrent(&r, opts.executions);
                format!(
                    "{} of {} executions completed (3 tool steps each, one process, one \
                     runtime); step latency p50 {:.2} ms, p99 {:.2} ms; wall {:.0} ms; peak RSS \
                     {:.1} MB.\n",
                    r.line["completed"],
                    opts.executions,
                    r.line["stepP50Ms"].as_f64().unwrap_or(0.0),
                    r.line["stepP99Ms"].as_f64().unwrap_or(0.0),
                    r.line["wallMs"].as_f64().unwrap_or(0.0),
                    measure::mb(r.peak_rss)
                )
            }
            Err(e) => {
                checks.concurrent_failed(&format!("{e:#}"));
                format!("not measured: {e:#}\n")
            }
        };
        report.push_str(&format!("\n## Concurrent executions\n\n{section}"));
    }
    report.push_str(&format!("\n## Targets (issue 13)\n\n{}", checks.table()));
    if !lines.is_empty() {
        report.push_str(&format!(
            "\n## Micro benches\n\n```\n{}\n```\n",
            lines.join("\n")
        ));
    }
    std::fs::write(out_dir.join("report.md"), &report)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{report}")?;
    Ok(())
}

/// The bench's scratch folder (workspaces, homes, outputs), removed when the bench ends and
/// not before: on ext4 without a journal, every file created in the minutes after many files
/// were deleted pays for stepping over their inodes, which would slow the clients measured
/// next (docs/performance.md). A scratch folder left by an interrupted bench is moved aside
/// (a rename, which frees nothing) and removed at the end too.
struct Scratch(std::path::PathBuf, Option<std::path::PathBuf>);

impl Scratch {
    fn new(out_dir: &Path) -> Result<Self> {
        let dir = out_dir.join("scratch");
        let mut old = None;
        if dir.exists() {
            let aside = out_dir.join(format!("scratch-old-{}", std::process::id()));
            std::fs::rename(&dir, &aside)
                .with_context(|| format!("moving {} aside", dir.display()))?;
            old = Some(aside);
        }
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir, old))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        if let Some(old) = &self.1 {
            let _ = std::fs::remove_dir_all(old);
        }
    }
}

fn crate_benches(root: &Path, build: bool) -> Result<Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(&cargo)
        .current_dir(root)
        .args(["bench", "--workspace", "--benches", "--quiet"])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo bench")?;
    if !out.status.success() {
        bail!("cargo bench failed ({})", out.status);
    }
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("bench:"))
        .map(str::to_string)
        .collect();

    if build {
        crate::build_perstack(root, true)?;
    }
    let bin = target_dir(root).join("release/perstack");
    let size = std::fs::metadata(&bin)?.len();
    lines.push(format!(
        "bench: cli.binary_size: {:.2} MB (release, stripped)",
        size as f64 / 1e6
    ));
    if build {
        crate::image::build_static_binary(root)?;
    }
    if let Ok(m) = std::fs::metadata(crate::image::static_binary_path(root)) {
        lines.push(format!(
            "bench: cli.binary_size static: {:.2} MB (the image's binary, +crt-static)",
            m.len() as f64 / 1e6
        ));
    }
    for (name, args) in [
        ("cli.startup --version", vec!["--version"]),
        (
            "cli.validate example",
            vec!["validate", "--config", "examples/perstack.toml"],
        ),
    ] {
        let median = median_runtime(&bin, &args, root, 40)?;
        lines.push(format!(
            "bench: {name}: {:.2} ms median of 40 runs (process start to exit)",
            median.as_secs_f64() * 1e3
        ));
    }
    lines.push(image_size());
    Ok(lines)
}

/// Where cargo builds: `$CARGO_TARGET_DIR`, else `<root>/target`.
pub fn target_dir(root: &Path) -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .map_or_else(|| root.join("target"), |d| root.join(d))
}

/// Cores, CPU model, memory and kernel of this machine, in one line.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |m| m.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cores} cores ({model}), {:.0} GiB memory, Linux {}",
        mem_kb as f64 / 1024.0 / 1024.0,
        kernel.trim()
    )
}

/// How this bench was started, as a `cargo xtask bench` command line.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(2).collect();
    if args.is_empty() {
        "cargo xtask bench".to_string()
    } else {
        format!("cargo xtask bench {}", args.join(" "))
    }
}

fn median_runtime(bin: &Path, args: &[&str], cwd: &Path, runs: usize) -> Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let status = Command::new(bin)
            .args(args)
            .current_dir(cwd)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        times.push(start.elapsed());
        if !status.success() {
            bail!("{} {:?} failed", bin.display(), args);
        }
    }
    times.sort();
    Ok(times[runs / 2])
}

/// The container image's size, when `cargo xtask image` has built it.
fn image_size() -> String {
    let docker = std::env::var("PERSTACK_DOCKER").unwrap_or_else(|_| "docker".into());
    let out = Command::new(&docker)
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Size}}",
            "perstack:latest",
        ])
        .stderr(Stdio::null())
        .output();
    match out.ok().filter(|o| o.status.success()).and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<u64>()
            .ok()
    }) {
        Some(bytes) => format!(
            "bench: image.size: {:.1} MB (perstack:latest, FROM scratch, static binary)",
            bytes as f64 / 1e6
        ),
        None => "bench: image.size: not measured (build it with `cargo xtask image`)".into(),
    }
}
