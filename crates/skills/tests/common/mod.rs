//! Helpers shared by the skill host tests.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::wildcard_enum_match_arm
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use perstack_core::config::{ExpertConfig, SkillConfig, StdioSkill};
use perstack_core::{MessagePart, ToolResult};
use perstack_events::{RuntimeEvent, RuntimeEventPayload};
use perstack_skills::host::{ChannelSink, HostOptions};
use serde_json::{Map, Value};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// Our rmcp test server.
pub const TEST_SERVER: &str = env!("CARGO_BIN_EXE_perstack-mcp-test-server");

/// A workspace and a tmp root in a fresh temporary directory.
pub struct Ws {
    pub _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub tmp_root: PathBuf,
}

pub fn workspace() -> Ws {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let root = base.join("ws");
    let tmp_root = base.join("tmp");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&tmp_root).unwrap();
    Ws {
        _tmp: tmp,
        root,
        tmp_root,
    }
}

/// The parent environment the tests pretend to run in.
pub fn parent_env(extra: &[(&str, &str)]) -> Arc<BTreeMap<String, String>> {
    let mut env: BTreeMap<String, String> = [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", "/nonexistent"),
        (
            "ANTHROPIC_API_KEY",
            "sk-ant-test-key-that-must-not-leak-123456",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Arc::new(env)
}

pub fn options(ws: &Ws) -> HostOptions {
    let mut o = HostOptions::new(&ws.root).with_env(parent_env(&[]));
    o.base.tmp_root = ws.tmp_root.clone();
    o
}

/// Events as they arrive.
pub struct Events {
    rx: UnboundedReceiver<RuntimeEvent>,
    pub seen: Vec<RuntimeEventPayload>,
}

pub fn events() -> (Arc<ChannelSink>, Events) {
    let (tx, rx) = unbounded_channel();
    (
        Arc::new(ChannelSink::new(tx, "job", "run")),
        Events {
            rx,
            seen: Vec::new(),
        },
    )
}

impl Events {
    /// Takes what has arrived so far.
    pub fn drain(&mut self) -> &[RuntimeEventPayload] {
        while let Ok(e) = self.rx.try_recv() {
            assert_eq!((e.job_id.as_str(), e.run_id.as_str()), ("job", "run"));
            self.seen.push(e.payload);
        }
        &self.seen
    }

    /// Waits (bounded) until an event matches.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&RuntimeEventPayload) -> bool) {
        if self.drain().iter().any(&pred) {
            return;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let e = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {what} event; saw {:#?}", self.seen))
                .expect("event channel closed");
            let hit = pred(&e.payload);
            self.seen.push(e.payload);
            if hit {
                return;
            }
        }
    }

    pub fn stderr_lines(&mut self, skill: &str) -> Vec<String> {
        self.drain()
            .iter()
            .filter_map(|e| match e {
                RuntimeEventPayload::SkillStderr {
                    skill_name,
                    message,
                } if skill_name == skill => Some(message.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A stdio skill running our test server with `args`.
pub fn test_server_skill(args: &[&str]) -> SkillConfig {
    SkillConfig::McpStdioSkill(StdioSkill {
        command: TEST_SERVER.to_string(),
        args: Some(args.iter().map(|s| s.to_string()).collect()),
        ..StdioSkill::default()
    })
}

pub fn expert_with(skills: Vec<(&str, SkillConfig)>) -> ExpertConfig {
    ExpertConfig {
        instruction: "test".into(),
        skills: Some(
            skills
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        ),
        ..ExpertConfig::default()
    }
}

pub fn no_experts() -> IndexMap<String, ExpertConfig> {
    IndexMap::new()
}

pub fn args(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("arguments must be an object, got {other}"),
    }
}

/// The text of every text part.
pub fn texts(r: &ToolResult) -> Vec<String> {
    r.result
        .iter()
        .filter_map(|p| match p {
            MessagePart::Text(t) => Some(t.text.clone()),
            _ => None,
        })
        .collect()
}

pub fn tools_dir() -> PathBuf {
    match std::env::var_os("PERSTACK_TOOLS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools"),
    }
}

/// Live processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true);
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(needle)
            && !zombie
        {
            found.push(name);
        }
    }
    found
}
