//! `exec`: a program run with argv only (no shell), its cwd inside the workspace, a minimal
//! environment, confinement, capped output, and a supervisor (`perstack_sandbox::supervise`)
//! that kills every descendant, `setsid` ones included, when the program ends, on timeout,
//! and when the call is dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use perstack_sandbox::env::{EnvSource, exec_env};
use perstack_sandbox::supervise::{supervise_tokio, terminate};
use perstack_sandbox::{Confinement, Workspace};
use rmcp::model::CallToolResult;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::BaseSkillOptions;
use super::params::ExecParams;
use super::result::{fail, ok, sandbox_fail};

/// Default timeout, as Perstack.
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;

/// The operator's default limit on one call (`maxToolCallSeconds`, `--max-tool-time`).
pub const DEFAULT_MAX_TOOL_TIME: Duration =
    Duration::from_secs(perstack_core::config::DEFAULT_MAX_TOOL_CALL_SECONDS);

/// How long the supervisor has to take its tree down after SIGTERM.
const SUPERVISOR_GRACE: Duration = Duration::from_secs(10);

/// Sends SIGTERM to the supervisor when dropped before it was reaped (a cancelled call).
struct TerminateOnDrop(Option<u32>);

impl TerminateOnDrop {
    /// The supervisor has been reaped: its pid is no longer ours to signal.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TerminateOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            terminate(pid);
        }
    }
}

/// `exec`.
pub(crate) async fn exec(
    ws: &Workspace,
    opts: &BaseSkillOptions,
    env_source: &(dyn EnvSource + Send + Sync),
    p: &ExecParams,
) -> CallToolResult {
    let cwd = match ws.dir_path(&p.cwd) {
        Ok(c) => c,
        Err(e) => return sandbox_fail(&e),
    };
    let tmp = match PrivateTmp::create(&opts.tmp_root) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                "IoError",
                format!("cannot create a private tmp directory: {e}"),
            );
        }
    };
    let policy = super::exec_policy(ws.root(), tmp.path.clone(), opts);
    let confinement = match Confinement::prepare(&policy) {
        Ok(c) => c,
        Err(e) => return sandbox_fail(&e),
    };
    let (mut env, dropped) = exec_env(env_source, &p.env);
    for (name, value) in &opts.passed_env {
        if !p.env.contains_key(name) {
            env.insert(name.clone(), value.clone());
        }
    }
    env.insert("TMPDIR".into(), tmp.path.display().to_string());
    if !dropped.is_empty() {
        tracing::info!(?dropped, "exec: environment variables dropped");
    }
    let mut cmd = tokio::process::Command::new(&p.command);
    cmd.args(&p.args)
        .current_dir(&cwd)
        .env_clear()
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // The supervisor must get SIGTERM to take its tree down; SIGKILL would orphan it.
        .kill_on_drop(false);
    // First, so that the confinement applies to the program and not to its supervisor.
    supervise_tokio(&mut cmd);
    confinement.apply_to_tokio(&mut cmd);
    let limit = Limit::of(p.timeout, opts.max_tool_time);
    run(cmd, limit, opts.max_output_bytes, p).await
}

/// The time a call gets: the model's `timeout` (or the default), cut to the operator's limit.
#[derive(Debug, Clone, Copy)]
struct Limit {
    ms: u64,
    /// The operator's limit, when it cut the call's timeout.
    operator: Option<Duration>,
}

impl Limit {
    fn of(asked_ms: Option<u64>, operator: Duration) -> Limit {
        let asked = asked_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        let cap = u64::try_from(operator.as_millis()).unwrap_or(u64::MAX);
        if asked > cap {
            Limit {
                ms: cap,
                operator: Some(operator),
            }
        } else {
            Limit {
                ms: asked,
                operator: None,
            }
        }
    }

    fn message(self) -> String {
        match self.operator {
            None => format!("Command timed out after {}ms.", self.ms),
            Some(cap) => format!(
                "Command timed out after {}ms: {}",
                self.ms,
                operator_limit_text(cap)
            ),
        }
    }
}

/// How a tool call over the operator's limit is explained to the model.
pub(crate) fn operator_limit_text(cap: Duration) -> String {
    let limit = if cap.subsec_millis() == 0 {
        format!("{} s", cap.as_secs())
    } else {
        format!("{} ms", cap.as_millis())
    };
    format!(
        "the operator limits each tool call to {limit} (--max-tool-time / maxToolCallSeconds), \
         and a call cannot raise that limit; split the work into shorter calls."
    )
}

async fn run(
    mut cmd: tokio::process::Command,
    limit: Limit,
    cap: usize,
    p: &ExecParams,
) -> CallToolResult {
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail("SpawnError", format!("cannot run {}: {e}", p.command)),
    };
    let pgid = child.id();
    // Whatever way this call ends, even dropped mid-way, the supervisor is told to stop.
    let mut guard = TerminateOnDrop(pgid);
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return fail("SpawnError", "child has no output pipes");
    };
    let work = async {
        let (o, e, status) =
            tokio::join!(read_capped(out, cap), read_capped(err, cap), child.wait());
        (o, e, status)
    };
    match tokio::time::timeout(Duration::from_millis(limit.ms), work).await {
        Ok((stdout, stderr, status)) => {
            let status = match status {
                Ok(s) => s,
                Err(e) => return fail("ExecError", format!("waiting for {}: {e}", p.command)),
            };
            // The supervisor exited after killing every leftover; its pid is reaped and may
            // be reused, so nothing is sent to it or its group any more.
            guard.disarm();
            finish(p, status, stdout, stderr)
        }
        Err(_) => {
            // The supervisor kills the whole tree, then exits. Should it not (it cannot
            // ignore SIGTERM, so only a kernel stall would do that), SIGKILL the group.
            if let Some(pid) = pgid {
                terminate(pid);
            }
            if tokio::time::timeout(SUPERVISOR_GRACE, child.wait())
                .await
                .is_err()
            {
                tracing::warn!("exec: the supervisor did not stop in time; killing its group");
                kill_group(pgid);
                let _ = child.wait().await;
            }
            guard.disarm();
            fail("Timeout", limit.message())
        }
    }
}

fn finish(
    p: &ExecParams,
    status: std::process::ExitStatus,
    stdout: Captured,
    stderr: Captured,
) -> CallToolResult {
    if status.success() {
        let mut output = String::new();
        if p.stdout {
            output.push_str(&stdout.text());
        }
        if p.stderr {
            output.push_str(&stderr.text());
        }
        if output.trim().is_empty() {
            output = "Command executed successfully, but produced no output.".to_string();
        }
        return ok(json!({ "output": output }));
    }
    let why = match status.code() {
        Some(code) => format!("Command failed with exit code {code}: {}", p.command),
        None => format!("Command was killed by a signal: {}", p.command),
    };
    let mut body = json!({ "error": why });
    if p.stdout && !stdout.data.is_empty() {
        body["stdout"] = json!(stdout.text());
    }
    if p.stderr && !stderr.data.is_empty() {
        body["stderr"] = json!(stderr.text());
    }
    CallToolResult::error(vec![rmcp::model::ContentBlock::text(body.to_string())])
}

fn kill_group(pgid: Option<u32>) {
    let Some(pid) = pgid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    // ESRCH (group already gone) is the normal case.
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}

/// Output read up to a cap; the rest is drained and counted.
struct Captured {
    data: Vec<u8>,
    dropped: u64,
}

impl Captured {
    fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.data).into_owned();
        if self.dropped > 0 {
            s.push_str(&format!(
                "\n[output truncated: {} more bytes]",
                self.dropped
            ));
        }
        s
    }
}

async fn read_capped(mut r: impl AsyncRead + Unpin, cap: usize) -> Captured {
    let mut data = Vec::new();
    let mut dropped = 0u64;
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(data.len());
                let take = n.min(room);
                data.extend_from_slice(&buf[..take]);
                dropped += (n - take) as u64;
            }
        }
    }
    Captured { data, dropped }
}

/// A per-call temporary directory, removed when the call ends.
struct PrivateTmp {
    path: PathBuf,
}

impl PrivateTmp {
    fn create(root: &Path) -> std::io::Result<Self> {
        let path = root.join(format!("perstack-exec-{}", perstack_core::id::new_id()));
        std::fs::create_dir_all(&path)?;
        Ok(PrivateTmp { path })
    }
}

impl Drop for PrivateTmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
