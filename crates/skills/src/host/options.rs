//! Operator settings of a [`super::SkillHost`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use perstack_core::egress::Egress;
use perstack_sandbox::Redactor;
use perstack_sandbox::env::{EnvSource, ProcessEnv};

use super::elicitation::ElicitationHandler;
use super::oauth::AuthorizationAgent;
use crate::base::BaseSkillOptions;

/// Default time a skill has from spawn to a finished tool listing.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time a tool call may take (the operator's limit, `maxToolCallSeconds`).
pub const DEFAULT_CALL_TIMEOUT: Duration = crate::base::DEFAULT_MAX_TOOL_TIME;
/// Default time a child has to exit after SIGTERM before it is killed.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Longest stderr line forwarded as one event; the rest of the line is dropped.
pub const MAX_STDERR_LINE: usize = 8 * 1024;

/// Everything a [`super::SkillHost`] needs besides the Expert's config.
#[derive(Clone)]
pub struct HostOptions {
    /// The workspace root (the base skill's boundary, stdio skills' working directory).
    pub workspace: PathBuf,
    /// Where the parent's environment variables come from.
    pub env: Arc<dyn EnvSource + Send + Sync>,
    /// Settings of the built-in base skill.
    pub base: BaseSkillOptions,
    /// Spawn + handshake + tool listing must finish within this.
    pub startup_timeout: Duration,
    /// The operator's limit on one tool call: an MCP call is answered with an error result
    /// after this, whatever its arguments ask. See [`HostOptions::with_max_tool_time`].
    pub call_timeout: Duration,
    /// SIGTERM-to-SIGKILL grace at shutdown.
    pub shutdown_grace: Duration,
    /// Confine stdio skill processes (no_new_privs, Landlock, seccomp). On by default.
    pub confine_skills: bool,
    /// Refuse to start a stdio skill unless every confinement layer is enforced.
    pub require_full_confinement: bool,
    /// Extra trees stdio skills may write (package caches, say); the workspace and a
    /// private tmp are always writable.
    pub extra_write_paths: Vec<PathBuf>,
    /// Hide `<workspace>/perstack/` (Perstack's storage folder) from stdio skills: an empty
    /// read-only tmpfs in a private mount namespace, where the kernel allows it. On by
    /// default; see [`HostOptions::with_storage_outside_workspace`].
    pub hide_storage: bool,
    /// Secrets to strip from skill stderr before it becomes an event.
    pub redactor: Arc<Redactor>,
    /// Offer the Expert's interactive skills (off for a delegated run, as in Perstack: only
    /// the top-level run can stop for the application).
    pub interactive_skills: bool,
    /// Send remote skills' MCP traffic to `perstack proxy` over its Unix socket (the proxy
    /// resolves, checks and connects; no DNS or network is needed here).
    pub egress: Option<Egress>,
    /// Answers skills' elicitation requests; none: the host declares no elicitation.
    pub elicitation: Option<Arc<dyn ElicitationHandler>>,
    /// With no `elicitation` handler: declare elicitation anyway and stop the tool call
    /// when a server asks ([`crate::host::CallOutcome::Elicitation`]), for a headless
    /// runtime that puts the question to the application and calls the tool again.
    pub elicitation_stops: bool,
    /// The user's step of OAuth's authorization-code grant, for remote skills whose
    /// `oauth.grant` is `authorizationCode` (none: such skills fail to start).
    pub authorization_agent: Option<Arc<dyn AuthorizationAgent>>,
}

impl std::fmt::Debug for HostOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostOptions")
            .field("workspace", &self.workspace)
            .field("base", &self.base)
            .field("startup_timeout", &self.startup_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("confine_skills", &self.confine_skills)
            .field("require_full_confinement", &self.require_full_confinement)
            .field("extra_write_paths", &self.extra_write_paths)
            .field("hide_storage", &self.hide_storage)
            .field("interactive_skills", &self.interactive_skills)
            .field("egress", &self.egress)
            .field("elicitation", &self.elicitation.is_some())
            .field("elicitation_stops", &self.elicitation_stops)
            .field("authorization_agent", &self.authorization_agent.is_some())
            .finish_non_exhaustive()
    }
}

impl HostOptions {
    /// Defaults for `workspace`, taking the environment from this process.
    pub fn new(workspace: impl Into<PathBuf>) -> Self {
        HostOptions {
            workspace: workspace.into(),
            env: Arc::new(ProcessEnv),
            base: BaseSkillOptions::default(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            confine_skills: true,
            require_full_confinement: false,
            extra_write_paths: Vec::new(),
            hide_storage: true,
            redactor: Arc::new(Redactor::new()),
            interactive_skills: true,
            egress: None,
            elicitation: None,
            elicitation_stops: false,
            authorization_agent: None,
        }
    }

    /// For storage in a state folder outside the workspace: nothing in the workspace needs
    /// hiding from `exec` children and stdio skills, so the mount-namespace layer is off.
    pub fn with_storage_outside_workspace(mut self) -> Self {
        self.hide_storage = false;
        self.base.hide_storage = false;
        self
    }

    /// The same options with remote skills routed through `perstack proxy`.
    pub fn with_egress(mut self, egress: Option<Egress>) -> Self {
        self.egress = egress;
        self
    }

    /// The same options with the operator's limit on one tool call (`--max-tool-time`,
    /// `maxToolCallSeconds`): for every MCP call and for the base skill's `exec`, whose
    /// `timeout` argument is cut to it.
    pub fn with_max_tool_time(mut self, limit: Duration) -> Self {
        self.call_timeout = limit;
        self.base.max_tool_time = limit;
        self
    }

    /// The same options with the run's policy files protected (see
    /// [`BaseSkillOptions::protected`]; stdio skills get the same namespace binds).
    pub fn with_protected(
        mut self,
        files: Vec<perstack_sandbox::workspace::ProtectedFile>,
    ) -> Self {
        self.base.protected = files;
        self
    }

    /// The same options with the parent environment given explicitly.
    pub fn with_env(mut self, env: Arc<dyn EnvSource + Send + Sync>) -> Self {
        self.env = env;
        self
    }
}
