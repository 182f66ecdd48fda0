//! `perstack proxy`: build the proxy's configuration from perstack.toml, the environment and
//! flags, then serve until SIGTERM or SIGINT.

use std::path::Path;

use perstack_core::config::{CONFIG_FILE_NAME, PerstackConfig, ProviderName, load_config};
use perstack_core::env_file::EnvFiles;
use perstack_proxy::{AllowOptions, Proxy, ProxyConfig, SocketOptions};

use crate::cli::ProxyArgs;
use crate::{config_path, exit};

pub fn run(args: &ProxyArgs) -> u8 {
    let config = match build(args) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    eprintln!("{}", config.summary());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::ERROR;
        }
    };
    runtime.block_on(async {
        let proxy = match Proxy::bind(config).await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        };
        let mut listening = Vec::new();
        if let Some(p) = proxy.socket_path() {
            listening.push(format!("unix://{}", p.display()));
        }
        if let Some(a) = proxy.local_addr() {
            listening.push(format!("http://{a}"));
        }
        eprintln!("perstack proxy: listening on {}", listening.join(" and "));
        match proxy.serve(shutdown_signal()).await {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("error: {e}");
                exit::ERROR
            }
        }
    })
}

/// The proxy's configuration, or a message for the operator.
fn build(args: &ProxyArgs) -> Result<ProxyConfig, String> {
    let providers = args
        .provider
        .iter()
        .map(|p| {
            p.parse::<ProviderName>()
                .map_err(|e| format!("--provider: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = AllowOptions {
        providers,
        allow: args.allow.clone(),
        allow_private: args.allow_private.clone(),
        bearer: args.bearer.clone(),
        no_credentials_ok: args.no_credentials_ok,
    };
    let perstack = load(args.config.as_deref(), &options)?;
    for file in &args.env_file {
        if !file.is_file() {
            return Err(format!("--env-file {}: no such file", file.display()));
        }
    }
    let files: Vec<String> = args
        .env_file
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let env_files = EnvFiles::load(Path::new("."), &files).map_err(|e| e.to_string())?;
    let lookup = |name: &str| env_files.lookup(name);
    let mut config = ProxyConfig::from_sources(perstack.as_ref(), &options, &lookup)
        .map_err(|e| e.to_string())?;
    config.socket = args.socket.as_ref().map(|path| SocketOptions {
        path: path.clone(),
        mode: args.socket_mode,
        group: args.socket_group,
    });
    config.listen = args.listen;
    Ok(config)
}

/// The operator's config: `--config` must load; a searched one is optional when flags name
/// what to allow.
fn load(explicit: Option<&Path>, options: &AllowOptions) -> Result<Option<PerstackConfig>, String> {
    let flags_say_enough = !options.providers.is_empty()
        || !options.allow.is_empty()
        || !options.allow_private.is_empty();
    let path = match config_path::resolve(explicit) {
        Ok(p) => p,
        Err(_) if explicit.is_none() && flags_say_enough => return Ok(None),
        Err(e) => {
            return Err(format!(
                "{e} (the operator's {CONFIG_FILE_NAME}), or say what to allow with --provider / \
                 --allow"
            ));
        }
    };
    let loaded = load_config(&path).map_err(|e| e.to_string())?;
    Ok(Some(loaded.config))
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    eprintln!("perstack proxy: stopping (in-flight requests may finish)");
}
