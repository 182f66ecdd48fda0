//! The base skill as a stdio MCP server (the `perstack-base-stdio` binary): stdout carries
//! nothing but protocol, and a real third-party MCP client (the Python SDK) can use it.

// Helpers outside #[test] functions may panic too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::processes_mentioning;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const SERVER: &str = env!("CARGO_BIN_EXE_perstack-base-stdio");

fn workspace() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().canonicalize().unwrap().join("ws");
    std::fs::create_dir_all(ws.join("perstack")).unwrap();
    std::fs::write(ws.join("perstack/secret.json"), "{}").unwrap();
    (tmp, ws)
}

#[test]
fn stdout_carries_only_json_rpc() {
    let (_tmp, ws) = workspace();
    let mut child = Command::new(SERVER)
        .args(["--workspace".as_ref(), ws.as_os_str()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let requests = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        // A child that prints to its stdout must not reach the protocol stream.
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "exec", "arguments": {
            "command": "echo", "args": ["LEAK?"], "env": {}, "cwd": ".", "stdout": true, "stderr": true}}}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "readTextFile", "arguments": {
            "path": "perstack/secret.json"}}}),
    ];
    for r in &requests {
        writeln!(stdin, "{r}").unwrap();
    }
    stdin.flush().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut responses = Vec::new();
    while responses.len() < 4 {
        let line = lines.next().expect("server closed stdout early").unwrap();
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("non-JSON on stdout: {line:?} ({e})"));
        assert_eq!(v["jsonrpc"], "2.0", "{line}");
        if v.get("id").is_some() {
            responses.push(v);
        }
    }
    drop(stdin);
    // Whatever else the server writes before exiting must be protocol too.
    for line in lines {
        let line = line.unwrap();
        serde_json::from_str::<Value>(&line)
            .unwrap_or_else(|e| panic!("non-JSON on stdout: {line:?} ({e})"));
    }
    assert!(child.wait().unwrap().success());
    // Requests are served concurrently: order the answers by id.
    responses.sort_by_key(|r| r["id"].as_u64());
    assert_eq!(
        responses[0]["result"]["serverInfo"]["name"],
        "@perstack/base"
    );
    assert_eq!(
        responses[1]["result"]["tools"].as_array().unwrap().len(),
        perstack_skills::base::BASE_TOOL_NAMES.len()
    );
    let exec_text = responses[2]["result"]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(exec_text).unwrap(),
        json!({"output": "LEAK?\n"})
    );
    assert_eq!(responses[3]["result"]["isError"], true);
}

fn tools_dir() -> PathBuf {
    match std::env::var_os("PERSTACK_TOOLS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools"),
    }
}

#[test]
#[ignore = "peer: mcp (PyPI); run with cargo xtask test"]
fn python_mcp_sdk_lists_tools_writes_and_reads() {
    let python = tools_dir().join("venv/bin/python");
    assert!(
        python.exists(),
        "peer missing: {} (install the PyPI package `mcp` into the venv)",
        python.display()
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/mcp_stdio_client.py");
    let (_tmp, ws) = workspace();
    let out = Command::new(&python)
        .arg(&script)
        .arg(SERVER)
        .arg(&ws)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut expected: Vec<&str> = perstack_skills::base::BASE_TOOL_NAMES.to_vec();
    expected.sort();
    assert_eq!(seen["serverName"], "@perstack/base");
    assert_eq!(seen["tools"], json!(expected));
    assert_eq!(seen["writtenIsError"], false);
    assert_eq!(
        seen["written"]["path"],
        json!(ws.join("from-python/hello.txt"))
    );
    assert_eq!(
        seen["read"],
        json!({"path": "from-python/hello.txt", "content": "hello from python\nline 2", "from": 0, "to": 2})
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("from-python/hello.txt")).unwrap(),
        "hello from python\nline 2"
    );
    assert_eq!(seen["listing"], json!(["from-python"]));
    assert_eq!(seen["deniedIsError"], true);
    assert_eq!(seen["denied"]["error"], "AccessDenied");
}

#[test]
fn exec_descendants_die_when_the_server_is_killed() {
    let (_tmp, ws) = workspace();
    let (started, go, marker) = (ws.join("started"), ws.join("go"), ws.join("marker"));
    let script = format!(
        "setsid sh -c 'echo $$ > {s}; until [ -e {g} ]; do sleep 0.1; done; echo x > {m}' & sleep 600",
        s = started.display(),
        g = go.display(),
        m = marker.display()
    );
    let mut server = Command::new(SERVER)
        .args(["--workspace".as_ref(), ws.as_os_str()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = server.stdin.take().unwrap();
    for r in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "exec", "arguments": {
            "command": "sh", "args": ["-c", script], "env": {}, "cwd": ".", "stdout": true, "stderr": true,
            "timeout": 600_000}}}),
    ] {
        writeln!(stdin, "{r}").unwrap();
    }
    stdin.flush().unwrap();
    let t0 = std::time::Instant::now();
    while !started.exists() {
        assert!(t0.elapsed().as_secs() < 60, "the grandchild never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The runtime dies without any chance to clean up.
    server.kill().unwrap();
    server.wait().unwrap();
    // The supervisor notices its parent is gone and takes the tree down.
    let t0 = std::time::Instant::now();
    let needle = ws.display().to_string();
    while !processes_mentioning(&needle).is_empty() {
        assert!(
            t0.elapsed().as_secs() < 30,
            "survivors: {:?}",
            processes_mentioning(&needle)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::write(&go, "").unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        !marker.exists(),
        "the setsid grandchild outlived the server"
    );
}
