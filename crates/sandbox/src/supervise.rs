//! Supervision of a child's whole process tree, so that no descendant outlives it: not one
//! in the background, not one that left the process group with `setsid`.
//!
//! Between fork and exec the child forks once more. The program runs in the grandchild; the
//! child stays behind as a small supervisor that is a *child subreaper*
//! (`PR_SET_CHILD_SUBREAPER`): every descendant orphaned below it is re-parented to it rather
//! than to init. It ends, killing every descendant first (SIGKILL to each of its children
//! found in `/proc`, again after every reap, until it has none), when
//! - the program exits (the supervisor then exits with the program's code, or by SIGKILL when
//!   the program died of a signal),
//! - it receives SIGTERM ([`terminate`]: timeouts, cancelled calls),
//! - its parent (the runtime) is gone.
//!
//! The program gets `PR_SET_PDEATHSIG(SIGKILL)`, so it dies if the supervisor is killed.
//! Confinement hooks installed after [`supervise`] apply to the program only: the supervisor
//! stays outside the Landlock domain, so a program scoped by Landlock ABI 6 cannot signal it.
//!
//! Why unsafe: like `confine/child.rs`, the hook runs in a forked copy of a multi-threaded
//! process, where only async-signal-safe operations are sound. The supervisor never returns
//! to Rust code that could allocate: it only issues system calls (`fork`, `prctl`,
//! `sigtimedwait`, `waitpid`, `getdents64`, `openat`, `read`, `kill`, `close_range`) on stack
//! buffers, then `_exit`. Signal masks and `fork` have no safe wrapper in std or rustix.
#![allow(unsafe_code)]

use std::io;
use std::mem::MaybeUninit;
use std::os::unix::process::CommandExt;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags, RawDir};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions};

/// How often the supervisor checks that its parent is still alive.
const PARENT_CHECK_MS: i64 = 200;

/// Installs the supervisor on `cmd`. Install it before any confinement hook (which then
/// applies to the program only) and after `process_group`, which std applies first.
pub fn supervise(cmd: &mut std::process::Command) {
    // SAFETY: see the module comment; the hook allocates nothing and the supervisor branch
    // never returns.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// [`supervise`] for a tokio command.
pub fn supervise_tokio(cmd: &mut tokio::process::Command) {
    supervise(cmd.as_std_mut());
}

/// Asks the supervisor `pid` to kill the program and every descendant, then exit. Harmless
/// when it is gone already.
pub fn terminate(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // ESRCH: already gone.
        let _ = rustix::process::kill_process(pid, Signal::TERM);
    }
}

fn os(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// The set of signals the supervisor waits for.
fn wait_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set; sigaddset only sets bits in it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGCHLD);
        libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM);
        set.assume_init()
    }
}

fn hook() -> io::Result<()> {
    let parent = rustix::process::getppid();
    let me = rustix::process::getpid();
    rustix::process::set_child_subreaper(Some(me)).map_err(os)?;
    // Block before forking, so that no SIGCHLD or SIGTERM arrives unobserved.
    let set = wait_set();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, old.as_mut_ptr()) } != 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: as the hook itself: the new child continues with async-signal-safe calls only.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // The program: the mask it would have had, and death with its supervisor.
        // SAFETY: `old` was filled by the pthread_sigmask call above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), std::ptr::null_mut()) };
        rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).map_err(os)?;
        if rustix::process::getppid() != Some(me) {
            // The supervisor died before the death signal was armed.
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        return Ok(());
    }
    supervise_until_done(pid, me, parent, &set)
}

/// How the program ended.
enum Outcome {
    Code(i32),
    Killed,
}

fn supervise_until_done(
    program: libc::pid_t,
    me: Pid,
    parent: Option<Pid>,
    set: &libc::sigset_t,
) -> ! {
    close_inherited_fds();
    let outcome = loop {
        let timeout = libc::timespec {
            tv_sec: 0,
            tv_nsec: PARENT_CHECK_MS * 1_000_000,
        };
        // SAFETY: `set` and `timeout` are valid; no siginfo is requested.
        let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) };
        if sig == libc::SIGTERM {
            break Outcome::Killed;
        }
        if let Some(outcome) = reap_until(program) {
            break outcome;
        }
        if rustix::process::getppid() != parent {
            break Outcome::Killed;
        }
    };
    kill_every_descendant(me, set);
    match outcome {
        // SAFETY: ends the supervisor without running the parent's exit handlers.
        Outcome::Code(code) => unsafe { libc::_exit(code) },
        Outcome::Killed => {
            let _ = rustix::process::kill_process(me, Signal::KILL);
            // SAFETY: as above (only reached if SIGKILL to itself failed).
            unsafe { libc::_exit(137) }
        }
    }
}

/// Reaps every exited child (any process group: `wait`, not rustix's `waitpid(None)`,
/// which is the caller's group only and misses `setsid` orphans); returns the program's
/// outcome once it has exited.
fn reap_until(program: libc::pid_t) -> Option<Outcome> {
    loop {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => {
                if pid.as_raw_nonzero().get() == program {
                    return Some(match status.exit_status() {
                        Some(code) => Outcome::Code(code),
                        None => Outcome::Killed,
                    });
                }
            }
            Ok(None) => return None,
            Err(Errno::INTR) => {}
            // ECHILD: the program is gone without our seeing it (cannot happen); stop.
            Err(_) => return Some(Outcome::Killed),
        }
    }
}

/// SIGKILL to every child (orphans re-parent to us as their parents die), reaping as they
/// go, until no child is left: then no descendant is left either.
fn kill_every_descendant(me: Pid, set: &libc::sigset_t) {
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
    loop {
        kill_children(me, &mut buf);
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some(_)) | Err(Errno::INTR) => {}
            Ok(None) => {
                let timeout = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 50_000_000,
                };
                // SAFETY: as in `supervise_until_done`.
                unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) };
            }
            Err(_) => return,
        }
    }
}

/// Sends SIGKILL to each process whose parent is `me`, found by scanning `/proc`.
fn kill_children(me: Pid, buf: &mut [MaybeUninit<u8>]) {
    let Ok(proc_fd) = rustix::fs::open(
        c"/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return;
    };
    let mut dir = RawDir::new(&proc_fd, buf);
    while let Some(entry) = dir.next() {
        let Ok(entry) = entry else { break };
        let Some(pid) = parse_pid(entry.file_name().to_bytes()) else {
            continue;
        };
        if parent_of(&proc_fd, entry.file_name()) == Some(me.as_raw_nonzero().get())
            && let Some(pid) = Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
        }
    }
}

fn parse_pid(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 10 {
        return None;
    }
    let mut n: i64 = 0;
    for b in name {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    i32::try_from(n).ok()
}

/// The parent pid in `/proc/<pid>/stat` (the field after the state, after the last `)`).
fn parent_of(proc_fd: &OwnedFd, pid: &std::ffi::CStr) -> Option<i32> {
    let dir = rustix::fs::openat(
        proc_fd.as_fd(),
        pid,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let stat = rustix::fs::openat(
        &dir,
        c"stat",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut text = [0u8; 512];
    let n = rustix::io::read(&stat, &mut text).ok()?;
    parse_ppid(&text[..n])
}

fn parse_ppid(stat: &[u8]) -> Option<i32> {
    let close = stat.iter().rposition(|b| *b == b')')?;
    let mut fields = stat[close + 1..]
        .split(|b| *b == b' ')
        .filter(|f| !f.is_empty());
    let _state = fields.next()?;
    parse_pid(fields.next()?)
}

/// The supervisor keeps no descriptor of the parent's: not the output pipes (the runtime
/// sees end of output once the program's tree is gone), and above all not std's
/// close-on-exec pipe reporting exec errors, which `spawn` reads until it closes.
fn close_inherited_fds() {
    // SAFETY: close_range takes integers only; nothing in this process uses the descriptors
    // again (the supervisor opens its own).
    let r = unsafe { libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) };
    if r != 0 {
        // Kernels before 5.9: close one by one.
        for fd in 0..1024 {
            // SAFETY: as above.
            unsafe { libc::close(fd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_names() {
        assert_eq!(parse_ppid(b"42 (sh) S 17 42 42 0 -1"), Some(17));
        assert_eq!(parse_ppid(b"42 (a) b) (c) R 9 1 1"), Some(9));
        assert_eq!(parse_ppid(b"42 (x"), None);
        assert_eq!(parse_pid(b"123"), Some(123));
        assert_eq!(parse_pid(b"self"), None);
        assert_eq!(parse_pid(b"99999999999"), None);
    }
}
