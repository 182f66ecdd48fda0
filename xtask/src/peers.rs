//! Installs the real peers (xtask/peers.toml) into .tools/: PyPI packages in a venv, npm
//! packages under an npm prefix. Re-installs only when peers.toml changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

#[derive(Deserialize, Default)]
struct Peers {
    #[serde(default)]
    pypi: Section,
    #[serde(default)]
    npm: Section,
    /// Peers `cargo xtask bench` compares against, installed under .tools/bench/ by it.
    #[serde(default, rename = "bench-pypi")]
    bench_pypi: Section,
    #[serde(default, rename = "bench-npm")]
    bench_npm: Section,
}

#[derive(Deserialize, Default)]
struct Section {
    #[serde(default)]
    packages: Vec<String>,
}

/// Where peers live: `<root>/.tools`.
pub fn tools_dir(root: &Path) -> PathBuf {
    root.join(".tools")
}

fn read_spec(root: &Path) -> Result<(String, Peers)> {
    let spec_path = root.join("xtask/peers.toml");
    let spec_text = std::fs::read_to_string(&spec_path)
        .with_context(|| format!("reading {}", spec_path.display()))?;
    let peers: Peers =
        toml::from_str(&spec_text).with_context(|| format!("parsing {}", spec_path.display()))?;
    Ok((spec_text, peers))
}

pub fn install(root: &Path) -> Result<()> {
    let (spec_text, peers) = read_spec(root)?;
    install_into(&tools_dir(root), &spec_text, &peers.pypi, &peers.npm)
}

/// Installs the bench peers (`[bench-pypi]`, `[bench-npm]`) into `.tools/bench/`; returns
/// that folder.
pub fn install_bench(root: &Path) -> Result<PathBuf> {
    let (spec_text, peers) = read_spec(root)?;
    let dir = tools_dir(root).join("bench");
    install_into(&dir, &spec_text, &peers.bench_pypi, &peers.bench_npm)?;
    Ok(dir)
}

fn install_into(tools: &Path, spec_text: &str, pypi: &Section, npm: &Section) -> Result<()> {
    std::fs::create_dir_all(tools)?;
    let stamp = tools.join(".installed-peers.toml");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(spec_text) {
        eprintln!("peers: up to date in {}", tools.display());
        return Ok(());
    }
    if !pypi.packages.is_empty() {
        let venv = tools.join("venv");
        if !venv.join("bin/python").exists() {
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
                .context("creating the Python venv (on Debian: apt-get install python3-venv)")?;
        }
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(&pypi.packages))
        .context("installing PyPI peers")?;
    }
    if !npm.packages.is_empty() {
        let prefix = tools.join("npm");
        std::fs::create_dir_all(&prefix)?;
        run(Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(&prefix)
            .args(&npm.packages))
        .context("installing npm peers (needs node and npm)")?;
    }
    std::fs::write(&stamp, spec_text)?;
    eprintln!("peers: installed into {}", tools.display());
    Ok(())
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed with {status}", cmd.get_program());
    }
    Ok(())
}
