//! A `perstack run` child process watched from a test: its stdout JSONL events are collected
//! as they arrive, so a test can wait for an event (never for a duration) before signalling.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use serde_json::Value;

/// How long a test waits for something that normally takes well under a second: generous,
/// so that a loaded 2-core machine never turns slowness into a failure.
pub const PATIENCE: Duration = Duration::from_secs(120);

#[derive(Debug, Default)]
struct Seen {
    events: Vec<Value>,
    closed: bool,
}

type Shared = Arc<(Mutex<Seen>, Condvar)>;

/// A spawned child whose stdout lines are parsed as JSON events in the background.
#[derive(Debug)]
pub struct Watched {
    child: Child,
    seen: Shared,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

/// How a watched child ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Every event it printed (lines that are not JSON are kept as strings).
    pub events: Vec<Value>,
    /// Its standard error.
    pub stderr: String,
}

impl Finished {
    /// The exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The `type` of each event, in order.
    pub fn types(&self) -> Vec<String> {
        event_types(&self.events)
    }
}

/// The `type` of each event, in order.
pub fn event_types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_string))
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Watched {
    /// Spawns `cmd` with stdout and stderr piped (stdin closed).
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Watched> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let seen: Shared = Arc::default();
        if let Some(out) = child.stdout.take() {
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                    lock(&seen.0).events.push(v);
                    seen.1.notify_all();
                }
                lock(&seen.0).closed = true;
                seen.1.notify_all();
            });
        }
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_reader = child.stderr.take().map(|mut err| {
            let stderr = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    lock(&stderr).push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            })
        });
        Ok(Watched {
            child,
            seen,
            stderr,
            stderr_reader,
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `pred` holds (checked at each event and every few milliseconds, so it may
    /// look at files too); false when stdout closed (the child ended) or `timeout` passed.
    pub fn wait_until(&self, timeout: Duration, pred: impl Fn(&[Value]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut seen = lock(&self.seen.0);
        loop {
            if pred(&seen.events) {
                return true;
            }
            let now = Instant::now();
            if seen.closed || now >= deadline {
                return false;
            }
            // Woken by each event; the tick re-checks predicates on other things (files).
            let tick = (deadline - now).min(Duration::from_millis(25));
            seen = self
                .seen
                .1
                .wait_timeout(seen, tick)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits (up to [`PATIENCE`]) for an event of type `event_type`; false if the child
    /// ended without printing one.
    pub fn wait_for_event(&self, event_type: &str) -> bool {
        self.wait_until(PATIENCE, |events| {
            events.iter().any(|e| e["type"] == event_type)
        })
    }

    /// Events printed so far.
    pub fn events(&self) -> Vec<Value> {
        lock(&self.seen.0).events.clone()
    }

    /// Standard error so far.
    pub fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: Signal) -> std::io::Result<()> {
        let pid = i32::try_from(self.child.id())
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| std::io::Error::other("no pid"))?;
        kill_process(pid, signal).map_err(std::io::Error::from)
    }

    /// SIGKILL.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()
    }

    /// Waits for the child to exit (killing it after [`PATIENCE`], which fails the wait),
    /// then for its stdout to be read to the end.
    pub fn finish(mut self) -> std::io::Result<Finished> {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(s) = self.child.try_wait()? {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the child did not exit within {PATIENCE:?}; stderr: {}",
                        self.stderr()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // stdout closes when the child (and anything holding its pipe) is gone.
        self.wait_until(PATIENCE, |_| false);
        if let Some(reader) = self.stderr_reader.take() {
            let until = Instant::now() + PATIENCE;
            while !reader.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(Finished {
            status,
            events: self.events(),
            stderr: self.stderr(),
        })
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // A test that failed half-way must not leave a run behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn events_are_seen_as_they_come_and_signals_reach_the_child() {
        let mut cmd = Command::new("sh");
        // stderr first: the signal below is sent once both stdout lines are seen, which
        // could be before a later `echo oops` ran (a flake seen in CI).
        cmd.args([
            "-c",
            r#"echo oops >&2; echo '{"type":"ready"}'; echo 'not json'; exec sleep 30"#,
        ]);
        let child = Watched::spawn(&mut cmd).unwrap();
        assert!(child.wait_for_event("ready"));
        assert!(child.wait_until(PATIENCE, |e| e.len() == 2));
        child.signal(Signal::TERM).unwrap();
        let done = child.finish().unwrap();
        assert_eq!(done.code(), None);
        assert_eq!(done.status.signal(), Some(15));
        assert_eq!(done.types(), vec!["ready".to_string()]);
        assert_eq!(done.events[1], Value::String("not json".into()));
        assert_eq!(done.stderr, "oops\n");
    }

    #[test]
    fn waiting_for_an_event_ends_when_the_child_does() {
        let mut cmd = Command::new("true");
        let child = Watched::spawn(&mut cmd).unwrap();
        assert!(!child.wait_for_event("never"));
        assert_eq!(child.finish().unwrap().code(), Some(0));
    }
}
