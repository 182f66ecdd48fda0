//! `perstack run`: one Expert execution, every event as one JSON line on stdout.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use perstack_checkpoint::Storage;
use perstack_core::config::{
    LoadedConfig, ProviderName, ProviderTable, ReasoningBudget, load_config,
};
use perstack_core::env_file::EnvFiles;
use perstack_core::{Checkpoint, CheckpointStatus, Job, JobStatus};
use perstack_events::{Event, JsonlWriter};
use perstack_providers::HttpProvider;
use perstack_runtime::{
    InteractiveToolCallResult, RunInput, RunSetting, Runtime, SkillHostFactory, StopSignal,
    TraceInfo, waiting_checkpoints,
};
use perstack_skills::host::HostOptions;
use perstack_skills::lockfile::{LOCKFILE_NAME, Lockfile};
use sha2::{Digest, Sha256};

use crate::cli::RunArgs;
use crate::{config_path, exit};

pub fn run(args: &RunArgs) -> u8 {
    let prepared = match prepare(args) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::ERROR;
        }
    };
    runtime.block_on(execute(prepared))
}

/// Everything resolved from flags, config, env files and storage before anything runs.
struct Prepared {
    lockfile: Option<Lockfile>,
    setting: RunSetting,
    provider: HttpProvider,
    host_options: HostOptions,
    storage: Arc<Storage>,
}

fn prepare(args: &RunArgs) -> Result<Prepared, String> {
    let path = config_path::resolve(args.config.as_deref()).map_err(|e| e.to_string())?;
    let loaded = load_config(&path).map_err(|e| e.to_string())?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    loaded.expert(&args.expert_key).map_err(|e| e.to_string())?;
    // Flags are checked before anything that needs credentials or the workspace.
    let budget = args
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
    if args.max_steps == Some(0) {
        return Err("--max-steps must be at least 1".into());
    }
    let workspace = workspace(args.workspace.as_deref())?;
    let env_paths: Vec<String> = if args.env_path.is_empty() {
        loaded.config.env_paths()
    } else {
        args.env_path
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    };
    let env_files = EnvFiles::load(loaded.dir(), &env_paths).map_err(|e| e.to_string())?;
    // The process environment, overlaid by the env files (never written back).
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    env.extend(env_files.vars().iter().map(|(k, v)| (k.clone(), v.clone())));
    let env = Arc::new(env);

    let mut config = loaded.config.clone();
    if let Some(p) = &args.provider {
        let name = p.parse::<ProviderName>()?;
        let setting = config
            .provider
            .as_ref()
            .filter(|t| t.provider_name == name)
            .and_then(|t| t.setting.clone());
        config.provider = Some(ProviderTable {
            provider_name: name,
            setting,
        });
    }
    if let Some(n) = args.max_retries {
        config.max_retries = Some(n);
    }
    if let Some(t) = args.timeout {
        config.timeout = Some(t);
    }
    let provider = HttpProvider::from_config(&config, &|name: &str| env.get(name).cloned())
        .map_err(|e| e.to_string())?;
    let model = args
        .model
        .clone()
        .or_else(|| config.model.clone())
        .ok_or("no model given: set `model` in perstack.toml or pass --model")?;
    let storage = Arc::new(Storage::new(&workspace));
    let (checkpoint, job_id) = continuation(args, &storage)?;
    let input = input(args, checkpoint.as_ref())?;

    let mut setting = RunSetting::from_config(&config, &args.expert_key, model, input);
    if let Some(b) = budget {
        setting.reasoning_budget = b;
    }
    if let Some(n) = args.max_steps {
        setting.max_steps = Some(n);
    }
    setting.max_total_tokens = args.max_total_tokens;
    if let Some(secs) = args.max_duration {
        setting.max_duration = Some(Duration::from_secs(secs));
    }
    if let Some(j) = job_id.or_else(|| args.job_id.clone()) {
        if !perstack_core::id::is_valid_id(&j) {
            return Err(format!(
                "invalid job id \"{j}\": use letters, digits, '-' and '_'"
            ));
        }
        setting.job_id = j;
    }
    setting.checkpoint = checkpoint;
    setting.trace = trace(&loaded);
    let host_options = HostOptions::new(&workspace).with_env(env);
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
    })
}

pub fn workspace(flag: Option<&Path>) -> Result<PathBuf, String> {
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

/// The process environment overlaid by the env files (`--env-path`, else the config's
/// `envPath`); the process environment itself is never written.
pub fn environment(
    loaded: &LoadedConfig,
    flags: &[PathBuf],
) -> Result<BTreeMap<String, String>, String> {
    let env_paths: Vec<String> = if flags.is_empty() {
        loaded.config.env_paths()
    } else {
        flags.iter().map(|p| p.display().to_string()).collect()
    };
    let env_files = EnvFiles::load(loaded.dir(), &env_paths).map_err(|e| e.to_string())?;
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    env.extend(env_files.vars().iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(env)
}

/// The checkpoint to continue from and its job, for `--continue`, `--continue-job`,
/// `--resume-from`.
fn continuation(
    args: &RunArgs,
    storage: &Storage,
) -> Result<(Option<Checkpoint>, Option<String>), String> {
    let job = if args.continue_latest {
        Some(storage.latest_job().map_err(|e| e.to_string())?.ok_or(
            "--continue: there is no job in this workspace yet; start one without --continue",
        )?)
    } else if let Some(id) = &args.continue_job {
        Some(storage.load_job(id).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let Some(job) = job else {
        return Ok((None, None));
    };
    if args.resume_from.is_none()
        && let Some(cp) = waiting_delegate(args, storage, &job)?
    {
        return Ok((Some(cp), Some(job.id)));
    }
    let checkpoint_id = match &args.resume_from {
        Some(id) => id.clone(),
        None => storage
            .list_checkpoints(&job.id)
            .map_err(|e| e.to_string())?
            .into_iter()
            .rfind(|c| c.expert_key == job.coordinator_expert_key)
            .map(|c| c.id)
            .ok_or_else(|| format!("job {} has no checkpoint to continue from", job.id))?,
    };
    let cp = storage
        .load_checkpoint(&job.id, &checkpoint_id)
        .map_err(|e| e.to_string())?;
    Ok((Some(cp), Some(job.id)))
}

/// For a job stopped for the application inside a delegate: the delegate's checkpoint to
/// resume, the one that waits for the calls named by `--approve`/`--deny`/`-i` JSON, else the
/// one the job reported first.
fn waiting_delegate(
    args: &RunArgs,
    storage: &Storage,
    job: &Job,
) -> Result<Option<Checkpoint>, String> {
    if !matches!(
        job.status,
        JobStatus::StoppedByInteractiveTool | JobStatus::StoppedByApproval
    ) {
        return Ok(None);
    }
    let mut waiting = waiting_checkpoints(storage, &job.id).map_err(|e| e.to_string())?;
    let answered = args
        .interactive_tool_call_result
        .as_deref()
        .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw).ok())
        .and_then(|v| v.get("toolCallId")?.as_str().map(str::to_string));
    let named: Vec<&str> = args
        .approve
        .iter()
        .chain(&args.deny)
        .map(String::as_str)
        .chain(answered.as_deref())
        .collect();
    let chosen = waiting
        .iter()
        .position(|cp| {
            cp.pending_tool_calls
                .iter()
                .flatten()
                .any(|c| named.contains(&c.id.as_str()))
        })
        .unwrap_or(0);
    Ok((chosen < waiting.len()).then(|| waiting.swap_remove(chosen)))
}

/// The query, or the interactive tool result (`-i`: plain text, or Perstack's JSON form).
fn input(args: &RunArgs, checkpoint: Option<&Checkpoint>) -> Result<RunInput, String> {
    if !args.approve.is_empty() || !args.deny.is_empty() {
        return decisions(args, checkpoint);
    }
    let Some(raw) = &args.interactive_tool_call_result else {
        return Ok(RunInput::query(args.query.clone()));
    };
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(raw)
        && v.is_object()
    {
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
        text: raw.clone(),
        is_error: None,
    }))
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
    for id in &args.approve {
        input = input.approve(id.clone());
    }
    for id in &args.deny {
        input = input.deny(id.clone(), args.reason.clone());
    }
    Ok(input)
}

fn trace(loaded: &LoadedConfig) -> TraceInfo {
    let sha = |bytes: &[u8]| format!("sha256:{:x}", Sha256::digest(bytes));
    let lock = std::fs::read(loaded.dir().join(LOCKFILE_NAME)).ok();
    TraceInfo {
        git_revision: option_env!("PERSTACK_GIT_REVISION").map(str::to_string),
        config_hash: Some(sha(loaded.source.as_bytes())),
        lockfile_hash: lock.as_deref().map(sha),
    }
}

async fn execute(p: Prepared) -> u8 {
    let mut factory = SkillHostFactory::new(p.setting.experts.clone(), p.host_options);
    if let Some(lock) = p.lockfile {
        factory = factory.with_lockfile(lock);
    }
    let factory = Arc::new(factory);
    let out = Arc::new(Mutex::new(JsonlWriter::new(std::io::stdout())));
    let listener = {
        let out = Arc::clone(&out);
        Arc::new(move |e: &Event| {
            let mut w = out.lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(err) = w.write(e) {
                tracing::error!("{err}");
            }
        })
    };
    let runtime = Runtime::new(Arc::new(p.provider), factory.clone())
        .with_storage(Arc::clone(&p.storage))
        .with_listener(listener);
    let stop = StopSignal::new();
    let signals = tokio::spawn(watch_signals(stop.clone()));
    let result = runtime.run_with_stop(p.setting, stop.clone()).await;
    signals.abort();
    factory.shutdown().await;
    let _ = std::io::stdout().flush();
    match result {
        Ok(outcome) => {
            if outcome.status() == CheckpointStatus::StoppedBySignal
                && stop.fired().as_deref() == Some("SIGINT")
            {
                return 130;
            }
            u8::try_from(outcome.exit_code()).unwrap_or(exit::ERROR)
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::ERROR
        }
    }
}

/// First SIGTERM/SIGINT: stop with a resumable checkpoint. Second: exit at once.
async fn watch_signals(stop: StopSignal) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    let mut first = true;
    loop {
        let (name, code) = tokio::select! {
            _ = term.recv() => ("SIGTERM", 143),
            _ = int.recv() => ("SIGINT", 130),
        };
        if !first {
            eprintln!("{name} again: exiting now");
            std::process::exit(code);
        }
        first = false;
        eprintln!(
            "{name}: stopping; a resumable checkpoint is being written (send again to exit at once)"
        );
        stop.stop(name);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::Parser;
    use perstack_checkpoint::{SuspendedDelegation, WaitingDelegate};
    use perstack_core::{ExpertRef, ToolCall, Usage};

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(flags: &[&str]) -> RunArgs {
        let argv = ["perstack", "run", "--continue-job", "job1"]
            .iter()
            .chain(flags)
            .chain(&["main", ""]);
        let Command::Run(a) = Cli::parse_from(argv).command else {
            panic!("not a run command")
        };
        *a
    }

    fn waiting(storage: &Storage, id: &str, expert: &str, call: &str) -> WaitingDelegate {
        let expert = ExpertRef {
            key: expert.into(),
            name: expert.into(),
            version: "1.0.0".into(),
        };
        let mut cp = Checkpoint::init(id, "job1", "run1", expert);
        cp.status = CheckpointStatus::StoppedByApproval;
        cp.pending_tool_calls = Some(vec![ToolCall {
            id: call.into(),
            skill_name: "tools".into(),
            tool_name: "exec".into(),
            args: serde_json::Map::new(),
        }]);
        storage.store_checkpoint(&cp).unwrap();
        WaitingDelegate {
            tool_call_id: format!("d-{call}"),
            checkpoint_id: id.into(),
            usage: Usage::default(),
            step_number: 2,
        }
    }

    #[test]
    fn a_job_waiting_in_delegates_resumes_the_delegate_named_by_the_decision() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new(dir.path());
        let mut job = Job {
            id: "job1".into(),
            status: JobStatus::StoppedByApproval,
            coordinator_expert_key: "main".into(),
            total_steps: 2,
            max_steps: None,
            usage: Usage::default(),
            started_at: 1,
            finished_at: None,
        };
        storage.store_job(&job).unwrap();
        let record = SuspendedDelegation {
            parent_checkpoint_id: "parent".into(),
            root: true,
            finished: Vec::new(),
            waiting: vec![
                waiting(&storage, "cpA", "helper", "c1"),
                waiting(&storage, "cpB", "other", "c2"),
            ],
        };
        storage.store_suspended("job1", &record).unwrap();
        let pick = |flags: &[&str], job: &Job| {
            waiting_delegate(&args(flags), &storage, job)
                .unwrap()
                .map(|c| c.id)
        };
        assert_eq!(pick(&["--approve", "c2"], &job).as_deref(), Some("cpB"));
        assert_eq!(pick(&["--deny", "c1"], &job).as_deref(), Some("cpA"));
        assert_eq!(pick(&[], &job).as_deref(), Some("cpA"));
        let json = r#"{"toolCallId":"c2","toolName":"exec","skillName":"tools","text":"x"}"#;
        assert_eq!(pick(&["-i", json], &job).as_deref(), Some("cpB"));
        job.status = JobStatus::Completed;
        assert_eq!(pick(&[], &job), None);
    }
}
