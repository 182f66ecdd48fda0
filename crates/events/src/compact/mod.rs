//! The compact event stream (`perstack run --events compact`).
//!
//! Perstack's events repeat the conversation: `startGeneration` carries every message, each
//! checkpoint its whole conversation, so a run's stream grows with the square of its length.
//! The compact stream says each message once, when it joins the run's conversation (the
//! [`CompactRunEvent::conversation`] update of the event at which it appears), and refers to
//! it after that: a checkpoint becomes a [`CheckpointRef`] (its id, status, step, usage and
//! other fields, plus how many leading messages of the conversation it holds), a step a
//! [`StepRef`], a message an index into the conversation ([`MessageRef`]). Runtime events
//! are unchanged. [`Rebuilder`] turns the compact stream back into Perstack's events.

mod conversation;
mod rebuild;
mod refs;
pub(crate) mod types;

pub use conversation::Conversation;
pub use rebuild::{Rebuilder, rebuild_events};
pub use types::{
    CheckpointRef, CompactEvent, CompactRunEvent, CompactRunPayload, ConversationUpdate,
    MessageRef, StepRef,
};
