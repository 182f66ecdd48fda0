//! `perstack validate` reports every problem of a file in one pass: structural ones (wrong
//! types, unknown and missing keys) and semantic ones (cross-references, URLs, domains, JSON
//! Schemas) together, not one class per round.

use perstack_core::config::parse_config;
use pretty_assertions::assert_eq;

/// Eleven errors of ten kinds (plus a warning), spread over structure and semantics; before
/// one-pass validation it took a round of fixes per class of problem.
const MANY: &str = r#"model = "claude-sonnet-4-5"
maxSteps = "ten"
colour = "blue"

[experts."writer"]
version = "one"
instruction = "Write."
delegates = ["writer", "editor", "editor"]
tags = ["Bad Tag"]

[experts."writer".skills."fs"]
type = "mcpStdioSkill"
comand = "npx"
packageName = "x"
allowedDomains = ["*.com"]

[experts."writer".skills."remote"]
type = "mcpSseSkill"
endpoint = "https://user:pw@example.com/mcp"

[experts."writer".skills."ui"]
type = "interactiveSkill"
[experts."writer".skills."ui".tools."ask"]
inputJsonSchema = '{"type":"string"}'

[experts."editor"]
description = "Edits."
"#;

#[test]
fn every_problem_of_a_file_is_reported_in_one_run() {
    let diags = parse_config("perstack.toml", MANY)
        .err()
        .unwrap_or_default();
    let got: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    let want = [
        "perstack.toml:2:12: maxSteps: expected an integer, found a string",
        "perstack.toml:3:1: unknown key \"colour\"; allowed keys: provider, model, reasoningBudget, maxSteps, maxRetries, timeout, envPath, runtime, perstackApiBaseUrl, perstackBaseSkillCommand, pricing, maxToolCallSeconds, experts",
        "perstack.toml:6:11: experts.\"writer\".version: \"one\" is not a semantic version; write MAJOR.MINOR.PATCH, e.g. \"1.0.0\"",
        "perstack.toml:8:14: experts.\"writer\".delegates[0]: an Expert cannot delegate to itself",
        "perstack.toml:8:34: experts.\"writer\".delegates[2]: delegate \"editor\" is listed twice",
        "perstack.toml:9:9: experts.\"writer\".tags[0]: tag \"Bad Tag\" must start with a lowercase letter or digit and use only lowercase letters, digits, '_' and '-'",
        "perstack.toml:13:1: experts.\"writer\".skills.\"fs\": unknown key \"comand\" (did you mean \"command\"?)",
        "perstack.toml:15:19: experts.\"writer\".skills.\"fs\".allowedDomains[0]: \"*.com\" would match a whole top-level domain; name a registrable domain",
        "perstack.toml:19:12: experts.\"writer\".skills.\"remote\".endpoint: credentials in a URL end up in logs; remove them and pass them in headers or the environment",
        "perstack.toml:24:19: experts.\"writer\".skills.\"ui\".tools.\"ask\".inputJsonSchema: inputJsonSchema must describe an object (\"type\": \"object\"): tool arguments are always an object",
        "perstack.toml:26:10: experts.\"editor\": missing required key \"instruction\"",
        "perstack.toml:5:1: warning: experts.\"writer\": this Expert is a delegate but has no description; the delegating Expert sees the description as the tool's purpose",
    ];
    assert_eq!(got, want);
}

/// Keys from Perstack's own configs (its e2e fixtures and `perstack.toml` reference) that
/// Perstack loads and drops or resolves elsewhere: loaded here with a warning naming the key
/// and what this runtime does with it.
const PERSTACK_KEYS: &str = r#"[provider]
providerName = "anthropic"
envPath = [".env", ".env.local"]

[experts."lead"]
instruction = "Lead."
delegates = ["@org/researcher"]

[experts."lead".skills."@perstack/base"]
type = "mcpStdioSkill"
command = "npx"
packageName = "@perstack/base"
pick = ["attemptCompletion", "think"]

[experts."lead".skills."ui"]
type = "interactiveSkill"
[experts."lead".skills."ui".tools.askUser]
name = "ask"
inputJsonSchema = '{"type":"object"}'
"#;

#[test]
fn perstack_keys_load_with_a_warning_each() {
    let warnings: Vec<String> = parse_config("perstack.toml", PERSTACK_KEYS)
        .map(|(_, w)| w.iter().map(ToString::to_string).collect())
        .unwrap_or_else(|e| vec![e.to_string()]);
    let want = [
        "perstack.toml:3:11: warning: provider.envPath: ignored, as Perstack ignores it: envPath under [provider] names no env files (it names the files loaded anyway); env files come from --env-path, else a top-level envPath (write it above [provider]), else .env and .env.local in the current folder",
        "perstack.toml:7:14: warning: experts.\"lead\".delegates[0]: delegate \"@org/researcher\" is not defined in this file; Perstack would fetch it from its registry, which this runtime does not use: running \"lead\" fails until [experts.\"@org/researcher\"] is defined here (defined experts: lead)",
        "perstack.toml:13:30: warning: experts.\"lead\".skills.\"@perstack/base\".pick[1]: ignored: \"think\" is no longer a base skill tool (Perstack removed it and ignores the name too); the model reasons natively, see reasoningBudget",
        "perstack.toml:18:8: warning: experts.\"lead\".skills.\"ui\".tools.\"askUser\".name: ignored, as Perstack ignores it: an interactive tool is named by its key; the tool is offered as \"askUser\", not \"ask\"",
    ];
    assert_eq!(warnings, want);
}

#[test]
fn a_misspelt_base_tool_stays_an_error() {
    let text = PERSTACK_KEYS.replace("\"think\"", "\"attemptComplete\"");
    let errors: Vec<String> = parse_config("perstack.toml", &text)
        .err()
        .map(|d| d.errors().map(ToString::to_string).collect())
        .unwrap_or_default();
    assert_eq!(
        errors,
        [
            "perstack.toml:13:30: experts.\"lead\".skills.\"@perstack/base\".pick[1]: the base skill has no tool \"attemptComplete\" (did you mean \"attemptCompletion\"?)"
        ]
    );
}
