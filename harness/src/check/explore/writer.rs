//! Turns a generated conversation into scenario text: one step per line in YAML flow style,
//! so a regression reads like the hand-written library. The text is what runs (it is loaded
//! with [`crate::scenario::load_str`]), so a written regression is exactly what failed.
//!
//! Each step remembers the obligation ids it checks, so a failure at a line can be traced
//! back to the requirements involved.

use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// One rendered step: its lines (the first starts with `  - `) and what it checks.
#[derive(Clone, Debug)]
struct StepText {
    lines: Vec<String>,
    reqs: Vec<&'static str>,
}

/// The steps of a scenario under construction.
#[derive(Clone, Debug, Default)]
pub struct Steps {
    steps: Vec<StepText>,
}

/// The scenario's top-level keys (everything but `steps`).
#[derive(Clone, Debug, Default)]
pub struct Header {
    pub id: String,
    pub title: String,
    pub description: String,
    pub role: &'static str,
    pub requires: Vec<&'static str>,
    /// Extra top-level lines, already rendered (`auto_reply: ...`).
    pub extra: Vec<String>,
    pub deadline_s: u64,
}

impl Steps {
    /// A step `kind: args` with sibling keys (`expect`, `capture`, `check`).
    pub fn push(&mut self, kind: &str, args: Value, siblings: &[(&str, Value)], reqs: &[&'static str]) {
        let mut lines = vec![format!("  - {kind}: {}", flow(&args))];
        for (key, value) in siblings {
            lines.push(format!("    {key}: {}", flow(value)));
        }
        self.steps.push(StepText { lines, reqs: reqs.to_vec() });
    }

    /// Adds a sibling key (`capture: ...`) to the last step.
    pub fn sibling_last(&mut self, key: &str, value: Value) {
        if let Some(last) = self.steps.last_mut() {
            last.lines.push(format!("    {key}: {}", flow(&value)));
        }
    }

    /// A step whose value is a plain scalar (`wait: 5s`, `delay: 1s`, `mark: m1`).
    pub fn scalar(&mut self, kind: &str, value: &str, reqs: &[&'static str]) {
        self.steps.push(StepText { lines: vec![format!("  - {kind}: {}", scalar(value))], reqs: reqs.to_vec() });
    }

    /// A `repeat` of `times` over `inner` (rendered one level deeper).
    pub fn repeat(&mut self, times: u32, inner: Steps) {
        let mut lines = vec![format!("  - repeat:"), format!("      times: {times}"), "      steps:".to_string()];
        let mut reqs = Vec::new();
        for s in inner.steps {
            lines.extend(s.lines.into_iter().map(|l| format!("      {l}")));
            reqs.extend(s.reqs);
        }
        self.steps.push(StepText { lines, reqs });
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Every requirement some step checks, in first-use order.
    pub fn requirements(&self) -> Vec<&'static str> {
        let mut seen = BTreeSet::new();
        self.steps.iter().flat_map(|s| s.reqs.iter().copied()).filter(|r| seen.insert(*r)).collect()
    }

    /// Renders the whole file. Returns the text and, per step, its first and last line.
    pub fn render(&self, header: &Header, requirements: &[&str]) -> Rendered {
        let mut out: Vec<String> = Vec::new();
        out.push(format!("id: {}", header.id));
        out.push(format!("title: {}", quoted(&header.title)));
        if !header.description.is_empty() {
            out.push("description: |".into());
            out.extend(header.description.lines().map(|l| format!("  {l}").trim_end().to_string()));
        }
        out.push(format!("requirements: [{}]", requirements.join(", ")));
        out.push("tags: [explore, regression]".into());
        out.push(format!("role: {}", header.role));
        if !header.requires.is_empty() {
            out.push(format!("requires: [{}]", header.requires.join(", ")));
        }
        out.extend(header.extra.iter().cloned());
        if header.deadline_s > 0 {
            out.push(format!("deadline: {}m", header.deadline_s.div_ceil(60)));
        }
        out.push("steps:".into());
        let mut spans = Vec::new();
        for s in &self.steps {
            let first = out.len() as u32 + 1;
            out.extend(s.lines.iter().cloned());
            spans.push((first, out.len() as u32, s.reqs.clone()));
        }
        let mut text = out.join("\n");
        text.push('\n');
        Rendered { text, spans }
    }
}

/// A rendered scenario and where each step is in it.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub text: String,
    spans: Vec<(u32, u32, Vec<&'static str>)>,
}

impl Rendered {
    /// The requirements of the step at `line`, and the step's 1-based index.
    pub fn at_line(&self, line: u32) -> Option<(usize, Vec<&'static str>)> {
        self.spans.iter().enumerate().find(|(_, (a, b, _))| (*a..=*b).contains(&line)).map(|(i, (_, _, r))| (i + 1, r.clone()))
    }
}

/// A JSON value in YAML flow style: `{ cmd: register, body: { nonce: 1 } }`.
pub fn flow(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Array(items) => format!("[{}]", items.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Value::Object(map) if map.is_empty() => "{}".into(),
        Value::Object(map) => {
            let parts: Vec<String> = map.iter().map(|(k, v)| format!("{}: {}", scalar(k), flow(v))).collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// A string as a plain scalar where that reads back as the same string, else double-quoted.
pub fn scalar(s: &str) -> String {
    let plain_chars = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./+-$".contains(c))
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    let keyword = matches!(s.to_ascii_lowercase().as_str(), "true" | "false" | "null" | "~");
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

/// `5s`, `1500ms`: durations as scenario files write them.
pub fn secs(s: u64) -> String {
    format!("{s}s")
}

pub fn millis(ms: u64) -> String {
    if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{ms}ms") }
}

/// Wraps `text` at about `width` columns, for descriptions.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                let _ = writeln!(out, "{line}");
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        let _ = writeln!(out, "{line}");
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flow_style_reads_back() {
        assert_eq!(flow(&json!({"conn": "a", "cmd": "register"})), "{ conn: a, cmd: register }");
        assert_eq!(flow(&json!({"errcode": {"$ne": 0}})), "{ errcode: { $ne: 0 } }");
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

    #[test]
    fn wraps_descriptions() {
        assert_eq!(wrap("a b c d", 3), "a b\nc d");
    }
}
