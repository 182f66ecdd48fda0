//! `--continue` / `--continue-job` never lose work: when the job's checkpoints cannot be
//! loaded, continuing would start the job over (or from an older step) and overwrite its
//! record, so it is refused before anything is written.

use perstack_checkpoint::Storage;
use perstack_core::Job;

/// An error when `job` cannot be continued without losing work: a checkpoint file that does
/// not load, or steps recorded with no checkpoint left.
pub(crate) fn check(storage: &Storage, job: &Job, flag: &str) -> Result<(), String> {
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
