//! [`PromptCache`]: one conversation as a provider has seen and encoded it, kept by the
//! caller between the generations of a run. With it, a request carries only the messages
//! added since the previous one, and the request body appends their encoding to the bytes
//! kept from before instead of encoding the whole conversation again.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use perstack_core::Message;

/// A conversation's messages and their wire encoding, shared by the requests of one run.
/// Cheap to clone (clones share the cache).
#[derive(Clone, Default)]
pub struct PromptCache(Arc<Mutex<Seen>>);

/// What the cache holds.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// The conversation so far, as requests brought it.
    pub(crate) messages: Vec<Message>,
    /// The wire form of its first messages.
    pub(crate) encoded: Encoded,
}

/// Encoded leading messages of a conversation.
#[derive(Debug, Default)]
pub(crate) struct Encoded {
    /// The encoding the bytes are in (another one starts over).
    pub(crate) protocol: &'static str,
    /// Messages encoded.
    pub(crate) count: usize,
    /// Their wire form: JSON values separated by commas, without brackets.
    pub(crate) bytes: Vec<u8>,
}

impl PromptCache {
    /// An empty cache, for a new conversation.
    pub fn new() -> Self {
        Self::default()
    }

    /// The messages of `conversation` the cache has not seen, to put in the next request;
    /// all of them (the cache starting over) when the conversation no longer continues what
    /// it saw.
    pub fn unseen(&self, conversation: &[Message]) -> Vec<Message> {
        let mut seen = self.lock();
        let n = seen.messages.len();
        // A conversation only grows: its newest seen message in place means the rest is.
        let continues =
            n <= conversation.len() && (n == 0 || seen.messages.last() == conversation.get(n - 1));
        if !continues {
            *seen = Seen::default();
        }
        let from = seen.messages.len();
        conversation.get(from..).unwrap_or_default().to_vec()
    }

    /// How many messages the cache holds.
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Seen> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for PromptCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromptCache")
            .field("messages", &self.len())
            .finish()
    }
}

impl PartialEq for PromptCache {
    /// The same cache (clones of one another).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
