//! Selecting recorded events: Perstack's `perstack log` filters.

use perstack_events::Event;
use serde_json::Value;

use crate::StorageError;

/// `--step`: `5`, `>5`, `>=5`, `<5`, `<=5`, `1-10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepFilter {
    /// Exactly n.
    Exact(u32),
    /// Greater than n.
    Gt(u32),
    /// Greater than or equal to n.
    Gte(u32),
    /// Less than n.
    Lt(u32),
    /// Less than or equal to n.
    Lte(u32),
    /// From min to max, inclusive.
    Range(u32, u32),
}

impl StepFilter {
    /// Parses Perstack's step filter syntax.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let num = |x: &str| {
            x.trim().parse::<u32>().map_err(|_| {
                format!("invalid step filter \"{s}\": use 5, >5, >=5, <5, <=5 or 1-10")
            })
        };
        if let Some((a, b)) = t.split_once('-') {
            let (min, max) = (num(a)?, num(b)?);
            if min > max {
                return Err(format!(
                    "invalid step range \"{s}\": {min} is greater than {max}"
                ));
            }
            return Ok(StepFilter::Range(min, max));
        }
        if let Some(r) = t.strip_prefix(">=") {
            return Ok(StepFilter::Gte(num(r)?));
        }
        if let Some(r) = t.strip_prefix("<=") {
            return Ok(StepFilter::Lte(num(r)?));
        }
        if let Some(r) = t.strip_prefix('>') {
            return Ok(StepFilter::Gt(num(r)?));
        }
        if let Some(r) = t.strip_prefix('<') {
            return Ok(StepFilter::Lt(num(r)?));
        }
        Ok(StepFilter::Exact(num(t)?))
    }

    /// Whether step `n` passes.
    pub fn matches(self, n: u32) -> bool {
        match self {
            StepFilter::Exact(v) => n == v,
            StepFilter::Gt(v) => n > v,
            StepFilter::Gte(v) => n >= v,
            StepFilter::Lt(v) => n < v,
            StepFilter::Lte(v) => n <= v,
            StepFilter::Range(a, b) => (a..=b).contains(&n),
        }
    }
}

/// Comparison of a `--filter` expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

/// `--filter '.field.path == value'` (`[]` in a path matches any array element).
#[derive(Debug, Clone, PartialEq)]
pub struct FilterExpr {
    path: Vec<String>,
    op: Op,
    value: Value,
}

impl FilterExpr {
    /// Parses Perstack's filter expression syntax.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad =
            || format!("invalid filter \"{s}\": write .field == value (ops: == != > >= < <=)");
        let t = s.trim();
        let rest = t.strip_prefix('.').ok_or_else(bad)?;
        let ops = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">=", Op::Ge),
            ("<=", Op::Le),
            (">", Op::Gt),
            ("<", Op::Lt),
        ];
        let (pos, tok, op) = ops
            .iter()
            .filter_map(|(tok, op)| rest.find(tok).map(|p| (p, *tok, *op)))
            .min_by_key(|(p, tok, _)| (*p, std::cmp::Reverse(tok.len())))
            .ok_or_else(bad)?;
        let field = rest.get(..pos).unwrap_or_default().trim();
        let raw = rest.get(pos + tok.len()..).unwrap_or_default().trim();
        if field.is_empty() || raw.is_empty() {
            return Err(bad());
        }
        let mut path = Vec::new();
        for part in field.split('.') {
            match part.strip_suffix("[]") {
                Some(name) => {
                    if !name.is_empty() {
                        path.push(name.to_string());
                    }
                    path.push("*".to_string());
                }
                None if part.is_empty() => return Err(bad()),
                None => path.push(part.to_string()),
            }
        }
        let value = match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ if raw.len() >= 2
                && ((raw.starts_with('"') && raw.ends_with('"'))
                    || (raw.starts_with('\'') && raw.ends_with('\''))) =>
            {
                Value::String(raw.get(1..raw.len() - 1).unwrap_or_default().to_string())
            }
            _ => raw
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| Value::String(raw.to_string()), Value::Number),
        };
        Ok(FilterExpr { path, op, value })
    }

    /// Whether the event (as JSON) satisfies the expression.
    pub fn matches(&self, event: &Value) -> bool {
        let mut found = Vec::new();
        collect(event, &self.path, &mut found);
        found.iter().any(|v| compare(v, self.op, &self.value))
    }
}

fn collect<'a>(v: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    let Some((head, rest)) = path.split_first() else {
        if let Value::Array(items) = v {
            out.extend(items.iter());
        } else {
            out.push(v);
        }
        return;
    };
    match (head.as_str(), v) {
        ("*", Value::Array(items)) => items.iter().for_each(|i| collect(i, rest, out)),
        (key, Value::Object(map)) => {
            if let Some(next) = map.get(key) {
                collect(next, rest, out);
            }
        }
        _ => {}
    }
}

fn compare(actual: &Value, op: Op, expected: &Value) -> bool {
    let ordering = match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match (op, ordering) {
        (Op::Eq, Some(o)) => o.is_eq(),
        (Op::Ne, Some(o)) => o.is_ne(),
        (Op::Ne, None) => true,
        (Op::Gt, Some(o)) => o.is_gt(),
        (Op::Ge, Some(o)) => o.is_ge(),
        (Op::Lt, Some(o)) => o.is_lt(),
        (Op::Le, Some(o)) => o.is_le(),
        (Op::Eq | Op::Gt | Op::Ge | Op::Lt | Op::Le, None) => false,
    }
}

/// Event types `--errors` selects.
pub const ERROR_TYPES: [&str; 2] = ["stopRunByError", "retry"];
/// Event types `--tools` selects.
pub const TOOL_TYPES: [&str; 3] = ["callTools", "resolveToolResults", "callInteractiveTool"];
/// Event types `--delegations` selects.
pub const DELEGATION_TYPES: [&str; 2] = ["callDelegate", "stopRunByDelegate"];

/// A selection of events (all criteria must hold; the category flags combine with "or").
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// `--step`.
    pub step: Option<StepFilter>,
    /// `--type`.
    pub event_type: Option<String>,
    /// `--errors`.
    pub errors: bool,
    /// `--tools`.
    pub tools: bool,
    /// `--delegations`.
    pub delegations: bool,
    /// `--filter`.
    pub filter: Option<FilterExpr>,
    /// `--offset`.
    pub offset: usize,
    /// `--take` (None: all).
    pub take: Option<usize>,
}

impl EventQuery {
    /// Applies the query, keeping order.
    pub fn apply(&self, events: Vec<Event>) -> Result<Vec<Event>, StorageError> {
        let mut categories: Vec<&str> = Vec::new();
        if self.errors {
            categories.extend(ERROR_TYPES);
        }
        if self.tools {
            categories.extend(TOOL_TYPES);
        }
        if self.delegations {
            categories.extend(DELEGATION_TYPES);
        }
        let selected = events.into_iter().filter(|e| {
            let ty = e.type_name();
            if !categories.is_empty() && !categories.contains(&ty) {
                return false;
            }
            if self.event_type.as_deref().is_some_and(|t| t != ty) {
                return false;
            }
            if let Some(step) = self.step {
                match e {
                    Event::Run(r) => {
                        if !step.matches(r.step_number) {
                            return false;
                        }
                    }
                    Event::Runtime(_) | Event::Unknown(_) => return false,
                }
            }
            match &self.filter {
                Some(f) => serde_json::to_value(e).is_ok_and(|v| f.matches(&v)),
                None => true,
            }
        });
        let skipped = selected.skip(self.offset);
        Ok(match self.take {
            Some(n) => skipped.take(n).collect(),
            None => skipped.collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn step_filters() {
        assert_eq!(StepFilter::parse("5"), Ok(StepFilter::Exact(5)));
        assert_eq!(StepFilter::parse(">5"), Ok(StepFilter::Gt(5)));
        assert_eq!(StepFilter::parse(">=5"), Ok(StepFilter::Gte(5)));
        assert_eq!(StepFilter::parse("<=2"), Ok(StepFilter::Lte(2)));
        assert_eq!(StepFilter::parse("1-10"), Ok(StepFilter::Range(1, 10)));
        assert!(StepFilter::parse("10-1").is_err());
        assert!(StepFilter::parse("abc").is_err());
        assert!(StepFilter::Range(1, 3).matches(3) && !StepFilter::Range(1, 3).matches(4));
    }

    #[test]
    fn filter_expressions() {
        let ev = json!({"type": "callTools", "stepNumber": 3,
            "toolCalls": [{"toolName": "exec"}, {"toolName": "readTextFile"}],
            "usage": {"totalTokens": 150}});
        let t = |s: &str| FilterExpr::parse(s).unwrap().matches(&ev);
        assert!(t(".type == \"callTools\""));
        assert!(t(".toolCalls[].toolName == 'exec'"));
        assert!(!t(".toolCalls[].toolName == deleteFile"));
        assert!(t(".usage.totalTokens >= 100"));
        assert!(t(".stepNumber < 4"));
        assert!(t(".stepNumber != 2"));
        assert!(!t(".missing == 1"));
        assert!(FilterExpr::parse("type == x").is_err());
        assert!(FilterExpr::parse(".type ==").is_err());
    }
}
