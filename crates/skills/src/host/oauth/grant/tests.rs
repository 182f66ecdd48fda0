//! Unit tests of the grants.
use super::*;
use pretty_assertions::assert_eq;

#[test]
fn auth_method_follows_what_the_server_lists() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(choose_auth(None, true, false), ClientAuth::Basic);
    assert_eq!(
        choose_auth(Some(&s(&["client_secret_post"])), true, false),
        ClientAuth::Post
    );
    assert_eq!(
        choose_auth(
            Some(&s(&["client_secret_post", "client_secret_basic"])),
            true,
            false
        ),
        ClientAuth::Basic
    );
    assert_eq!(
        choose_auth(Some(&s(&["none"])), false, false),
        ClientAuth::None
    );
    assert_eq!(
        choose_auth(Some(&s(&["private_key_jwt"])), false, true),
        ClientAuth::PrivateKeyJwt
    );
}

/// A user agent that answers with `answer(authorization URL)` and records the URL.
struct Agent(fn(&Url) -> String, std::sync::Mutex<Option<Url>>);

impl AuthorizationAgent for Agent {
    fn redirect_uri(&self) -> String {
        "http://localhost:3000/callback".into()
    }
    fn authorize(
        &self,
        url: String,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send>> {
        let url = Url::parse(&url).unwrap();
        let answer = (self.0)(&url);
        *self.1.lock().unwrap() = Some(url);
        Box::pin(async move { Ok(answer) })
    }
}

fn found() -> Discovered {
    let u = |s: &str| Url::parse(s).unwrap();
    Discovered {
        resource: "https://mcp.example/mcp".into(),
        resource_scopes: None,
        server: AuthServer {
            issuer: "https://as.example".into(),
            authorization_endpoint: Some(u("https://as.example/authorize")),
            token_endpoint: u("https://as.example/token"),
            registration_endpoint: None,
            scopes_supported: None,
            auth_methods: None,
            client_metadata_documents: false,
        },
    }
}

fn state_of(url: &Url) -> String {
    url.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn run(agent: &Agent) -> String {
    let guard = perstack_sandbox::NetworkGuard::system(perstack_sandbox::NetworkPolicy::default());
    let http = Http::new(
        perstack_sandbox::net::client_builder(std::sync::Arc::new(guard))
            .build()
            .unwrap(),
        None,
    );
    let settings = OAuthSettings {
        client_id: Some("client-1".into()),
        ..OAuthSettings::default()
    };
    authorization_code(&http, &found(), &settings, agent, None)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_redirect_with_another_state_or_an_error_is_refused() {
    // Adversarial: a forged redirect (login CSRF) carries a state we did not send.
    let forged = Agent(
        |_| "http://localhost:3000/callback?code=stolen&state=forged".into(),
        Default::default(),
    );
    let err = run(&forged).await;
    assert!(err.contains("wrong state"), "{err}");
    let sent = forged.1.lock().unwrap().clone().unwrap();
    let param = |k: &str| {
        sent.query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(
        param("resource").as_deref(),
        Some("https://mcp.example/mcp")
    );
    assert_eq!(param("client_id").as_deref(), Some("client-1"));
    assert_eq!(param("scope"), None);
    assert_eq!(param("code_challenge").map(|c| c.len()), Some(43));

    let denied = Agent(
        |url| {
            format!(
                "http://localhost:3000/callback?error=access_denied&state={}",
                state_of(url)
            )
        },
        Default::default(),
    );
    assert_eq!(run(&denied).await, "authorization refused: access_denied");
    let no_code = Agent(
        |url| format!("http://localhost:3000/callback?state={}", state_of(url)),
        Default::default(),
    );
    assert_eq!(
        run(&no_code).await,
        "the authorization redirect carries no code"
    );
}

#[test]
fn oauth_errors_are_quoted() {
    assert_eq!(
        error_text(&json!({"error": "invalid_client", "error_description": "bad secret"})),
        " (invalid_client: bad secret)"
    );
    assert_eq!(error_text(&Value::Null), "");
}
