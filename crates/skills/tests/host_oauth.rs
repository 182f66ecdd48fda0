//! A remote skill's `oauth` table through `SkillHost::start` (as `perstack run` starts it):
//! what cannot work is refused before any connection, naming what to fix. The flows
//! themselves run against the MCP conformance suite's authorization servers
//! (`tests/conformance.rs`).

// Test code: panicking helpers are fine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use perstack_core::config::{OAuthGrant, RemoteOAuth, RemoteSkill, SkillConfig};
use perstack_skills::SkillError;
use perstack_skills::host::SkillHost;

/// Nothing listens there: the start must fail before connecting.
const ENDPOINT: &str = "http://127.0.0.1:9/mcp";

async fn start_err(oauth: RemoteOAuth, env: &[(&str, &str)]) -> String {
    let ws = workspace();
    let skill = SkillConfig::McpSseSkill(RemoteSkill {
        endpoint: ENDPOINT.into(),
        oauth: Some(oauth),
        ..RemoteSkill::default()
    });
    let expert = expert_with(vec![("remote", skill)]);
    let (sink, _events) = events();
    let opts = options(&ws).with_env(parent_env(env));
    let Err(err) = SkillHost::start(&expert, &no_experts(), opts, sink).await else {
        panic!("the skill started");
    };
    assert!(matches!(err, SkillError::Startup { .. }), "{err}");
    err.to_string()
}

#[tokio::test]
async fn a_named_variable_that_is_unset_fails_the_start_naming_it() {
    let oauth = RemoteOAuth {
        client_id_env: Some("REMOTE_CLIENT_ID".into()),
        client_secret_env: Some("REMOTE_CLIENT_SECRET".into()),
        ..RemoteOAuth::default()
    };
    let err = start_err(oauth, &[("REMOTE_CLIENT_ID", "client-1")]).await;
    assert!(
        err.contains(
            "oauth.clientSecretEnv names REMOTE_CLIENT_SECRET, which is not set in the environment"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_browser_grant_fails_without_an_application_to_show_it() {
    let oauth = RemoteOAuth {
        grant: Some(OAuthGrant::AuthorizationCode),
        ..RemoteOAuth::default()
    };
    let err = start_err(oauth, &[]).await;
    assert!(
        err.contains("authorizationCode") && err.contains("use clientCredentials"),
        "{err}"
    );
}
