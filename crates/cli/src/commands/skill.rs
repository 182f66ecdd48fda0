//! `perstack skill base`: the base skill as a stdio MCP server.

use perstack_sandbox::Quota;
use std::time::Duration;

use perstack_skills::base::{BaseSkillOptions, DEFAULT_MAX_TOOL_TIME, serve_stdio};

use crate::cli::BaseSkillArgs;
use crate::exit;

pub fn run_base(args: &BaseSkillArgs) -> u8 {
    if !args.workspace.is_dir() {
        eprintln!(
            "error: workspace {} is not a folder; create it or pass an existing --workspace",
            args.workspace.display()
        );
        return exit::USAGE;
    }
    let options = BaseSkillOptions {
        confine: !args.no_confine,
        exec_network: args.exec_network,
        require_full_confinement: args.require_full_confinement,
        hide_storage: !args.no_hide_storage,
        quota: Quota {
            max_bytes: args.max_workspace_bytes,
            max_files: args.max_workspace_files,
        },
        max_tool_time: args
            .max_tool_time
            .map_or(DEFAULT_MAX_TOOL_TIME, Duration::from_secs),
        ..BaseSkillOptions::default()
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::ERROR;
        }
    };
    match runtime.block_on(serve_stdio(args.workspace.clone(), options)) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: base skill: {e}");
            exit::ERROR
        }
    }
}
