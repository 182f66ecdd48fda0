//! Storage of jobs, checkpoints and event logs under `<workspace>/perstack/`.
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
//! Every file is written atomically (temp file, fsync, rename, fsync of the folder), so a kill
//! at any instant leaves the last checkpoint loadable. A checkpoint file does not repeat the
//! conversation: it references a prefix of its run's message log (with a SHA-256 of that
//! prefix), so the bytes written per step track the new content of the step, not the length
//! of the history. See `docs/storage.md`.

mod atomic;
mod error;
mod event_log;
mod layout;
mod message_log;
pub mod query;
mod store;
mod suspended;

pub use error::StorageError;
pub use event_log::{ChainLine, EventLog, VerifyReport, verify_event_log};
pub use layout::Layout;
pub use store::{CheckpointSummary, Storage, StoreStats};
pub use suspended::{FinishedDelegate, SuspendedDelegation, WaitingDelegate};
