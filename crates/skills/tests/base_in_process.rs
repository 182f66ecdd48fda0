//! The base skill served in-process, driven by an rmcp client over the duplex stream.

// Helpers outside #[test] functions may panic too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::processes_mentioning;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use perstack_skills::base::{BASE_TOOL_NAMES, BaseSkill, BaseSkillOptions, serve_in_process};
use pretty_assertions::assert_eq;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};

struct Env {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    outside: PathBuf,
    client: RunningService<RoleClient, ()>,
}

async fn start(options: BaseSkillOptions) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let ws = base.join("ws");
    let outside = base.join("outside");
    std::fs::create_dir_all(ws.join("perstack/jobs")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(base.join("tmp")).unwrap();
    let options = BaseSkillOptions {
        tmp_root: base.join("tmp"),
        ..options
    };
    let parent_env: BTreeMap<String, String> = [
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
    let skill = BaseSkill::with_env(&ws, options, Arc::new(parent_env)).unwrap();
    let served = serve_in_process(skill);
    let client = ().serve(served.stream).await.unwrap();
    Env {
        _tmp: tmp,
        ws,
        outside,
        client,
    }
}

async fn call(env: &Env, tool: &'static str, args: Value) -> CallToolResult {
    let Value::Object(map) = args else {
        panic!("arguments must be an object")
    };
    env.client
        .call_tool(CallToolRequestParams::new(tool).with_arguments(map))
        .await
        .unwrap()
}

fn json_of(r: &CallToolResult) -> Value {
    let text = r
        .content
        .first()
        .and_then(ContentBlock::as_text)
        .expect("text part")
        .text
        .clone();
    serde_json::from_str(&text).unwrap()
}

fn is_error(r: &CallToolResult) -> bool {
    r.is_error == Some(true)
}

#[tokio::test]
async fn lists_perstacks_sixteen_tools_with_their_parameters() {
    let env = start(BaseSkillOptions::default()).await;
    let tools = env.client.list_all_tools().await.unwrap();
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    let mut expected: Vec<String> = BASE_TOOL_NAMES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected);
    let params = |name: &str| -> (Vec<String>, Vec<String>) {
        let tool = tools.iter().find(|t| t.name == name).unwrap();
        let schema = serde_json::to_value(&*tool.input_schema).unwrap();
        let mut props: Vec<String> = schema["properties"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        props.sort();
        let mut required: Vec<String> = schema["required"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        required.sort();
        (props, required)
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        params("exec"),
        (
            s(&[
                "args", "command", "cwd", "env", "stderr", "stdout", "timeout"
            ]),
            s(&["args", "command", "cwd", "env", "stderr", "stdout"])
        )
    );
    assert_eq!(
        params("editTextFile"),
        (
            s(&["newText", "oldText", "path"]),
            s(&["newText", "oldText", "path"])
        )
    );
    assert_eq!(params("todo"), (s(&["completedTodos", "newTodos"]), s(&[])));
    assert_eq!(
        params("readTextFile"),
        (s(&["from", "path", "to"]), s(&["path"]))
    );
    assert_eq!(
        params("moveFile"),
        (s(&["destination", "source"]), s(&["destination", "source"]))
    );
    assert_eq!(
        params("deleteDirectory"),
        (s(&["path", "recursive"]), s(&["path"]))
    );
    assert_eq!(params("attemptCompletion"), (s(&[]), s(&[])));
    assert_eq!(
        params("writeTextFile"),
        (s(&["path", "text"]), s(&["path", "text"]))
    );
}

#[tokio::test]
async fn file_tools_round_trip() {
    let env = start(BaseSkillOptions::default()).await;
    let r = call(
        &env,
        "writeTextFile",
        json!({"path": "notes/a.txt", "text": "one\ntwo\nthree"}),
    )
    .await;
    assert!(!is_error(&r), "{r:?}");
    assert_eq!(json_of(&r)["path"], json!(env.ws.join("notes/a.txt")));
    let r = call(
        &env,
        "readTextFile",
        json!({"path": "notes/a.txt", "from": 1, "to": 2}),
    )
    .await;
    assert_eq!(
        json_of(&r),
        json!({"path": "notes/a.txt", "content": "two", "from": 1, "to": 2})
    );
    let r = call(
        &env,
        "appendTextFile",
        json!({"path": "notes/a.txt", "text": "\nfour"}),
    )
    .await;
    assert!(!is_error(&r));
    let r = call(
        &env,
        "editTextFile",
        json!({"path": "notes/a.txt", "oldText": "two", "newText": "2"}),
    )
    .await;
    assert!(!is_error(&r), "{r:?}");
    assert_eq!(
        std::fs::read_to_string(env.ws.join("notes/a.txt")).unwrap(),
        "one\n2\nthree\nfour"
    );
    // Missing and ambiguous oldText are clear errors.
    let r = call(
        &env,
        "editTextFile",
        json!({"path": "notes/a.txt", "oldText": "zzz", "newText": "x"}),
    )
    .await;
    assert!(is_error(&r));
    assert_eq!(json_of(&r)["error"], "NoMatch");
    call(
        &env,
        "writeTextFile",
        json!({"path": "dup.txt", "text": "x x"}),
    )
    .await;
    let r = call(
        &env,
        "editTextFile",
        json!({"path": "dup.txt", "oldText": "x", "newText": "y"}),
    )
    .await;
    assert_eq!(json_of(&r)["error"], "AmbiguousMatch");
    assert_eq!(
        std::fs::read_to_string(env.ws.join("dup.txt")).unwrap(),
        "x x"
    );
    // Append needs an existing file.
    let r = call(
        &env,
        "appendTextFile",
        json!({"path": "nope.txt", "text": "x"}),
    )
    .await;
    assert_eq!(json_of(&r)["error"], "NotFound");
    let r = call(&env, "getFileInfo", json!({"path": "notes/a.txt"})).await;
    let info = json_of(&r);
    assert_eq!(
        (
            info["type"].clone(),
            info["mimeType"].clone(),
            info["size"].clone()
        ),
        (json!("file"), json!("text/plain"), json!(16))
    );
    let r = call(&env, "createDirectory", json!({"path": "x/y"})).await;
    assert!(!is_error(&r));
    let r = call(
        &env,
        "moveFile",
        json!({"source": "notes/a.txt", "destination": "x/y/b.txt"}),
    )
    .await;
    assert!(!is_error(&r), "{r:?}");
    let r = call(&env, "listDirectory", json!({"path": "."})).await;
    let names: Vec<String> = json_of(&r)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["dup.txt", "notes", "x"]);
    let r = call(&env, "deleteFile", json!({"path": "x/y/b.txt"})).await;
    assert!(!is_error(&r));
    let r = call(&env, "deleteDirectory", json!({"path": "x"})).await;
    assert_eq!(json_of(&r)["error"], "DirectoryNotEmpty");
    let r = call(
        &env,
        "deleteDirectory",
        json!({"path": "x", "recursive": true}),
    )
    .await;
    assert!(!is_error(&r));
    assert!(!env.ws.join("x").exists());
}

#[tokio::test]
async fn perstack_dir_and_outside_are_refused() {
    let env = start(BaseSkillOptions::default()).await;
    for (tool, args) in [
        ("readTextFile", json!({"path": "perstack/jobs"})),
        (
            "writeTextFile",
            json!({"path": "PERSTACK/x.json", "text": "{}"}),
        ),
        (
            "writeTextFile",
            json!({"path": "../outside/x", "text": "x"}),
        ),
        ("listDirectory", json!({"path": "/etc"})),
        (
            "deleteDirectory",
            json!({"path": "perstack", "recursive": true}),
        ),
        (
            "moveFile",
            json!({"source": "perstack", "destination": "stolen"}),
        ),
        ("getFileInfo", json!({"path": "/proc/self/root/etc/passwd"})),
    ] {
        let r = call(&env, tool, args.clone()).await;
        assert!(is_error(&r), "{tool} {args}");
        assert_eq!(json_of(&r)["error"], "AccessDenied", "{tool} {args}");
    }
    assert!(env.ws.join("perstack/jobs").is_dir());
    assert_eq!(std::fs::read_dir(&env.outside).unwrap().count(), 0);
}

#[tokio::test]
async fn media_reads_return_content() {
    let env = start(BaseSkillOptions::default()).await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    std::fs::write(env.ws.join("pic.png"), &png).unwrap();
    std::fs::write(env.ws.join("fake.png"), b"not a png").unwrap();
    std::fs::write(env.ws.join("doc.pdf"), b"%PDF-1.4\n%%EOF").unwrap();
    let r = call(&env, "readImageFile", json!({"path": "pic.png"})).await;
    assert_eq!(
        json_of(&r),
        json!({"path": env.ws.join("pic.png"), "mimeType": "image/png", "size": png.len()})
    );
    let img = r.content[1].as_image().unwrap();
    assert_eq!(img.mime_type, "image/png");
    let r = call(&env, "readImageFile", json!({"path": "fake.png"})).await;
    assert_eq!(json_of(&r)["error"], "UnsupportedType");
    let r = call(&env, "readPdfFile", json!({"path": "doc.pdf"})).await;
    assert!(!is_error(&r));
    assert!(r.content[1].as_resource().is_some());
}

#[tokio::test]
async fn todos_and_completion() {
    let env = start(BaseSkillOptions::default()).await;
    call(&env, "todo", json!({"newTodos": ["a", "b"]})).await;
    let r = call(&env, "todo", json!({"completedTodos": [0]})).await;
    assert_eq!(json_of(&r)["todos"][0]["completed"], json!(true));
    let r = call(&env, "attemptCompletion", json!({})).await;
    assert_eq!(
        json_of(&r),
        json!({"remainingTodos": [{"id": 1, "title": "b", "completed": false}]})
    );
    call(&env, "clearTodo", json!({})).await;
    let r = call(&env, "attemptCompletion", json!({})).await;
    assert_eq!(json_of(&r), json!({}));
}

fn exec_args(command: &str, args: &[&str]) -> Value {
    json!({"command": command, "args": args, "env": {}, "cwd": ".", "stdout": true, "stderr": true})
}

#[tokio::test]
async fn exec_runs_argv_without_shell_and_with_a_minimal_env() {
    let env = start(BaseSkillOptions::default()).await;
    let r = call(
        &env,
        "exec",
        exec_args("echo", &["hello", "$HOME;", "|", "id"]),
    )
    .await;
    assert_eq!(json_of(&r), json!({"output": "hello $HOME; | id\n"}));
    let mut args = exec_args("env", &[]);
    args["env"] = json!({"FOO": "bar", "LD_PRELOAD": "/evil.so", "OPENAI_API_KEY": "x"});
    let r = call(&env, "exec", args).await;
    let out = json_of(&r)["output"].as_str().unwrap().to_string();
    let mut keys: Vec<&str> = out.lines().filter_map(|l| l.split('=').next()).collect();
    keys.sort();
    assert_eq!(keys, vec!["FOO", "HOME", "PATH", "TMPDIR"]);
    assert!(!out.contains("sk-ant-"));
    let r = call(&env, "exec", exec_args("false", &[])).await;
    assert!(is_error(&r));
    assert!(
        json_of(&r)["error"]
            .as_str()
            .unwrap()
            .contains("exit code 1")
    );
    let r = call(&env, "exec", json!({"command": "pwd", "args": [], "env": {}, "cwd": "../", "stdout": true, "stderr": true})).await;
    assert_eq!(json_of(&r)["error"], "AccessDenied");
}

#[tokio::test]
async fn exec_children_get_the_operators_passed_env_and_a_call_may_override_it() {
    let env = start(BaseSkillOptions {
        passed_env: BTreeMap::from([
            ("FOO".to_string(), "from-operator".to_string()),
            ("BAR".to_string(), "kept".to_string()),
        ]),
        ..BaseSkillOptions::default()
    })
    .await;
    let mut args = exec_args("env", &[]);
    args["env"] = json!({"FOO": "from-call"});
    let r = call(&env, "exec", args).await;
    let out = json_of(&r)["output"].as_str().unwrap().to_string();
    let mut lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("FOO=") || l.starts_with("BAR="))
        .collect();
    lines.sort();
    assert_eq!(lines, vec!["BAR=kept", "FOO=from-call"]);
}

#[tokio::test]
async fn exec_confinement_is_reported() {
    let ws = tempfile::tempdir().unwrap();
    let skill = BaseSkill::new(ws.path(), BaseSkillOptions::default()).unwrap();
    let report = skill.exec_confinement().unwrap();
    assert!(
        report.enabled && report.no_new_privs && !report.network,
        "{report:?}"
    );
    assert!(report.seccomp.ip_sockets_denied, "{report:?}");
    // The storage folder is hidden from exec children where user namespaces are allowed.
    let userns = std::process::Command::new("unshare")
        .args(["-Urm", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let expected = if userns {
        perstack_sandbox::Enforcement::Full
    } else {
        perstack_sandbox::Enforcement::None
    };
    assert_eq!(report.mount_namespace.status, expected, "{report:?}");
    let outside = BaseSkill::new(
        ws.path(),
        BaseSkillOptions {
            hide_storage: false,
            ..BaseSkillOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        outside.exec_confinement().unwrap().mount_namespace.status,
        perstack_sandbox::Enforcement::NotRequested
    );
    let off = BaseSkill::new(
        ws.path(),
        BaseSkillOptions {
            confine: false,
            ..BaseSkillOptions::default()
        },
    )
    .unwrap();
    assert!(!off.exec_confinement().unwrap().enabled);
}

#[tokio::test]
async fn exec_is_confined() {
    let env = start(BaseSkillOptions::default()).await;
    let target = env.outside.join("pwned");
    let script = format!("echo x > {}", target.display());
    let r = call(&env, "exec", exec_args("sh", &["-c", &script])).await;
    assert!(is_error(&r), "{r:?}");
    assert!(!target.exists());
    let r = call(
        &env,
        "exec",
        exec_args("sh", &["-c", "echo x > inside.txt && cat inside.txt"]),
    )
    .await;
    assert_eq!(json_of(&r), json!({"output": "x\n"}));
}

#[tokio::test]
async fn exec_timeout_kills_the_process_group() {
    let env = start(BaseSkillOptions::default()).await;
    // A background grandchild that would write a file after the timeout if it survived.
    let marker = env.ws.join("survived");
    let script = format!("(sleep 2; echo x > {}) & sleep 30", marker.display());
    let mut args = exec_args("sh", &["-c", &script]);
    args["timeout"] = json!(300);
    let r = call(&env, "exec", args).await;
    assert_eq!(
        json_of(&r),
        json!({"error": "Timeout", "message": "Command timed out after 300ms."})
    );
    // Wait for the grandchild's deadline to pass: if it were alive it would have written.
    let r = call(&env, "exec", exec_args("sleep", &["3"])).await;
    assert!(!is_error(&r));
    assert!(
        !marker.exists(),
        "a process of the group outlived the timeout"
    );
}

#[tokio::test]
async fn exec_timeout_kills_a_grandchild_that_left_with_setsid() {
    let env = start(BaseSkillOptions::default()).await;
    let marker = env.ws.join("escaped");
    let started = env.ws.join("started");
    let go = env.ws.join("go");
    // The grandchild leaves the process group and session, says so, then would write the
    // marker once the test says go (after the timeout); the program waits for it to start,
    // then sleeps past the timeout.
    let script = format!(
        "setsid sh -c 'echo $$ > {s}; until [ -e {g} ]; do sleep 0.1; done; echo x > {m}' & \
         while [ ! -s {s} ]; do sleep 0.05; done; sleep 60",
        s = started.display(),
        g = go.display(),
        m = marker.display()
    );
    let mut args = exec_args("sh", &["-c", &script]);
    // Generous: the grandchild must be running before the timeout on a loaded machine.
    args["timeout"] = json!(5000);
    let r = call(&env, "exec", args).await;
    assert_eq!(json_of(&r)["error"], "Timeout", "{r:?}");
    assert!(started.exists(), "the grandchild never started");
    std::fs::write(&go, "").unwrap();
    // Ample time for a survivor to notice and write.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        !marker.exists(),
        "the setsid grandchild survived the timeout"
    );
    let left = processes_mentioning(&env.ws.display().to_string());
    assert!(left.is_empty(), "survivors: {left:?}");
}

#[tokio::test]
async fn exec_leftovers_die_when_the_program_exits() {
    let env = start(BaseSkillOptions::default()).await;
    let marker = env.ws.join("daemon");
    let started = env.ws.join("daemon-started");
    let script = format!(
        "setsid sh -c 'echo $$ > {s}; sleep 2; echo x > {m}' & \
         while [ ! -s {s} ]; do sleep 0.05; done; echo done",
        s = started.display(),
        m = marker.display()
    );
    let r = call(&env, "exec", exec_args("sh", &["-c", &script])).await;
    assert_eq!(json_of(&r), json!({"output": "done\n"}));
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert!(!marker.exists(), "a daemon outlived its exec call");
    let left = processes_mentioning(&env.ws.display().to_string());
    assert!(left.is_empty(), "survivors: {left:?}");
}

#[tokio::test]
async fn exec_children_cannot_touch_the_storage_folder() {
    use std::os::unix::fs::MetadataExt;
    let env = start(BaseSkillOptions::default()).await;
    let storage = env.ws.join("perstack");
    std::fs::write(storage.join("jobs/keep"), "k").unwrap();
    let script = "echo x > perstack/x; echo y >> perstack/jobs/keep; rm -f perstack/jobs/keep; \
        echo ok > elsewhere.txt; ls -A perstack";
    let r = call(&env, "exec", exec_args("sh", &["-c", script])).await;
    let userns = std::process::Command::new("unshare")
        .args(["-Urm", "true"])
        .status()
        .is_ok_and(|s| s.success());
    assert_eq!(
        std::fs::read_to_string(env.ws.join("elsewhere.txt")).unwrap(),
        "ok\n"
    );
    let meta = std::fs::metadata(env.ws.join("elsewhere.txt")).unwrap();
    assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());
    if userns {
        assert!(!storage.join("x").exists(), "{r:?}");
        assert_eq!(
            std::fs::read_to_string(storage.join("jobs/keep")).unwrap(),
            "k"
        );
    } else {
        eprintln!("no user namespaces here: the storage folder is not hidden from exec");
    }
}

#[tokio::test]
async fn exec_output_is_capped() {
    let env = start(BaseSkillOptions {
        max_output_bytes: 10,
        ..BaseSkillOptions::default()
    })
    .await;
    let r = call(
        &env,
        "exec",
        exec_args("sh", &["-c", "printf 0123456789abcdef"]),
    )
    .await;
    assert_eq!(
        json_of(&r),
        json!({"output": "0123456789\n[output truncated: 6 more bytes]"})
    );
}
