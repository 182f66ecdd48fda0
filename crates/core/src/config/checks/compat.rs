//! Keys Perstack's own configs use that Perstack drops when loading: accepted here with a
//! warning that says what this runtime does with them (the same: nothing).

use super::Sink;
use crate::config::diagnostic::KeyPath;
use crate::config::model::{ExpertConfig, PerstackConfig, SkillConfig};

/// `envPath` written after `[provider]`, which TOML puts under `provider`.
pub(crate) fn check_provider_env_path(
    config: &PerstackConfig,
    root: &KeyPath,
    sink: &mut Sink<'_>,
) {
    let Some(paths) = config.provider.as_ref().and_then(|p| p.env_path.as_ref()) else {
        return;
    };
    let loaded = config.env_paths();
    let same = if *paths == loaded {
        " (it names the files loaded anyway)"
    } else {
        ""
    };
    sink.warn(
        &root.field("provider").field("envPath"),
        format!(
            "ignored, as Perstack ignores it: envPath under [provider] names no env files{same}; \
             env files come from --env-path, else a top-level envPath (write it above [provider]), \
             else .env and .env.local in the current folder"
        ),
    );
}

/// An interactive tool's `name`: the tool is named by its key.
pub(crate) fn check_tool_names(expert: &ExpertConfig, path: &KeyPath, sink: &mut Sink<'_>) {
    for (skill_name, skill) in expert.skills.iter().flatten() {
        let SkillConfig::InteractiveSkill(s) = skill else {
            continue;
        };
        for (tool, def) in &s.tools {
            let Some(name) = &def.name else { continue };
            let differs = if name == tool {
                String::new()
            } else {
                format!("; the tool is offered as \"{tool}\", not \"{name}\"")
            };
            sink.warn(
                &path
                    .field("skills")
                    .key(skill_name)
                    .field("tools")
                    .key(tool)
                    .field("name"),
                format!(
                    "ignored, as Perstack ignores it: an interactive tool is named by its key{differs}"
                ),
            );
        }
    }
}
