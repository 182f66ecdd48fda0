//! Where to get tokens: protected resource metadata (RFC 9728) from the challenge or the
//! well-known paths, then the authorization server's metadata (RFC 8414 / OpenID
//! Discovery, path-aware), and the 2025-03-26 fallbacks (metadata or fixed endpoints at
//! the server's origin) for servers without resource metadata.

use serde_json::Value;
use url::Url;

use super::challenge::Challenge;
use super::http::Http;

/// The protected resource and its authorization server.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Discovered {
    /// The resource indicator sent with authorization and token requests (RFC 8707).
    pub resource: String,
    /// The resource's `scopes_supported`, if it lists any.
    pub resource_scopes: Option<Vec<String>>,
    /// The authorization server.
    pub server: AuthServer,
}

/// An authorization server's metadata, as far as we use it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AuthServer {
    /// Its issuer identifier (the audience of our client assertions).
    pub issuer: String,
    /// Where a user authorizes.
    pub authorization_endpoint: Option<Url>,
    /// Where tokens come from.
    pub token_endpoint: Url,
    /// Dynamic client registration (RFC 7591), if offered.
    pub registration_endpoint: Option<Url>,
    /// `scopes_supported`.
    pub scopes_supported: Option<Vec<String>>,
    /// `token_endpoint_auth_methods_supported`.
    pub auth_methods: Option<Vec<String>>,
    /// `client_id_metadata_document_supported`.
    pub client_metadata_documents: bool,
}

/// Discovers the resource's authorization server for `endpoint` after `challenge`.
pub(crate) async fn discover(
    http: &Http,
    endpoint: &Url,
    challenge: &Challenge,
) -> Result<Discovered, String> {
    let Some((prm_url, prm)) = resource_metadata(http, endpoint, challenge).await? else {
        return legacy(http, endpoint).await;
    };
    let resource = prm
        .get("resource")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("protected resource metadata at {prm_url} names no resource"))?;
    if !resource_covers(resource, endpoint) {
        return Err(format!(
            "protected resource metadata at {prm_url} is for {resource}, not {endpoint}: refusing to authorize"
        ));
    }
    let issuer = prm
        .get("authorization_servers")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .ok_or_else(|| {
            format!("protected resource metadata at {prm_url} names no authorization server")
        })?;
    let issuer_url = Url::parse(issuer)
        .map_err(|e| format!("authorization server {issuer:?} is not a URL: {e}"))?;
    let (meta_url, meta) = server_metadata(http, &issuer_url, &metadata_urls(&issuer_url))
        .await?
        .ok_or_else(|| format!("authorization server {issuer} publishes no metadata"))?;
    let claimed = meta.get("issuer").and_then(Value::as_str).unwrap_or("");
    if claimed.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(format!(
            "authorization server metadata at {meta_url} names issuer {claimed:?}, not {issuer}"
        ));
    }
    Ok(Discovered {
        resource: resource.to_string(),
        resource_scopes: strings(&prm, "scopes_supported"),
        server: auth_server(&meta, &meta_url)?,
    })
}

/// No resource metadata (a 2025-03-26 server): the authorization server is the server's
/// origin, with its metadata at the root or, failing that, the default endpoints.
async fn legacy(http: &Http, endpoint: &Url) -> Result<Discovered, String> {
    let origin = origin(endpoint)?;
    let resource = canonical(endpoint);
    let urls = [join(&origin, "/.well-known/oauth-authorization-server")?];
    let server = match server_metadata(http, &origin, &urls).await? {
        Some((url, meta)) => auth_server(&meta, &url)?,
        None => AuthServer {
            issuer: origin.as_str().trim_end_matches('/').to_string(),
            authorization_endpoint: Some(join(&origin, "/authorize")?),
            token_endpoint: join(&origin, "/token")?,
            registration_endpoint: Some(join(&origin, "/register")?),
            scopes_supported: None,
            auth_methods: None,
            client_metadata_documents: false,
        },
    };
    Ok(Discovered {
        resource,
        resource_scopes: None,
        server,
    })
}

async fn resource_metadata(
    http: &Http,
    endpoint: &Url,
    challenge: &Challenge,
) -> Result<Option<(Url, Value)>, String> {
    let mut candidates = Vec::new();
    if let Some(url) = &challenge.resource_metadata {
        candidates.push(
            Url::parse(url).map_err(|e| format!("resource_metadata {url:?} is not a URL: {e}"))?,
        );
    } else {
        let origin = origin(endpoint)?;
        let path = endpoint.path().trim_end_matches('/');
        if !path.is_empty() {
            candidates.push(join(
                &origin,
                &format!("/.well-known/oauth-protected-resource{path}"),
            )?);
        }
        candidates.push(join(&origin, "/.well-known/oauth-protected-resource")?);
    }
    for url in candidates {
        if let Some(doc) = http.get_json(&url).await? {
            return Ok(Some((url, doc)));
        }
    }
    Ok(None)
}

/// RFC 8414 §3.1 and OpenID Discovery, in the order MCP gives: path-inserted first.
fn metadata_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let Ok(origin) = origin(issuer) else {
        return Vec::new();
    };
    let paths = if path.is_empty() {
        vec![
            "/.well-known/oauth-authorization-server".to_string(),
            "/.well-known/openid-configuration".to_string(),
        ]
    } else {
        vec![
            format!("/.well-known/oauth-authorization-server{path}"),
            format!("/.well-known/openid-configuration{path}"),
            format!("{path}/.well-known/openid-configuration"),
        ]
    };
    paths.iter().filter_map(|p| join(&origin, p).ok()).collect()
}

async fn server_metadata(
    http: &Http,
    issuer: &Url,
    urls: &[Url],
) -> Result<Option<(Url, Value)>, String> {
    for url in urls {
        if let Some(doc) = http.get_json(url).await? {
            return Ok(Some((url.clone(), doc)));
        }
    }
    tracing::debug!(%issuer, "no authorization server metadata");
    Ok(None)
}

fn auth_server(meta: &Value, from: &Url) -> Result<AuthServer, String> {
    let url = |key: &str| -> Result<Option<Url>, String> {
        match meta.get(key).and_then(Value::as_str) {
            None => Ok(None),
            Some(s) => Url::parse(s)
                .map(Some)
                .map_err(|e| format!("{key} {s:?} in {from} is not a URL: {e}")),
        }
    };
    Ok(AuthServer {
        issuer: meta
            .get("issuer")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        authorization_endpoint: url("authorization_endpoint")?,
        token_endpoint: url("token_endpoint")?.ok_or_else(|| {
            format!("authorization server metadata at {from} has no token_endpoint")
        })?,
        registration_endpoint: url("registration_endpoint")?,
        scopes_supported: strings(meta, "scopes_supported"),
        auth_methods: strings(meta, "token_endpoint_auth_methods_supported"),
        client_metadata_documents: meta
            .get("client_id_metadata_document_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

fn strings(doc: &Value, key: &str) -> Option<Vec<String>> {
    doc.get(key).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    })
}

/// Whether the metadata's `resource` is the endpoint or a parent of it (same origin, path
/// prefix on a segment boundary): a server may not send us to another resource's tokens.
pub(crate) fn resource_covers(resource: &str, endpoint: &Url) -> bool {
    let Ok(r) = Url::parse(resource) else {
        return false;
    };
    if r.scheme() != endpoint.scheme()
        || r.host_str() != endpoint.host_str()
        || r.port_or_known_default() != endpoint.port_or_known_default()
    {
        return false;
    }
    let rp = r.path().trim_end_matches('/');
    let ep = endpoint.path().trim_end_matches('/');
    rp.is_empty() || ep == rp || ep.starts_with(&format!("{rp}/"))
}

/// The endpoint as a resource indicator: no fragment.
fn canonical(endpoint: &Url) -> String {
    let mut u = endpoint.clone();
    u.set_fragment(None);
    u.to_string()
}

fn origin(url: &Url) -> Result<Url, String> {
    let mut u = url.clone();
    u.set_path("/");
    u.set_query(None);
    u.set_fragment(None);
    Ok(u)
}

fn join(origin: &Url, path: &str) -> Result<Url, String> {
    origin
        .join(path)
        .map_err(|e| format!("cannot build a URL from {origin} and {path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn metadata_urls_are_path_aware() {
        let list =
            |s: &str| -> Vec<String> { metadata_urls(&u(s)).iter().map(Url::to_string).collect() };
        assert_eq!(
            list("https://as.example/tenant1"),
            vec![
                "https://as.example/.well-known/oauth-authorization-server/tenant1",
                "https://as.example/.well-known/openid-configuration/tenant1",
                "https://as.example/tenant1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            list("https://as.example/"),
            vec![
                "https://as.example/.well-known/oauth-authorization-server",
                "https://as.example/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn a_resource_covers_only_itself_and_its_subpaths() {
        let ep = u("https://mcp.example/api/mcp");
        assert!(resource_covers("https://mcp.example/api/mcp", &ep));
        assert!(resource_covers("https://mcp.example/api/", &ep));
        assert!(resource_covers("https://mcp.example", &ep));
        assert!(!resource_covers("https://mcp.example/ap", &ep));
        assert!(!resource_covers("https://evil.example/api/mcp", &ep));
        assert!(!resource_covers("http://mcp.example/api/mcp", &ep));
        assert!(!resource_covers("https://mcp.example:8443/api/mcp", &ep));
        assert!(!resource_covers("not a url", &ep));
    }
}
