//! Every validation error and warning, with its exact message (insta snapshots).

use perstack_core::config::parse_config;

/// Validates `text` and renders the outcome the way `perstack validate` prints it.
fn outcome(text: &str) -> String {
    match parse_config("perstack.toml", text) {
        Ok((config, warnings)) => {
            let mut out = format!("ok: {} expert(s)", config.experts.len());
            for w in warnings {
                out.push('\n');
                out.push_str(&w.to_string());
            }
            out
        }
        Err(diags) => diags.to_string(),
    }
}

macro_rules! case {
    ($name:ident, $toml:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), outcome($toml));
        }
    };
}

const BASE: &str = r#"
[experts."writer"]
instruction = "Write."
"#;

case!(
    unknown_key_with_suggestion,
    r#"
[experts."writer"]
instruction = "Write."

[experts."writer".skills."fs"]
type = "mcpStdioSkill"
comand = "npx"
packageName = "@modelcontextprotocol/server-filesystem"
"#
);

case!(
    unknown_top_level_key_lists_allowed_keys,
    r#"
colour = "blue"
[experts."writer"]
instruction = "Write."
"#
);

case!(
    snake_case_key_suggests_camel_case,
    r#"
max_steps = 10
[experts."writer"]
instruction = "Write."
"#
);

case!(
    wrong_type_string_for_integer,
    r#"
maxSteps = "ten"
[experts."writer"]
instruction = "Write."
"#
);

case!(
    wrong_type_string_for_array,
    r#"
[experts."lead"]
instruction = "Lead."
delegates = "writer"
[experts."writer"]
instruction = "Write."
"#
);

case!(
    missing_instruction,
    r#"
[experts."writer"]
description = "Writes."
"#
);

case!(
    max_steps_zero,
    r#"
maxSteps = 0
[experts."writer"]
instruction = "Write."
"#
);

case!(
    max_tool_call_seconds_zero,
    r#"
maxToolCallSeconds = 0
[experts."writer"]
instruction = "Write."
"#
);

case!(
    max_tool_call_seconds_string,
    r#"
maxToolCallSeconds = "30s"
[experts."writer"]
instruction = "Write."
"#
);

case!(
    max_tool_call_seconds_valid,
    r#"
maxToolCallSeconds = 30
[experts."writer"]
instruction = "Write."
"#
);

case!(
    negative_timeout,
    r#"
timeout = -5
[experts."writer"]
instruction = "Write."
"#
);

case!(
    reasoning_budget_misspelt,
    r#"
reasoningBudget = "hgh"
[experts."writer"]
instruction = "Write."
"#
);

case!(
    reasoning_budget_wrong_type,
    r#"
reasoningBudget = 1.5
[experts."writer"]
instruction = "Write."
"#
);

case!(
    unknown_provider,
    r#"
[provider]
providerName = "anthropik"
[experts."writer"]
instruction = "Write."
"#
);

case!(
    setting_key_for_other_provider,
    r#"
[provider]
providerName = "anthropic"
[provider.setting]
organization = "org-1"
[experts."writer"]
instruction = "Write."
"#
);

case!(
    provider_base_url_plain_http,
    r#"
[provider]
providerName = "openai"
[provider.setting]
baseUrl = "http://llm.example.com/v1"
[experts."writer"]
instruction = "Write."
"#
);

case!(
    provider_base_url_loopback_http_allowed,
    r#"
[provider]
providerName = "openai"
[provider.setting]
baseUrl = "http://127.0.0.1:8080/v1"
[experts."writer"]
instruction = "Write."
"#
);

case!(
    ollama_base_url_plain_http_allowed,
    r#"
[provider]
providerName = "ollama"
[provider.setting]
baseUrl = "http://gpu-box.internal:11434"
[experts."writer"]
instruction = "Write."
"#
);

case!(
    credentials_in_url,
    r#"
[provider]
providerName = "anthropic"
[provider.setting]
baseUrl = "https://user:secret@api.example.com"
[experts."writer"]
instruction = "Write."
"#
);

case!(
    skill_with_both_package_name_and_args,
    r#"
[experts."writer"]
instruction = "Write."
[experts."writer".skills."fs"]
type = "mcpStdioSkill"
command = "npx"
packageName = "@modelcontextprotocol/server-filesystem"
args = ["-y", "@modelcontextprotocol/server-filesystem"]
"#
);

case!(
    skill_with_neither_package_name_nor_args,
    r#"
[experts."writer"]
instruction = "Write."
[experts."writer".skills."fs"]
type = "mcpStdioSkill"
command = "my-server"
"#
);

case!(
    skill_type_misspelt,
    r#"
[experts."writer"]
instruction = "Write."
[experts."writer".skills."fs"]
type = "mcpStdio"
command = "npx"
args = []
"#
);

case!(
    skill_without_type,
    r#"
[experts."writer"]
instruction = "Write."
[experts."writer".skills."fs"]
command = "npx"
args = []
"#
);

case!(
    http_skill_alias_and_plain_http_endpoint,
    r#"
[experts."writer"]
instruction = "Write."
[experts."writer".skills."search"]
type = "mcpHttpSkill"
endpoint = "http://search.example.com/mcp"
"#
);

case!(
    remote_skill_loopback_http_allowed,
    r#"
[experts."writer"]
instruction = "Write."
[experts."writer".skills."search"]
type = "mcpSseSkill"
endpoint = "http://localhost:3001/mcp"
"#
);

case!(
    delegate_names_no_expert,
    r#"
[experts."lead"]
instruction = "Lead."
delegates = ["writter"]
[experts."writer"]
instruction = "Write."
description = "Writes."
"#
);

case!(
    delegate_to_itself,
    r#"
[experts."lead"]
instruction = "Lead."
delegates = ["lead"]
"#
);

case!(
    delegate_listed_twice,
    r#"
[experts."lead"]
instruction = "Lead."
delegates = ["writer", "writer"]
[experts."writer"]
instruction = "Write."
description = "Writes."
"#
);

case!(
    delegate_without_description_warns,
    r#"
[experts."lead"]
instruction = "Lead."
delegates = ["writer"]
[experts."writer"]
instruction = "Write."
"#
);

case!(
    interactive_tool_collides_with_delegate,
    r#"
[experts."lead"]
instruction = "Lead."
delegates = ["@acme/writer"]
[experts."lead".skills."ask"]
type = "interactiveSkill"
[experts."lead".skills."ask".tools."writer"]
inputJsonSchema = '{"type":"object"}'
[experts."@acme/writer"]
instruction = "Write."
description = "Writes."
"#
);

case!(
    interactive_tool_collides_with_base_skill,
    r#"
[experts."lead"]
instruction = "Lead."
[experts."lead".skills."@perstack/base"]
type = "mcpStdioSkill"
command = "npx"
packageName = "@perstack/base"
[experts."lead".skills."ask"]
type = "interactiveSkill"
[experts."lead".skills."ask".tools."readTextFile"]
inputJsonSchema = '{"type":"object"}'
"#
);

case!(
    omitting_the_colliding_base_tool_resolves_it,
    r#"
[experts."lead"]
instruction = "Lead."
[experts."lead".skills."@perstack/base"]
type = "mcpStdioSkill"
command = "npx"
packageName = "@perstack/base"
omit = ["readTextFile"]
[experts."lead".skills."ask"]
type = "interactiveSkill"
[experts."lead".skills."ask".tools."readTextFile"]
inputJsonSchema = '{"type":"object"}'
"#
);

case!(
    base_skill_pick_names_unknown_tool,
    r#"
[experts."lead"]
instruction = "Lead."
[experts."lead".skills."@perstack/base"]
type = "mcpStdioSkill"
command = "npx"
packageName = "@perstack/base"
pick = ["readFile", "attemptCompletion"]
"#
);

case!(
    require_approval_patterns,
    r#"
[experts."lead"]
instruction = "Lead."
[experts."lead".skills."@perstack/base"]
type = "mcpStdioSkill"
command = "npx"
packageName = "@perstack/base"
requireApproval = ["exec", "delete*", "", "*File"]
"#
);

case!(
    require_approval_valid_on_remote_skill,
    r#"
[experts."lead"]
instruction = "Lead."
[experts."lead".skills."web"]
type = "mcpSseSkill"
endpoint = "https://mcp.example.com/mcp"
requireApproval = ["post*", "*"]
"#
);

case!(
    remote_oauth_incomplete_or_secret_in_place_of_a_name,
    r#"
[experts."lead"]
instruction = "Lead."
[experts."lead".skills."cc"]
type = "mcpSseSkill"
endpoint = "https://mcp.example.com/mcp"
[experts."lead".skills."cc".oauth]
clientIdEnv = "sk-live 123"
scopes = ["read write", ""]
[experts."lead".skills."xaa"]
type = "mcpSseSkill"
endpoint = "https://mcp.example.com/mcp"
[experts."lead".skills."xaa".oauth]
grant = "jwtBearer"
idpTokenEndpoint = "http://idp.example.com/token"
[experts."lead".skills."browser"]
type = "mcpSseSkill"
endpoint = "https://mcp.example.com/mcp"
[experts."lead".skills."browser".oauth]
grant = "authorizationCode"
"#
);

case!(
    remote_oauth_valid,
    r#"
[experts."lead"]
instruction = "Lead."
[experts."lead".skills."cc"]
type = "mcpSseSkill"
endpoint = "https://mcp.example.com/mcp"
[experts."lead".skills."cc".oauth]
clientIdEnv = "MCP_CLIENT_ID"
privateKeyEnv = "MCP_CLIENT_KEY"
scopes = ["mcp:read"]
[experts."lead".skills."offline"]
type = "mcpSseSkill"
endpoint = "https://mcp.example.com/mcp"
[experts."lead".skills."offline".oauth]
grant = "refreshToken"
clientIdEnv = "MCP_CLIENT_ID"
refreshTokenEnv = "MCP_REFRESH_TOKEN"
"#
);

case!(
    input_json_schema_not_json,
    r#"
[experts."lead"]
instruction = "Lead."
[experts."lead".skills."ask"]
type = "interactiveSkill"
[experts."lead".skills."ask".tools."confirm"]
inputJsonSchema = "{ type: object }"
"#
);

case!(
    input_json_schema_not_a_schema,
    r#"
[experts."lead"]
instruction = "Lead."
[experts."lead".skills."ask"]
type = "interactiveSkill"
[experts."lead".skills."ask".tools."confirm"]
inputJsonSchema = '{"type":"objekt"}'
"#
);

case!(
    input_json_schema_not_an_object,
    r#"
[experts."lead"]
instruction = "Lead."
[experts."lead".skills."ask"]
type = "interactiveSkill"
[experts."lead".skills."ask".tools."confirm"]
inputJsonSchema = '{"type":"string"}'
"#
);

case!(
    invalid_expert_key,
    r#"
[experts."Writer Bot"]
instruction = "Write."
"#
);

case!(
    version_not_semver,
    r#"
[experts."writer"]
version = "1.0"
instruction = "Write."
"#
);

case!(
    bad_tag_env_name_and_punycode_domain,
    r#"
[experts."writer"]
instruction = "Write."
tags = ["Writing"]
[experts."writer".skills."web"]
type = "mcpStdioSkill"
command = "uvx"
packageName = "mcp-server-fetch"
requiredEnv = ["FETCH TOKEN"]
allowedDomains = ["xn--80ak6aa92e.com", "*.com"]
"#
);

case!(
    secret_in_instruction_warns_at_its_line,
    r#"
[experts."writer"]
instruction = """
Write the article.
Use this key if needed: sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123
"""
"#
);

case!(
    secret_in_header_and_rule_warn,
    r#"
[provider]
providerName = "openai"
[provider.setting.headers]
Authorization = "Bearer abcdefghijklmnopqrstuvwxyz012345"
[experts."writer"]
instruction = "Write."
[experts."writer".skills."gh"]
type = "mcpStdioSkill"
command = "github-mcp"
args = []
rule = "Authenticate with ghp_abcdefghijklmnopqrstuvwxyz0123456789."
"#
);

case!(
    perstack_only_keys_warn,
    r#"
runtime = "cursor"
perstackBaseSkillCommand = ["node", "base.js"]
[experts."writer"]
instruction = "Write."
providerTools = ["webSearch"]
"#
);

case!(
    toml_syntax_error,
    r#"
[experts."writer"]
instruction = "Write.
"#
);

case!(
    several_errors_reported_together,
    r#"
maxSteps = "many"
colour = 1
[experts."writer"]
instrution = "Write."
"#
);

case!(empty_file, "");

case!(
    pricing_negative_and_wrong_type,
    r#"
[pricing."my-model"]
input = -1.5
output = "ten"
cacheRead = -0.1

[experts."writer"]
instruction = "Write."
"#
);

case!(
    pricing_unknown_key_and_missing_output,
    r#"
[pricing."my-model"]
input = 1.0
cache_write = 2.0

[experts."writer"]
instruction = "Write."
"#
);

case!(
    pricing_not_a_number,
    r#"
[pricing."my-model"]
input = nan
output = inf

[experts."writer"]
instruction = "Write."
"#
);

case!(
    pricing_valid_override,
    r#"
[pricing."claude-sonnet-4-5"]
input = 3
output = 15.0
cacheRead = 0.3
cacheWrite = 3.75

[experts."writer"]
instruction = "Write."
"#
);

#[test]
fn instruction_longer_than_perstack_accepts_warns() {
    let long = "x".repeat(20 * 1024 + 1);
    let text = format!("[experts.\"writer\"]\ninstruction = \"{long}\"\n");
    insta::assert_snapshot!("instruction_too_long", outcome(&text));
}

#[test]
fn base_config_is_ok() {
    assert_eq!(outcome(BASE), "ok: 1 expert(s)");
}

#[test]
fn example_config_is_ok() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/perstack.toml"
    ))
    .unwrap();
    assert_eq!(outcome(&text), "ok: 3 expert(s)");
}
