//! The skill host: starts every skill an Expert declares and gives the runtime one tool
//! catalogue and one way to call a tool.
//!
//! - No `skills` table, or a skill named `@perstack/base` (as Perstack configs declare it
//!   with `npx`): the built-in base skill, in-process, pick/omit applied. No npx is run.
//! - `mcpStdioSkill`: a child process (`command` + `args`, or `npx -y <packageName>` /
//!   `<command> <packageName>`), with the sandbox's environment policy and confinement.
//! - `interactiveSkill`: tools whose calls stop the run for the application.
//! - `delegates`: each delegate Expert as a tool named after the last segment of its key.
//!
//! Tool names are unique across skills; a collision is a startup error.
//!
//! A `lazyInit` stdio skill starts in the background: [`SkillHost::start`] does not wait
//! for it, and its tools join the catalogue when [`SkillHost::poll_ready`] or
//! [`SkillHost::ready`] sees it connected (call one of them between steps).

mod call;
mod catalogue;
mod client;
mod convert;
mod events;
mod lazy;
mod options;
mod plan;
mod remote;
mod start;
mod stdio;

use std::sync::Arc;

use indexmap::IndexMap;
use perstack_core::config::ExpertConfig;

pub use call::{CallOutcome, DelegateCall, ToolOutput};
pub use catalogue::{Catalogue, CatalogueEntry, ToolKind};
pub use convert::without_nulls;
pub use events::{ChannelSink, NoEvents, SkillEventSink};
pub use options::{
    DEFAULT_CALL_TIMEOUT, DEFAULT_SHUTDOWN_GRACE, DEFAULT_STARTUP_TIMEOUT, HostOptions,
    MAX_STDERR_LINE,
};
pub use plan::{Launch, PlannedSkill, SkillRule, ToolFilter, is_base_skill, plan};
pub use start::BUILT_IN_COMMAND;

use crate::error::SkillError;
use lazy::{Pending, StartTask};
use perstack_core::ToolDefinition;
use start::{McpSkill, Started};

/// Every skill of one Expert, started, and their tool catalogue.
#[derive(Debug)]
pub struct SkillHost {
    pub(crate) skills: Vec<McpSkill>,
    /// Skills still starting (`lazyInit`, or locked), in declaration order.
    pub(crate) lazy: Vec<Pending>,
    catalogue: Catalogue,
    rules: Vec<SkillRule>,
    options: HostOptions,
}

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
    /// Starts every skill of `expert` (concurrently) and builds the catalogue. `experts` is
    /// the config's experts map, where delegates are looked up. Lifecycle events go to
    /// `events`. If any skill fails to start, or two skills offer the same tool name, the
    /// skills already started are shut down and the error is returned.
    pub async fn start(
        expert: &ExpertConfig,
        experts: &IndexMap<String, ExpertConfig>,
        options: HostOptions,
        events: Arc<dyn SkillEventSink>,
    ) -> Result<SkillHost, SkillError> {
        Self::start_locked(expert, experts, options, events, &[]).await
    }

    /// Like [`SkillHost::start`], with tool definitions from `perstack.lock`: a stdio or
    /// remote skill that has locked definitions starts in the background and its locked
    /// tools are in the catalogue at once (a call waits for the skill). When it is up,
    /// [`SkillHost::poll_ready`] checks the live tools against the locked ones; on a
    /// mismatch the live definitions replace them and the report says so.
    pub async fn start_locked(
        expert: &ExpertConfig,
        experts: &IndexMap<String, ExpertConfig>,
        options: HostOptions,
        events: Arc<dyn SkillEventSink>,
        locked: &[ToolDefinition],
    ) -> Result<SkillHost, SkillError> {
        let planned = plan(expert, experts)?;
        let rules = plan::rules(expert);
        let mut eager = Vec::new();
        let mut lazy = Vec::new();
        for p in planned {
            let locked_tools = locked_tools_of(&p, locked);
            if locked_tools.is_some() || is_lazy(&p) {
                if let Some(task) = spawn_start(&p, &options, &events) {
                    lazy.push(Pending::new(p, task, locked_tools));
                }
            } else {
                eager.push(p);
            }
        }
        let tasks: Vec<Option<StartTask>> = eager
            .iter()
            .map(|p| spawn_start(p, &options, &events))
            .collect();
        let mut started: Vec<Option<Started>> = Vec::with_capacity(tasks.len());
        let mut first_error: Option<SkillError> = None;
        for (p, task) in eager.iter().zip(tasks) {
            let Some(task) = task else {
                started.push(None);
                continue;
            };
            match task.await {
                Ok(Ok(s)) => started.push(Some(s)),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                    started.push(None);
                }
                Err(join) => {
                    first_error.get_or_insert(SkillError::Startup {
                        skill: p.name().to_string(),
                        reason: format!("its start task failed: {join}"),
                    });
                    started.push(None);
                }
            }
        }
        let mut catalogue = Catalogue::default();
        let mut skills = Vec::new();
        for (p, s) in eager.into_iter().zip(started) {
            if first_error.is_some() {
                if let Some(s) = s {
                    skills.push(s.skill);
                }
                continue;
            }
            if let Err(e) = add_to_catalogue(&mut catalogue, p, s, &mut skills) {
                first_error = Some(e);
            }
        }
        for p in &lazy {
            if first_error.is_some() {
                break;
            }
            for definition in p.locked.iter().flatten() {
                if let Err(e) = catalogue.insert(CatalogueEntry {
                    definition: definition.clone(),
                    kind: ToolKind::Mcp,
                }) {
                    first_error = Some(e);
                    break;
                }
            }
        }
        let host = SkillHost {
            skills,
            lazy,
            catalogue,
            rules,
            options,
        };
        match first_error {
            None => Ok(host),
            Some(e) => {
                host.shutdown().await;
                Err(e)
            }
        }
    }

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

    /// The tool catalogue.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Every tool definition, in order (what goes to the LLM).
    pub fn tool_definitions(&self) -> Vec<perstack_core::ToolDefinition> {
        self.catalogue.definitions()
    }

    /// The `rule` text of each skill that has one, for the system prompt.
    pub fn rules(&self) -> &[SkillRule] {
        &self.rules
    }

    /// Names of the running MCP skills (base and stdio), in declaration order.
    pub fn running_skills(&self) -> Vec<&str> {
        self.skills.iter().map(|s| s.name.as_str()).collect()
    }

    /// Closes every session and stops every child (SIGTERM, then SIGKILL after the grace
    /// period), all at once.
    pub async fn shutdown(self) {
        let grace = self.options.shutdown_grace;
        let mut skills = self.skills;
        for p in self.lazy {
            // Dropping a start in progress stops its child at once; a finished one is
            // shut down like the others.
            p.abort();
            if let Some(Ok(started)) = p.into_started() {
                skills.push(started.skill);
            }
        }
        let tasks: Vec<_> = skills
            .into_iter()
            .map(|s| tokio::spawn(s.shutdown(grace)))
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }
}

fn is_lazy(p: &PlannedSkill) -> bool {
    match p {
        PlannedSkill::Stdio { lazy_init, .. } => *lazy_init,
        PlannedSkill::Base { .. }
        | PlannedSkill::Remote { .. }
        | PlannedSkill::Interactive { .. }
        | PlannedSkill::Delegate { .. } => false,
    }
}

/// The locked definitions of a stdio or remote skill, its pick/omit applied; `None` when
/// the lockfile has none for it.
fn locked_tools_of(p: &PlannedSkill, locked: &[ToolDefinition]) -> Option<Vec<ToolDefinition>> {
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

/// Starts an MCP skill on its own task; `None` for skills that need no start.
fn spawn_start(
    p: &PlannedSkill,
    options: &HostOptions,
    events: &Arc<dyn SkillEventSink>,
) -> Option<StartTask> {
    let options = options.clone();
    let events = events.clone();
    match p.clone() {
        PlannedSkill::Base { name, filter } => Some(tokio::spawn(async move {
            start::start_base(name, filter, &options, events).await
        })),
        PlannedSkill::Stdio {
            name,
            launch,
            filter,
            required_env,
            allowed_domains,
            lazy_init: _,
        } => {
            // A skill that declares where it may connect declares network access; a
            // package runner must fetch the package.
            let network = allowed_domains.is_some() || launch.via_package;
            Some(tokio::spawn(async move {
                start::start_stdio(
                    name,
                    launch,
                    filter,
                    required_env,
                    network,
                    &options,
                    events,
                )
                .await
            }))
        }
        PlannedSkill::Remote {
            name,
            endpoint,
            filter,
            allowed_domains,
        } => Some(tokio::spawn(async move {
            remote::start_remote(name, endpoint, filter, allowed_domains, &options, events).await
        })),
        PlannedSkill::Interactive { .. } | PlannedSkill::Delegate { .. } => None,
    }
}

fn add_to_catalogue(
    catalogue: &mut Catalogue,
    p: PlannedSkill,
    started: Option<Started>,
    skills: &mut Vec<McpSkill>,
) -> Result<(), SkillError> {
    match p {
        PlannedSkill::Base { .. } | PlannedSkill::Stdio { .. } | PlannedSkill::Remote { .. } => {
            let Some(s) = started else {
                return Ok(());
            };
            skills.push(s.skill);
            for definition in s.tools {
                catalogue.insert(CatalogueEntry {
                    definition,
                    kind: ToolKind::Mcp,
                })?;
            }
        }
        PlannedSkill::Interactive { tools, .. } => {
            for definition in tools {
                catalogue.insert(CatalogueEntry {
                    definition,
                    kind: ToolKind::Interactive,
                })?;
            }
        }
        PlannedSkill::Delegate { expert_key, tool } => {
            catalogue.insert(CatalogueEntry {
                definition: tool,
                kind: ToolKind::Delegate { expert_key },
            })?;
        }
    }
    Ok(())
}
