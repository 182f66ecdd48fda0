//! The mount-namespace layer: a confined child enters a new user and mount namespace in which
//! each hidden folder (`<workspace>/perstack`, where checkpoints and the audit log live by
//! default) is covered by an empty read-only tmpfs, each policy file of the run (config,
//! lockfile) is bound read-only onto itself, and each env file is covered by an empty
//! read-only file. Landlock cannot carve a read-only hole out of the writable workspace; a
//! mount in the child's own namespace can.
//!
//! Why unsafe: the availability probe forks (a multi-threaded process may only make
//! async-signal-safe calls in the forked child, which is what [`NsPlan::enter`] does: no
//! allocation, only system calls on data prepared in the parent), and dropping the bounding
//! capability set needs the variadic `prctl`. `unshare` is `unsafe` in rustix only because
//! of `CLONE_FILES`, which is not used.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::MountFlags;
use rustix::process::WaitOptions;
use rustix::thread::{CapabilitySet, CapabilitySets, UnshareFlags};

use crate::error::{Result, SandboxError};

/// Options of the covering tmpfs: no room, read-only root.
const TMPFS_OPTIONS: &std::ffi::CStr = c"mode=0555,size=4k";

/// Everything the child needs, prepared in the parent.
#[derive(Debug)]
pub(crate) struct NsPlan {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    targets: Vec<CString>,
    binds: Vec<Bind>,
    /// The empty file bound over secret files; removed when the plan is dropped.
    _cover: Option<tempfile::NamedTempFile>,
}

/// One read-only bind mount of a file.
#[derive(Debug)]
struct Bind {
    source: CString,
    target: CString,
    /// The flags the source's mount already has (a mount namespace owned by an unprivileged
    /// user may not clear them on remount).
    kept: MountFlags,
    /// A folder bound onto itself only to make it a mount point (stays writable).
    pin_only: bool,
}

/// The files the layer protects.
#[derive(Debug, Default)]
pub(crate) struct FilePlan<'a> {
    /// Bound read-only onto themselves.
    pub read_only: &'a [PathBuf],
    /// Covered by an empty read-only file.
    pub secret: &'a [PathBuf],
    /// The writable trees: every folder between one of them and a protected file is bound
    /// onto itself first, so that a child cannot move the folder away and put another file
    /// in its place (a mount point cannot be renamed or removed).
    pub roots: &'a [PathBuf],
}

/// The folders strictly between a root and each file, outermost first, without repeats.
fn pinned_folders(files: &FilePlan<'_>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for f in files.read_only.iter().chain(files.secret) {
        let Some(root) = files.roots.iter().find(|r| f.starts_with(r)) else {
            continue;
        };
        let mut chain: Vec<PathBuf> = f
            .ancestors()
            .skip(1)
            .take_while(|a| a.starts_with(root) && *a != root.as_path())
            .map(Path::to_path_buf)
            .collect();
        chain.reverse();
        for dir in chain {
            if !out.contains(&dir) {
                out.push(dir);
            }
        }
    }
    out.sort_by_key(|p| p.components().count());
    out
}

impl NsPlan {
    /// The plan hiding `paths`, each created first when missing (a folder a child could
    /// create itself could also be a link the runtime would then write through).
    pub(crate) fn new(paths: &[PathBuf], files: &FilePlan<'_>) -> Result<Self> {
        let fail = |reason: String| SandboxError::Confinement {
            layer: "mount namespace",
            reason,
        };
        let mut targets = Vec::with_capacity(paths.len());
        for p in paths {
            std::fs::create_dir_all(p)
                .map_err(|e| fail(format!("cannot create {}: {e}", p.display())))?;
            let meta = std::fs::symlink_metadata(p)
                .map_err(|e| fail(format!("cannot inspect {}: {e}", p.display())))?;
            if !meta.is_dir() {
                return Err(fail(format!(
                    "{} is not a folder (a link?); refusing to mount over it",
                    p.display()
                )));
            }
            targets.push(c_path(p).map_err(fail)?);
        }
        let mut binds = Vec::new();
        for dir in pinned_folders(files) {
            binds.push(Bind {
                source: c_path(&dir).map_err(fail)?,
                target: c_path(&dir).map_err(fail)?,
                kept: MountFlags::empty(),
                pin_only: true,
            });
        }
        for p in files.read_only {
            binds.push(Bind {
                source: c_path(p).map_err(fail)?,
                target: c_path(p).map_err(fail)?,
                kept: kept_flags(p).map_err(fail)?,
                pin_only: false,
            });
        }
        let cover = if files.secret.is_empty() {
            None
        } else {
            let f = tempfile::Builder::new()
                .prefix(".perstack-cover-")
                .tempfile()
                .map_err(|e| fail(format!("cannot create the empty cover file: {e}")))?;
            for p in files.secret {
                binds.push(Bind {
                    source: c_path(f.path()).map_err(fail)?,
                    target: c_path(p).map_err(fail)?,
                    kept: kept_flags(f.path()).map_err(fail)?,
                    pin_only: false,
                });
            }
            Some(f)
        };
        // Map exactly the current user and group onto themselves: files the child creates
        // keep their owner, and the kernel lets an unprivileged process write this map.
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        Ok(NsPlan {
            uid_map: format!("{uid} {uid} 1\n").into_bytes(),
            gid_map: format!("{gid} {gid} 1\n").into_bytes(),
            targets,
            binds,
            _cover: cover,
        })
    }

    /// Enters the namespaces and mounts the covers. Runs in a forked child: no allocation.
    /// Afterwards the process holds no capability, in the new namespace either, so it cannot
    /// unmount the covers (Landlock, applied next, forbids mount changes as well).
    pub(crate) fn enter(&self) -> std::result::Result<(), Errno> {
        // SAFETY: no CLONE_FILES; the process is single-threaded after fork.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER | UnshareFlags::NEWNS) }?;
        match write_file(c"/proc/self/setgroups", b"deny") {
            // Kernels before 3.19 have no setgroups file and need no denial.
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e),
        }
        write_file(c"/proc/self/uid_map", &self.uid_map)?;
        write_file(c"/proc/self/gid_map", &self.gid_map)?;
        for target in &self.targets {
            rustix::mount::mount(
                c"tmpfs",
                target.as_c_str(),
                c"tmpfs",
                MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                TMPFS_OPTIONS,
            )?;
        }
        for b in &self.binds {
            rustix::mount::mount_bind(b.source.as_c_str(), b.target.as_c_str())?;
            if b.pin_only {
                continue;
            }
            rustix::mount::mount_remount(
                b.target.as_c_str(),
                MountFlags::BIND | MountFlags::RDONLY | b.kept,
                c"",
            )?;
        }
        drop_capabilities()
    }
}

fn c_path(p: &Path) -> std::result::Result<CString, String> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| format!("{} contains a NUL byte", p.display()))
}

/// The flags of the mount holding `p` that a remount must keep (nosuid, nodev, noexec and
/// the atime mode are locked in a less privileged mount namespace).
fn kept_flags(p: &Path) -> std::result::Result<MountFlags, String> {
    use rustix::fs::StatVfsMountFlags as S;
    let st = rustix::fs::statvfs(p).map_err(|e| format!("cannot inspect {}: {e}", p.display()))?;
    let mut kept = MountFlags::empty();
    for (from, to) in [
        (S::NOSUID, MountFlags::NOSUID),
        (S::NODEV, MountFlags::NODEV),
        (S::NOEXEC, MountFlags::NOEXEC),
        (S::NOATIME, MountFlags::NOATIME),
        (S::NODIRATIME, MountFlags::NODIRATIME),
        (S::RELATIME, MountFlags::RELATIME),
    ] {
        if st.f_flag.contains(from) {
            kept |= to;
        }
    }
    Ok(kept)
}

fn write_file(path: &std::ffi::CStr, data: &[u8]) -> std::result::Result<(), Errno> {
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    let n = rustix::io::write(&fd, data)?;
    if n == data.len() {
        Ok(())
    } else {
        Err(Errno::IO)
    }
}

/// Empties the bounding set (so no later `execve` grants any capability, even to uid 0 in
/// the namespace) and the effective, permitted and inheritable sets (ambient follows).
fn drop_capabilities() -> std::result::Result<(), Errno> {
    for cap in 0..64 {
        // SAFETY: PR_CAPBSET_DROP takes one integer argument and touches no memory.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if r != 0 {
            // Reading errno does not allocate.
            let e = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EPERM);
            // EINVAL: past the last capability this kernel knows.
            if e != libc::EINVAL {
                return Err(Errno::from_raw_os_error(e));
            }
            break;
        }
    }
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::empty(),
            permitted: CapabilitySet::empty(),
            inheritable: CapabilitySet::empty(),
        },
    )
}

/// Tries the plan in a throwaway child: `Ok` when this kernel (and the seccomp profile of
/// any container around us) allows it, else why not.
///
/// The child shares this process's memory (`CLONE_VM | CLONE_VFORK`, as `posix_spawn` starts
/// its children) instead of being a forked copy: a fork write-protects every private page of
/// this process, and each thread's next write to one of them faults, which put about half a
/// millisecond on the run's path to its first model request. The probing thread waits while
/// the child runs (`CLONE_VFORK`); the child uses its own stack, touches no memory but its
/// report, and runs what `NsPlan::enter` runs in any forked child (system calls only).
pub(crate) fn probe(plan: &NsPlan) -> std::result::Result<(), String> {
    // The child reports its result through a pipe before it exits: the parent goes on as soon
    // as it is known, while the kernel tears the child's new namespaces down (milliseconds,
    // on the run's path to its first model request before) and a thread reaps it.
    let (mut reader, writer) = std::io::pipe().map_err(|e| format!("pipe for the probe: {e}"))?;
    let job = ProbeJob {
        plan,
        report: std::os::fd::AsRawFd::as_raw_fd(&writer),
    };
    let mut stack = vec![0u8; PROBE_STACK];
    // The stack grows down from its 16-byte aligned top.
    let top = stack.as_mut_ptr().wrapping_add(PROBE_STACK);
    let top = top.wrapping_sub(top as usize % 16);
    // SAFETY: the child runs `probe_child` on `stack`, which outlives it (CLONE_VFORK: this
    // thread resumes only once the child has exited); `job` lives on this frame, which is
    // suspended meanwhile, and the child only reads it.
    let pid = unsafe {
        libc::clone(
            probe_child,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::from_ref(&job).cast_mut().cast(),
        )
    };
    drop(stack);
    if pid < 0 {
        return Err(format!("clone: {}", std::io::Error::last_os_error()));
    }
    drop(writer);
    let child = rustix::process::Pid::from_raw(pid).ok_or("clone returned no pid")?;
    let mut reported = [0u8; 4];
    if std::io::Read::read_exact(&mut reader, &mut reported).is_ok() {
        let reap = move || wait(child);
        if std::thread::Builder::new()
            .name("perstack-ns-reap".into())
            .spawn(reap)
            .is_err()
        {
            let _ = wait(child);
        }
        return match i32::from_le_bytes(reported) {
            0 => Ok(()),
            code => Err(refused(code)),
        };
    }
    // No report: the child died before writing; its status says how.
    let status = wait(child)?;
    match status.exit_status() {
        Some(0) => Ok(()),
        Some(code) => Err(refused(code)),
        None => Err(format!("the probe child died: {status:?}")),
    }
}

/// The probe child's stack: `NsPlan::enter` needs a few frames of system calls.
const PROBE_STACK: usize = 64 * 1024;

/// What the probe child reads: the plan, and where to write its result.
struct ProbeJob<'a> {
    plan: &'a NsPlan,
    report: std::os::fd::RawFd,
}

/// The probe child: enters the plan's namespaces, writes the result (0, or the errno that
/// refused it) and exits without returning.
extern "C" fn probe_child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ProbeJob` of `probe`, alive while its thread waits for this child.
    let job = unsafe { &*arg.cast::<ProbeJob<'_>>() };
    let code: i32 = match job.plan.enter() {
        Ok(()) => 0,
        Err(e) => e.raw_os_error(),
    };
    // SAFETY: the descriptor is the write end of the parent's pipe, open until the child exits.
    let fd = unsafe { rustix::fd::BorrowedFd::borrow_raw(job.report) };
    let _ = rustix::io::write(fd, &code.to_le_bytes());
    // SAFETY: `_exit` ends the child without running the parent's exit handlers.
    unsafe { libc::_exit(code) }
}

fn refused(code: i32) -> String {
    format!(
        "unshare/mount refused: {} (unprivileged user namespaces unavailable, e.g. blocked \
         by a container's seccomp profile or a sysctl)",
        std::io::Error::from_raw_os_error(code)
    )
}

/// Waits for the probe child `child`.
fn wait(child: rustix::process::Pid) -> std::result::Result<rustix::process::WaitStatus, String> {
    loop {
        match rustix::process::waitpid(Some(child), WaitOptions::empty()) {
            Ok(Some((_, s))) => return Ok(s),
            Ok(None) => return Err("the probe child vanished".into()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(format!("waiting for the probe: {e}")),
        }
    }
}
