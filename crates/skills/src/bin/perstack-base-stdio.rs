//! Serves the base skill as a stdio MCP server: `perstack-base-stdio --workspace DIR`.
//! (The `perstack skill base` command of the CLI calls the same library function.)
//! Only MCP messages go to stdout; errors go to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use perstack_skills::base::{BaseSkillOptions, serve_stdio};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut workspace: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--workspace" => workspace = args.next().map(PathBuf::from),
            other => {
                eprintln!("unknown argument {other:?}; usage: perstack-base-stdio --workspace DIR");
                return ExitCode::from(2);
            }
        }
    }
    let Some(workspace) = workspace else {
        eprintln!("usage: perstack-base-stdio --workspace DIR");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve_stdio(workspace, BaseSkillOptions::default())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("base skill: {e}");
            ExitCode::FAILURE
        }
    }
}
