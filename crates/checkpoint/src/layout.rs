//! Where things live: under `<workspace>/perstack/` (Perstack's default) or under a state
//! folder outside the workspace (`--state-dir`), which confined children cannot write.

use std::path::{Path, PathBuf};

use crate::StorageError;

/// Name of the storage folder inside the workspace (hidden from the agent's file tools).
pub const STORAGE_DIR: &str = "perstack";

/// Paths of the storage layout.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

fn checked<'a>(what: &'static str, id: &'a str) -> Result<&'a str, StorageError> {
    if perstack_core::id::is_valid_id(id) {
        Ok(id)
    } else {
        Err(StorageError::InvalidId {
            what,
            id: id.to_string(),
        })
    }
}

impl Layout {
    /// The layout for a workspace.
    pub fn new(workspace: &Path) -> Self {
        Layout {
            root: workspace.join(STORAGE_DIR),
        }
    }

    /// The layout rooted at a state folder outside the workspace: `DIR/jobs/<jobId>/...`.
    ///
    /// `dir` is made absolute with symbolic links resolved (the part that exists; the rest is
    /// normalised lexically and created). It is refused when it is the workspace or lies
    /// inside it (everything in the workspace is writable by `exec` children and stdio
    /// skills, which is what a state folder exists to avoid), and when the workspace lies
    /// inside it (a job folder could then be the workspace itself).
    pub fn state_dir(dir: &Path, workspace: &Path) -> Result<Self, StorageError> {
        let root = resolve(dir)?;
        let ws = resolve(workspace)?;
        if root.starts_with(&ws) || ws.starts_with(&root) {
            return Err(StorageError::StateDirInWorkspace {
                dir: root,
                workspace: ws,
            });
        }
        std::fs::create_dir_all(&root).map_err(|e| StorageError::io("creating", &root, e))?;
        Ok(Layout { root })
    }

    /// The storage root: `<workspace>/perstack` or the state folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `perstack/jobs`.
    pub fn jobs_dir(&self) -> PathBuf {
        self.root.join("jobs")
    }

    /// `perstack/jobs`, after checking that neither it nor the root is a symbolic link.
    pub fn checked_jobs_dir(&self) -> Result<PathBuf, StorageError> {
        self.no_links(&["jobs"])?;
        Ok(self.jobs_dir())
    }

    /// `perstack/jobs/<jobId>`. Refused when the root, `jobs` or the job folder is a
    /// symbolic link (as is every folder below, by the methods that name it): storage is
    /// never followed through a link, which could lead outside the workspace or expose it
    /// to the file tools under another name.
    pub fn job_dir(&self, job_id: &str) -> Result<PathBuf, StorageError> {
        let id = checked("job id", job_id)?;
        self.no_links(&["jobs", id])?;
        Ok(self.jobs_dir().join(id))
    }

    /// Refuses a symbolic link at the root or at any of `below` under it; missing entries
    /// are fine (they are created as folders).
    fn no_links(&self, below: &[&str]) -> Result<(), StorageError> {
        let mut path = self.root.clone();
        refuse_link(&path)?;
        for part in below {
            path.push(part);
            refuse_link(&path)?;
        }
        Ok(())
    }

    /// `perstack/jobs/<jobId>/job.json`.
    pub fn job_file(&self, job_id: &str) -> Result<PathBuf, StorageError> {
        Ok(self.job_dir(job_id)?.join("job.json"))
    }

    /// `perstack/jobs/<jobId>/checkpoints`.
    pub fn checkpoints_dir(&self, job_id: &str) -> Result<PathBuf, StorageError> {
        let dir = self.job_dir(job_id)?.join("checkpoints");
        refuse_link(&dir)?;
        Ok(dir)
    }

    /// `perstack/jobs/<jobId>/checkpoints/<checkpointId>.json`.
    pub fn checkpoint_file(
        &self,
        job_id: &str,
        checkpoint_id: &str,
    ) -> Result<PathBuf, StorageError> {
        Ok(self
            .checkpoints_dir(job_id)?
            .join(format!("{}.json", checked("checkpoint id", checkpoint_id)?)))
    }

    /// `perstack/jobs/<jobId>/delegations`.
    pub fn suspended_dir(&self, job_id: &str) -> Result<PathBuf, StorageError> {
        let dir = self.job_dir(job_id)?.join("delegations");
        refuse_link(&dir)?;
        Ok(dir)
    }

    /// `perstack/jobs/<jobId>/delegations/<parentCheckpointId>.json`.
    pub fn suspended_file(
        &self,
        job_id: &str,
        parent_checkpoint_id: &str,
    ) -> Result<PathBuf, StorageError> {
        Ok(self.suspended_dir(job_id)?.join(format!(
            "{}.json",
            checked("checkpoint id", parent_checkpoint_id)?
        )))
    }

    /// `perstack/jobs/<jobId>/runs/<runId>`.
    pub fn run_dir(&self, job_id: &str, run_id: &str) -> Result<PathBuf, StorageError> {
        let runs = self.job_dir(job_id)?.join("runs");
        refuse_link(&runs)?;
        let dir = runs.join(checked("run id", run_id)?);
        refuse_link(&dir)?;
        Ok(dir)
    }

    /// `perstack/jobs/<jobId>/runs/<runId>/events.jsonl`.
    pub fn events_file(&self, job_id: &str, run_id: &str) -> Result<PathBuf, StorageError> {
        Ok(self.run_dir(job_id, run_id)?.join("events.jsonl"))
    }
}

/// A symbolic link at `path` is an error; anything else (or nothing) is fine.
pub(crate) fn refuse_link(path: &Path) -> Result<(), StorageError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(StorageError::Link {
            path: path.to_path_buf(),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io("inspecting", path, e)),
    }
}

/// `path` absolute, its longest existing prefix canonicalised (links resolved), the rest
/// appended with `.` dropped and `..` applied lexically (those components do not exist, so
/// no link can hide behind them).
fn resolve(path: &Path) -> Result<PathBuf, StorageError> {
    use std::path::Component;
    let abs = std::path::absolute(path).map_err(|e| StorageError::io("resolving", path, e))?;
    let mut existing = abs.as_path();
    let mut rest: Vec<Component<'_>> = Vec::new();
    let base = loop {
        match existing.canonicalize() {
            Ok(c) => break c,
            Err(e) => {
                let (Some(parent), Some(last)) =
                    (existing.parent(), existing.components().next_back())
                else {
                    return Err(StorageError::io("resolving", path, e));
                };
                rest.push(last);
                existing = parent;
            }
        }
    };
    let mut out = base;
    for c in rest.into_iter().rev() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_dir_inside_the_workspace_is_refused_whatever_its_spelling() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().canonicalize().unwrap();
        let ws = base.join("ws");
        std::fs::create_dir_all(ws.join("sub")).unwrap();
        std::os::unix::fs::symlink(ws.join("sub"), base.join("link")).unwrap();
        for inside in [
            ws.clone(),
            ws.join("state"),
            ws.join("sub/../state"),
            base.join("elsewhere/../ws/new/deeper"),
            base.join("link/state"),
            ws.join("./sub/./x"),
        ] {
            let err = Layout::state_dir(&inside, &ws).unwrap_err();
            assert!(
                matches!(err, StorageError::StateDirInWorkspace { .. }),
                "{inside:?}: {err}"
            );
            assert!(err.to_string().contains("outside the"), "{err}");
        }
        assert!(!ws.join("state").exists() && !ws.join("new").exists());
    }

    #[test]
    fn a_state_dir_outside_is_created_and_holds_jobs_directly() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().canonicalize().unwrap();
        let ws = base.join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        let layout = Layout::state_dir(&base.join("state/./x/../y"), &ws).unwrap();
        assert_eq!(layout.root(), base.join("state/y"));
        assert!(layout.root().is_dir());
        assert_eq!(
            layout.job_file("j1").unwrap(),
            base.join("state/y/jobs/j1/job.json")
        );
        // A sibling whose name merely starts like the workspace is outside it.
        assert!(Layout::state_dir(&base.join("ws-state"), &ws).is_ok());
        // The workspace inside the state folder overlaps too.
        assert!(matches!(
            Layout::state_dir(&base, &ws),
            Err(StorageError::StateDirInWorkspace { .. })
        ));
    }
}
