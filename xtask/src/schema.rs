//! `cargo xtask schema`: docs/schema/*.json from the Rust types.

use std::path::Path;

use anyhow::{Context, Result, bail};
use perstack_events::schema::{SchemaKind, json_schema};

pub fn run(root: &Path, check: bool) -> Result<()> {
    let dir = root.join("docs/schema");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut stale = Vec::new();
    for kind in SchemaKind::ALL {
        let path = dir.join(format!("{}.json", kind.name()));
        let text = format!("{}\n", serde_json::to_string_pretty(&json_schema(kind))?);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == text {
            continue;
        }
        if check {
            stale.push(path.display().to_string());
        } else {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("updated {}", path.display());
        }
    }
    if !stale.is_empty() {
        bail!(
            "out of date (run `cargo xtask schema`): {}",
            stale.join(", ")
        );
    }
    Ok(())
}
