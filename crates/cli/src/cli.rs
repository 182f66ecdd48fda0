//! Command-line definition.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Set-up:
  perstack validate                 check perstack.toml (searched upward from here)
  perstack run <expert> <query>     run an Expert; JSON Lines events on stdout

Logs go to stderr; set PERSTACK_LOG (e.g. PERSTACK_LOG=debug) or pass --verbose.";

/// perstack: a sandbox-first runtime for AI agents (Perstack-compatible).
#[derive(Debug, Parser)]
#[command(name = "perstack", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an Expert and print every event as one JSON line on stdout.
    Run(Box<RunArgs>),
    /// Check perstack.toml and summarise its Experts; exit 2 on errors.
    Validate(ValidateArgs),
    /// Print the JSON Schema of a wire format.
    Schema {
        /// Which format.
        #[arg(value_enum)]
        kind: SchemaArg,
    },
    /// Print a shell completion script (e.g. `perstack completions bash > /etc/bash_completion.d/perstack`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: ShellArg,
    },
}

/// `perstack validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Path to perstack.toml (default: searched from the current folder upward).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Wire formats with a schema.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaArg {
    /// One line of the event stream.
    Events,
    /// perstack.toml.
    Config,
    /// A checkpoint file.
    Checkpoint,
}

/// Shells for completions.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShellArg {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

const RUN_AFTER_HELP: &str = "\
Output:
  stdout carries events only, one JSON object per line (schema: `perstack schema events`).
  Logs and diagnostics go to stderr.

Exit codes:
  0    completed
  1    error (provider, tool or runtime failure; see the stopRunByError event)
  2    usage or configuration error
  3    stopped for the application (interactive tool call or approval); resume with
       --continue-job and -i / --approve / --deny
  4    maximum steps reached
  5    token, cost or wall-clock budget exhausted
  130  interrupted (SIGINT); 143 terminated (SIGTERM) — both leave a resumable checkpoint

Examples:
  perstack run writer \"Summarise notes.md\"
  perstack run --continue writer \"Now shorten it\"
  perstack run --continue-job JOB -i '{\"toolCallId\":\"c1\",\"toolName\":\"ask\",\"skillName\":\"ui\",\"text\":\"yes\"}' writer \"\"";

/// `perstack run`: flags as Perstack's CLI has them.
#[derive(Debug, Args)]
#[command(after_help = RUN_AFTER_HELP)]
pub struct RunArgs {
    /// Key of the Expert to run, as in [experts."<key>"] (e.g. writer, @acme/writer@1.0.0).
    pub expert_key: String,
    /// The task for the Expert.
    pub query: String,
    /// Path to perstack.toml (default: searched from the current folder upward).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// LLM provider: anthropic, openai, google, ollama, azure-openai, deepseek, ... [default: from config, else anthropic].
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// Model id [default: from config].
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Reasoning budget: none, minimal, low, medium, high, or a token count [default: low].
    #[arg(long, value_name = "BUDGET")]
    pub reasoning_budget: Option<String>,
    /// Maximum steps for the job [default: 100].
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u32>,
    /// Maximum retries per generation [default: 5].
    #[arg(long, value_name = "N")]
    pub max_retries: Option<u32>,
    /// Timeout per generation in milliseconds [default: 300000].
    #[arg(long, value_name = "MS")]
    pub timeout: Option<u64>,
    /// Job id to use for a new job [default: generated].
    #[arg(long, value_name = "ID")]
    pub job_id: Option<String>,
    /// Env file to load (repeatable) [default: .env, .env.local next to perstack.toml].
    #[arg(long, value_name = "PATH")]
    pub env_path: Vec<PathBuf>,
    /// Continue the latest job in the workspace.
    #[arg(long = "continue", conflicts_with = "continue_job")]
    pub continue_latest: bool,
    /// Continue the job with this id.
    #[arg(long, value_name = "JOB_ID")]
    pub continue_job: Option<String>,
    /// Resume from this checkpoint of the job (requires --continue-job).
    #[arg(long, value_name = "CHECKPOINT_ID", requires = "continue_job")]
    pub resume_from: Option<String>,
    /// Answer to a pending interactive tool call: plain text, or JSON {toolCallId, toolName, skillName, text}.
    #[arg(short = 'i', long, value_name = "RESULT")]
    pub interactive_tool_call_result: Option<String>,
    /// Workspace folder the Expert works in; checkpoints go to <workspace>/perstack/ [default: current folder].
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Verbose logs on stderr.
    #[arg(long)]
    pub verbose: bool,
}
