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
pub(crate) mod convert;
mod elicitation;
mod events;
mod forwarder;
mod groups;
mod lazy;
mod oauth;
mod options;
mod plan;
mod ready;
mod remote;
mod start;
mod stdio;
mod tasks;

use std::sync::Arc;

use indexmap::IndexMap;
use perstack_core::config::ExpertConfig;

pub use call::{CallOutcome, DelegateCall, ToolOutput};
pub use catalogue::{Catalogue, CatalogueEntry, ToolKind};
pub use convert::without_nulls;
pub use elicitation::{ElicitationAnswer, ElicitationHandler, KnownAnswer, with_defaults};
pub use events::{ChannelSink, NoEvents, SkillEventSink};
pub use groups::kill_all_skill_processes;
pub use oauth::{AuthorizationAgent, MAX_AUTHORIZATIONS, OAuthSettings};
pub use options::{
    DEFAULT_CALL_TIMEOUT, DEFAULT_SHUTDOWN_GRACE, DEFAULT_STARTUP_TIMEOUT, HostOptions,
    MAX_STDERR_LINE,
};
pub use plan::{Launch, PlannedSkill, SkillRule, ToolFilter, is_base_skill, plan};
pub use ready::{LockMismatch, ReadyReport};

use crate::error::SkillError;
use lazy::{Pending, StartTask};
use perstack_core::ToolDefinition;
use ready::locked_tools_of;
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
        let mut planned = plan(expert, experts)?;
        if !options.interactive_skills {
            planned.retain(|p| !matches!(p, PlannedSkill::Interactive { .. }));
        }
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
            oauth,
        } => Some(tokio::spawn(async move {
            let remote = remote::RemoteSpec {
                name,
                endpoint,
                filter,
                allowed_domains,
                oauth,
            };
            remote::start_remote(remote, &options, events).await
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
