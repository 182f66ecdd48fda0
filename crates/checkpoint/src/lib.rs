//! Storage of jobs, checkpoints and event logs under `<workspace>/perstack/` (Perstack's
//! default) or a state folder outside the workspace ([`Storage::in_state_dir`], the CLI's
//! `--state-dir`), where confined `exec` children and stdio skills cannot write.
//!
//! Layout (Perstack's, plus our message logs):
//!
//! ```text
//! perstack/jobs/<jobId>/job.json
//! perstack/jobs/<jobId>/checkpoints/<checkpointId>.json
//! perstack/jobs/<jobId>/runs/<runId>/events.jsonl        hash-chained, append-only
//! perstack/jobs/<jobId>/runs/<runId>/messages-<n>.jsonl  append-only conversation log
//! ```
//!
//! The run's event log is the write-ahead log: a step is durable once the event carrying its
//! checkpoint is appended and the log fdatasynced, the step's only durable sync. Message logs,
//! checkpoint files and `job.json` are derived from it and written without a sync (files by
//! temp file and rename, so a kill leaves the old or the new one); what a power loss takes
//! from them, [`Storage::recover_job`] writes back from the log. [`Storage::sync_stats`]
//! counts the syncs. A checkpoint file does not repeat the
//! conversation: it references a prefix of its run's message log (with a SHA-256 of that
//! prefix), so the bytes written per step track the new content of the step, not the length
//! of the history. The event log does the same for the conversations events carry
//! ([`Storage::append_event`]) and expands them on read ([`Storage::read_run_events`],
//! [`Storage::read_job_events`]). See `docs/storage.md`.

mod atomic;
mod audit;
mod audit_job;
mod compact;
mod error;
mod event_log;
mod layout;
mod message_log;
pub mod query;
mod recover;
mod spare;
mod store;
mod store_events;
mod suspended;

pub use atomic::SyncStats;
pub use audit::{AUDIT_KEY_VAR, AuditHead, AuditKey};
pub use audit_job::{Finding, JobAudit, Severity};
pub use error::StorageError;
pub use event_log::{EventLog, VerifyReport, verify_event_log, verify_event_log_keyed};
pub use layout::Layout;
pub use recover::Recovered;
pub use store::{CheckpointSummary, Storage, StoreStats};
pub use store_events::Appended;
pub use suspended::{FinishedDelegate, SuspendedDelegation, WaitingDelegate};
