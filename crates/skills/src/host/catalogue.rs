//! The one tool catalogue an Expert sees: every skill's tools after pick/omit, with each
//! name unique (a collision is a startup error, never silent shadowing).

use indexmap::IndexMap;
use perstack_core::ToolDefinition;

use crate::error::SkillError;

/// What calling a catalogue tool does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolKind {
    /// Served by an MCP skill (the built-in base skill, a stdio or a remote skill).
    Mcp,
    /// Answered by the application: the run stops.
    Interactive,
    /// Runs the delegate Expert with this key.
    Delegate {
        /// The delegate's expert key.
        expert_key: String,
    },
}

/// One tool of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueEntry {
    /// The tool as offered to the model (its `skill_name` names the skill serving it).
    pub definition: ToolDefinition,
    /// What a call does.
    pub kind: ToolKind,
}

/// Tools by name, in skill declaration order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalogue {
    entries: IndexMap<String, CatalogueEntry>,
}

impl Catalogue {
    /// Adds a tool; a name already present is a [`SkillError::ToolCollision`].
    pub fn insert(&mut self, entry: CatalogueEntry) -> Result<(), SkillError> {
        let name = entry.definition.name.clone();
        if let Some(first) = self.entries.get(&name) {
            return Err(SkillError::ToolCollision {
                tool: name,
                first: origin(first),
                second: origin(&entry),
            });
        }
        self.entries.insert(name, entry);
        Ok(())
    }

    /// Removes every tool of `skill_name`.
    pub fn remove_skill(&mut self, skill_name: &str) {
        self.entries
            .retain(|_, e| e.definition.skill_name != skill_name);
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&CatalogueEntry> {
        self.entries.get(name)
    }

    /// Every tool, in order.
    pub fn entries(&self) -> impl Iterator<Item = &CatalogueEntry> {
        self.entries.values()
    }

    /// Every tool definition, in order (what goes to the LLM).
    pub fn definitions(&self) -> Vec<ToolDefinition> {
        self.entries
            .values()
            .map(|e| e.definition.clone())
            .collect()
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no tools.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn origin(entry: &CatalogueEntry) -> String {
    match &entry.kind {
        ToolKind::Mcp | ToolKind::Interactive => {
            format!("skill \"{}\"", entry.definition.skill_name)
        }
        ToolKind::Delegate { expert_key } => format!("delegate \"{expert_key}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn entry(skill: &str, name: &str, kind: ToolKind) -> CatalogueEntry {
        CatalogueEntry {
            definition: ToolDefinition {
                skill_name: skill.into(),
                name: name.into(),
                description: None,
                input_schema: json!({"type": "object"}).into(),
            },
            kind,
        }
    }

    #[test]
    fn collisions_name_both_sides() {
        let mut c = Catalogue::default();
        c.insert(entry("a", "search", ToolKind::Mcp)).unwrap();
        let err = c
            .insert(entry(
                "team/search",
                "search",
                ToolKind::Delegate {
                    expert_key: "team/search".into(),
                },
            ))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "tool \"search\" is offered by both skill \"a\" and delegate \"team/search\"; add omit = [\"search\"] to one of them"
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c.get("search").unwrap().definition.skill_name, "a");
    }
}
