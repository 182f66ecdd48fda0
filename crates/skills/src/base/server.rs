//! The MCP face of the base skill: one rmcp tool per Perstack base tool.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};

use super::params::{
    DeleteDirParams, EditTextParams, ExecParams, MoveParams, NoParams, PathParams, ReadTextParams,
    TodoParams, WriteTextParams,
};
use super::result::ok;
use super::{BASE_SKILL_SERVER_NAME, BaseSkill, exec, files, health, media};

type ToolResult = Result<CallToolResult, ErrorData>;

/// Runs a file tool on the blocking pool: file system calls (and quota scans of a large
/// workspace) must not stall the async runtime.
async fn blocking<F>(f: F) -> ToolResult
where
    F: FnOnce() -> CallToolResult + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ErrorData::internal_error(format!("tool task failed: {e}"), None))
}

impl BaseSkill {
    fn todo_list(&self) -> std::sync::MutexGuard<'_, super::TodoList> {
        // A panic while holding the lock cannot leave the list inconsistent: recover it.
        self.todos
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[tool_router(vis = "pub(crate)")]
impl BaseSkill {
    #[tool(
        name = "attemptCompletion",
        description = "Signal that the task is complete. Returns the todos still open, if any (then keep working); returns an empty object when everything is done, which ends the run."
    )]
    async fn attempt_completion(&self, _p: Parameters<NoParams>) -> ToolResult {
        Ok(ok(self.todo_list().attempt_completion()))
    }

    #[tool(
        name = "todo",
        description = "Manage your todo list: add new todos (each gets an id) and mark todos completed by id. Returns the whole list."
    )]
    async fn todo(&self, Parameters(p): Parameters<TodoParams>) -> ToolResult {
        let new = p.new_todos.unwrap_or_default();
        let done = p.completed_todos.unwrap_or_default();
        Ok(ok(self.todo_list().update(&new, &done)))
    }

    #[tool(name = "clearTodo", description = "Empty the todo list.")]
    async fn clear_todo(&self, _p: Parameters<NoParams>) -> ToolResult {
        Ok(ok(self.todo_list().clear()))
    }

    #[tool(
        name = "exec",
        description = "Run a program with arguments (no shell: pass each argument separately) in a directory of the workspace. Returns its stdout and/or stderr. The process is sandboxed (it can write only inside the workspace, and has no network unless the operator allows it) and killed after the timeout (default 60000 ms). Do not start long-running foreground programs."
    )]
    async fn exec(&self, Parameters(p): Parameters<ExecParams>) -> ToolResult {
        Ok(exec::exec(&self.workspace, &self.options, self.env.as_ref(), &p).await)
    }

    #[tool(
        name = "getFileInfo",
        description = "Metadata of a file or directory: type, size, MIME type, timestamps, permissions."
    )]
    async fn get_file_info(&self, Parameters(p): Parameters<PathParams>) -> ToolResult {
        let ws = self.workspace.clone();
        blocking(move || files::file_info(&ws, &p)).await
    }

    #[tool(
        name = "healthCheck",
        description = "Runtime health and diagnostics: status (always \"ok\" when the runtime answers), the workspace path, uptime, memory use and process id. Reads and changes no file. Use it to check that the runtime responds and which workspace it serves."
    )]
    async fn health_check(&self, _p: Parameters<NoParams>) -> ToolResult {
        Ok(ok(health::health_check(
            self.workspace.root(),
            self.started,
        )))
    }

    #[tool(
        name = "readTextFile",
        description = "Read a UTF-8 text file, optionally only lines [from, to) (0-based). Not for binary files."
    )]
    async fn read_text_file(&self, Parameters(p): Parameters<ReadTextParams>) -> ToolResult {
        let ws = self.workspace.clone();
        blocking(move || files::read_text(&ws, &p)).await
    }

    #[tool(
        name = "readImageFile",
        description = "Read a PNG, JPEG, GIF or WebP image (at most 15 MB) so that you can see it."
    )]
    async fn read_image_file(&self, Parameters(p): Parameters<PathParams>) -> ToolResult {
        let ws = self.workspace.clone();
        blocking(move || media::read_image(&ws, &p)).await
    }

    #[tool(
        name = "readPdfFile",
        description = "Read a PDF document (at most 30 MB) as a whole."
    )]
    async fn read_pdf_file(&self, Parameters(p): Parameters<PathParams>) -> ToolResult {
        let ws = self.workspace.clone();
        blocking(move || media::read_pdf(&ws, &p)).await
    }

    #[tool(
        name = "writeTextFile",
        description = "Create or overwrite a file with UTF-8 text. Missing parent directories are created. An existing file is replaced."
    )]
    async fn write_text_file(&self, Parameters(p): Parameters<WriteTextParams>) -> ToolResult {
        let ws = self.workspace.clone();
        blocking(move || files::write_text(&ws, &p)).await
    }

    #[tool(
        name = "appendTextFile",
        description = "Append UTF-8 text to the end of an existing file."
    )]
    async fn append_text_file(&self, Parameters(p): Parameters<WriteTextParams>) -> ToolResult {
        let ws = self.workspace.clone();
        blocking(move || files::append_text(&ws, &p)).await
    }

    #[tool(
        name = "editTextFile",
        description = "Replace one exact occurrence of oldText with newText in a file. Fails if oldText is not found or occurs more than once (then include more surrounding text). Use appendTextFile to add at the end."
    )]
    async fn edit_text_file(&self, Parameters(p): Parameters<EditTextParams>) -> ToolResult {
        let ws = self.workspace.clone();
        blocking(move || files::edit_text(&ws, &p)).await
    }

    #[tool(
        name = "moveFile",
        description = "Move or rename a file or directory inside the workspace. The destination must not exist; its directory is created."
    )]
    async fn move_file(&self, Parameters(p): Parameters<MoveParams>) -> ToolResult {
        let ws = self.workspace.clone();
        blocking(move || files::move_file(&ws, &p)).await
    }

    #[tool(name = "deleteFile", description = "Delete a file (not a directory).")]
    async fn delete_file(&self, Parameters(p): Parameters<PathParams>) -> ToolResult {
        let ws = self.workspace.clone();
        blocking(move || files::delete_file(&ws, &p)).await
    }

    #[tool(
        name = "listDirectory",
        description = "List the entries of a directory (names, types, sizes, modification times), sorted by name. Use \".\" for the workspace root."
    )]
    async fn list_directory(&self, Parameters(p): Parameters<PathParams>) -> ToolResult {
        let ws = self.workspace.clone();
        blocking(move || files::list_dir(&ws, &p)).await
    }

    #[tool(
        name = "createDirectory",
        description = "Create a directory, with its missing parents. Fails if it already exists."
    )]
    async fn create_directory(&self, Parameters(p): Parameters<PathParams>) -> ToolResult {
        let ws = self.workspace.clone();
        blocking(move || files::create_dir(&ws, &p)).await
    }

    #[tool(
        name = "deleteDirectory",
        description = "Delete a directory; set recursive to delete a non-empty one with its contents."
    )]
    async fn delete_directory(&self, Parameters(p): Parameters<DeleteDirParams>) -> ToolResult {
        let ws = self.workspace.clone();
        blocking(move || files::delete_dir(&ws, &p)).await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for BaseSkill {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(BASE_SKILL_SERVER_NAME, env!("CARGO_PKG_VERSION")))
            .with_instructions("Perstack base skill: files in the workspace, commands, a todo list, and task completion.")
    }
}
