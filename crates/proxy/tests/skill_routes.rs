//! Which remote-skill endpoints of `perstack.toml` become proxy routes: a public https one
//! does; one on loopback (the rule of `perstack_core::loopback`) does not, because the runtime
//! connects to it itself, and the operator is told so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use perstack_core::config::parse_config;
use perstack_proxy::{AllowOptions, ProxyConfig};
use pretty_assertions::assert_eq;

const CONFIG: &str = r#"
[experts."worker"]
instruction = "Work."

[experts."worker".skills."search"]
type = "mcpHttpSkill"
endpoint = "https://mcp.example.com/mcp"

[experts."worker".skills."local"]
type = "mcpHttpSkill"
endpoint = "http://127.0.0.1:3001/mcp"
allowedDomains = ["api.example.org"]

[experts."worker".skills."named"]
type = "mcpSseSkill"
endpoint = "http://localhost:3002/sse"

[experts."worker".skills."not-loopback"]
type = "mcpHttpSkill"
endpoint = "https://127.0.0.1.nip.io/mcp"
"#;

#[test]
fn loopback_endpoints_are_not_routed_through_the_proxy() {
    let (config, _) = parse_config("perstack.toml", CONFIG).unwrap();
    let options = AllowOptions {
        no_credentials_ok: true,
        ..AllowOptions::default()
    };
    let env = |_: &str| None;
    let proxy = ProxyConfig::from_sources(Some(&config), &options, &env).unwrap();
    let mut routes: Vec<String> = proxy
        .routes
        .iter()
        .filter(|r| r.source.starts_with("skill"))
        .map(|r| format!("{}:{} ({})", r.host, r.port, r.source))
        .collect();
    routes.sort();
    assert_eq!(
        routes,
        vec![
            "127.0.0.1.nip.io:443 (skill not-loopback of worker)",
            "mcp.example.com:443 (skill search of worker)",
        ]
    );
    // The loopback skill's allowedDomains still apply.
    assert!(
        proxy.summary().contains("https://api.example.org:443"),
        "{}",
        proxy.summary()
    );
    let loopback: Vec<&String> = proxy
        .warnings
        .iter()
        .filter(|w| w.contains("is on loopback"))
        .collect();
    assert_eq!(
        loopback,
        vec![
            "skill local of worker: endpoint http://127.0.0.1:3001/mcp is on loopback; the runtime connects to it directly (inside its own network namespace), not through this proxy",
            "skill named of worker: endpoint http://localhost:3002/sse is on loopback; the runtime connects to it directly (inside its own network namespace), not through this proxy",
        ]
    );
}
