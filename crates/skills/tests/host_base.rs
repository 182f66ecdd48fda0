//! The skill host with the built-in base skill, interactive skills and delegates (no
//! child process involved).

// Test code: panicking helpers and catch-all arms that fail the test are fine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::wildcard_enum_match_arm
)]

mod common;

use common::*;
use indexmap::IndexMap;
use perstack_core::config::{
    BASE_SKILL_TOOLS, ExpertConfig, InteractiveSkill, InteractiveTool, SkillConfig, StdioSkill,
};
use perstack_events::RuntimeEventPayload;
use perstack_skills::SkillError;
use perstack_skills::host::{CallOutcome, SkillHost, ToolKind};
use pretty_assertions::assert_eq;
use serde_json::json;

#[tokio::test]
async fn no_skills_table_serves_the_base_skill_in_process() {
    let ws = workspace();
    let (sink, mut ev) = events();
    let expert = ExpertConfig {
        instruction: "x".into(),
        ..ExpertConfig::default()
    };
    let host = SkillHost::start(&expert, &no_experts(), options(&ws), sink)
        .await
        .unwrap();
    let mut names: Vec<String> = host
        .tool_definitions()
        .into_iter()
        .map(|t| t.name)
        .collect();
    names.sort();
    let mut expected = BASE_SKILL_TOOLS.map(String::from).to_vec();
    expected.sort();
    assert_eq!(names, expected);
    assert!(
        host.tool_definitions()
            .iter()
            .all(|t| t.skill_name == "@perstack/base")
    );

    let out = host
        .call(
            "c1",
            "writeTextFile",
            args(json!({"path": "a.txt", "text": "hi"})),
        )
        .await
        .into_output()
        .unwrap();
    assert!(!out.is_error, "{out:?}");
    assert_eq!(out.result.id, "c1");
    assert_eq!(out.result.skill_name, "@perstack/base");
    assert_eq!(
        std::fs::read_to_string(ws.root.join("a.txt")).unwrap(),
        "hi"
    );

    // As Perstack's in-memory base skill (apps/runtime/src/skill-manager/in-memory-base.ts in
    // perstack-ai/perstack): no skillStarting, a skillConnected with every duration.
    let events = ev.drain().to_vec();
    let RuntimeEventPayload::SkillConnected {
        skill_name,
        server_info,
        connect_duration_ms,
        spawn_duration_ms,
        handshake_duration_ms,
        tool_discovery_duration_ms,
        total_duration_ms,
    } = &events[0]
    else {
        panic!("expected skillConnected first, got {events:#?}");
    };
    assert_eq!(skill_name, "@perstack/base");
    assert_eq!(
        server_info.as_ref().map(|s| s.name.as_str()),
        Some("@perstack/base")
    );
    let (Some(spawn), Some(handshake), Some(discovery), Some(connect), Some(total)) = (
        *spawn_duration_ms,
        *handshake_duration_ms,
        *tool_discovery_duration_ms,
        *connect_duration_ms,
        *total_duration_ms,
    ) else {
        panic!("every duration is reported: {events:#?}");
    };
    // Each is rounded down to whole ms on its own, the sum once.
    assert!((spawn + handshake..=spawn + handshake + 1).contains(&connect));
    assert!(total >= spawn + handshake + discovery, "{events:#?}");
    host.shutdown().await;
    assert_eq!(
        ev.drain().last(),
        Some(&RuntimeEventPayload::SkillDisconnected {
            skill_name: "@perstack/base".into()
        })
    );
}

#[tokio::test]
async fn perstack_style_base_declaration_never_spawns_npx() {
    let ws = workspace();
    let (sink, mut ev) = events();
    let base = SkillConfig::McpStdioSkill(StdioSkill {
        command: "npx".into(),
        package_name: Some("@perstack/base".into()),
        omit: Some(vec!["exec".into()]),
        pick: Some(vec![
            "readTextFile".into(),
            "exec".into(),
            "attemptCompletion".into(),
        ]),
        rule: Some("Read before you write.".into()),
        ..StdioSkill::default()
    });
    // No PATH at all: if npx were run, the start would fail.
    let mut opts = options(&ws);
    opts.env = std::sync::Arc::new(std::collections::BTreeMap::new());
    let host = SkillHost::start(
        &expert_with(vec![("@perstack/base", base)]),
        &no_experts(),
        opts,
        sink,
    )
    .await
    .unwrap();
    let names: Vec<String> = host
        .tool_definitions()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["attemptCompletion", "readTextFile"]);
    assert_eq!(host.rules()[0].rule, "Read before you write.");
    let events = ev.drain().to_vec();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, RuntimeEventPayload::SkillStarting { .. })),
        "nothing is spawned, so nothing is starting: {events:#?}"
    );
    assert!(matches!(
        &events[0],
        RuntimeEventPayload::SkillConnected { skill_name, .. } if skill_name == "@perstack/base"
    ));
    // An omitted tool is unknown to the host.
    let out = host
        .call("c", "exec", args(json!({})))
        .await
        .into_output()
        .unwrap();
    assert!(out.is_error);
    assert!(
        texts(&out.result)[0].starts_with("Error: there is no tool named exec."),
        "{out:?}"
    );
    host.shutdown().await;
}

fn interactive_skill() -> SkillConfig {
    let mut tools = IndexMap::new();
    tools.insert(
        "askUser".to_string(),
        InteractiveTool {
            name: None,
            description: Some("Ask the user a question".into()),
            input_json_schema:
                r#"{"type":"object","properties":{"question":{"type":"string"}},"required":["question"]}"#
                    .into(),
        },
    );
    SkillConfig::InteractiveSkill(InteractiveSkill {
        tools,
        rule: Some("Ask only when stuck.".into()),
        ..InteractiveSkill::default()
    })
}

fn experts_with_researcher() -> IndexMap<String, ExpertConfig> {
    let mut experts = IndexMap::new();
    experts.insert(
        "@team/researcher".to_string(),
        ExpertConfig {
            instruction: "research".into(),
            description: Some("Finds sources".into()),
            ..ExpertConfig::default()
        },
    );
    experts
}

#[tokio::test]
async fn interactive_tools_stop_and_delegates_delegate() {
    let ws = workspace();
    let (sink, _ev) = events();
    let mut expert = expert_with(vec![("ui", interactive_skill())]);
    expert.delegates = Some(vec!["@team/researcher".into()]);
    let host = SkillHost::start(&expert, &experts_with_researcher(), options(&ws), sink)
        .await
        .unwrap();
    let entries: Vec<(String, String, ToolKind)> = host
        .catalogue()
        .entries()
        .map(|e| {
            (
                e.definition.skill_name.clone(),
                e.definition.name.clone(),
                e.kind.clone(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            ("ui".into(), "askUser".into(), ToolKind::Interactive),
            (
                "@team/researcher".into(),
                "researcher".into(),
                ToolKind::Delegate {
                    expert_key: "@team/researcher".into()
                }
            ),
        ]
    );
    let ask = host.catalogue().get("askUser").unwrap();
    assert_eq!(ask.definition.input_schema["required"], json!(["question"]));
    let delegate = host.catalogue().get("researcher").unwrap();
    assert_eq!(
        delegate.definition.description.as_deref(),
        Some("Finds sources")
    );

    match host
        .call("c1", "askUser", args(json!({"question": "Which file?"})))
        .await
    {
        CallOutcome::Interactive(call) => {
            assert_eq!(
                (
                    call.id.as_str(),
                    call.skill_name.as_str(),
                    call.tool_name.as_str()
                ),
                ("c1", "ui", "askUser")
            );
            assert_eq!(call.args["question"], "Which file?");
        }
        other => panic!("expected an interactive stop, got {other:?}"),
    }
    match host
        .call("c2", "researcher", args(json!({"query": "find X"})))
        .await
    {
        CallOutcome::Delegate(d) => {
            assert_eq!(d.expert_key, "@team/researcher");
            assert_eq!(d.query, "find X");
            assert_eq!(d.call.id, "c2");
        }
        other => panic!("expected a delegation, got {other:?}"),
    }
    let bad = host
        .call("c3", "researcher", args(json!({"q": 1})))
        .await
        .into_output()
        .unwrap();
    assert!(bad.is_error);
    assert_eq!(
        texts(&bad.result),
        vec!["Error calling tool researcher: \"query\" (a string) is required"]
    );
    host.shutdown().await;
}

#[tokio::test]
async fn a_delegate_named_like_a_base_tool_is_a_startup_error() {
    let ws = workspace();
    let (sink, _ev) = events();
    let mut experts = IndexMap::new();
    experts.insert(
        "@team/exec".to_string(),
        ExpertConfig {
            instruction: "x".into(),
            ..ExpertConfig::default()
        },
    );
    let expert = ExpertConfig {
        instruction: "x".into(),
        delegates: Some(vec!["@team/exec".into()]),
        ..ExpertConfig::default()
    };
    let err = SkillHost::start(&expert, &experts, options(&ws), sink)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SkillError::ToolCollision { ref tool, .. } if tool == "exec"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "tool \"exec\" is offered by both skill \"@perstack/base\" and delegate \"@team/exec\"; add omit = [\"exec\"] to one of them"
    );
}

#[tokio::test]
async fn a_delegated_run_gets_no_interactive_tools() {
    let ws = workspace();
    let (sink, _ev) = events();
    let mut opts = options(&ws);
    opts.interactive_skills = false;
    let host = SkillHost::start(
        &expert_with(vec![("ui", interactive_skill())]),
        &no_experts(),
        opts,
        sink,
    )
    .await
    .unwrap();
    assert!(host.catalogue().is_empty());
    let out = host
        .call("c", "askUser", args(json!({})))
        .await
        .into_output()
        .unwrap();
    assert!(out.is_error);
    host.shutdown().await;
}

#[tokio::test]
async fn credentials_in_a_remote_endpoint_never_reach_an_event() {
    let ws = workspace();
    let (sink, mut ev) = events();
    let skill = SkillConfig::McpSseSkill(perstack_core::config::RemoteSkill {
        endpoint: "https://user:hunter2secret@example.com/mcp".into(),
        ..Default::default()
    });
    let err = SkillHost::start(
        &expert_with(vec![("r", skill)]),
        &no_experts(),
        options(&ws),
        sink,
    )
    .await
    .unwrap_err();
    assert!(!err.to_string().contains("hunter2secret"), "{err}");
    assert!(ev.drain().is_empty());
}
