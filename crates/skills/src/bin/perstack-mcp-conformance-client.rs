//! A small MCP client built on the skill host, for the official MCP client conformance
//! suite (test tooling, not part of the product): `perstack-mcp-conformance-client <url>`.
//!
//! The suite names the scenario in `MCP_CONFORMANCE_SCENARIO` and gives credentials in
//! `MCP_CONFORMANCE_CONTEXT` (JSON). The client declares the server as a remote skill the
//! way a user would in `perstack.toml` (an `oauth` table naming environment variables),
//! with the context's values as that environment, connects, lists the tools and calls
//! each one (`add_numbers` with `{a: 5, b: 3}`, others with `{}`), then shuts down.
//! Elicitation requests are accepted with no fields, so the host fills in the defaults.
//! For the authorization-code scenarios, the user's browser step is a GET of the
//! authorization URL whose redirect is read, not followed (the suite's server authorizes
//! at once).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use perstack_core::config::{ExpertConfig, OAuthGrant, RemoteOAuth, RemoteSkill, SkillConfig};
use perstack_sandbox::net::client_builder;
use perstack_sandbox::{NetworkGuard, NetworkPolicy};
use perstack_skills::host::{
    AuthorizationAgent, CallOutcome, ElicitationAnswer, ElicitationHandler, HostOptions, NoEvents,
    SkillHost,
};
use serde_json::{Map, Value, json};

/// The client ID metadata document URL the suite expects (it is never fetched).
const CLIENT_METADATA_URL: &str = "https://conformance-test.local/client-metadata.json";
/// Where the "browser" is sent back to; nothing listens there.
const REDIRECT_URI: &str = "http://localhost:3000/callback";

fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: perstack-mcp-conformance-client <server-url>");
        return ExitCode::from(2);
    };
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let context: Value = std::env::var("MCP_CONFORMANCE_CONTEXT")
        .ok()
        .and_then(|c| serde_json::from_str(&c).ok())
        .unwrap_or(Value::Null);
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("cannot start the async runtime");
        return ExitCode::FAILURE;
    };
    match runtime.block_on(run(&url, &scenario, &context)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The `oauth` table for a scenario, and the environment its variable names point into.
fn oauth_for(scenario: &str, context: &Value) -> (Option<RemoteOAuth>, BTreeMap<String, String>) {
    let mut env = BTreeMap::new();
    let mut take = |key: &str, var: &str| -> Option<String> {
        let value = context.get(key).and_then(Value::as_str)?;
        env.insert(var.to_string(), value.to_string());
        Some(var.to_string())
    };
    let oauth = match scenario {
        "auth/client-credentials-jwt" | "auth/client-credentials-basic" => RemoteOAuth {
            grant: Some(OAuthGrant::ClientCredentials),
            client_id_env: take("client_id", "CONFORMANCE_CLIENT_ID"),
            client_secret_env: take("client_secret", "CONFORMANCE_CLIENT_SECRET"),
            private_key_env: take("private_key_pem", "CONFORMANCE_PRIVATE_KEY"),
            ..RemoteOAuth::default()
        },
        "auth/cross-app-access-complete-flow" => RemoteOAuth {
            grant: Some(OAuthGrant::JwtBearer),
            client_id_env: take("client_id", "CONFORMANCE_CLIENT_ID"),
            client_secret_env: take("client_secret", "CONFORMANCE_CLIENT_SECRET"),
            id_token_env: take("idp_id_token", "CONFORMANCE_ID_TOKEN"),
            idp_token_endpoint: text(context, "idp_token_endpoint"),
            idp_client_id: text(context, "idp_client_id"),
            ..RemoteOAuth::default()
        },
        s if s.starts_with("auth/") => RemoteOAuth {
            grant: Some(OAuthGrant::AuthorizationCode),
            client_id_env: take("client_id", "CONFORMANCE_CLIENT_ID"),
            client_secret_env: take("client_secret", "CONFORMANCE_CLIENT_SECRET"),
            client_metadata_url: Some(CLIENT_METADATA_URL.to_string()),
            ..RemoteOAuth::default()
        },
        _ => return (None, env),
    };
    (Some(oauth), env)
}

fn text(context: &Value, key: &str) -> Option<String> {
    context.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Accepts every elicitation with no fields: what the host sends back is the defaults.
struct AcceptDefaults;

impl ElicitationHandler for AcceptDefaults {
    fn elicit(
        &self,
        skill: &str,
        request: Value,
    ) -> Pin<Box<dyn Future<Output = ElicitationAnswer> + Send>> {
        eprintln!("elicitation from {skill}: {request}");
        Box::pin(async { ElicitationAnswer::Accept(Map::new()) })
    }
}

/// The user's browser: requests the authorization URL and reports where it redirects.
struct Browser;

impl AuthorizationAgent for Browser {
    fn redirect_uri(&self) -> String {
        REDIRECT_URI.to_string()
    }

    fn authorize(
        &self,
        url: String,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send>> {
        Box::pin(async move {
            let guard = NetworkGuard::system(NetworkPolicy::default()).loopback_only();
            let client = client_builder(Arc::new(guard))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())?;
            let response = client.get(&url).send().await.map_err(|e| e.to_string())?;
            response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(str::to_string)
                .ok_or_else(|| {
                    format!(
                        "the authorization endpoint answered {} without a redirect",
                        response.status()
                    )
                })
        })
    }
}

async fn run(url: &str, scenario: &str, context: &Value) -> Result<(), String> {
    let workspace = std::env::temp_dir();
    let (oauth, env) = oauth_for(scenario, context);
    let mut options = HostOptions::new(&workspace).with_env(Arc::new(env));
    options.elicitation = Some(Arc::new(AcceptDefaults));
    options.authorization_agent = Some(Arc::new(Browser));
    let mut skills = indexmap::IndexMap::new();
    skills.insert(
        "server".to_string(),
        SkillConfig::McpSseSkill(RemoteSkill {
            endpoint: url.to_string(),
            oauth,
            ..RemoteSkill::default()
        }),
    );
    let expert = ExpertConfig {
        instruction: "conformance".into(),
        skills: Some(skills),
        ..ExpertConfig::default()
    };
    let host = SkillHost::start(
        &expert,
        &indexmap::IndexMap::new(),
        options,
        Arc::new(NoEvents),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut failed = None;
    for tool in host.tool_definitions() {
        let args = match tool.name.as_str() {
            "add_numbers" => json!({"a": 5, "b": 3}),
            _ => json!({}),
        };
        let Value::Object(args) = args else {
            continue;
        };
        let outcome = host.call("1", &tool.name, args as Map<String, Value>).await;
        match outcome {
            CallOutcome::Result(out) => {
                eprintln!(
                    "{} -> {:?} (isError {})",
                    tool.name, out.result.result, out.is_error
                );
                if out.is_error {
                    failed.get_or_insert(format!("tool {} answered with an error", tool.name));
                }
            }
            CallOutcome::Interactive(_)
            | CallOutcome::Delegate(_)
            | CallOutcome::Elicitation(_) => {}
        }
    }
    host.shutdown().await;
    match failed {
        None => Ok(()),
        Some(e) => Err(e),
    }
}
