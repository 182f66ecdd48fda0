//! `perstack proxy`: the egress proxy that keeps provider credentials outside the sandbox.
//!
//! The runtime inside a container sends every provider and remote-MCP request, keyless, to a
//! Unix socket. On the other side this proxy checks the upstream against its allowlist (built
//! from an operator's `perstack.toml`, the proxy's environment and flags), strips any
//! credential the request brings, adds the configured one, and forwards through the sandbox
//! crate's network guard (checked addresses only, private ones refused unless given with
//! `--allow-private`). Bodies are streamed both ways; redirects go back to the client.
//!
//! ```no_run
//! # async fn start() -> Result<(), perstack_proxy::ProxyError> {
//! use perstack_proxy::{AllowOptions, Proxy, ProxyConfig, SocketOptions};
//!
//! let env = std::collections::HashMap::from([(
//!     "ANTHROPIC_API_KEY".to_string(),
//!     "sk-ant-...".to_string(),
//! )]);
//! let options = AllowOptions {
//!     providers: vec![perstack_core::config::ProviderName::Anthropic],
//!     ..AllowOptions::default()
//! };
//! let mut config = ProxyConfig::from_sources(None, &options, &env)?;
//! config.socket = Some(SocketOptions {
//!     path: "/run/perstack/egress.sock".into(),
//!     mode: 0o660,
//!     group: Some(10001),
//! });
//! let proxy = Proxy::bind(config).await?;
//! // Any future that completes on shutdown (the CLI waits for SIGTERM or SIGINT).
//! proxy.serve(std::future::pending()).await
//! # }
//! ```
//!
//! Wire protocol, flags and the access-log format: `docs/proxy.md`.

pub mod access;
mod allow;
mod body;
pub mod config;
mod error;
mod server;
mod service;
mod target;

pub use access::{AccessRecord, AccessSink, ChannelSink, Decision, MemorySink, StdoutSink};
pub use body::ProxyBody;
pub use config::{AllowOptions, Credential, ProxyConfig, Route, Scheme, SocketOptions};
pub use error::ProxyError;
pub use server::Proxy;
