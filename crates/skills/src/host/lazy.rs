//! Skills still starting in the background: `lazyInit` skills, and skills whose tools
//! came from `perstack.lock`. A call to one of their tools waits for the start.

use perstack_core::ToolDefinition;
use tokio::sync::{Mutex, OnceCell};

use super::plan::PlannedSkill;
use super::start::Started;
use crate::error::SkillError;

/// The start of one skill, running on its own task.
pub(crate) type StartTask = tokio::task::JoinHandle<Result<Started, SkillError>>;

/// A skill still starting.
#[derive(Debug)]
pub(crate) struct Pending {
    pub plan: PlannedSkill,
    /// Definitions from the lockfile, in the catalogue until the skill is up.
    pub locked: Option<Vec<ToolDefinition>>,
    task: Mutex<Option<StartTask>>,
    started: OnceCell<Result<Started, SkillError>>,
}

impl Pending {
    pub fn new(plan: PlannedSkill, task: StartTask, locked: Option<Vec<ToolDefinition>>) -> Self {
        Pending {
            plan,
            locked,
            task: Mutex::new(Some(task)),
            started: OnceCell::new(),
        }
    }

    /// The skill name.
    pub fn name(&self) -> &str {
        self.plan.name()
    }

    /// Whether the start has finished (successfully or not).
    pub fn is_done(&self) -> bool {
        if self.started.initialized() {
            return true;
        }
        match self.task.try_lock() {
            Ok(task) => task.as_ref().is_none_or(|t| t.is_finished()),
            // Someone is awaiting it right now: not known to be done.
            Err(_) => false,
        }
    }

    /// Waits for the start.
    pub async fn wait(&self) -> &Result<Started, SkillError> {
        self.started
            .get_or_init(|| async {
                let task = self.task.lock().await.take();
                match task {
                    Some(t) => match t.await {
                        Ok(r) => r,
                        Err(join) => Err(SkillError::Startup {
                            skill: self.name().to_string(),
                            reason: format!("its start task failed: {join}"),
                        }),
                    },
                    None => Err(SkillError::Startup {
                        skill: self.name().to_string(),
                        reason: "its start was abandoned".into(),
                    }),
                }
            })
            .await
    }

    /// The finished start, owned. Call after [`Pending::wait`].
    pub fn into_started(self) -> Option<Result<Started, SkillError>> {
        self.started.into_inner()
    }

    /// Stops a start in progress (its child, if any, is killed when the start is dropped).
    pub fn abort(&self) {
        if let Ok(task) = self.task.try_lock()
            && let Some(t) = task.as_ref()
        {
            t.abort();
        }
    }
}
