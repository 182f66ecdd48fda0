//! Repairs: how a value with structural problems becomes one the typed model accepts, so
//! the semantic checks still run and every problem of a file is reported in one pass.

use serde_json::{Map, Value};

use super::diagnostic::{KeyPath, Seg};

/// One repair, recorded with the structural problem it answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Repair {
    /// Drop the value at this path (a wrong value, an unknown key).
    Remove(KeyPath),
    /// Put a stand-in at this path (a missing required key); problems found inside it are
    /// not reported, since the missing key is.
    StandIn(KeyPath, Value),
}

/// Applies `repairs` to `value`. Paths whose last step is an array index drop the whole
/// array, so the indices of the items that remain (and their diagnostics) stay right.
pub(crate) fn apply(value: &mut Value, repairs: &[Repair]) {
    for r in repairs {
        match r {
            Repair::Remove(path) => {
                let path = match path.0.last() {
                    Some(Seg::Index(_)) => array_owner(path),
                    Some(Seg::Field(_) | Seg::Key(_)) | None => path.clone(),
                };
                let Some((last, parent)) = path.0.split_last() else {
                    continue;
                };
                if let (Some(Value::Object(t)), Seg::Field(k) | Seg::Key(k)) =
                    (lookup_mut(value, parent), last)
                {
                    t.remove(k);
                }
            }
            Repair::StandIn(path, stand_in) => {
                let Some((last, parent)) = path.0.split_last() else {
                    continue;
                };
                if let (Some(Value::Object(t)), Seg::Field(k) | Seg::Key(k)) =
                    (lookup_mut(value, parent), last)
                {
                    t.entry(k.clone()).or_insert_with(|| stand_in.clone());
                }
            }
        }
    }
}

/// The path of the array that holds the item at `path` (the nearest non-index ancestor).
fn array_owner(path: &KeyPath) -> KeyPath {
    let mut p = path.clone();
    while matches!(p.0.last(), Some(Seg::Index(_))) {
        p = p.parent();
    }
    p
}

fn lookup_mut<'v>(value: &'v mut Value, path: &[Seg]) -> Option<&'v mut Value> {
    let mut cur = value;
    for seg in path {
        cur = match seg {
            Seg::Field(k) | Seg::Key(k) => cur.as_object_mut()?.get_mut(k)?,
            Seg::Index(i) => cur.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(cur)
}

/// A stand-in for a missing required value of a plain type, or `None`.
pub(crate) fn stand_in(schema: &Value) -> Option<Value> {
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    match types.into_iter().find(|t| *t != "null")? {
        "string" => Some(Value::String(String::new())),
        "object" => Some(Value::Object(Map::new())),
        "array" => Some(Value::Array(Vec::new())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn removals_drop_values_and_whole_arrays_and_stand_ins_fill_gaps() {
        let mut v = json!({
            "maxSteps": "ten",
            "experts": {"w": {"tags": ["ok", 3, "fine"], "skills": {"s": {"x": 1}}}},
        });
        let experts = KeyPath::root().field("experts").key("w");
        apply(
            &mut v,
            &[
                Repair::Remove(KeyPath::root().field("maxSteps")),
                Repair::Remove(experts.field("tags").index(1)),
                Repair::Remove(experts.field("skills").key("s").key("x")),
                Repair::StandIn(experts.field("instruction"), json!("")),
                // A stand-in never replaces a value that is there.
                Repair::StandIn(experts.field("skills"), json!({})),
                Repair::Remove(KeyPath::root().field("absent").key("deeper")),
            ],
        );
        assert_eq!(
            v,
            json!({"experts": {"w": {"skills": {"s": {}}, "instruction": ""}}})
        );
    }

    #[test]
    fn stand_ins_only_for_plain_types() {
        assert_eq!(stand_in(&json!({"type": "string"})), Some(json!("")));
        assert_eq!(
            stand_in(&json!({"type": ["object", "null"]})),
            Some(json!({}))
        );
        assert_eq!(stand_in(&json!({"type": "array"})), Some(json!([])));
        assert_eq!(stand_in(&json!({"type": "integer"})), None);
        assert_eq!(stand_in(&json!({"enum": ["a"]})), None);
    }
}
