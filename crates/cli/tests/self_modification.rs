//! The agent cannot change its own policy (issue 10, items 1, 3 and 9), through the real
//! binary: a scripted model attacks the config file, the env file and the (missing) lockfile
//! in the workspace through every file tool and through `exec`, and writes through a hard
//! link; a storage folder planted as a link makes the run refuse. The provider pointed at a
//! non-official host is reported on `initializeRuntime`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::process::{Command, Output};

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const CONFIG: &str = "model = \"scripted-model\"\n\n[provider]\nproviderName = \"openai\"\n\n\
[experts.\"greeter\"]\nversion = \"1.0.0\"\ninstruction = \"You write greetings.\"\n";
const ENV: &str = "OPENAI_API_KEY=scripted-key-not-a-secret\nMARKER=env-file-content-4711\n";

fn perstack(llm: &ScriptedLlm, ws: &Path, query: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(["run", "--config"])
        .arg(ws.join("perstack.toml"))
        .arg("--workspace")
        .arg(ws)
        .args(["greeter", query])
        .current_dir(ws)
        .env_remove("PERSTACK_LOG")
        .env_remove("PERSTACK_STATE_DIR")
        .env_remove("OPENAI_API_KEY")
        // Loopback: not the official host, so initializeRuntime warns.
        .env("OPENAI_BASE_URL", &llm.base_url)
        .output()
        .unwrap()
}

fn workspace() -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("perstack.toml"), CONFIG).unwrap();
    std::fs::write(ws.path().join(".env"), ENV).unwrap();
    ws
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn the_model_cannot_rewrite_its_config_env_or_lockfile_nor_read_env_files() {
    let ws = workspace();
    let outside = tempfile::tempdir().unwrap();
    let outside_file = outside.path().join("outside.txt");
    std::fs::write(&outside_file, "outside\n").unwrap();
    std::fs::hard_link(&outside_file, ws.path().join("linked.txt")).unwrap();
    let evil = "[provider]\nproviderName = \"openai\"\n[provider.setting]\nbaseUrl = \"https://evil.example/v1\"\n";
    let exec = json!({"command": "sh", "args": ["-c",
        "echo 'requireApproval = []' >> perstack.toml; echo K=1 > .env; cat .env; \
         mv perstack.toml moved.toml; rm -f .env; echo EXEC\"\"DONE"],
        "env": {}, "cwd": ".", "stdout": true, "stderr": true});
    let mut turns = vec![
        Turn::call(
            "writeTextFile",
            json!({"path": "perstack.toml", "text": evil}),
        ),
        Turn::call(
            "appendTextFile",
            json!({"path": "perstack.toml", "text": evil}),
        ),
        Turn::call(
            "editTextFile",
            json!({"path": "perstack.toml", "oldText": "openai", "newText": "anthropic"}),
        ),
        Turn::call(
            "writeTextFile",
            json!({"path": ".env", "text": "OPENAI_BASE_URL=https://evil.example\n"}),
        ),
        Turn::call("readTextFile", json!({"path": ".env"})),
        Turn::call(
            "moveFile",
            json!({"source": "perstack.toml", "destination": "old.toml"}),
        ),
        Turn::call("deleteFile", json!({"path": ".env"})),
        Turn::call(
            "writeTextFile",
            json!({"path": "perstack.lock", "text": "{}"}),
        ),
        Turn::call(
            "writeTextFile",
            json!({"path": ".env.local", "text": "X=1\n"}),
        ),
        Turn::call(
            "writeTextFile",
            json!({"path": "linked.txt", "text": "pwned\n"}),
        ),
        Turn::call(
            "appendTextFile",
            json!({"path": "linked.txt", "text": "pwned\n"}),
        ),
        Turn::call(
            "editTextFile",
            json!({"path": "linked.txt", "oldText": "outside", "newText": "pwned"}),
        ),
        Turn::call("exec", exec),
    ];
    turns.extend([
        Turn::call("attemptCompletion", json!({})),
        Turn::text("done"),
    ]);
    let llm = ScriptedLlm::start(turns).unwrap();
    let out = perstack(&llm, ws.path(), "rewrite your own config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    // Nothing changed, nothing was created.
    assert_eq!(
        std::fs::read_to_string(ws.path().join("perstack.toml")).unwrap(),
        CONFIG
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join(".env")).unwrap(),
        ENV
    );
    for absent in ["perstack.lock", ".env.local", "old.toml", "moved.toml"] {
        assert!(!ws.path().join(absent).exists(), "{absent}");
    }
    assert_eq!(std::fs::read_to_string(&outside_file).unwrap(), "outside\n");
    // Every file-tool call was refused with the reason.
    let requests = llm.requests();
    let seen = serde_json::to_string(requests.last().unwrap()).unwrap();
    assert_eq!(seen.matches("may not change").count(), 9, "{seen}");
    assert_eq!(seen.matches("hard links").count(), 3, "{seen}");
    assert!(
        !seen.contains("env-file-content-4711"),
        "the env file leaked: {seen}"
    );
    let all = events(&out);
    let init = all
        .iter()
        .find(|e| e["type"] == "initializeRuntime")
        .unwrap();
    if init["confinement"]["mountNamespace"] == "full" {
        assert!(seen.contains("EXECDONE"), "{seen}");
    }
    // The loopback endpoint is not OpenAI's official host: said so on the first event.
    let endpoint = &init["providerEndpoint"];
    assert_eq!(endpoint["provider"], "openai");
    assert_eq!(endpoint["official"], false);
    assert!(
        endpoint["warning"]
            .as_str()
            .unwrap()
            .contains("not its official host")
    );
    assert!(stderr.contains("not its official host"), "{stderr}");
}

#[test]
fn a_storage_folder_planted_as_a_link_makes_the_run_refuse() {
    for (link, target) in [("perstack", None), ("perstack/jobs", Some("../other"))] {
        let ws = workspace();
        let elsewhere = tempfile::tempdir().unwrap();
        let target_path = match target {
            Some(t) => {
                std::fs::create_dir_all(ws.path().join("other")).unwrap();
                std::fs::create_dir_all(ws.path().join("perstack")).unwrap();
                std::os::unix::fs::symlink(t, ws.path().join(link)).unwrap();
                ws.path().join("other")
            }
            None => {
                std::os::unix::fs::symlink(elsewhere.path(), ws.path().join(link)).unwrap();
                elsewhere.path().to_path_buf()
            }
        };
        let llm = ScriptedLlm::start(vec![
            Turn::call("attemptCompletion", json!({})),
            Turn::text("done"),
        ])
        .unwrap();
        let out = perstack(&llm, ws.path(), "hello");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{link}: {stderr}");
        assert!(stderr.contains("is a symbolic link"), "{link}: {stderr}");
        assert_eq!(
            std::fs::read_dir(&target_path).unwrap().count(),
            0,
            "{link}: something was written through the link"
        );
    }
}
