//! The `perstack` command. Argument parsing and output only; the work happens in the crates.

// Doc comments on the argument types are `--help` text (clap), not Markdown:
// `<workspace>` and `[pricing]` are meant literally.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

mod cli;
mod commands;
mod config_path;
mod confinement;
mod log_redact;
mod render;
mod secrets;
mod state_dir;
mod stdout_pipe;
mod terminal;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Exit codes documented in `perstack run --help`.
pub mod exit {
    /// Completed.
    pub const OK: u8 = 0;
    /// Runtime error.
    pub const ERROR: u8 = 1;
    /// Usage or configuration error.
    pub const USAGE: u8 = 2;
}

fn init_logging(verbose: bool) {
    // stdout belongs to events; logs always go to stderr, redacted, without escape codes
    // (control characters in logged text are neutralised too).
    let logs = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(log_redact::RedactingStderr);
    // Directives only when asked for: a plain level is what every run without
    // PERSTACK_LOG gets, and an `EnvFilter` costs a third of a millisecond to build.
    let _ = match std::env::var_os("PERSTACK_LOG") {
        Some(_) => logs
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("PERSTACK_LOG").unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new(if verbose { "debug" } else { "warn" })
                }),
            )
            .try_init(),
        None => logs
            .with_max_level(if verbose {
                tracing::Level::DEBUG
            } else {
                tracing::Level::WARN
            })
            .try_init(),
    };
}

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    if matches!(&cli.command, Command::Run(_) | Command::Start(_)) {
        // The base tools' router (their JSON Schemas) is built beside the config load and
        // job creation instead of after them; the run takes it when it opens its tools.
        let _ = std::thread::Builder::new()
            .name("perstack-warm".into())
            .spawn(perstack_skills::base::prepare);
    }
    // `start --verbose` shows skill lines in the transcript instead of debug logs.
    let verbose = matches!(&cli.command, Command::Run(a) if a.options.verbose);
    init_logging(verbose);
    let code = match cli.command {
        Command::Run(args) => commands::run::run(&args),
        Command::Start(args) => commands::start::run(&args),
        Command::Replay(args) => commands::replay::run(&args),
        Command::Validate(args) => commands::validate::run(&args),
        Command::Schema { kind } => commands::schema::run(kind),
        Command::Completions { shell } => commands::completions::run(shell),
        Command::Log(args) => commands::log::run(&args),
        Command::Jobs(args) => commands::jobs::run(&args),
        Command::Install(args) => commands::install::run(&args),
        Command::Skill(cli::SkillCommand::Base(args)) => commands::skill::run_base(&args),
        Command::Proxy(args) => commands::proxy::run(&args),
    };
    if stdout_pipe::closed() {
        // The reader of stdout went away (`| head`): the conventional status, quietly.
        return ExitCode::from(stdout_pipe::EXIT);
    }
    ExitCode::from(code)
}
