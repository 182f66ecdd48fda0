//! What one execution is asked to do: which Expert, which model, which limits, which input.

use std::time::Duration;

use indexmap::IndexMap;
use perstack_core::config::{ExpertConfig, PerstackConfig, ReasoningBudget};
use perstack_core::{Checkpoint, ModelPrice, PriceTable, id::new_id};
use serde::{Deserialize, Serialize};

use crate::approval::{Decision, ToolCallDecision};
use crate::error::RuntimeError;

/// The application's answer to an interactive tool call (`-i`), Perstack's
/// `interactiveToolCallResult`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InteractiveToolCallResult {
    /// The call being answered.
    pub tool_call_id: String,
    /// Its tool.
    pub tool_name: String,
    /// Its skill.
    pub skill_name: String,
    /// The answer.
    pub text: String,
    /// True when the answer reports a failure (ours, additive: a failed delegate's result
    /// travels to its parent this way; the model sees it as an error tool result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
}

/// The input of a run: a query, the answer to an interactive tool call, or decisions about
/// calls waiting for approval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunInput {
    /// The user's query (fresh runs and `--continue`).
    pub text: Option<String>,
    /// The answer to the pending interactive tool call (resume).
    pub interactive_tool_call_result: Option<InteractiveToolCallResult>,
    /// Decisions about the calls a `stoppedByApproval` checkpoint waits on (resume).
    pub decisions: Vec<ToolCallDecision>,
}

impl RunInput {
    /// A plain query.
    pub fn query(text: impl Into<String>) -> Self {
        RunInput {
            text: Some(text.into()),
            interactive_tool_call_result: None,
            decisions: Vec::new(),
        }
    }

    /// An answer to an interactive tool call.
    pub fn tool_result(result: InteractiveToolCallResult) -> Self {
        RunInput {
            text: None,
            interactive_tool_call_result: Some(result),
            decisions: Vec::new(),
        }
    }

    /// Approves the pending call `tool_call_id`: it runs on resume.
    pub fn approve(mut self, tool_call_id: impl Into<String>) -> Self {
        self.decisions.push(ToolCallDecision {
            tool_call_id: tool_call_id.into(),
            decision: Decision::Approve,
        });
        self
    }

    /// Denies the pending call `tool_call_id`: the model gets an error result with `reason`.
    pub fn deny(mut self, tool_call_id: impl Into<String>, reason: Option<String>) -> Self {
        self.decisions.push(ToolCallDecision {
            tool_call_id: tool_call_id.into(),
            decision: Decision::Deny { reason },
        });
        self
    }
}

/// Build and config facts reported in `initializeRuntime` so a run can be traced back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceInfo {
    /// Git revision of the runtime build.
    pub git_revision: Option<String>,
    /// SHA-256 of the config file.
    pub config_hash: Option<String>,
    /// SHA-256 of the lockfile.
    pub lockfile_hash: Option<String>,
    /// Where the runtime's HTTP requests go (`unix:///...` with `perstack proxy`).
    pub egress: Option<String>,
    /// The confinement layers probed at start.
    pub confinement: Option<perstack_events::ConfinementSummary>,
    /// The provider's endpoint and whether it is the official host.
    pub provider_endpoint: Option<perstack_events::ProviderEndpoint>,
}

/// Everything one execution needs besides its collaborators (Perstack's `RunSetting`).
#[derive(Debug, Clone, PartialEq)]
pub struct RunSetting {
    /// The job (new or continued).
    pub job_id: String,
    /// This run.
    pub run_id: String,
    /// The Expert to run.
    pub expert_key: String,
    /// Every Expert of the config (delegates are looked up here).
    pub experts: IndexMap<String, ExpertConfig>,
    /// Model id.
    pub model: String,
    /// Extended thinking budget.
    pub reasoning_budget: ReasoningBudget,
    /// Most tokens one generation may produce.
    pub max_output_tokens: u32,
    /// Step limit (`None`: unlimited).
    pub max_steps: Option<u32>,
    /// Generations retried after a failure before the run stops with an error.
    pub max_retries: u32,
    /// Time budget of one generation.
    pub timeout: Duration,
    /// First wait before a generation is retried by the runtime; doubles, capped at 8 s.
    pub retry_backoff: Duration,
    /// Token budget of the whole job (`--max-total-tokens`).
    pub max_total_tokens: Option<u64>,
    /// Cost budget of the whole job in USD (`--max-total-cost`), estimated with `prices`.
    pub max_total_cost: Option<f64>,
    /// Model prices for the cost budget: the built-in table with the config's overrides.
    pub prices: PriceTable,
    /// Wall-clock limit of one execution (delegates included).
    pub max_duration: Option<Duration>,
    /// The input.
    pub input: RunInput,
    /// The checkpoint to continue from (`--continue`, `--resume-from`), if any.
    pub checkpoint: Option<Checkpoint>,
    /// Start time, ms since the epoch (also the "current time" told to the model).
    pub started_at: u64,
    /// Build and config facts for `initializeRuntime`.
    pub trace: TraceInfo,
}

impl RunSetting {
    /// A fresh run of `expert_key` with `config`'s experts, limits and defaults.
    pub fn from_config(
        config: &PerstackConfig,
        expert_key: impl Into<String>,
        model: impl Into<String>,
        input: RunInput,
    ) -> Self {
        RunSetting {
            job_id: new_id(),
            run_id: new_id(),
            expert_key: expert_key.into(),
            experts: config.experts.clone(),
            model: model.into(),
            reasoning_budget: config.reasoning_budget(),
            max_output_tokens: 8192,
            max_steps: Some(config.max_steps()),
            max_retries: config.max_retries(),
            timeout: Duration::from_millis(config.timeout_ms()),
            retry_backoff: Duration::from_millis(500),
            max_total_tokens: None,
            max_total_cost: None,
            prices: PriceTable::from_config(config),
            max_duration: None,
            input,
            checkpoint: None,
            started_at: perstack_core::now_ms(),
            trace: TraceInfo::default(),
        }
    }

    /// The price the cost budget applies: `Ok(None)` without a cost budget; an error when
    /// the budget is not a non-negative number or the model has no price.
    pub fn cost_budget_price(&self) -> Result<Option<ModelPrice>, RuntimeError> {
        let Some(limit) = self.max_total_cost else {
            return Ok(None);
        };
        if !(limit.is_finite() && limit >= 0.0) {
            return Err(RuntimeError::InvalidInput(format!(
                "the cost budget must be a non-negative number of USD, got {limit}"
            )));
        }
        match self.prices.get(&self.model) {
            Some(price) => Ok(Some(*price)),
            None => Err(RuntimeError::UnknownModelPrice(self.model.clone())),
        }
    }

    /// The wait before retry number `retry` (1-based).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(16));
        self.retry_backoff
            .saturating_mul(factor)
            .min(Duration::from_secs(8))
    }
}
