//! `--egress`: generations go to `perstack proxy`'s Unix socket, keyless, with the upstream
//! named by `Host` (explicit port), for every protocol. A relay stands in for the proxy's
//! socket side and forwards bytes unchanged to the scripted server, which records what
//! arrived.

#![allow(clippy::unwrap_used)]

mod support;

use perstack_core::Message;
use perstack_core::config::{PerstackConfig, ProviderName, ProviderSetting, ProviderTable};
use perstack_core::egress::Egress;
use perstack_providers::{HttpProvider, Provider, ProviderError};
use pretty_assertions::assert_eq;
use support::{Kind, Reply, ScriptedServer, fixture, request};
use tokio::net::{TcpStream, UnixListener};

/// Accepts on a Unix socket and pipes each connection to `upstream` (host:port).
fn relay(dir: &std::path::Path, upstream: String) -> Egress {
    let path = dir.join("egress.sock");
    let listener = UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let mut server = TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    Egress::parse(&format!("unix://{}", path.display())).unwrap()
}

fn config(name: ProviderName, base_url: &str) -> PerstackConfig {
    PerstackConfig {
        provider: Some(ProviderTable {
            provider_name: name,
            setting: Some(ProviderSetting {
                base_url: Some(base_url.to_string()),
                ..ProviderSetting::default()
            }),
            env_path: None,
        }),
        ..PerstackConfig::default()
    }
}

fn kind_of(name: ProviderName) -> Kind {
    match name {
        ProviderName::Anthropic => Kind::Anthropic,
        ProviderName::Google => Kind::Gemini,
        ProviderName::OpenAi => Kind::OpenAi,
        ProviderName::Ollama
        | ProviderName::AzureOpenAi
        | ProviderName::AmazonBedrock
        | ProviderName::GoogleVertex
        | ProviderName::Deepseek => Kind::Compatible,
    }
}

#[tokio::test]
async fn every_protocol_goes_keyless_to_the_socket_with_the_upstream_in_host() {
    let cases = [
        (
            ProviderName::Anthropic,
            "https://api.anthropic.com/v1",
            "anthropic_thinking_text_tool.sse",
            "api.anthropic.com:443",
        ),
        (
            ProviderName::OpenAi,
            "https://api.openai.com/v1",
            "openai_text_two_tools.sse",
            "api.openai.com:443",
        ),
        (
            ProviderName::Google,
            "https://generativelanguage.googleapis.com/v1beta",
            "gemini_thought_text_call.sse",
            "generativelanguage.googleapis.com:443",
        ),
        (
            ProviderName::Ollama,
            "http://127.0.0.1:11434",
            "compat_deepseek_style.sse",
            "127.0.0.1:11434",
        ),
    ];
    for (name, base, fixture_name, host) in cases {
        let server = ScriptedServer::start(vec![Reply::sse(&fixture(fixture_name))]).await;
        let dir = tempfile::tempdir().unwrap();
        let egress = relay(
            dir.path(),
            server.url.trim_start_matches("http://").to_string(),
        );
        // No key anywhere in the environment: with egress none is needed or read.
        let env = |_: &str| -> Option<String> { None };
        let provider =
            HttpProvider::from_config_via(&config(name, base), &env, Some(egress)).unwrap();
        assert_eq!(provider.spec().api_key, None);
        let kind = kind_of(name);
        let generation = provider
            .stream(request(kind, vec![Message::user_text("hi")]))
            .finish()
            .await
            .unwrap();
        assert!(
            !generation.parts.is_empty(),
            "{name}: a generation came back"
        );
        let recorded = server.requests();
        assert_eq!(recorded.len(), 1, "{name}");
        let r = &recorded[0];
        assert_eq!(r.header("host"), Some(host), "{name}");
        for credential in ["authorization", "x-api-key", "x-goog-api-key", "api-key"] {
            assert_eq!(
                r.header(credential),
                None,
                "{name}: {credential} must not be sent"
            );
        }
        assert!(!r.target.contains("key="), "{name}: {}", r.target);
    }
}

#[tokio::test]
async fn a_missing_socket_says_how_to_start_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let egress = Egress::parse(&format!("unix://{}/none.sock", dir.path().display())).unwrap();
    let env = |_: &str| -> Option<String> { None };
    let mut cfg = config(ProviderName::Anthropic, "https://api.anthropic.com/v1");
    cfg.max_retries = Some(0);
    let provider = HttpProvider::from_config_via(&cfg, &env, Some(egress)).unwrap();
    let err = provider
        .stream(request(Kind::Anthropic, vec![Message::user_text("hi")]))
        .finish()
        .await
        .unwrap_err();
    let ProviderError::Connection { message, .. } = &err else {
        panic!("not a connection error: {err:?}");
    };
    assert!(
        message.contains("cannot reach perstack proxy at unix://"),
        "{message}"
    );
    assert!(message.contains("perstack proxy --socket"), "{message}");
}

#[tokio::test]
async fn without_egress_a_missing_key_is_still_an_error() {
    let env = |_: &str| -> Option<String> { None };
    let err = HttpProvider::from_config_via(
        &config(ProviderName::OpenAi, "https://api.openai.com/v1"),
        &env,
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("OPENAI_API_KEY is not set"),
        "{err}"
    );
}
