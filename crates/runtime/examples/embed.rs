//! Embedding perstack: a runtime built from a `perstack.toml` and from code, a provider
//! pointed at a base URL from code, a listener, many executions at once, and the skill host
//! shut down at the end. Offline: the model is the project's scripted LLM server.
//!
//! ```sh
//! cargo run -p perstack-runtime --example embed            # 50 executions
//! cargo run -p perstack-runtime --example embed -- 200     # or as many as you like
//! ```

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use perstack_runtime::embed::*;
use perstack_testkit::scripted_llm::{ScriptedLlm, Turn};
use serde_json::json;

/// The same Expert as text, as a `perstack.toml` would hold it.
const PERSTACK_TOML: &str = r#"
model = "gpt-4o-mini"
maxSteps = 5
[provider]
providerName = "openai"
[experts."greeter"]
instruction = "Greet the user, then call attemptCompletion."
"#;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let executions: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 50,
    };

    // The model: one turn per execution (text, then attemptCompletion ends the run).
    let turn = || Turn {
        text: Some("Hello!".into()),
        ..Turn::call("attemptCompletion", json!({}))
    };
    let llm = ScriptedLlm::start((0..executions).map(|_| turn()).collect())?;

    // 1. A config from text, validated like `perstack validate` does.
    let (from_file, warnings) = parse_config("perstack.toml", PERSTACK_TOML)
        .map_err(|d| format!("perstack.toml is invalid: {d:?}"))?;
    for w in &warnings {
        writeln!(std::io::stderr(), "{w}")?;
    }
    // 2. The same config built in code, checked with the same rules.
    let mut config = PerstackConfig {
        model: Some("gpt-4o-mini".into()),
        max_steps: Some(5),
        ..PerstackConfig::default()
    };
    config.provider = from_file.provider.clone();
    config.experts = from_file.experts.clone();
    validate(&config).map_err(|d| format!("config built in code is invalid: {d:?}"))?;

    // The provider: base URL and key from code, no environment variable read.
    let provider = HttpProvider::from_config_at(
        &config,
        Some(&llm.base_url),
        Some(Secret::new("sk-embedder")),
    )?;

    // Skills (the base skill runs in-process), storage outside the workspace, a listener.
    let dir = tempfile::tempdir()?;
    let workspace = dir.path().join("workspace");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&workspace)?;
    let skills = Arc::new(SkillHostFactory::new(
        config.experts.clone(),
        HostOptions::new(&workspace).with_storage_outside_workspace(),
    ));
    let storage = Arc::new(Storage::in_state_dir(&state, &workspace)?);
    let completed = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&completed);
    let listener = move |e: &Event| {
        if e.type_name() == "completeRun" {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    };
    let runtime = Arc::new(
        Runtime::new(Arc::new(provider), Arc::clone(&skills) as _)
            .with_storage(Arc::clone(&storage))
            .with_listener(Arc::new(listener)),
    );

    // Many executions at once on one runtime; each is its own job.
    let model = config.model.clone().unwrap_or_default();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..executions {
        let runtime = Arc::clone(&runtime);
        let setting = RunSetting::from_config(
            &config,
            "greeter",
            &model,
            RunInput::query(format!("Greet visitor {i}")),
        );
        tasks.spawn(async move { runtime.run(setting).await });
    }
    let mut ok = 0;
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined??;
        if outcome.exit_code() == 0 {
            ok += 1;
        }
    }
    skills.shutdown().await;

    let jobs = storage.list_jobs()?;
    writeln!(
        std::io::stdout(),
        "{ok}/{executions} executions completed; {} completeRun events; {} jobs stored; {} model calls",
        completed.load(Ordering::SeqCst),
        jobs.len(),
        llm.served()
    )?;
    if ok != executions || jobs.len() != executions {
        return Err("not every execution completed".into());
    }
    Ok(())
}
