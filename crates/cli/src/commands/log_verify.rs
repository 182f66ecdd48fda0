//! `perstack log --verify [--expect HEAD]`: every check of
//! [`perstack_checkpoint::Storage::verify_job`] on one job (`--job`) or on every job folder,
//! printed one line each; exit 1 on any failure.

use perstack_checkpoint::{AuditHead, Severity, Storage};

use crate::exit;

/// Verifies `job` (or every job folder when `None`) and prints the outcome; `expect` is the
/// head of the `auditAnchor` event `perstack run` printed.
pub(crate) fn verify(
    storage: &Storage,
    job: Option<&str>,
    expect: Option<&str>,
    out: &mut dyn FnMut(&str),
) -> Result<u8, String> {
    let expect: Option<AuditHead> = expect.map(str::parse).transpose()?;
    let jobs: Vec<String> = match job {
        Some(j) => vec![j.to_string()],
        None => {
            if expect.is_some() {
                return Err(
                    "--expect needs --job: pass the jobId of the auditAnchor event the head \
                     came from"
                        .into(),
                );
            }
            job_folders(storage)?
        }
    };
    if jobs.is_empty() {
        // Nothing checked is not a pass: a deleted or misplaced store must not verify.
        out(&format!(
            "nothing verified: no jobs under {} (check --workspace / --state-dir; list jobs \
             with `perstack jobs`)",
            storage.layout().root().display()
        ));
        return Ok(exit::ERROR);
    }
    let mut code = exit::OK;
    for job_id in &jobs {
        let audit = storage
            .verify_job(job_id, expect.as_ref())
            .map_err(|e| e.to_string())?;
        if audit.runs.is_empty() {
            out(&format!("job {job_id}: no event logs to verify"));
        }
        for (run, report) in &audit.runs {
            if report.first_break.is_some() {
                continue;
            }
            out(&format!(
                "ok: run {run}: {} events, chain intact{}{}",
                report.lines,
                if report.keyed { " (keyed)" } else { "" },
                if report.torn_tail {
                    " (last line torn by a crash mid-write; ignored; only --expect can tell \
                     it from a cut log)"
                } else {
                    ""
                }
            ));
        }
        for f in &audit.findings {
            match f.severity {
                Severity::Failure => out(&format!("BROKEN: {}", f.message)),
                Severity::Warning => out(&format!("warning: {}", f.message)),
            }
        }
        if let Some(head) = &audit.head {
            let matched = if expect.is_some() && audit.ok() {
                " (matches --expect)"
            } else {
                ""
            };
            out(&format!("head: job {job_id}: {head}{matched}"));
        }
        if !audit.ok() {
            code = exit::ERROR;
        }
    }
    Ok(code)
}

/// Every job folder (with or without a readable `job.json`), sorted.
fn job_folders(storage: &Storage) -> Result<Vec<String>, String> {
    let dir = storage
        .layout()
        .checked_jobs_dir()
        .map_err(|e| e.to_string())?;
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut jobs: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    jobs.sort();
    Ok(jobs)
}
