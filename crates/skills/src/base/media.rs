//! `readImageFile` and `readPdfFile`: the file's metadata as Perstack returns it, plus the
//! content itself (an MCP image, or an embedded blob resource), read through the workspace
//! boundary so the runtime never has to open the path again.

use base64::Engine;
use perstack_sandbox::Workspace;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use serde_json::json;

use super::mime;
use super::params::PathParams;
use super::result::{fail, ok_with, sandbox_fail};

/// Largest image read (as Perstack).
pub const MAX_IMAGE_BYTES: u64 = 15 * 1024 * 1024;
/// Largest PDF read (as Perstack).
pub const MAX_PDF_BYTES: u64 = 30 * 1024 * 1024;

const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// `readImageFile`.
pub(crate) fn read_image(ws: &Workspace, p: &PathParams) -> CallToolResult {
    let (abs, data) = match ws.read_file(&p.path, MAX_IMAGE_BYTES) {
        Ok(r) => r,
        Err(e) => return sandbox_fail(&e),
    };
    let mime = mime::from_path(&abs);
    if !IMAGE_TYPES.contains(&mime) {
        return fail(
            "UnsupportedType",
            format!("{} is not a PNG, JPEG, GIF or WebP image", p.path),
        );
    }
    if !mime::content_matches(mime, &data) {
        return fail(
            "UnsupportedType",
            format!("{} does not contain {mime} data", p.path),
        );
    }
    let info = json!({ "path": abs, "mimeType": mime, "size": data.len() });
    let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
    ok_with(info, ContentBlock::image(encoded, mime))
}

/// `readPdfFile`.
pub(crate) fn read_pdf(ws: &Workspace, p: &PathParams) -> CallToolResult {
    let (abs, data) = match ws.read_file(&p.path, MAX_PDF_BYTES) {
        Ok(r) => r,
        Err(e) => return sandbox_fail(&e),
    };
    let mime = mime::from_path(&abs);
    if mime != "application/pdf" || !mime::content_matches(mime, &data) {
        return fail("UnsupportedType", format!("{} is not a PDF file", p.path));
    }
    let info = json!({ "path": abs, "mimeType": mime, "size": data.len() });
    let blob = ResourceContents::BlobResourceContents {
        uri: format!("file://{}", abs.display()),
        mime_type: Some(mime.to_string()),
        blob: base64::engine::general_purpose::STANDARD.encode(&data),
        meta: None,
    };
    ok_with(info, ContentBlock::resource(blob))
}
