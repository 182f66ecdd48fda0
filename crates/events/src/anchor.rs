//! `auditAnchor` (ours): the last line `perstack run` prints, never stored. It carries the
//! head of the job's hash-chained event logs so it can be kept outside the workspace and
//! checked later with `perstack log --verify --expect` (docs/security.md).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::Event;

/// The only value of [`AuditAnchor::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AuditAnchorType {
    /// `"auditAnchor"`.
    AuditAnchor,
}

/// The head of a job's event logs, printed last on stdout by `perstack run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditAnchor {
    /// Always `auditAnchor`.
    #[serde(rename = "type")]
    pub kind: AuditAnchorType,
    /// Event id.
    pub id: String,
    /// Emission time, ms since the epoch.
    pub timestamp: u64,
    /// The job.
    pub job_id: String,
    /// `sha256:<hex>@<events>` (`hmac-sha256:...` with `PERSTACK_AUDIT_KEY`).
    pub head: String,
    /// The command that checks the job against this head.
    pub verify: String,
}

impl AuditAnchor {
    /// The anchor of `job_id` with `head`.
    pub fn new(id: String, timestamp: u64, job_id: &str, head: &str) -> Self {
        AuditAnchor {
            kind: AuditAnchorType::AuditAnchor,
            id,
            timestamp,
            job_id: job_id.to_string(),
            head: head.to_string(),
            verify: format!("perstack log --job {job_id} --verify --expect {head}"),
        }
    }

    /// As a line of the event stream (readers that do not know it keep it verbatim).
    pub fn to_event(&self) -> Event {
        Event::Unknown(serde_json::to_value(self).unwrap_or_default())
    }
}
