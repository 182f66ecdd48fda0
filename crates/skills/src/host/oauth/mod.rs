//! OAuth for remote skills (MCP authorization). Nothing happens until the server answers
//! 401: then the client discovers the server's authorization server from the challenge
//! and the metadata documents, gets a token by the configured grant, and sends the
//! request again with it. A 403 `insufficient_scope` asks for the challenged scopes on top
//! of the ones held (step-up), at most [`MAX_AUTHORIZATIONS`] times per request and never
//! for a scope set already tried. Secrets come from the environment (`oauth.*Env`).

mod challenge;
mod discovery;
mod grant;
mod http;
mod jwt;
mod transport;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use perstack_core::config::{OAuthGrant, RemoteOAuth};
use perstack_sandbox::env::EnvSource;
use tokio::sync::Mutex;
use url::Url;

pub(crate) use challenge::Challenge;
use discovery::Discovered;
pub(crate) use http::Http;
pub(crate) use transport::OAuthClient;

/// Authorizations one request may trigger before it fails (a server that keeps asking
/// for scopes it never grants must not loop us).
pub const MAX_AUTHORIZATIONS: u32 = 3;

/// The scope a client asks for to get refresh tokens.
const OFFLINE_ACCESS: &str = "offline_access";

/// The user's step of the authorization-code grant, supplied by an application that can
/// show the user a page (a headless `perstack run` has none).
pub trait AuthorizationAgent: Send + Sync {
    /// The redirect URI the client registers and sends.
    fn redirect_uri(&self) -> String;
    /// Has the user authorize at `url`; the URL the authorization server redirected to.
    fn authorize(
        &self,
        url: String,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;
}

/// A remote skill's OAuth settings with the secrets read from the environment.
#[derive(Clone, Default)]
pub struct OAuthSettings {
    /// The grant (default client credentials).
    pub grant: Option<OAuthGrant>,
    /// Pre-registered client id.
    pub client_id: Option<String>,
    /// Client secret.
    pub client_secret: Option<String>,
    /// PKCS#8 PEM key for `private_key_jwt`.
    pub private_key: Option<String>,
    /// A refresh token obtained beforehand.
    pub refresh_token: Option<String>,
    /// The identity provider's ID token (jwtBearer).
    pub id_token: Option<String>,
    /// The identity provider's token endpoint (jwtBearer).
    pub idp_token_endpoint: Option<String>,
    /// Our client id at the identity provider (jwtBearer).
    pub idp_client_id: Option<String>,
    /// Scopes to request instead of the server's.
    pub scopes: Option<Vec<String>>,
    /// Client ID metadata document URL.
    pub client_metadata_url: Option<String>,
}

impl std::fmt::Debug for OAuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs: only whether they are set.
        f.debug_struct("OAuthSettings")
            .field("grant", &self.grant)
            .field("client_id", &self.client_id.is_some())
            .field("client_secret", &self.client_secret.is_some())
            .field("private_key", &self.private_key.is_some())
            .field("refresh_token", &self.refresh_token.is_some())
            .field("id_token", &self.id_token.is_some())
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl OAuthSettings {
    /// Reads the variables `config` names from `env`; a named variable that is unset is
    /// an error naming it.
    pub fn from_config(config: &RemoteOAuth, env: &dyn EnvSource) -> Result<OAuthSettings, String> {
        let read = |name: &Option<String>, key: &str| -> Result<Option<String>, String> {
            match name {
                None => Ok(None),
                Some(var) => env
                    .get(var)
                    .filter(|v| !v.is_empty())
                    .map(Some)
                    .ok_or_else(|| {
                        format!("oauth.{key} names {var}, which is not set in the environment")
                    }),
            }
        };
        Ok(OAuthSettings {
            grant: config.grant,
            client_id: read(&config.client_id_env, "clientIdEnv")?,
            client_secret: read(&config.client_secret_env, "clientSecretEnv")?,
            private_key: read(&config.private_key_env, "privateKeyEnv")?,
            refresh_token: read(&config.refresh_token_env, "refreshTokenEnv")?,
            id_token: read(&config.id_token_env, "idTokenEnv")?,
            idp_token_endpoint: config.idp_token_endpoint.clone(),
            idp_client_id: config.idp_client_id.clone(),
            scopes: config.scopes.clone(),
            client_metadata_url: config.client_metadata_url.clone(),
        })
    }

    /// Every secret, for the redactor.
    pub fn secrets(&self) -> Vec<String> {
        [
            &self.client_secret,
            &self.private_key,
            &self.refresh_token,
            &self.id_token,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }
}

/// One remote skill's OAuth state, shared by every request of its transport.
pub(crate) struct OAuth {
    endpoint: Url,
    settings: OAuthSettings,
    agent: Option<Arc<dyn AuthorizationAgent>>,
    http: Http,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    discovered: Option<Discovered>,
    /// The client an authorization-code grant used (registered or pre-registered).
    client: Option<grant::ClientIdentity>,
    access: Option<String>,
    refresh: Option<String>,
    /// The scopes of the last authorization (`None`: none asked for).
    scopes: Option<Vec<String>>,
}

impl OAuth {
    /// OAuth for `endpoint`, requests sent with `http`.
    pub fn new(
        endpoint: Url,
        settings: OAuthSettings,
        agent: Option<Arc<dyn AuthorizationAgent>>,
        http: Http,
    ) -> Result<OAuth, String> {
        if settings.grant == Some(OAuthGrant::AuthorizationCode) && agent.is_none() {
            return Err("oauth grant authorizationCode needs an application that shows the user a browser; \
                 a headless run has none: use clientCredentials, or refreshToken with a token obtained beforehand"
                .into());
        }
        let refresh = settings.refresh_token.clone();
        Ok(OAuth {
            endpoint,
            settings,
            agent,
            http,
            state: Mutex::new(State {
                refresh,
                ..State::default()
            }),
        })
    }

    /// The bearer token to send, if one is held.
    pub async fn token(&self) -> Option<String> {
        self.state.lock().await.access.clone()
    }

    /// Gets a new token after the server refused `sent` with `challenge` (`step_up`: a 403
    /// asking for more scope). Another request that already replaced `sent` wins: its token
    /// is used without a new authorization.
    pub async fn authorize(
        &self,
        sent: Option<&str>,
        challenge: &Challenge,
        step_up: bool,
    ) -> Result<(), String> {
        let mut state = self.state.lock().await;
        if state.access.is_some() && state.access.as_deref() != sent {
            return Ok(());
        }
        if state.discovered.is_none() || challenge.resource_metadata.is_some() {
            state.discovered =
                Some(discovery::discover(&self.http, &self.endpoint, challenge).await?);
        }
        let Some(found) = state.discovered.clone() else {
            return Err("no authorization server found".into());
        };
        let scopes = self.scopes(&state, &found, challenge, step_up)?;
        if !step_up && let Some(refresh_token) = state.refresh.clone() {
            let client = state.client.clone();
            let refreshed = grant::refresh(
                &self.http,
                &found,
                &self.settings,
                client.as_ref(),
                &refresh_token,
            );
            match refreshed.await {
                Ok(tokens) => {
                    state.access = Some(tokens.access);
                    state.refresh = tokens.refresh;
                    return Ok(());
                }
                Err(e) => {
                    tracing::debug!(error = %e, "refresh failed; authorizing again");
                    state.refresh = None;
                }
            }
        }
        let scope = scopes
            .as_ref()
            .map(|s| s.join(" "))
            .filter(|s| !s.is_empty());
        let scope = scope.as_deref();
        let tokens = match self.settings.grant.unwrap_or(OAuthGrant::ClientCredentials) {
            OAuthGrant::ClientCredentials => {
                grant::client_credentials(&self.http, &found, &self.settings, scope).await?
            }
            OAuthGrant::AuthorizationCode => {
                let agent = self.agent.as_deref().ok_or("no authorization agent")?;
                let (tokens, client) =
                    grant::authorization_code(&self.http, &found, &self.settings, agent, scope)
                        .await?;
                state.client = Some(client);
                tokens
            }
            OAuthGrant::JwtBearer => {
                grant::jwt_bearer(&self.http, &found, &self.settings, scope).await?
            }
            OAuthGrant::RefreshToken => {
                return Err(
                    "the refresh token was refused or is missing: obtain a new one (oauth.refreshTokenEnv)"
                        .into(),
                );
            }
        };
        state.access = Some(tokens.access);
        if tokens.refresh.is_some() {
            state.refresh = tokens.refresh;
        }
        state.scopes = scopes;
        Ok(())
    }

    /// The scopes to ask for: configured ones, else the challenge's, else the resource's
    /// `scopes_supported`, else none; a step-up adds the challenge's to those held.
    /// `offline_access` joins a user's authorization when the server lists it.
    fn scopes(
        &self,
        state: &State,
        found: &Discovered,
        challenge: &Challenge,
        step_up: bool,
    ) -> Result<Option<Vec<String>>, String> {
        let challenged = challenge.scopes();
        let mut scopes = if step_up {
            let mut held = state.scopes.clone().unwrap_or_default();
            let before = held.len();
            for s in &challenged {
                if !held.contains(s) {
                    held.push(s.clone());
                }
            }
            if held.len() == before && state.scopes.is_some() {
                return Err(format!(
                    "the server refuses the token for insufficient scope, but already holds every scope it asks for ({})",
                    challenge.scope.as_deref().unwrap_or("none named")
                ));
            }
            Some(held)
        } else if let Some(configured) = &self.settings.scopes {
            Some(configured.clone())
        } else if !challenged.is_empty() {
            Some(challenged)
        } else {
            found.resource_scopes.clone().filter(|s| !s.is_empty())
        };
        let wants_refresh = self.settings.grant == Some(OAuthGrant::AuthorizationCode);
        let offered = found
            .server
            .scopes_supported
            .as_ref()
            .is_some_and(|s| s.iter().any(|x| x == OFFLINE_ACCESS));
        if wants_refresh && offered {
            let list = scopes.get_or_insert_with(Vec::new);
            if !list.iter().any(|s| s == OFFLINE_ACCESS) {
                list.push(OFFLINE_ACCESS.to_string());
            }
        }
        Ok(scopes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use std::collections::BTreeMap;

    fn config() -> RemoteOAuth {
        RemoteOAuth {
            client_id_env: Some("MCP_ID".into()),
            client_secret_env: Some("MCP_SECRET".into()),
            ..RemoteOAuth::default()
        }
    }

    #[test]
    fn secrets_come_from_the_named_variables_and_stay_out_of_debug() {
        let env: BTreeMap<String, String> = [
            ("MCP_ID".to_string(), "client-1".to_string()),
            ("MCP_SECRET".to_string(), "s3cr3t-value".to_string()),
        ]
        .into();
        let settings = OAuthSettings::from_config(&config(), &env).unwrap();
        assert_eq!(settings.client_id.as_deref(), Some("client-1"));
        assert_eq!(settings.secrets(), vec!["s3cr3t-value".to_string()]);
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("s3cr3t-value") && !shown.contains("client-1"),
            "{shown}"
        );
    }

    #[test]
    fn an_unset_or_empty_variable_is_named() {
        let env: BTreeMap<String, String> = [
            ("MCP_ID".to_string(), "client-1".to_string()),
            ("MCP_SECRET".to_string(), String::new()),
        ]
        .into();
        let err = OAuthSettings::from_config(&config(), &env).err().unwrap();
        assert_eq!(
            err,
            "oauth.clientSecretEnv names MCP_SECRET, which is not set in the environment"
        );
    }

    fn http() -> Http {
        let guard =
            perstack_sandbox::NetworkGuard::system(perstack_sandbox::NetworkPolicy::default());
        Http::new(
            perstack_sandbox::net::client_builder(Arc::new(guard))
                .build()
                .unwrap(),
            None,
        )
    }

    #[test]
    fn authorization_code_without_an_agent_says_what_works_headless() {
        let settings = OAuthSettings {
            grant: Some(OAuthGrant::AuthorizationCode),
            ..OAuthSettings::default()
        };
        let url = Url::parse("https://mcp.example/mcp").unwrap();
        let err = OAuth::new(url, settings, None, http()).err().unwrap();
        assert!(
            err.contains("clientCredentials") && err.contains("refreshToken"),
            "{err}"
        );
    }

    struct NoUser;

    impl AuthorizationAgent for NoUser {
        fn redirect_uri(&self) -> String {
            String::new()
        }
        fn authorize(
            &self,
            _url: String,
        ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send>> {
            Box::pin(async { Err("no user".to_string()) })
        }
    }

    fn list(l: Option<&[&str]>) -> Option<Vec<String>> {
        l.map(|l| l.iter().map(|s| s.to_string()).collect())
    }

    fn found(resource_scopes: Option<&[&str]>, server_scopes: Option<&[&str]>) -> Discovered {
        Discovered {
            resource: "https://mcp.example/mcp".into(),
            resource_scopes: list(resource_scopes),
            server: discovery::AuthServer {
                issuer: "https://as.example".into(),
                authorization_endpoint: None,
                token_endpoint: Url::parse("https://as.example/token").unwrap(),
                registration_endpoint: None,
                scopes_supported: list(server_scopes),
                auth_methods: None,
                client_metadata_documents: false,
            },
        }
    }

    fn oauth(grant: OAuthGrant, scopes: Option<&[&str]>) -> OAuth {
        let settings = OAuthSettings {
            grant: Some(grant),
            scopes: list(scopes),
            ..OAuthSettings::default()
        };
        let url = Url::parse("https://mcp.example/mcp").unwrap();
        OAuth::new(url, settings, Some(Arc::new(NoUser)), http()).unwrap()
    }

    fn challenge(scope: Option<&str>) -> Challenge {
        Challenge {
            scope: scope.map(str::to_string),
            ..Challenge::default()
        }
    }

    #[test]
    fn scopes_come_from_config_then_challenge_then_resource_else_none() {
        let state = State::default();
        let cc = oauth(OAuthGrant::ClientCredentials, None);
        let f = found(Some(&["r1", "r2"]), Some(&["offline_access"]));
        let pick = |o: &OAuth, f: &Discovered, c: Option<&str>| {
            o.scopes(&state, f, &challenge(c), false).unwrap()
        };
        assert_eq!(pick(&cc, &f, Some("c1")), list(Some(&["c1"])));
        assert_eq!(pick(&cc, &f, None), list(Some(&["r1", "r2"])));
        assert_eq!(pick(&cc, &found(None, None), None), None);
        let configured = oauth(OAuthGrant::ClientCredentials, Some(&["mine"]));
        assert_eq!(pick(&configured, &f, Some("c1")), list(Some(&["mine"])));
        // Only a user's authorization asks for offline_access, and only when it is listed.
        let code = oauth(OAuthGrant::AuthorizationCode, None);
        assert_eq!(
            pick(&code, &f, None),
            list(Some(&["r1", "r2", "offline_access"]))
        );
        let unlisted = found(Some(&["r1"]), Some(&["r1"]));
        assert_eq!(pick(&code, &unlisted, None), list(Some(&["r1"])));
    }

    #[test]
    fn step_up_adds_the_challenged_scopes_and_gives_up_when_nothing_is_new() {
        let cc = oauth(OAuthGrant::ClientCredentials, None);
        let f = found(None, None);
        let state = State {
            scopes: list(Some(&["mcp:basic"])),
            ..State::default()
        };
        let wider = cc.scopes(&state, &f, &challenge(Some("mcp:basic mcp:write")), true);
        assert_eq!(wider.unwrap(), list(Some(&["mcp:basic", "mcp:write"])));
        let err = cc
            .scopes(&state, &f, &challenge(Some("mcp:basic")), true)
            .unwrap_err();
        assert!(err.contains("already holds every scope"), "{err}");
    }
}
