//! The TOML source: syntax parsing, spans of every key and value, and conversion to JSON for
//! the schema check.

use std::collections::HashMap;
use std::ops::Range;

use serde_json::{Map, Number, Value};
use toml::de::{DeTable, DeValue};

use super::diagnostic::{Diagnostic, KeyPath, Severity};

/// Where a key and its value sit in the source.
#[derive(Debug, Clone)]
struct Spans {
    key: Range<usize>,
    value: Range<usize>,
}

/// Byte offsets of every key path in one file, and line/column conversion.
#[derive(Debug, Clone)]
pub struct SourceMap {
    file: String,
    line_starts: Vec<usize>,
    text: String,
    spans: HashMap<Vec<String>, Spans>,
}

impl SourceMap {
    /// Parses `text` (named `file` in diagnostics) into a JSON value plus its source map.
    pub fn parse(file: &str, text: &str) -> Result<(Value, SourceMap), Diagnostic> {
        let mut map = SourceMap {
            file: file.to_string(),
            line_starts: std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
            text: text.to_string(),
            spans: HashMap::new(),
        };
        let doc = DeTable::parse(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let (line, column) = map.line_col(offset);
            Diagnostic {
                severity: Severity::Error,
                file: file.to_string(),
                line,
                column,
                path: KeyPath::root(),
                message: format!("invalid TOML: {}", e.message().trim_end()),
            }
        })?;
        let span = doc.span();
        map.spans.insert(
            Vec::new(),
            Spans {
                key: span.clone(),
                value: span,
            },
        );
        let value = map.convert_table(doc.get_ref(), &mut Vec::new());
        Ok((value, map))
    }

    fn convert_table(&mut self, table: &DeTable<'_>, path: &mut Vec<String>) -> Value {
        let mut out = Map::new();
        for (k, v) in table {
            path.push(k.get_ref().to_string());
            self.spans.insert(
                path.clone(),
                Spans {
                    key: k.span(),
                    value: v.span(),
                },
            );
            let converted = self.convert(v.get_ref(), path);
            path.pop();
            out.insert(k.get_ref().to_string(), converted);
        }
        Value::Object(out)
    }

    fn convert(&mut self, value: &DeValue<'_>, path: &mut Vec<String>) -> Value {
        match value {
            DeValue::String(s) => Value::String(s.to_string()),
            DeValue::Integer(i) => {
                let digits: String = i.as_str().chars().filter(|c| *c != '_').collect();
                match i64::from_str_radix(&digits, i.radix()) {
                    Ok(n) => Value::Number(Number::from(n)),
                    // Out of i64 range: keep as a float so the type check can report it.
                    Err(_) => Number::from_f64(f64::MAX).map_or(Value::Null, Value::Number),
                }
            }
            DeValue::Float(f) => {
                let digits: String = f.as_str().chars().filter(|c| *c != '_').collect();
                digits
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
            DeValue::Boolean(b) => Value::Bool(*b),
            // JSON has no datetime; a string keeps the value for messages.
            DeValue::Datetime(d) => Value::String(d.to_string()),
            DeValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    path.push(format!("[{i}]"));
                    self.spans.insert(
                        path.clone(),
                        Spans {
                            key: item.span(),
                            value: item.span(),
                        },
                    );
                    out.push(self.convert(item.get_ref(), path));
                    path.pop();
                }
                Value::Array(out)
            }
            DeValue::Table(t) => self.convert_table(t, path),
        }
    }

    /// 1-based line and character column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line_idx).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line_idx + 1, column + 1)
    }

    /// Offset of the nearest existing ancestor of `path` (key position, or value position).
    fn offset(&self, path: &KeyPath, at_value: bool) -> usize {
        let mut key = path.lookup_key();
        loop {
            if let Some(s) = self.spans.get(&key) {
                return if at_value { s.value.start } else { s.key.start };
            }
            if key.pop().is_none() {
                return 0;
            }
        }
    }

    /// A diagnostic located at the key named by `at` (or its nearest ancestor) but reported
    /// under `path`.
    pub fn diag_at_key(
        &self,
        severity: Severity,
        path: &KeyPath,
        at: &KeyPath,
        message: String,
    ) -> Diagnostic {
        self.make(severity, path, self.offset(at, false), message)
    }

    /// A diagnostic located at the value of `path`.
    pub fn diag_at_value(&self, severity: Severity, path: &KeyPath, message: String) -> Diagnostic {
        self.make(severity, path, self.offset(path, true), message)
    }

    /// A diagnostic located where `needle` first occurs in the source text of the value at
    /// `path` (exact for strings without escapes), else at the start of the value.
    pub fn diag_at_substring(
        &self,
        severity: Severity,
        path: &KeyPath,
        needle: &str,
        message: String,
    ) -> Diagnostic {
        let span = self.spans.get(&path.lookup_key()).map(|s| s.value.clone());
        let offset = span
            .and_then(|r| {
                let slice = self.text.get(r.clone())?;
                slice.find(needle).map(|i| r.start + i)
            })
            .unwrap_or_else(|| self.offset(path, true));
        self.make(severity, path, offset, message)
    }

    fn make(
        &self,
        severity: Severity,
        path: &KeyPath,
        offset: usize,
        message: String,
    ) -> Diagnostic {
        let (line, column) = self.line_col(offset);
        Diagnostic {
            severity,
            file: self.file.clone(),
            line,
            column,
            path: path.clone(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let text = "a = 1\n# é\nb = \"x\"\n";
        let (_, map) = SourceMap::parse("f.toml", text).unwrap();
        assert_eq!(map.line_col(0), (1, 1));
        assert_eq!(map.line_col(text.find('b').unwrap()), (3, 1));
        let after_e = text.find('é').unwrap() + 'é'.len_utf8();
        assert_eq!(map.line_col(after_e), (2, 4));
    }

    #[test]
    fn syntax_error_is_located() {
        let err = SourceMap::parse("f.toml", "a = 1\nb = \n").unwrap_err();
        assert_eq!((err.line, err.file.as_str()), (2, "f.toml"));
        assert!(err.message.starts_with("invalid TOML"), "{}", err.message);
    }
}
