//! `perstack run`: resolves and checks everything a run needs. The agent loop itself arrives
//! with the runtime crate; until then the command stops after the checks and says so.

use perstack_core::config::{ProviderName, ReasoningBudget, ReasoningLevel, load_config};
use perstack_core::env_file::EnvFiles;

use crate::cli::RunArgs;
use crate::{config_path, exit};

pub fn run(args: &RunArgs) -> u8 {
    match prepare(args) {
        Ok(summary) => {
            tracing::info!("{summary}");
            eprintln!(
                "perstack run: configuration checked ({summary}), but this build has no agent runtime yet; \
                 it arrives with the perstack-runtime crate. Nothing was executed."
            );
            exit::ERROR
        }
        Err(message) => {
            eprintln!("error: {message}");
            exit::USAGE
        }
    }
}

/// Everything `run` can check before the runtime: config, expert, flags, env files.
fn prepare(args: &RunArgs) -> Result<String, String> {
    let path = config_path::resolve(args.config.as_deref()).map_err(|e| e.to_string())?;
    let loaded = load_config(&path).map_err(|e| e.to_string())?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let expert = loaded.expert(&args.expert_key).map_err(|e| e.to_string())?;
    let provider = match &args.provider {
        Some(p) => p.parse::<ProviderName>()?,
        None => loaded.config.provider_name(),
    };
    let budget = match &args.reasoning_budget {
        Some(b) => parse_reasoning_budget(b)?,
        None => loaded.config.reasoning_budget(),
    };
    let model = args
        .model
        .clone()
        .or_else(|| loaded.config.model.clone())
        .ok_or("no model given: set `model` in perstack.toml or pass --model")?;
    if args.max_steps == Some(0) {
        return Err("--max-steps must be at least 1".into());
    }
    let env_paths: Vec<String> = if args.env_path.is_empty() {
        loaded.config.env_paths()
    } else {
        args.env_path
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    };
    let env = EnvFiles::load(loaded.dir(), &env_paths).map_err(|e| e.to_string())?;
    Ok(format!(
        "expert {}@{}, provider {provider}, model {model}, reasoning {budget:?}, {} env file(s)",
        args.expert_key,
        expert.version_or_default(),
        env.loaded().len()
    ))
}

/// `--reasoning-budget`: a level name or a token count.
pub fn parse_reasoning_budget(s: &str) -> Result<ReasoningBudget, String> {
    let level = match s {
        "none" => Some(ReasoningLevel::None),
        "minimal" => Some(ReasoningLevel::Minimal),
        "low" => Some(ReasoningLevel::Low),
        "medium" => Some(ReasoningLevel::Medium),
        "high" => Some(ReasoningLevel::High),
        _ => None,
    };
    if let Some(l) = level {
        return Ok(ReasoningBudget::Level(l));
    }
    s.parse::<u32>().map(ReasoningBudget::Tokens).map_err(|_| {
        format!("invalid --reasoning-budget \"{s}\": use none, minimal, low, medium, high, or a token count")
    })
}
