//! `perstack.lock`: generation from live skills, round trip, and runs that start from it.

// Test code: panicking helpers are fine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use indexmap::IndexMap;
use perstack_core::ToolDefinition;
use perstack_core::config::{ExpertConfig, PerstackConfig};
use perstack_skills::host::{LockMismatch, SkillHost};
use perstack_skills::lockfile::{Lockfile, collect};
use pretty_assertions::assert_eq;
use serde_json::json;

fn config() -> PerstackConfig {
    let mut experts = IndexMap::new();
    experts.insert(
        "plain".to_string(),
        ExpertConfig {
            instruction: "base only".into(),
            ..ExpertConfig::default()
        },
    );
    let mut with_skill = expert_with(vec![("t", test_server_skill(&[]))]);
    with_skill.delegates = Some(vec!["plain".into()]);
    with_skill.description = Some("uses the test server".into());
    experts.insert("@team/tester@1.2.0".to_string(), with_skill);
    PerstackConfig {
        experts,
        ..PerstackConfig::default()
    }
}

#[tokio::test]
async fn install_records_every_experts_mcp_tools_and_round_trips() {
    let ws = workspace();
    let lock = collect(&config(), ws.root.join("perstack.toml"), &options(&ws))
        .await
        .unwrap();
    assert_eq!(lock.version, "1");
    let plain = lock.tools_of("plain").unwrap();
    assert_eq!(plain.len(), perstack_skills::base::BASE_TOOL_NAMES.len());
    assert!(plain.iter().all(|t| t.skill_name == "@perstack/base"));
    let tester = &lock.experts["@team/tester@1.2.0"];
    assert_eq!(
        (tester.name.as_str(), tester.version.as_str()),
        ("@team/tester", "1.0.0")
    );
    assert_eq!(tester.delegates, vec!["plain"]);
    assert_eq!(tester.skills["t"]["type"], "mcpStdioSkill");
    assert_eq!(tester.skills["t"]["name"], "t");
    let mut names: Vec<&str> = tester
        .tool_definitions
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    names.sort();
    // MCP tools only: the delegate tool is not locked.
    assert_eq!(names.len(), 12);
    assert!(!names.contains(&"plain"));

    let path = ws.root.join("perstack.lock");
    lock.write(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("version = \"1\"\n"), "{text}");
    assert_eq!(Lockfile::read(&path).unwrap(), lock);
}

#[test]
fn reads_a_perstack_style_lockfile() {
    let text = r#"
version = "1"
generatedAt = 1700000000000
configPath = "/app/perstack.toml"

[experts."my-expert"]
key = "my-expert"
name = "my-expert"
version = "1.0.0"
instruction = "Do things"
delegates = []
tags = []

[experts."my-expert".skills."@perstack/base"]
type = "mcpStdioSkill"
name = "@perstack/base"
command = "npx"
args = ["-y", "@perstack/base"]
pick = []
omit = []
requiredEnv = []
lazyInit = false

[[experts."my-expert".toolDefinitions]]
skillName = "@perstack/base"
name = "readTextFile"
description = "Read a file"

[experts."my-expert".toolDefinitions.inputSchema]
type = "object"
"#;
    let lock = Lockfile::parse(text).unwrap();
    assert_eq!(
        lock.tools_of("my-expert").unwrap(),
        &[ToolDefinition {
            skill_name: "@perstack/base".into(),
            name: "readTextFile".into(),
            description: Some("Read a file".into()),
            input_schema: json!({"type": "object"}).into(),
        }]
    );
    assert!(
        Lockfile::parse(&text.replace("version = \"1\"\ngen", "version = \"2\"\ngen")).is_err()
    );
}

async fn locked_tools(ws: &Ws) -> Vec<ToolDefinition> {
    let lock = collect(&config(), ws.root.join("perstack.toml"), &options(ws))
        .await
        .unwrap();
    lock.tools_of("@team/tester@1.2.0").unwrap().to_vec()
}

#[tokio::test]
async fn a_locked_run_offers_tools_before_the_skill_is_up_and_calls_wait_for_it() {
    let ws = workspace();
    let locked = locked_tools(&ws).await;
    let cfg = config();
    let expert = &cfg.experts["@team/tester@1.2.0"];
    let (sink, _ev) = events();
    let mut host = SkillHost::start_locked(expert, &cfg.experts, options(&ws), sink, &locked)
        .await
        .unwrap();
    // Whether or not the child is up yet, its locked tools are offered.
    assert!(host.catalogue().get("echo").is_some());
    assert_eq!(host.catalogue().len(), 12 + 1);
    let out = host
        .call("1", "echo", args(json!({"text": "early"})))
        .await
        .into_output()
        .unwrap();
    assert_eq!(texts(&out.result), vec!["early"]);
    let report = host.ready().await.unwrap();
    assert_eq!(report.added, vec!["t"]);
    assert_eq!(report.mismatches, vec![]);
    assert!(host.pending_skills().is_empty());
    host.shutdown().await;
}

#[tokio::test]
async fn live_tools_replace_stale_locked_ones_and_the_mismatch_is_reported() {
    let ws = workspace();
    let mut locked = locked_tools(&ws).await;
    locked.retain(|t| t.name != "whoami");
    locked
        .iter_mut()
        .find(|t| t.name == "echo")
        .unwrap()
        .description = Some("an old description".into());
    let mut gone = locked[0].clone();
    gone.name = "retired".into();
    locked.push(gone);
    let cfg = config();
    let expert = &cfg.experts["@team/tester@1.2.0"];
    let (sink, _ev) = events();
    let mut host = SkillHost::start_locked(expert, &cfg.experts, options(&ws), sink, &locked)
        .await
        .unwrap();
    assert!(host.catalogue().get("retired").is_some());
    let report = host.ready().await.unwrap();
    assert_eq!(
        report.mismatches,
        vec![LockMismatch {
            skill_name: "t".into(),
            added: vec!["whoami".into()],
            removed: vec!["retired".into()],
            changed: vec!["echo".into()],
        }]
    );
    assert!(host.catalogue().get("retired").is_none());
    assert!(host.catalogue().get("whoami").is_some());
    assert_eq!(
        host.catalogue()
            .get("echo")
            .unwrap()
            .definition
            .description
            .as_deref(),
        Some("Return the text.")
    );
    host.shutdown().await;
}
