//! The typed `perstack.toml` model. Field names and defaults follow Perstack.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Perstack's default step limit.
pub const DEFAULT_MAX_STEPS: u32 = 100;
/// Perstack's default number of generation retries.
pub const DEFAULT_MAX_RETRIES: u32 = 5;
/// Perstack's default timeout per generation, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 300_000;
/// Our default limit on one tool call, in seconds (`maxToolCallSeconds`).
pub const DEFAULT_MAX_TOOL_CALL_SECONDS: u64 = 300;
/// Perstack's default env files, relative to the current folder.
pub const DEFAULT_ENV_PATHS: [&str; 2] = [".env", ".env.local"];
/// Perstack's model when neither `--model` nor `model` gives one.
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
/// The skill name Perstack configs use for the base skill.
pub const BASE_SKILL_NAME: &str = "@perstack/base";

/// The whole `perstack.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PerstackConfig {
    /// LLM provider and its settings (default: anthropic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderTable>,
    /// Model id (default `claude-sonnet-4-5`, as in Perstack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Extended thinking budget: a level or a token count (default: `low`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_budget: Option<ReasoningBudget>,
    /// Step limit per job (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_steps: Option<u32>,
    /// Retries per generation (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Timeout per generation in milliseconds (default 300000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout: Option<u64>,
    /// Env files to load, relative to the current folder (default `.env`, `.env.local`);
    /// `--env-path` replaces the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_path: Option<Vec<String>>,
    /// Perstack's execution runtime selector; accepted for compatibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeName>,
    /// Perstack's registry API URL; accepted for compatibility (https only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perstack_api_base_url: Option<String>,
    /// Perstack's override for the base skill command; accepted for compatibility, the
    /// built-in base skill is always used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perstack_base_skill_command: Option<Vec<String>>,
    /// Ours: model prices in USD per million tokens, by model id, merged over the built-in
    /// table (cost estimates, `--max-total-cost`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub pricing: IndexMap<String, super::PriceOverride>,
    /// Ours: the operator's limit on one tool call, in seconds (default 300): `exec`'s
    /// `timeout` and every MCP call end there; a call cannot raise it. `--max-tool-time`
    /// overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_tool_call_seconds: Option<u64>,
    /// The Experts, by key.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub experts: IndexMap<String, ExpertConfig>,
}

/// Perstack's runtime names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeName {
    /// In-process (what this runtime is).
    Local,
    /// Cursor.
    Cursor,
    /// Claude Code.
    ClaudeCode,
    /// Gemini CLI.
    Gemini,
    /// Docker.
    Docker,
}

/// `reasoningBudget`: a named level or a token count (0 disables reasoning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ReasoningBudget {
    /// A named level.
    Level(ReasoningLevel),
    /// An explicit token budget.
    Tokens(u32),
}

impl Default for ReasoningBudget {
    fn default() -> Self {
        ReasoningBudget::Level(ReasoningLevel::Low)
    }
}

impl std::str::FromStr for ReasoningBudget {
    type Err = String;

    /// `none`, `minimal`, `low`, `medium`, `high`, or a token count (as `--reasoning-budget`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let level = match s {
            "none" => ReasoningLevel::None,
            "minimal" => ReasoningLevel::Minimal,
            "low" => ReasoningLevel::Low,
            "medium" => ReasoningLevel::Medium,
            "high" => ReasoningLevel::High,
            _ => {
                return s.parse::<u32>().map(ReasoningBudget::Tokens).map_err(|_| {
                    format!(
                        "invalid reasoning budget \"{s}\": use none, minimal, low, medium, high, or a token count"
                    )
                });
            }
        };
        Ok(ReasoningBudget::Level(level))
    }
}

/// Named reasoning levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningLevel {
    /// Reasoning off.
    None,
    /// Smallest budget.
    Minimal,
    /// Small budget (Perstack's default).
    Low,
    /// Medium budget.
    Medium,
    /// Large budget.
    High,
}

/// `[provider]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderTable {
    /// Which provider.
    pub provider_name: ProviderName,
    /// Provider settings; which keys apply depends on the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<ProviderSetting>,
    /// Perstack's e2e fixtures write `envPath` after `[provider]`, which puts it here; Perstack
    /// drops it and so do we (with a warning): only the top-level `envPath` names env files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_path: Option<Vec<String>>,
}

/// Provider names, as Perstack spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderName {
    /// Anthropic Messages API.
    Anthropic,
    /// Google Gemini API.
    Google,
    /// OpenAI Chat Completions.
    #[serde(rename = "openai")]
    OpenAi,
    /// Ollama's OpenAI-compatible endpoint.
    Ollama,
    /// Azure OpenAI.
    #[serde(rename = "azure-openai")]
    AzureOpenAi,
    /// Amazon Bedrock.
    AmazonBedrock,
    /// Google Vertex AI.
    GoogleVertex,
    /// DeepSeek (OpenAI-compatible).
    Deepseek,
}

impl ProviderName {
    /// Every provider name.
    pub const ALL: [ProviderName; 8] = [
        ProviderName::Anthropic,
        ProviderName::Google,
        ProviderName::OpenAi,
        ProviderName::Ollama,
        ProviderName::AzureOpenAi,
        ProviderName::AmazonBedrock,
        ProviderName::GoogleVertex,
        ProviderName::Deepseek,
    ];

    /// The name as written in `perstack.toml` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderName::Anthropic => "anthropic",
            ProviderName::Google => "google",
            ProviderName::OpenAi => "openai",
            ProviderName::Ollama => "ollama",
            ProviderName::AzureOpenAi => "azure-openai",
            ProviderName::AmazonBedrock => "amazon-bedrock",
            ProviderName::GoogleVertex => "google-vertex",
            ProviderName::Deepseek => "deepseek",
        }
    }

    /// The `[provider.setting]` keys this provider accepts (as Perstack's schema has them).
    pub fn setting_keys(self) -> &'static [&'static str] {
        match self {
            ProviderName::Anthropic | ProviderName::Google | ProviderName::Deepseek => {
                &["baseUrl", "headers"]
            }
            ProviderName::OpenAi => &["baseUrl", "organization", "project", "name", "headers"],
            ProviderName::Ollama => &["baseUrl", "headers"],
            ProviderName::AzureOpenAi => &[
                "resourceName",
                "apiVersion",
                "baseUrl",
                "headers",
                "useDeploymentBasedUrls",
            ],
            ProviderName::AmazonBedrock => &["region"],
            ProviderName::GoogleVertex => &["project", "location", "baseUrl", "headers"],
        }
    }

    /// Whether `baseUrl` must be https (all but Ollama, which usually runs on plain http).
    pub fn base_url_requires_https(self) -> bool {
        !matches!(self, ProviderName::Ollama)
    }
}

impl std::fmt::Display for ProviderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProviderName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProviderName::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ProviderName::ALL.iter().map(|p| p.as_str()).collect();
                format!(
                    "unknown provider \"{s}\" (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// `[provider.setting]`: the union of every provider's keys; validation restricts each
/// provider to its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderSetting {
    /// API base URL (https, except loopback http for local endpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Extra HTTP headers sent with every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<IndexMap<String, String>>,
    /// OpenAI organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// OpenAI or Vertex project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Display name of an OpenAI-compatible provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Azure resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// Azure API version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Azure: use deployment-based URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_deployment_based_urls: Option<bool>,
    /// Bedrock region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Vertex location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// `[experts."<key>"]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpertConfig {
    /// Semantic version of the Expert (default `1.0.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Minimum Perstack runtime version; accepted for compatibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_runtime_version: Option<String>,
    /// What the Expert does; shown to Experts that delegate to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The system instruction.
    pub instruction: String,
    /// Skills by name. None declared means the base skill only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<IndexMap<String, SkillConfig>>,
    /// Expert keys this Expert may delegate to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegates: Option<Vec<String>>,
    /// Tags for discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Provider-native tools (Perstack); accepted for compatibility, not used yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_tools: Option<Vec<String>>,
    /// Anthropic Agent Skills (Perstack); accepted for compatibility, not used yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_skills: Option<Vec<Value>>,
    /// Options for provider-native tools (Perstack); accepted for compatibility, not used yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_tool_options: Option<Value>,
}

impl ExpertConfig {
    /// The version, or `1.0.0` when the config gives none.
    pub fn version_or_default(&self) -> &str {
        self.version.as_deref().unwrap_or("1.0.0")
    }
}

/// A skill under `[experts."<key>".skills."<name>"]`, by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum SkillConfig {
    /// An MCP server started as a child process speaking stdio.
    McpStdioSkill(StdioSkill),
    /// A remote MCP server over streamable HTTP (`mcpHttpSkill` is accepted as an alias).
    #[serde(alias = "mcpHttpSkill")]
    McpSseSkill(RemoteSkill),
    /// Tools answered by the application: calling one stops the run.
    InteractiveSkill(InteractiveSkill),
}

impl SkillConfig {
    /// The skill's `rule` text, if any.
    pub fn rule(&self) -> Option<&str> {
        match self {
            SkillConfig::McpStdioSkill(s) => s.rule.as_deref(),
            SkillConfig::McpSseSkill(s) => s.rule.as_deref(),
            SkillConfig::InteractiveSkill(s) => s.rule.as_deref(),
        }
    }

    /// The skill's description, if any.
    pub fn description(&self) -> Option<&str> {
        match self {
            SkillConfig::McpStdioSkill(s) => s.description.as_deref(),
            SkillConfig::McpSseSkill(s) => s.description.as_deref(),
            SkillConfig::InteractiveSkill(s) => s.description.as_deref(),
        }
    }

    /// `pick` and `omit` lists (empty for interactive skills).
    pub fn pick_omit(&self) -> (&[String], &[String]) {
        let (pick, omit) = match self {
            SkillConfig::McpStdioSkill(s) => (&s.pick, &s.omit),
            SkillConfig::McpSseSkill(s) => (&s.pick, &s.omit),
            SkillConfig::InteractiveSkill(_) => return (&[], &[]),
        };
        (
            pick.as_deref().unwrap_or_default(),
            omit.as_deref().unwrap_or_default(),
        )
    }

    /// `requireApproval` patterns (empty for interactive skills, which stop anyway).
    pub fn require_approval(&self) -> &[String] {
        match self {
            SkillConfig::McpStdioSkill(s) => s.require_approval.as_deref().unwrap_or_default(),
            SkillConfig::McpSseSkill(s) => s.require_approval.as_deref().unwrap_or_default(),
            SkillConfig::InteractiveSkill(_) => &[],
        }
    }

    /// The `type` tag as written in config.
    pub fn type_name(&self) -> &'static str {
        match self {
            SkillConfig::McpStdioSkill(_) => "mcpStdioSkill",
            SkillConfig::McpSseSkill(_) => "mcpSseSkill",
            SkillConfig::InteractiveSkill(_) => "interactiveSkill",
        }
    }
}

/// Fields of `type = "mcpStdioSkill"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StdioSkill {
    /// What the skill offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Usage rules added to the system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Keep only these tools (applied after `omit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pick: Option<Vec<String>>,
    /// Drop these tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omit: Option<Vec<String>>,
    /// Program to run, e.g. `npx`, `uvx` or a path.
    pub command: String,
    /// Package to run with `npx -y` / `uvx` (give this or `args`, not both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_name: Option<String>,
    /// Arguments to `command` (give this or `packageName`, not both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Environment variables passed through to the server; all must be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_env: Option<Vec<String>>,
    /// Domains the server may reach (`example.com`, `*.example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_domains: Option<Vec<String>>,
    /// Start in the background; tools become available when ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lazy_init: Option<bool>,
    /// Tools that stop the run for an approval before each call: tool names or `prefix*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_approval: Option<Vec<String>>,
}

/// Fields of `type = "mcpSseSkill"` / `"mcpHttpSkill"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoteSkill {
    /// What the skill offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Usage rules added to the system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Keep only these tools (applied after `omit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pick: Option<Vec<String>>,
    /// Drop these tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omit: Option<Vec<String>>,
    /// MCP endpoint URL (public https).
    pub endpoint: String,
    /// Domains the connection may reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_domains: Option<Vec<String>>,
    /// Tools that stop the run for an approval before each call: tool names or `prefix*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_approval: Option<Vec<String>>,
    /// OAuth for a server that answers 401: how to get tokens. Secrets are named by
    /// environment variable, never written here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<RemoteOAuth>,
}

/// `oauth` of a remote skill (MCP authorization: protected resource and authorization
/// server metadata are discovered from the server's 401).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoteOAuth {
    /// How tokens are obtained (default `clientCredentials`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<OAuthGrant>,
    /// Environment variable holding the pre-registered client id (none: the client
    /// registers itself, by `clientMetadataUrl` or dynamic registration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_env: Option<String>,
    /// Environment variable holding the client secret (`client_secret_basic` or
    /// `client_secret_post`, as the authorization server supports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// Environment variable holding a PKCS#8 PEM private key (P-256 or RSA): the client
    /// authenticates with a signed JWT (`private_key_jwt`) instead of a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_env: Option<String>,
    /// Environment variable holding a refresh token obtained beforehand (grant
    /// `refreshToken`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_env: Option<String>,
    /// Environment variable holding the identity provider's ID token (grant `jwtBearer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_env: Option<String>,
    /// The identity provider's token endpoint (grant `jwtBearer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_token_endpoint: Option<String>,
    /// Our client id at the identity provider (grant `jwtBearer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_client_id: Option<String>,
    /// Scopes to request (default: the server's challenge, else its `scopes_supported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// A client ID metadata document URL, used as the client id where the authorization
    /// server supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_metadata_url: Option<String>,
}

/// How a remote skill obtains OAuth tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OAuthGrant {
    /// Machine to machine: the client's own credentials (secret or signed JWT).
    ClientCredentials,
    /// A user authorizes in a browser (needs an application that can show one; a headless
    /// `perstack run` cannot).
    AuthorizationCode,
    /// A refresh token obtained beforehand, from `refreshTokenEnv`.
    RefreshToken,
    /// Enterprise-managed: the identity provider's ID token is exchanged for an
    /// authorization grant, then for an access token.
    JwtBearer,
}

/// Fields of `type = "interactiveSkill"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InteractiveSkill {
    /// What the skill offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Usage rules added to the system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The tools, by name.
    pub tools: IndexMap<String, InteractiveTool>,
}

/// One tool of an interactive skill.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InteractiveTool {
    /// Accepted because Perstack's fixtures write it; ignored with a warning (the tool's
    /// name is its key, as in Perstack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the tool does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the input, as a JSON string.
    pub input_json_schema: String,
}

impl PerstackConfig {
    /// `maxSteps` or Perstack's default.
    pub fn max_steps(&self) -> u32 {
        self.max_steps.unwrap_or(DEFAULT_MAX_STEPS)
    }

    /// `maxRetries` or Perstack's default.
    pub fn max_retries(&self) -> u32 {
        self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES)
    }

    /// `timeout` (ms) or Perstack's default.
    pub fn timeout_ms(&self) -> u64 {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT_MS)
    }

    /// `model`, else Perstack's default ([`DEFAULT_MODEL`]).
    pub fn model_or_default(&self) -> &str {
        self.model.as_deref().unwrap_or(DEFAULT_MODEL)
    }

    /// The provider name, anthropic by default.
    pub fn provider_name(&self) -> ProviderName {
        self.provider
            .as_ref()
            .map_or(ProviderName::Anthropic, |p| p.provider_name)
    }

    /// `reasoningBudget` or Perstack's default (`low`).
    pub fn reasoning_budget(&self) -> ReasoningBudget {
        self.reasoning_budget.unwrap_or_default()
    }

    /// The env files to load (top-level `envPath`, else `.env`, `.env.local`), relative to
    /// the current folder.
    pub fn env_paths(&self) -> Vec<String> {
        match &self.env_path {
            Some(paths) => paths.clone(),
            None => DEFAULT_ENV_PATHS.iter().map(|s| (*s).to_string()).collect(),
        }
    }
}

/// The tools of the built-in base skill, with Perstack's names.
pub const BASE_SKILL_TOOLS: [&str; 17] = [
    "attemptCompletion",
    "todo",
    "clearTodo",
    "exec",
    "getFileInfo",
    "healthCheck",
    "readTextFile",
    "readImageFile",
    "readPdfFile",
    "writeTextFile",
    "appendTextFile",
    "editTextFile",
    "moveFile",
    "deleteFile",
    "listDirectory",
    "createDirectory",
    "deleteDirectory",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_budget_parses_levels_and_token_counts() {
        assert_eq!(
            "high".parse(),
            Ok(ReasoningBudget::Level(ReasoningLevel::High))
        );
        assert_eq!("0".parse(), Ok(ReasoningBudget::Tokens(0)));
        assert_eq!("2048".parse(), Ok(ReasoningBudget::Tokens(2048)));
        assert!("lots".parse::<ReasoningBudget>().is_err());
        assert!("-1".parse::<ReasoningBudget>().is_err());
    }
}
