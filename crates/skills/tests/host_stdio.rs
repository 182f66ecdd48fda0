//! The skill host with stdio children (our rmcp test server): calls and their content,
//! every failure mode as a readable result, stderr events, crash and shutdown.

// Test code: panicking helpers and catch-all arms that fail the test are fine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::wildcard_enum_match_arm
)]

mod common;

use std::time::Duration;

use common::*;
use perstack_core::MessagePart;
use perstack_core::config::{SkillConfig, StdioSkill};
use perstack_events::{RuntimeEventPayload, ServerInfo};
use perstack_sandbox::SandboxError;
use perstack_skills::SkillError;
use perstack_skills::host::SkillHost;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

async fn start_one(args: &[&str], opts: perstack_skills::HostOptions) -> (SkillHost, Events) {
    let (sink, ev) = events();
    let expert = expert_with(vec![("test", test_server_skill(args))]);
    let host = SkillHost::start(&expert, &no_experts(), opts, sink)
        .await
        .unwrap();
    (host, ev)
}

fn pid_of(text: &str) -> i32 {
    let v: Value = serde_json::from_str(text).unwrap();
    i32::try_from(v["pid"].as_i64().unwrap()).unwrap()
}

fn process_exists(pid: i32) -> bool {
    // A reaped process has no /proc entry; a zombie would still show one.
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn stdio_skill_lists_and_calls_tools_with_their_content() {
    let ws = workspace();
    let (host, mut ev) = start_one(&["--name", "tester"], options(&ws)).await;
    let mut names: Vec<String> = host
        .tool_definitions()
        .into_iter()
        .map(|t| t.name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ask",
            "connect",
            "crash",
            "echo",
            "empty",
            "env",
            "fail",
            "media",
            "rpc_error",
            "sleep",
            "stderr",
            "whoami"
        ]
    );
    let echo = host.catalogue().get("echo").unwrap();
    assert_eq!(echo.definition.skill_name, "test");
    assert_eq!(
        echo.definition.description.as_deref(),
        Some("Return the text.")
    );
    assert_eq!(
        echo.definition.input_schema["properties"]["text"]["type"],
        "string"
    );

    let out = host
        .call("1", "echo", args(json!({"text": "hello"})))
        .await
        .into_output()
        .unwrap();
    assert_eq!(
        (texts(&out.result), out.is_error),
        (vec!["hello".to_string()], false)
    );
    assert_eq!(
        (out.result.id.as_str(), out.result.skill_name.as_str()),
        ("1", "test")
    );

    let media = host
        .call("2", "media", args(json!({})))
        .await
        .into_output()
        .unwrap();
    let kinds: Vec<(&str, &str)> = media
        .result
        .result
        .iter()
        .map(|p| match p {
            MessagePart::ImageInline(i) => ("image", i.mime_type.as_str()),
            MessagePart::Text(t) => ("text", t.text.as_str()),
            MessagePart::FileInline(f) => ("file", f.mime_type.as_str()),
            other => panic!("unexpected part {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("image", "image/png"),
            ("text", "a note"),
            ("file", "application/pdf")
        ]
    );

    let whoami = host
        .call("3", "whoami", args(json!({})))
        .await
        .into_output()
        .unwrap();
    let me: Value = serde_json::from_str(&texts(&whoami.result)[0]).unwrap();
    assert_eq!(me["cwd"], json!(ws.root.display().to_string()));

    let events = ev.drain().to_vec();
    assert_eq!(
        events[0],
        RuntimeEventPayload::SkillStarting {
            skill_name: "test".into(),
            command: TEST_SERVER.into(),
            args: vec!["--name".into(), "tester".into()],
        }
    );
    match &events[1] {
        RuntimeEventPayload::SkillConnected {
            skill_name,
            server_info,
            spawn_duration_ms,
            handshake_duration_ms,
            tool_discovery_duration_ms,
            connect_duration_ms,
            total_duration_ms,
        } => {
            assert_eq!(skill_name, "test");
            assert_eq!(
                server_info,
                &Some(ServerInfo {
                    name: "tester".into(),
                    version: "9.9.9".into()
                })
            );
            for d in [
                spawn_duration_ms,
                handshake_duration_ms,
                tool_discovery_duration_ms,
                connect_duration_ms,
                total_duration_ms,
            ] {
                assert!(d.is_some());
            }
        }
        other => panic!("expected skillConnected, got {other:?}"),
    }
    host.shutdown().await;
}

#[tokio::test]
async fn every_failure_is_a_result_the_model_can_read() {
    let ws = workspace();
    let mut opts = options(&ws);
    opts.call_timeout = Duration::from_millis(300);
    let (host, _ev) = start_one(&[], opts).await;

    let fail = host
        .call("1", "fail", args(json!({"text": "bad input"})))
        .await
        .into_output()
        .unwrap();
    assert_eq!(
        (texts(&fail.result), fail.is_error),
        (vec!["bad input".to_string()], true)
    );

    let rpc = host
        .call("2", "rpc_error", args(json!({"text": "nope"})))
        .await
        .into_output()
        .unwrap();
    assert!(rpc.is_error);
    assert_eq!(
        texts(&rpc.result),
        vec!["Error calling tool rpc_error: nope"]
    );

    // Arguments the server cannot parse come back as a tool error.
    let bad_args = host
        .call("3", "echo", args(json!({"txt": 1})))
        .await
        .into_output()
        .unwrap();
    assert!(bad_args.is_error);
    assert!(
        texts(&bad_args.result)[0].contains("missing field `text`"),
        "{bad_args:?}"
    );

    let unknown = host
        .call("4", "nosuch", args(json!({})))
        .await
        .into_output()
        .unwrap();
    assert!(unknown.is_error);
    assert!(
        texts(&unknown.result)[0]
            .starts_with("Error: there is no tool named nosuch. Available tools: ")
    );

    let empty = host
        .call("5", "empty", args(json!({})))
        .await
        .into_output()
        .unwrap();
    assert_eq!(
        texts(&empty.result),
        vec!["Tool empty returned nothing with arguments: {}"]
    );

    let slow = host
        .call("6", "sleep", args(json!({"ms": 60000})))
        .await
        .into_output()
        .unwrap();
    assert!(slow.is_error);
    assert_eq!(
        texts(&slow.result),
        vec![
            "Error calling tool sleep: skill \"test\" did not answer in time: the operator \
             limits each tool call to 300 ms (--max-tool-time / maxToolCallSeconds), and a \
             call cannot raise that limit; split the work into shorter calls."
        ]
    );
    // The session survives a timed-out call.
    let after = host
        .call("7", "echo", args(json!({"text": "still here"})))
        .await
        .into_output()
        .unwrap();
    assert_eq!(texts(&after.result), vec!["still here"]);
    host.shutdown().await;
}

#[tokio::test]
async fn a_crash_mid_run_is_reported_and_later_calls_fail_cleanly() {
    let ws = workspace();
    let (host, mut ev) = start_one(&[], options(&ws)).await;
    let crash = host
        .call("1", "crash", args(json!({})))
        .await
        .into_output()
        .unwrap();
    assert!(crash.is_error);
    assert!(
        texts(&crash.result)[0]
            .starts_with("Error calling tool crash: skill \"test\" is not running"),
        "{crash:?}"
    );
    ev.wait_for("skillDisconnected", |e| {
        matches!(e, RuntimeEventPayload::SkillDisconnected { skill_name } if skill_name == "test")
    })
    .await;
    let later = host
        .call("2", "echo", args(json!({"text": "x"})))
        .await
        .into_output()
        .unwrap();
    assert!(later.is_error);
    assert!(
        texts(&later.result)[0].contains("is not running"),
        "{later:?}"
    );
    host.shutdown().await;
}

#[tokio::test]
async fn stderr_lines_become_events() {
    let ws = workspace();
    let (host, mut ev) = start_one(&["--stderr", "booting up"], options(&ws)).await;
    let long = "x".repeat(20_000);
    host.call(
        "1",
        "stderr",
        args(json!({"lines": ["one", "token sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789", long]})),
    )
    .await;
    ev.wait_for("third stderr line", |e| {
        matches!(e, RuntimeEventPayload::SkillStderr { message, .. } if message.starts_with("xxx"))
    })
    .await;
    let lines = ev.stderr_lines("test");
    assert_eq!(lines[0], "booting up");
    assert_eq!(lines[1], "one");
    assert!(
        !lines[2].contains("abcdefghijklmnop"),
        "secret not redacted: {}",
        lines[2]
    );
    assert_eq!(lines[3].len(), perstack_skills::host::MAX_STDERR_LINE);
    host.shutdown().await;
}

#[tokio::test]
async fn the_child_gets_only_the_safe_env_and_its_required_env() {
    let ws = workspace();
    let mut opts = options(&ws);
    opts.env = parent_env(&[("MY_TOKEN", "t0k3n"), ("OTHER_SECRET", "s")]);
    let (sink, _ev) = events();
    let skill = SkillConfig::McpStdioSkill(StdioSkill {
        command: TEST_SERVER.into(),
        args: Some(vec![]),
        required_env: Some(vec!["MY_TOKEN".into()]),
        ..StdioSkill::default()
    });
    let host = SkillHost::start(
        &expert_with(vec![("t", skill)]),
        &no_experts(),
        opts.clone(),
        sink,
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    for name in ["MY_TOKEN", "OTHER_SECRET", "ANTHROPIC_API_KEY", "PATH"] {
        let out = host
            .call("c", "env", args(json!({"name": name})))
            .await
            .into_output()
            .unwrap();
        seen.push(texts(&out.result)[0].clone());
    }
    assert_eq!(
        seen,
        vec![
            "t0k3n",
            "<unset>",
            "<unset>",
            "/usr/local/bin:/usr/bin:/bin"
        ]
    );
    let tmpdir = host
        .call("c", "env", args(json!({"name": "TMPDIR"})))
        .await
        .into_output()
        .unwrap();
    assert!(texts(&tmpdir.result)[0].starts_with(&ws.tmp_root.display().to_string()));
    host.shutdown().await;

    // A required variable that is not set stops the start, naming it.
    let (sink, _ev) = events();
    let skill = SkillConfig::McpStdioSkill(StdioSkill {
        command: TEST_SERVER.into(),
        required_env: Some(vec!["NOT_SET_ANYWHERE".into()]),
        ..StdioSkill::default()
    });
    let err = SkillHost::start(&expert_with(vec![("t", skill)]), &no_experts(), opts, sink)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SkillError::Sandbox(SandboxError::MissingEnv { name, .. }) if name == "NOT_SET_ANYWHERE"),
        "{err}"
    );
}

#[tokio::test]
async fn startup_failures_are_errors_naming_the_skill() {
    let ws = workspace();
    let mut opts = options(&ws);
    opts.startup_timeout = Duration::from_millis(500);
    let (sink, mut ev) = events();
    let hang = expert_with(vec![("stuck", test_server_skill(&["--hang"]))]);
    let err = SkillHost::start(&hang, &no_experts(), opts.clone(), sink)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "skill \"stuck\" failed to start: no MCP handshake and tool list within 500 ms"
    );
    // The stuck child was stopped.
    ev.wait_for("skillDisconnected", |e| {
        matches!(e, RuntimeEventPayload::SkillDisconnected { .. })
    })
    .await;

    let (sink, mut ev) = events();
    let dies = expert_with(vec![("dies", test_server_skill(&["--exit-at-start"]))]);
    let err = SkillHost::start(&dies, &no_experts(), options(&ws), sink)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SkillError::Startup { skill, .. } if skill == "dies"),
        "{err}"
    );
    ev.wait_for("the child's last words", |e| {
        matches!(e, RuntimeEventPayload::SkillStderr { message, .. } if message.contains("exiting at start"))
    })
    .await;

    let (sink, _ev) = events();
    let missing = expert_with(vec![(
        "missing",
        SkillConfig::McpStdioSkill(StdioSkill {
            command: "/nonexistent/server".into(),
            ..StdioSkill::default()
        }),
    )]);
    let err = SkillHost::start(&missing, &no_experts(), options(&ws), sink)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("skill \"missing\" failed to start: cannot run \"/nonexistent/server\""),
        "{err}"
    );
}

#[tokio::test]
async fn colliding_tools_are_refused_and_pick_omit_resolve_them() {
    let ws = workspace();
    let (sink, _ev) = events();
    let twice = expert_with(vec![
        ("a", test_server_skill(&[])),
        ("b", test_server_skill(&[])),
    ]);
    let err = SkillHost::start(&twice, &no_experts(), options(&ws), sink)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SkillError::ToolCollision { first, second, .. } if first == "skill \"a\"" && second == "skill \"b\""),
        "{err}"
    );

    let (sink, _ev) = events();
    let a = StdioSkill {
        command: TEST_SERVER.into(),
        omit: Some(vec!["whoami".into()]),
        ..StdioSkill::default()
    };
    let b = StdioSkill {
        command: TEST_SERVER.into(),
        pick: Some(vec!["whoami".into()]),
        ..StdioSkill::default()
    };
    let both = expert_with(vec![
        ("a", SkillConfig::McpStdioSkill(a)),
        ("b", SkillConfig::McpStdioSkill(b)),
    ]);
    let host = SkillHost::start(&both, &no_experts(), options(&ws), sink)
        .await
        .unwrap();
    assert_eq!(
        host.catalogue()
            .get("whoami")
            .unwrap()
            .definition
            .skill_name,
        "b"
    );
    assert_eq!(
        host.catalogue().get("echo").unwrap().definition.skill_name,
        "a"
    );
    assert_eq!(host.catalogue().len(), 12);
    assert_eq!(host.running_skills(), vec!["a", "b"]);
    host.shutdown().await;
}

async fn pid_after_shutdown(skill: SkillConfig, grace: Duration) {
    let ws = workspace();
    let mut opts = options(&ws);
    opts.shutdown_grace = grace;
    let (sink, mut ev) = events();
    let host = SkillHost::start(&expert_with(vec![("s", skill)]), &no_experts(), opts, sink)
        .await
        .unwrap();
    let out = host
        .call("c", "whoami", args(json!({})))
        .await
        .into_output()
        .unwrap();
    let pid = pid_of(&texts(&out.result)[0]);
    assert!(process_exists(pid));
    host.shutdown().await;
    assert!(
        !process_exists(pid),
        "skill process {pid} survived shutdown"
    );
    assert!(ev.drain().iter().any(
        |e| matches!(e, RuntimeEventPayload::SkillDisconnected { skill_name } if skill_name == "s")
    ));
}

#[tokio::test]
async fn shutdown_stops_the_child() {
    pid_after_shutdown(test_server_skill(&[]), Duration::from_secs(5)).await;
}

#[tokio::test]
async fn shutdown_kills_a_child_that_ignores_sigterm() {
    // `trap "" TERM` makes SIGTERM ignored, and ignored signals stay ignored across exec
    // (so the server itself, with the same pid, ignores it).
    let stubborn = SkillConfig::McpStdioSkill(StdioSkill {
        command: "/bin/sh".into(),
        args: Some(vec![
            "-c".into(),
            format!("trap '' TERM; exec {TEST_SERVER} --linger"),
        ]),
        ..StdioSkill::default()
    });
    pid_after_shutdown(stubborn, Duration::from_millis(300)).await;
}

fn lazy(args: &[&str]) -> SkillConfig {
    SkillConfig::McpStdioSkill(StdioSkill {
        command: TEST_SERVER.into(),
        args: Some(args.iter().map(|s| s.to_string()).collect()),
        lazy_init: Some(true),
        ..StdioSkill::default()
    })
}

#[tokio::test]
async fn lazy_skills_join_the_catalogue_when_ready() {
    let ws = workspace();
    let (sink, mut ev) = events();
    let expert = expert_with(vec![
        (
            "@perstack/base",
            SkillConfig::McpStdioSkill(StdioSkill::default()),
        ),
        ("slow", lazy(&[])),
        ("dup", lazy(&[])),
        ("broken", lazy(&["--exit-at-start"])),
    ]);
    let mut host = SkillHost::start(&expert, &no_experts(), options(&ws), sink)
        .await
        .unwrap();
    // start() waited only for the base skill.
    assert_eq!(host.pending_skills(), vec!["slow", "dup", "broken"]);
    assert!(host.catalogue().get("echo").is_none());
    assert_eq!(
        host.catalogue().len(),
        perstack_skills::base::BASE_TOOL_NAMES.len()
    );

    let err = host.ready().await.unwrap_err();
    // The first problem is reported; "slow" got in, "dup" collided, "broken" failed.
    assert!(
        matches!(&err, SkillError::ToolCollision { second, .. } if second == "skill \"dup\""),
        "{err}"
    );
    assert!(host.pending_skills().is_empty());
    assert_eq!(host.running_skills(), vec!["@perstack/base", "slow"]);
    assert_eq!(
        host.catalogue().get("echo").unwrap().definition.skill_name,
        "slow"
    );
    // The base skill's tools and the test server's 12.
    assert_eq!(
        host.catalogue().len(),
        perstack_skills::base::BASE_TOOL_NAMES.len() + 12
    );
    let out = host
        .call("1", "echo", args(json!({"text": "late"})))
        .await
        .into_output()
        .unwrap();
    assert_eq!(texts(&out.result), vec!["late"]);
    ev.wait_for("broken's stderr", |e| {
        matches!(e, RuntimeEventPayload::SkillStderr { skill_name, .. } if skill_name == "broken")
    })
    .await;
    host.shutdown().await;
}

fn tampering_skill() -> SkillConfig {
    let script = format!(
        "echo x > perstack/x; echo y > perstack/jobs-planted; echo ok > skill-was-here; exec {TEST_SERVER}"
    );
    SkillConfig::McpStdioSkill(StdioSkill {
        command: "sh".into(),
        args: Some(vec!["-c".into(), script]),
        ..StdioSkill::default()
    })
}

#[tokio::test]
async fn a_stdio_skill_cannot_write_the_storage_folder() {
    let ws = workspace();
    let (sink, _ev) = events();
    let host = SkillHost::start(
        &expert_with(vec![("t", tampering_skill())]),
        &no_experts(),
        options(&ws),
        sink,
    )
    .await
    .unwrap();
    host.shutdown().await;
    // The skill ran (and wrote elsewhere in the workspace).
    assert!(ws.root.join("skill-was-here").exists());
    let userns = std::process::Command::new("unshare")
        .args(["-Urm", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if userns {
        assert!(ws.root.join("perstack").is_dir());
        assert!(!ws.root.join("perstack/x").exists());
        assert!(!ws.root.join("perstack/jobs-planted").exists());
    } else {
        eprintln!("no user namespaces here: the storage folder is not hidden from skills");
    }
}

#[tokio::test]
async fn with_storage_outside_the_workspace_nothing_is_hidden() {
    let ws = workspace();
    let (sink, _ev) = events();
    let opts = options(&ws).with_storage_outside_workspace();
    std::fs::create_dir_all(ws.root.join("perstack")).unwrap();
    let host = SkillHost::start(
        &expert_with(vec![("t", tampering_skill())]),
        &no_experts(),
        opts,
        sink,
    )
    .await
    .unwrap();
    host.shutdown().await;
    // perstack/ in the workspace is an ordinary folder then (the file tools still hide it).
    assert!(ws.root.join("perstack/x").exists());
}
