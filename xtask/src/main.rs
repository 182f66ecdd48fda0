//! `cargo xtask <task>`: project automation that needs more than cargo.

// Doc comments here are `--help` text (clap), not Markdown: `perstack:<version>` is meant.
#![allow(rustdoc::invalid_html_tags)]

mod bench;
mod demo;
mod demo_container;
mod e2e;
mod image;
mod layout;
mod peers;
mod schema;
mod test;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "perstack project automation")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Regenerate docs/schema/*.json from the Rust types (review the diff before committing).
    Schema {
        /// Only check that the files are current; exit 1 if not.
        #[arg(long)]
        check: bool,
    },
    /// Install the real peers listed in xtask/peers.toml into .tools/ and run the whole test
    /// suite, including the peer tests that plain `cargo test` skips.
    Test {
        /// Skip installing peers (use what is already in .tools/).
        #[arg(long)]
        no_install: bool,
        /// Extra arguments for cargo test (after --).
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
    /// Install the real peers into .tools/ only.
    Peers,
    /// Run the benchmarks and print every figure the project claims (docs/performance.md):
    /// micro benches, perstack side by side with agentao and codex, cost per step against run
    /// length (with an SVG chart), many executions in one process.
    Bench(bench::Options),
    /// Run the demo Expert end to end, offline, against the scripted LLM server.
    Demo {
        /// Use the binary (or with --container, the image) as it is (CI: what earlier
        /// stages built).
        #[arg(long)]
        no_build: bool,
        /// Run the Expert in a hardened container (no network, no key inside) with
        /// `perstack proxy` holding the key on this machine; builds the image first.
        #[arg(long)]
        container: bool,
        /// The docker client to run (with --container).
        #[arg(long, env = "PERSTACK_DOCKER", default_value = "docker")]
        docker: String,
    },
    /// Record which functions a run executes (the static release binary under Valgrind's
    /// callgrind, against the scripted LLM) into crates/cli/hot-functions.txt, which the
    /// release link uses to place them together; then rebuild. Rerun after large changes
    /// (docs/performance.md, "Code layout"). Needs valgrind.
    CodeLayout,
    /// Build the container image offline: a static binary on an empty root filesystem
    /// (docker/Dockerfile's final stage), tagged perstack:<version> and perstack:latest, then
    /// smoke-test it with the hardening flags (docs/container.md).
    Image {
        /// Use target/x86_64-unknown-linux-gnu/release/perstack as it is.
        #[arg(long)]
        no_build: bool,
        /// Tag to give the image, instead of perstack:<version> and perstack:latest (repeatable).
        #[arg(long = "tag", value_name = "NAME:TAG")]
        tags: Vec<String>,
        /// The docker client to run.
        #[arg(long, env = "PERSTACK_DOCKER", default_value = "docker")]
        docker: String,
    },
    /// Build the image, then run the container tests (crates/cli/tests/container/): real
    /// hardened containers, `perstack proxy` holding the key on the host, the scripted LLM
    /// server behind it. Needs a running Docker Engine.
    E2e {
        /// Test the image as it is (skip `cargo xtask image`).
        #[arg(long)]
        no_build: bool,
        /// The image to build and test.
        #[arg(long, value_name = "NAME:TAG", default_value = "perstack:latest")]
        image: String,
        /// The docker client to run.
        #[arg(long, env = "PERSTACK_DOCKER", default_value = "docker")]
        docker: String,
        /// Arguments for the test binary (e.g. a test name filter), after --.
        #[arg(last = true)]
        test_args: Vec<String>,
    },
    /// Serve the bench's script (STEPS file reads, then attemptCompletion) on loopback until
    /// killed, printing the base URL to set as OPENAI_BASE_URL: for profiling a run by hand
    /// (docs/performance.md, "Profiling a step").
    ServeScript {
        /// Tool steps in the script.
        #[arg(long, default_value_t = 1000)]
        steps: usize,
    },
    /// (Used by `bench`.) Run a program and write its peak resident memory to REPORT.
    ///
    /// A child's peak as `wait4` reports it is at least the parent's own peak when the child
    /// was started by vfork (the kernel keeps the old address space's high-water mark across
    /// `exec`); the bench's own process would show through every figure. This small, freshly
    /// started process is the parent instead.
    #[command(hide = true)]
    PeakRss {
        /// Where to write the peak, in bytes.
        report: std::path::PathBuf,
        /// The program and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root()?;
    match cli.task {
        Task::Schema { check } => schema::run(&root, check),
        Task::Test {
            no_install,
            cargo_args,
        } => test::run(&root, !no_install, &cargo_args),
        Task::Peers => peers::install(&root),
        Task::CodeLayout => layout::run(&root),
        Task::Bench(options) => bench::run(&root, &options),
        Task::ServeScript { steps } => bench::scaling::serve(steps),
        Task::PeakRss { report, command } => bench::measure::peak_rss_helper(&report, &command),
        Task::Demo {
            no_build,
            container: false,
            ..
        } => demo::run(&root, !no_build),
        Task::Demo {
            no_build,
            container: true,
            docker,
        } => demo_container::run(
            &root,
            &demo_container::Options {
                build: !no_build,
                docker,
            },
        ),
        Task::Image {
            no_build,
            tags,
            docker,
        } => image::run(
            &root,
            &image::Options {
                build: !no_build,
                tags,
                docker,
            },
        ),
        Task::E2e {
            no_build,
            image,
            docker,
            test_args,
        } => e2e::run(
            &root,
            &e2e::Options {
                build_image: !no_build,
                image_tag: image,
                docker,
                test_args,
            },
        ),
    }
}

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> Result<std::path::PathBuf> {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(std::path::Path::to_path_buf)
        .ok_or_else(|| anyhow::anyhow!("xtask has no parent folder"))
}

/// Builds the `perstack` binary (debug, or release for benchmarks) into `target/`.
fn build_perstack(root: &std::path::Path, release: bool) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(root).args([
        "build",
        "--quiet",
        "-p",
        "perstack-cli",
        "--bin",
        "perstack",
    ]);
    if release {
        cmd.arg("--release");
    }
    if !cmd.status()?.success() {
        anyhow::bail!("building perstack failed");
    }
    Ok(())
}
