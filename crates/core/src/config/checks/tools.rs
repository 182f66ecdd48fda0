//! Tool-name collisions that can be seen without starting any server: the base skill's tools
//! (after pick/omit), interactive tools and delegate tools.

use indexmap::IndexMap;

use super::Sink;
use super::skills::is_tool_name;
use crate::config::diagnostic::{KeyPath, did_you_mean};
use crate::config::model::{
    BASE_SKILL_NAME, BASE_SKILL_TOOLS, ExpertConfig, PerstackConfig, SkillConfig,
};
use crate::expert_key::ExpertKey;

/// Where a tool name comes from, for the collision message.
enum Origin {
    Skill(String),
    Delegate(String),
}

impl Origin {
    fn describe(&self) -> String {
        match self {
            Origin::Skill(s) => format!("skill \"{s}\""),
            Origin::Delegate(d) => format!("delegate \"{d}\""),
        }
    }
}

pub(crate) fn check_collisions(
    config: &PerstackConfig,
    expert: &ExpertConfig,
    path: &KeyPath,
    sink: &mut Sink<'_>,
) {
    let mut names: IndexMap<String, Origin> = IndexMap::new();
    let mut add = |name: String, origin: Origin, at: &KeyPath, sink: &mut Sink<'_>| {
        if let Some(first) = names.get(&name) {
            sink.error(
                at,
                format!(
                    "tool \"{name}\" from {} collides with the same tool from {}; remove one with omit = [\"{name}\"] or rename it",
                    origin.describe(),
                    first.describe()
                ),
            );
        } else {
            names.insert(name, origin);
        }
    };

    match &expert.skills {
        None => {
            for t in BASE_SKILL_TOOLS {
                add(
                    t.to_string(),
                    Origin::Skill(BASE_SKILL_NAME.to_string()),
                    path,
                    sink,
                );
            }
        }
        Some(skills) => {
            for (name, skill) in skills {
                let spath = path.field("skills").key(name);
                if name == BASE_SKILL_NAME {
                    for t in base_tools_after_filters(skill, &spath, sink) {
                        add(t.to_string(), Origin::Skill(name.clone()), &spath, sink);
                    }
                }
                if let SkillConfig::InteractiveSkill(s) = skill {
                    for tool in s.tools.keys() {
                        let tpath = spath.field("tools").key(tool);
                        add(tool.clone(), Origin::Skill(name.clone()), &tpath, sink);
                    }
                }
            }
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, d) in expert.delegates.iter().flatten().enumerate() {
        // Unknown and repeated delegates are reported by the delegate check.
        if !config.experts.contains_key(d) || seen.contains(&d.as_str()) {
            continue;
        }
        seen.push(d);
        let Ok(key) = ExpertKey::parse(d) else {
            continue;
        };
        let tool = key.short_name().to_string();
        let dpath = path.field("delegates").index(i);
        if !is_tool_name(&tool) {
            sink.error(
                &dpath,
                format!("delegate \"{d}\" becomes tool \"{tool}\", which providers refuse (use letters, digits, '_' and '-', at most 64)"),
            );
        }
        add(tool, Origin::Delegate(d.clone()), &dpath, sink);
    }
}

/// Tools Perstack's base skill had and dropped (`think` went when native reasoning came):
/// Perstack configs still pick them, and Perstack ignores the name.
pub(crate) const RETIRED_BASE_TOOLS: [&str; 1] = ["think"];

/// The base skill's tools after `omit` then `pick`; unknown names in either are errors,
/// except retired ones, which are ignored with a warning as Perstack ignores them.
fn base_tools_after_filters(
    skill: &SkillConfig,
    spath: &KeyPath,
    sink: &mut Sink<'_>,
) -> Vec<&'static str> {
    let (pick, omit) = skill.pick_omit();
    for (field, list) in [("pick", pick), ("omit", omit)] {
        for (i, name) in list.iter().enumerate() {
            if RETIRED_BASE_TOOLS.contains(&name.as_str()) {
                sink.warn(
                    &spath.field(field).index(i),
                    format!(
                        "ignored: \"{name}\" is no longer a base skill tool (Perstack removed it and ignores the name too); the model reasons natively, see reasoningBudget"
                    ),
                );
            } else if !BASE_SKILL_TOOLS.contains(&name.as_str()) {
                let hint = did_you_mean(name, &BASE_SKILL_TOOLS)
                    .map(|s| format!(" (did you mean \"{s}\"?)"))
                    .unwrap_or_default();
                sink.error(
                    &spath.field(field).index(i),
                    format!("the base skill has no tool \"{name}\"{hint}"),
                );
            }
        }
    }
    BASE_SKILL_TOOLS
        .into_iter()
        .filter(|t| !omit.iter().any(|o| o == t))
        .filter(|t| pick.is_empty() || pick.iter().any(|p| p == t))
        .collect()
}
