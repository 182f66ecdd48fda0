//! Getting tokens: the client's identity (pre-registered, a client ID metadata document,
//! or dynamic registration), how it authenticates at the token endpoint, and the grants
//! (authorization code with PKCE, client credentials, refresh token, and the
//! enterprise-managed token exchange followed by a JWT bearer grant).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};
use url::Url;

use super::discovery::{AuthServer, Discovered};
use super::http::Http;
use super::jwt::SigningKey;
use super::{AuthorizationAgent, OAuthSettings};

const CLIENT_NAME: &str = "perstack";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// A public client: `client_id` in the body.
    None,
    /// `client_secret_basic`.
    Basic,
    /// `client_secret_post`.
    Post,
    /// `private_key_jwt`.
    PrivateKeyJwt,
}

/// Who we are to the authorization server.
#[derive(Debug, Clone)]
pub(crate) struct ClientIdentity {
    /// The client id.
    pub id: String,
    /// The secret, for `Basic` and `Post`.
    pub secret: Option<String>,
    /// How we authenticate.
    pub auth: ClientAuth,
}

/// What a token endpoint granted.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tokens {
    /// The bearer token.
    pub access: String,
    /// A refresh token, if one came.
    pub refresh: Option<String>,
}

/// Picks the method for a client that holds `secret`/`key`, from what the server lists
/// (RFC 8414: an absent list means `client_secret_basic`).
pub(crate) fn choose_auth(
    methods: Option<&[String]>,
    has_secret: bool,
    has_key: bool,
) -> ClientAuth {
    let lists = |m: &str| methods.is_none_or(|l| l.iter().any(|x| x == m));
    if has_key {
        return ClientAuth::PrivateKeyJwt;
    }
    if !has_secret {
        return ClientAuth::None;
    }
    if lists("client_secret_basic") {
        ClientAuth::Basic
    } else if lists("client_secret_post") {
        ClientAuth::Post
    } else {
        ClientAuth::Basic
    }
}

fn auth_name(a: ClientAuth) -> &'static str {
    match a {
        ClientAuth::None => "none",
        ClientAuth::Basic => "client_secret_basic",
        ClientAuth::Post => "client_secret_post",
        ClientAuth::PrivateKeyJwt => "private_key_jwt",
    }
}

/// The client identity for an authorization-code flow: pre-registered, else a metadata
/// document URL where the server takes one, else dynamic registration.
pub(crate) async fn identity(
    http: &Http,
    server: &AuthServer,
    settings: &OAuthSettings,
    redirect_uri: &str,
) -> Result<ClientIdentity, String> {
    if let Some(id) = &settings.client_id {
        return Ok(preregistered(server, settings, id));
    }
    if let Some(url) = &settings.client_metadata_url
        && server.client_metadata_documents
    {
        return Ok(ClientIdentity {
            id: url.clone(),
            secret: None,
            auth: ClientAuth::None,
        });
    }
    let Some(endpoint) = &server.registration_endpoint else {
        return Err(format!(
            "authorization server {} offers no client registration: set oauth.clientIdEnv to a pre-registered client",
            server.issuer
        ));
    };
    let wanted = match server.auth_methods.as_deref() {
        None => ClientAuth::Basic,
        Some(list) if list.iter().any(|m| m == "client_secret_basic") => ClientAuth::Basic,
        Some(list) if list.iter().any(|m| m == "client_secret_post") => ClientAuth::Post,
        Some(_) => ClientAuth::None,
    };
    let request = json!({
        "client_name": CLIENT_NAME,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": auth_name(wanted),
    });
    let answer = http.post_json(endpoint, &request).await?;
    if !(200..300).contains(&answer.status) {
        return Err(format!(
            "client registration at {endpoint} failed: HTTP {}{}",
            answer.status,
            error_text(&answer.body)
        ));
    }
    let id = answer
        .body
        .get("client_id")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("client registration at {endpoint} returned no client_id"))?
        .to_string();
    let secret = answer
        .body
        .get("client_secret")
        .and_then(Value::as_str)
        .map(str::to_string);
    let auth = match answer
        .body
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
    {
        Some("client_secret_post") => ClientAuth::Post,
        Some("client_secret_basic") => ClientAuth::Basic,
        Some(_) => ClientAuth::None,
        None if secret.is_some() => wanted,
        None => ClientAuth::None,
    };
    let auth = if secret.is_none() {
        ClientAuth::None
    } else {
        auth
    };
    Ok(ClientIdentity { id, secret, auth })
}

fn preregistered(server: &AuthServer, settings: &OAuthSettings, id: &str) -> ClientIdentity {
    ClientIdentity {
        id: id.to_string(),
        secret: settings.client_secret.clone(),
        auth: choose_auth(
            server.auth_methods.as_deref(),
            settings.client_secret.is_some(),
            settings.private_key.is_some(),
        ),
    }
}

/// The authorization-code grant with PKCE (S256), the user's step done by `agent`; the
/// tokens and the client identity used (refreshes must use the same).
pub(crate) async fn authorization_code(
    http: &Http,
    found: &Discovered,
    settings: &OAuthSettings,
    agent: &dyn AuthorizationAgent,
    scope: Option<&str>,
) -> Result<(Tokens, ClientIdentity), String> {
    let server = &found.server;
    let endpoint = server.authorization_endpoint.clone().ok_or_else(|| {
        format!(
            "authorization server {} has no authorization_endpoint",
            server.issuer
        )
    })?;
    let redirect_uri = agent.redirect_uri();
    let client = identity(http, server, settings, &redirect_uri).await?;
    let verifier = random_token(32)?;
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    let state = random_token(16)?;
    let mut url = endpoint;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &client.id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", &found.resource);
        if let Some(scope) = scope {
            q.append_pair("scope", scope);
        }
    }
    let back = agent.authorize(url.to_string()).await?;
    let back =
        Url::parse(&back).map_err(|e| format!("the authorization redirect is not a URL: {e}"))?;
    let param = |k: &str| {
        back.query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = param("error") {
        return Err(format!("authorization refused: {error}"));
    }
    if param("state").as_deref() != Some(state.as_str()) {
        return Err("the authorization redirect carries the wrong state: refusing it".into());
    }
    let code = param("code").ok_or("the authorization redirect carries no code")?;
    let form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
        ("resource", found.resource.clone()),
    ];
    let tokens = token_request(http, server, &client, None, form).await?;
    Ok((tokens, client))
}

/// The client-credentials grant.
pub(crate) async fn client_credentials(
    http: &Http,
    found: &Discovered,
    settings: &OAuthSettings,
    scope: Option<&str>,
) -> Result<Tokens, String> {
    let server = &found.server;
    let id = settings
        .client_id
        .as_deref()
        .ok_or("the clientCredentials grant needs oauth.clientIdEnv")?;
    if settings.client_secret.is_none() && settings.private_key.is_none() {
        return Err(
            "the clientCredentials grant needs oauth.clientSecretEnv or oauth.privateKeyEnv".into(),
        );
    }
    let client = preregistered(server, settings, id);
    let mut form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("resource", found.resource.clone()),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope.to_string()));
    }
    token_request(http, server, &client, settings.private_key.as_deref(), form).await
}

/// The refresh-token grant (offline access), as `registered` (the identity that got the
/// token) or else the configured client.
pub(crate) async fn refresh(
    http: &Http,
    found: &Discovered,
    settings: &OAuthSettings,
    registered: Option<&ClientIdentity>,
    refresh_token: &str,
) -> Result<Tokens, String> {
    let server = &found.server;
    let client = match (registered, &settings.client_id) {
        (Some(client), _) => client.clone(),
        (None, Some(id)) => preregistered(server, settings, id),
        (None, None) => {
            return Err(
                "refreshing a token needs oauth.clientIdEnv (the client it was issued to)".into(),
            );
        }
    };
    let form = vec![
        ("grant_type", "refresh_token".to_string()),
        ("refresh_token", refresh_token.to_string()),
        ("resource", found.resource.clone()),
    ];
    let mut tokens =
        token_request(http, server, &client, settings.private_key.as_deref(), form).await?;
    // A server that does not rotate refresh tokens keeps the old one valid.
    tokens
        .refresh
        .get_or_insert_with(|| refresh_token.to_string());
    Ok(tokens)
}

/// Enterprise-managed authorization: the identity provider exchanges our ID token for an
/// identity assertion grant (ID-JAG) for this server, which the authorization server
/// exchanges for an access token.
pub(crate) async fn jwt_bearer(
    http: &Http,
    found: &Discovered,
    settings: &OAuthSettings,
    scope: Option<&str>,
) -> Result<Tokens, String> {
    let server = &found.server;
    let need = |v: &Option<String>, what: &str| {
        v.clone()
            .ok_or_else(|| format!("the jwtBearer grant needs oauth.{what}"))
    };
    let id_token = need(&settings.id_token, "idTokenEnv")?;
    let idp = need(&settings.idp_token_endpoint, "idpTokenEndpoint")?;
    let idp = Url::parse(&idp).map_err(|e| format!("oauth.idpTokenEndpoint is not a URL: {e}"))?;
    let idp_client = need(&settings.idp_client_id, "idpClientId")?;
    let id = need(&settings.client_id, "clientIdEnv")?;
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE.to_string()),
        ("requested_token_type", ID_JAG.to_string()),
        ("audience", server.issuer.clone()),
        ("resource", found.resource.clone()),
        ("subject_token", id_token),
        ("subject_token_type", ID_TOKEN.to_string()),
        ("client_id", idp_client),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope.to_string()));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = http.post_form(&idp, &pairs, None).await?;
    let grant = success(&idp, answer)?;
    let assertion = grant
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the token exchange at {idp} returned no token"))?
        .to_string();
    let client = preregistered(server, settings, &id);
    let mut form = vec![
        ("grant_type", JWT_BEARER.to_string()),
        ("assertion", assertion),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope.to_string()));
    }
    token_request(http, server, &client, settings.private_key.as_deref(), form).await
}

async fn token_request(
    http: &Http,
    server: &AuthServer,
    client: &ClientIdentity,
    key: Option<&str>,
    mut form: Vec<(&'static str, String)>,
) -> Result<Tokens, String> {
    let mut basic = None;
    match client.auth {
        ClientAuth::None => form.push(("client_id", client.id.clone())),
        ClientAuth::Basic => {
            basic = Some((client.id.as_str(), client.secret.as_deref().unwrap_or("")))
        }
        ClientAuth::Post => {
            form.push(("client_id", client.id.clone()));
            form.push(("client_secret", client.secret.clone().unwrap_or_default()));
        }
        ClientAuth::PrivateKeyJwt => {
            let key = SigningKey::from_pem(key.ok_or("private_key_jwt needs a private key")?)?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            form.push(("client_id", client.id.clone()));
            form.push(("client_assertion_type", ASSERTION_TYPE.to_string()));
            form.push((
                "client_assertion",
                key.assertion(&client.id, &server.issuer, now)?,
            ));
        }
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = http
        .post_form(&server.token_endpoint, &pairs, basic)
        .await?;
    let body = success(&server.token_endpoint, answer)?;
    let access = body
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            format!(
                "the token endpoint {} returned no access_token",
                server.token_endpoint
            )
        })?
        .to_string();
    Ok(Tokens {
        access,
        refresh: body
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

fn success(url: &Url, answer: super::http::Answer) -> Result<Value, String> {
    if (200..300).contains(&answer.status) {
        Ok(answer.body)
    } else {
        Err(format!(
            "{url} refused the token request: HTTP {}{}",
            answer.status,
            error_text(&answer.body)
        ))
    }
}

fn error_text(body: &Value) -> String {
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("");
    match (field("error"), field("error_description")) {
        ("", _) => String::new(),
        (e, "") => format!(" ({e})"),
        (e, d) => format!(" ({e}: {d})"),
    }
}

fn random_token(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| "no randomness for the OAuth state".to_string())?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

#[cfg(test)]
mod tests;
