//! The workspace boundary under attack: an adversarial corpus of escape attempts, a symlink
//! swapped by another thread while tools run, and random paths (proptest).

// Helpers outside #[test] functions may panic too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use perstack_sandbox::workspace::ResolveMode;
use perstack_sandbox::{SandboxError, Workspace, WriteMode};
use pretty_assertions::assert_eq;
use proptest::prelude::*;

struct Fixture {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    outside: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let ws = base.join("ws");
    let outside = base.join("outside");
    std::fs::create_dir_all(ws.join("a/b")).unwrap();
    std::fs::create_dir_all(ws.join("perstack/jobs")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(ws.join("a/b/file.txt"), "inside").unwrap();
    std::fs::write(ws.join("perstack/jobs/job.json"), "{}").unwrap();
    std::fs::write(outside.join("secret.txt"), "SECRET").unwrap();
    let links: &[(&str, PathBuf)] = &[
        ("link_out", "../outside".into()),
        ("link_abs", "/etc".into()),
        ("link_abs_out", outside.clone()),
        ("link_root", "/".into()),
        ("link_proc", "/proc/self/root".into()),
        ("link_fd", "/proc/self/fd".into()),
        ("link_perstack", "perstack".into()),
        ("link_perstack_abs", ws.join("perstack")),
        ("link_perstack_rel", "a/../perstack".into()),
        ("link_perstack_upper", "PERSTACK".into()),
        ("link_loop1", "link_loop2".into()),
        ("link_loop2", "link_loop1".into()),
        ("link_dotdot", "..".into()),
        ("link_ws_escape", ws.join("../outside")),
        ("link_dev", "/dev/zero".into()),
        ("a/link_up", "../../..".into()),
        ("a/link_to_perstack", "../perstack".into()),
        ("a/link_ok", "../a/b".into()),
        ("a/b/link_chain", "../link_up".into()),
    ];
    for (name, target) in links {
        symlink(target, ws.join(name)).unwrap();
    }
    Fixture {
        _tmp: tmp,
        ws,
        outside,
    }
}

fn attempts(f: &Fixture) -> Vec<String> {
    let ws = f.ws.display().to_string();
    let mut v: Vec<String> = [
        "../outside/secret.txt",
        "../../etc/passwd",
        "/etc/passwd",
        "a/../../outside/secret.txt",
        "a/b/../../../outside/secret.txt",
        "./../outside/secret.txt",
        "a/./../.././outside/secret.txt",
        "link_out/secret.txt",
        "link_abs/passwd",
        "link_abs_out/secret.txt",
        "link_root/etc/passwd",
        "link_proc/etc/passwd",
        "link_fd/0",
        "/proc/self/root/etc/passwd",
        "/proc/self/cwd/x",
        "/proc/self/fd/3",
        "perstack/jobs/job.json",
        "PERSTACK/jobs/job.json",
        "Perstack",
        "./perstack/",
        "a/../perstack/jobs/job.json",
        "link_perstack/jobs/job.json",
        "link_perstack_abs/jobs/job.json",
        "link_perstack_rel/jobs/job.json",
        "link_perstack_upper/jobs/job.json",
        "a/link_to_perstack/jobs/job.json",
        "perſtack/jobs/job.json",
        "per\u{200B}stack/jobs/job.json",
        "\u{FF50}\u{FF45}\u{FF52}\u{FF53}\u{FF54}\u{FF41}\u{FF43}\u{FF4B}/jobs/job.json",
        "perstac\u{212A}/jobs/job.json",
        "link_loop1",
        "link_loop1/x",
        "a/link_up/outside/secret.txt",
        "a/link_up/etc/passwd",
        "a/b/link_chain/outside/secret.txt",
        "link_dotdot/outside/secret.txt",
        "link_ws_escape/secret.txt",
        "link_dev",
        "~/secret",
        "~root/.bashrc",
        "a/b/file.txt\0/../../../etc/passwd",
        "a/\u{202E}txt.exe",
        "a/line\nbreak",
        "//etc/passwd",
        "/./etc/passwd",
        "..",
        "../",
        "a/b/../../..",
        "a/b/file.txt/../../../../outside/secret.txt",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("{ws}/../outside/secret.txt"));
    v.push(format!("{ws}/link_out/secret.txt"));
    v.push(format!("{ws}/perstack/jobs/job.json"));
    v.push(format!("{ws}/PerStack"));
    v.push(format!("{ws}x/secret.txt"));
    v.push(format!("{}/secret.txt", f.outside.display()));
    v
}

fn is_denial(e: &SandboxError) -> bool {
    matches!(
        e,
        SandboxError::OutsideWorkspace { .. }
            | SandboxError::Reserved { .. }
            | SandboxError::InvalidPath { .. }
            | SandboxError::TooManySymlinks { .. }
            | SandboxError::NotADirectory { .. }
    )
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p.clone());
                out.push((p, Vec::new()));
            } else if meta.is_file() {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            } else {
                out.push((p, b"<link>".to_vec()));
            }
        }
    }
    out.sort();
    out
}

fn run_corpus(mode: ResolveMode) {
    let f = fixture();
    let ws = Workspace::open_with(&f.ws, Some(mode)).unwrap();
    assert_eq!(ws.resolve_mode(), mode);
    let before_out = snapshot(&f.outside);
    let before_perstack = snapshot(&f.ws.join("perstack"));
    let corpus = attempts(&f);
    assert!(corpus.len() >= 40, "{} attempts", corpus.len());
    for path in &corpus {
        let read = ws.read_file(path, 1 << 20);
        match &read {
            Err(e) => assert!(is_denial(e), "read {path:?}: unexpected error {e}"),
            Ok((p, data)) => panic!("read {path:?} escaped to {} ({:?})", p.display(), data),
        }
        let write = ws.write_file(path, b"PWNED", WriteMode::Truncate);
        assert!(
            matches!(&write, Err(e) if is_denial(e)),
            "write {path:?}: {write:?}"
        );
        let append = ws.write_file(path, b"PWNED", WriteMode::Append);
        assert!(
            matches!(&append, Err(e) if is_denial(e)),
            "append {path:?}: {append:?}"
        );
        let list = ws.list_dir(path);
        assert!(list.is_err(), "list {path:?}: {list:?}");
        let mkdir = ws.create_dir(&format!("{path}/newdir"), true);
        assert!(mkdir.is_err(), "mkdir {path:?}: {mkdir:?}");
        let info = ws.metadata(path);
        assert!(
            matches!(&info, Err(e) if is_denial(e)),
            "stat {path:?}: {info:?}"
        );
        let moved = ws.rename("a/b/file.txt", &format!("{path}/moved"));
        assert!(moved.is_err(), "move into {path:?}: {moved:?}");
        let check = ws.check_path(path);
        assert!(
            matches!(&check, Err(e) if is_denial(e)),
            "check {path:?}: {check:?}"
        );
    }
    // Deleting: only through paths whose last component is itself inside, so a refused
    // delete must be a denial and not remove anything.
    for path in &corpus {
        let _ = ws.remove_file(path);
        let _ = ws.remove_dir(path, true);
    }
    assert_eq!(snapshot(&f.outside), before_out, "outside changed");
    assert_eq!(
        snapshot(&f.ws.join("perstack")),
        before_perstack,
        "perstack/ changed"
    );
    assert_eq!(std::fs::read(f.ws.join("a/b/file.txt")).unwrap(), b"inside");
}

#[test]
fn corpus_openat2() {
    run_corpus(ResolveMode::Openat2);
}

#[test]
fn corpus_nofollow_walk() {
    run_corpus(ResolveMode::NoFollowWalk);
}

#[test]
fn legitimate_paths_work() {
    let f = fixture();
    let ws = Workspace::open(&f.ws).unwrap();
    assert_eq!(ws.read_file("a/b/file.txt", 100).unwrap().1, b"inside");
    assert_eq!(
        ws.read_file("a/link_ok/file.txt", 100).unwrap().1,
        b"inside"
    );
    let abs = format!("{}/a/b/file.txt", f.ws.display());
    let (p, data) = ws.read_file(&abs, 100).unwrap();
    assert_eq!((p, data), (f.ws.join("a/b/file.txt"), b"inside".to_vec()));
    let p = ws
        .write_file("new/deep/x.txt", b"hi", WriteMode::Truncate)
        .unwrap();
    assert_eq!(p, f.ws.join("new/deep/x.txt"));
    ws.write_file("new/deep/x.txt", b" there", WriteMode::Append)
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(f.ws.join("new/deep/x.txt")).unwrap(),
        "hi there"
    );
    let (_, entries) = ws.list_dir(".").unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert!(!names.contains(&"perstack"), "{names:?}");
    assert!(names.contains(&"a"));
    ws.rename("new/deep/x.txt", "moved/x.txt").unwrap();
    assert!(f.ws.join("moved/x.txt").exists());
    assert!(matches!(
        ws.rename("a/b/file.txt", "moved/x.txt"),
        Err(SandboxError::AlreadyExists { .. })
    ));
    // Deleting a link deletes the link, never its target.
    ws.remove_file("link_abs_out").unwrap();
    assert!(f.outside.join("secret.txt").exists());
    ws.remove_dir("moved", false).unwrap_err();
    ws.remove_dir("moved", true).unwrap();
    assert!(!f.ws.join("moved").exists());
    assert!(matches!(
        ws.remove_dir(".", true),
        Err(SandboxError::InvalidPath { .. })
    ));
}

#[test]
fn quota_refuses_and_names_the_limit() {
    let f = fixture();
    let ws = Workspace::open(&f.ws)
        .unwrap()
        .with_quota(perstack_sandbox::Quota {
            max_bytes: Some(100),
            max_files: Some(40),
        });
    ws.write_file("small.txt", &[b'x'; 50], WriteMode::Truncate)
        .unwrap();
    let err = ws
        .write_file("big.txt", &[b'x'; 60], WriteMode::Truncate)
        .unwrap_err();
    assert!(matches!(
        err,
        SandboxError::QuotaExceeded {
            limit_name: "maxBytes",
            limit: 100,
            ..
        }
    ));
    assert!(err.to_string().contains("maxBytes = 100"), "{err}");
    // Overwriting a file with a smaller one is fine even near the limit.
    ws.write_file("small.txt", &[b'x'; 10], WriteMode::Truncate)
        .unwrap();
    let files = ws.usage().unwrap().files;
    let ws = ws.with_quota(perstack_sandbox::Quota {
        max_bytes: None,
        max_files: Some(files),
    });
    let err = ws
        .write_file("one-more.txt", b"x", WriteMode::Truncate)
        .unwrap_err();
    assert!(err.to_string().contains("maxFiles"), "{err}");
    assert!(!f.ws.join("one-more.txt").exists());
}

/// Another thread atomically exchanges a real directory and a symlink to the outside while
/// the tools read and write through that name. No read may see the outside file, no write
/// may land outside.
fn swap_race(mode: ResolveMode) {
    let f = fixture();
    let ws = Workspace::open_with(&f.ws, Some(mode)).unwrap();
    std::fs::create_dir(f.ws.join("swap")).unwrap();
    std::fs::write(f.ws.join("swap/file.txt"), "inside").unwrap();
    symlink(&f.outside, f.ws.join("swap_alt")).unwrap();
    std::fs::write(f.outside.join("file.txt"), "SECRET").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let dir =
            rustix::fs::open(&f.ws, rustix::fs::OFlags::PATH, rustix::fs::Mode::empty()).unwrap();
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                rustix::fs::renameat_with(
                    &dir,
                    "swap",
                    &dir,
                    "swap_alt",
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .unwrap();
                swaps += 1;
            }
            swaps
        })
    };
    let (mut inside, mut refused) = (0u32, 0u32);
    for i in 0..3000 {
        match ws.read_file("swap/file.txt", 100) {
            Ok((_, data)) => {
                assert_eq!(data, b"inside", "read escaped on iteration {i}");
                inside += 1;
            }
            Err(e) => {
                assert!(
                    is_denial(&e) || matches!(e, SandboxError::NotFound { .. }),
                    "{e}"
                );
                refused += 1;
            }
        }
        let _ = ws.write_file(&format!("swap/w{i}.txt"), b"PWNED", WriteMode::Truncate);
        let _ = ws.create_dir(&format!("swap/d{i}"), false);
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    let leaked: Vec<_> = std::fs::read_dir(&f.outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "file.txt" && n != "secret.txt")
        .collect();
    assert_eq!(leaked, Vec::<String>::new(), "writes landed outside");
    assert_eq!(
        std::fs::read(f.outside.join("file.txt")).unwrap(),
        b"SECRET"
    );
    eprintln!("{mode:?}: {swaps} swaps, {inside} inside reads, {refused} refused");
}

#[test]
fn symlink_swapped_in_a_loop_openat2() {
    swap_race(ResolveMode::Openat2);
}

#[test]
fn symlink_swapped_in_a_loop_nofollow_walk() {
    swap_race(ResolveMode::NoFollowWalk);
}

fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just("".to_string()),
        Just("a".to_string()),
        Just("b".to_string()),
        Just("perstack".to_string()),
        Just("PerStack".to_string()),
        Just("link_out".to_string()),
        Just("link_abs".to_string()),
        Just("link_root".to_string()),
        Just("link_perstack".to_string()),
        Just("link_dotdot".to_string()),
        Just("link_up".to_string()),
        Just("link_ok".to_string()),
        Just("link_to_perstack".to_string()),
        Just("file.txt".to_string()),
        "[a-zA-Z.\u{0}-\u{7f}]{0,6}",
        "\\PC{0,4}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn random_paths_never_resolve_outside(
        parts in proptest::collection::vec(component(), 0..8),
        absolute in any::<bool>(),
    ) {
        let f = fixture();
        let ws = Workspace::open(&f.ws).unwrap();
        let rel = parts.join("/");
        let path = if absolute { format!("{}/{rel}", f.ws.display()) } else { rel };
        if let Ok(p) = ws.check_path(&path) {
            prop_assert!(p.starts_with(&f.ws), "{path:?} -> {}", p.display());
            let first = p.strip_prefix(&f.ws).unwrap().components().next();
            if let Some(first) = first {
                let name = first.as_os_str().to_string_lossy().to_lowercase();
                prop_assert!(name != "perstack", "{path:?} -> {}", p.display());
            }
            if let Ok(real) = p.canonicalize() {
                prop_assert!(real.starts_with(&f.ws), "{path:?} -> {}", real.display());
                prop_assert!(!real.starts_with(f.ws.join("perstack")), "{path:?} -> {}", real.display());
            }
        }
        let _ = ws.write_file(&path, b"P", WriteMode::Truncate);
        let _ = ws.create_dir(&path, true);
        prop_assert_eq!(snapshot(&f.outside).len(), 1);
        prop_assert_eq!(snapshot(&f.ws.join("perstack")).len(), 2);
    }
}
