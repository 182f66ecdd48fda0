//! `perstack start` and `perstack replay` end to end against the project's scripted LLM
//! server: the live transcript, prompts answered through stdin, and replay of what was stored.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Runs `perstack args... --workspace ws` with `stdin` piped in.
fn perstack(llm: Option<&ScriptedLlm>, args: &[&str], workspace: &Path, stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perstack"));
    cmd.args(args)
        .arg("--workspace")
        .arg(workspace)
        .current_dir(root())
        .env_remove("PERSTACK_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(llm) = llm {
        // Set on the child only; the key is not a secret and reaches only loopback.
        cmd.env("OPENAI_BASE_URL", &llm.base_url)
            .env("OPENAI_API_KEY", "scripted-key-not-a-secret");
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The only job of the workspace.
fn job_id(ws: &Path) -> String {
    let jobs: Vec<_> = std::fs::read_dir(ws.join("perstack/jobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs[0].clone()
}

/// The transcript without what varies between runs: the workspace path, elapsed times.
fn redact(s: &str, ws: &Path) -> String {
    let canonical = std::fs::canonicalize(ws).unwrap();
    redact_times(&s.replace(&canonical.display().to_string(), "<ws>"))
}

/// Elapsed times vary from run to run; snapshots show them as `<t>`.
fn redact_times(s: &str) -> String {
    s.split(" · ")
        .map(|part| {
            let (head, rest) = part.split_at(part.find('\n').unwrap_or(part.len()));
            let is_time = head.ends_with("ms")
                && head[..head.len() - 2].chars().all(|c| c.is_ascii_digit())
                || head.ends_with('s')
                    && !head.is_empty()
                    && head[..head.len() - 1]
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '.' || c == 'm');
            if is_time && !head.is_empty() {
                format!("<t>{rest}")
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn demo_args() -> Vec<&'static str> {
    vec![
        "--config",
        "examples/demo/perstack.toml",
        "--provider",
        "openai",
        "--model",
        "scripted-model",
        "greeter",
        "Write a short greeting to hello.md",
    ]
}

#[test]
fn start_renders_the_demo_and_replay_prints_exactly_the_same() {
    let llm = ScriptedLlm::from_file(&root().join("examples/demo/script.json")).unwrap();
    let ws = tempfile::tempdir().unwrap();
    let mut args = vec!["start"];
    args.extend(demo_args());
    let live = perstack(Some(&llm), &args, ws.path(), "");
    assert_eq!(live.status.code(), Some(0), "stderr: {}", stderr(&live));
    let transcript = stdout(&live);
    assert!(!transcript.contains('\x1b'), "escape codes off a terminal");
    assert!(
        !stderr(&live).contains('\x1b'),
        "no status line off a terminal"
    );
    let job = job_id(ws.path());
    let replay = perstack(None, &["replay", &job], ws.path(), "");
    assert_eq!(replay.status.code(), Some(0), "stderr: {}", stderr(&replay));
    assert_eq!(stdout(&replay), transcript);
    assert_eq!(llm.served(), 4, "replay calls no model");
    insta::assert_snapshot!("demo_transcript", redact(&transcript, ws.path()));
}

/// A config in `dir` whose `asker` Expert has an interactive tool and whose `writer`
/// Expert needs approval for `writeTextFile`.
fn write_config(dir: &Path) -> String {
    let path = dir.join("perstack.toml");
    std::fs::write(
        &path,
        r#"
model = "scripted-model"

[experts."asker"]
instruction = "Ask the user which colour they like, then answer."

[experts."asker".skills."ui"]
type = "interactiveSkill"

[experts."asker".skills."ui".tools."askUser"]
description = "Ask the user a question."
inputJsonSchema = '{"type":"object","properties":{"question":{"type":"string"}},"required":["question"]}'

[experts."writer"]
instruction = "Write files."

[experts."writer".skills."@perstack/base"]
type = "mcpStdioSkill"
command = "npx"
packageName = "@perstack/base"
requireApproval = ["writeTextFile"]
"#,
    )
    .unwrap();
    path.display().to_string()
}

fn scripted_args<'a>(config: &'a str, expert: &'a str, query: &'a str) -> Vec<&'a str> {
    vec![
        "start",
        "--config",
        config,
        "--provider",
        "openai",
        // A fixed job id: the resume commands in the transcript name it.
        "--job-id",
        "job1",
        expert,
        query,
    ]
}

/// The text of the tool message the model got on its second turn.
fn second_request(llm: &ScriptedLlm) -> String {
    llm.requests()[1]["messages"].to_string()
}

#[test]
fn an_interactive_tool_is_answered_through_stdin_and_the_run_completes() {
    let llm = ScriptedLlm::start(vec![
        Turn::call("askUser", json!({"question": "Which colour?"})),
        Turn::text("Blue it is."),
    ])
    .unwrap();
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = write_config(cfg_dir.path());
    let ws = tempfile::tempdir().unwrap();
    let out = perstack(
        Some(&llm),
        &scripted_args(&config, "asker", "Pick a colour"),
        ws.path(),
        "blue\n",
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("answer to askUser > "),
        "{}",
        stderr(&out)
    );
    assert!(second_request(&llm).contains("blue"));
    let transcript = stdout(&out);
    assert!(!transcript.contains('\x1b'));
    insta::assert_snapshot!(
        "interactive_answered",
        redact(&transcript.replace(&config, "<cfg>"), ws.path())
    );
    // The answered job replays to the same transcript (given the same flags).
    let replay = perstack(
        None,
        &["replay", &job_id(ws.path()), "--config", &config],
        ws.path(),
        "",
    );
    assert_eq!(stdout(&replay), transcript);
}

#[test]
fn an_interactive_stop_without_an_answer_on_stdin_exits_3_with_the_resume_command() {
    let llm = ScriptedLlm::start(vec![Turn::call(
        "askUser",
        json!({"question": "Which colour?"}),
    )])
    .unwrap();
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = write_config(cfg_dir.path());
    let ws = tempfile::tempdir().unwrap();
    let out = perstack(
        Some(&llm),
        &scripted_args(&config, "asker", "Pick a colour"),
        ws.path(),
        "",
    );
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    let job = job_id(ws.path());
    assert!(
        stdout(&out).contains(&format!(
            "perstack start --config {config} --workspace {} --continue-job {job} -i asker 'YOUR ANSWER'",
            ws.path().display()
        )),
        "{}",
        stdout(&out)
    );
    // --no-prompt stops the same way without reading stdin.
    let llm = ScriptedLlm::start(vec![Turn::call("askUser", json!({"question": "?"}))]).unwrap();
    let ws = tempfile::tempdir().unwrap();
    let mut args = scripted_args(&config, "asker", "Pick a colour");
    args.insert(1, "--no-prompt");
    let out = perstack(Some(&llm), &args, ws.path(), "blue\n");
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    assert!(!stderr(&out).contains("answer to"), "{}", stderr(&out));
}

/// The run's llm, workspace, output (the config path shown as `<cfg>`) and config folder.
fn approval_run(answers: &str) -> (ScriptedLlm, tempfile::TempDir, Output, tempfile::TempDir) {
    let llm = ScriptedLlm::start(vec![
        Turn::call("writeTextFile", json!({"path": "a.md", "text": "A"})),
        Turn::text("Done."),
    ])
    .unwrap();
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = write_config(cfg_dir.path());
    let ws = tempfile::tempdir().unwrap();
    let out = perstack(
        Some(&llm),
        &scripted_args(&config, "writer", "Write A to a.md"),
        ws.path(),
        answers,
    );
    let mut out = out;
    out.stdout = String::from_utf8(out.stdout)
        .unwrap()
        .replace(&config, "<cfg>")
        .into_bytes();
    (llm, ws, out, cfg_dir)
}

#[test]
fn an_approval_answered_y_runs_the_call() {
    let (llm, ws, out, cfg_dir) = approval_run("y\n");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("approve @perstack/base › writeTextFile"));
    assert_eq!(
        std::fs::read_to_string(ws.path().join("a.md")).unwrap(),
        "A"
    );
    assert!(!second_request(&llm).contains("denied"));
    insta::assert_snapshot!("approval_approved", redact(&stdout(&out), ws.path()));
    // Both runs of the job (the stop and the approved resume) replay as printed live; the
    // hints name the flags replay was given, here the same as start's.
    let config = cfg_dir.path().join("perstack.toml").display().to_string();
    let replay = perstack(
        None,
        &["replay", "job1", "--config", &config],
        ws.path(),
        "",
    );
    assert_eq!(stdout(&replay).replace(&config, "<cfg>"), stdout(&out));
}

#[test]
fn an_approval_answered_n_denies_the_call_with_the_reason() {
    let (llm, ws, out, _cfg_dir) = approval_run("n\nnot in this folder\n");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(!ws.path().join("a.md").exists());
    let sent = second_request(&llm);
    assert!(
        sent.contains("denied") && sent.contains("not in this folder"),
        "{sent}"
    );
    insta::assert_snapshot!("approval_denied", redact(&stdout(&out), ws.path()));
}

#[test]
fn replay_resume_from_branches_a_new_run_whose_events_are_stored() {
    let llm = ScriptedLlm::start(vec![
        Turn::call("writeTextFile", json!({"path": "a.md", "text": "A"})),
        // The branch, from the approval stop, gets a plain answer.
        Turn::text("Branched."),
    ])
    .unwrap();
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = write_config(cfg_dir.path());
    let ws = tempfile::tempdir().unwrap();
    let mut args = scripted_args(&config, "writer", "Write A to a.md");
    args.insert(1, "--no-prompt");
    let first = perstack(Some(&llm), &args, ws.path(), "");
    assert_eq!(first.status.code(), Some(3), "stderr: {}", stderr(&first));
    let job = job_id(ws.path());
    let storage = perstack_checkpoint::Storage::new(ws.path());
    let runs_before = storage.list_runs(&job).unwrap();
    let stop = storage
        .list_checkpoints(&job)
        .unwrap()
        .into_iter()
        .find(|c| c.status == perstack_core::CheckpointStatus::StoppedByApproval)
        .unwrap();
    let branch = perstack(
        Some(&llm),
        &[
            "replay",
            &job,
            "--resume-from",
            &stop.id,
            "--config",
            &config,
            "--provider",
            "openai",
        ],
        ws.path(),
        "n\n\n",
    );
    assert_eq!(branch.status.code(), Some(0), "stderr: {}", stderr(&branch));
    assert!(stdout(&branch).contains("Branched."), "{}", stdout(&branch));
    let runs_after = storage.list_runs(&job).unwrap();
    assert_eq!(runs_after.len(), runs_before.len() + 1, "{runs_after:?}");
    let new_run = runs_after
        .iter()
        .find(|r| !runs_before.contains(r))
        .unwrap();
    let events = storage.read_events(&job, new_run).unwrap();
    // The skills' shutdown (skillDisconnected) is stored after the run's last event.
    let last_run_event = events
        .iter()
        .rfind(|e| !e.type_name().starts_with("skill"))
        .unwrap();
    assert_eq!(last_run_event.type_name(), "completeRun");
    // The whole job, branch included, replays.
    let replay = perstack(None, &["replay", &job], ws.path(), "");
    assert_eq!(replay.status.code(), Some(0));
    assert!(stdout(&replay).contains("Branched."));
}

#[test]
fn replay_of_an_unknown_job_or_checkpoint_lists_what_exists() {
    let llm = ScriptedLlm::from_file(&root().join("examples/demo/script.json")).unwrap();
    let ws = tempfile::tempdir().unwrap();
    let mut args = vec!["start"];
    args.extend(demo_args());
    assert_eq!(
        perstack(Some(&llm), &args, ws.path(), "").status.code(),
        Some(0)
    );
    let job = job_id(ws.path());
    let out = perstack(None, &["replay", "nosuchjob"], ws.path(), "");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no job nosuchjob") && stderr(&out).contains(&job));
    let out = perstack(
        None,
        &["replay", &job, "--resume-from", "nosuchcp"],
        ws.path(),
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("has no checkpoint nosuchcp"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("Completed"), "{}", stderr(&out));
    let out = perstack(None, &["replay", &job, "--run", "nosuchrun"], ws.path(), "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("has no run nosuchrun"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn start_and_replay_help_teach_flags_prompts_and_exit_codes() {
    let ws = tempfile::tempdir().unwrap();
    let start = stdout(&perstack(None, &["start", "--help"], ws.path(), ""));
    for needle in [
        "--continue-job",
        "--approve <TOOL_CALL_ID>",
        "--max-steps",
        "--no-prompt",
        "Prompts",
        "NO_COLOR",
        "Exit codes",
        "perstack replay",
    ] {
        assert!(
            start.contains(needle),
            "start --help lacks {needle}:\n{start}"
        );
    }
    let replay = stdout(&perstack(None, &["replay", "--help"], ws.path(), ""));
    for needle in [
        "--resume-from <CHECKPOINT_ID>",
        "--run <RUN_ID>",
        "--config",
        "Exit codes",
        "Examples",
    ] {
        assert!(
            replay.contains(needle),
            "replay --help lacks {needle}:\n{replay}"
        );
    }
}

/// A config whose `worker` Expert's only skill is the base skill served over stdio by a shell
/// that first prints two stderr lines, one carrying a secret-shaped token (built at run time,
/// so the command line itself holds no secret).
fn stderr_skill_config(dir: &Path, ws: &Path) -> String {
    let bin = env!("CARGO_BIN_EXE_perstack");
    let script = format!(
        "echo 'files: warming up' >&2; t=sk-ant-api03; a=AAAAAAAAAAAAAA; echo \"token $t-$a$a\" >&2; exec '{bin}' skill base --no-confine --workspace '{}'",
        ws.display()
    );
    let path = dir.join("perstack.toml");
    std::fs::write(
        &path,
        format!(
            "model = \"scripted-model\"\n\n[experts.\"worker\"]\ninstruction = \"Work.\"\n\n[experts.\"worker\".skills.\"files\"]\ntype = \"mcpStdioSkill\"\ncommand = \"sh\"\nargs = [\"-c\", {}]\n",
            serde_json::to_string(&script).unwrap()
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn skill_lines_of_start_verbose_are_stored_and_replayed_redacted() {
    let llm = ScriptedLlm::start(vec![Turn::text("All done.")]).unwrap();
    let cfg_dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let config = stderr_skill_config(cfg_dir.path(), ws.path());
    let mut args = scripted_args(&config, "worker", "Do it");
    args.insert(1, "--verbose");
    let live = perstack(Some(&llm), &args, ws.path(), "");
    assert_eq!(live.status.code(), Some(0), "stderr: {}", stderr(&live));
    let transcript = stdout(&live);
    for needle in [
        "[skill] files starting: sh -c",
        "[skill files] files: warming up",
        "[skill files] token [REDACTED:",
        "[skill] files connected",
        "[skill] files stopped",
    ] {
        assert!(
            transcript.contains(needle),
            "no {needle:?} in:\n{transcript}"
        );
    }
    assert!(
        !transcript.contains("AAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        "{transcript}"
    );
    // The stored log holds the skill events: replay --verbose prints the same transcript.
    let replay = perstack(None, &["replay", "job1", "--verbose"], ws.path(), "");
    assert_eq!(replay.status.code(), Some(0), "stderr: {}", stderr(&replay));
    assert_eq!(stdout(&replay), transcript);
    // Without --verbose neither shows them.
    let quiet = stdout(&perstack(None, &["replay", "job1"], ws.path(), ""));
    assert!(!quiet.contains("[skill"), "{quiet}");
    // `perstack log` finds them after the fact, redacted on disk too; the chain verifies.
    let log = perstack(
        None,
        &["log", "--job", "job1", "--type", "skillStderr"],
        ws.path(),
        "",
    );
    assert_eq!(log.status.code(), Some(0), "stderr: {}", stderr(&log));
    let log = stdout(&log);
    assert!(
        log.contains("skillStderr") && log.contains("files: files: warming up"),
        "{log}"
    );
    assert!(log.contains("token [REDACTED:"), "{log}");
    assert!(!log.contains("[step"), "only skillStderr events:\n{log}");
    let verify = perstack(None, &["log", "--job", "job1", "--verify"], ws.path(), "");
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    let storage = perstack_checkpoint::Storage::new(ws.path());
    let runs = storage.list_runs("job1").unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let path = storage.layout().events_file("job1", &runs[0]).unwrap();
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(
        !raw.contains("AAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        "secret stored:\n{raw}"
    );
    let events = storage.read_run_events("job1", &runs[0]).unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|e| e.type_name())
        .filter(|t| t.starts_with("skill"))
        .collect();
    assert_eq!(types.first(), Some(&"skillStarting"), "{types:?}");
    assert_eq!(types.last(), Some(&"skillDisconnected"), "{types:?}");
    for t in ["skillConnected", "skillStderr"] {
        assert!(types.contains(&t), "{types:?}");
    }
}
