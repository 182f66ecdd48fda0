//! The one error type of this crate. Failures of the model or of tools are not errors:
//! they end the run with a `stopRunByError` event and a resumable checkpoint. These are
//! the failures that prevent running at all.

use perstack_checkpoint::StorageError;

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The Expert is not in the config: fix the key or the config.
    #[error("expert \"{0}\" is not defined in the config")]
    UnknownExpert(String),
    /// The input does not fit the checkpoint (e.g. no query for a fresh run, no tool result
    /// for a run stopped by an interactive tool): supply the missing input.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Checkpoints, job or event log could not be written or read: check the workspace
    /// (disk space, permissions); the last stored checkpoint remains loadable.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A cost budget is set but the model has no known price: add one to the config.
    #[error(
        "no price is known for model \"{0}\", so the cost budget (--max-total-cost) cannot be \
         enforced; add [pricing.\"{0}\"] with input and output in USD per million tokens to \
         perstack.toml, or run without a cost budget"
    )]
    UnknownModelPrice(String),
    /// Storage work was cancelled because the async runtime is shutting down; the last
    /// stored checkpoint remains loadable.
    #[error("storage work cancelled: the async runtime is shutting down")]
    StorageCancelled,
    /// An event could not be redacted, so it was neither stored nor shown (nothing with a
    /// possible secret leaves the runtime); a bug: report it with the event type.
    #[error("could not redact a {event_type} event ({reason}); it was not stored or shown")]
    Redaction {
        /// The event's `type`.
        event_type: String,
        /// What failed.
        reason: String,
    },
}
