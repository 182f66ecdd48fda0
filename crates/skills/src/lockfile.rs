//! `perstack.lock`: every Expert's resolved tool definitions, in Perstack's format (TOML,
//! `version = "1"`), so that a run can offer tools to the model before its skills have
//! finished starting. Written by `perstack install` ([`collect`] then [`Lockfile::write`]);
//! a run passes the locked definitions to [`crate::SkillHost::start_locked`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use perstack_core::config::PerstackConfig;
use perstack_core::input_file::{InputFile, read_input_file};
use perstack_core::{ExpertKey, ToolDefinition};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::SkillError;
use crate::host::{HostOptions, NoEvents, SkillHost, ToolKind, without_nulls};

/// The lockfile's name, next to `perstack.toml`.
pub const LOCKFILE_NAME: &str = "perstack.lock";

/// The whole lockfile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lockfile {
    /// Format version (`"1"`).
    pub version: String,
    /// When it was written, ms since the epoch.
    pub generated_at: u64,
    /// The config it was generated from.
    pub config_path: String,
    /// Experts by key.
    pub experts: IndexMap<String, LockedExpert>,
}

/// One Expert in the lockfile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockedExpert {
    /// Expert key.
    pub key: String,
    /// Expert name (the key without version or tag).
    pub name: String,
    /// Version.
    pub version: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Instruction.
    pub instruction: String,
    /// The skills as declared (kept as data: Perstack adds fields of its own).
    #[serde(default)]
    pub skills: IndexMap<String, Value>,
    /// Delegates.
    #[serde(default)]
    pub delegates: Vec<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Tools of its MCP skills (base, stdio and remote), pick/omit applied.
    #[serde(default)]
    pub tool_definitions: Vec<ToolDefinition>,
}

impl Lockfile {
    /// Reads a lockfile: a regular file of at most
    /// [`perstack_core::input_file::MAX_LOCKFILE_BYTES`].
    pub fn read(path: &Path) -> Result<Self, SkillError> {
        let text =
            read_input_file(path, InputFile::Lockfile).map_err(|e| SkillError::Lockfile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        Self::parse(&text).map_err(|reason| SkillError::Lockfile {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses lockfile text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let lock: Lockfile = toml::from_str(text).map_err(|e| e.to_string())?;
        if lock.version != "1" {
            return Err(format!("unsupported lockfile version {:?}", lock.version));
        }
        Ok(lock)
    }

    /// The lockfile as TOML text.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string(self).map_err(|e| e.to_string())
    }

    /// Writes the lockfile atomically (a temporary file renamed over the target).
    pub fn write(&self, path: &Path) -> Result<(), SkillError> {
        let text = self.to_toml().map_err(|reason| SkillError::Lockfile {
            path: path.to_path_buf(),
            reason,
        })?;
        let tmp = path.with_extension(format!("lock.tmp-{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| lock_error(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            lock_error(path, e)
        })
    }

    /// The locked tool definitions of `expert_key`, if it is in the lockfile.
    pub fn tools_of(&self, expert_key: &str) -> Option<&[ToolDefinition]> {
        self.experts
            .get(expert_key)
            .map(|e| e.tool_definitions.as_slice())
    }
}

fn lock_error(path: &Path, e: std::io::Error) -> SkillError {
    SkillError::Lockfile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Starts every Expert's skills (one Expert at a time), records their MCP tools, and stops
/// them: the content of `perstack.lock` for `config` (read from `config_path`).
pub async fn collect(
    config: &PerstackConfig,
    config_path: PathBuf,
    options: &HostOptions,
) -> Result<Lockfile, SkillError> {
    let mut experts = IndexMap::new();
    for (key, expert) in &config.experts {
        let host =
            SkillHost::start(expert, &config.experts, options.clone(), Arc::new(NoEvents)).await;
        let mut host = host?;
        let ready = host.ready().await;
        let tools: Vec<ToolDefinition> = host
            .catalogue()
            .entries()
            .filter(|e| e.kind == ToolKind::Mcp)
            .map(|e| ToolDefinition {
                input_schema: without_nulls(&e.definition.input_schema).into(),
                ..e.definition.clone()
            })
            .collect();
        host.shutdown().await;
        ready?;
        let skills = expert
            .skills
            .iter()
            .flatten()
            .map(|(name, skill)| {
                let mut v = without_nulls(&serde_json::to_value(skill).unwrap_or(Value::Null));
                if let Value::Object(m) = &mut v {
                    m.insert("name".into(), Value::String(name.clone()));
                }
                (name.clone(), v)
            })
            .collect();
        let name = ExpertKey::parse(key)
            .map(|k| k.name)
            .unwrap_or_else(|_| key.clone());
        experts.insert(
            key.clone(),
            LockedExpert {
                key: key.clone(),
                name,
                version: expert.version_or_default().to_string(),
                description: expert.description.clone(),
                instruction: expert.instruction.clone(),
                skills,
                delegates: expert.delegates.clone().unwrap_or_default(),
                tags: expert.tags.clone().unwrap_or_default(),
                tool_definitions: tools,
            },
        );
    }
    Ok(Lockfile {
        version: "1".into(),
        generated_at: perstack_core::now_ms(),
        config_path: config_path.display().to_string(),
        experts,
    })
}
