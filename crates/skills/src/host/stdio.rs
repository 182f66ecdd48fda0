//! A stdio skill's process: spawned with the sandbox's environment and confinement, its
//! stderr drained line by line into `skillStderr` events, its exit watched (a crash
//! becomes `skillDisconnected`), and a graceful stop (stdin closed, SIGTERM to its process
//! group, then SIGKILL).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use perstack_events::RuntimeEventPayload;
use perstack_sandbox::{Confinement, ConfinementPolicy, Redactor};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{oneshot, watch};

use super::events::SkillEventSink;
use super::options::MAX_STDERR_LINE;
use crate::error::SkillError;

/// How to start one stdio skill.
#[derive(Debug)]
pub(crate) struct SpawnSpec {
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
    /// `None`: no confinement.
    pub confinement: Option<ConfinementPolicy>,
}

/// A running stdio skill process.
#[derive(Debug)]
pub(crate) struct StdioProcess {
    exited: watch::Receiver<bool>,
    stop: Option<oneshot::Sender<Duration>>,
    watcher: Option<tokio::task::JoinHandle<()>>,
    last_words: LastWords,
}

/// How long a failed start waits for the exit status and the rest of stderr.
const LAST_WORDS_WAIT: Duration = Duration::from_secs(2);

/// What a process said on its way out: its exit status and last stderr line (redacted),
/// for the message of a start that failed because the process went away.
#[derive(Debug, Clone, Default)]
struct LastWords {
    status: Arc<Mutex<Option<String>>>,
    stderr: Arc<Mutex<Option<String>>>,
    stderr_closed: Arc<tokio::sync::Notify>,
}

fn set(slot: &Mutex<Option<String>>, value: String) {
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
}

fn get(slot: &Mutex<Option<String>>) -> Option<String> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// The protocol ends of a spawned child.
pub(crate) type Pipes = (ChildStdout, ChildStdin);

impl StdioProcess {
    /// Spawns the child; stderr is drained into events from now on.
    pub fn spawn(
        spec: SpawnSpec,
        events: Arc<dyn SkillEventSink>,
        redactor: Arc<Redactor>,
    ) -> Result<(Self, Pipes), SkillError> {
        let startup = |reason: String| SkillError::Startup {
            skill: spec.name.clone(),
            reason,
        };
        let mut cmd = Command::new(&spec.command);
        cmd.args(&spec.args)
            .env_clear()
            .envs(&spec.env)
            .current_dir(&spec.cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that shutdown reaches grandchildren (npx → node).
            .process_group(0)
            .kill_on_drop(true);
        if let Some(policy) = &spec.confinement {
            Confinement::prepare(policy)?.apply_to_tokio(&mut cmd);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| startup(format!("cannot run {:?}: {e}", spec.command)))?;
        let (Some(stdout), Some(stdin), Some(stderr)) =
            (child.stdout.take(), child.stdin.take(), child.stderr.take())
        else {
            return Err(startup("the child's pipes are missing".into()));
        };
        let last_words = LastWords::default();
        tokio::spawn(drain_stderr(
            spec.name.clone(),
            stderr,
            events.clone(),
            redactor,
            last_words.clone(),
        ));
        let pgid = child.id().and_then(|id| i32::try_from(id).ok());
        if let Some(pgid) = pgid {
            super::groups::register(pgid);
        }
        let (exited_tx, exited) = watch::channel(false);
        let (stop_tx, stop_rx) = oneshot::channel();
        let watcher = tokio::spawn(watch_child(
            spec.name,
            pgid,
            child,
            stop_rx,
            exited_tx,
            events,
            last_words.status.clone(),
        ));
        Ok((
            StdioProcess {
                exited,
                stop: Some(stop_tx),
                watcher: Some(watcher),
                last_words,
            },
            (stdout, stdin),
        ))
    }

    /// A receiver that turns `true` once the process has exited.
    pub fn exited(&self) -> watch::Receiver<bool> {
        self.exited.clone()
    }

    /// If the process has exited (waiting briefly for it and its stderr): its exit status
    /// and last stderr line, for the message of a start that failed.
    pub async fn exit_note(&self) -> Option<String> {
        let mut exited = self.exited.clone();
        let closed = self.last_words.stderr_closed.notified();
        let gone = tokio::time::timeout(LAST_WORDS_WAIT, exited.wait_for(|e| *e))
            .await
            .is_ok_and(|r| r.is_ok());
        if !gone {
            return None;
        }
        // The stderr drain may still be behind the exit.
        let _ = tokio::time::timeout(LAST_WORDS_WAIT, closed).await;
        let status = get(&self.last_words.status).unwrap_or_else(|| "status unknown".into());
        Some(match get(&self.last_words.stderr) {
            Some(line) => format!("the process exited ({status}); its last stderr line: {line}"),
            None => format!("the process exited ({status}) without writing to stderr"),
        })
    }

    /// Stops the process: SIGTERM to its group, SIGKILL after `grace`. Call after the
    /// MCP session is closed (its stdin then is closed too).
    pub async fn stop(&mut self, grace: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(grace);
        }
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.await;
        }
    }
}

async fn watch_child(
    name: String,
    pgid: Option<i32>,
    mut child: Child,
    stop: oneshot::Receiver<Duration>,
    exited: watch::Sender<bool>,
    events: Arc<dyn SkillEventSink>,
    status_slot: Arc<Mutex<Option<String>>>,
) {
    tokio::select! {
        status = child.wait() => {
            match status {
                Ok(s) => {
                    tracing::warn!(skill = %name, status = %s, "skill process exited");
                    set(&status_slot, s.to_string());
                }
                Err(e) => tracing::warn!(skill = %name, error = %e, "skill process lost"),
            }
        }
        grace = stop => {
            // A dropped sender (the host went away without a shutdown) means: stop now.
            let grace = grace.unwrap_or(Duration::ZERO);
            terminate(&name, &mut child, grace).await;
        }
    }
    if let Some(pgid) = pgid {
        super::groups::unregister(pgid);
    }
    let _ = exited.send(true);
    events.emit(RuntimeEventPayload::SkillDisconnected { skill_name: name });
}

async fn terminate(name: &str, child: &mut Child, grace: Duration) {
    if let Some(pid) = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        // The group may already be gone; then there is nothing to stop.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::TERM);
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(_) => tracing::debug!(skill = %name, "skill process stopped"),
        Err(_) => {
            tracing::warn!(skill = %name, "skill process ignored SIGTERM; killing it");
            if let Some(pid) = child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = child.kill().await;
        }
    }
}

/// Forwards each stderr line as a `skillStderr` event (redacted, at most
/// [`MAX_STDERR_LINE`] bytes; the rest of a longer line is dropped).
async fn drain_stderr(
    name: String,
    stderr: impl AsyncRead + Unpin,
    events: Arc<dyn SkillEventSink>,
    redactor: Arc<Redactor>,
    last_words: LastWords,
) {
    // `notify_one` keeps the permit, so a waiter that comes later still sees the close.
    let _closed = Closed(last_words.stderr_closed.clone());
    let mut reader = BufReader::new(stderr);
    let mut line: Vec<u8> = Vec::new();
    loop {
        let buf = match reader.fill_buf().await {
            Ok(b) => b,
            Err(e) => {
                tracing::debug!(skill = %name, error = %e, "skill stderr closed");
                break;
            }
        };
        if buf.is_empty() {
            if !line.is_empty() {
                let text = emit_line(&name, &line, events.as_ref(), &redactor);
                set(&last_words.stderr, text);
            }
            break;
        }
        let (chunk, newline) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = MAX_STDERR_LINE.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = newline.unwrap_or(buf.len());
        reader.consume(used);
        if newline.is_some() {
            let text = emit_line(&name, &line, events.as_ref(), &redactor);
            if !text.trim().is_empty() {
                set(&last_words.stderr, text);
            }
            line.clear();
        }
    }
}

/// Emits one stderr line; returns it as emitted (redacted).
fn emit_line(name: &str, line: &[u8], events: &dyn SkillEventSink, redactor: &Redactor) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.strip_suffix('\r').unwrap_or(&text);
    let message = redactor.redact(text);
    tracing::debug!(skill = %name, %message, "skill stderr");
    events.emit(RuntimeEventPayload::SkillStderr {
        skill_name: name.to_string(),
        message: message.clone(),
    });
    message
}

/// Signals, when dropped, that stderr is closed (however the drain ends).
struct Closed(Arc<tokio::sync::Notify>);

impl Drop for Closed {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}
