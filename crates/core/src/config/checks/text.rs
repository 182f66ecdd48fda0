//! Warnings about free text: secrets pasted into the config, over-long instructions, and
//! Perstack keys this runtime accepts but does not act on.

use super::Sink;
use crate::config::diagnostic::KeyPath;
use crate::config::model::{ExpertConfig, PerstackConfig, RuntimeName, SkillConfig};
use crate::secrets::find_secrets;

/// Perstack's instruction limit; longer instructions are refused by Perstack's runtime.
pub(crate) const MAX_INSTRUCTION_CHARS: usize = 20 * 1024;
/// Perstack's limit for descriptions and rules.
const MAX_DESCRIPTION_CHARS: usize = 2 * 1024;

fn warn_secrets(text: &str, path: &KeyPath, sink: &mut Sink<'_>) {
    for m in find_secrets(text) {
        let needle = text.get(m.range.clone()).unwrap_or_default();
        sink.warn_at_text(
            path,
            needle,
            format!(
                "this text looks like it contains a secret ({}); perstack.toml is usually committed, so keep secrets in the environment or an env file (envPath) instead",
                m.kind.as_str()
            ),
        );
    }
}

pub(crate) fn check_provider_setting(config: &PerstackConfig, root: &KeyPath, sink: &mut Sink<'_>) {
    let runtime_note = match config.runtime {
        None | Some(RuntimeName::Local) => None,
        // Never silently: the run happens here, not in a container.
        Some(RuntimeName::Docker) => Some(
            "this key does not start a container: perstack runs the Expert in the process it is started in; to run it in a container start the image yourself (docs/container.md; `perstack run --runtime docker` prints the commands)",
        ),
        Some(RuntimeName::Cursor | RuntimeName::ClaudeCode | RuntimeName::Gemini) => Some(
            "this runtime always executes Experts itself; Perstack's external runtime adapters are not used and this key is ignored",
        ),
    };
    if let Some(note) = runtime_note {
        sink.warn(&root.field("runtime"), note);
    }
    if config.perstack_api_base_url.is_some() {
        sink.warn(
            &root.field("perstackApiBaseUrl"),
            "ignored: this runtime does not call the Perstack API (Experts come from perstack.toml)",
        );
    }
    if config.perstack_base_skill_command.is_some() {
        sink.warn(
            &root.field("perstackBaseSkillCommand"),
            "ignored: the base skill is built in and served in-process",
        );
    }
    let Some(provider) = &config.provider else {
        return;
    };
    let Some(setting) = &provider.setting else {
        return;
    };
    let spath = root.field("provider").field("setting");
    let value = serde_json::to_value(setting).unwrap_or_default();
    let allowed = provider.provider_name.setting_keys();
    if let Some(obj) = value.as_object() {
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                let d = sink.map.diag_at_key(
                    crate::config::Severity::Error,
                    &spath,
                    &spath.field(key),
                    format!(
                        "key \"{key}\" does not apply to provider \"{}\"; it accepts: {}",
                        provider.provider_name,
                        allowed.join(", ")
                    ),
                );
                sink.out.push(d);
            }
        }
    }
    for (k, v) in setting.headers.iter().flatten() {
        warn_secrets(v, &spath.field("headers").key(k), sink);
    }
    for (field, v) in [
        ("baseUrl", &setting.base_url),
        ("organization", &setting.organization),
        ("project", &setting.project),
    ] {
        if let Some(v) = v {
            warn_secrets(v, &spath.field(field), sink);
        }
    }
}

pub(crate) fn check_expert(expert: &ExpertConfig, path: &KeyPath, sink: &mut Sink<'_>) {
    let ipath = path.field("instruction");
    warn_secrets(&expert.instruction, &ipath, sink);
    let chars = expert.instruction.chars().count();
    if chars > MAX_INSTRUCTION_CHARS {
        sink.warn(
            &ipath,
            format!(
                "instruction is {chars} characters, over the {MAX_INSTRUCTION_CHARS} that Perstack accepts; shorten it or move reference material into files the Expert reads"
            ),
        );
    }
    if let Some(d) = &expert.description {
        warn_secrets(d, &path.field("description"), sink);
        let n = d.chars().count();
        if n > MAX_DESCRIPTION_CHARS {
            sink.warn(
                &path.field("description"),
                format!("description is {n} characters, over Perstack's limit of {MAX_DESCRIPTION_CHARS}"),
            );
        }
    }
    for (field, present) in [
        ("providerTools", expert.provider_tools.is_some()),
        ("providerSkills", expert.provider_skills.is_some()),
        (
            "providerToolOptions",
            expert.provider_tool_options.is_some(),
        ),
    ] {
        if present {
            sink.warn(
                &path.field(field),
                format!("{field} is accepted for Perstack compatibility but not supported by this runtime yet; it is ignored"),
            );
        }
    }
    for (name, skill) in expert.skills.iter().flatten() {
        let spath = path.field("skills").key(name);
        if let Some(rule) = skill.rule() {
            warn_secrets(rule, &spath.field("rule"), sink);
            let n = rule.chars().count();
            if n > MAX_DESCRIPTION_CHARS {
                sink.warn(
                    &spath.field("rule"),
                    format!(
                        "rule is {n} characters, over Perstack's limit of {MAX_DESCRIPTION_CHARS}"
                    ),
                );
            }
        }
        if let Some(d) = skill.description() {
            warn_secrets(d, &spath.field("description"), sink);
        }
        if let SkillConfig::McpStdioSkill(s) = skill {
            for (i, a) in s.args.iter().flatten().enumerate() {
                warn_secrets(a, &spath.field("args").index(i), sink);
            }
        }
    }
}
