//! A small MCP client built on the skill host, for the official MCP client conformance
//! suite (test tooling, not part of the product): `perstack-mcp-conformance-client <url>`.
//! It connects to `<url>` as a remote skill (streamable HTTP), lists the tools and calls
//! each one (`add_numbers` with `{a: 5, b: 3}`, others with `{}`), then shuts down. The
//! suite's server runs on `localhost`, so the test-only loopback allowance is used.

use std::process::ExitCode;
use std::sync::Arc;

use perstack_core::config::{ExpertConfig, RemoteSkill, SkillConfig};
use perstack_skills::host::{CallOutcome, HostOptions, NoEvents, SkillHost};
use serde_json::{Map, Value, json};

fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: perstack-mcp-conformance-client <server-url>");
        return ExitCode::from(2);
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("cannot start the async runtime");
        return ExitCode::FAILURE;
    };
    match runtime.block_on(run(&url)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance client: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str) -> Result<(), String> {
    // The allowance covers loopback literals only.
    let endpoint = url.replacen("://localhost", "://127.0.0.1", 1);
    let workspace = std::env::temp_dir();
    let mut options = HostOptions::new(&workspace);
    options.loopback_remote_skills_for_tests = true;
    let mut skills = indexmap::IndexMap::new();
    skills.insert(
        "server".to_string(),
        SkillConfig::McpSseSkill(RemoteSkill {
            endpoint,
            ..RemoteSkill::default()
        }),
    );
    let expert = ExpertConfig {
        instruction: "conformance".into(),
        skills: Some(skills),
        ..ExpertConfig::default()
    };
    let host = SkillHost::start(
        &expert,
        &indexmap::IndexMap::new(),
        options,
        Arc::new(NoEvents),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut failed = None;
    for tool in host.tool_definitions() {
        let args = match tool.name.as_str() {
            "add_numbers" => json!({"a": 5, "b": 3}),
            _ => json!({}),
        };
        let Value::Object(args) = args else {
            continue;
        };
        let outcome = host.call("1", &tool.name, args as Map<String, Value>).await;
        match outcome {
            CallOutcome::Result(out) => {
                eprintln!(
                    "{} -> {:?} (isError {})",
                    tool.name, out.result.result, out.is_error
                );
                if out.is_error {
                    failed.get_or_insert(format!("tool {} answered with an error", tool.name));
                }
            }
            CallOutcome::Interactive(_) | CallOutcome::Delegate(_) => {}
        }
    }
    host.shutdown().await;
    match failed {
        None => Ok(()),
        Some(e) => Err(e),
    }
}
