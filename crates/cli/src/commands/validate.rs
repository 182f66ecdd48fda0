//! `perstack validate`: "ok" and a summary line per Expert, or every error (exit 2).

use std::io::Write;

use perstack_core::CoreError;
use perstack_core::config::{
    BASE_SKILL_NAME, DEFAULT_MODEL, ExpertConfig, LoadedConfig, SkillConfig, load_config,
};

use crate::cli::ValidateArgs;
use crate::{config_path, exit};

pub fn run(args: &ValidateArgs) -> u8 {
    let loaded = config_path::resolve(args.config.as_deref()).and_then(|p| load_config(&p));
    let mut out = std::io::stdout().lock();
    match loaded {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            let text = summary(&loaded);
            if crate::stdout_pipe::check(out.write_all(text.as_bytes())).is_err() {
                return exit::ERROR;
            }
            exit::OK
        }
        Err(CoreError::InvalidConfig(diags)) => {
            let n = diags.errors().count();
            eprintln!("{diags}");
            eprintln!(
                "{n} error{} found; fix them and run `perstack validate` again",
                if n == 1 { "" } else { "s" }
            );
            exit::USAGE
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
    }
}

/// "ok" plus one line per Expert.
pub fn summary(loaded: &LoadedConfig) -> String {
    let c = &loaded.config;
    let mut s = format!(
        "ok: {} ({} expert{}, provider {}, model {})\n",
        loaded.path.display(),
        c.experts.len(),
        if c.experts.len() == 1 { "" } else { "s" },
        c.provider_name(),
        c.model
            .clone()
            .unwrap_or_else(|| format!("{DEFAULT_MODEL} (the default)")),
    );
    for (key, e) in &c.experts {
        s.push_str(&format!(
            "  {key}@{}: {}\n",
            e.version_or_default(),
            expert_line(e)
        ));
    }
    s
}

fn expert_line(e: &ExpertConfig) -> String {
    let skills: Vec<String> = match &e.skills {
        None => vec![format!("{BASE_SKILL_NAME} (built-in)")],
        Some(skills) => skills.iter().map(|(n, s)| skill_label(n, s)).collect(),
    };
    let mut parts = vec![format!("skills: {}", skills.join(", "))];
    if let Some(d) = e.delegates.as_ref().filter(|d| !d.is_empty()) {
        parts.push(format!("delegates: {}", d.join(", ")));
    }
    parts.join("; ")
}

fn skill_label(name: &str, skill: &SkillConfig) -> String {
    let (pick, omit) = skill.pick_omit();
    let filter = match (pick.len(), omit.len()) {
        (0, 0) => String::new(),
        (p, 0) => format!(", {p} picked"),
        (0, o) => format!(", {o} omitted"),
        (p, o) => format!(", {p} picked, {o} omitted"),
    };
    if name == BASE_SKILL_NAME {
        return format!("{name} (built-in{filter})");
    }
    match skill {
        SkillConfig::McpStdioSkill(s) => {
            let target = s.package_name.as_deref().unwrap_or(&s.command);
            let lazy = if s.lazy_init == Some(true) {
                ", lazy"
            } else {
                ""
            };
            format!("{name} (stdio: {target}{filter}{lazy})")
        }
        SkillConfig::McpSseSkill(s) => format!("{name} (http: {}{filter})", s.endpoint),
        SkillConfig::InteractiveSkill(s) => {
            let tools: Vec<&str> = s.tools.keys().map(String::as_str).collect();
            format!("{name} (interactive: {})", tools.join(", "))
        }
    }
}
