//! Failing fast and saying why: the one human line a run that exits non-zero prints on
//! stderr (what happened, what to do), and the input checks made before any event.

use std::collections::{BTreeMap, BTreeSet};

use perstack_core::config::{LoadedConfig, ProviderName, SkillConfig};
use perstack_core::{Checkpoint, CheckpointStatus};
use perstack_runtime::RunOutcome;

/// How the provider of a run was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProviderChoice {
    /// `--provider`.
    Flag,
    /// `[provider]` in perstack.toml.
    Config,
    /// Neither: Perstack's default.
    Default,
}

impl ProviderChoice {
    pub(crate) fn of(flag: Option<&str>, loaded: &LoadedConfig) -> Self {
        if flag.is_some() {
            ProviderChoice::Flag
        } else if loaded.config.provider.is_some() {
            ProviderChoice::Config
        } else {
            ProviderChoice::Default
        }
    }

    fn words(self) -> &'static str {
        match self {
            ProviderChoice::Flag => "chosen with --provider",
            ProviderChoice::Config => "set in perstack.toml [provider]",
            ProviderChoice::Default => {
                "the default: no --provider and no [provider] in perstack.toml"
            }
        }
    }
}

/// The variable that holds `provider`'s API key, when it has one.
pub(crate) fn key_var(provider: ProviderName) -> Option<&'static str> {
    match provider {
        ProviderName::Anthropic => Some("ANTHROPIC_API_KEY"),
        ProviderName::Google => Some("GOOGLE_GENERATIVE_AI_API_KEY"),
        ProviderName::OpenAi => Some("OPENAI_API_KEY"),
        ProviderName::AzureOpenAi => Some("AZURE_API_KEY"),
        ProviderName::Deepseek => Some("DEEPSEEK_API_KEY"),
        ProviderName::Ollama | ProviderName::AmazonBedrock | ProviderName::GoogleVertex => None,
    }
}

/// The message for a provider that cannot be built: which provider and why, and — for a
/// missing key — every way to give one.
pub(crate) fn provider_setup(
    provider: ProviderName,
    choice: ProviderChoice,
    error: &str,
) -> String {
    let Some(var) = key_var(provider).filter(|v| error.ends_with(&format!("{v} is not set")))
    else {
        return error.to_string();
    };
    format!(
        "no API key for provider {provider} ({}): {var} is not set. Give one with \
         `export {var}=...`, an env file (`--env-path .env` or envPath in perstack.toml), \
         another provider with `--provider` (e.g. `--provider ollama`, no key), or \
         `perstack proxy` holding the key outside the sandbox (`--egress`)",
        choice.words()
    )
}

/// Input checks before any event: `--max-duration 0`.
pub(crate) fn check_flags(max_duration: Option<u64>) -> Result<(), String> {
    if max_duration == Some(0) {
        return Err("--max-duration must be at least 1 (seconds); omit it for no limit".into());
    }
    Ok(())
}

/// Continuing a completed job needs a new query: there is nothing left to do otherwise.
pub(crate) fn check_continue(
    checkpoint: Option<&Checkpoint>,
    query: &str,
    expert_key: &str,
) -> Result<(), String> {
    match checkpoint {
        Some(cp) if cp.status == CheckpointStatus::Completed && query.trim().is_empty() => {
            Err(format!(
                "job \"{job}\" is completed: continuing it needs a query, e.g. \
                 `perstack run --continue-job {job} {expert_key} \"what to do next\"`",
                job = cp.job_id
            ))
        }
        Some(_) | None => Ok(()),
    }
}

/// Every `requiredEnv` of the skills of `expert_key` and the Experts it delegates to must be
/// set (process environment or env files) before the run starts.
pub(crate) fn check_required_env(
    loaded: &LoadedConfig,
    expert_key: &str,
    env: &BTreeMap<String, String>,
) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![expert_key.to_string()];
    while let Some(key) = todo.pop() {
        if !seen.insert(key.clone()) {
            continue;
        }
        let Some(expert) = loaded.config.experts.get(&key) else {
            continue;
        };
        for (skill, config) in expert.skills.iter().flatten() {
            let SkillConfig::McpStdioSkill(stdio) = config else {
                continue;
            };
            for var in stdio.required_env.iter().flatten() {
                if !env.contains_key(var) {
                    return Err(format!(
                        "environment variable {var} is not set: skill \"{skill}\" of Expert \
                         \"{key}\" lists it in requiredEnv; export it or put it in an env file \
                         (--env-path or envPath in perstack.toml)"
                    ));
                }
            }
        }
        todo.extend(expert.delegates.iter().flatten().cloned());
    }
    Ok(())
}

/// What the run was, for the line printed when it exits non-zero.
pub(crate) struct RunFacts {
    pub(crate) provider: ProviderName,
    pub(crate) expert_key: String,
    pub(crate) max_steps: Option<u32>,
}

/// One line on stderr for a run that stopped without completing: what happened and what to
/// do; `None` when it completed. `budget` is the `stopRunByBudget` reason, when one came.
pub(crate) fn exit_line(
    outcome: &RunOutcome,
    facts: &RunFacts,
    budget: Option<&str>,
    signal: Option<&str>,
) -> Option<String> {
    let cp = &outcome.checkpoint;
    let job = &cp.job_id;
    let resume = format!(
        "`perstack run --continue-job {job} {} \"\"`",
        facts.expert_key
    );
    let line = match cp.status {
        CheckpointStatus::Completed => return None,
        CheckpointStatus::StoppedByError => {
            let error = cp.error.as_ref();
            let message = error.map_or("unknown error", |e| e.message.as_str());
            match error.and_then(|e| e.status_code) {
                Some(status @ (401 | 403)) => {
                    let check = key_var(facts.provider).map_or_else(
                        || "check the provider's credentials".to_string(),
                        |var| format!("check {var} (environment or env file)"),
                    );
                    format!(
                        "{} rejected the credentials (HTTP {status}): {check}; trying again \
                         with the same key will fail the same way. Details: {message}",
                        facts.provider
                    )
                }
                _ => format!(
                    "the run stopped with an error: {message}. Job {job} is stored; fix the cause and continue it with {resume}"
                ),
            }
        }
        CheckpointStatus::StoppedByExceededMaxSteps => format!(
            "stopped at step {}: the step limit (--max-steps {}) was reached; raise \
             --max-steps (or maxSteps in perstack.toml) or continue with {resume}",
            cp.step_number,
            facts
                .max_steps
                .map_or_else(|| "?".to_string(), |n| n.to_string())
        ),
        CheckpointStatus::StoppedByBudget => format!(
            "stopped by a budget: {}; raise that limit or continue with {resume}",
            budget.unwrap_or("a limit was reached")
        ),
        CheckpointStatus::StoppedBySignal => format!(
            "stopped by {}; a resumable checkpoint was written: continue with {resume}",
            signal.unwrap_or("a signal")
        ),
        CheckpointStatus::StoppedByInteractiveTool | CheckpointStatus::StoppedByApproval => {
            format!(
                "stopped waiting for you (an interactive tool or an approval): answer with \
                 `perstack run --continue-job {job} -i {} \"ANSWER\"` or --approve/--deny",
                facts.expert_key
            )
        }
        CheckpointStatus::StoppedByDelegate
        | CheckpointStatus::Init
        | CheckpointStatus::Proceeding => {
            format!("the run ended unfinished; continue it with {resume}")
        }
    };
    Some(format!("error: {line}"))
}
