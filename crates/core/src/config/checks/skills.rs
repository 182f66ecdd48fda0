//! Skill-level checks: how a stdio server is started, endpoints, domains, env names, a
//! remote skill's OAuth settings, and the JSON Schemas of interactive tools.

use super::Sink;
use super::urls::url_problem;
use crate::config::diagnostic::KeyPath;
use crate::config::model::{
    InteractiveSkill, OAuthGrant, RemoteOAuth, RemoteSkill, SkillConfig, StdioSkill,
};

pub(crate) fn check(name: &str, skill: &SkillConfig, path: &KeyPath, sink: &mut Sink<'_>) {
    if name.trim().is_empty() {
        sink.error_at_key(path, "skill name is empty");
    }
    match skill {
        SkillConfig::McpStdioSkill(s) => check_stdio(s, path, sink),
        SkillConfig::McpSseSkill(s) => check_remote(s, path, sink),
        SkillConfig::InteractiveSkill(s) => check_interactive(s, path, sink),
    }
}

fn check_stdio(s: &StdioSkill, path: &KeyPath, sink: &mut Sink<'_>) {
    if s.command.trim().is_empty() {
        sink.error(
            &path.field("command"),
            "command is empty; name the program that starts the MCP server (e.g. \"npx\", \"uvx\", or a path)",
        );
    }
    match (&s.package_name, &s.args) {
        (Some(_), Some(_)) => sink.error_at_key(
            path,
            "both packageName and args are given; use packageName to run a package with npx/uvx, or args to pass arguments to command, not both",
        ),
        (None, None) => sink.error_at_key(
            path,
            "neither packageName nor args is given; add packageName = \"<package>\" to run a package, or args = [...] (args = [] if the command takes none)",
        ),
        (Some(p), None) if p.trim().is_empty() => {
            sink.error(&path.field("packageName"), "packageName is empty");
        }
        (Some(_) | None, _) => {}
    }
    if let Some(envs) = &s.required_env {
        for (i, e) in envs.iter().enumerate() {
            if !is_env_name(e) {
                sink.error(
                    &path.field("requiredEnv").index(i),
                    format!("\"{e}\" is not an environment variable name (letters, digits, '_' and '-', not starting with '-' or '_')"),
                );
            }
        }
    }
    check_domains(s.allowed_domains.as_deref(), path, sink);
    check_approval(s.require_approval.as_deref(), path, sink);
}

fn check_remote(s: &RemoteSkill, path: &KeyPath, sink: &mut Sink<'_>) {
    if let Some(p) = url_problem(&s.endpoint, true) {
        sink.error(&path.field("endpoint"), p);
    }
    check_domains(s.allowed_domains.as_deref(), path, sink);
    check_approval(s.require_approval.as_deref(), path, sink);
    if let Some(oauth) = &s.oauth {
        check_oauth(oauth, &path.field("oauth"), sink);
    }
}

/// What each grant needs, named by the key that gives it; secrets are variable names.
fn check_oauth(o: &RemoteOAuth, path: &KeyPath, sink: &mut Sink<'_>) {
    let vars = [
        ("clientIdEnv", &o.client_id_env),
        ("clientSecretEnv", &o.client_secret_env),
        ("privateKeyEnv", &o.private_key_env),
        ("refreshTokenEnv", &o.refresh_token_env),
        ("idTokenEnv", &o.id_token_env),
    ];
    for (key, value) in vars {
        if let Some(v) = value
            && !is_env_name(v)
        {
            sink.error(
                &path.field(key),
                format!("\"{v}\" is not an environment variable name; {key} names the variable that holds the value, never the value itself"),
            );
        }
    }
    let mut need = |present: bool, key: &str, why: &str| {
        if !present {
            sink.error_at_key(path, format!("{why} needs {key}"));
        }
    };
    match o.grant.unwrap_or(OAuthGrant::ClientCredentials) {
        OAuthGrant::ClientCredentials => {
            need(o.client_id_env.is_some(), "clientIdEnv", "grant clientCredentials");
            need(
                o.client_secret_env.is_some() || o.private_key_env.is_some(),
                "clientSecretEnv or privateKeyEnv",
                "grant clientCredentials",
            );
        }
        OAuthGrant::RefreshToken => {
            need(o.refresh_token_env.is_some(), "refreshTokenEnv", "grant refreshToken");
            need(o.client_id_env.is_some(), "clientIdEnv", "grant refreshToken");
        }
        OAuthGrant::JwtBearer => {
            need(o.id_token_env.is_some(), "idTokenEnv", "grant jwtBearer");
            need(o.idp_token_endpoint.is_some(), "idpTokenEndpoint", "grant jwtBearer");
            need(o.idp_client_id.is_some(), "idpClientId", "grant jwtBearer");
            need(o.client_id_env.is_some(), "clientIdEnv", "grant jwtBearer");
        }
        OAuthGrant::AuthorizationCode => sink.warn(
            &path.field("grant"),
            "authorizationCode needs an application that shows the user a browser; perstack run has none and will not start this skill (use clientCredentials, or refreshToken with a token obtained beforehand)",
        ),
    }
    let urls = [
        ("idpTokenEndpoint", &o.idp_token_endpoint),
        ("clientMetadataUrl", &o.client_metadata_url),
    ];
    for (key, value) in urls {
        if let Some(u) = value
            && let Some(p) = url_problem(u, true)
        {
            sink.error(&path.field(key), p);
        }
    }
    for (i, scope) in o.scopes.iter().flatten().enumerate() {
        if scope.is_empty() || scope.contains(char::is_whitespace) {
            sink.error(
                &path.field("scopes").index(i),
                format!("\"{scope}\" is not one scope; give each scope as its own string"),
            );
        }
    }
}

fn check_interactive(s: &InteractiveSkill, path: &KeyPath, sink: &mut Sink<'_>) {
    if s.tools.is_empty() {
        sink.error(
            &path.field("tools"),
            "an interactive skill needs at least one tool",
        );
    }
    for (tool, def) in &s.tools {
        let tpath = path.field("tools").key(tool);
        if !is_tool_name(tool) {
            sink.error_at_key(
                &tpath,
                format!("tool name \"{tool}\" must be 1-64 letters, digits, '_' or '-' (what providers accept)"),
            );
        }
        if let Some(problem) = input_schema_problem(&def.input_json_schema) {
            sink.error(&tpath.field("inputJsonSchema"), problem);
        }
    }
}

/// Why an interactive tool's `inputJsonSchema` is unusable, or `None`.
pub(crate) fn input_schema_problem(raw: &str) -> Option<String> {
    let value: serde_json::Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(e) => {
            return Some(format!(
                "inputJsonSchema is not valid JSON ({e}); write a JSON Schema object such as {{\"type\":\"object\",\"properties\":{{}}}}"
            ));
        }
    };
    if let Err(e) = jsonschema::meta::validate(&value) {
        return Some(format!("inputJsonSchema is not a valid JSON Schema: {e}"));
    }
    if value.get("type").and_then(serde_json::Value::as_str) != Some("object") {
        return Some(
            "inputJsonSchema must describe an object (\"type\": \"object\"): tool arguments are always an object"
                .to_string(),
        );
    }
    None
}

fn check_approval(patterns: Option<&[String]>, path: &KeyPath, sink: &mut Sink<'_>) {
    for (i, p) in patterns.unwrap_or_default().iter().enumerate() {
        if let Some(problem) = approval_pattern_problem(p) {
            sink.error(&path.field("requireApproval").index(i), problem);
        }
    }
}

/// Why a `requireApproval` entry is unusable, or `None`.
pub(crate) fn approval_pattern_problem(pattern: &str) -> Option<String> {
    let stem = pattern.strip_suffix('*').unwrap_or(pattern);
    if pattern.trim().is_empty() {
        return Some(
            "requireApproval entry is empty; name a tool (\"exec\") or a prefix (\"delete*\")"
                .to_string(),
        );
    }
    if stem.contains('*') {
        return Some(format!(
            "\"{pattern}\": '*' may only end a pattern (\"delete*\"); other wildcards are not supported"
        ));
    }
    None
}

fn check_domains(domains: Option<&[String]>, path: &KeyPath, sink: &mut Sink<'_>) {
    for (i, d) in domains.unwrap_or_default().iter().enumerate() {
        if let Some(p) = domain_pattern_problem(d) {
            sink.error(&path.field("allowedDomains").index(i), p);
        }
    }
}

/// Why an `allowedDomains` entry is unusable, or `None`.
pub(crate) fn domain_pattern_problem(pattern: &str) -> Option<String> {
    let host = pattern.strip_prefix("*.").unwrap_or(pattern);
    let host = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.is_empty() || !host.split('.').all(label_ok) {
        return Some(format!(
            "\"{pattern}\" is not a domain pattern; use an exact domain (example.com) or a wildcard prefix (*.example.com)"
        ));
    }
    if host
        .split('.')
        .any(|l| l.len() >= 4 && l[..4].eq_ignore_ascii_case("xn--"))
    {
        return Some(format!(
            "\"{pattern}\" is a punycode domain; these are refused to prevent homograph attacks, use the ASCII domain"
        ));
    }
    if !host.contains('.') && pattern.starts_with("*.") {
        return Some(format!(
            "\"{pattern}\" would match a whole top-level domain; name a registrable domain"
        ));
    }
    None
}

fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Tool names providers accept: `^[a-zA-Z0-9_-]{1,64}$`.
pub(crate) fn is_tool_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_patterns() {
        assert_eq!(domain_pattern_problem("example.com"), None);
        assert_eq!(domain_pattern_problem("*.example.com"), None);
        assert_eq!(domain_pattern_problem("example.com."), None);
        assert!(domain_pattern_problem("xn--80ak6aa92e.com").is_some());
        assert!(domain_pattern_problem("*.com").is_some());
        assert!(domain_pattern_problem("exa mple.com").is_some());
        assert!(domain_pattern_problem("*").is_some());
        assert!(domain_pattern_problem("a..b").is_some());
    }

    #[test]
    fn approval_patterns() {
        assert_eq!(approval_pattern_problem("exec"), None);
        assert_eq!(approval_pattern_problem("delete*"), None);
        // A lone `*` asks for approval of every tool of the skill.
        assert_eq!(approval_pattern_problem("*"), None);
        assert!(approval_pattern_problem("").unwrap().contains("empty"));
        assert!(approval_pattern_problem("  ").unwrap().contains("empty"));
        assert!(
            approval_pattern_problem("*exec")
                .unwrap()
                .contains("only end")
        );
        assert!(
            approval_pattern_problem("a**")
                .unwrap()
                .contains("only end")
        );
    }

    #[test]
    fn input_schemas() {
        assert_eq!(input_schema_problem(r#"{"type":"object"}"#), None);
        assert!(
            input_schema_problem("{")
                .unwrap()
                .contains("not valid JSON")
        );
        assert!(
            input_schema_problem(r#"{"type":"objekt"}"#)
                .unwrap()
                .contains("not a valid JSON Schema")
        );
        assert!(
            input_schema_problem(r#"{"type":"string"}"#)
                .unwrap()
                .contains("must describe an object")
        );
    }
}
