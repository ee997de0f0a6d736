//! Scenario text from typed values: YAML flow style, one step per line, the way the
//! hand-written library reads. Leaf helpers only (imports nothing but `span`); each step
//! kind renders itself in `steps/<kind>.rs` with these, and [`crate::scenario::Scenario::to_yaml`]
//! puts a whole file together.

use super::span::DurationExpr;
use serde_json::{Map, Value};

/// A JSON value in YAML flow style: `{ cmd: register, body: { nonce: 1 } }`.
pub fn flow(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(flow).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) if map.is_empty() => "{}".into(),
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", scalar(k), flow(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// A string as a plain scalar where that reads back as the same string, else double-quoted.
pub fn scalar(s: &str) -> String {
    let plain_chars = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./+-$".contains(c))
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    let keyword = matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "~"
    );
    let numeric = s.parse::<f64>().is_ok() || s.starts_with("0x") || s.starts_with("0o");
    if plain_chars && !keyword && !numeric {
        s.to_string()
    } else {
        quoted(s)
    }
}

/// A double-quoted YAML scalar (JSON string syntax is valid YAML).
pub fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// `5s`, `1500ms`: milliseconds as scenario files write them.
pub fn millis(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A duration as written: `5s`, `250ms`, or its `${...}` expression.
pub fn duration(d: &DurationExpr) -> Value {
    Value::String(match d {
        DurationExpr::Fixed(d) if d.subsec_nanos() % 1_000_000 == 0 => millis(d.as_millis() as u64),
        DurationExpr::Fixed(d) => format!("{}ms", d.as_secs_f64() * 1000.0),
        DurationExpr::Expr(text) => text.clone(),
    })
}

/// The arguments of a step, built key by key; `None` values are left out.
#[derive(Default)]
pub struct Args(Map<String, Value>);

impl Args {
    pub fn new() -> Self {
        Args::default()
    }

    /// Sets `key`.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_string(), value.into());
        self
    }

    /// Sets `key` when there is a value.
    pub fn opt<T: Into<Value>>(self, key: &str, value: Option<T>) -> Self {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    /// Sets `key` to a duration when there is one.
    pub fn dur(self, key: &str, value: Option<&DurationExpr>) -> Self {
        self.opt(key, value.map(duration))
    }

    /// Sets `key: true` when `flag` holds.
    pub fn flag(self, key: &str, flag: bool) -> Self {
        if flag {
            self.set(key, true)
        } else {
            self
        }
    }

    /// Sets `conn` unless it is the default connection `a`.
    pub fn conn(self, conn: &str) -> Self {
        if conn == "a" {
            self
        } else {
            self.set("conn", conn)
        }
    }

    pub fn value(self) -> Value {
        Value::Object(self.0)
    }
}

/// The `capture` sibling key (name → dotted path), when there is something to capture.
pub fn capture(capture: &std::collections::BTreeMap<String, String>) -> Vec<(&'static str, Value)> {
    if capture.is_empty() {
        return Vec::new();
    }
    vec![(
        "capture",
        Value::Object(
            capture
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect(),
        ),
    )]
}

/// One step as a list item: `- name: value` and its sibling keys, at `indent` spaces.
pub fn item(indent: usize, name: &str, value: &Value, siblings: &[(&str, Value)]) -> Vec<String> {
    let pad = " ".repeat(indent);
    let mut lines = vec![format!("{pad}- {name}: {}", flow(value))];
    lines.extend(
        siblings
            .iter()
            .map(|(key, v)| format!("{pad}  {key}: {}", flow(v))),
    );
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flow_style_reads_back() {
        assert_eq!(
            flow(&json!({"conn": "a", "cmd": "register"})),
            "{ conn: a, cmd: register }"
        );
        assert_eq!(
            flow(&json!({"errcode": {"$ne": 0}})),
            "{ errcode: { $ne: 0 } }"
        );
        assert_eq!(scalar("5s"), "5s");
        assert_eq!(scalar("127.0.0.2"), "127.0.0.2");
        assert_eq!(scalar("600012"), "\"600012\"");
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("${now-400}"), "\"${now-400}\"");
        assert_eq!(scalar("has space"), "\"has space\"");
        assert_eq!(scalar("x1/1000006"), "x1/1000006");
        assert_eq!(flow(&json!([])), "[]");
        assert_eq!(flow(&json!({})), "{}");
    }
}
