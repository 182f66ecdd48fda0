//! The run's own policy files in the workspace (config, env files, lockfile) against the
//! file operations and against a confined child, and writes through hard links.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use perstack_sandbox::workspace::{ProtectedFile, ProtectedRole, ResolveMode};
use perstack_sandbox::{
    Confinement, ConfinementPolicy, Enforcement, SandboxError, Workspace, WriteMode,
};
use pretty_assertions::assert_eq;

const CONFIG: &str = "model = \"m\"\n[provider]\nproviderName = \"anthropic\"\n";
const ENV: &str = "ANTHROPIC_API_KEY=sk-ant-secret\n";
const LOCK: &str = "# lock\n";

struct Setup {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    ws: PathBuf,
}

fn setup() -> Setup {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().canonicalize().unwrap();
    let ws = base.join("ws");
    std::fs::create_dir_all(ws.join("conf")).unwrap();
    std::fs::write(ws.join("perstack.toml"), CONFIG).unwrap();
    std::fs::write(ws.join(".env"), ENV).unwrap();
    std::fs::write(ws.join("conf/perstack.lock"), LOCK).unwrap();
    std::fs::write(ws.join("notes.txt"), "notes\n").unwrap();
    Setup { _tmp: t, base, ws }
}

fn protected(ws: &Path) -> Vec<ProtectedFile> {
    vec![
        ProtectedFile::new(ws.join("perstack.toml"), ProtectedRole::Config),
        ProtectedFile::new(ws.join(".env"), ProtectedRole::EnvFile),
        ProtectedFile::new(ws.join("conf/perstack.lock"), ProtectedRole::Lockfile),
        // Not there yet: it must not be created either.
        ProtectedFile::new(ws.join(".env.local"), ProtectedRole::EnvFile),
        // Outside the workspace: ignored.
        ProtectedFile::new("/etc/hostname", ProtectedRole::Config),
    ]
}

fn unchanged(ws: &Path) {
    assert_eq!(
        std::fs::read_to_string(ws.join("perstack.toml")).unwrap(),
        CONFIG
    );
    assert_eq!(std::fs::read_to_string(ws.join(".env")).unwrap(), ENV);
    assert_eq!(
        std::fs::read_to_string(ws.join("conf/perstack.lock")).unwrap(),
        LOCK
    );
    assert!(!ws.join(".env.local").exists());
}

fn is_protected(r: Result<impl std::fmt::Debug, SandboxError>, what: &str) {
    match r {
        Err(e @ SandboxError::Protected { .. }) => {
            assert!(e.to_string().contains("may not change"), "{what}: {e}");
        }
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
}

#[test]
fn file_operations_cannot_change_the_runs_policy_files_nor_read_env_files() {
    for mode in [ResolveMode::Openat2, ResolveMode::NoFollowWalk] {
        let s = setup();
        std::os::unix::fs::symlink(".env", s.ws.join("alias")).unwrap();
        std::os::unix::fs::symlink("conf", s.ws.join("confs")).unwrap();
        let ws = Workspace::open_with(&s.ws, Some(mode))
            .unwrap()
            .with_protected(&protected(&s.ws));
        for (path, wm) in [
            ("perstack.toml", WriteMode::Truncate),
            ("perstack.toml", WriteMode::Append),
            ("./perstack.toml", WriteMode::Truncate),
            (".env", WriteMode::Truncate),
            (".env", WriteMode::Append),
            ("alias", WriteMode::Truncate),
            ("conf/perstack.lock", WriteMode::Truncate),
            ("confs/perstack.lock", WriteMode::Append),
            ("conf/../perstack.toml", WriteMode::Truncate),
            (".env.local", WriteMode::CreateNew),
            (".env.local", WriteMode::Truncate),
        ] {
            let abs = s.ws.join(path).display().to_string();
            is_protected(ws.write_file(path, b"x=1\n", wm), path);
            is_protected(ws.write_file(&abs, b"x=1\n", wm), &abs);
        }
        for path in [".env", "alias", "./.env"] {
            is_protected(ws.read_file(path, 1 << 20), path);
        }
        for path in ["perstack.toml", ".env", "conf/perstack.lock"] {
            is_protected(ws.remove_file(path), path);
            is_protected(ws.rename(path, "moved"), path);
        }
        is_protected(ws.remove_dir("conf", true), "conf");
        is_protected(ws.rename("conf", "conf2"), "conf");
        is_protected(ws.rename("notes.txt", ".env.local"), "onto .env.local");
        is_protected(ws.create_dir(".env.local", false), "mkdir .env.local");
        unchanged(&s.ws);
        // Reading the config and the lockfile is allowed; so is everything else.
        assert_eq!(
            ws.read_file("perstack.toml", 1 << 20).unwrap().1,
            CONFIG.as_bytes()
        );
        assert_eq!(
            ws.read_file("confs/perstack.lock", 1 << 20).unwrap().1,
            LOCK.as_bytes()
        );
        ws.write_file("notes.txt", b"new\n", WriteMode::Truncate)
            .unwrap();
        ws.write_file("conf/other.txt", b"o\n", WriteMode::CreateNew)
            .unwrap();
        ws.remove_file("alias").unwrap();
        assert_eq!(std::fs::read_to_string(s.ws.join(".env")).unwrap(), ENV);
    }
}

#[test]
fn writes_to_a_hard_linked_file_are_refused_and_the_outside_name_is_unchanged() {
    for mode in [ResolveMode::Openat2, ResolveMode::NoFollowWalk] {
        let s = setup();
        let outside = s.base.join("outside.txt");
        std::fs::write(&outside, "outside\n").unwrap();
        std::fs::hard_link(&outside, s.ws.join("linked.txt")).unwrap();
        let ws = Workspace::open_with(&s.ws, Some(mode)).unwrap();
        for wm in [WriteMode::Truncate, WriteMode::Append] {
            match ws.write_file("linked.txt", b"pwned\n", wm) {
                Err(e @ SandboxError::HardLinked { links: 2, .. }) => {
                    assert!(e.to_string().contains("hard links"), "{e}");
                }
                other => panic!("{wm:?}: expected a refusal, got {other:?}"),
            }
        }
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "outside\n");
        // Reading is the operator's call (documented): allowed.
        assert_eq!(ws.read_file("linked.txt", 100).unwrap().1, b"outside\n");
        // Deleting this name only drops a link; then a fresh file can be written.
        ws.remove_file("linked.txt").unwrap();
        ws.write_file("linked.txt", b"mine\n", WriteMode::CreateNew)
            .unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "outside\n");
    }
}

fn userns_available() -> bool {
    Command::new("unshare")
        .args(["-Urm", "true"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn a_confined_child_cannot_change_policy_files_nor_read_env_files() {
    let s = setup();
    let tmp = s.base.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let policy = ConfinementPolicy::new(&s.ws, Some(tmp))
        .read_only(s.ws.join("perstack.toml"))
        .read_only(s.ws.join("conf/perstack.lock"))
        .secret(s.ws.join(".env"));
    let confinement = Confinement::prepare(&policy).unwrap();
    let report = confinement.report().clone();
    let script = "echo in > in.txt; \
        echo 'baseUrl = \"https://evil.example\"' >> perstack.toml && echo APPENDED; \
        echo x > perstack.toml && echo TRUNCATED; \
        echo x >> conf/perstack.lock && echo LOCKED; \
        echo KEY=1 > .env && echo ENVWROTE; \
        echo envstart; cat .env; echo envend; \
        rm -f perstack.toml && echo REMOVED; \
        mv .env stolen && echo ENVMOVED; \
        mv notes.txt perstack.toml && echo REPLACED; \
        mv conf conf2 && echo DIRMOVED; \
        chmod 666 .env && echo CHMOD; \
        umount .env && echo UMOUNTED; \
        ln perstack.toml hard && echo LINKED; \
        true";
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script])
        .current_dir(&s.ws)
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    confinement.apply_to(&mut cmd);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(s.ws.join("in.txt")).unwrap(),
        "in\n"
    );
    if !userns_available() {
        eprintln!("user namespaces unavailable: the layer is reported missing");
        assert_eq!(report.mount_namespace.status, Enforcement::None);
        assert!(!report.is_full());
        return;
    }
    assert_eq!(
        report.mount_namespace.status,
        Enforcement::Full,
        "{report:?}"
    );
    assert_eq!(report.mount_namespace.secret, vec![s.ws.join(".env")]);
    assert!(stdout.contains("envstart\nenvend\n"), "{stdout}");
    assert!(!stdout.contains("sk-ant"), "{stdout}");
    for done in [
        "APPENDED",
        "TRUNCATED",
        "LOCKED",
        "ENVWROTE",
        "REMOVED",
        "ENVMOVED",
        "REPLACED",
        "DIRMOVED",
        "CHMOD",
        "UMOUNTED",
        "LINKED",
    ] {
        assert!(!stdout.contains(done), "{done}: {stdout}");
    }
    unchanged(&s.ws);
    assert!(s.ws.join("notes.txt").exists() && !s.ws.join("hard").exists());
}

#[test]
fn protection_is_required_under_fail_closed_like_any_layer() {
    let s = setup();
    let policy = ConfinementPolicy::new(&s.ws, None)
        .secret(s.ws.join(".env"))
        .fail_closed(true);
    match Confinement::prepare(&policy) {
        Ok(c) => assert_eq!(c.report().mount_namespace.status, Enforcement::Full),
        Err(e) => {
            assert!(!userns_available(), "{e}");
            assert!(e.to_string().contains("mount namespace"), "{e}");
        }
    }
}
