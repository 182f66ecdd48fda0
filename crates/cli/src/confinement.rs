//! The confinement layers this machine gives `exec` and stdio skills, probed once at start
//! for `initializeRuntime` (inside Docker's default seccomp profile some are unavailable;
//! the event says which, so an operator sees it in the first line of the stream).

use perstack_events::{ConfinementSummary, LayerStatus};
use perstack_sandbox::{Confinement, ConfinementPolicy, Enforcement};
use perstack_skills::host::HostOptions;

/// Probes the layers a stdio skill of `host` would get.
pub fn probe(host: &HostOptions) -> ConfinementSummary {
    if !host.confine_skills {
        return ConfinementSummary {
            no_new_privs: false,
            landlock: LayerStatus::Off,
            landlock_abi: None,
            seccomp: LayerStatus::Off,
            mount_namespace: LayerStatus::Off,
        };
    }
    let mut policy = ConfinementPolicy::new(&host.workspace, None);
    if host.hide_storage {
        policy = policy.hiding(
            host.workspace
                .join(perstack_sandbox::workspace::RESERVED_DIR),
        );
    }
    match Confinement::prepare(&policy) {
        Ok(c) => {
            let r = c.report();
            ConfinementSummary {
                no_new_privs: r.no_new_privs,
                landlock: status(r.landlock.status),
                landlock_abi: r.landlock.abi,
                seccomp: status(r.seccomp.status),
                mount_namespace: status(r.mount_namespace.status),
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "confinement probe failed");
            ConfinementSummary {
                no_new_privs: false,
                landlock: LayerStatus::None,
                landlock_abi: None,
                seccomp: LayerStatus::None,
                mount_namespace: LayerStatus::None,
            }
        }
    }
}

fn status(e: Enforcement) -> LayerStatus {
    match e {
        Enforcement::Full => LayerStatus::Full,
        Enforcement::Partial => LayerStatus::Partial,
        Enforcement::None => LayerStatus::None,
        Enforcement::NotRequested => LayerStatus::NotRequested,
    }
}
