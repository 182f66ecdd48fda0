//! The process groups of the stdio skills alive in this process, so that an exit which cannot
//! wait for the graceful shutdown (a second SIGTERM/SIGINT) still takes the skills with it.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

static LIVE: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Records a skill child, the leader of its own process group.
pub(crate) fn register(pgid: i32) {
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(pgid);
}

/// Forgets a skill child once it has been reaped (its group id may then be reused).
pub(crate) fn unregister(pgid: i32) {
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&pgid);
}

/// Sends SIGKILL to the process group of every stdio skill still running in this process and
/// returns how many there were. For an immediate exit only: the skills get no chance to clean
/// up, and their MCP sessions are left unclosed.
pub fn kill_all_skill_processes() -> usize {
    let groups = std::mem::take(&mut *LIVE.lock().unwrap_or_else(PoisonError::into_inner));
    for pgid in &groups {
        if let Some(pid) = rustix::process::Pid::from_raw(*pgid) {
            // The group may be gone already; then there is nothing to kill.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
    groups.len()
}
