//! Background skills joining the catalogue: `lazyInit` skills, and skills started from
//! `perstack.lock` (whose live tools are checked against the locked ones).

use perstack_core::ToolDefinition;

use super::SkillHost;
use super::catalogue::{CatalogueEntry, ToolKind};
use super::convert::without_nulls;
use super::lazy::Pending;
use super::plan::PlannedSkill;
use super::start::Started;
use crate::error::SkillError;

/// What [`SkillHost::poll_ready`] / [`SkillHost::ready`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadyReport {
    /// Skills whose tools joined (or replaced their locked tools in) the catalogue.
    pub added: Vec<String>,
    /// Skills whose live tools differ from `perstack.lock`; the live ones now apply.
    pub mismatches: Vec<LockMismatch>,
}

/// A skill whose live tool definitions differ from the lockfile's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockMismatch {
    /// The skill.
    pub skill_name: String,
    /// Tools the server has that the lockfile lacks.
    pub added: Vec<String>,
    /// Tools the lockfile has that the server lacks.
    pub removed: Vec<String>,
    /// Tools whose description or input schema changed.
    pub changed: Vec<String>,
}

impl SkillHost {
    /// Names of the skills still starting in the background.
    pub fn pending_skills(&self) -> Vec<&str> {
        self.lazy.iter().map(Pending::name).collect()
    }

    /// Adds the tools of every background skill that has finished starting, without
    /// waiting (call it between steps). A skill that failed to start, or whose tools
    /// collide with the catalogue, is dropped (and stopped), its locked tools removed, and
    /// its error returned after the others are merged.
    pub async fn poll_ready(&mut self) -> Result<ReadyReport, SkillError> {
        self.merge_lazy(false).await
    }

    /// Waits for every background skill and merges it (see [`SkillHost::poll_ready`]).
    pub async fn ready(&mut self) -> Result<ReadyReport, SkillError> {
        self.merge_lazy(true).await
    }

    async fn merge_lazy(&mut self, wait: bool) -> Result<ReadyReport, SkillError> {
        let mut report = ReadyReport::default();
        let mut first_error = None;
        let mut still = Vec::new();
        for p in std::mem::take(&mut self.lazy) {
            if !wait && !p.is_done() {
                still.push(p);
                continue;
            }
            p.wait().await;
            let name = p.name().to_string();
            let locked = p.locked.clone();
            let result = match p.into_started() {
                Some(r) => r,
                None => Err(SkillError::Startup {
                    skill: name.clone(),
                    reason: "its start was abandoned".into(),
                }),
            };
            if locked.is_some() {
                self.catalogue.remove_skill(&name);
            }
            match result.and_then(|s| self.admit(s)) {
                Ok(live) => {
                    if let Some(m) = locked.and_then(|l| mismatch(&name, &l, &live)) {
                        tracing::warn!(skill = %name, ?m, "live tools differ from perstack.lock; the live ones apply");
                        report.mismatches.push(m);
                    }
                    report.added.push(name);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.lazy = still;
        match first_error {
            None => Ok(report),
            Some(e) => Err(e),
        }
    }

    /// Adds a started skill's tools, all or none; returns them.
    fn admit(&mut self, started: Started) -> Result<Vec<ToolDefinition>, SkillError> {
        let mut trial = self.catalogue.clone();
        let mut result = Ok(());
        for definition in started.tools.iter().cloned() {
            result = trial.insert(CatalogueEntry {
                definition,
                kind: ToolKind::Mcp,
            });
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(()) => {
                self.catalogue = trial;
                self.skills.push(started.skill);
                Ok(started.tools)
            }
            Err(e) => {
                let grace = self.options.shutdown_grace;
                tokio::spawn(started.skill.shutdown(grace));
                Err(e)
            }
        }
    }
}

/// The locked definitions of a stdio or remote skill, its pick/omit applied; `None` when
/// the lockfile has none for it.
pub(crate) fn locked_tools_of(
    p: &PlannedSkill,
    locked: &[ToolDefinition],
) -> Option<Vec<ToolDefinition>> {
    let (name, filter) = match p {
        PlannedSkill::Stdio { name, filter, .. } | PlannedSkill::Remote { name, filter, .. } => {
            (name, filter)
        }
        PlannedSkill::Base { .. }
        | PlannedSkill::Interactive { .. }
        | PlannedSkill::Delegate { .. } => return None,
    };
    let tools: Vec<ToolDefinition> = locked
        .iter()
        .filter(|t| &t.skill_name == name && filter.keeps(&t.name))
        .cloned()
        .collect();
    (!tools.is_empty()).then_some(tools)
}

/// How the live tools differ from the locked ones, if they do.
fn mismatch(
    skill: &str,
    locked: &[ToolDefinition],
    live: &[ToolDefinition],
) -> Option<LockMismatch> {
    let find = |set: &[ToolDefinition], name: &str| set.iter().find(|t| t.name == name).cloned();
    let added: Vec<String> = live
        .iter()
        .filter(|t| find(locked, &t.name).is_none())
        .map(|t| t.name.clone())
        .collect();
    let removed: Vec<String> = locked
        .iter()
        .filter(|t| find(live, &t.name).is_none())
        .map(|t| t.name.clone())
        .collect();
    let changed: Vec<String> = live
        .iter()
        .filter(|t| {
            find(locked, &t.name).is_some_and(|l| {
                l.description != t.description
                    || without_nulls(&l.input_schema) != without_nulls(&t.input_schema)
            })
        })
        .map(|t| t.name.clone())
        .collect();
    (!(added.is_empty() && removed.is_empty() && changed.is_empty())).then(|| LockMismatch {
        skill_name: skill.to_string(),
        added,
        removed,
        changed,
    })
}
