//! A remote skill on plain http over loopback, end to end: `perstack validate`, `perstack
//! install` and `perstack run` (scripted model) against the real
//! `@modelcontextprotocol/server-everything` serving streamable HTTP on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::{Endpoint, Setup, assert_completed, config_with_skill, free_port, text};

fn tools_dir() -> std::path::PathBuf {
    std::env::var_os("PERSTACK_TOOLS_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools"),
        Into::into,
    )
}

/// server-everything on streamable HTTP at a free loopback port; killed on drop.
struct Everything {
    child: Child,
    port: u16,
}

impl Drop for Everything {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn everything() -> Everything {
    let bin = tools_dir().join("npm/node_modules/.bin/mcp-server-everything");
    assert!(
        bin.exists(),
        "peer missing: {} (cargo xtask peers)",
        bin.display()
    );
    let port = free_port();
    let mut child = Command::new(&bin)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut said = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !said && line.contains("listening") {
                said = true;
                let _ = tx.send(());
            }
        }
    });
    let started = Instant::now();
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| {
            panic!(
                "server-everything not listening after {:?}",
                started.elapsed()
            )
        });
    Everything { child, port }
}

fn perstack(setup: &Setup, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(args)
        .current_dir(setup.ws())
        .output()
        .unwrap()
}

#[test]
#[ignore = "peer: @modelcontextprotocol/server-everything (npm); run with cargo xtask test"]
fn a_loopback_http_skill_validates_installs_and_runs() {
    let server = everything();
    for endpoint in [
        format!("http://127.0.0.1:{}/mcp", server.port),
        format!("http://localhost:{}/mcp", server.port),
    ] {
        let setup = Setup::new();
        setup.write_config(&config_with_skill(
            "everything",
            &format!("type = \"mcpHttpSkill\"\nendpoint = \"{endpoint}\"\npick = [\"echo\"]"),
        ));
        let config_path = setup.config_path();
        let config_arg = config_path.to_str().unwrap();

        let validated = perstack(&setup, &["validate", "--config", config_arg]);
        assert_eq!(
            validated.status.code(),
            Some(0),
            "{}",
            text(&validated.stderr)
        );

        let installed = perstack(&setup, &["install", "--config", config_arg]);
        assert_eq!(
            installed.status.code(),
            Some(0),
            "{}",
            text(&installed.stderr)
        );
        let lock = std::fs::read_to_string(config_path.with_file_name("perstack.lock")).unwrap();
        assert!(lock.contains("echo"), "{lock}");

        let llm = ScriptedLlm::start(vec![
            Turn::call("echo", json!({"message": "over loopback"})),
            Turn::text("Echoed."),
        ])
        .unwrap();
        let run = setup.run(&Endpoint::openai(&llm.base_url), &[], "Echo something");
        assert_completed(&run);
        let results: Vec<String> = run
            .events
            .iter()
            .filter(|e| e["type"] == "resolveToolResults")
            .map(|e| e["toolResults"].to_string())
            .collect();
        assert_eq!(results.len(), 1, "{:?}", run.types());
        assert!(results[0].contains("Echo: over loopback"), "{}", results[0]);
        let connected = run
            .events
            .iter()
            .find(|e| e["type"] == "skillConnected" && e["skillName"] == "everything");
        assert!(connected.is_some(), "{:?}", run.types());
    }
}
