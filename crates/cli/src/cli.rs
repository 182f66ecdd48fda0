//! Command-line definition.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Set-up:
  perstack validate                 check perstack.toml (searched upward from here)
  perstack run <expert> <query>     run an Expert; JSON Lines events on stdout
  perstack start <expert> <query>   run an Expert with a readable transcript and prompts
  perstack replay <job>             show a recorded job again, or branch from a checkpoint

Logs go to stderr; set PERSTACK_LOG (e.g. PERSTACK_LOG=debug) or pass --verbose.";

/// perstack: a sandbox-first runtime for AI agents (Perstack-compatible).
#[derive(Debug, Parser)]
#[command(name = "perstack", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the process arguments; exits with clap's message (status 2) on bad usage, with
    /// a hint when `-i` was given a value the old way (`-i ANSWER`).
    pub fn parse_args() -> Self {
        let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
        match Cli::try_parse_from(&argv) {
            Ok(cli) => cli,
            Err(e) => {
                let _ = e.print();
                let i_given = argv
                    .iter()
                    .any(|a| a == "-i" || a == "--interactive-tool-call-result");
                if e.use_stderr() && i_given {
                    eprintln!(
                        "\nnote: -i takes no value (as in Perstack): the query is the answer, \
                         e.g. `perstack run --continue-job JOB -i EXPERT \"ANSWER\"`; or give it \
                         with `=`: --interactive-tool-call-result=ANSWER"
                    );
                }
                std::process::exit(e.exit_code())
            }
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an Expert and print every event as one JSON line on stdout.
    #[command(after_help = RUN_AFTER_HELP)]
    Run(Box<RunArgs>),
    /// Run an Expert for a person at a terminal: steps, tool calls and streamed text,
    /// with prompts for interactive tools and approvals.
    #[command(after_help = START_AFTER_HELP)]
    Start(Box<StartArgs>),
    /// Render a recorded job exactly as `start` showed it (no model call), or branch a new
    /// run from one of its checkpoints.
    #[command(after_help = REPLAY_AFTER_HELP)]
    Replay(Box<ReplayArgs>),
    /// Check perstack.toml and summarise its Experts; exit 2 on errors.
    Validate(ValidateArgs),
    /// Print the JSON Schema of a wire format.
    Schema {
        /// Which format.
        #[arg(value_enum)]
        kind: SchemaArg,
    },
    /// Start every Expert's skills once and write their tool definitions to perstack.lock
    /// (next to perstack.toml), so runs can offer tools before their servers are up.
    Install(InstallArgs),
    /// Show recorded jobs, runs, events and checkpoints; verify the audit chain.
    Log(Box<LogArgs>),
    /// List every recorded job, newest first: status, Expert, steps, tokens, estimated cost,
    /// age and the command that continues it.
    Jobs(JobsArgs),
    /// Serve a built-in skill to any MCP client.
    #[command(subcommand)]
    Skill(SkillCommand),
    /// Run the egress proxy outside the sandbox: it holds the provider keys, forwards only to
    /// allowlisted hosts and writes one JSON access-log line per decision on stdout.
    #[command(after_help = PROXY_AFTER_HELP)]
    Proxy(Box<ProxyArgs>),
    /// Print a shell completion script (e.g. `perstack completions bash > /etc/bash_completion.d/perstack`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: ShellArg,
    },
}

/// `perstack skill ...`.
#[derive(Debug, Subcommand)]
pub enum SkillCommand {
    /// Serve the base skill (Perstack's 16 file, exec and todo tools) as an MCP server on
    /// stdio, confined to a workspace. Only MCP messages are written to stdout.
    #[command(
        after_help = "Example MCP client config:\n  {\"command\": \"perstack\", \"args\": [\"skill\", \"base\", \"--workspace\", \"/work\"]}"
    )]
    Base(BaseSkillArgs),
}

/// `perstack skill base`.
#[derive(Debug, Args)]
pub struct BaseSkillArgs {
    /// Workspace the tools may read and write; `perstack/` inside it stays invisible.
    #[arg(long, value_name = "DIR")]
    pub workspace: PathBuf,
    /// Run `exec` children without no_new_privs, Landlock and seccomp (not recommended).
    #[arg(long)]
    pub no_confine: bool,
    /// Let `exec` children open network sockets.
    #[arg(long)]
    pub exec_network: bool,
    /// Refuse `exec` unless every confinement layer is fully enforced by this kernel.
    #[arg(long, conflicts_with = "no_confine")]
    pub require_full_confinement: bool,
    /// Workspace size limit in bytes; writes past it fail with an error naming the limit.
    #[arg(long, value_name = "BYTES")]
    pub max_workspace_bytes: Option<u64>,
    /// Workspace entry-count limit (files, folders, links).
    #[arg(long, value_name = "N")]
    pub max_workspace_files: Option<u64>,
    /// Do not hide <workspace>/perstack/ from exec children (for runtimes that keep their
    /// storage in a --state-dir): no user namespace is then needed, also under
    /// --require-full-confinement.
    #[arg(long)]
    pub no_hide_storage: bool,
    /// Longest one exec call may run, in seconds; the call's `timeout` argument cannot
    /// raise it [default: 300].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_tool_time: Option<u64>,
}

/// Where jobs, checkpoints and event logs live. Flattened into every command that reads or
/// writes them (`#[command(flatten)] pub storage: StorageArgs`), then opened with
/// `crate::state_dir::open(&args.storage, &workspace)`.
#[derive(Debug, Clone, Default, Args)]
pub struct StorageArgs {
    /// Keep jobs, checkpoints and event logs in DIR (DIR/jobs/<jobId>/...) instead of
    /// <workspace>/perstack/. DIR must lie outside the workspace: exec children and stdio
    /// skills can write anywhere in the workspace, never in DIR.
    #[arg(long, value_name = "DIR", env = "PERSTACK_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// `perstack log`: Perstack's filters plus `--verify`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  perstack log                         events of the latest job\n  perstack log --job J --tools         tool calls of job J\n  perstack log --step '>3' --errors    errors after step 3\n  perstack log --errors --context 2    each error with the 2 events before and after it\n  perstack log --checkpoint CP --messages   the conversation at checkpoint CP\n  perstack log --job J --tools --verbose    tool calls with their arguments and results\n  perstack log --job J --json --pretty  the job and its events as indented JSON\n  perstack log --filter '.toolCalls[].toolName == \"exec\"'\n  perstack log --verify                check the hash chain of every run of the job"
)]
pub struct LogArgs {
    /// Job to show [default: the latest job].
    #[arg(long, value_name = "JOB_ID")]
    pub job: Option<String>,
    /// Only this run of the job.
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Show this checkpoint (and the events of its run).
    #[arg(long, value_name = "CHECKPOINT_ID")]
    pub checkpoint: Option<String>,
    /// Step filter: 5, >5, >=5, <5, <=5 or 1-10.
    #[arg(long, value_name = "STEP")]
    pub step: Option<String>,
    /// Only events of this type (e.g. callTools).
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: Option<String>,
    /// Only error events (stopRunByError, retry).
    #[arg(long)]
    pub errors: bool,
    /// Only tool events (callTools, resolveToolResults, callInteractiveTool).
    #[arg(long)]
    pub tools: bool,
    /// Only delegation events (callDelegate, stopRunByDelegate).
    #[arg(long)]
    pub delegations: bool,
    /// Filter expression: `.field.path OP value`, OP one of == != > >= < <=; `[]` matches any element.
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Output JSON instead of text (one line; --pretty indents it).
    #[arg(long)]
    pub json: bool,
    /// Indent the JSON output (implies --json).
    #[arg(long)]
    pub pretty: bool,
    /// Show each event's full details: every field, as one JSON line under its summary.
    #[arg(long)]
    pub verbose: bool,
    /// Also show the N events before and after each match (from the same runs).
    #[arg(long, value_name = "N")]
    pub context: Option<usize>,
    /// Show the message history of the checkpoint (--checkpoint, else the job's latest).
    #[arg(long)]
    pub messages: bool,
    /// Events to show; 0 shows all.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub take: usize,
    /// Events to skip.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub offset: usize,
    /// Counts by event type, steps, usage and estimated cost (from the model's list price or
    /// the config's [pricing] override) instead of the events.
    #[arg(long)]
    pub summary: bool,
    /// perstack.toml whose [pricing] overrides the cost estimate uses [default: searched from the current folder upward; built-in prices without one].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Verify the job (every job without --job): job.json, the hash chain of each run's event
    /// log, that the logs reach the end job.json records, and that every checkpoint matches
    /// the log; exit 1 on any failure. With PERSTACK_AUDIT_KEY set, links must be keyed.
    #[arg(long)]
    pub verify: bool,
    /// List every job instead (as `perstack jobs`; with --json for JSON).
    #[arg(long, conflicts_with_all = ["job", "run", "checkpoint", "verify"])]
    pub jobs: bool,
    /// With --verify and --job: the head `perstack run` printed last (its auditAnchor event),
    /// e.g. sha256:<hex>@<count>; any difference is a failure.
    #[arg(long, value_name = "HEAD", requires = "job")]
    pub expect: Option<String>,
    /// Workspace holding perstack/ [default: current folder].
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Storage location.
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `perstack jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Print a JSON array instead of the table.
    #[arg(long)]
    pub json: bool,
    /// perstack.toml whose pricing overrides the cost estimates use [default: searched from
    /// the current folder upward; built-in prices without one].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Workspace holding perstack/ [default: current folder].
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Storage location.
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `perstack install`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  perstack install                              write perstack.lock next to perstack.toml\n  perstack install --env-path .env.production   with the variables the skills need from that file"
)]
pub struct InstallArgs {
    /// Path to perstack.toml (default: searched from the current folder upward).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Env file to load (repeatable), as `run` does: the skills' requiredEnv come from the
    /// environment and these files [default: envPath in perstack.toml, else .env, .env.local].
    #[arg(long, value_name = "PATH")]
    pub env_path: Vec<PathBuf>,
    /// Workspace the skills start in [default: current folder].
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Storage location (with a state folder, skills need not be kept off
    /// <workspace>/perstack/).
    #[command(flatten)]
    pub storage: StorageArgs,
}

const PROXY_AFTER_HELP: &str = "\
Production shape: the proxy runs on the host (or in a sidecar) with the API keys in its own
environment; each execution runs in a container with no network and the socket mounted in:
  perstack proxy --config /etc/perstack/perstack.toml \\
      --socket /run/perstack/egress.sock --socket-group 10001
  docker run --network none -v /run/perstack:/run/perstack ... \\
      perstack run --egress unix:///run/perstack/egress.sock <expert> <query>

What is allowed: the config's provider (and each --provider) with its key added from the
proxy's environment or --env-file; remote skill endpoints (a token with --bearer HOST=VAR);
every skill's allowedDomains (https, no credential); --allow HOST[:PORT]; and local or private
servers given with --allow-private URL. Everything else is refused with 403 and a JSON error.
Credentials a request brings are always stripped. Key values are never printed or logged.

Output: one JSON line per decision on stdout (time, client, method, host, port, path, status,
bytesIn, bytesOut, decision, reason, credential header name, privateUpstream, durationMs);
logs and warnings on stderr. SIGTERM or SIGINT stops accepting, lets in-flight streams finish
for a few seconds and removes the socket.

Exit codes: 0 stopped by a signal, 1 runtime error, 2 configuration error.";

/// `perstack proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Path to the operator's perstack.toml (default: searched from the current folder upward;
    /// optional when --provider or --allow entries say what to allow).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Unix socket to listen on (a stale socket file there is replaced).
    #[arg(
        long,
        value_name = "PATH",
        env = "PERSTACK_PROXY_SOCKET",
        required_unless_present = "listen"
    )]
    pub socket: Option<PathBuf>,
    /// Permission bits of the socket, in octal.
    #[arg(long, value_name = "OCTAL", default_value = "600", value_parser = parse_octal_mode)]
    pub socket_mode: u32,
    /// Numeric group id to give the socket (e.g. the container user's gid), usually with
    /// --socket-mode 660.
    #[arg(long, value_name = "GID")]
    pub socket_group: Option<u32>,
    /// Also listen on a loopback TCP address (127.0.0.1:PORT).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Allow another https host, HOST or HOST:PORT (repeatable).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub allow: Vec<String>,
    /// Allow a local or private upstream, e.g. http://127.0.0.1:8080 (repeatable; logged
    /// with "privateUpstream": true).
    #[arg(long, value_name = "URL")]
    pub allow_private: Vec<String>,
    /// Serve another provider besides the config's, e.g. openai (repeatable).
    #[arg(long, value_name = "NAME")]
    pub provider: Vec<String>,
    /// Send `Authorization: Bearer $VAR` to a remote skill's host, HOST=VAR (repeatable).
    #[arg(long, value_name = "HOST=VAR")]
    pub bearer: Vec<String>,
    /// Read variables (API keys) from this env file too (repeatable; later files win).
    #[arg(long, value_name = "PATH")]
    pub env_file: Vec<PathBuf>,
    /// Start even when a provider's key is not set; its requests then go upstream keyless.
    #[arg(long)]
    pub no_credentials_ok: bool,
}

fn parse_octal_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{s:?} is not an octal mode like 600 or 660"))
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
    /// One line of the compact event stream (`run --events compact`).
    EventsCompact,
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

/// `perstack run`: flags as Perstack's CLI has them.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Key of the Expert to run, as in [experts."<key>"] (e.g. writer, @acme/writer@1.0.0).
    pub expert_key: String,
    /// The task for the Expert.
    pub query: String,
    /// Config, provider, limits and workspace.
    #[command(flatten)]
    pub options: RunOptions,
    /// Which job or checkpoint to continue, and with what answer.
    #[command(flatten)]
    pub resume: ResumeOptions,
    /// The form of the events on stdout.
    #[command(flatten)]
    pub output: OutputOptions,
}

/// `--events` (`run` writes that form; `start` accepts the flag and renders a transcript).
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputOptions {
    /// Events on stdout: full (Perstack's, every checkpoint whole) or compact (each message
    /// once, checkpoints by id; see docs/events.md) [env: PERSTACK_EVENTS].
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        env = "PERSTACK_EVENTS",
        default_value = "full",
        hide_env = true
    )]
    pub events: EventsArg,
}

/// The form of `run`'s events on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventsArg {
    /// Perstack's events.
    Full,
    /// Each message once; checkpoints and steps by reference.
    Compact,
}

impl RunArgs {
    /// The answer to the pending interactive tool call, when `-i` was given: the flag's
    /// value (`--interactive-tool-call-result=ANSWER`), else the query (Perstack's form).
    pub fn interactive_answer(&self) -> Option<&str> {
        match &self.resume.interactive_tool_call_result {
            None => None,
            Some(Some(value)) => Some(value),
            Some(None) => Some(&self.query),
        }
    }
}

/// Flags every command that runs an Expert takes (`run`, `start`, `replay --resume-from`).
#[derive(Debug, Clone, Default, Args)]
pub struct RunOptions {
    /// Path to perstack.toml (default: searched from the current folder upward). In a
    /// container, mount it read-only outside the workspace so the Expert cannot rewrite it.
    #[arg(long, value_name = "PATH", env = "PERSTACK_CONFIG")]
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
    /// Stop with a resumable checkpoint (exit 5) once the job has used this many tokens.
    #[arg(long, value_name = "N")]
    pub max_total_tokens: Option<u64>,
    /// Stop with a resumable checkpoint (exit 5) once the job's estimated cost reaches USD.
    ///
    /// Counted: the input (cached input at the cache-read price) and output (reasoning
    /// included) tokens of every generation of the job, delegates and earlier runs of a
    /// continued job included, at the model's price per million tokens. Prices: the built-in
    /// list prices of Anthropic, OpenAI and Gemini models (they may be outdated), overridden by
    /// [pricing."<model>"] input/output/cacheRead/cacheWrite in perstack.toml. A model without a
    /// price is refused at start. Continue a stopped job with a higher limit to go on.
    #[arg(long, value_name = "USD", value_parser = parse_usd, allow_negative_numbers = true)]
    pub max_total_cost: Option<f64>,
    /// Stop with a resumable checkpoint (exit 5) after this many seconds of wall-clock time.
    #[arg(long, value_name = "SECONDS")]
    pub max_duration: Option<u64>,
    /// Longest one tool call may take, in seconds: exec's `timeout` argument is cut to it
    /// and any MCP call still running then ends with an error result the model reads; a
    /// call cannot raise it [default: maxToolCallSeconds in perstack.toml, else 300].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_tool_time: Option<u64>,
    /// Env file to load (repeatable; replaces envPath): a variable already set in the
    /// environment wins, then the first file that sets it [default: envPath in
    /// perstack.toml, else .env then .env.local in the current folder].
    #[arg(long, value_name = "PATH")]
    pub env_path: Vec<PathBuf>,
    /// Pass a variable to every stdio skill and `exec` child (repeatable): NAME passes its
    /// value from the environment or the env files (as Perstack's --env NAME), NAME=VALUE
    /// sets it. Provider keys and variables that change how programs load are refused.
    #[arg(long, value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// Where the Expert runs: local (this process, the default) or docker (refused with the
    /// `docker run` commands for the hardened image; see docs/container.md). Perstack's
    /// cursor, claude-code and gemini adapters are refused.
    #[arg(long, value_enum, value_name = "RUNTIME")]
    pub runtime: Option<RuntimeArg>,
    /// Workspace folder the Expert works in; checkpoints go to <workspace>/perstack/ unless --state-dir is given [default: current folder].
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Storage location.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Send every provider and remote-skill request to `perstack proxy` over this Unix
    /// socket (unix:///run/perstack/egress.sock). The proxy holds the API key and the
    /// allowlist; no key is read here, from the environment or env files.
    #[arg(long, value_name = "unix:///PATH", env = "PERSTACK_EGRESS")]
    pub egress: Option<String>,
    /// `run`: debug logs on stderr. `start`: skill start-up and stderr lines in the transcript.
    #[arg(long)]
    pub verbose: bool,
}

/// `--runtime`: Perstack's runtime names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeArg {
    /// This process (exec and stdio skills confined).
    Local,
    /// The container image (refused, with the commands that run it).
    Docker,
    /// Perstack's Cursor adapter (not available).
    Cursor,
    /// Perstack's Claude Code adapter (not available).
    ClaudeCode,
    /// Perstack's Gemini CLI adapter (not available).
    Gemini,
}

impl RuntimeArg {
    /// The name as typed.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeArg::Local => "local",
            RuntimeArg::Docker => "docker",
            RuntimeArg::Cursor => "cursor",
            RuntimeArg::ClaudeCode => "claude-code",
            RuntimeArg::Gemini => "gemini",
        }
    }
}

/// How a run continues an earlier one (`run` and `start`).
#[derive(Debug, Clone, Default, Args)]
pub struct ResumeOptions {
    /// Job id to use for a new job [default: generated].
    #[arg(long, value_name = "ID")]
    pub job_id: Option<String>,
    /// Continue the latest job in the workspace.
    #[arg(long = "continue", conflicts_with = "continue_job")]
    pub continue_latest: bool,
    /// Continue the job with this id.
    #[arg(long, value_name = "JOB_ID")]
    pub continue_job: Option<String>,
    /// Resume from this checkpoint of the job (requires --continue-job).
    #[arg(long, value_name = "CHECKPOINT_ID", requires = "continue_job")]
    pub resume_from: Option<String>,
    /// The query is the answer to the pending interactive tool call (as in Perstack:
    /// `perstack run --continue -i expert "the answer"`): plain text, or JSON {toolCallId,
    /// toolName, skillName, text}. `--interactive-tool-call-result=ANSWER` (with `=`) gives
    /// the answer as the flag's value instead, with an empty query.
    #[arg(
        short = 'i',
        long,
        value_name = "ANSWER",
        num_args = 0..=1,
        require_equals = true
    )]
    pub interactive_tool_call_result: Option<Option<String>>,
    /// Approve a call a stoppedByApproval run waits on: it runs on resume (repeatable).
    #[arg(
        long,
        value_name = "TOOL_CALL_ID",
        conflicts_with = "interactive_tool_call_result"
    )]
    pub approve: Vec<String>,
    /// Deny a call a stoppedByApproval run waits on: the model is told it was denied (repeatable).
    #[arg(
        long,
        value_name = "TOOL_CALL_ID",
        conflicts_with = "interactive_tool_call_result"
    )]
    pub deny: Vec<String>,
    /// Why the calls given with --deny were denied; told to the model.
    #[arg(long, value_name = "TEXT", requires = "deny")]
    pub reason: Option<String>,
}

const START_AFTER_HELP: &str = "\
What it shows (stdout):
  Each step with its number, the model's text and reasoning as it streams, every tool call
  (skill, tool, a one-line summary of the arguments) and its result (errors marked), nested
  delegations indented, retries, and how the run ended with what to do next. A status line
  (step, tokens, elapsed time) is redrawn on stderr when stderr is a terminal. Colour is
  used only when stdout is a terminal and NO_COLOR is unset.
  Events are stored as with `run` (<workspace>/perstack/, or --state-dir); `perstack replay <job>` prints
  the same transcript again.

Prompts (answers are read line by line from stdin, so they can be piped):
  interactive tool   the tool's input is shown; type the answer, the run resumes with it
  approval           each waiting call is shown; answer y or n (then an optional reason)
  End of input, or --no-prompt, stops like `run` (exit 3) and prints the resume command.

Exit codes (as `perstack run`):
  0 completed, 1 error, 2 usage or configuration error, 3 stopped for an interactive tool
  or an approval, 4 maximum steps reached, 5 budget or wall-clock limit, 130/143 signals.

Arguments left out (as in Perstack, `start [expertKey] [query]`):
  on a terminal, start lists perstack.toml's Experts to choose from (by number or key) and
  asks for the query; with --continue/--continue-job the job's Expert is used and no query is
  needed (with -i the answer is asked for). Off a terminal, or with --no-prompt, a left-out
  argument is a usage error (exit 2) that names it.

Examples:
  perstack start
  perstack start writer
  perstack start writer \"Summarise notes.md\"
  perstack start --continue-job JOB -i        (asks for the answer to the waiting tool)
  echo yes | perstack start writer \"Ask me before deleting anything\"
  perstack start --continue-job JOB --approve c1 writer \"\"";

/// `perstack start`: `run`'s flags, a transcript for people instead of JSON Lines.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Key of the Expert to run. Left out: with --continue/--continue-job the job's Expert,
    /// else chosen from perstack.toml's Experts when stdin is a terminal.
    pub expert_key: Option<String>,
    /// The task for the Expert (with -i, the answer). Left out: asked for when stdin is a
    /// terminal; none when continuing a job without -i.
    pub query: Option<String>,
    /// Config, provider, limits and workspace.
    #[command(flatten)]
    pub options: RunOptions,
    /// Which job or checkpoint to continue, and with what answer.
    #[command(flatten)]
    pub resume: ResumeOptions,
    /// Accepted as `run` takes it; `start` renders a transcript either way.
    #[command(flatten)]
    pub output: OutputOptions,
    /// Do not prompt: stop for interactive tools and approvals like `run` does (exit 3).
    #[arg(long)]
    pub no_prompt: bool,
}

const REPLAY_AFTER_HELP: &str = "\
Replay reads the job's stored events (every run, in order) and renders them exactly as
`perstack start` printed them live, without calling any model. Skill start-up and stderr
lines are stored with the run that used the skill: --verbose shows them, as start did. The
commands it prints (what to do next) carry the --config/--workspace replay was given.

Branching: --resume-from CHECKPOINT [QUERY] starts a new run of the same job from that
checkpoint (as `perstack run --continue-job JOB --resume-from CHECKPOINT`), rendered like
`start`; the run flags (--config, --provider, --model, limits) apply to it. Checkpoint ids
are listed by `perstack log --job JOB --json` or shown when an id is unknown.

Exit codes:
  0    replayed (or the branched run completed)
  2    unknown job, run or checkpoint (the known ones are listed), or bad flags
  other  a branched run ends with `perstack run`'s exit codes

Examples:
  perstack replay JOB
  perstack replay JOB --run RUN
  perstack replay JOB --resume-from CHECKPOINT \"Try a shorter greeting\"";

/// `perstack replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The job to replay.
    pub job_id: String,
    /// With --resume-from: the query for the new run (optional when the checkpoint stopped
    /// for a limit, an error or a signal).
    #[arg(requires = "resume_from")]
    pub query: Option<String>,
    /// Only this run of the job.
    #[arg(long, value_name = "RUN_ID", conflicts_with = "resume_from")]
    pub run: Option<String>,
    /// Start a new run of the job from this checkpoint instead of replaying.
    #[arg(long, value_name = "CHECKPOINT_ID")]
    pub resume_from: Option<String>,
    /// Config, provider, limits and workspace (the run flags apply to --resume-from).
    #[command(flatten)]
    pub options: RunOptions,
}

const RUN_AFTER_HELP: &str = "\
Output:
  stdout carries events only, one JSON object per line (schema: `perstack schema events`).
  Logs and diagnostics go to stderr. For a readable transcript use `perstack start`.

Exit codes:
  0    completed
  1    error (provider, tool or runtime failure; see the stopRunByError event)
  2    usage or configuration error
  3    stopped for the application (interactive tool call or approval); resume with
       --continue-job and -i / --approve / --deny
  4    maximum steps reached
  5    token, cost or wall-clock budget exhausted (--max-total-tokens, --max-total-cost,
       --max-duration); the stopRunByBudget event says which; continue the job with a
       higher limit to go on
  130  interrupted (SIGINT); 143 terminated (SIGTERM) — both leave a resumable checkpoint;
       a second signal exits at once with its own code

Examples:
  perstack run writer \"Summarise notes.md\"
  perstack run --continue writer \"Now shorten it\"
  perstack run --continue-job JOB writer \"\"   (resume a stopped or killed job; a blank
       query adds no message; a job killed before its first step starts over with the query)

Variables for skills and exec (as Perstack's --env NAME; NAME=VALUE sets one):
  perstack run --env NPM_TOKEN --env REGION=eu-west-1 writer \"Publish the package\"

Runtime: --runtime local (the default) runs here; --runtime docker prints the two
`docker run` commands (perstack proxy + the hardened runner) for this Expert and exits 2.

Answering an interactive tool (the run stopped with exit 3; as in Perstack, -i makes the
query the answer):
  perstack run --continue -i writer \"blue\"
  perstack run --continue-job JOB -i writer '{\"toolCallId\":\"c1\",\"toolName\":\"ask\",\"skillName\":\"ui\",\"text\":\"yes\"}'
  perstack run --continue-job JOB --interactive-tool-call-result=blue writer \"\"

In a container, with the key held by `perstack proxy` outside it:
  perstack run --egress unix:///run/perstack/egress.sock --config /config/perstack.toml \\
       --workspace /workspace --state-dir /state writer \"Summarise notes.md\"
  (see docs/production.md; PERSTACK_EGRESS, PERSTACK_CONFIG and PERSTACK_STATE_DIR set the same)

Approval (skills with requireApproval = [\"tool\", \"prefix*\"] stop with exit 3 before the call;
the stopRunByApproval event lists the waiting calls; every one needs a decision):
  perstack run --continue-job JOB --approve c1 writer \"\"
  perstack run --continue-job JOB --deny c1 --reason \"not in production\" writer \"\"";

/// `--max-total-cost`: a finite, non-negative number of US dollars.
fn parse_usd(s: &str) -> Result<f64, String> {
    let usd: f64 = s
        .trim()
        .trim_start_matches('$')
        .parse()
        .map_err(|_| "expected an amount in US dollars, e.g. 2.50".to_string())?;
    if !usd.is_finite() || usd < 0.0 {
        return Err("the cost budget must be a finite amount of US dollars, 0 or more".into());
    }
    Ok(usd)
}
