//! Confinement for real: children that try to write outside the workspace and to open a
//! TCP connection to a loopback listener, and a control that may connect because it
//! declared network access. Whatever this kernel cannot enforce is detected and reported,
//! and the tests then assert what is enforceable.

// Helpers outside #[test] functions may panic too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use perstack_sandbox::{Confinement, ConfinementPolicy, ConfinementReport, Enforcement};

struct Dirs {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    tmp: PathBuf,
    outside: PathBuf,
}

fn dirs() -> Dirs {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().canonicalize().unwrap();
    let (ws, tmp, outside) = (base.join("ws"), base.join("tmp"), base.join("outside"));
    for d in [&ws, &tmp, &outside] {
        std::fs::create_dir(d).unwrap();
    }
    Dirs {
        _tmp: t,
        ws,
        tmp,
        outside,
    }
}

fn run(
    policy: &ConfinementPolicy,
    cwd: &Path,
    program: &str,
    args: &[&str],
) -> (Output, ConfinementReport) {
    let confinement = Confinement::prepare(policy).unwrap();
    let report = confinement.report().clone();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    confinement.apply_to(&mut cmd);
    (cmd.output().unwrap(), report)
}

fn no_pending_connection(listener: &TcpListener) -> bool {
    listener.set_nonblocking(true).unwrap();
    matches!(listener.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock)
}

#[test]
fn child_cannot_write_outside_the_workspace() {
    let d = dirs();
    let policy = ConfinementPolicy::new(&d.ws, Some(d.tmp.clone()));
    let outside_file = d.outside.join("pwned");
    let script = format!(
        "echo in > {ws}/in.txt && echo t > {tmp}/t.txt && echo x > /dev/null && echo out > {out}",
        ws = d.ws.display(),
        tmp = d.tmp.display(),
        out = outside_file.display()
    );
    let (out, report) = run(&policy, &d.ws, "sh", &["-c", &script]);
    eprintln!("report: {}", serde_json::to_string(&report).unwrap());
    // Writes inside the workspace, the private tmp and /dev/null always work.
    assert_eq!(
        std::fs::read_to_string(d.ws.join("in.txt")).unwrap(),
        "in\n"
    );
    assert_eq!(std::fs::read_to_string(d.tmp.join("t.txt")).unwrap(), "t\n");
    match report.landlock.status {
        Enforcement::Full | Enforcement::Partial => {
            assert!(report.landlock.filesystem);
            assert!(!out.status.success(), "the outside write succeeded");
            assert!(
                !outside_file.exists(),
                "a file was created outside the workspace"
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("Permission denied"), "{stderr}");
        }
        Enforcement::None | Enforcement::NotRequested => {
            eprintln!(
                "Landlock is not available on this kernel: file system confinement NOT enforced"
            );
            assert!(!report.is_full());
        }
    }
}

#[test]
fn child_cannot_open_tcp_without_network() {
    let d = dirs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let policy = ConfinementPolicy::new(&d.ws, None);
    let script = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
    let (out, report) = run(&policy, &d.ws, "bash", &["-c", &script]);
    assert_eq!(report.seccomp.status, Enforcement::Full, "{report:?}");
    assert!(report.seccomp.ip_sockets_denied);
    assert!(!out.status.success(), "connect succeeded: {out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("connected"));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{out:?}"
    );
    assert!(
        no_pending_connection(&listener),
        "the listener received a connection"
    );
    // UDP is an IP socket too.
    let (out, _) = run(
        &policy,
        &d.ws,
        "bash",
        &["-c", "exec 3<>/dev/udp/127.0.0.1/9 && echo sent"],
    );
    assert!(!out.status.success(), "udp socket opened: {out:?}");
}

#[test]
fn child_with_declared_network_connects() {
    let d = dirs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let policy = ConfinementPolicy::new(&d.ws, None).with_network(true);
    let script = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo hello >&3 && echo connected");
    let (out, report) = run(&policy, &d.ws, "bash", &["-c", &script]);
    assert_eq!(report.seccomp.status, Enforcement::NotRequested);
    assert!(!report.landlock.tcp_denied);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "connected\n");
    let (mut sock, _) = listener.accept().unwrap();
    let mut got = String::new();
    std::io::Read::read_to_string(&mut sock, &mut got).unwrap();
    assert_eq!(got, "hello\n");
    // File system confinement stays on when network is declared.
    if report.landlock.filesystem {
        let target = d.outside.join("x");
        let (out, _) = run(
            &policy,
            &d.ws,
            "sh",
            &["-c", &format!("echo x > {}", target.display())],
        );
        assert!(!out.status.success());
        assert!(!target.exists());
    }
}

#[test]
fn child_runs_with_no_new_privs_and_a_seccomp_filter() {
    let d = dirs();
    let policy = ConfinementPolicy::new(&d.ws, None);
    let (out, report) = run(&policy, &d.ws, "cat", &["/proc/self/status"]);
    assert!(out.status.success(), "{out:?}");
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(report.no_new_privs);
    assert!(status.lines().any(|l| l == "NoNewPrivs:\t1"), "{status}");
    assert!(status.lines().any(|l| l == "Seccomp:\t2"), "{status}");
}

#[test]
fn fail_closed_matches_the_probe() {
    let d = dirs();
    let probe = Confinement::prepare(&ConfinementPolicy::new(&d.ws, None))
        .unwrap()
        .report()
        .clone();
    let strict = ConfinementPolicy::new(&d.ws, None).fail_closed(true);
    match Confinement::prepare(&strict) {
        Ok(c) => assert!(probe.is_full() && c.report().is_full(), "{probe:?}"),
        Err(e) => {
            assert!(!probe.is_full(), "{e}");
            assert!(
                e.to_string().contains("full enforcement was required"),
                "{e}"
            );
        }
    }
}

#[test]
fn disabled_confinement_enforces_nothing() {
    let d = dirs();
    let mut policy = ConfinementPolicy::new(&d.ws, None);
    policy.enabled = false;
    let target = d.outside.join("free");
    let (out, report) = run(
        &policy,
        &d.ws,
        "sh",
        &["-c", &format!("echo x > {}", target.display())],
    );
    assert!(!report.enabled);
    assert!(out.status.success());
    assert!(target.exists());
}

#[test]
fn only_local_socket_families_remain_without_network() {
    let d = dirs();
    let policy = ConfinementPolicy::new(&d.ws, None);
    // Needs the system's python3 to call socket() with arbitrary families.
    let script = "import socket\n\
        for name, fam in [('unix', socket.AF_UNIX), ('inet', socket.AF_INET), ('inet6', socket.AF_INET6), ('vsock', 40), ('packet', 17)]:\n\
        \x20   try:\n\
        \x20       socket.socket(fam, socket.SOCK_STREAM if fam != 17 else socket.SOCK_RAW).close(); print(name, 'ok')\n\
        \x20   except OSError as e:\n\
        \x20       print(name, e.errno)\n";
    let (out, _) = run(&policy, &d.ws, "python3", &["-c", script]);
    assert!(
        out.status.success(),
        "python3 is required for this test: {out:?}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let eacces = libc::EACCES.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "unix ok", "{text}");
    for (i, fam) in ["inet", "inet6", "vsock", "packet"].iter().enumerate() {
        assert_eq!(lines[i + 1], format!("{fam} {eacces}"), "{text}");
    }
}

/// Whether this machine lets an unprivileged process create user and mount namespaces.
fn userns_available() -> bool {
    Command::new("unshare")
        .args(["-Urm", "true"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn hidden_storage_is_empty_and_read_only_to_the_child() {
    use std::os::unix::fs::MetadataExt;
    let d = dirs();
    let storage = d.ws.join("perstack");
    std::fs::create_dir_all(storage.join("jobs/j1")).unwrap();
    std::fs::write(storage.join("jobs/j1/job.json"), "{}").unwrap();
    let policy = ConfinementPolicy::new(&d.ws, Some(d.tmp.clone())).hiding(&storage);
    // Every way a child could tamper with the storage folder, each announcing success.
    let script = "echo in > in.txt; mkdir -p sub && echo s > sub/s.txt; \
        echo listing; ls -A perstack; echo end; \
        echo x > perstack/x && echo WROTE; \
        echo y >> perstack/jobs/j1/job.json && echo APPENDED; \
        rm perstack/jobs/j1/job.json && echo REMOVED; \
        mkdir perstack/new && echo MKDIR; \
        mv perstack moved && echo MOVED; \
        rmdir perstack && echo RMDIR; \
        umount perstack && echo UMOUNTED; \
        mount -o remount,rw perstack && echo REMOUNTED; \
        unshare -Urm sh -c 'umount perstack || mount -o remount,rw perstack; echo z > perstack/z' && echo NESTED; \
        true";
    let (out, report) = run(&policy, &d.ws, "sh", &["-c", script]);
    eprintln!("report: {}", serde_json::to_string(&report).unwrap());
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("child stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    // Writes elsewhere in the workspace work, with the runtime's owner.
    assert_eq!(
        std::fs::read_to_string(d.ws.join("in.txt")).unwrap(),
        "in\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.ws.join("sub/s.txt")).unwrap(),
        "s\n"
    );
    let me = rustix::process::geteuid().as_raw();
    for f in ["in.txt", "sub", "sub/s.txt"] {
        let meta = std::fs::metadata(d.ws.join(f)).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (me, rustix::process::getegid().as_raw()),
            "{f}"
        );
    }
    if userns_available() {
        assert_eq!(
            report.mount_namespace.status,
            Enforcement::Full,
            "{report:?}"
        );
        assert_eq!(report.mount_namespace.hidden, vec![storage.clone()]);
        // The child sees an empty folder.
        assert!(stdout.contains("listing\nend\n"), "{stdout}");
        for done in [
            "WROTE",
            "APPENDED",
            "REMOVED",
            "MKDIR",
            "MOVED",
            "RMDIR",
            "UMOUNTED",
            "REMOUNTED",
            "NESTED",
        ] {
            assert!(!stdout.contains(done), "{done}: {stdout}");
        }
        assert!(!storage.join("x").exists() && !storage.join("new").exists());
        assert!(!storage.join("z").exists() && !d.ws.join("moved").exists());
        assert_eq!(
            std::fs::read_to_string(storage.join("jobs/j1/job.json")).unwrap(),
            "{}"
        );
        // The runtime's own writes still work.
        std::fs::write(storage.join("jobs/j1/job.json"), "{\"ok\":1}").unwrap();
    } else {
        eprintln!("user namespaces unavailable: the storage folder stays writable");
        assert_eq!(report.mount_namespace.status, Enforcement::None);
        assert!(report.mount_namespace.reason.is_some());
        assert!(!report.is_full());
    }
}

#[test]
fn a_missing_storage_folder_is_created_before_it_is_hidden() {
    let d = dirs();
    let storage = d.ws.join("perstack");
    let policy = ConfinementPolicy::new(&d.ws, None).hiding(&storage);
    let (out, report) = run(
        &policy,
        &d.ws,
        "sh",
        &["-c", "echo x > perstack/x && echo WROTE; true"],
    );
    assert!(storage.is_dir());
    if report.mount_namespace.status == Enforcement::Full {
        assert!(!String::from_utf8_lossy(&out.stdout).contains("WROTE"));
        assert!(!storage.join("x").exists());
    }
}

#[test]
fn a_link_in_place_of_the_storage_folder_is_refused() {
    let d = dirs();
    let storage = d.ws.join("perstack");
    std::os::unix::fs::symlink(&d.outside, &storage).unwrap();
    let policy = ConfinementPolicy::new(&d.ws, None).hiding(&storage);
    let err = Confinement::prepare(&policy).unwrap_err();
    assert!(err.to_string().contains("not a folder"), "{err}");
}

#[test]
fn fail_closed_requires_the_mount_namespace_when_hiding() {
    let d = dirs();
    let plain = Confinement::prepare(&ConfinementPolicy::new(&d.ws, None))
        .unwrap()
        .report()
        .clone();
    let strict = ConfinementPolicy::new(&d.ws, None)
        .hiding(d.ws.join("perstack"))
        .fail_closed(true);
    match Confinement::prepare(&strict) {
        Ok(c) => {
            assert_eq!(c.report().mount_namespace.status, Enforcement::Full);
            assert!(userns_available());
        }
        Err(e) => {
            assert!(!plain.is_full() || !userns_available(), "{e}");
            assert!(
                e.to_string().contains("full enforcement was required"),
                "{e}"
            );
        }
    }
}

/// Set (on the child only) when this test binary re-runs itself where user namespaces are
/// unavailable.
const NO_USERNS_ROLE: &str = "PERSTACK_TEST_INSIDE_NO_USERNS";

#[test]
fn without_user_namespaces_the_layer_reports_none_and_fail_closed_refuses() {
    if std::env::var_os(NO_USERNS_ROLE).is_some() {
        return no_userns_inner();
    }
    if !userns_available() {
        // This machine already lacks them: check directly.
        return no_userns_inner();
    }
    // Re-run this test in a user namespace whose limit on nested user namespaces is 0: the
    // situation of a container whose seccomp profile refuses unshare.
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args([
            "-Ur",
            "sh",
            "-c",
            "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" --exact \"$1\" --nocapture",
        ])
        .arg(&exe)
        .arg("without_user_namespaces_the_layer_reports_none_and_fail_closed_refuses")
        .env(NO_USERNS_ROLE, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

fn no_userns_inner() {
    let d = dirs();
    let storage = d.ws.join("perstack");
    let policy = ConfinementPolicy::new(&d.ws, None).hiding(&storage);
    let (out, report) = run(
        &policy,
        &d.ws,
        "sh",
        &["-c", "echo x > perstack/x && echo WROTE"],
    );
    eprintln!("report: {}", serde_json::to_string(&report).unwrap());
    assert_eq!(report.mount_namespace.status, Enforcement::None);
    assert!(report.mount_namespace.reason.is_some());
    assert!(!report.is_full());
    // Today's behaviour: the child runs, the other layers stay, the folder is writable.
    assert!(out.status.success(), "{out:?}");
    assert!(storage.join("x").exists());
    let err = Confinement::prepare(&policy.clone().fail_closed(true)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("mount namespace") && text.contains("full enforcement was required"),
        "{text}"
    );
}

/// The egress shape: no network, but TCP to the runtime's forwarder port. The child
/// reaches that port, and no other port, no UDP (DNS) and no raw socket.
#[test]
fn a_forwarder_port_is_the_only_tcp_destination() {
    let d = dirs();
    let forwarder = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let (fport, oport) = (
        forwarder.local_addr().unwrap().port(),
        other.local_addr().unwrap().port(),
    );
    let policy = ConfinementPolicy::new(&d.ws, None).connecting_only_to(vec![fport]);
    let script = format!("exec 3<>/dev/tcp/127.0.0.1/{fport} && echo via >&3 && echo connected");
    let (out, report) = run(&policy, &d.ws, "bash", &["-c", &script]);
    assert_eq!(report.seccomp.status, Enforcement::Full, "{report:?}");
    assert!(out.status.success(), "{out:?}");
    let (mut sock, _) = forwarder.accept().unwrap();
    let mut got = String::new();
    std::io::Read::read_to_string(&mut sock, &mut got).unwrap();
    assert_eq!(got, "via\n");
    // Datagram and raw IP sockets stay refused by seccomp, whatever Landlock can do.
    let (out, _) = run(
        &policy,
        &d.ws,
        "bash",
        &["-c", "exec 3<>/dev/udp/127.0.0.1/53 && echo sent"],
    );
    assert!(!out.status.success(), "udp socket opened: {out:?}");
    // Landlock's TCP rules (ABI 4+) keep every other port closed.
    if report.landlock.tcp_denied {
        let script = format!("exec 3<>/dev/tcp/127.0.0.1/{oport} && echo connected");
        let (out, _) = run(&policy, &d.ws, "bash", &["-c", &script]);
        assert!(!out.status.success(), "connect to another port: {out:?}");
        assert!(
            no_pending_connection(&other),
            "the other port got a connection"
        );
    } else {
        eprintln!(
            "Landlock TCP rules unavailable here: only seccomp's stream-only rule was checked"
        );
    }
}
