//! Structural validation: the TOML (as JSON) checked against the JSON Schema that `schemars`
//! generates from the typed model, so the published schema and the validator cannot drift.
//!
//! Only the schema features that `schemars` emits for our model are interpreted: `$ref`,
//! `type`, `properties`/`required`/`additionalProperties`, `items`, `const`/`enum`,
//! `oneOf`/`anyOf` (internally tagged enums dispatch on `type`), and integer bounds.

use serde_json::{Map, Value};

use super::diagnostic::{Diagnostic, KeyPath, Severity, did_you_mean};
use super::repair::{Repair, stand_in};
use super::source::SourceMap;

/// Alternative spellings accepted for a tagged union's `type` (alias → canonical).
const TYPE_ALIASES: &[(&str, &str)] = &[("mcpHttpSkill", "mcpSseSkill")];

/// What the structural check found.
pub(crate) struct Checked {
    /// Every structural problem.
    pub diags: Vec<Diagnostic>,
    /// Repairs that make the value deserialize, one per problem.
    pub repairs: Vec<Repair>,
}

/// Checks `value` against `schema`, returning every structural problem found.
pub(crate) fn check(schema: &Value, value: &Value, map: &SourceMap) -> Checked {
    let mut checker = Checker {
        root: schema,
        map,
        out: Vec::new(),
        repairs: Vec::new(),
    };
    checker.check(schema, value, &KeyPath::root());
    Checked {
        diags: checker.out,
        repairs: checker.repairs,
    }
}

struct Checker<'a> {
    root: &'a Value,
    map: &'a SourceMap,
    out: Vec<Diagnostic>,
    repairs: Vec<Repair>,
}

fn toml_type(v: &Value) -> &'static str {
    match v {
        // TOML has no null: the source converter maps `nan` and `inf` to it.
        Value::Null => "non-finite float (nan or inf)",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "float",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "table",
    }
}

fn article(t: &str) -> String {
    match t {
        "integer" | "array" => format!("an {t}"),
        _ => format!("a {t}"),
    }
}

fn json_type_to_toml(t: &str) -> &str {
    match t {
        "object" => "table",
        "number" => "number",
        other => other,
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        // "null" and anything unknown: TOML has no null.
        _ => false,
    }
}

impl<'a> Checker<'a> {
    fn resolve(&self, mut schema: &'a Value) -> &'a Value {
        // Bounded so a self-referential schema cannot loop.
        for _ in 0..16 {
            let Some(r) = schema.get("$ref").and_then(Value::as_str) else {
                return schema;
            };
            let target = r.strip_prefix('#').and_then(|ptr| self.root.pointer(ptr));
            match target {
                Some(t) => schema = t,
                None => return schema,
            }
        }
        schema
    }

    /// An error at the value of `path`; the value is dropped for the semantic checks.
    fn error_at_value(&mut self, path: &KeyPath, message: String) {
        self.out
            .push(self.map.diag_at_value(Severity::Error, path, message));
        self.repairs.push(Repair::Remove(path.clone()));
    }

    fn check(&mut self, schema: &'a Value, value: &Value, path: &KeyPath) {
        let schema = self.resolve(schema);
        let obj = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                self.error_at_value(path, "no value is allowed here".to_string());
                return;
            }
            Value::Object(o) => o,
            Value::Null | Value::Number(_) | Value::String(_) | Value::Array(_) => return,
        };
        if let Some(branches) = obj
            .get("oneOf")
            .or_else(|| obj.get("anyOf"))
            .and_then(Value::as_array)
        {
            self.check_union(branches, value, path);
            return;
        }
        if let Some(expected) = obj.get("const") {
            if expected != value {
                self.error_at_value(path, format!("expected {expected}, found {value}"));
            }
            return;
        }
        if let Some(options) = obj.get("enum").and_then(Value::as_array) {
            if !options.contains(value) {
                self.enum_error(options, value, path);
            }
            return;
        }
        if let Some(types) = obj.get("type") {
            let types: Vec<&str> = match types {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                Value::Null | Value::Bool(_) | Value::Number(_) | Value::Object(_) => vec![],
            };
            // TOML has no null, so a `null`-only branch (an absent Option) never matches.
            if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
                let wanted: Vec<String> = types
                    .iter()
                    .filter(|t| **t != "null")
                    .map(|t| article(json_type_to_toml(t)))
                    .collect();
                self.error_at_value(
                    path,
                    format!(
                        "expected {}, found {}",
                        wanted.join(" or "),
                        article(toml_type(value))
                    ),
                );
                return;
            }
        }
        match value {
            Value::Object(table) => self.check_table(obj, table, path),
            Value::Array(items) => {
                if let Some(item_schema) = obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &path.index(i));
                    }
                }
            }
            Value::Number(n) => self.check_bounds(obj, n, path),
            Value::Null | Value::Bool(_) | Value::String(_) => {}
        }
    }

    fn check_bounds(&mut self, obj: &Map<String, Value>, n: &serde_json::Number, path: &KeyPath) {
        let Some(v) = n.as_f64() else { return };
        let format_max = match obj.get("format").and_then(Value::as_str) {
            Some("uint8") => Some(f64::from(u8::MAX)),
            Some("uint16") => Some(f64::from(u16::MAX)),
            Some("uint32") => Some(f64::from(u32::MAX)),
            _ => None,
        };
        if let Some(min) = obj.get("minimum").and_then(Value::as_f64)
            && v < min
        {
            self.error_at_value(path, format!("must be at least {min}, found {n}"));
        }
        let max = obj.get("maximum").and_then(Value::as_f64).or(format_max);
        if let Some(max) = max
            && v > max
        {
            self.error_at_value(path, format!("must be at most {max}, found {n}"));
        }
    }

    fn check_table(
        &mut self,
        obj: &'a Map<String, Value>,
        table: &Map<String, Value>,
        path: &KeyPath,
    ) {
        let props = obj.get("properties").and_then(Value::as_object);
        let additional = obj.get("additionalProperties");
        let known: Vec<&str> = props
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        // A misspelt required key is reported once, as the unknown key with its suggestion.
        let suggested: Vec<&str> = table
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .filter_map(|k| did_you_mean(k, &known))
            .collect();
        if let Some(required) = obj.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if table.contains_key(key) {
                    continue;
                }
                if !suggested.contains(&key) {
                    let d = self.map.diag_at_key(
                        Severity::Error,
                        path,
                        path,
                        format!("missing required key \"{key}\""),
                    );
                    self.out.push(d);
                }
                let prop = props.and_then(|p| p.get(key)).map(|p| self.resolve(p));
                self.repairs.push(match prop.and_then(stand_in) {
                    Some(v) => Repair::StandIn(path.field(key), v),
                    None => Repair::Remove(path.clone()),
                });
            }
        }
        for (key, v) in table {
            if let Some(prop) = props.and_then(|p| p.get(key)) {
                self.check(prop, v, &path.field(key));
                continue;
            }
            match additional {
                Some(Value::Bool(false)) => {
                    let hint = match did_you_mean(key, &known) {
                        Some(s) => format!(" (did you mean \"{s}\"?)"),
                        None => format!("; allowed keys: {}", known.join(", ")),
                    };
                    let d = self.map.diag_at_key(
                        Severity::Error,
                        path,
                        &path.key(key),
                        format!("unknown key \"{key}\"{hint}"),
                    );
                    self.out.push(d);
                    self.repairs.push(Repair::Remove(path.key(key)));
                }
                Some(s @ Value::Object(_)) => self.check(s, v, &path.key(key)),
                Some(Value::Bool(true)) | None => {}
                Some(Value::Null | Value::Number(_) | Value::String(_) | Value::Array(_)) => {}
            }
        }
    }

    fn enum_error(&mut self, options: &[Value], value: &Value, path: &KeyPath) {
        let names: Vec<&str> = options.iter().filter_map(Value::as_str).collect();
        let hint = value
            .as_str()
            .and_then(|s| did_you_mean(s, &names))
            .map(|s| format!(" (did you mean \"{s}\"?)"))
            .unwrap_or_default();
        let list: Vec<String> = options.iter().map(Value::to_string).collect();
        self.error_at_value(
            path,
            format!("expected one of {}, found {value}{hint}", list.join(", ")),
        );
    }

    /// The `type` constant of a tagged-union branch, if the branch is one.
    fn branch_tag(&self, branch: &'a Value) -> Option<&'a str> {
        self.resolve(branch)
            .pointer("/properties/type/const")
            .and_then(Value::as_str)
    }

    fn check_union(&mut self, branches: &'a [Value], value: &Value, path: &KeyPath) {
        let tags: Vec<Option<&str>> = branches.iter().map(|b| self.branch_tag(b)).collect();
        if !tags.is_empty() && tags.iter().all(Option::is_some) {
            let tags: Vec<&str> = tags.into_iter().flatten().collect();
            self.check_tagged(branches, &tags, value, path);
            return;
        }
        // A union of constants is an enum with documented variants.
        let consts: Option<Vec<Value>> = branches
            .iter()
            .map(|b| self.resolve(b).get("const").cloned())
            .collect();
        if let Some(consts) = consts {
            if !consts.contains(value) {
                self.enum_error(&consts, value, path);
            }
            return;
        }
        // Untagged: the first branch that accepts the value wins.
        let mut attempts = Vec::new();
        for b in branches {
            let mut sub = Checker {
                root: self.root,
                map: self.map,
                out: Vec::new(),
                repairs: Vec::new(),
            };
            sub.check(b, value, path);
            if sub.out.is_empty() {
                return;
            }
            attempts.push((b, sub.out, sub.repairs));
        }
        // If exactly one branch has the value's type, its errors are the precise ones.
        let same_type: Vec<usize> = branches
            .iter()
            .enumerate()
            .filter(|(_, b)| self.accepts_type(b, value))
            .map(|(i, _)| i)
            .collect();
        if let [only] = same_type.as_slice()
            && let Some((_, errs, repairs)) = attempts.get_mut(*only)
        {
            self.out.append(errs);
            self.repairs.append(repairs);
            return;
        }
        let descs: Vec<String> = branches.iter().filter_map(|b| self.describe(b)).collect();
        self.error_at_value(
            path,
            format!(
                "expected {}, found {}",
                descs.join(" or "),
                article(toml_type(value))
            ),
        );
    }

    fn accepts_type(&self, branch: &'a Value, value: &Value) -> bool {
        let b = self.resolve(branch);
        if let Some(c) = b.get("const") {
            return toml_type(c) == toml_type(value);
        }
        if let Some(sub) = b
            .get("oneOf")
            .or_else(|| b.get("anyOf"))
            .and_then(Value::as_array)
        {
            return sub.iter().any(|s| self.accepts_type(s, value));
        }
        match b.get("type") {
            Some(Value::String(t)) => type_matches(t, value),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .any(|t| type_matches(t, value)),
            Some(Value::Null | Value::Bool(_) | Value::Number(_) | Value::Object(_)) | None => b
                .get("enum")
                .and_then(Value::as_array)
                .is_some_and(|e| e.iter().any(|o| toml_type(o) == toml_type(value))),
        }
    }

    fn describe(&self, branch: &'a Value) -> Option<String> {
        let b = self.resolve(branch);
        if b.get("type").and_then(Value::as_str) == Some("null") {
            return None;
        }
        if let Some(c) = b.get("const") {
            return Some(c.to_string());
        }
        if let Some(opts) = b.get("enum").and_then(Value::as_array) {
            let list: Vec<String> = opts.iter().map(Value::to_string).collect();
            return Some(format!("one of {}", list.join(", ")));
        }
        if let Some(sub) = b
            .get("oneOf")
            .or_else(|| b.get("anyOf"))
            .and_then(Value::as_array)
        {
            let all_consts = sub.iter().all(|s| self.resolve(s).get("const").is_some());
            let descs: Vec<String> = sub.iter().filter_map(|s| self.describe(s)).collect();
            return Some(if all_consts {
                format!("one of {}", descs.join(", "))
            } else {
                descs.join(" or ")
            });
        }
        let t = b.get("type").and_then(Value::as_str)?;
        if t == "integer" && b.get("minimum").and_then(Value::as_f64) == Some(0.0) {
            return Some("a non-negative integer".to_string());
        }
        Some(article(json_type_to_toml(t)))
    }

    fn check_tagged(
        &mut self,
        branches: &'a [Value],
        tags: &[&str],
        value: &Value,
        path: &KeyPath,
    ) {
        let Some(table) = value.as_object() else {
            self.error_at_value(
                path,
                format!("expected a table, found {}", article(toml_type(value))),
            );
            return;
        };
        let quoted: Vec<String> = tags.iter().map(|t| format!("\"{t}\"")).collect();
        let Some(tag_value) = table.get("type") else {
            let d = self.map.diag_at_key(
                Severity::Error,
                path,
                path,
                format!(
                    "missing required key \"type\" (one of {})",
                    quoted.join(", ")
                ),
            );
            self.out.push(d);
            // Without a usable `type` the whole table is dropped for the semantic checks.
            self.repairs.push(Repair::Remove(path.clone()));
            return;
        };
        let Some(tag) = tag_value.as_str() else {
            self.error_at_value(
                &path.field("type"),
                format!("expected a string, found {}", article(toml_type(tag_value))),
            );
            self.repairs.push(Repair::Remove(path.clone()));
            return;
        };
        let canonical = TYPE_ALIASES
            .iter()
            .find(|(alias, _)| *alias == tag)
            .map_or(tag, |(_, c)| *c);
        match tags.iter().position(|t| *t == canonical) {
            Some(i) => {
                if let Some(branch) = branches.get(i) {
                    let mut normalized = table.clone();
                    normalized.insert("type".to_string(), Value::String(canonical.to_string()));
                    self.check(branch, &Value::Object(normalized), path);
                }
            }
            None => {
                let hint = did_you_mean(tag, tags)
                    .map(|s| format!(" (did you mean \"{s}\"?)"))
                    .unwrap_or_default();
                self.error_at_value(
                    &path.field("type"),
                    format!(
                        "unknown type \"{tag}\"{hint}; expected one of {}",
                        quoted.join(", ")
                    ),
                );
                self.repairs.push(Repair::Remove(path.clone()));
            }
        }
    }
}
