//! `perstack run --continue-job` on a job that waits in delegates: which delegate's
//! checkpoint to resume.

use perstack_checkpoint::Storage;
use perstack_core::{Checkpoint, Job, JobStatus};
use perstack_runtime::waiting_checkpoints;

use crate::cli::RunArgs;

/// For a job stopped for the application inside a delegate: the delegate's checkpoint to
/// resume, the one that waits for the calls named by `--approve`/`--deny`/`-i` JSON, else the
/// one the job reported first.
pub(super) fn waiting_delegate(
    args: &RunArgs,
    storage: &Storage,
    job: &Job,
) -> Result<Option<Checkpoint>, String> {
    if !matches!(
        job.status,
        JobStatus::StoppedByInteractiveTool | JobStatus::StoppedByApproval
    ) {
        return Ok(None);
    }
    let mut waiting = waiting_checkpoints(storage, &job.id).map_err(|e| e.to_string())?;
    let answered = args
        .interactive_answer()
        .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw).ok())
        .and_then(|v| v.get("toolCallId")?.as_str().map(str::to_string));
    let named: Vec<&str> = args
        .resume
        .approve
        .iter()
        .chain(&args.resume.deny)
        .map(String::as_str)
        .chain(answered.as_deref())
        .collect();
    let chosen = waiting
        .iter()
        .position(|cp| {
            cp.pending_tool_calls
                .iter()
                .flatten()
                .any(|c| named.contains(&c.id.as_str()))
        })
        .unwrap_or(0);
    Ok((chosen < waiting.len()).then(|| waiting.swap_remove(chosen)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::Parser;
    use perstack_checkpoint::{SuspendedDelegation, WaitingDelegate};
    use perstack_core::{ExpertRef, ToolCall, Usage};

    use perstack_core::CheckpointStatus;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(flags: &[&str]) -> RunArgs {
        let argv = ["perstack", "run", "--continue-job", "job1"]
            .iter()
            .chain(flags)
            .chain(&["main", ""]);
        let Command::Run(a) = Cli::parse_from(argv).command else {
            panic!("not a run command")
        };
        *a
    }

    fn waiting(storage: &Storage, id: &str, expert: &str, call: &str) -> WaitingDelegate {
        let expert = ExpertRef {
            key: expert.into(),
            name: expert.into(),
            version: "1.0.0".into(),
        };
        let mut cp = Checkpoint::init(id, "job1", "run1", expert);
        cp.status = CheckpointStatus::StoppedByApproval;
        cp.pending_tool_calls = Some(vec![ToolCall {
            id: call.into(),
            skill_name: "tools".into(),
            tool_name: "exec".into(),
            args: serde_json::Map::new(),
        }]);
        storage.store_checkpoint(&cp).unwrap();
        WaitingDelegate {
            tool_call_id: format!("d-{call}"),
            checkpoint_id: id.into(),
            usage: Usage::default(),
            step_number: 2,
        }
    }

    #[test]
    fn a_job_waiting_in_delegates_resumes_the_delegate_named_by_the_decision() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new(dir.path());
        let mut job = Job {
            id: "job1".into(),
            status: JobStatus::StoppedByApproval,
            coordinator_expert_key: "main".into(),
            total_steps: 2,
            max_steps: None,
            usage: Usage::default(),
            started_at: 1,
            finished_at: None,
        };
        storage.store_job(&job).unwrap();
        let record = SuspendedDelegation {
            parent_checkpoint_id: "parent".into(),
            root: true,
            finished: Vec::new(),
            waiting: vec![
                waiting(&storage, "cpA", "helper", "c1"),
                waiting(&storage, "cpB", "other", "c2"),
            ],
        };
        storage.store_suspended("job1", &record).unwrap();
        let pick = |flags: &[&str], job: &Job| {
            waiting_delegate(&args(flags), &storage, job)
                .unwrap()
                .map(|c| c.id)
        };
        assert_eq!(pick(&["--approve", "c2"], &job).as_deref(), Some("cpB"));
        assert_eq!(pick(&["--deny", "c1"], &job).as_deref(), Some("cpA"));
        assert_eq!(pick(&[], &job).as_deref(), Some("cpA"));
        let json = r#"{"toolCallId":"c2","toolName":"exec","skillName":"tools","text":"x"}"#;
        let flag = format!("--interactive-tool-call-result={json}");
        assert_eq!(pick(&[&flag], &job).as_deref(), Some("cpB"));
        job.status = JobStatus::Completed;
        assert_eq!(pick(&[], &job), None);
    }
}
