//! Parameters of the base tools: Perstack's names and shapes (camelCase).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// A tool that takes no parameters.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct NoParams {}

/// `todo`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TodoParams {
    /// New todos to add.
    #[serde(default)]
    pub new_todos: Option<Vec<String>>,
    /// Ids of todos that are completed.
    #[serde(default)]
    pub completed_todos: Option<Vec<u64>>,
}

/// `exec`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecParams {
    /// The program to run (looked up in PATH; no shell is involved).
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables (variables that change how programs load code, and
    /// provider keys, are dropped).
    pub env: BTreeMap<String, String>,
    /// Working directory, inside the workspace.
    pub cwd: String,
    /// Whether to return standard output.
    pub stdout: bool,
    /// Whether to return standard error.
    pub stderr: bool,
    /// Timeout in milliseconds (default: 60000).
    #[serde(default)]
    pub timeout: Option<u64>,
}

/// Tools taking one path: `getFileInfo`, `readImageFile`, `readPdfFile`, `deleteFile`,
/// `listDirectory`, `createDirectory`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PathParams {
    /// Path, relative to the workspace or absolute inside it.
    pub path: String,
}

/// `readTextFile`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadTextParams {
    /// Path of the file.
    pub path: String,
    /// First line to return (0-based, default 0).
    #[serde(default)]
    pub from: Option<usize>,
    /// Line to stop before (default: end of file).
    #[serde(default)]
    pub to: Option<usize>,
}

/// `writeTextFile` and `appendTextFile`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteTextParams {
    /// Target file path.
    pub path: String,
    /// UTF-8 text to write.
    pub text: String,
}

/// `editTextFile`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EditTextParams {
    /// File to edit.
    pub path: String,
    /// Replacement text.
    pub new_text: String,
    /// Exact text to replace; it must occur exactly once.
    pub old_text: String,
}

/// `moveFile`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MoveParams {
    /// Current path.
    pub source: String,
    /// New path; must not exist.
    pub destination: String,
}

/// `deleteDirectory`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DeleteDirParams {
    /// Directory to delete.
    pub path: String,
    /// Delete the contents too (required for a non-empty directory).
    #[serde(default)]
    pub recursive: Option<bool>,
}
