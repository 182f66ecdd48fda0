//! Resolving which perstack.toml to use.

use std::path::{Path, PathBuf};

use perstack_core::CoreError;
use perstack_core::config::find_config;

/// `--config` if given, else `perstack.toml` searched upward from the current folder.
pub fn resolve(explicit: Option<&Path>) -> Result<PathBuf, CoreError> {
    match explicit {
        Some(p) => Ok(p.to_path_buf()),
        None => {
            let cwd = std::env::current_dir().map_err(|source| CoreError::Read {
                path: PathBuf::from("."),
                source,
            })?;
            let found = find_config(&cwd)?;
            // Show a path relative to where the user is, as they would type it.
            Ok(found
                .strip_prefix(&cwd)
                .map(Path::to_path_buf)
                .unwrap_or(found))
        }
    }
}
