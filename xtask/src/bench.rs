//! `cargo xtask bench`: every figure the project claims, measured on this machine.
//!
//! Runs the crates' `harness = false` benches (each prints `bench:` lines) and times the
//! release `perstack` binary from the outside.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub fn run(root: &Path) -> Result<()> {
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

    crate::build_perstack(root, true)?;
    let bin = root.join("target/release/perstack");
    let size = std::fs::metadata(&bin)?.len();
    lines.push(format!(
        "bench: cli.binary_size: {:.2} MB (release, stripped)",
        size as f64 / 1e6
    ));
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
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", lines.join("\n"))?;
    Ok(())
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
