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

pub fn install(root: &Path) -> Result<()> {
    let spec_path = root.join("xtask/peers.toml");
    let spec_text = std::fs::read_to_string(&spec_path)
        .with_context(|| format!("reading {}", spec_path.display()))?;
    let peers: Peers =
        toml::from_str(&spec_text).with_context(|| format!("parsing {}", spec_path.display()))?;
    let tools = tools_dir(root);
    std::fs::create_dir_all(&tools)?;
    let stamp = tools.join(".installed-peers.toml");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(spec_text.as_str()) {
        eprintln!("peers: up to date in {}", tools.display());
        return Ok(());
    }
    if !peers.pypi.packages.is_empty() {
        let venv = tools.join("venv");
        if !venv.join("bin/python").exists() {
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
                .context("creating the Python venv (on Debian: apt-get install python3-venv)")?;
        }
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(&peers.pypi.packages))
        .context("installing PyPI peers")?;
    }
    if !peers.npm.packages.is_empty() {
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
            .args(&peers.npm.packages))
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
