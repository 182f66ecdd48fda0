//! `perstack install`: writes `perstack.lock` with every Expert's resolved tool definitions.

use std::sync::Arc;

use perstack_core::config::load_config;
use perstack_skills::host::HostOptions;
use perstack_skills::lockfile::{LOCKFILE_NAME, collect};

use crate::cli::InstallArgs;
use crate::commands::prepare::{environment, workspace};
use crate::{config_path, exit};

pub fn run(args: &InstallArgs) -> u8 {
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
    match runtime.block_on(install(args)) {
        Ok(summary) => {
            eprintln!("{summary}");
            exit::OK
        }
        Err(message) => {
            eprintln!("error: {message}");
            exit::USAGE
        }
    }
}

async fn install(args: &InstallArgs) -> Result<String, String> {
    let path = config_path::resolve(args.config.as_deref()).map_err(|e| e.to_string())?;
    let loaded = load_config(&path).map_err(|e| e.to_string())?;
    let workspace = workspace(args.workspace.as_deref())?;
    let env = Arc::new(environment(&loaded, &args.env_path)?);
    let options =
        crate::state_dir::host_options(&args.storage, HostOptions::new(&workspace).with_env(env));
    let lock = collect(&loaded.config, path.clone(), &options)
        .await
        .map_err(|e| e.to_string())?;
    let out = loaded.dir().join(LOCKFILE_NAME);
    lock.write(&out).map_err(|e| e.to_string())?;
    let mut summary = format!("wrote {}", out.display());
    for key in loaded.config.experts.keys() {
        let n = lock.tools_of(key).map_or(0, <[_]>::len);
        summary.push_str(&format!("\n  {key}: {n} MCP tools"));
    }
    Ok(summary)
}
