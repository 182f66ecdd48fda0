//! Process confinement for `exec` commands and stdio skills: where the kernel allows it, a
//! private user and mount namespace hiding folders of the workspace (the default storage
//! folder) under an empty read-only tmpfs; `no_new_privs`, a Landlock ruleset (read anywhere
//! or a list, write only the workspace and a private tmp, no TCP unless network is
//! declared, no signals or abstract sockets outside the sandbox) and a seccomp filter
//! denying IP sockets unless network is declared.
//!
//! Everything is prepared in the parent; the child only makes the final system calls
//! between fork and exec (see `child.rs`). What the kernel actually enforces is probed
//! once per preparation and reported; an operator can require full enforcement, in which
//! case anything less is an error (fail closed).

mod child;
mod landlock_rules;
mod namespace;
mod seccomp;

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Result, SandboxError};

/// What a confined child may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfinementPolicy {
    /// Confinement on (the default) or off for this skill.
    pub enabled: bool,
    /// Readable trees; `None` means the whole file system is readable.
    pub read_paths: Option<Vec<PathBuf>>,
    /// Writable trees: the workspace and a private tmp, typically.
    pub write_paths: Vec<PathBuf>,
    /// Whether the child may open IP sockets.
    pub network: bool,
    /// Without `network`: TCP ports the child may still connect to (the runtime's egress
    /// forwarder on loopback). seccomp then allows TCP sockets but no other IP socket, and
    /// Landlock (ABI 4+) allows TCP connects to these ports only and no bind.
    pub connect_ports: Vec<u16>,
    /// Refuse to start the child unless every layer is fully enforced.
    pub require_full: bool,
    /// Folders inside the writable trees the child must not write (the default storage
    /// folder `<workspace>/perstack`): covered by an empty read-only tmpfs in a private user
    /// and mount namespace, when the kernel allows unprivileged namespaces. Created when
    /// missing.
    pub hidden_paths: Vec<PathBuf>,
    /// Files the child may read but not change (the config file and lockfile in use, when
    /// they sit in the workspace): bound read-only onto themselves in the same private
    /// namespace. Must exist.
    pub read_only_files: Vec<PathBuf>,
    /// Files the child may neither read nor change (env files in use: they hold keys):
    /// covered by an empty read-only file in the same private namespace. Must exist.
    pub secret_files: Vec<PathBuf>,
}

impl ConfinementPolicy {
    /// Confinement writing only to `workspace` and `private_tmp`, no network.
    pub fn new(workspace: impl Into<PathBuf>, private_tmp: Option<PathBuf>) -> Self {
        let mut write_paths = vec![workspace.into()];
        write_paths.extend(private_tmp);
        ConfinementPolicy {
            enabled: true,
            read_paths: None,
            write_paths,
            network: false,
            connect_ports: Vec::new(),
            require_full: false,
            hidden_paths: Vec::new(),
            read_only_files: Vec::new(),
            secret_files: Vec::new(),
        }
    }

    /// Makes `path` read-only to the child (see [`ConfinementPolicy::read_only_files`]).
    pub fn read_only(mut self, path: impl Into<PathBuf>) -> Self {
        self.read_only_files.push(path.into());
        self
    }

    /// Makes `path` unreadable and read-only to the child (see
    /// [`ConfinementPolicy::secret_files`]).
    pub fn secret(mut self, path: impl Into<PathBuf>) -> Self {
        self.secret_files.push(path.into());
        self
    }

    /// Hides `path` from the child (see [`ConfinementPolicy::hidden_paths`]).
    pub fn hiding(mut self, path: impl Into<PathBuf>) -> Self {
        self.hidden_paths.push(path.into());
        self
    }

    /// Protects the run's policy files that exist inside `root`: env files as secret, the
    /// others read-only (see [`crate::workspace::ProtectedFile`]).
    pub fn protecting(
        mut self,
        root: &std::path::Path,
        files: &[crate::workspace::ProtectedFile],
    ) -> Self {
        for (path, role) in crate::workspace::protected_inside(root, files) {
            if !path.is_file() {
                continue;
            }
            if role.is_secret() {
                self.secret_files.push(path);
            } else {
                self.read_only_files.push(path);
            }
        }
        self
    }

    /// Allows or denies IP sockets.
    pub fn with_network(mut self, network: bool) -> Self {
        self.network = network;
        self
    }

    /// Allows TCP connects to `ports` only (see [`ConfinementPolicy::connect_ports`]).
    pub fn connecting_only_to(mut self, ports: Vec<u16>) -> Self {
        self.connect_ports = ports;
        self
    }

    /// Requires full enforcement (fail closed).
    pub fn fail_closed(mut self, require_full: bool) -> Self {
        self.require_full = require_full;
        self
    }
}

/// How much of a layer the kernel enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Enforcement {
    /// Everything requested.
    Full,
    /// Some of it (an older Landlock ABI).
    Partial,
    /// Nothing: the kernel lacks the feature or refused it.
    None,
    /// Not asked for (confinement off, or network declared for seccomp).
    NotRequested,
}

/// What Landlock enforces for a child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LandlockReport {
    /// Overall level.
    pub status: Enforcement,
    /// The Landlock ABI in use, when available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abi: Option<u32>,
    /// File system rules (read list, write only workspace and tmp).
    pub filesystem: bool,
    /// TCP bind/connect denied (ABI 4+, when network is not declared).
    pub tcp_denied: bool,
    /// Signals and abstract UNIX sockets scoped to the sandbox (ABI 6+).
    pub scoped: bool,
}

/// What seccomp enforces for a child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompReport {
    /// Overall level.
    pub status: Enforcement,
    /// `socket()` of any family but AF_UNIX and AF_NETLINK, and io_uring, refused.
    pub ip_sockets_denied: bool,
}

/// What the mount-namespace layer enforces for a child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MountNamespaceReport {
    /// `Full` when every hidden folder is covered; `None` when unprivileged user and mount
    /// namespaces are unavailable (the child then runs as before, the folders writable);
    /// `NotRequested` when nothing is to be hidden.
    pub status: Enforcement,
    /// The folders covered by an empty read-only tmpfs.
    pub hidden: Vec<PathBuf>,
    /// Files bound read-only onto themselves.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub read_only: Vec<PathBuf>,
    /// Files covered by an empty read-only file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secret: Vec<PathBuf>,
    /// Why the layer is unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl MountNamespaceReport {
    fn not_requested() -> Self {
        MountNamespaceReport {
            status: Enforcement::NotRequested,
            hidden: Vec::new(),
            read_only: Vec::new(),
            secret: Vec::new(),
            reason: None,
        }
    }
}

/// What was enforced, for the skill lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfinementReport {
    /// Confinement was requested at all.
    pub enabled: bool,
    /// `PR_SET_NO_NEW_PRIVS` set: set-uid binaries cannot raise privileges.
    pub no_new_privs: bool,
    /// Landlock.
    pub landlock: LandlockReport,
    /// seccomp.
    pub seccomp: SeccompReport,
    /// The private mount namespace hiding the storage folder.
    pub mount_namespace: MountNamespaceReport,
    /// The child may open IP sockets.
    pub network: bool,
}

impl ConfinementReport {
    /// Whether every requested layer is fully enforced.
    pub fn is_full(&self) -> bool {
        !self.enabled
            || (self.no_new_privs
                && self.landlock.status == Enforcement::Full
                && matches!(
                    self.seccomp.status,
                    Enforcement::Full | Enforcement::NotRequested
                )
                && matches!(
                    self.mount_namespace.status,
                    Enforcement::Full | Enforcement::NotRequested
                ))
    }

    fn disabled() -> Self {
        ConfinementReport {
            enabled: false,
            no_new_privs: false,
            landlock: LandlockReport {
                status: Enforcement::NotRequested,
                abi: None,
                filesystem: false,
                tcp_denied: false,
                scoped: false,
            },
            seccomp: SeccompReport {
                status: Enforcement::NotRequested,
                ip_sockets_denied: false,
            },
            mount_namespace: MountNamespaceReport::not_requested(),
            network: true,
        }
    }
}

/// Confinement prepared for one child, ready to install on its `Command`.
#[derive(Debug)]
pub struct Confinement {
    report: ConfinementReport,
    ruleset: Option<::landlock::RulesetCreated>,
    filter: Option<seccompiler::BpfProgram>,
    namespace: Option<namespace::NsPlan>,
}

impl Confinement {
    /// Builds the layers for `policy`, probes what this kernel enforces, and refuses when
    /// the policy requires full enforcement and the kernel cannot give it.
    pub fn prepare(policy: &ConfinementPolicy) -> Result<Self> {
        if !policy.enabled {
            return Ok(Confinement {
                report: ConfinementReport::disabled(),
                ruleset: None,
                filter: None,
                namespace: None,
            });
        }
        let filter = if policy.network {
            None
        } else if !policy.connect_ports.is_empty() {
            Some(seccomp::tcp_only_filter()?)
        } else {
            Some(seccomp::ip_socket_filter()?)
        };
        // The two probes are independent (a thread restricting itself, a forked child
        // entering namespaces): run side by side, they cost the longer one, not the sum, on
        // the way to `initializeRuntime` and the first model request.
        let (probe, hidden) = std::thread::scope(|scope| {
            let hidden = scope.spawn(|| hide(policy));
            let probe = child::probe(policy, filter.clone());
            let hidden = hidden
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (probe, hidden)
        });
        let ruleset = match probe.landlock.status {
            Enforcement::Full | Enforcement::Partial => Some(landlock_rules::ruleset(policy)?),
            Enforcement::None | Enforcement::NotRequested => None,
        };
        let mut report = probe;
        let (namespace, ns_report) = hidden?;
        report.mount_namespace = ns_report;
        if policy.require_full && !report.is_full() {
            return Err(SandboxError::Confinement {
                layer: weakest_layer(&report),
                reason: describe(&report),
            });
        }
        tracing::debug!(?report, "confinement prepared");
        Ok(Confinement {
            report,
            ruleset,
            filter,
            namespace,
        })
    }

    /// What will be enforced.
    pub fn report(&self) -> &ConfinementReport {
        &self.report
    }

    /// Installs the confinement on a command: applied in the child just before `exec`.
    pub fn apply_to(self, cmd: &mut std::process::Command) {
        if !self.report.enabled {
            return;
        }
        child::install(
            cmd,
            self.namespace,
            self.ruleset,
            self.filter,
            self.report.landlock.status,
        );
    }

    /// [`Confinement::apply_to`] for a tokio command.
    pub fn apply_to_tokio(self, cmd: &mut tokio::process::Command) {
        self.apply_to(cmd.as_std_mut());
    }
}

/// The namespace plan for `paths` when this kernel allows it, and its report. A kernel
/// that refuses is not an error here (the report says so; fail-closed callers refuse).
fn hide(policy: &ConfinementPolicy) -> Result<(Option<namespace::NsPlan>, MountNamespaceReport)> {
    let paths = &policy.hidden_paths;
    if paths.is_empty() && policy.read_only_files.is_empty() && policy.secret_files.is_empty() {
        return Ok((None, MountNamespaceReport::not_requested()));
    }
    let files = namespace::FilePlan {
        read_only: &policy.read_only_files,
        secret: &policy.secret_files,
        roots: &policy.write_paths,
    };
    let plan = namespace::NsPlan::new(paths, &files)?;
    match namespace::probe(&plan) {
        Ok(()) => Ok((
            Some(plan),
            MountNamespaceReport {
                status: Enforcement::Full,
                hidden: paths.to_vec(),
                read_only: policy.read_only_files.clone(),
                secret: policy.secret_files.clone(),
                reason: None,
            },
        )),
        Err(reason) => {
            tracing::warn!(
                %reason,
                "mount namespace unavailable: confined children can write {paths:?} and read \
                 and write the run's policy files {:?} {:?}",
                policy.read_only_files,
                policy.secret_files
            );
            Ok((
                None,
                MountNamespaceReport {
                    status: Enforcement::None,
                    hidden: Vec::new(),
                    read_only: Vec::new(),
                    secret: Vec::new(),
                    reason: Some(reason),
                },
            ))
        }
    }
}

fn weakest_layer(r: &ConfinementReport) -> &'static str {
    if !r.no_new_privs {
        "no_new_privs"
    } else if r.landlock.status != Enforcement::Full {
        "landlock"
    } else if !matches!(
        r.seccomp.status,
        Enforcement::Full | Enforcement::NotRequested
    ) {
        "seccomp"
    } else {
        "mount namespace"
    }
}

fn describe(r: &ConfinementReport) -> String {
    format!(
        "no_new_privs {}, landlock {:?} (ABI {}), seccomp {:?}, mount namespace {:?}{}; full \
         enforcement was required",
        r.no_new_privs,
        r.landlock.status,
        r.landlock
            .abi
            .map(|a| a.to_string())
            .unwrap_or_else(|| "none".into()),
        r.seccomp.status,
        r.mount_namespace.status,
        r.mount_namespace
            .reason
            .as_deref()
            .map(|why| format!(" ({why})"))
            .unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_needs_every_layer() {
        let mut r = ConfinementReport::disabled();
        assert!(r.is_full());
        r.enabled = true;
        r.no_new_privs = true;
        r.landlock.status = Enforcement::Partial;
        r.seccomp.status = Enforcement::Full;
        assert!(!r.is_full());
        assert_eq!(weakest_layer(&r), "landlock");
        r.landlock.status = Enforcement::Full;
        assert!(r.is_full());
        r.seccomp.status = Enforcement::None;
        assert!(!r.is_full());
        assert_eq!(weakest_layer(&r), "seccomp");
        r.seccomp.status = Enforcement::Full;
        r.mount_namespace.status = Enforcement::None;
        assert!(!r.is_full());
        assert_eq!(weakest_layer(&r), "mount namespace");
    }
}
