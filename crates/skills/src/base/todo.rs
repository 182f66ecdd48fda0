//! `todo`, `clearTodo` and `attemptCompletion`: the Expert's own task list.

use serde::Serialize;
use serde_json::{Value, json};

/// One todo item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Todo {
    /// Id, counting from 0 since the last clear.
    pub id: u64,
    /// What to do.
    pub title: String,
    /// Done or not.
    pub completed: bool,
}

/// The list, shared by the three tools of one base skill instance.
#[derive(Debug, Default)]
pub struct TodoList {
    next_id: u64,
    todos: Vec<Todo>,
}

impl TodoList {
    /// Adds new todos, marks completed ones, returns `{"todos": [...]}`.
    pub fn update(&mut self, new_todos: &[String], completed: &[u64]) -> Value {
        for title in new_todos {
            self.todos.push(Todo {
                id: self.next_id,
                title: title.clone(),
                completed: false,
            });
            self.next_id += 1;
        }
        for t in &mut self.todos {
            if completed.contains(&t.id) {
                t.completed = true;
            }
        }
        json!({ "todos": self.todos })
    }

    /// Empties the list and restarts ids at 0.
    pub fn clear(&mut self) -> Value {
        self.todos.clear();
        self.next_id = 0;
        json!({ "todos": self.todos })
    }

    /// `{}` when everything is done, else `{"remainingTodos": [...]}`.
    pub fn attempt_completion(&self) -> Value {
        let remaining: Vec<&Todo> = self.todos.iter().filter(|t| !t.completed).collect();
        if remaining.is_empty() {
            json!({})
        } else {
            json!({ "remainingTodos": remaining })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn lifecycle() {
        let mut l = TodoList::default();
        l.update(&["a".into(), "b".into()], &[]);
        assert_eq!(
            l.update(&[], &[0]),
            json!({"todos": [{"id": 0, "title": "a", "completed": true}, {"id": 1, "title": "b", "completed": false}]})
        );
        assert_eq!(
            l.attempt_completion(),
            json!({"remainingTodos": [{"id": 1, "title": "b", "completed": false}]})
        );
        l.update(&[], &[1]);
        assert_eq!(l.attempt_completion(), json!({}));
        assert_eq!(l.clear(), json!({"todos": []}));
        assert_eq!(
            l.update(&["c".into()], &[]),
            json!({"todos": [{"id": 0, "title": "c", "completed": false}]})
        );
    }
}
