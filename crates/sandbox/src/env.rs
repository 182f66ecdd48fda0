//! The environment a child process (an `exec` command or a stdio skill) receives: a small
//! safe list plus what its skill declares in `requiredEnv`; nothing else.

use std::collections::BTreeMap;

use crate::error::{Result, SandboxError};

/// Variables passed through from the runtime's environment when set.
pub const SAFE_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TZ",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "PERSTACK_PROXY_URL",
];

/// Variables that change how programs load code or find files; a skill cannot set them.
pub const PROTECTED_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "SHELL",
    "IFS",
    "ENV",
    "BASH_ENV",
    "CDPATH",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "LD_DEBUG",
    "LD_PROFILE",
    "GCONV_PATH",
    "LOCPATH",
    "DYLD_INSERT_LIBRARIES",
    "DYLD_LIBRARY_PATH",
    "DYLD_FRAMEWORK_PATH",
    "NODE_OPTIONS",
    "NODE_PATH",
    "NODE_EXTRA_CA_CERTS",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONINSPECT",
    "PERL5LIB",
    "PERL5OPT",
    "PERLLIB",
    "RUBYLIB",
    "RUBYOPT",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "GIT_EXEC_PATH",
    "GIT_SSH_COMMAND",
    "GIT_CONFIG_GLOBAL",
    "TMPDIR",
];

/// Provider credentials the runtime holds; never handed to a child.
pub const PROVIDER_KEY_VARS: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "OPENAI_API_KEY",
    "GOOGLE_GENERATIVE_AI_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "AZURE_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "DEEPSEEK_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "PERSTACK_API_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
];

/// Secrets of the runtime itself; never handed to a child (with the audit key, an agent could
/// forge a log that verifies).
pub const RUNTIME_SECRET_VARS: &[&str] = &["PERSTACK_AUDIT_KEY"];

/// Where the parent's variables come from (the process environment, or a map in tests and
/// embedders that keep their own).
pub trait EnvSource {
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<String>;
}

/// The runtime's own process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }
}

/// Why a variable may not be set by a skill or a tool call, if it may not.
pub fn refusal_reason(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    if PROTECTED_VARS.iter().any(|p| p.eq_ignore_ascii_case(name))
        || upper.starts_with("LD_")
        || upper.starts_with("DYLD_")
    {
        return Some("it controls how programs load code");
    }
    if PROVIDER_KEY_VARS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name))
    {
        return Some("provider credentials never enter a child process");
    }
    if RUNTIME_SECRET_VARS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name))
    {
        return Some("the audit key never enters a child process");
    }
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        return Some("not a valid variable name");
    }
    None
}

/// The whole environment of a stdio skill's process: the safe list plus `required_env`.
/// A required variable that is unset, protected or a provider key is an error naming it.
pub fn skill_env(
    source: &dyn EnvSource,
    skill: &str,
    required_env: &[String],
) -> Result<BTreeMap<String, String>> {
    let mut env = safe_env(source);
    for name in required_env {
        if let Some(reason) = refusal_reason(name) {
            return Err(SandboxError::ProtectedEnv {
                name: name.clone(),
                reason,
            });
        }
        let value = source.get(name).ok_or_else(|| SandboxError::MissingEnv {
            name: name.clone(),
            skill: skill.to_string(),
        })?;
        env.insert(name.clone(), value);
    }
    Ok(env)
}

/// The environment of an `exec` child: the safe list plus the call's own `env`, from which
/// protected variables and provider keys are dropped (reported back to the caller).
pub fn exec_env(
    source: &dyn EnvSource,
    requested: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut env = safe_env(source);
    let mut dropped = Vec::new();
    for (name, value) in requested {
        if refusal_reason(name).is_some() {
            dropped.push(name.clone());
        } else {
            env.insert(name.clone(), value.clone());
        }
    }
    (env, dropped)
}

fn safe_env(source: &dyn EnvSource) -> BTreeMap<String, String> {
    SAFE_VARS
        .iter()
        .filter_map(|name| source.get(name).map(|v| ((*name).to_string(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn parent() -> BTreeMap<String, String> {
        [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/u"),
            ("ANTHROPIC_API_KEY", "sk-ant-secret"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("LD_PRELOAD", "/evil.so"),
            ("RANDOM_THING", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn the_audit_key_never_reaches_a_child() {
        let mut parent = parent();
        parent.insert("PERSTACK_AUDIT_KEY".into(), "k3y".into());
        assert!(matches!(
            skill_env(&parent, "s", &["PERSTACK_AUDIT_KEY".to_string()]),
            Err(SandboxError::ProtectedEnv { .. })
        ));
        let asked = BTreeMap::from([("perstack_audit_key".to_string(), "k".to_string())]);
        let (env, dropped) = exec_env(&parent, &asked);
        assert!(!env.values().any(|v| v == "k3y" || v == "k"), "{env:?}");
        assert_eq!(dropped, vec!["perstack_audit_key".to_string()]);
    }

    #[test]
    fn only_safe_and_required_pass() {
        let env = skill_env(&parent(), "gh", &["GITHUB_TOKEN".to_string()]).unwrap();
        assert_eq!(
            env.keys().cloned().collect::<Vec<_>>(),
            vec!["GITHUB_TOKEN", "HOME", "PATH"]
        );
    }

    #[test]
    fn missing_required_names_the_variable() {
        let err = skill_env(&parent(), "s", &["NOPE".to_string()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "required environment variable NOPE is not set (declared in requiredEnv of skill s)"
        );
    }

    #[test]
    fn protected_and_provider_keys_refused() {
        for name in [
            "PATH",
            "LD_PRELOAD",
            "ld_library_path",
            "NODE_OPTIONS",
            "PYTHONPATH",
            "LD_FOO",
            "ANTHROPIC_API_KEY",
        ] {
            let err = skill_env(&parent(), "s", &[name.to_string()]).unwrap_err();
            assert!(matches!(err, SandboxError::ProtectedEnv { .. }), "{name}");
        }
    }

    #[test]
    fn exec_env_drops_protected() {
        let requested: BTreeMap<String, String> =
            [("PATH", "/tmp"), ("FOO", "1"), ("OPENAI_API_KEY", "k")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let (env, dropped) = exec_env(&parent(), &requested);
        assert_eq!(env.get("PATH").map(String::as_str), Some("/usr/bin"));
        assert_eq!(env.get("FOO").map(String::as_str), Some("1"));
        assert_eq!(dropped, vec!["OPENAI_API_KEY", "PATH"]);
    }
}
