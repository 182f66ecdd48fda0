//! Opening storage where `--state-dir` / `PERSTACK_STATE_DIR` says, else in the workspace.

use std::path::Path;

use perstack_checkpoint::{AUDIT_KEY_VAR, AuditKey, Storage};
use perstack_skills::host::HostOptions;

use crate::cli::StorageArgs;

/// The storage of `workspace`: in the state folder when one is given (refused when it
/// overlaps the workspace), else Perstack's `<workspace>/perstack/`.
/// With `PERSTACK_AUDIT_KEY` set, the audit chain is keyed with it (never passed to a child).
pub fn open(args: &StorageArgs, workspace: &Path) -> Result<Storage, String> {
    let storage = match &args.state_dir {
        Some(dir) => Storage::in_state_dir(dir, workspace)
            .map_err(|e| format!("--state-dir / PERSTACK_STATE_DIR: {e}"))?,
        None => Storage::new(workspace),
    };
    Ok(storage.with_audit_key(audit_key()))
}

/// The audit key from `PERSTACK_AUDIT_KEY` (unset or empty: none).
fn audit_key() -> Option<AuditKey> {
    std::env::var_os(AUDIT_KEY_VAR).and_then(|v| AuditKey::new(v.as_encoded_bytes()))
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
