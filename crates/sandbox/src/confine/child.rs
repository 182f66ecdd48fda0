//! The only unsafe code of the crate: the hook that runs in the child between `fork` and
//! `exec`, plus the probe that tells what this kernel enforces.
//!
//! Why unsafe: `CommandExt::pre_exec` is an unsafe API because the closure runs in a forked
//! copy of a multi-threaded process, where only async-signal-safe operations are sound.
//! There is no safe alternative in std or tokio for applying Landlock and seccomp to the
//! child only (doing it in the parent would confine the runtime itself). The closure below
//! therefore does no allocation on its success path: everything (ruleset file descriptor,
//! compiled BPF program) is built in the parent, and the child only issues `prctl`,
//! `landlock_restrict_self` and `seccomp` system calls (after entering the mount namespace,
//! see `namespace.rs`), returning errors built with
//! `io::Error::from_raw_os_error` (no allocation).
#![allow(unsafe_code)]

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use landlock::{LandlockStatus, RulesetCreated, RulesetStatus};
use seccompiler::BpfProgram;

use super::landlock_rules;
use super::namespace::NsPlan;
use super::{ConfinementPolicy, ConfinementReport, Enforcement, LandlockReport, SeccompReport};
use crate::error::SandboxError;

/// Installs the confinement hook on `cmd`.
pub(crate) fn install(
    cmd: &mut Command,
    namespace: Option<NsPlan>,
    ruleset: Option<RulesetCreated>,
    filter: Option<BpfProgram>,
    landlock: Enforcement,
) {
    let mut ruleset = ruleset;
    let hook = move || -> io::Result<()> {
        let denied = || io::Error::from_raw_os_error(libc::EPERM);
        // First: mounting is impossible once Landlock applies, and the seccomp filter
        // belongs to the process inside the namespaces.
        if let Some(ns) = &namespace {
            ns.enter()
                .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))?;
        }
        rustix::thread::set_no_new_privs(true)
            .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))?;
        if let Some(rs) = ruleset.take() {
            let status = rs.restrict_self().map_err(|_| denied())?;
            // The parent's probe promised this level; anything less means the child would
            // run with less confinement than reported: refuse to exec.
            let ok = match landlock {
                Enforcement::Full => status.ruleset == RulesetStatus::FullyEnforced,
                Enforcement::Partial => status.ruleset != RulesetStatus::NotEnforced,
                Enforcement::None | Enforcement::NotRequested => true,
            };
            if !ok {
                return Err(denied());
            }
        }
        if let Some(filter) = &filter {
            seccompiler::apply_filter(filter).map_err(|_| denied())?;
        }
        Ok(())
    };
    // SAFETY: the hook only performs system calls on data prepared before the fork
    // (see the module comment); it touches no lock shared with other threads of the parent.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Applies the same layers to a short-lived thread of this process to learn what the
/// kernel enforces (Landlock and seccomp restrict only the calling thread, and that thread
/// ends right after).
pub(crate) fn probe(policy: &ConfinementPolicy, filter: Option<BpfProgram>) -> ConfinementReport {
    let policy = policy.clone();
    let network = policy.network;
    std::thread::Builder::new()
        .name("perstack-confine-probe".into())
        .spawn(move || probe_here(&policy, filter.as_ref()))
        .ok()
        .and_then(|h| h.join().ok())
        .unwrap_or_else(|| nothing_enforced(network))
}

fn probe_here(policy: &ConfinementPolicy, filter: Option<&BpfProgram>) -> ConfinementReport {
    let no_new_privs = rustix::thread::set_no_new_privs(true).is_ok();
    let restricted = landlock_rules::ruleset(policy).and_then(|rs| {
        rs.restrict_self().map_err(|e| SandboxError::Confinement {
            layer: "landlock",
            reason: e.to_string(),
        })
    });
    let landlock = match restricted {
        Ok(status) => {
            let abi = match status.landlock {
                LandlockStatus::Available { effective_abi, .. } => Some(effective_abi as u32),
                LandlockStatus::NotEnabled | LandlockStatus::NotImplemented => None,
            };
            let level = match status.ruleset {
                RulesetStatus::FullyEnforced => Enforcement::Full,
                RulesetStatus::PartiallyEnforced => Enforcement::Partial,
                RulesetStatus::NotEnforced => Enforcement::None,
            };
            let on = level != Enforcement::None;
            let n = abi.unwrap_or(0);
            LandlockReport {
                status: level,
                abi,
                filesystem: on,
                tcp_denied: on && !policy.network && n >= 4,
                scoped: on && n >= 6,
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "Landlock could not be applied");
            LandlockReport {
                status: Enforcement::None,
                abi: None,
                filesystem: false,
                tcp_denied: false,
                scoped: false,
            }
        }
    };
    let seccomp = match filter {
        None => SeccompReport {
            status: Enforcement::NotRequested,
            ip_sockets_denied: false,
        },
        Some(f) => match seccompiler::apply_filter(f) {
            Ok(()) => SeccompReport {
                status: Enforcement::Full,
                ip_sockets_denied: true,
            },
            Err(e) => {
                tracing::warn!(error = %e, "seccomp could not be applied");
                SeccompReport {
                    status: Enforcement::None,
                    ip_sockets_denied: false,
                }
            }
        },
    };
    ConfinementReport {
        enabled: true,
        no_new_privs,
        landlock,
        seccomp,
        mount_namespace: super::MountNamespaceReport::not_requested(),
        network: policy.network,
    }
}

fn nothing_enforced(network: bool) -> ConfinementReport {
    ConfinementReport {
        enabled: true,
        no_new_privs: false,
        landlock: LandlockReport {
            status: Enforcement::None,
            abi: None,
            filesystem: false,
            tcp_denied: false,
            scoped: false,
        },
        seccomp: SeccompReport {
            status: if network {
                Enforcement::NotRequested
            } else {
                Enforcement::None
            },
            ip_sockets_denied: false,
        },
        mount_namespace: super::MountNamespaceReport::not_requested(),
        network,
    }
}
