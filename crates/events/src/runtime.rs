//! Runtime events: infrastructure, not the Expert's state machine (Perstack's `RuntimeEvent`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A runtime event: the common envelope plus a typed payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeEvent {
    /// Event id.
    pub id: String,
    /// Emission time, ms since the epoch.
    pub timestamp: u64,
    /// The job.
    pub job_id: String,
    /// The run.
    pub run_id: String,
    /// `type` and the type's fields.
    #[serde(flatten)]
    pub payload: RuntimeEventPayload,
}

impl RuntimeEvent {
    /// A new event with a fresh id and the current time.
    pub fn new(job_id: &str, run_id: &str, payload: RuntimeEventPayload) -> Self {
        RuntimeEvent {
            id: perstack_core::id::new_id(),
            timestamp: perstack_core::now_ms(),
            job_id: job_id.to_string(),
            run_id: run_id.to_string(),
            payload,
        }
    }
}

/// The interactive tool result a run was resumed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InteractiveToolCallInfo {
    /// Tool name.
    pub tool_name: String,
    /// Tool call id.
    pub tool_call_id: String,
    /// The application's answer.
    pub text: String,
}

/// How much of one confinement layer the kernel enforces (ours, on `initializeRuntime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum LayerStatus {
    /// Fully enforced.
    Full,
    /// Partly (an older kernel ABI).
    Partial,
    /// Not available here (kernel, container runtime or seccomp profile refused it).
    None,
    /// Not needed in this configuration.
    NotRequested,
    /// Turned off by the operator.
    Off,
}

/// Where the provider's requests (and its API key) go (ours, on `initializeRuntime`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderEndpoint {
    /// The provider (`anthropic`, `openai`, ...).
    pub provider: String,
    /// The base URL, without credentials or query.
    pub url: String,
    /// Whether the host is the provider's official one; absent for providers without one
    /// (Ollama is local by design).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub official: Option<bool>,
    /// Set when the host is not the official one: the key is sent to that host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The confinement layers `exec` and stdio skills get on this machine, probed at start
/// (ours, on `initializeRuntime`; see docs/security.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfinementSummary {
    /// `no_new_privs` can be set.
    pub no_new_privs: bool,
    /// Landlock file-system and TCP rules.
    pub landlock: LayerStatus,
    /// The Landlock ABI, when Landlock is available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landlock_abi: Option<u32>,
    /// The seccomp filter denying IP sockets.
    pub seccomp: LayerStatus,
    /// The user + mount namespace hiding the storage folder.
    pub mount_namespace: LayerStatus,
}

/// An MCP server's self-reported identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// Server name.
    pub name: String,
    /// Server version.
    pub version: String,
}

/// What the credential proxy did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ProxyAction {
    /// Forwarded.
    Allowed,
    /// Refused.
    Blocked,
}

/// The payload of a runtime event, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[allow(clippy::large_enum_variant)] // built once, moved to a sink: boxing would only add noise
pub enum RuntimeEventPayload {
    /// The runtime is set up for a run. Carries what is needed to tie the run to the exact
    /// build, model and config that produced it.
    InitializeRuntime {
        /// Runtime version.
        runtime_version: String,
        /// Runtime name (`local`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        runtime: Option<String>,
        /// The Expert being run.
        expert_name: String,
        /// Every Expert available in the config.
        experts: Vec<String>,
        /// Model id.
        model: String,
        /// Step limit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_steps: Option<u32>,
        /// Generation retries.
        max_retries: u32,
        /// Timeout per generation, ms.
        timeout: u64,
        /// The query, on a fresh run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<String>,
        /// The interactive tool result, on a resumed run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interactive_tool_call: Option<InteractiveToolCallInfo>,
        /// Ours: git revision the runtime was built from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        git_revision: Option<String>,
        /// Ours: the Expert's version.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expert_version: Option<String>,
        /// Ours: SHA-256 of the config file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config_hash: Option<String>,
        /// Ours: SHA-256 of `perstack.lock`, when one was used.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lockfile_hash: Option<String>,
        /// Ours: version of this event schema.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_schema_version: Option<String>,
        /// Ours: where the runtime's own HTTP requests go when `perstack proxy` holds the
        /// key (`unix:///...`); absent when the runtime connects itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        egress: Option<String>,
        /// Ours: the confinement layers this machine enforces for `exec` and stdio skills.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        confinement: Option<ConfinementSummary>,
        /// Ours: the provider's endpoint, and a warning when it is not the official host.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_endpoint: Option<ProviderEndpoint>,
    },
    /// A skill is starting.
    SkillStarting {
        /// Skill name.
        skill_name: String,
        /// Program (or endpoint) started.
        command: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// A skill is connected and its tools are known.
    SkillConnected {
        /// Skill name.
        skill_name: String,
        /// The server's identity.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_info: Option<ServerInfo>,
        /// Spawn plus handshake, ms.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connect_duration_ms: Option<u64>,
        /// Start to ready, ms.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total_duration_ms: Option<u64>,
        /// Process spawn, ms.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spawn_duration_ms: Option<u64>,
        /// MCP initialize handshake, ms.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handshake_duration_ms: Option<u64>,
        /// `tools/list`, ms.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_discovery_duration_ms: Option<u64>,
    },
    /// A line the skill wrote to stderr.
    SkillStderr {
        /// Skill name.
        skill_name: String,
        /// The line.
        message: String,
    },
    /// A skill went away (shut down or crashed).
    SkillDisconnected {
        /// Skill name.
        skill_name: String,
    },
    /// Ours: a skill's live tools differ from `perstack.lock`; the live definitions apply
    /// from the next generation on (run `perstack install` to refresh the lockfile).
    SkillLockMismatch {
        /// Skill name.
        skill_name: String,
        /// Tools the server has that the lockfile lacks.
        added: Vec<String>,
        /// Tools the lockfile has that the server lacks.
        removed: Vec<String>,
        /// Tools whose description or input schema changed.
        changed: Vec<String>,
    },
    /// Ours: tools a skill lists that are not offered to the model, and why (a tool whose
    /// `execution.taskSupport` is `"required"` can only be called as an MCP task, which
    /// this runtime does not do).
    SkillToolsNotOffered {
        /// Skill name.
        skill_name: String,
        /// The tools left out.
        tools: Vec<String>,
        /// Why, for the user.
        reason: String,
    },
    /// The credential proxy allowed or blocked a request.
    ProxyAccess {
        /// What it did.
        action: ProxyAction,
        /// Destination host.
        domain: String,
        /// Destination port.
        port: u16,
        /// Why, when blocked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl RuntimeEventPayload {
    /// Every runtime event `type`.
    pub const TYPES: [&'static str; 8] = [
        "initializeRuntime",
        "skillStarting",
        "skillConnected",
        "skillStderr",
        "skillDisconnected",
        "skillLockMismatch",
        "skillToolsNotOffered",
        "proxyAccess",
    ];

    /// The `type` this payload serializes with.
    pub fn type_name(&self) -> &'static str {
        match self {
            RuntimeEventPayload::InitializeRuntime { .. } => "initializeRuntime",
            RuntimeEventPayload::SkillStarting { .. } => "skillStarting",
            RuntimeEventPayload::SkillConnected { .. } => "skillConnected",
            RuntimeEventPayload::SkillStderr { .. } => "skillStderr",
            RuntimeEventPayload::SkillDisconnected { .. } => "skillDisconnected",
            RuntimeEventPayload::SkillLockMismatch { .. } => "skillLockMismatch",
            RuntimeEventPayload::SkillToolsNotOffered { .. } => "skillToolsNotOffered",
            RuntimeEventPayload::ProxyAccess { .. } => "proxyAccess",
        }
    }
}
