//! Opening storage where `--state-dir` / `PERSTACK_STATE_DIR` says, else in the workspace.

use std::path::Path;

use perstack_checkpoint::Storage;
use perstack_skills::host::HostOptions;

use crate::cli::StorageArgs;

/// The storage of `workspace`: in the state folder when one is given (refused when it
/// overlaps the workspace), else Perstack's `<workspace>/perstack/`.
pub fn open(args: &StorageArgs, workspace: &Path) -> Result<Storage, String> {
    match &args.state_dir {
        Some(dir) => Storage::in_state_dir(dir, workspace)
            .map_err(|e| format!("--state-dir / PERSTACK_STATE_DIR: {e}")),
        None => Ok(Storage::new(workspace)),
    }
}

/// Skill host options for where storage lives: with a state folder there is nothing in the
/// workspace to keep children off, so the mount-namespace layer is not needed.
pub fn host_options(args: &StorageArgs, options: HostOptions) -> HostOptions {
    if args.state_dir.is_some() {
        options.with_storage_outside_workspace()
    } else {
        options
    }
}
