//! Starting one MCP skill (the in-process base skill or a stdio child): handshake and
//! tool discovery within the startup timeout, with timed lifecycle events.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use perstack_core::ToolDefinition;
use perstack_events::RuntimeEventPayload;
use perstack_sandbox::ConfinementPolicy;
use perstack_sandbox::env::skill_env;
use rmcp::service::RoleClient;
use rmcp::transport::IntoTransport;
use tokio::sync::watch;

use super::client::{HostClient, Session};
use super::convert::tool_definition;
use super::events::SkillEventSink;
use super::forwarder::Forwarder;
use super::options::HostOptions;
use super::plan::{Launch, ToolFilter};
use super::stdio::{SpawnSpec, StdioProcess};
use super::tasks::{TASK_ONLY_REASON, TapRead, TaskSupport, without_task_only};
use crate::base::{BaseSkill, serve_in_process};
use crate::error::SkillError;

/// A connected MCP skill.
pub(crate) struct McpSkill {
    pub name: String,
    pub session: Session,
    pub backend: Backend,
    pub events: Arc<dyn SkillEventSink>,
}

impl std::fmt::Debug for McpSkill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpSkill")
            .field("name", &self.name)
            .field("session", &self.session)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// What serves the skill.
#[derive(Debug)]
pub(crate) enum Backend {
    /// The base skill's server task; the sender keeps the session's "gone" flag alive.
    InProcess {
        server: tokio::task::JoinHandle<Result<(), SkillError>>,
        _gone: watch::Sender<bool>,
    },
    /// A remote server; the sender keeps the session's "gone" flag alive.
    Remote { _gone: watch::Sender<bool> },
    /// A child process, its private tmp directory and its egress forwarder, if any.
    Stdio {
        process: StdioProcess,
        tmp: PathBuf,
        _forwarder: Option<Forwarder>,
    },
}

impl McpSkill {
    /// Closes the session, then stops whatever serves it.
    pub async fn shutdown(self, grace: Duration) {
        self.session.close(grace).await;
        match self.backend {
            // A child's watcher reports its exit; the others are reported here.
            Backend::InProcess { server, .. } => {
                if tokio::time::timeout(grace, server).await.is_err() {
                    tracing::warn!(skill = %self.name, "base skill task did not end in time");
                }
                self.events.emit(RuntimeEventPayload::SkillDisconnected {
                    skill_name: self.name,
                });
            }
            Backend::Remote { .. } => {
                self.events.emit(RuntimeEventPayload::SkillDisconnected {
                    skill_name: self.name,
                });
            }
            Backend::Stdio {
                mut process, tmp, ..
            } => {
                process.stop(grace).await;
                if let Err(e) = std::fs::remove_dir_all(&tmp) {
                    tracing::debug!(skill = %self.name, error = %e, "could not remove the skill's tmp");
                }
            }
        }
    }
}

/// A started skill and its tools after pick/omit.
#[derive(Debug)]
pub(crate) struct Started {
    pub skill: McpSkill,
    pub tools: Vec<ToolDefinition>,
}

/// Starts the built-in base skill in-process. As Perstack's in-memory base skill, it emits
/// no `skillStarting` (nothing is spawned), only `skillConnected`, whose `spawnDurationMs` is
/// the time to make the server ready to serve (Perstack reports 0 there).
pub(crate) async fn start_base(
    name: String,
    filter: ToolFilter,
    options: &HostOptions,
    events: Arc<dyn SkillEventSink>,
) -> Result<Started, SkillError> {
    let t0 = Instant::now();
    let base = BaseSkill::with_env(
        &options.workspace,
        options.base.clone(),
        options.env.clone(),
    )?;
    let served = serve_in_process(base);
    let (gone_tx, gone_rx) = watch::channel(false);
    let spawned = t0.elapsed();
    let tasks = TaskSupport::default();
    let listed = Some(crate::base::listed_tools(&name));
    let connected = connect(
        &name,
        served.stream,
        gone_rx,
        listed,
        &filter,
        options,
        &tasks,
    )
    .await;
    let backend = Backend::InProcess {
        server: served.server,
        _gone: gone_tx,
    };
    finish(
        name,
        connected,
        backend,
        t0,
        Some(spawned),
        spawned,
        options,
        events,
    )
    .await
}

/// Starts a stdio skill as a confined child process.
pub(crate) async fn start_stdio(
    name: String,
    launch: Launch,
    filter: ToolFilter,
    required_env: Vec<String>,
    network: bool,
    options: &HostOptions,
    events: Arc<dyn SkillEventSink>,
) -> Result<Started, SkillError> {
    let mut env = skill_env(options.env.as_ref(), &name, &required_env)?;
    env.extend(options.base.passed_env.clone());
    let tmp = options
        .base
        .tmp_root
        .join(format!("perstack-skill-{}", perstack_core::id::new_id()));
    std::fs::create_dir_all(&tmp).map_err(|e| SkillError::Startup {
        skill: name.clone(),
        reason: format!("cannot create its tmp directory {}: {e}", tmp.display()),
    })?;
    env.insert("TMPDIR".into(), tmp.display().to_string());
    // With egress, network access means the loopback forwarder to the proxy, nothing else.
    let forwarder = match (&options.egress, network) {
        (Some(egress), true) => {
            let f = Forwarder::start(egress)
                .await
                .map_err(|e| SkillError::Startup {
                    skill: name.clone(),
                    reason: format!("cannot start its egress forwarder: {e}"),
                })?;
            for var in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
                env.insert(var.into(), f.url());
            }
            env.insert("NO_PROXY".into(), String::new());
            env.insert("no_proxy".into(), String::new());
            Some(f)
        }
        (Some(_), false) | (None, _) => None,
    };
    let connect_ports: Vec<u16> = forwarder.iter().map(Forwarder::port).collect();
    let confinement = options.confine_skills.then(|| {
        let mut policy = ConfinementPolicy::new(&options.workspace, Some(tmp.clone()))
            .with_network(network && forwarder.is_none())
            .connecting_only_to(connect_ports.clone())
            .fail_closed(options.require_full_confinement);
        policy
            .write_paths
            .extend(options.extra_write_paths.iter().cloned());
        if options.hide_storage {
            policy = policy.hiding(
                options
                    .workspace
                    .join(perstack_sandbox::workspace::RESERVED_DIR),
            );
        }
        policy = policy.protecting(&options.workspace, &options.base.protected);
        if launch.via_package {
            // npx and uvx keep the packages they fetch in caches under HOME.
            if let Some(home) = env.get("HOME") {
                let home = PathBuf::from(home);
                for sub in [".npm", ".cache", ".local/share/uv"] {
                    policy.write_paths.push(home.join(sub));
                }
            }
        }
        policy
    });
    events.emit(RuntimeEventPayload::SkillStarting {
        skill_name: name.clone(),
        command: launch.command.clone(),
        args: launch.args.clone(),
    });
    let t0 = Instant::now();
    let spec = SpawnSpec {
        name: name.clone(),
        command: launch.command,
        args: launch.args,
        env,
        cwd: options.workspace.clone(),
        confinement,
    };
    let (process, pipes) = match StdioProcess::spawn(spec, events.clone(), options.redactor.clone())
    {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let spawned = t0.elapsed();
    // The server's raw stdout shows which tools can only be called as tasks.
    let tasks = TaskSupport::default();
    let (stdout, stdin) = pipes;
    let pipes = (TapRead::new(stdout, tasks.clone()), stdin);
    let mut connected = connect(
        &name,
        pipes,
        process.exited(),
        None,
        &filter,
        options,
        &tasks,
    )
    .await;
    // A process that went away says why: its exit status and last stderr line.
    if let Err(SkillError::Startup { reason, .. }) = &mut connected
        && let Some(note) = process.exit_note().await
    {
        reason.push_str(&format!(" ({note})"));
    }
    let backend = Backend::Stdio {
        process,
        tmp,
        _forwarder: forwarder,
    };
    finish(
        name,
        connected,
        backend,
        t0,
        Some(spawned),
        spawned,
        options,
        events,
    )
    .await
}

/// Handshake and tool listing, with their durations.
pub(crate) struct Connected {
    session: Session,
    tools: Vec<ToolDefinition>,
    /// Listed tools left out (task-only), for `skillToolsNotOffered`.
    not_offered: Vec<String>,
    handshake: Duration,
    discovery: Duration,
}

/// The handshake over `transport`, then the tool list: `listed` when the caller knows it
/// already (the in-process base skill), else from `tools/list`.
pub(crate) async fn connect<T, E, A>(
    name: &str,
    transport: T,
    gone: watch::Receiver<bool>,
    listed: Option<Vec<ToolDefinition>>,
    filter: &ToolFilter,
    options: &HostOptions,
    tasks: &TaskSupport,
) -> Result<Connected, SkillError>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let startup = |reason: String| SkillError::Startup {
        skill: name.to_string(),
        reason,
    };
    let work = async {
        let t = Instant::now();
        let client = HostClient {
            skill: name.to_string(),
            elicitation: options.elicitation.clone(),
            stops: (options.elicitation.is_none() && options.elicitation_stops).then(Arc::default),
        };
        let session = Session::connect(client, transport, gone)
            .await
            .map_err(&startup)?;
        let handshake = t.elapsed();
        let t = Instant::now();
        let all: Vec<ToolDefinition> = match listed {
            Some(tools) => tools,
            None => session
                .list_tools()
                .await
                .map_err(&startup)?
                .iter()
                .filter_map(|tool| tool_definition(name, tool))
                .collect(),
        };
        let discovery = t.elapsed();
        let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
        let unknown = filter.unknown_names(&names);
        if !unknown.is_empty() {
            tracing::warn!(skill = %name, ?unknown, "pick/omit name tools the skill does not have");
        }
        let kept = all.into_iter().filter(|t| filter.keeps(&t.name)).collect();
        let (tools, not_offered) = without_task_only(name, kept, tasks);
        Ok(Connected {
            session,
            tools,
            not_offered,
            handshake,
            discovery,
        })
    };
    let timeout = options.startup_timeout;
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(startup(format!(
            "no MCP handshake and tool list within {} ms",
            timeout.as_millis()
        ))),
    }
}

#[allow(clippy::too_many_arguments)] // one call site per backend; a struct would only rename them
pub(crate) async fn finish(
    name: String,
    connected: Result<Connected, SkillError>,
    backend: Backend,
    t0: Instant,
    spawn: Option<Duration>,
    spawned: Duration,
    options: &HostOptions,
    events: Arc<dyn SkillEventSink>,
) -> Result<Started, SkillError> {
    let connected = match connected {
        Ok(c) => c,
        Err(e) => {
            stop_backend(&name, backend, options.shutdown_grace).await;
            return Err(e);
        }
    };
    events.emit(RuntimeEventPayload::SkillConnected {
        skill_name: name.clone(),
        server_info: connected.session.server_info(),
        connect_duration_ms: Some(ms(spawned + connected.handshake)),
        total_duration_ms: Some(ms(t0.elapsed())),
        spawn_duration_ms: spawn.map(ms),
        handshake_duration_ms: Some(ms(connected.handshake)),
        tool_discovery_duration_ms: Some(ms(connected.discovery)),
    });
    if !connected.not_offered.is_empty() {
        events.emit(RuntimeEventPayload::SkillToolsNotOffered {
            skill_name: name.clone(),
            tools: connected.not_offered,
            reason: TASK_ONLY_REASON.to_string(),
        });
    }
    Ok(Started {
        skill: McpSkill {
            name,
            session: connected.session,
            backend,
            events,
        },
        tools: connected.tools,
    })
}

async fn stop_backend(name: &str, backend: Backend, grace: Duration) {
    match backend {
        Backend::InProcess { server, .. } => server.abort(),
        Backend::Remote { .. } => {}
        Backend::Stdio {
            mut process, tmp, ..
        } => {
            process.stop(grace).await;
            if let Err(e) = std::fs::remove_dir_all(&tmp) {
                tracing::debug!(skill = %name, error = %e, "could not remove the skill's tmp");
            }
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::{BaseSkill, BaseSkillOptions, serve_in_process};
    use pretty_assertions::assert_eq;

    /// The base skill's tools are taken from `base::listed_tools` instead of `tools/list`:
    /// they must be exactly what the in-process session lists.
    #[tokio::test]
    async fn the_base_tools_taken_as_known_are_what_tools_list_gives() {
        let ws = tempfile::tempdir().unwrap();
        let base = BaseSkill::new(ws.path(), BaseSkillOptions::default()).unwrap();
        let served = serve_in_process(base);
        let (_gone_tx, gone_rx) = watch::channel(false);
        let options = HostOptions::new(ws.path());
        let listed = connect(
            "@perstack/base",
            served.stream,
            gone_rx,
            None,
            &ToolFilter::default(),
            &options,
            &TaskSupport::default(),
        )
        .await
        .unwrap();
        assert_eq!(listed.tools.len(), 17);
        assert_eq!(crate::base::listed_tools("@perstack/base"), listed.tools);
    }
}
