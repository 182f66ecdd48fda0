//! Remote skills: the network guard's refusals (hermetic), and MCP streamable HTTP against
//! `@modelcontextprotocol/server-everything` on loopback (peer), which needs the test-only
//! loopback allowance.

// Test code: panicking helpers and catch-all arms that fail the test are fine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::wildcard_enum_match_arm
)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use perstack_core::MessagePart;
use perstack_core::config::{RemoteSkill, SkillConfig};
use perstack_events::RuntimeEventPayload;
use perstack_skills::SkillError;
use perstack_skills::host::SkillHost;
use pretty_assertions::assert_eq;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

fn remote(endpoint: &str, allowed: Option<&[&str]>) -> SkillConfig {
    SkillConfig::McpSseSkill(RemoteSkill {
        endpoint: endpoint.into(),
        allowed_domains: allowed.map(|a| a.iter().map(|s| s.to_string()).collect()),
        ..RemoteSkill::default()
    })
}

async fn start_err(skill: SkillConfig, loopback: bool) -> String {
    let ws = workspace();
    let mut opts = options(&ws);
    opts.loopback_remote_skills_for_tests = loopback;
    opts.startup_timeout = Duration::from_secs(10);
    let (sink, _ev) = events();
    let err = SkillHost::start(&expert_with(vec![("r", skill)]), &no_experts(), opts, sink)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SkillError::Startup { skill, .. } if skill == "r"),
        "{err}"
    );
    err.to_string()
}

#[tokio::test]
async fn the_network_guard_refuses_what_production_must_not_reach() {
    assert_eq!(
        start_err(remote("http://example.com/mcp", None), false).await,
        "skill \"r\" failed to start: endpoint http://example.com/mcp must use https (remote skills connect to public https only)"
    );
    let loopback = start_err(remote("https://127.0.0.1:9/mcp", None), false).await;
    assert!(loopback.contains("network access refused"), "{loopback}");
    let metadata = start_err(remote("https://169.254.169.254/latest", None), false).await;
    assert!(metadata.contains("network access refused"), "{metadata}");
    let mapped = start_err(remote("https://[::ffff:127.0.0.1]/mcp", None), false).await;
    assert!(mapped.contains("network access refused"), "{mapped}");
    let not_allowed = start_err(
        remote("https://example.org/mcp", Some(&["example.com"])),
        false,
    )
    .await;
    assert!(
        not_allowed.contains("not in allowedDomains"),
        "{not_allowed}"
    );
    // The test allowance covers loopback literals over http, nothing else.
    let named = start_err(remote("http://localhost:9/mcp", None), true).await;
    assert!(named.contains("must use https"), "{named}");
    let private = start_err(remote("https://10.0.0.1/mcp", None), true).await;
    assert!(private.contains("network access refused"), "{private}");
    let ftp = start_err(remote("ftp://127.0.0.1/mcp", None), true).await;
    assert!(ftp.contains("must use https"), "{ftp}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
#[ignore = "peer: @modelcontextprotocol/server-everything (npm); run with cargo xtask test"]
async fn server_everything_over_streamable_http_on_loopback() {
    let bin = tools_dir().join("npm/node_modules/.bin/mcp-server-everything");
    assert!(bin.exists(), "peer missing: {}", bin.display());
    let port = free_port();
    let mut server = tokio::process::Command::new(&bin)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("listening") {
                return;
            }
        }
        panic!("server-everything exited before listening");
    })
    .await
    .expect("server-everything did not start listening");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let ws = workspace();
    let mut opts = options(&ws);
    opts.loopback_remote_skills_for_tests = true;
    let (sink, mut ev) = events();
    let mut skill = RemoteSkill {
        endpoint: format!("http://127.0.0.1:{port}/mcp"),
        pick: Some(vec!["echo".into(), "get-tiny-image".into()]),
        ..RemoteSkill::default()
    };
    skill.rule = Some("Use echo to test.".into());
    let host = SkillHost::start(
        &expert_with(vec![("everything", SkillConfig::McpSseSkill(skill))]),
        &no_experts(),
        opts,
        sink,
    )
    .await
    .unwrap();
    let mut names: Vec<String> = host
        .tool_definitions()
        .into_iter()
        .map(|t| t.name)
        .collect();
    names.sort();
    assert_eq!(names, vec!["echo", "get-tiny-image"]);
    let connected = ev.drain().iter().find_map(|e| match e {
        RuntimeEventPayload::SkillConnected { server_info, .. } => server_info.clone(),
        _ => None,
    });
    assert!(connected.is_some_and(|s| s.name.contains("everything")));

    // Several calls on one session (the transport carries the session id).
    for i in 0..3 {
        let out = host
            .call(
                &i.to_string(),
                "echo",
                args(json!({"message": format!("hi {i}")})),
            )
            .await
            .into_output()
            .unwrap();
        assert_eq!(texts(&out.result), vec![format!("Echo: hi {i}")]);
    }
    let image = host
        .call("img", "get-tiny-image", args(json!({})))
        .await
        .into_output()
        .unwrap();
    assert!(
        image
            .result
            .result
            .iter()
            .any(|p| matches!(p, MessagePart::ImageInline(_))),
        "{image:?}"
    );
    host.shutdown().await;
    server.kill().await.unwrap();
}
