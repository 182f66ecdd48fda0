//! `cargo xtask test`: the whole suite, peers included.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use crate::peers;

pub fn run(root: &Path, install: bool, extra: &[String]) -> Result<()> {
    if install {
        peers::install(root)?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .current_dir(root)
        .env("PERSTACK_TOOLS_DIR", peers::tools_dir(root))
        .args(["test", "--workspace"])
        .args(extra)
        // The container tests need a Docker Engine and the image: `cargo xtask e2e`.
        .args(["--", "--include-ignored", "--skip", "container_"])
        .status()?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(())
}
