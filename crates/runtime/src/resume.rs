//! Resuming a delegate that stopped for the application: the delegate continues from its
//! checkpoint, and as each Expert of the chain finishes, its result returns to its parent
//! (found through `delegatedBy` and the suspended-delegation record), which continues in
//! turn, up to the job's coordinator. This is Perstack's way back from a delegation.

use perstack_checkpoint::Storage;
use perstack_core::{Checkpoint, id::new_id};

use crate::delegation::{Delegated, Ended, Settled, Waiting, settle, stops_for_application};
use crate::emitter::JobTracker;
use crate::error::RuntimeError;
use crate::run::{Hosts, Runtime};
use crate::setting::{RunInput, RunSetting};
use crate::stop::StopSignal;

impl Runtime {
    /// Runs `setting`, whose checkpoint is a delegate's, then returns through its parents.
    pub(crate) async fn run_resumed_delegate(
        &self,
        setting: RunSetting,
        tracker: &JobTracker,
        hosts: &Hosts,
        stop: &StopSignal,
    ) -> Result<Ended, RuntimeError> {
        let storage = self.storage.clone().ok_or_else(|| {
            RuntimeError::InvalidInput(
                "resuming a delegate's checkpoint needs storage: its parent is loaded from it"
                    .into(),
            )
        })?;
        let job_id = setting.job_id.clone();
        let mut by = setting
            .checkpoint
            .as_ref()
            .and_then(|c| c.delegated_by.clone());
        let mut ended = self
            .run_expert(setting.clone(), tracker, hosts, stop)
            .await?;
        while let Some(b) = by {
            let parent = storage.load_checkpoint(&job_id, &b.checkpoint_id)?;
            let target = parent
                .delegate_to
                .iter()
                .flatten()
                .find(|t| t.tool_call_id == b.tool_call_id)
                .cloned()
                .ok_or_else(|| {
                    RuntimeError::InvalidInput(format!(
                        "checkpoint {} does not delegate call {}: the delegate cannot return",
                        parent.id, b.tool_call_id
                    ))
                })?;
            let mut known = vec![(b.tool_call_id.clone(), settle(&target, Ok(ended)))];
            if let Some(record) = storage.load_suspended(&job_id, &parent.id)? {
                for f in record.finished {
                    known.push((f.result.id.clone(), Settled::Finished(f)));
                }
                for w in record.waiting {
                    if w.tool_call_id == b.tool_call_id {
                        continue;
                    }
                    let checkpoint = storage.load_checkpoint(&job_id, &w.checkpoint_id)?;
                    let waiting = Waiting {
                        checkpoint,
                        usage: w.usage,
                        step_number: w.step_number,
                    };
                    known.push((w.tool_call_id, Settled::Waiting(Box::new(waiting))));
                }
            }
            let mut parent_setting = setting.clone();
            parent_setting.run_id = new_id();
            parent_setting.expert_key = parent.expert.key.clone();
            parent_setting.input = RunInput::default();
            parent_setting.checkpoint = Some(parent.clone());
            let delegated = self
                .delegate(parent_setting, parent.clone(), known, tracker, hosts, stop)
                .await?;
            ended = match delegated {
                Delegated::Next(next) => self.run_expert(*next, tracker, hosts, stop).await?,
                Delegated::Waiting(w) => Ended::Waiting(*w),
            };
            by = parent.delegated_by;
        }
        Ok(ended)
    }
}

/// The checkpoints a job stopped for the application waits in, innermost, in the order the
/// job reports them (the first is the one `RunOutcome` carried): the delegates recorded as
/// waiting by the coordinator's suspended delegation. Empty when no delegate waits (the
/// coordinator's own checkpoint is then the one to continue).
pub fn waiting_checkpoints(
    storage: &Storage,
    job_id: &str,
) -> Result<Vec<Checkpoint>, RuntimeError> {
    let Some(root) = storage.list_suspended(job_id)?.into_iter().find(|r| r.root) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for w in root.waiting {
        let cp = storage.load_checkpoint(job_id, &w.checkpoint_id)?;
        if stops_for_application(cp.status) {
            out.push(cp);
        }
    }
    Ok(out)
}
