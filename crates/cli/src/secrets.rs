//! The one [`Redactor`] of a CLI invocation: every credential value the runtime holds, plus
//! the secret shapes. It is shared by every sink: events (stdout), storage (checkpoints,
//! messages, event logs), skill stderr (`skillStderr`) and the process's own stderr
//! (`--verbose` logs and error messages, see [`crate::log_redact`]).

use std::collections::BTreeMap;

use perstack_core::config::{PerstackConfig, SkillConfig};
use perstack_sandbox::Redactor;

/// The provider credentials the runtime reads from the environment and env files.
pub(crate) const PROVIDER_KEYS: [&str; 6] = [
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "OPENAI_API_KEY",
    "GOOGLE_GENERATIVE_AI_API_KEY",
    "AZURE_API_KEY",
    "DEEPSEEK_API_KEY",
];

/// Whether a variable's name says it holds a credential (`*_KEY`, `*_TOKEN`, `*SECRET*`,
/// `*PASSWORD*`, ...). Values of such variables are redacted wherever they appear.
fn credential_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["_KEY", "_TOKEN", "_PAT", "_PASS", "_PASSWD", "_CREDENTIALS"]
        .iter()
        .any(|s| n.ends_with(s))
        || ["SECRET", "PASSWORD", "TOKEN", "API_KEY", "APIKEY"]
            .iter()
            .any(|s| n.contains(s))
}

/// A redactor knowing the provider keys, the `[provider.setting] headers` values, every
/// skill's `requiredEnv` values and every credential-named variable of `env` (the process
/// environment overlaid by the env files).
pub(crate) fn redactor(config: &PerstackConfig, env: &BTreeMap<String, String>) -> Redactor {
    let mut r = Redactor::new();
    for name in PROVIDER_KEYS {
        if let Some(v) = env.get(name) {
            r.add_secret(name, v.trim());
        }
    }
    let headers = config
        .provider
        .as_ref()
        .and_then(|p| p.setting.as_ref())
        .and_then(|s| s.headers.as_ref());
    for (name, value) in headers.into_iter().flatten() {
        r.add_secret(format!("header {name}"), value.trim());
        // `Authorization: Bearer <token>`: the token alone may be echoed too.
        if let Some((_, token)) = value.trim().split_once(' ') {
            r.add_secret(format!("header {name}"), token.trim());
        }
    }
    for expert in config.experts.values() {
        for skill in expert.skills.iter().flat_map(|s| s.values()) {
            let SkillConfig::McpStdioSkill(s) = skill else {
                continue;
            };
            for name in s.required_env.iter().flatten() {
                if let Some(v) = env.get(name) {
                    r.add_secret(name.as_str(), v.trim());
                }
            }
        }
    }
    for (name, value) in env {
        if credential_name(name) {
            r.add_secret(name.as_str(), value.trim());
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn config(toml: &str) -> PerstackConfig {
        perstack_core::config::parse_config("perstack.toml", toml)
            .unwrap()
            .0
    }

    #[test]
    fn provider_keys_headers_required_env_and_credential_names() {
        let cfg = config(
            r#"
[provider]
providerName = "openai"
[provider.setting]
headers = { "X-Org-Auth" = "Bearer header-token-value-123" }

[experts.a]
instruction = "x"
[experts.a.skills.db]
type = "mcpStdioSkill"
command = "db-mcp"
args = []
requiredEnv = ["DB_URL"]
"#,
        );
        let env: BTreeMap<String, String> = [
            ("OPENAI_API_KEY", "held-openai-key-0001"),
            ("ANTHROPIC_AUTH_TOKEN", "held-anthropic-token-02"),
            ("DB_URL", "postgres://user:pw-secret-03@db/x"),
            ("GITLAB_TOKEN", "held-gitlab-token-0004"),
            ("MY_SERVICE_PASSWORD", "held-password-00005"),
            ("HOME", "/home/someone-long-path"),
            ("MODEL", "claude-sonnet-4-5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let r = redactor(&cfg, &env);
        let text = "held-openai-key-0001 held-anthropic-token-02 \
                    postgres://user:pw-secret-03@db/x held-gitlab-token-0004 \
                    held-password-00005 header-token-value-123 /home/someone-long-path \
                    claude-sonnet-4-5";
        assert_eq!(
            r.redact(text),
            "[REDACTED:OPENAI_API_KEY] [REDACTED:ANTHROPIC_AUTH_TOKEN] [REDACTED:DB_URL] \
             [REDACTED:GITLAB_TOKEN] [REDACTED:MY_SERVICE_PASSWORD] [REDACTED:header X-Org-Auth] \
             /home/someone-long-path claude-sonnet-4-5"
        );
    }

    #[test]
    fn credential_names() {
        for n in [
            "AWS_SECRET_ACCESS_KEY",
            "GITHUB_TOKEN",
            "X_API_KEY",
            "db_password",
        ] {
            assert_eq!(credential_name(n), true, "{n}");
        }
        for n in ["HOME", "PATH", "KEYBOARD", "SSH_AUTH_SOCK", "MODEL", "TERM"] {
            assert_eq!(credential_name(n), false, "{n}");
        }
    }
}
