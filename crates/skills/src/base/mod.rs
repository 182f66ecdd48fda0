//! The built-in base skill: Perstack's 17 base tools as an MCP server (rmcp), on the
//! workspace boundary of `perstack-sandbox`. Served in-process to the runtime (over an
//! in-memory duplex stream, no process spawn) or as a stdio MCP server for any MCP client.

mod exec;
mod files;
mod health;
mod media;
mod mime;
mod params;
mod result;
mod server;
mod todo;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

use perstack_core::ToolDefinition;
use perstack_sandbox::env::{EnvSource, ProcessEnv};
use perstack_sandbox::workspace::ProtectedFile;
use perstack_sandbox::{Confinement, ConfinementPolicy, ConfinementReport, Quota, Workspace};
use rmcp::ServiceExt;
use rmcp::handler::server::router::tool::ToolRouter;

pub(crate) use exec::operator_limit_text;
pub use exec::{DEFAULT_MAX_TOOL_TIME, DEFAULT_TIMEOUT_MS};
pub use files::MAX_TEXT_BYTES;
pub use media::{MAX_IMAGE_BYTES, MAX_PDF_BYTES};
pub use todo::{Todo, TodoList};

use crate::error::SkillError;

/// The server name the base skill reports (Perstack's package name).
pub const BASE_SKILL_SERVER_NAME: &str = "@perstack/base";

/// The tool names, in Perstack's order.
pub const BASE_TOOL_NAMES: [&str; 17] = perstack_core::config::BASE_SKILL_TOOLS;

/// Operator settings of a base skill instance.
#[derive(Debug, Clone)]
pub struct BaseSkillOptions {
    /// Confine `exec` children (on by default).
    pub confine: bool,
    /// Let `exec` children open IP sockets (off by default).
    pub exec_network: bool,
    /// Refuse to run `exec` unless every confinement layer is fully enforced.
    pub require_full_confinement: bool,
    /// Cap on each of stdout and stderr returned by `exec`.
    pub max_output_bytes: usize,
    /// Where per-call private tmp directories are created.
    pub tmp_root: PathBuf,
    /// Workspace quota.
    pub quota: Quota,
    /// Hide `<workspace>/perstack/` (Perstack's storage folder) from `exec` children: an
    /// empty read-only tmpfs in a private mount namespace, where the kernel allows it. On by
    /// default; off when storage lives in a state folder outside the workspace.
    pub hide_storage: bool,
    /// The operator's limit on one `exec` call: the model's `timeout` is cut to it, and a
    /// command still running then ends with an error naming the limit.
    pub max_tool_time: std::time::Duration,
    /// The run's policy files (config, env files, lockfile): the file tools refuse to change
    /// them (and to read env files); `exec` children get them read-only (env files covered).
    pub protected: Vec<ProtectedFile>,
    /// Variables the operator passes to every child (`perstack run --env`): `exec` children
    /// get them (a call's own `env` wins), and so do stdio skills (see
    /// [`crate::host::HostOptions::base`]). The caller refuses protected names.
    pub passed_env: BTreeMap<String, String>,
}

impl Default for BaseSkillOptions {
    fn default() -> Self {
        BaseSkillOptions {
            confine: true,
            exec_network: false,
            require_full_confinement: false,
            max_output_bytes: 1024 * 1024,
            tmp_root: std::env::temp_dir(),
            quota: Quota::default(),
            hide_storage: true,
            max_tool_time: DEFAULT_MAX_TOOL_TIME,
            protected: Vec::new(),
            passed_env: BTreeMap::new(),
        }
    }
}

/// The base tools' router, built once per process: its seventeen JSON Schemas take about
/// 1 M instructions, a quarter of everything before a run's first model request.
static ROUTER: LazyLock<ToolRouter<BaseSkill>> = LazyLock::new(BaseSkill::tool_router);

/// The base tools as `tools/list` gives them (the router's list, sorted by name), for skill
/// name `""`: the host takes them from here instead of listing them through the in-process
/// MCP session, whose JSON round trip of seventeen schemas cost about 1.3 M instructions
/// before the first model request. A host test proves the two lists equal.
static LISTED: LazyLock<Vec<ToolDefinition>> = LazyLock::new(|| {
    ROUTER
        .list_all()
        .iter()
        .filter_map(|tool| serde_json::to_value(tool).ok())
        .filter_map(|tool| crate::host::convert::tool_definition("", &tool))
        .collect()
});

/// The base tools as `tools/list` gives them, attributed to `skill_name`.
pub(crate) fn listed_tools(skill_name: &str) -> Vec<ToolDefinition> {
    LISTED
        .iter()
        .map(|tool| ToolDefinition {
            skill_name: skill_name.to_string(),
            ..tool.clone()
        })
        .collect()
}

/// Builds the base tools' router and list now. The CLI calls it on a thread of its own at
/// start, so that they are ready (or nearly) when the run opens its tools; calling it is
/// never required.
pub fn prepare() {
    LazyLock::force(&LISTED);
}

/// One base skill instance: a workspace, its todo list, and its options.
#[derive(Clone)]
pub struct BaseSkill {
    pub(crate) workspace: Arc<Workspace>,
    pub(crate) todos: Arc<Mutex<TodoList>>,
    pub(crate) options: Arc<BaseSkillOptions>,
    pub(crate) env: Arc<dyn EnvSource + Send + Sync>,
    pub(crate) tool_router: ToolRouter<BaseSkill>,
    /// When the instance was made (`healthCheck`'s uptime).
    pub(crate) started: std::time::Instant,
}

impl std::fmt::Debug for BaseSkill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaseSkill")
            .field("workspace", &self.workspace.root())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl BaseSkill {
    /// A base skill on `workspace`, taking `exec`'s safe variables from this process.
    pub fn new(
        workspace: impl Into<PathBuf>,
        options: BaseSkillOptions,
    ) -> Result<Self, SkillError> {
        Self::with_env(workspace, options, Arc::new(ProcessEnv))
    }

    /// Like [`BaseSkill::new`] with the parent environment given explicitly.
    pub fn with_env(
        workspace: impl Into<PathBuf>,
        options: BaseSkillOptions,
        env: Arc<dyn EnvSource + Send + Sync>,
    ) -> Result<Self, SkillError> {
        let ws = Workspace::open(workspace.into())?
            .with_quota(options.quota)
            .with_protected(&options.protected);
        Ok(BaseSkill {
            workspace: Arc::new(ws),
            todos: Arc::new(Mutex::new(TodoList::default())),
            options: Arc::new(options),
            env,
            tool_router: ROUTER.clone(),
            started: std::time::Instant::now(),
        })
    }

    /// The workspace root.
    pub fn workspace_root(&self) -> &std::path::Path {
        self.workspace.root()
    }

    /// What confinement `exec` children get on this kernel, for the skill lifecycle event.
    /// Fails when the operator requires full enforcement and the kernel cannot give it.
    pub fn exec_confinement(&self) -> Result<ConfinementReport, SkillError> {
        let policy = exec_policy(
            self.workspace.root(),
            self.options.tmp_root.clone(),
            &self.options,
        );
        Ok(Confinement::prepare(&policy)?.report().clone())
    }
}

/// The confinement of `exec` children.
pub(crate) fn exec_policy(
    workspace: &std::path::Path,
    tmp: PathBuf,
    options: &BaseSkillOptions,
) -> ConfinementPolicy {
    let mut policy = ConfinementPolicy::new(workspace, Some(tmp))
        .with_network(options.exec_network)
        .fail_closed(options.require_full_confinement);
    policy.enabled = options.confine;
    if options.hide_storage {
        policy = policy.hiding(workspace.join(perstack_sandbox::workspace::RESERVED_DIR));
    }
    policy.protecting(workspace, &options.protected)
}

/// A base skill served in-process: connect an MCP client to `stream` (e.g.
/// `client_handler.serve(stream)`), exactly as to a child's stdio.
#[derive(Debug)]
pub struct InProcess {
    /// The client's end of the connection.
    pub stream: tokio::io::DuplexStream,
    /// The server task; it ends when the client disconnects.
    pub server: tokio::task::JoinHandle<Result<(), SkillError>>,
}

/// Buffer size of the in-process connection.
const DUPLEX_BUFFER: usize = 1 << 20;

/// Serves `skill` on an in-memory connection (no process spawned). Must be called within a
/// tokio runtime.
pub fn serve_in_process(skill: BaseSkill) -> InProcess {
    let (client_end, server_end) = tokio::io::duplex(DUPLEX_BUFFER);
    let server = tokio::spawn(async move {
        let running = skill
            .serve(server_end)
            .await
            .map_err(|e| SkillError::Transport {
                reason: e.to_string(),
            })?;
        running.waiting().await.map_err(|e| SkillError::Transport {
            reason: e.to_string(),
        })?;
        Ok(())
    });
    InProcess {
        stream: client_end,
        server,
    }
}

/// Serves a base skill on `workspace` over this process's stdin and stdout until the
/// client disconnects. Nothing but MCP messages is written to stdout; logs go to stderr.
pub async fn serve_stdio(workspace: PathBuf, options: BaseSkillOptions) -> Result<(), SkillError> {
    let skill = BaseSkill::new(workspace, options)?;
    tracing::info!(workspace = %skill.workspace_root().display(), "base skill serving on stdio");
    let running =
        skill
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| SkillError::Transport {
                reason: e.to_string(),
            })?;
    running.waiting().await.map_err(|e| SkillError::Transport {
        reason: e.to_string(),
    })?;
    Ok(())
}
