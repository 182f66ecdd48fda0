//! Text from the model, tools and skills made safe to print for a person: no control
//! character reaches the terminal, so a model cannot set the window title, write the
//! clipboard (OSC 52), clear the screen or move the cursor, and no bidi override can make
//! text read differently from what it is.
//!
//! C0 controls (except newline and tab), DEL, C1 controls (U+0080–U+009F, e.g. the
//! one-character CSI U+009B) and the bidi embedding, override and isolate characters
//! (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) are replaced by a visible escape
//! (`\x1b`, `\u{202e}`). The renderer's own colours are added after this, so they survive.

use std::borrow::Cow;

use perstack_events::Event;
use serde_json::Value;

/// Whether `c` must not reach a terminal raw.
fn unsafe_char(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{061c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// `s` with every unsafe character replaced by a visible escape.
pub(crate) fn neutralise(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !unsafe_char(c) {
            out.push(c);
        } else if u32::from(c) < 0x100 {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
        }
    }
    Cow::Owned(out)
}

/// Neutralises every string (keys included) of `value`; true when anything changed.
fn neutralise_json(value: &mut Value) -> bool {
    match value {
        Value::String(s) => match neutralise(s) {
            Cow::Borrowed(_) => false,
            Cow::Owned(n) => {
                *s = n;
                true
            }
        },
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| neutralise_json(v) | changed),
        Value::Object(map) => {
            let mut changed = false;
            for (k, mut v) in std::mem::take(map) {
                changed |= neutralise_json(&mut v);
                let key = neutralise(&k).into_owned();
                changed |= key != k;
                map.insert(key, v);
            }
            changed
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// `event` with every string neutralised, for rendering. `None` when the neutralised event
/// no longer parses (then the caller shows nothing of it rather than something raw).
pub(crate) fn neutralise_event(event: &Event) -> Option<Cow<'_, Event>> {
    let mut value = serde_json::to_value(event).ok()?;
    if !neutralise_json(&mut value) {
        return Some(Cow::Borrowed(event));
    }
    Event::from_value(value).ok().map(Cow::Owned)
}

/// JSON text (serde escapes C0 controls already) with C1 controls, DEL and bidi characters
/// escaped too (`\u009b`); the JSON value is the same.
pub(crate) fn json_for_terminal(json: &str) -> Cow<'_, str> {
    if !json.chars().any(unsafe_char) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        // Outside strings JSON has only ASCII whitespace and punctuation, never these.
        if unsafe_char(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn escapes_and_bidi_become_visible() {
        let attack =
            "a\x1b]0;owned\x07b\x1b]52;c;aGk=\x07c\x1b[2Jd\u{9b}31me\u{202e}f\u{2066}g\rh\ti\nj";
        assert_eq!(
            neutralise(attack),
            "a\\x1b]0;owned\\x07b\\x1b]52;c;aGk=\\x07c\\x1b[2Jd\\x9b31me\\u{202e}f\\u{2066}g\\x0dh\ti\nj"
        );
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert_eq!(
            matches!(neutralise("plain ünïcode ✓\n\t"), Cow::Borrowed(_)),
            true
        );
    }

    #[test]
    fn json_stays_json_with_the_same_value() {
        let v = serde_json::json!({"t": "x\u{9b}y\u{202e}z\x1b\x7f"});
        let text = serde_json::to_string(&v).unwrap();
        let safe = json_for_terminal(&text);
        assert_eq!(safe.chars().any(unsafe_char), false);
        assert_eq!(serde_json::from_str::<Value>(&safe).unwrap(), v);
    }
}
