//! What every command that runs an Expert resolves first: config, provider, limits, the
//! checkpoint to continue from and the run's input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use perstack_checkpoint::Storage;
use perstack_core::config::{
    LoadedConfig, ProviderName, ProviderTable, ReasoningBudget, load_config,
};
use perstack_core::egress::Egress;
use perstack_core::env_file::{RunEnv, process_env};
use perstack_core::{Checkpoint, CheckpointStatus, PriceTable};
use perstack_providers::HttpProvider;
use perstack_runtime::{InteractiveToolCallResult, RunInput, RunSetting, TraceInfo};
use perstack_skills::host::HostOptions;
use perstack_skills::lockfile::{LOCKFILE_NAME, Lockfile};
use sha2::{Digest, Sha256};

use crate::cli::RunArgs;
use crate::config_path;

/// Everything resolved from flags, config, env files and storage before anything runs.
pub(crate) struct Prepared {
    pub(crate) lockfile: Option<Lockfile>,
    pub(crate) setting: RunSetting,
    pub(crate) provider: HttpProvider,
    pub(crate) host_options: HostOptions,
    pub(crate) storage: Arc<Storage>,
    /// Every credential value the runtime holds plus the secret shapes, shared by every sink.
    pub(crate) redactor: Arc<perstack_sandbox::Redactor>,
    /// The confinement probe, still running: its report goes into `initializeRuntime`.
    pub(crate) probe: crate::confinement::Probe,
}

pub(crate) fn prepare(args: &RunArgs) -> Result<Prepared, String> {
    let opts = &args.options;
    let resume = &args.resume;
    let path = config_path::resolve(opts.config.as_deref()).map_err(|e| e.to_string())?;
    let loaded = load_config(&path).map_err(|e| e.to_string())?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    loaded.expert(&args.expert_key).map_err(|e| e.to_string())?;
    // Flags are checked before anything that needs credentials or the workspace.
    let budget = opts
        .reasoning_budget
        .as_deref()
        .map(|b| {
            b.parse::<ReasoningBudget>().map_err(|_| {
                format!(
                    "invalid --reasoning-budget \"{b}\": use none, minimal, low, medium, high, or a token count"
                )
            })
        })
        .transpose()?;
    if opts.max_steps == Some(0) {
        return Err("--max-steps must be at least 1".into());
    }
    super::why::check_flags(opts.max_duration)?;
    let provider_name = opts
        .provider
        .as_deref()
        .and_then(|p| p.parse::<ProviderName>().ok())
        .unwrap_or_else(|| loaded.config.provider_name());
    super::run_flags::check_runtime(args, &path, provider_name)?;
    if matches!(&args.resume.interactive_tool_call_result, Some(Some(_)))
        && !args.query.trim().is_empty()
    {
        return Err(format!(
            "--interactive-tool-call-result=... gives the answer, and the query {:?} would be \
             ignored: pass the answer once, either as the query with -i \
             (`perstack run --continue -i EXPERT \"ANSWER\"`) or as the flag's value with an \
             empty query",
            args.query
        ));
    }
    let model = opts
        .model
        .clone()
        .unwrap_or_else(|| loaded.config.model_or_default().to_string());
    if let Some(usd) = opts.max_total_cost {
        let prices = PriceTable::from_config(&loaded.config);
        if prices.get(&model).is_none() {
            return Err(format!(
                "--max-total-cost {usd}: no price is known for model \"{model}\"; add \
                 [pricing.\"{model}\"] with input and output (USD per million tokens) to {}, \
                 or run without a cost budget",
                path.display()
            ));
        }
    }
    let workspace = workspace(opts.workspace.as_deref())?;
    let run_env = run_environment(&loaded, &opts.env_path)?;
    let protected = run_env.files_to_protect(&current_dir()?, loaded.dir(), &loaded.config);
    let protected = crate::confinement::protected_files(&path, loaded.dir(), &protected);
    // The confinement probe forks and tries each layer: it runs while the rest is prepared.
    let probe = crate::confinement::Probe::start(crate::state_dir::host_options(
        &opts.storage,
        HostOptions::new(&workspace).with_protected(protected.clone()),
    ));
    // The process environment, then the env files (never written back).
    let mut env: BTreeMap<String, String> = run_env.into_vars();
    // `--env`: for every child, and visible to `requiredEnv` checks like any other variable.
    let passed = super::run_flags::passed_env(&opts.env, &env)?;
    env.extend(passed.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut config = loaded.config.clone();
    let mut redactor = crate::secrets::redactor(&config, &env);
    // `--env` values reach children as `requiredEnv` values do, and are held as secrets alike.
    for (name, value) in &passed {
        redactor.add_secret(name.as_str(), value.trim());
    }
    let redactor = Arc::new(redactor);
    crate::log_redact::install(Arc::clone(&redactor));
    let env = Arc::new(env);

    if let Some(p) = &opts.provider {
        let name = p.parse::<ProviderName>()?;
        let setting = config
            .provider
            .as_ref()
            .filter(|t| t.provider_name == name)
            .and_then(|t| t.setting.clone());
        config.provider = Some(ProviderTable {
            provider_name: name,
            setting,
            env_path: None,
        });
    }
    if let Some(n) = opts.max_retries {
        config.max_retries = Some(n);
    }
    if let Some(t) = opts.timeout {
        config.timeout = Some(t);
    }
    let egress = opts
        .egress
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(Egress::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    let storage = Arc::new(crate::state_dir::open(&opts.storage, &workspace)?);
    let (checkpoint, job_id) = continuation(args, &storage)?;
    super::why::check_continue(checkpoint.as_ref(), &args.query, &args.expert_key)?;
    let input = input(args, checkpoint.as_ref())?;
    super::why::check_required_env(&loaded, &args.expert_key, &env)?;

    let mut setting = RunSetting::from_config(&config, &args.expert_key, model, input);
    if let Some(b) = budget {
        setting.reasoning_budget = b;
    }
    if let Some(n) = opts.max_steps {
        setting.max_steps = Some(n);
    }
    setting.max_total_tokens = opts.max_total_tokens;
    setting.max_total_cost = opts.max_total_cost;
    if let Some(secs) = opts.max_duration {
        setting.max_duration = Some(Duration::from_secs(secs));
    }
    if let Some(j) = job_id.or_else(|| resume.job_id.clone()) {
        if !perstack_core::id::is_valid_id(&j) {
            return Err(format!(
                "invalid job id \"{j}\": use letters, digits, '-' and '_'"
            ));
        }
        setting.job_id = j;
    }
    // The key last: flags, job ids and input are checked first.
    let provider = HttpProvider::from_config_via(
        &config,
        &|name: &str| env.get(name).cloned(),
        egress.clone(),
    )
    .map_err(|e| {
        let choice = super::why::ProviderChoice::of(opts.provider.as_deref(), &loaded);
        super::why::provider_setup(config.provider_name(), choice, &e.to_string())
    })?;
    setting.checkpoint = checkpoint;
    setting.trace = trace(&loaded);
    let mut host_options = crate::state_dir::host_options(
        &opts.storage,
        HostOptions::new(&workspace)
            .with_env(env)
            .with_egress(egress.clone())
            .with_protected(protected),
    );
    host_options.redactor = Arc::clone(&redactor);
    host_options.base.passed_env = passed;
    // Headless: a skill asking the user stops the run; `-i` answers on resume.
    host_options.elicitation_stops = true;
    if let Some(secs) = opts.max_tool_time.or(config.max_tool_call_seconds) {
        host_options = host_options.with_max_tool_time(Duration::from_secs(secs));
    }
    setting.trace.provider_endpoint = Some(crate::confinement::provider_endpoint(&provider));
    setting.trace.egress = egress.as_ref().map(ToString::to_string);
    let lock_path = loaded.dir().join(LOCKFILE_NAME);
    let lockfile = if lock_path.exists() {
        Some(Lockfile::read(&lock_path).map_err(|e| e.to_string())?)
    } else {
        None
    };
    Ok(Prepared {
        lockfile,
        setting,
        provider,
        host_options,
        storage,
        redactor,
        probe,
    })
}

pub(crate) fn workspace(flag: Option<&Path>) -> Result<PathBuf, String> {
    let dir = match flag {
        Some(p) => p.to_path_buf(),
        None => std::env::current_dir().map_err(|e| e.to_string())?,
    };
    std::fs::canonicalize(&dir).map_err(|e| {
        format!(
            "workspace {} is not usable ({e}); create it or pass --workspace DIR",
            dir.display()
        )
    })
}

/// The process environment, then the env files (`--env-path`, else the config's `envPath`,
/// else `.env`, `.env.local`, from the current folder), as Perstack resolves it; the process
/// environment itself is never written.
pub(crate) fn environment(
    loaded: &LoadedConfig,
    flags: &[PathBuf],
) -> Result<BTreeMap<String, String>, String> {
    run_environment(loaded, flags).map(RunEnv::into_vars)
}

/// [`environment`] with the env files it names, for protecting them from tools.
pub(crate) fn run_environment(loaded: &LoadedConfig, flags: &[PathBuf]) -> Result<RunEnv, String> {
    RunEnv::resolve(&current_dir()?, flags, &loaded.config, process_env())
        .map_err(|e| e.to_string())
}

fn current_dir() -> Result<PathBuf, String> {
    std::env::current_dir().map_err(|e| format!("cannot read the current folder: {e}"))
}

/// The checkpoint to continue from and its job, for `--continue`, `--continue-job`,
/// `--resume-from`.
fn continuation(
    args: &RunArgs,
    storage: &Storage,
) -> Result<(Option<Checkpoint>, Option<String>), String> {
    let job = if args.resume.continue_latest {
        Some(storage.latest_job().map_err(|e| e.to_string())?.ok_or(
            "--continue: there is no job in this workspace yet; start one without --continue",
        )?)
    } else if let Some(id) = &args.resume.continue_job {
        Some(storage.load_job(id).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let Some(job) = job else {
        return Ok((None, None));
    };
    if args.resume.resume_from.is_none() {
        let flag = if args.resume.continue_latest {
            "--continue"
        } else {
            "--continue-job"
        };
        super::continue_guard::check(storage, &job, flag)?;
    }
    if args.resume.resume_from.is_none()
        && let Some(cp) = super::waiting::waiting_delegate(args, storage, &job)?
    {
        return Ok((Some(cp), Some(job.id)));
    }
    let checkpoint_id = match &args.resume.resume_from {
        Some(id) => id.clone(),
        None => match storage
            .list_checkpoints(&job.id)
            .map_err(|e| e.to_string())?
            .into_iter()
            .rfind(|c| c.expert_key == job.coordinator_expert_key)
        {
            Some(c) => c.id,
            // Stopped (killed) before its first run stored anything, e.g. while skills were
            // starting: the job starts over with the query given now.
            None => return Ok((None, Some(job.id))),
        },
    };
    let cp = storage
        .load_checkpoint(&job.id, &checkpoint_id)
        .map_err(|e| e.to_string())?;
    Ok((Some(cp), Some(job.id)))
}

/// The query, or the interactive tool result (`-i`: plain text, or Perstack's JSON form).
fn input(args: &RunArgs, checkpoint: Option<&Checkpoint>) -> Result<RunInput, String> {
    if !args.resume.approve.is_empty() || !args.resume.deny.is_empty() {
        return decisions(args, checkpoint);
    }
    let Some(raw) = args.interactive_answer() else {
        // A blank query adds no empty user message to a continued run (a run stopped by a
        // limit, an error or a signal resumes without one).
        if checkpoint.is_some() && args.query.trim().is_empty() {
            return Ok(RunInput::default());
        }
        return Ok(RunInput::query(args.query.clone()));
    };
    let parsed = serde_json::from_str::<serde_json::Value>(raw).ok();
    let full_form = parsed
        .as_ref()
        .is_some_and(|v| v.get("toolCallId").is_some());
    if !full_form && let Some(input) = elicitation_answer(raw, checkpoint)? {
        return Ok(input);
    }
    if let Some(v) = parsed.filter(serde_json::Value::is_object) {
        let field = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    format!(
                        "-i JSON needs a string \"{k}\" (toolCallId, toolName, skillName, text)"
                    )
                })
        };
        return Ok(RunInput::tool_result(InteractiveToolCallResult {
            tool_call_id: field("toolCallId")?,
            tool_name: field("toolName")?,
            skill_name: field("skillName")?,
            text: field("text")?,
            is_error: None,
        }));
    }
    // Plain text answers the pending interactive call of the checkpoint being continued.
    let cp = checkpoint.ok_or("-i needs --continue or --continue-job: it answers a stopped run")?;
    if cp.status != CheckpointStatus::StoppedByInteractiveTool {
        return Err(format!(
            "-i: the checkpoint {} is {:?}, not waiting for an interactive tool",
            cp.id, cp.status
        ));
    }
    let call = cp
        .pending_tool_calls
        .as_ref()
        .and_then(|p| p.first())
        .ok_or("-i: the checkpoint has no pending tool call")?;
    Ok(RunInput::tool_result(InteractiveToolCallResult {
        tool_call_id: call.id.clone(),
        tool_name: call.tool_name.clone(),
        skill_name: call.skill_name.clone(),
        text: raw.to_string(),
        is_error: None,
    }))
}

/// The answer to a skill's question (`decline`, `cancel` or a JSON object of fields) when
/// the checkpoint waits for one: it goes to the asking call, which runs again.
fn elicitation_answer(
    raw: &str,
    checkpoint: Option<&Checkpoint>,
) -> Result<Option<RunInput>, String> {
    use perstack_core::elicitation::{ElicitationReply, ElicitationState};
    let Some(cp) = checkpoint.filter(|c| c.status == CheckpointStatus::StoppedByInteractiveTool)
    else {
        return Ok(None);
    };
    let Some(state) = ElicitationState::of(cp).filter(|s| s.pending.is_some()) else {
        return Ok(None);
    };
    ElicitationReply::parse(raw).map_err(|e| format!("-i: {e}"))?;
    Ok(Some(RunInput::tool_result(InteractiveToolCallResult {
        tool_call_id: state.tool_call_id,
        tool_name: state.tool_name,
        skill_name: state.skill_name,
        text: raw.to_string(),
        is_error: None,
    })))
}

/// `--approve` / `--deny` decisions for a run stopped for approval; a non-blank query is
/// added as a user message.
fn decisions(args: &RunArgs, checkpoint: Option<&Checkpoint>) -> Result<RunInput, String> {
    let cp = checkpoint.ok_or(
        "--approve/--deny need --continue or --continue-job: they decide on a stopped run",
    )?;
    if cp.status != CheckpointStatus::StoppedByApproval {
        return Err(format!(
            "--approve/--deny: the checkpoint {} is {:?}, not waiting for approval",
            cp.id, cp.status
        ));
    }
    let mut input = RunInput {
        text: (!args.query.trim().is_empty()).then(|| args.query.clone()),
        ..RunInput::default()
    };
    for id in &args.resume.approve {
        input = input.approve(id.clone());
    }
    for id in &args.resume.deny {
        input = input.deny(id.clone(), args.resume.reason.clone());
    }
    Ok(input)
}

fn trace(loaded: &LoadedConfig) -> TraceInfo {
    let sha = |bytes: &[u8]| format!("sha256:{:x}", Sha256::digest(bytes));
    // Bounded: a lockfile that cannot be read is reported by `Lockfile::read`.
    let lock = perstack_core::input_file::read_input_file(
        &loaded.dir().join(LOCKFILE_NAME),
        perstack_core::input_file::InputFile::Lockfile,
    )
    .ok();
    TraceInfo {
        git_revision: option_env!("PERSTACK_GIT_REVISION").map(str::to_string),
        config_hash: Some(sha(loaded.source.as_bytes())),
        lockfile_hash: lock.as_deref().map(str::as_bytes).map(sha),
        egress: None,
        confinement: None,
        provider_endpoint: None,
    }
}
