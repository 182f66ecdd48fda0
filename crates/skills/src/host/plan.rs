//! What to start for an Expert: its `skills` table and `delegates` turned into a list of
//! planned skills, before any process is spawned. Pure, so every rule is unit-tested.

use indexmap::IndexMap;
use perstack_core::config::{
    BASE_SKILL_NAME, ExpertConfig, InteractiveSkill, RemoteOAuth, RemoteSkill, SkillConfig,
    StdioSkill,
};
use perstack_core::{ExpertKey, ToolDefinition};
use serde_json::{Value, json};

use crate::error::SkillError;

/// `omit` then `pick`, by tool name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFilter {
    /// Tools to drop.
    pub omit: Vec<String>,
    /// When not empty, the only tools kept (after `omit`).
    pub pick: Vec<String>,
}

impl ToolFilter {
    /// Whether the tool `name` survives the filter.
    pub fn keeps(&self, name: &str) -> bool {
        !self.omit.iter().any(|o| o == name)
            && (self.pick.is_empty() || self.pick.iter().any(|p| p == name))
    }

    /// Names in `pick` or `omit` that are not among `available` (likely typos).
    pub fn unknown_names<'a>(&'a self, available: &[&str]) -> Vec<&'a str> {
        self.omit
            .iter()
            .chain(self.pick.iter())
            .map(String::as_str)
            .filter(|n| !available.contains(n))
            .collect()
    }

    fn of(skill: &SkillConfig) -> Self {
        let (pick, omit) = skill.pick_omit();
        ToolFilter {
            omit: omit.to_vec(),
            pick: pick.to_vec(),
        }
    }
}

/// The program a stdio skill runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Program.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Launched through a package runner (`packageName`): it may need to fetch the package.
    pub via_package: bool,
}

impl Launch {
    /// Perstack's rule: `packageName` or `args` (not both); `npx` always gets `-y` so it
    /// never waits for a confirmation nobody can give.
    pub fn of(name: &str, skill: &StdioSkill) -> Result<Self, SkillError> {
        let args = skill.args.clone().unwrap_or_default();
        let (mut args, via_package) = match (&skill.package_name, args.is_empty()) {
            (Some(_), false) => {
                return Err(SkillError::Config {
                    skill: name.to_string(),
                    reason: "give packageName or args, not both".into(),
                });
            }
            (Some(pkg), true) => (vec![pkg.clone()], true),
            (None, _) => (args, false),
        };
        if skill.command.trim().is_empty() {
            return Err(SkillError::Config {
                skill: name.to_string(),
                reason: "command is empty".into(),
            });
        }
        if is_program(&skill.command, "npx") && !args.iter().any(|a| a == "-y" || a == "--yes") {
            args.insert(0, "-y".into());
        }
        Ok(Launch {
            command: skill.command.clone(),
            args,
            via_package,
        })
    }
}

fn is_program(command: &str, name: &str) -> bool {
    command == name || command.ends_with(&format!("/{name}"))
}

/// One skill to start (or to expose without starting anything).
#[derive(Debug, Clone, PartialEq)]
pub enum PlannedSkill {
    /// The built-in base skill, served in-process.
    Base {
        /// Skill name (`@perstack/base`, or the key a Perstack config gave it).
        name: String,
        /// Its pick/omit.
        filter: ToolFilter,
    },
    /// A child process speaking MCP on stdio.
    Stdio {
        /// Skill name.
        name: String,
        /// What to run.
        launch: Launch,
        /// Its pick/omit.
        filter: ToolFilter,
        /// Variables passed through.
        required_env: Vec<String>,
        /// Domains it may reach (declares network access when present).
        allowed_domains: Option<Vec<String>>,
        /// Start in the background.
        lazy_init: bool,
    },
    /// A remote MCP server over streamable HTTP.
    Remote {
        /// Skill name.
        name: String,
        /// Endpoint URL.
        endpoint: String,
        /// Its pick/omit.
        filter: ToolFilter,
        /// Domains the connection may reach.
        allowed_domains: Option<Vec<String>>,
        /// OAuth settings (`oauth`), secrets named by environment variable.
        oauth: Option<RemoteOAuth>,
    },
    /// Tools answered by the application.
    Interactive {
        /// Skill name.
        name: String,
        /// Its tools.
        tools: Vec<ToolDefinition>,
    },
    /// Another Expert, called as a tool.
    Delegate {
        /// The delegate's key.
        expert_key: String,
        /// The tool it appears as.
        tool: ToolDefinition,
    },
}

impl PlannedSkill {
    /// The skill name (the expert key for a delegate).
    pub fn name(&self) -> &str {
        match self {
            PlannedSkill::Base { name, .. }
            | PlannedSkill::Stdio { name, .. }
            | PlannedSkill::Remote { name, .. }
            | PlannedSkill::Interactive { name, .. } => name,
            PlannedSkill::Delegate { expert_key, .. } => expert_key,
        }
    }
}

/// A skill's `rule`, for the system prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillRule {
    /// Skill name.
    pub skill_name: String,
    /// The rule text.
    pub rule: String,
}

/// Whether a declared skill is Perstack's base skill (served by ours): by name, or by an
/// unversioned `@perstack/base` package. A pinned version (`@perstack/base@1.2.3`) is
/// served by ours as well: there is exactly one base skill in this runtime.
pub fn is_base_skill(name: &str, skill: &SkillConfig) -> bool {
    if name == BASE_SKILL_NAME {
        return true;
    }
    let names_base = |s: &str| s == BASE_SKILL_NAME || s.starts_with("@perstack/base@");
    match skill {
        SkillConfig::McpStdioSkill(s) => {
            s.package_name.as_deref().is_some_and(names_base)
                || s.args.iter().flatten().any(|a| names_base(a))
        }
        SkillConfig::McpSseSkill(_) | SkillConfig::InteractiveSkill(_) => false,
    }
}

/// The skills of `expert`, in declaration order, then its delegates.
/// `experts` is the config's whole experts map (delegates are looked up there).
pub fn plan(
    expert: &ExpertConfig,
    experts: &IndexMap<String, ExpertConfig>,
) -> Result<Vec<PlannedSkill>, SkillError> {
    let mut out = Vec::new();
    match &expert.skills {
        None => out.push(PlannedSkill::Base {
            name: BASE_SKILL_NAME.to_string(),
            filter: ToolFilter::default(),
        }),
        Some(skills) => {
            for (name, skill) in skills {
                out.push(plan_skill(name, skill)?);
            }
        }
    }
    for key in expert.delegates.iter().flatten() {
        if out
            .iter()
            .any(|p| matches!(p, PlannedSkill::Delegate { expert_key, .. } if expert_key == key))
        {
            continue;
        }
        out.push(plan_delegate(key, experts)?);
    }
    Ok(out)
}

fn plan_skill(name: &str, skill: &SkillConfig) -> Result<PlannedSkill, SkillError> {
    if is_base_skill(name, skill) {
        return Ok(PlannedSkill::Base {
            name: name.to_string(),
            filter: ToolFilter::of(skill),
        });
    }
    Ok(match skill {
        SkillConfig::McpStdioSkill(s) => PlannedSkill::Stdio {
            name: name.to_string(),
            launch: Launch::of(name, s)?,
            filter: ToolFilter::of(skill),
            required_env: s.required_env.clone().unwrap_or_default(),
            allowed_domains: s.allowed_domains.clone(),
            lazy_init: s.lazy_init.unwrap_or(false),
        },
        SkillConfig::McpSseSkill(RemoteSkill {
            endpoint,
            allowed_domains,
            oauth,
            ..
        }) => PlannedSkill::Remote {
            name: name.to_string(),
            endpoint: endpoint.clone(),
            filter: ToolFilter::of(skill),
            allowed_domains: allowed_domains.clone(),
            oauth: oauth.clone(),
        },
        SkillConfig::InteractiveSkill(s) => PlannedSkill::Interactive {
            name: name.to_string(),
            tools: interactive_tools(name, s)?,
        },
    })
}

fn interactive_tools(
    name: &str,
    skill: &InteractiveSkill,
) -> Result<Vec<ToolDefinition>, SkillError> {
    skill
        .tools
        .iter()
        .map(|(tool, t)| {
            let schema: Value =
                serde_json::from_str(&t.input_json_schema).map_err(|e| SkillError::Config {
                    skill: name.to_string(),
                    reason: format!("inputJsonSchema of tool \"{tool}\" is not JSON: {e}"),
                })?;
            if !schema.is_object() {
                return Err(SkillError::Config {
                    skill: name.to_string(),
                    reason: format!("inputJsonSchema of tool \"{tool}\" is not a JSON object"),
                });
            }
            Ok(ToolDefinition {
                skill_name: name.to_string(),
                name: tool.clone(),
                description: t.description.clone(),
                input_schema: schema.into(),
            })
        })
        .collect()
}

fn plan_delegate(
    key: &str,
    experts: &IndexMap<String, ExpertConfig>,
) -> Result<PlannedSkill, SkillError> {
    let config_error = |reason: String| SkillError::Config {
        skill: key.to_string(),
        reason,
    };
    let delegate = experts
        .get(key)
        .ok_or_else(|| config_error("delegate expert not found in the config".into()))?;
    let parsed = ExpertKey::parse(key).map_err(|e| config_error(e.to_string()))?;
    Ok(PlannedSkill::Delegate {
        expert_key: key.to_string(),
        tool: ToolDefinition {
            skill_name: key.to_string(),
            name: parsed.short_name().to_string(),
            description: delegate.description.clone(),
            input_schema: json!({
                "type": "object",
                "properties": { "query": { "type": "string" } },
                "required": ["query"],
            })
            .into(),
        },
    })
}

/// The `rule` of every declared skill that has one, in declaration order.
pub fn rules(expert: &ExpertConfig) -> Vec<SkillRule> {
    expert
        .skills
        .iter()
        .flatten()
        .filter_map(|(name, skill)| {
            skill.rule().map(|rule| SkillRule {
                skill_name: name.clone(),
                rule: rule.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
