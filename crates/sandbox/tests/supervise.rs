//! The supervisor for real: `sh` children leave descendants behind (in the background, and
//! out of the process group with `setsid`) that would write a marker file after a delay if
//! they survived. After the program ends or its supervisor is told to stop, none survives:
//! the marker never appears (checked well after its delay) and no process names it.

// Helpers outside #[test] functions may panic too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use perstack_sandbox::supervise::{supervise, terminate};
use perstack_sandbox::{Confinement, ConfinementPolicy};

/// The leftover's delay before it writes the marker.
const DELAY_S: u64 = 2;

struct Dir {
    _tmp: tempfile::TempDir,
    path: PathBuf,
}

fn dir() -> Dir {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().canonicalize().unwrap();
    Dir { _tmp: t, path }
}

/// A script whose `setsid` grandchild records its pid, waits, then writes the marker.
fn escaping_grandchild(d: &Path) -> String {
    format!(
        "setsid sh -c 'echo $$ > {pid}.tmp && mv {pid}.tmp {pid}; sleep {DELAY_S}; echo x > {marker}' & \
         (sleep {DELAY_S}; echo x > {marker}.bg) & \
         while [ ! -s {pid} ]; do sleep 0.05; done",
        pid = d.join("pid").display(),
        marker = d.join("marker").display(),
    )
}

fn command(script: &str, cwd: &Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .process_group(0);
    supervise(&mut cmd);
    cmd
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap()
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Processes whose command line mentions `needle`.
fn mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(needle)
            && alive(&name)
        {
            found.push(name);
        }
    }
    found
}

/// Waits well past the leftovers' delay, then checks that nothing of them is left.
fn assert_no_survivor(d: &Path, grandchild: &str) {
    assert!(
        !alive(grandchild),
        "the setsid grandchild {grandchild} survived: {:?} {:?}",
        std::fs::read_to_string(format!("/proc/{grandchild}/stat")),
        std::fs::read(format!("/proc/{grandchild}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).into_owned()),
    );
    std::thread::sleep(Duration::from_secs(DELAY_S * 2 + 1));
    assert!(
        !d.join("marker").exists(),
        "the setsid grandchild wrote its marker"
    );
    assert!(
        !d.join("marker.bg").exists(),
        "the background child wrote its marker"
    );
    let left = mentioning(&d.display().to_string());
    assert!(left.is_empty(), "survivors: {left:?}");
}

#[test]
fn terminate_kills_a_setsid_grandchild_and_the_background() {
    let d = dir();
    let script = format!("{}; sleep 60", escaping_grandchild(&d.path));
    let mut child = command(&script, &d.path).spawn().unwrap();
    wait_for(&d.path.join("pid"));
    let grandchild = std::fs::read_to_string(d.path.join("pid")).unwrap();
    let grandchild = grandchild.trim();
    assert!(alive(grandchild));
    terminate(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed, not exited: {status:?}");
    assert_no_survivor(&d.path, grandchild);
}

#[test]
fn the_tree_dies_with_the_program_and_its_exit_code_is_kept() {
    let d = dir();
    let script = format!("{}; echo out; exit 3", escaping_grandchild(&d.path));
    // Output is read to its end although the leftovers hold the pipe: they are killed.
    let out = command(&script, &d.path)
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    let grandchild = std::fs::read_to_string(d.path.join("pid")).unwrap();
    assert_no_survivor(&d.path, grandchild.trim());
}

#[test]
fn a_killed_program_is_reported_as_killed() {
    let d = dir();
    let status = command("kill -9 $$", &d.path).status().unwrap();
    assert_eq!(status.code(), None, "{status:?}");
    let status = command("exit 0", &d.path).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_missing_program_fails_to_spawn_instead_of_hanging() {
    let d = dir();
    let mut cmd = Command::new(d.path.join("no-such-program"));
    cmd.process_group(0);
    supervise(&mut cmd);
    let err = cmd.spawn().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
}

#[test]
fn confinement_applies_to_the_program_under_the_supervisor() {
    let d = dir();
    let (ws, outside) = (d.path.join("ws"), d.path.join("outside"));
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let confinement = Confinement::prepare(&ConfinementPolicy::new(&ws, None)).unwrap();
    let landlock = confinement.report().landlock.filesystem;
    let script = format!(
        "echo in > in.txt; echo out > {}/x; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status",
        outside.display()
    );
    let mut cmd = command(&script, &ws);
    confinement.apply_to(&mut cmd);
    let out = cmd.stdout(Stdio::piped()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(ws.join("in.txt").exists());
    assert!(
        text.contains("NoNewPrivs:\t1") && text.contains("Seccomp:\t2"),
        "{text}"
    );
    if landlock {
        assert!(!outside.join("x").exists());
    }
}
