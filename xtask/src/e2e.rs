//! `cargo xtask e2e`: the container tests (`crates/cli/tests/container/`) against the image
//! `cargo xtask image` builds, with `perstack proxy` and the scripted LLM server on the host.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Result, bail};

use crate::image;

/// What `cargo xtask e2e` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Build the image first (else use `image_tag` as it is).
    pub build_image: bool,
    /// The image to test.
    pub image_tag: String,
    /// The docker client.
    pub docker: String,
    /// Extra arguments for the test binary (a name filter, say).
    pub test_args: Vec<String>,
}

pub fn run(root: &Path, opts: &Options) -> Result<()> {
    image::check_docker(&opts.docker)?;
    if opts.build_image {
        let t0 = Instant::now();
        image::build(
            root,
            &image::Options {
                build: true,
                tags: vec![opts.image_tag.clone()],
                docker: opts.docker.clone(),
            },
        )?;
        eprintln!(
            "e2e: image {} ready in {:.0?}",
            opts.image_tag,
            t0.elapsed()
        );
    }
    let t0 = Instant::now();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .current_dir(root)
        .env("PERSTACK_E2E_IMAGE", &opts.image_tag)
        .env("PERSTACK_E2E_DOCKER", &opts.docker)
        .args(["test", "--workspace", "--test", "container", "--"])
        // --workspace: the same feature set as the test stage, so its build is reused.
        // Each test starts its own proxy and LLM server; two at a time suit 2 cores.
        .args(["--ignored", "--test-threads", "2"])
        .args(&opts.test_args)
        .status()?;
    eprintln!("e2e: container tests took {:.0?}", t0.elapsed());
    if !status.success() {
        bail!("container tests failed ({status})");
    }
    Ok(())
}
