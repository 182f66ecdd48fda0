//! `--continue` / `--continue-job` never lose work: what a crash took from the files derived
//! from the event log is written back from it first; when the job's checkpoints still cannot
//! be loaded, continuing would start the job over (or from an older step) and overwrite its
//! record, so it is refused before anything else is written.

use perstack_checkpoint::Storage;
use perstack_core::Job;

/// An error when `job` cannot be continued without losing work: a checkpoint file that does
/// not load, or steps recorded with no checkpoint left. First writes back from the event log
/// what a crash or power loss took from the files derived from it (docs/storage.md).
pub(crate) fn check(storage: &Storage, job: &Job, flag: &str) -> Result<(), String> {
    let recovered = storage.recover_job(&job.id).map_err(|e| e.to_string())?;
    if !recovered.is_empty() {
        tracing::warn!(
            "job \"{id}\": rebuilt from its event log after a crash: {lines} message line(s), \
             checkpoint(s) {cps:?}; removed checkpoint(s) never logged whose lines were lost: \
             {removed:?}",
            id = job.id,
            lines = recovered.message_lines,
            cps = recovered.checkpoints,
            removed = recovered.removed
        );
    }
    let bad = storage
        .unreadable_checkpoints(&job.id)
        .map_err(|e| e.to_string())?;
    let advice = format!(
        "nothing was changed. Check it with `perstack log --job {id} --verify`, restore the \
         checkpoint files from a backup, or continue from a checkpoint you choose with \
         --resume-from <checkpointId>",
        id = job.id
    );
    if let Some(first) = bad.first() {
        return Err(format!(
            "{flag}: {n} checkpoint(s) of job \"{id}\" cannot be loaded (first: {first}); \
             continuing would restart the job or resume from an older step and overwrite its \
             usage, so it is refused: {advice}",
            n = bad.len(),
            id = job.id
        ));
    }
    if job.total_steps > 0
        && storage
            .list_checkpoints(&job.id)
            .map_err(|e| e.to_string())?
            .is_empty()
    {
        return Err(format!(
            "{flag}: job \"{id}\" records {steps} step(s) but has no checkpoint left (deleted?); \
             continuing would restart it from step 1, so it is refused: {advice}",
            id = job.id,
            steps = job.total_steps
        ));
    }
    Ok(())
}
