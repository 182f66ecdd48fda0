//! [`Conversation`]: one run's conversation as the compact stream has said it, and the
//! translation of run events between the full and the compact form.

use std::collections::HashMap;

use perstack_core::Message;

use super::types::{CheckpointRef, CompactRunPayload, ConversationUpdate, MessageRef, StepRef};
use crate::EventsError;
use crate::run::RunEventPayload as Full;

/// The messages of one run, in order, with an index by message id. The writer of a compact
/// stream appends to it as messages become new; a reader applies the updates it reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conversation {
    messages: Vec<Message>,
    by_id: HashMap<String, usize>,
}

fn dangling(what: String) -> EventsError {
    EventsError::Compact(what)
}

impl Conversation {
    /// An empty conversation.
    pub fn new() -> Self {
        Self::default()
    }

    /// The messages.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// How many messages it holds.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Moves the messages out, to lend them to an event without copying them; the
    /// conversation is empty until [`Conversation::put_back`] returns them.
    pub fn take_messages(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.messages)
    }

    /// Returns the messages [`Conversation::take_messages`] lent out.
    pub fn put_back(&mut self, messages: Vec<Message>) {
        self.messages = messages;
    }

    /// Appends `messages` and returns the update that says so (None when there are none).
    pub fn append(&mut self, messages: Vec<Message>) -> Option<ConversationUpdate> {
        if messages.is_empty() {
            return None;
        }
        let from = self.messages.len();
        for (i, m) in messages.iter().enumerate() {
            self.by_id.insert(m.id().to_string(), from + i);
        }
        self.messages.extend(messages.iter().cloned());
        Some(ConversationUpdate { from, messages })
    }

    /// Applies an update read from a stream.
    pub fn apply(&mut self, update: ConversationUpdate) -> Result<(), EventsError> {
        if update.from > self.messages.len() {
            return Err(dangling(format!(
                "an update starts at message {} of a conversation of {}",
                update.from,
                self.messages.len()
            )));
        }
        if update.from < self.messages.len() {
            // Rewritten: drop the tail and its index entries (rare, so a rebuild is fine).
            self.messages.truncate(update.from);
            self.by_id = (self.messages.iter().enumerate())
                .map(|(i, m)| (m.id().to_string(), i))
                .collect();
        }
        for m in update.messages {
            self.by_id.insert(m.id().to_string(), self.messages.len());
            self.messages.push(m);
        }
        Ok(())
    }

    /// The reference to `message`: its index when the conversation holds exactly this
    /// message, the message itself otherwise.
    pub fn refer(&self, message: Message) -> MessageRef {
        match self.by_id.get(message.id()) {
            Some(&i) if self.messages.get(i) == Some(&message) => MessageRef::Index(i),
            Some(_) | None => MessageRef::Inline(Box::new(message)),
        }
    }

    /// The message a reference stands for.
    pub fn resolve(&self, r: MessageRef) -> Result<Message, EventsError> {
        match r {
            MessageRef::Inline(m) => Ok(*m),
            MessageRef::Index(i) => self.messages.get(i).cloned().ok_or_else(|| {
                dangling(format!(
                    "message {i} of a conversation of {}",
                    self.messages.len()
                ))
            }),
        }
    }

    /// The first `count` messages.
    pub fn prefix(&self, count: usize) -> Result<Vec<Message>, EventsError> {
        self.messages
            .get(..count)
            .map(<[Message]>::to_vec)
            .ok_or_else(|| {
                dangling(format!(
                    "{count} messages of a conversation of {}",
                    self.messages.len()
                ))
            })
    }

    fn refs(&self, messages: Vec<Message>) -> Vec<MessageRef> {
        messages.into_iter().map(|m| self.refer(m)).collect()
    }

    fn resolve_all(&self, refs: Vec<MessageRef>) -> Result<Vec<Message>, EventsError> {
        refs.into_iter().map(|r| self.resolve(r)).collect()
    }

    fn step(&self, step: perstack_core::Step) -> StepRef {
        StepRef::new(step, |m| self.refer(m))
    }

    fn full_step(&self, step: StepRef) -> Result<perstack_core::Step, EventsError> {
        step.into_step(|r| self.resolve(r))
    }

    fn full_checkpoint(&self, cp: CheckpointRef) -> Result<perstack_core::Checkpoint, EventsError> {
        let messages = self.prefix(cp.message_count)?;
        Ok(cp.into_checkpoint(messages))
    }

    /// The compact form of `payload`, whose conversations are left out: `startGeneration`'s
    /// messages and every checkpoint's hold the whole conversation, except `startRun`'s
    /// initial checkpoint, which holds all but the input messages. (`messages` fields of
    /// `payload` are ignored, so a caller need not copy the conversation into them.)
    pub fn encode(&self, payload: Full) -> CompactRunPayload {
        let n = self.len();
        let cp = |c| CheckpointRef::new(c, n);
        match payload {
            Full::StartRun {
                initial_checkpoint,
                input_messages,
            } => CompactRunPayload::StartRun {
                initial_checkpoint: CheckpointRef::new(
                    initial_checkpoint,
                    n.saturating_sub(input_messages.len()),
                ),
                input_messages: self.refs(input_messages),
            },
            Full::StartGeneration { messages: _ } => {
                CompactRunPayload::StartGeneration { message_count: n }
            }
            Full::Retry {
                reason,
                new_messages,
                tool_calls,
                tool_results,
                usage,
            } => CompactRunPayload::Retry {
                reason,
                new_messages: self.refs(new_messages),
                tool_calls,
                tool_results,
                usage,
            },
            Full::CallTools {
                new_message,
                tool_calls,
                usage,
            } => CompactRunPayload::CallTools {
                new_message: self.refer(new_message),
                tool_calls,
                usage,
            },
            Full::CallInteractiveTool {
                new_message,
                tool_call,
                usage,
            } => CompactRunPayload::CallInteractiveTool {
                new_message: self.refer(new_message),
                tool_call,
                usage,
            },
            Full::CallDelegate {
                new_message,
                tool_calls,
                usage,
            } => CompactRunPayload::CallDelegate {
                new_message: self.refer(new_message),
                tool_calls,
                usage,
            },
            Full::ResolveToolResults { tool_results } => {
                CompactRunPayload::ResolveToolResults { tool_results }
            }
            Full::AttemptCompletion { tool_result } => {
                CompactRunPayload::AttemptCompletion { tool_result }
            }
            Full::FinishToolCall { new_messages } => CompactRunPayload::FinishToolCall {
                new_messages: self.refs(new_messages),
            },
            Full::ResumeToolCalls {
                pending_tool_calls,
                partial_tool_results,
            } => CompactRunPayload::ResumeToolCalls {
                pending_tool_calls,
                partial_tool_results,
            },
            Full::FinishAllToolCalls { new_messages } => CompactRunPayload::FinishAllToolCalls {
                new_messages: self.refs(new_messages),
            },
            Full::ContinueToNextStep {
                checkpoint,
                step,
                next_checkpoint,
            } => CompactRunPayload::ContinueToNextStep {
                checkpoint: cp(checkpoint),
                step: self.step(step),
                next_checkpoint: cp(next_checkpoint),
            },
            Full::StopRunByInteractiveTool { checkpoint, step } => {
                CompactRunPayload::StopRunByInteractiveTool {
                    checkpoint: cp(checkpoint),
                    step: self.step(step),
                }
            }
            Full::StopRunByDelegate { checkpoint, step } => CompactRunPayload::StopRunByDelegate {
                checkpoint: cp(checkpoint),
                step: self.step(step),
            },
            Full::StopRunByExceededMaxSteps { checkpoint, step } => {
                CompactRunPayload::StopRunByExceededMaxSteps {
                    checkpoint: cp(checkpoint),
                    step: self.step(step),
                }
            }
            Full::StopRunByError {
                checkpoint,
                step,
                error,
            } => CompactRunPayload::StopRunByError {
                checkpoint: cp(checkpoint),
                step: self.step(step),
                error,
            },
            Full::CompleteRun {
                checkpoint,
                step,
                text,
                usage,
            } => CompactRunPayload::CompleteRun {
                checkpoint: cp(checkpoint),
                step: self.step(step),
                text,
                usage,
            },
            Full::StopRunByApproval {
                checkpoint,
                step,
                tool_calls,
            } => CompactRunPayload::StopRunByApproval {
                checkpoint: cp(checkpoint),
                step: self.step(step),
                tool_calls,
            },
            Full::StopRunByBudget {
                checkpoint,
                step,
                reason,
                budget,
            } => CompactRunPayload::StopRunByBudget {
                checkpoint: cp(checkpoint),
                step: self.step(step),
                reason,
                budget,
            },
            Full::StopRunBySignal {
                checkpoint,
                step,
                signal,
            } => CompactRunPayload::StopRunBySignal {
                checkpoint: cp(checkpoint),
                step: self.step(step),
                signal,
            },
            Full::StartStreamingReasoning {} => CompactRunPayload::StartStreamingReasoning {},
            Full::StreamReasoning { delta } => CompactRunPayload::StreamReasoning { delta },
            Full::CompleteStreamingReasoning { text } => {
                CompactRunPayload::CompleteStreamingReasoning { text }
            }
            Full::StartStreamingRunResult {} => CompactRunPayload::StartStreamingRunResult {},
            Full::StreamRunResult { delta } => CompactRunPayload::StreamRunResult { delta },
            Full::CompleteStreamingRunResult { text } => {
                CompactRunPayload::CompleteStreamingRunResult { text }
            }
        }
    }

    /// The full form of a compact payload read after this conversation's updates.
    pub fn decode(&self, payload: CompactRunPayload) -> Result<Full, EventsError> {
        use CompactRunPayload as C;
        Ok(match payload {
            C::StartRun {
                initial_checkpoint,
                input_messages,
            } => Full::StartRun {
                initial_checkpoint: self.full_checkpoint(initial_checkpoint)?,
                input_messages: self.resolve_all(input_messages)?,
            },
            C::StartGeneration { message_count } => Full::StartGeneration {
                messages: self.prefix(message_count)?,
            },
            C::Retry {
                reason,
                new_messages,
                tool_calls,
                tool_results,
                usage,
            } => Full::Retry {
                reason,
                new_messages: self.resolve_all(new_messages)?,
                tool_calls,
                tool_results,
                usage,
            },
            C::CallTools {
                new_message,
                tool_calls,
                usage,
            } => Full::CallTools {
                new_message: self.resolve(new_message)?,
                tool_calls,
                usage,
            },
            C::CallInteractiveTool {
                new_message,
                tool_call,
                usage,
            } => Full::CallInteractiveTool {
                new_message: self.resolve(new_message)?,
                tool_call,
                usage,
            },
            C::CallDelegate {
                new_message,
                tool_calls,
                usage,
            } => Full::CallDelegate {
                new_message: self.resolve(new_message)?,
                tool_calls,
                usage,
            },
            C::ResolveToolResults { tool_results } => Full::ResolveToolResults { tool_results },
            C::AttemptCompletion { tool_result } => Full::AttemptCompletion { tool_result },
            C::FinishToolCall { new_messages } => Full::FinishToolCall {
                new_messages: self.resolve_all(new_messages)?,
            },
            C::ResumeToolCalls {
                pending_tool_calls,
                partial_tool_results,
            } => Full::ResumeToolCalls {
                pending_tool_calls,
                partial_tool_results,
            },
            C::FinishAllToolCalls { new_messages } => Full::FinishAllToolCalls {
                new_messages: self.resolve_all(new_messages)?,
            },
            C::ContinueToNextStep {
                checkpoint,
                step,
                next_checkpoint,
            } => Full::ContinueToNextStep {
                checkpoint: self.full_checkpoint(checkpoint)?,
                step: self.full_step(step)?,
                next_checkpoint: self.full_checkpoint(next_checkpoint)?,
            },
            C::StopRunByInteractiveTool { checkpoint, step } => Full::StopRunByInteractiveTool {
                checkpoint: self.full_checkpoint(checkpoint)?,
                step: self.full_step(step)?,
            },
            C::StopRunByDelegate { checkpoint, step } => Full::StopRunByDelegate {
                checkpoint: self.full_checkpoint(checkpoint)?,
                step: self.full_step(step)?,
            },
            C::StopRunByExceededMaxSteps { checkpoint, step } => Full::StopRunByExceededMaxSteps {
                checkpoint: self.full_checkpoint(checkpoint)?,
                step: self.full_step(step)?,
            },
            C::StopRunByError {
                checkpoint,
                step,
                error,
            } => Full::StopRunByError {
                checkpoint: self.full_checkpoint(checkpoint)?,
                step: self.full_step(step)?,
                error,
            },
            C::CompleteRun {
                checkpoint,
                step,
                text,
                usage,
            } => Full::CompleteRun {
                checkpoint: self.full_checkpoint(checkpoint)?,
                step: self.full_step(step)?,
                text,
                usage,
            },
            C::StopRunByApproval {
                checkpoint,
                step,
                tool_calls,
            } => Full::StopRunByApproval {
                checkpoint: self.full_checkpoint(checkpoint)?,
                step: self.full_step(step)?,
                tool_calls,
            },
            C::StopRunByBudget {
                checkpoint,
                step,
                reason,
                budget,
            } => Full::StopRunByBudget {
                checkpoint: self.full_checkpoint(checkpoint)?,
                step: self.full_step(step)?,
                reason,
                budget,
            },
            C::StopRunBySignal {
                checkpoint,
                step,
                signal,
            } => Full::StopRunBySignal {
                checkpoint: self.full_checkpoint(checkpoint)?,
                step: self.full_step(step)?,
                signal,
            },
            C::StartStreamingReasoning {} => Full::StartStreamingReasoning {},
            C::StreamReasoning { delta } => Full::StreamReasoning { delta },
            C::CompleteStreamingReasoning { text } => Full::CompleteStreamingReasoning { text },
            C::StartStreamingRunResult {} => Full::StartStreamingRunResult {},
            C::StreamRunResult { delta } => Full::StreamRunResult { delta },
            C::CompleteStreamingRunResult { text } => Full::CompleteStreamingRunResult { text },
        })
    }
}
