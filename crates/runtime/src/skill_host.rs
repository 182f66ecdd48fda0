//! The production tool host: every Expert's skills started by `perstack-skills` (the built-in
//! base skill in-process, stdio and remote MCP servers, interactive skills, delegates).

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use perstack_core::config::ExpertConfig;
use perstack_core::elicitation::{AnsweredElicitation, ElicitationReply, ElicitationRequest};
use perstack_core::{ToolCall, ToolResult};
use perstack_events::RuntimeEventPayload;
use perstack_skills::host::{
    CallOutcome, ElicitationAnswer, HostOptions, KnownAnswer, SkillHost, ToolKind as HostToolKind,
};
use perstack_skills::lockfile::Lockfile;
use tokio::sync::{Mutex, RwLock};

use crate::host_events::HostEvents;
use crate::tools::{
    BoxFuture, HostRequest, ToolEntry, ToolHost, ToolHostError, ToolHostFactory, ToolKind,
    ToolOutcome,
};

/// Opens a [`SkillHost`] per Expert (delegates get their own) and keeps them for the job,
/// so an Expert delegated to twice starts its servers once.
pub struct SkillHostFactory {
    experts: IndexMap<String, ExpertConfig>,
    options: HostOptions,
    locked: Option<Lockfile>,
    open: Mutex<HashMap<String, Arc<SkillTools>>>,
}

impl std::fmt::Debug for SkillHostFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkillHostFactory")
            .field("experts", &self.experts.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl SkillHostFactory {
    /// A factory for the Experts of a config, with the operator's host options (workspace,
    /// env source, confinement, timeouts).
    pub fn new(experts: IndexMap<String, ExpertConfig>, options: HostOptions) -> Self {
        SkillHostFactory {
            experts,
            options,
            locked: None,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Uses the tool definitions of `perstack.lock`: skills with locked tools start in the
    /// background and their tools are offered at once; live definitions win once they are up.
    #[must_use]
    pub fn with_lockfile(mut self, lock: Lockfile) -> Self {
        self.locked = Some(lock);
        self
    }

    /// Shuts every started skill down (SIGTERM, then kill after the grace period).
    pub async fn shutdown(&self) {
        let hosts: Vec<Arc<SkillTools>> = self.open.lock().await.drain().map(|(_, h)| h).collect();
        for h in hosts {
            if let Some(host) = h.host.write().await.take() {
                host.shutdown().await;
            }
        }
    }
}

/// One Expert's started skills, as the loop sees them.
pub struct SkillTools {
    /// Where runtime events of this host go; replaced when another execution opens the
    /// cached host, so they reach that execution's runs.
    events: Arc<std::sync::RwLock<HostEvents>>,
    // Calls share the host (read lock) so a step's tool calls run concurrently.
    host: RwLock<Option<SkillHost>>,
    entries: RwLock<Vec<ToolEntry>>,
}

impl std::fmt::Debug for SkillTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkillTools").finish_non_exhaustive()
    }
}

fn entries_of(host: &SkillHost) -> Vec<ToolEntry> {
    host.catalogue()
        .entries()
        .map(|e| ToolEntry {
            definition: e.definition.clone(),
            kind: kind(&e.kind),
        })
        .collect()
}

fn kind(k: &HostToolKind) -> ToolKind {
    match k {
        HostToolKind::Mcp => ToolKind::Mcp,
        HostToolKind::Interactive => ToolKind::Interactive,
        HostToolKind::Delegate { expert_key } => ToolKind::Delegate {
            expert_key: expert_key.clone(),
        },
    }
}

impl ToolHost for SkillTools {
    fn tools(&self) -> BoxFuture<'_, Result<Vec<ToolEntry>, ToolHostError>> {
        Box::pin(async move {
            let pending = self
                .host
                .read()
                .await
                .as_ref()
                .is_some_and(|h| !h.pending_skills().is_empty());
            if pending {
                let mut guard = self.host.write().await;
                if let Some(host) = guard.as_mut() {
                    match host.poll_ready().await {
                        Ok(report) => {
                            for m in report.mismatches {
                                tracing::warn!(
                                    "skill \"{}\": live tools differ from perstack.lock; the live definitions apply; run `perstack install` to refresh it",
                                    m.skill_name
                                );
                                emit(
                                    &self.events,
                                    RuntimeEventPayload::SkillLockMismatch {
                                        skill_name: m.skill_name,
                                        added: m.added,
                                        removed: m.removed,
                                        changed: m.changed,
                                    },
                                );
                            }
                            *self.entries.write().await = entries_of(host);
                        }
                        Err(e) => return Err(ToolHostError::new(e.to_string())),
                    }
                }
            }
            Ok(self.entries.read().await.clone())
        })
    }

    fn call(&self, call: ToolCall) -> BoxFuture<'_, ToolOutcome> {
        self.call_answering(call, Vec::new())
    }

    fn call_answering(
        &self,
        call: ToolCall,
        answered: Vec<AnsweredElicitation>,
    ) -> BoxFuture<'_, ToolOutcome> {
        Box::pin(async move {
            let guard = self.host.read().await;
            let Some(host) = guard.as_ref() else {
                return ToolOutcome::Result(ToolResult {
                    id: call.id.clone(),
                    skill_name: call.skill_name.clone(),
                    tool_name: call.tool_name.clone(),
                    result: vec![perstack_core::MessagePart::Text(
                        perstack_core::TextPart::new(
                            "the skills of this Expert were shut down; the tool cannot be called",
                        ),
                    )],
                    is_error: Some(true),
                });
            };
            let known = answered.into_iter().map(known_answer).collect();
            match host
                .call_answering(&call.id, &call.tool_name, call.args.clone(), known)
                .await
            {
                CallOutcome::Result(out) => ToolOutcome::Result(out.result),
                CallOutcome::Interactive(_) => ToolOutcome::Interactive,
                CallOutcome::Delegate(d) => ToolOutcome::Delegate {
                    expert_key: d.expert_key,
                    query: d.query,
                },
                CallOutcome::Elicitation(params) => ToolOutcome::Elicitation(ElicitationRequest {
                    message: params
                        .get("message")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    requested_schema: params
                        .get("requestedSchema")
                        .cloned()
                        .unwrap_or(serde_json::Value::Null),
                }),
            }
        })
    }
}

fn known_answer(a: AnsweredElicitation) -> KnownAnswer {
    KnownAnswer {
        message: a.request.message,
        requested_schema: a.request.requested_schema,
        answer: match a.answer {
            ElicitationReply::Accept { content } => ElicitationAnswer::Accept(content),
            ElicitationReply::Decline => ElicitationAnswer::Decline,
            ElicitationReply::Cancel => ElicitationAnswer::Cancel,
        },
    }
}

impl ToolHostFactory for SkillHostFactory {
    fn open(
        &self,
        request: HostRequest,
    ) -> BoxFuture<'_, Result<Arc<dyn ToolHost>, ToolHostError>> {
        Box::pin(async move {
            let mut open = self.open.lock().await;
            if let Some(h) = open.get(&request.expert_key) {
                *h.events
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = request.events;
                return Ok(Arc::clone(h) as Arc<dyn ToolHost>);
            }
            let expert = self.experts.get(&request.expert_key).ok_or_else(|| {
                ToolHostError::new(format!(
                    "expert \"{}\" is not in the config",
                    request.expert_key
                ))
            })?;
            let events = Arc::new(std::sync::RwLock::new(request.events));
            let sink = {
                let events = Arc::clone(&events);
                Arc::new(move |payload| emit(&events, payload))
            };
            let locked = self
                .locked
                .as_ref()
                .and_then(|l| l.tools_of(&request.expert_key))
                .unwrap_or_default();
            let host =
                SkillHost::start_locked(expert, &self.experts, self.options.clone(), sink, locked)
                    .await
                    .map_err(|e| ToolHostError::new(e.to_string()))?;
            let tools = Arc::new(SkillTools {
                events,
                entries: RwLock::new(entries_of(&host)),
                host: RwLock::new(Some(host)),
            });
            open.insert(request.expert_key.clone(), Arc::clone(&tools));
            Ok(tools as Arc<dyn ToolHost>)
        })
    }
}

/// Emits through the host's current [`HostEvents`] (cloned out so no lock is held while the
/// event is stored).
fn emit(events: &std::sync::RwLock<HostEvents>, payload: RuntimeEventPayload) {
    let events = events
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    events.emit(payload);
}
