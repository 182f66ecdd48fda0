//! Secrets and terminal escapes through the real binary: a scripted model echoes every kind
//! of secret, and escape sequences, in its text, in tool arguments and through a tool
//! result; a skill prints held values on stderr. No sink may carry a secret: stdout
//! (`run` events and the `start` transcript), stderr (`--verbose` logs), every file of the
//! job's storage, `replay` and `log`. Nothing rendered for a person may carry a raw
//! control character.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::process::{Command, Output, Stdio};

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The provider key the runtime holds (unique, and not secret-shaped: only knowing the
/// value can redact it).
fn held_key() -> String {
    format!("held-provider-key-{}-q9w8e7r6t5", std::process::id())
}

/// A skill's `requiredEnv` value (not credential-named, not secret-shaped).
fn skill_env_value() -> String {
    format!("dsn-value-{}-z1x2c3v4b5", std::process::id())
}

/// (what to look for, the secret as written): the needle is a distinctive middle part, so a
/// secret cut short by rendering still counts.
fn secrets() -> Vec<(String, String)> {
    let pem = "-----BEGIN RSA PRIVATE KEY-----\n\
               MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n\
               -----END RSA PRIVATE KEY-----";
    let google = format!("AIzaSy{}z", "x1".repeat(16));
    [
        (held_key(), held_key()),
        (skill_env_value(), skill_env_value()),
        (
            "Zq8Xb2Lm4Np6Rt8Vw0".into(),
            "sk-ant-api03-Zq8Xb2Lm4Np6Rt8Vw0Yc2Ef4".into(),
        ),
        (
            "Tq3Wv5Xy7Za9Bc1De3".into(),
            "sk-proj-Tq3Wv5Xy7Za9Bc1De3Fg5Hi7".into(),
        ),
        (google[4..30].to_string(), google.clone()),
        (
            "c3D4e5F6g7H8i9J0k1".into(),
            "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8".into(),
        ),
        ("QX7PZ2RM4KD9LW3E".into(), "AKIAQX7PZ2RM4KD9LW3E".into()),
        (
            "8191-Kq7Zp3Lm9Rt1".into(),
            "xoxb-2048-8191-Kq7Zp3Lm9Rt1".into(),
        ),
        (
            "eyJzdWIiOiJ0ZXN0LXVzZXIifQ".into(),
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0LXVzZXIifQ.c2lnbmF0dXJlLXZhbHVlLTEyMw".into(),
        ),
        ("Ppy1tPf9Cnzj4p4WGeKL".into(), pem.into()),
        (
            "Zx81Lq02Wm93Vn4pTy".into(),
            "Authorization: Bearer tok.Zx81Lq02Wm93Vn4pTy".into(),
        ),
    ]
    .into_iter()
    .collect()
}

/// A config whose `worker` Expert's skill is the base skill served over stdio by a shell
/// that first prints, on stderr, its `requiredEnv` value and the held provider key (written
/// into the config: a skill's command line is shown and stored too).
fn config(dir: &Path, ws: &Path) -> String {
    let bin = env!("CARGO_BIN_EXE_perstack");
    let script = format!(
        "echo \"dsn=$SKILL_DSN\" >&2; echo 'held={}' >&2; exec '{bin}' skill base --no-confine --workspace '{}'",
        held_key(),
        ws.display()
    );
    let path = dir.join("perstack.toml");
    std::fs::write(
        &path,
        format!(
            "model = \"scripted-model\"\n\n[experts.\"worker\"]\ninstruction = \"Work.\"\n\n\
             [experts.\"worker\".skills.\"files\"]\ntype = \"mcpStdioSkill\"\ncommand = \"sh\"\n\
             args = [\"-c\", {}]\nrequiredEnv = [\"SKILL_DSN\"]\n",
            serde_json::to_string(&script).unwrap()
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// The model echoes `payload` in its text, writes it to `leak.txt` (tool arguments), reads
/// it back (tool result) and ends with it in its answer.
fn script(payload: &str) -> Vec<Turn> {
    let mut first = Turn::call(
        "writeTextFile",
        json!({"path": "leak.txt", "text": payload}),
    );
    first.text = Some(format!("Echoing: {payload}"));
    vec![
        first,
        Turn::call("readTextFile", json!({"path": "leak.txt"})),
        Turn::call("attemptCompletion", json!({})),
        Turn::text(format!("Done: {payload}")),
    ]
}

fn perstack(llm: Option<&ScriptedLlm>, args: &[&str], ws: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perstack"));
    cmd.args(args)
        .arg("--workspace")
        .arg(ws)
        .current_dir(root())
        .env_remove("PERSTACK_LOG")
        .env("SKILL_DSN", skill_env_value())
        .stdin(Stdio::null());
    if let Some(llm) = llm {
        // Set on the child only; reaches only the loopback scripted server.
        cmd.env("OPENAI_BASE_URL", &llm.base_url)
            .env("OPENAI_API_KEY", held_key());
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every file under `dir`, with its contents.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((
                path.display().to_string(),
                text(&std::fs::read(&path).unwrap()),
            ));
        }
    }
    out
}

/// Runs the job (`run` or `start`, with `--verbose`), then reads it back with `replay` and
/// `log`; returns every output, named, and the job's storage files.
fn outputs(command: &str, payload: &str) -> (tempfile::TempDir, Vec<(String, String)>) {
    outputs_with(command, &[], payload)
}

/// [`outputs`] with `extra` flags on the live command.
fn outputs_with(
    command: &str,
    extra: &[&str],
    payload: &str,
) -> (tempfile::TempDir, Vec<(String, String)>) {
    let llm = ScriptedLlm::start(script(payload)).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let config = config(cfg.path(), ws.path());
    let mut args = vec![command];
    args.extend_from_slice(extra);
    args.extend([
        "--verbose",
        "--config",
        &config,
        "--provider",
        "openai",
        "--job-id",
        "job1",
        "worker",
        "Go",
    ]);
    let live = perstack(Some(&llm), &args, ws.path());
    assert_eq!(
        live.status.code(),
        Some(0),
        "stderr: {}",
        text(&live.stderr)
    );
    assert_eq!(llm.served(), 4);
    let mut all = vec![
        (format!("{command} stdout"), text(&live.stdout)),
        (format!("{command} stderr"), text(&live.stderr)),
    ];
    for (name, args) in [
        ("replay", vec!["replay", "job1", "--verbose"]),
        ("log", vec!["log", "--job", "job1"]),
        ("log --json", vec!["log", "--job", "job1", "--json"]),
    ] {
        let out = perstack(None, &args, ws.path());
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        all.push((format!("{name} stdout"), text(&out.stdout)));
        all.push((format!("{name} stderr"), text(&out.stderr)));
    }
    all.extend(files(&ws.path().join("perstack")));
    (ws, all)
}

fn assert_no_secret(outputs: &[(String, String)]) {
    for (needle, secret) in secrets() {
        for (name, content) in outputs {
            assert!(
                !content.contains(&needle),
                "{secret:?} leaked into {name}:\n{content}"
            );
        }
    }
}

#[test]
fn no_secret_reaches_stdout_stderr_or_storage_through_run() {
    let payload: Vec<String> = secrets().into_iter().map(|(_, s)| s).collect();
    let payload = payload.join("\n");
    let (ws, all) = outputs("run", &payload);
    assert_no_secret(&all);
    // The secrets did flow through every path: events carry the markers instead...
    let events = &all[0].1;
    for kind in [
        "OPENAI_API_KEY",
        "SKILL_DSN",
        "anthropic-key",
        "openai-key",
        "google-key",
        "github-token",
        "aws-access-key",
        "slack-token",
        "jwt",
        "private-key",
        "bearer-token",
    ] {
        assert!(events.contains(&format!("[REDACTED:{kind}]")), "{kind}");
    }
    // ...and the tool ran with what the model gave: the user's file holds the secrets.
    assert_eq!(
        std::fs::read_to_string(ws.path().join("leak.txt")).unwrap(),
        payload
    );
    // The chain of the redacted log verifies.
    let verify = perstack(None, &["log", "--job", "job1", "--verify"], ws.path());
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stdout));
}

#[test]
fn no_secret_reaches_the_compact_stream() {
    // Compact events redact each message once, where it joins the conversation.
    let payload: Vec<String> = secrets().into_iter().map(|(_, s)| s).collect();
    let (_ws, all) = outputs_with("run", &["--events", "compact"], &payload.join("\n"));
    assert_no_secret(&all);
    let events = &all[0].1;
    assert!(
        events.contains("\"conversation\""),
        "not the compact stream"
    );
    for kind in ["OPENAI_API_KEY", "SKILL_DSN", "github-token", "private-key"] {
        assert!(events.contains(&format!("[REDACTED:{kind}]")), "{kind}");
    }
}

#[test]
fn no_secret_reaches_the_start_transcript_or_its_stderr() {
    let payload: Vec<String> = secrets().into_iter().map(|(_, s)| s).collect();
    let (_ws, all) = outputs("start", &payload.join(" "));
    assert_no_secret(&all);
    assert!(
        all[0].1.contains("[REDACTED:OPENAI_API_KEY]"),
        "{}",
        all[0].1
    );
}

/// Escape sequences a model might emit: window title, clipboard (OSC 52), clear screen,
/// the one-character CSI, and bidi overrides and isolates.
const ATTACK: &str = "title\x1b]0;owned\x07 clip\x1b]52;c;b3duZWQ=\x07 clear\x1b[2J csi\u{9b}31m bidi\u{202e}txt.exe\u{2066}x\u{2069}";

/// What must never reach a terminal raw.
const RAW: [&str; 6] = ["\x1b", "\x07", "\u{9b}", "\u{202e}", "\u{2066}", "\u{2069}"];

#[test]
fn no_control_character_reaches_the_terminal_through_start_replay_and_log() {
    let (_ws, all) = outputs("start", ATTACK);
    // Only what is printed for a person: stdout/stderr (the files are data).
    let printed: Vec<&(String, String)> = all
        .iter()
        .filter(|(name, _)| name.ends_with("stdout") || name.ends_with("stderr"))
        .collect();
    for (name, content) in &printed {
        for raw in RAW {
            assert!(
                !content.contains(raw),
                "raw {raw:?} reached {name}:\n{content}"
            );
        }
    }
    // The text itself is shown, neutralised.
    let transcript = &printed[0].1;
    assert!(
        transcript.contains("title\\x1b]0;owned\\x07"),
        "{transcript}"
    );
    assert!(transcript.contains("bidi\\u{202e}txt.exe"), "{transcript}");
    // `log --json` is still JSON.
    let json = &printed
        .iter()
        .find(|(n, _)| n == "log --json stdout")
        .unwrap()
        .1;
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert!(v["events"].to_string().contains("owned"));
    assert!(
        json.contains("\\u001b]0;owned\\u0007") && json.contains("\\u202e"),
        "{json}"
    );
}
