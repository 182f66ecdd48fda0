//! `healthCheck`, Perstack's diagnostic tool: the server answers, and says which workspace it
//! serves, how long it has run, how much memory the process holds and its process id. It
//! reads no workspace file and changes nothing.

use std::path::Path;
use std::time::Instant;

use serde_json::{Map, Value, json};

/// The `healthCheck` result, in the shape of Perstack's (`status` is always `ok`: a server
/// that can answer is healthy). `memory` differs: Perstack reports Node's heap, which a Rust
/// process does not have; here it is the process's resident and virtual size.
pub(crate) fn health_check(workspace: &Path, started: Instant) -> Value {
    json!({
        "status": "ok",
        "workspace": workspace.display().to_string(),
        "uptime": format!("{}s", started.elapsed().as_secs()),
        "memory": memory(),
        "pid": std::process::id(),
    })
}

/// `{"rss": "12MB", "virtual": "210MB"}` from `/proc/self/status`; empty where there is no
/// such file (not Linux).
fn memory() -> Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mut out = Map::new();
    for (field, key) in [("VmRSS:", "rss"), ("VmSize:", "virtual")] {
        if let Some(kib) = status_kib(&status, field) {
            // Rounded to whole MB, as Perstack prints its figures.
            out.insert(
                key.into(),
                Value::String(format!("{}MB", (kib + 512) / 1024)),
            );
        }
    }
    Value::Object(out)
}

/// The value in kB of a `/proc/<pid>/status` line such as `VmRSS:   12345 kB`.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.get(field.len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn reads_sizes_from_a_status_file() {
        let status = "Name:\tperstack\nVmSize:\t  215040 kB\nVmRSS:\t   12800 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(12_800));
        assert_eq!(status_kib(status, "VmSize:"), Some(215_040));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn reports_status_workspace_uptime_memory_and_pid() {
        let started = Instant::now()
            .checked_sub(std::time::Duration::from_secs(5))
            .unwrap_or_else(Instant::now);
        let v = health_check(Path::new("/ws"), started);
        assert_eq!(v["status"], "ok");
        assert_eq!(v["workspace"], "/ws");
        let uptime = v["uptime"].as_str().unwrap_or_default();
        let secs: u64 = uptime.trim_end_matches('s').parse().unwrap_or(0);
        assert!(uptime.ends_with('s') && secs >= 5, "{v}");
        assert_eq!(v["pid"], std::process::id());
        let rss = v["memory"]["rss"].as_str().unwrap_or_default();
        assert!(rss.ends_with("MB") && rss.len() > 2, "{v}");
    }
}
