//! The file tools, each a thin layer over the workspace boundary.

use std::path::Path;

use perstack_sandbox::workspace::{EntryKind, WriteMode};
use perstack_sandbox::{SandboxError, Workspace};
use rmcp::model::CallToolResult;
use serde_json::json;

use super::mime;
use super::params::{
    DeleteDirParams, EditTextParams, MoveParams, PathParams, ReadTextParams, WriteTextParams,
};
use super::result::{fail, iso8601, ok, sandbox_fail};

/// Largest text file `readTextFile` and `editTextFile` load.
pub const MAX_TEXT_BYTES: u64 = 10 * 1024 * 1024;

fn done(r: Result<CallToolResult, SandboxError>) -> CallToolResult {
    r.unwrap_or_else(|e| sandbox_fail(&e))
}

/// The file's text, or the tool failure to return when it is not UTF-8.
fn text_of(path: &str, data: Vec<u8>) -> Result<String, Box<CallToolResult>> {
    String::from_utf8(data).map_err(|_| {
        Box::new(fail(
            "InvalidEncoding",
            format!("{path} is not valid UTF-8 text"),
        ))
    })
}

/// `readTextFile`.
pub(crate) fn read_text(ws: &Workspace, p: &ReadTextParams) -> CallToolResult {
    let (_, data) = match ws.read_file(&p.path, MAX_TEXT_BYTES) {
        Ok(r) => r,
        Err(e) => return sandbox_fail(&e),
    };
    let text = match text_of(&p.path, data) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let lines: Vec<&str> = text.split('\n').collect();
    let from = p.from.unwrap_or(0).min(lines.len());
    let to = p.to.unwrap_or(lines.len()).clamp(from, lines.len());
    let content = lines[from..to].join("\n");
    ok(json!({ "path": p.path, "content": content, "from": from, "to": to }))
}

/// `writeTextFile`.
pub(crate) fn write_text(ws: &Workspace, p: &WriteTextParams) -> CallToolResult {
    done(
        ws.write_file(&p.path, p.text.as_bytes(), WriteMode::Truncate)
            .map(|abs| ok(json!({ "path": abs, "text": p.text }))),
    )
}

/// `appendTextFile`: the file must exist.
pub(crate) fn append_text(ws: &Workspace, p: &WriteTextParams) -> CallToolResult {
    done(
        ws.write_file(&p.path, p.text.as_bytes(), WriteMode::Append)
            .map(|abs| ok(json!({ "path": abs, "text": p.text }))),
    )
}

/// `editTextFile`: `oldText` must occur exactly once (line endings normalised to `\n`).
pub(crate) fn edit_text(ws: &Workspace, p: &EditTextParams) -> CallToolResult {
    let (abs, data) = match ws.read_file(&p.path, MAX_TEXT_BYTES) {
        Ok(r) => r,
        Err(e) => return sandbox_fail(&e),
    };
    let content = match text_of(&p.path, data) {
        Ok(t) => t.replace("\r\n", "\n"),
        Err(r) => return *r,
    };
    let old = p.old_text.replace("\r\n", "\n");
    let new = p.new_text.replace("\r\n", "\n");
    if old.is_empty() {
        return fail(
            "InvalidInput",
            "oldText is empty; use writeTextFile or appendTextFile to add text",
        );
    }
    match content.matches(old.as_str()).count() {
        0 => fail(
            "NoMatch",
            format!("could not find an exact match for oldText in {}", p.path),
        ),
        1 => done(
            ws.write_file(
                &p.path,
                content.replacen(old.as_str(), &new, 1).as_bytes(),
                WriteMode::Truncate,
            )
            .map(|_| ok(json!({ "path": abs, "newText": p.new_text, "oldText": p.old_text }))),
        ),
        n => fail(
            "AmbiguousMatch",
            format!(
                "oldText occurs {n} times in {}; include more surrounding text so it occurs once",
                p.path
            ),
        ),
    }
}

/// `getFileInfo`.
pub(crate) fn file_info(ws: &Workspace, p: &PathParams) -> CallToolResult {
    let info = match ws.metadata(&p.path) {
        Ok(i) => i,
        Err(e) => return sandbox_fail(&e),
    };
    let is_dir = info.kind == EntryKind::Directory;
    let name = info
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let directory = info.path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let extension = info
        .path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    ok(json!({
        "exists": true,
        "path": info.path,
        "absolutePath": info.path,
        "name": name,
        "directory": directory,
        "extension": if is_dir { None } else { Some(extension) },
        "type": if is_dir { "directory" } else { "file" },
        "mimeType": if is_dir { None } else { Some(mime::from_path(&info.path)) },
        "size": info.size,
        "sizeFormatted": format_size(info.size),
        "created": iso8601(info.created.unwrap_or(info.modified)),
        "modified": iso8601(info.modified),
        "accessed": iso8601(info.accessed),
        "permissions": {
            "readable": info.mode & 0o444 != 0,
            "writable": info.mode & 0o200 != 0,
            "executable": info.mode & 0o100 != 0,
        },
    }))
}

fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0 B".to_string();
    }
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", units[unit])
}

/// `listDirectory`: sorted, `perstack/` hidden at the top level, links not followed.
pub(crate) fn list_dir(ws: &Workspace, p: &PathParams) -> CallToolResult {
    done(ws.list_dir(&p.path).map(|(abs, entries)| {
        let items: Vec<_> = entries
            .iter()
            .map(|e| {
                json!({
                    "name": e.name,
                    "path": e.name,
                    "type": if e.kind == EntryKind::Directory { "directory" } else { "file" },
                    "size": e.size,
                    "modified": iso8601(e.modified),
                })
            })
            .collect();
        ok(json!({ "path": abs, "items": items }))
    }))
}

/// `createDirectory`: parents are created as needed.
pub(crate) fn create_dir(ws: &Workspace, p: &PathParams) -> CallToolResult {
    done(
        ws.create_dir(&p.path, true)
            .map(|abs| ok(json!({ "path": abs }))),
    )
}

/// `deleteDirectory`.
pub(crate) fn delete_dir(ws: &Workspace, p: &DeleteDirParams) -> CallToolResult {
    done(
        ws.remove_dir(&p.path, p.recursive.unwrap_or(false))
            .map(|abs| ok(json!({ "path": abs }))),
    )
}

/// `deleteFile`.
pub(crate) fn delete_file(ws: &Workspace, p: &PathParams) -> CallToolResult {
    done(
        ws.remove_file(&p.path)
            .map(|abs| ok(json!({ "path": abs }))),
    )
}

/// `moveFile`: the destination must not exist; its directory is created.
pub(crate) fn move_file(ws: &Workspace, p: &MoveParams) -> CallToolResult {
    done(
        ws.rename(&p.source, &p.destination)
            .map(|(from, to)| ok(json!({ "source": from, "destination": to }))),
    )
}
