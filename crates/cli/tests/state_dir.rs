//! `--state-dir`: storage outside the workspace, out of reach of confined children. A scripted
//! model makes `exec` attack every file of the state folder (append, delete, plant); the
//! attacks fail, the run's own writes succeed, the audit chain verifies, and a continued job
//! keeps writing there.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::process::{Command, Output};

use perstack_testkit::{ScriptedLlm, Turn};
use serde_json::json;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn perstack(llm: &ScriptedLlm, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(args)
        .current_dir(root())
        .env_remove("PERSTACK_LOG")
        .env_remove("PERSTACK_STATE_DIR")
        // Set on the child only; the key is not a secret and reaches only loopback.
        .env("OPENAI_BASE_URL", &llm.base_url)
        .env("OPENAI_API_KEY", "scripted-key-not-a-secret")
        .output()
        .unwrap()
}

const RUN: [&str; 7] = [
    "run",
    "--config",
    "examples/demo/perstack.toml",
    "--provider",
    "openai",
    "--model",
    "scripted-model",
];

fn exec(script: &str) -> serde_json::Value {
    json!({"command": "sh", "args": ["-c", script], "env": {}, "cwd": ".", "stdout": true, "stderr": true})
}

#[test]
fn exec_children_cannot_touch_a_state_dir_and_the_runtime_can() {
    let ws = tempfile::tempdir().unwrap();
    let st = tempfile::tempdir().unwrap();
    let state = st.path().join("state");
    // The output words are split in the script, so only a successful attack prints them.
    let attack = format!(
        "for f in $(find {s} -type f); do echo tamper >> \"$f\" && echo \"APP\"\"ENDED $f\"; \
         rm -f \"$f\" && [ ! -e \"$f\" ] && echo \"DEL\"\"ETED $f\"; done; \
         echo x > {s}/planted && echo \"PLAN\"\"TED\"; mkdir {s}/jobs/evil && echo \"MK\"\"DIR\"; \
         rm -rf {s}/jobs; [ -d {s}/jobs ] || echo \"WI\"\"PED\"; \
         echo fine > in-workspace.txt; find {s} -type f | wc -l",
        s = state.display()
    );
    let llm = ScriptedLlm::start(vec![
        Turn::call("exec", exec(&attack)),
        Turn::call("attemptCompletion", json!({})),
        Turn::text("done"),
    ])
    .unwrap();
    let mut args: Vec<&str> = RUN.to_vec();
    let (ws_s, state_s) = (ws.path().display().to_string(), state.display().to_string());
    args.extend([
        "--workspace",
        &ws_s,
        "--state-dir",
        &state_s,
        "greeter",
        "attack the storage",
    ]);
    let out = perstack(&llm, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The attack ran (it wrote in the workspace) and every write to the state folder failed.
    assert_eq!(
        std::fs::read_to_string(ws.path().join("in-workspace.txt")).unwrap(),
        "fine\n"
    );
    assert!(stdout.contains("Permission denied"), "{stdout}");
    for word in ["APPENDED", "DELETED", "PLANTED", "MKDIR", "WIPED"] {
        assert!(!stdout.contains(word), "{word}: {stdout}");
    }
    assert!(!state.join("planted").exists());
    assert!(
        !ws.path().join("perstack").exists(),
        "storage went to the workspace"
    );
    let jobs: Vec<_> = std::fs::read_dir(state.join("jobs")).unwrap().collect();
    assert_eq!(jobs.len(), 1);
    let verify = |extra: &[&str]| {
        let mut a = vec![
            "log",
            "--verify",
            "--workspace",
            &ws_s,
            "--state-dir",
            &state_s,
        ];
        a.extend(extra);
        perstack(&llm, &a)
    };
    let v = verify(&[]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );

    // The runtime keeps writing there: continue the job.
    let llm2 = ScriptedLlm::start(vec![Turn::text("again")]).unwrap();
    let mut args: Vec<&str> = RUN.to_vec();
    args.extend([
        "--workspace",
        &ws_s,
        "--state-dir",
        &state_s,
        "--continue",
        "greeter",
        "once more",
    ]);
    let out = perstack(&llm2, &args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = verify(&[]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
}

#[test]
fn a_state_dir_inside_the_workspace_is_refused() {
    let ws = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![Turn::text("never")]).unwrap();
    let ws_s = ws.path().display().to_string();
    let inside = ws.path().join("state").display().to_string();
    let mut args: Vec<&str> = RUN.to_vec();
    args.extend([
        "--workspace",
        &ws_s,
        "--state-dir",
        &inside,
        "greeter",
        "hi",
    ]);
    let out = perstack(&llm, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("outside the"), "{stderr}");
    assert!(!ws.path().join("state").exists());
    assert_eq!(llm.served(), 0);

    // The same through the environment variable, and for `perstack log`.
    let out = Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(["log", "--workspace", &ws_s])
        .env("PERSTACK_STATE_DIR", ws.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PERSTACK_STATE_DIR"));
}
