//! The confinement layers this machine gives `exec` and stdio skills, probed once at start
//! for `initializeRuntime` (inside Docker's default seccomp profile some are unavailable;
//! the event says which, so an operator sees it in the first line of the stream).

use perstack_events::{ConfinementSummary, LayerStatus, ProviderEndpoint};
use std::path::{Path, PathBuf};

use perstack_sandbox::workspace::{ProtectedFile, ProtectedRole};
use perstack_sandbox::{Confinement, ConfinementPolicy, Enforcement};
use perstack_skills::host::HostOptions;

/// A probe running on its own thread while the run starts (it forks and tries the layers:
/// milliseconds that need not delay the first model request). The runtime awaits its report
/// only when it builds `initializeRuntime`, after the job is created.
pub struct Probe(tokio::sync::oneshot::Receiver<ConfinementSummary>);

impl Probe {
    /// Starts probing the layers a stdio skill of `host` would get; probes here, inline, if
    /// no thread can be started.
    pub fn start(host: HostOptions) -> Self {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let inline = host.clone();
        let spawned = std::thread::Builder::new()
            .name("perstack-probe".into())
            .spawn(move || {
                // A run that ended first no longer wants the report.
                let _ = tx.send(probe(&host));
            });
        match spawned {
            Ok(_) => Probe(rx),
            Err(_) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let _ = tx.send(probe(&inline));
                Probe(rx)
            }
        }
    }

    /// The report, for the runtime (`Runtime::with_confinement_probe`).
    pub fn into_receiver(self) -> tokio::sync::oneshot::Receiver<ConfinementSummary> {
        self.0
    }
}

fn unknown() -> ConfinementSummary {
    ConfinementSummary {
        no_new_privs: false,
        landlock: LayerStatus::None,
        landlock_abi: None,
        seccomp: LayerStatus::None,
        mount_namespace: LayerStatus::None,
    }
}

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
    policy = policy.protecting(&host.workspace, &host.base.protected);
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
            unknown()
        }
    }
}

/// The run's own policy files: the config file, the env files (missing ones too, so that
/// none can be planted for the next run; see `RunEnv::files_to_protect`) and the lockfile.
/// Tools and confined children may not change them, nor read env files.
pub fn protected_files(
    config: &Path,
    config_dir: &Path,
    env_files: &[PathBuf],
) -> Vec<ProtectedFile> {
    let mut files = vec![ProtectedFile::new(config, ProtectedRole::Config)];
    files.extend(
        env_files
            .iter()
            .map(|p| ProtectedFile::new(p, ProtectedRole::EnvFile)),
    );
    files.push(ProtectedFile::new(
        config_dir.join(perstack_skills::lockfile::LOCKFILE_NAME),
        ProtectedRole::Lockfile,
    ));
    files
}

/// Where the provider's requests go, with a warning (also printed to stderr) when the host
/// is not the provider's official one: the API key goes there.
pub fn provider_endpoint(provider: &perstack_providers::HttpProvider) -> ProviderEndpoint {
    let spec = provider.spec();
    let (url, official) = perstack_providers::official::endpoint(spec);
    let name = spec.name.to_string();
    let warning = (official == Some(false)).then(|| {
        format!(
            "warning: provider {name} points at {url}, not its official host; its API key is \
             sent there. If you did not set this (baseUrl in the config, or a *_BASE_URL \
             variable), check the config file and env files for tampering"
        )
    });
    if let Some(w) = &warning {
        eprintln!("{w}");
    }
    ProviderEndpoint {
        provider: name,
        url,
        official,
        warning,
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
