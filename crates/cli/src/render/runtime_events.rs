//! Runtime events: what `initializeRuntime` says is kept for the run's header; skill
//! lifecycle lines appear only with `--verbose` (stored like every event, so replayed too).

use perstack_events::{ProxyAction, RuntimeEvent, RuntimeEventPayload};

use super::{Renderer, RunInit, text};

impl Renderer {
    pub(super) fn runtime_event(&mut self, e: &RuntimeEvent, out: &mut String) {
        let depth = self.runs.get(&e.run_id).map_or(0, |r| r.depth);
        let line = match &e.payload {
            RuntimeEventPayload::InitializeRuntime {
                model,
                max_steps,
                query,
                interactive_tool_call,
                ..
            } => {
                self.inits.insert(
                    e.run_id.clone(),
                    RunInit {
                        model: model.clone(),
                        query: query.clone(),
                        answer: interactive_tool_call.clone(),
                        max_steps: *max_steps,
                        timestamp: e.timestamp,
                    },
                );
                None
            }
            RuntimeEventPayload::SkillStarting {
                skill_name,
                command,
                args,
            } => Some(format!(
                "[skill] {skill_name} starting: {}",
                text::clip(&format!("{command} {}", args.join(" ")), 120)
            )),
            RuntimeEventPayload::SkillConnected {
                skill_name,
                server_info,
                total_duration_ms,
                ..
            } => {
                let who = server_info
                    .as_ref()
                    .map(|s| format!(" ({} {})", s.name, s.version))
                    .unwrap_or_default();
                let took = total_duration_ms
                    .map(|ms| format!(" in {}", text::duration(ms)))
                    .unwrap_or_default();
                Some(format!("[skill] {skill_name} connected{who}{took}"))
            }
            RuntimeEventPayload::SkillStderr {
                skill_name,
                message,
            } => Some(format!("[skill {skill_name}] {}", message.trim_end())),
            RuntimeEventPayload::SkillDisconnected { skill_name } => {
                Some(format!("[skill] {skill_name} stopped"))
            }
            RuntimeEventPayload::SkillLockMismatch {
                skill_name,
                added,
                removed,
                changed,
            } => Some(format!(
                "[skill] {skill_name} differs from perstack.lock (added {}, removed {}, changed {}); run `perstack install`",
                added.len(),
                removed.len(),
                changed.len()
            )),
            RuntimeEventPayload::SkillToolsNotOffered {
                skill_name,
                tools,
                reason,
            } => Some(format!(
                "[skill] {skill_name}: not offered: {} ({reason})",
                tools.join(", ")
            )),
            RuntimeEventPayload::ProxyAccess {
                action,
                domain,
                port,
                reason,
            } => Some(match action {
                ProxyAction::Allowed => format!("[proxy] allowed {domain}:{port}"),
                ProxyAction::Blocked => format!(
                    "[proxy] blocked {domain}:{port}{}",
                    reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            }),
        };
        if let Some(l) = line.filter(|_| self.verbose) {
            let l = self.style.dim(&l);
            self.line(out, depth, &l);
        }
    }
}
