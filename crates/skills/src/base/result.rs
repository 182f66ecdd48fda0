//! Tool results in Perstack's shape: one text part holding JSON; failures as
//! `{"error": <kind>, "message": <text>}` with `isError` set.

use std::time::SystemTime;

use perstack_sandbox::SandboxError;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

/// A successful result carrying `value` as JSON text.
pub(crate) fn ok(value: Value) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(value.to_string())])
}

/// A successful result with extra content after the JSON text (images, PDFs).
pub(crate) fn ok_with(value: Value, extra: ContentBlock) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(value.to_string()), extra])
}

/// A failed result.
pub(crate) fn fail(kind: &str, message: impl Into<String>) -> CallToolResult {
    let body = json!({ "error": kind, "message": message.into() });
    CallToolResult::error(vec![ContentBlock::text(body.to_string())])
}

/// A failed result from a sandbox error, with a stable kind name.
pub(crate) fn sandbox_fail(e: &SandboxError) -> CallToolResult {
    fail(error_kind(e), e.to_string())
}

fn error_kind(e: &SandboxError) -> &'static str {
    match e {
        SandboxError::OutsideWorkspace { .. }
        | SandboxError::Reserved { .. }
        | SandboxError::Protected { .. }
        | SandboxError::HardLinked { .. } => "AccessDenied",
        SandboxError::InvalidPath { .. } => "InvalidPath",
        SandboxError::NotFound { .. } => "NotFound",
        SandboxError::AlreadyExists { .. } => "AlreadyExists",
        SandboxError::NotADirectory { .. } => "NotADirectory",
        SandboxError::IsADirectory { .. } => "IsADirectory",
        SandboxError::DirectoryNotEmpty { .. } => "DirectoryNotEmpty",
        SandboxError::TooManySymlinks { .. } => "TooManySymlinks",
        SandboxError::TooLarge { .. } => "TooLarge",
        SandboxError::QuotaExceeded { .. } => "QuotaExceeded",
        SandboxError::Io { .. } | SandboxError::WorkspaceRoot { .. } => "IoError",
        SandboxError::MissingEnv { .. } | SandboxError::ProtectedEnv { .. } => "EnvironmentError",
        SandboxError::Network(_) => "NetworkRefused",
        SandboxError::Confinement { .. } => "ConfinementError",
    }
}

/// `2024-05-01T12:00:00.000Z`, the format JavaScript's `toISOString` gives.
pub(crate) fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(iso8601(t), "2024-02-29T12:34:56.789Z");
    }
}
