//! Turns a generated conversation into scenario text: one step per line in YAML flow style,
//! so a regression reads like the hand-written library. The text is what runs (it is loaded
//! with [`crate::scenario::load_str`]), so a written regression is exactly what failed.
//!
//! Each step remembers the obligation ids it checks, so a failure at a line can be traced
//! back to the requirements involved.

use crate::scenario::matcher::Matcher;
pub use crate::scenario::render::{flow, millis, quoted, scalar};
use crate::scenario::{
    DurationExpr, Expect, ExpectClosed, Push, Repeat, ReplySpec, Request, Span, Spanned, Step,
    StepKind,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

/// One typed step and the obligation ids it checks.
#[derive(Clone, Debug)]
struct Checked {
    step: Step,
    reqs: Vec<&'static str>,
}

/// The steps of a scenario under construction, typed; rendered with the scenario's own
/// per-kind renderers ([`Step::to_yaml`]).
#[derive(Clone, Debug, Default)]
pub struct Steps {
    steps: Vec<Checked>,
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
    /// Adds a step that checks `reqs`.
    pub fn add(&mut self, kind: StepKind, reqs: &[&'static str]) {
        self.steps.push(Checked {
            step: Step::new(kind),
            reqs: reqs.to_vec(),
        });
    }

    /// The last step added, to add to it (a `capture` on the receive just emitted).
    pub fn last_mut(&mut self) -> Option<&mut StepKind> {
        self.steps.last_mut().map(|c| &mut c.step.kind)
    }

    /// A `repeat` of `times` over `inner`; it checks what the inner steps check.
    pub fn repeat(&mut self, times: u32, inner: Steps) {
        let reqs = inner
            .steps
            .iter()
            .flat_map(|s| s.reqs.iter().copied())
            .collect();
        let steps = inner.steps.into_iter().map(|c| c.step).collect();
        self.steps.push(Checked {
            step: Step::new(StepKind::Repeat(Repeat { times, steps })),
            reqs,
        });
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
        self.steps
            .iter()
            .flat_map(|s| s.reqs.iter().copied())
            .filter(|r| seen.insert(*r))
            .collect()
    }

    /// `header.requires`, and in the cloud role every feature a command the steps wait for
    /// or push belongs to (the loader asks for them): one the header names already, else the
    /// first that owns the command.
    fn requires_with_features(
        &self,
        profile: &dyn crate::profile::Profile,
        header: &Header,
    ) -> Vec<&'static str> {
        let mut requires = header.requires.clone();
        if header.role != "cloud" {
            return requires;
        }
        let mut cmds: Vec<String> = Vec::new();
        for checked in &self.steps {
            crate::scenario::visit_steps(std::slice::from_ref(&checked.step), &mut |k| match k {
                StepKind::Receive(r) => cmds.extend(r.cmd.clone()),
                StepKind::Push(p) => cmds.push(p.cmd.clone()),
                _ => {}
            });
        }
        for cmd in cmds {
            let owners = profile.feature_owners(&cmd);
            if let Some(first) = owners
                .first()
                .filter(|_| !owners.iter().any(|o| requires.contains(o)))
            {
                requires.push(first);
            }
        }
        requires
    }

    /// Renders the whole file, its `requires` completed with `profile`'s features. Returns
    /// the text and, per step, its first and last line.
    pub fn render(
        &self,
        profile: &dyn crate::profile::Profile,
        header: &Header,
        requirements: &[&str],
    ) -> Rendered {
        let mut out: Vec<String> = Vec::new();
        out.push(format!("id: {}", header.id));
        out.push(format!("title: {}", quoted(&header.title)));
        if !header.description.is_empty() {
            out.push("description: |".into());
            out.extend(
                header
                    .description
                    .lines()
                    .map(|l| format!("  {l}").trim_end().to_string()),
            );
        }
        out.push(format!("requirements: [{}]", requirements.join(", ")));
        out.push("tags: [explore, regression]".into());
        out.push(format!("role: {}", header.role));
        let requires = self.requires_with_features(profile, header);
        if !requires.is_empty() {
            out.push(format!("requires: [{}]", requires.join(", ")));
        }
        out.extend(header.extra.iter().cloned());
        if header.deadline_s > 0 {
            out.push(format!("deadline: {}m", header.deadline_s.div_ceil(60)));
        }
        out.push("steps:".into());
        let mut spans = Vec::new();
        for s in &self.steps {
            let first = out.len() as u32 + 1;
            out.extend(s.step.to_yaml(2));
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
        self.spans
            .iter()
            .enumerate()
            .find(|(_, (a, b, _))| (*a..=*b).contains(&line))
            .map(|(i, (_, _, r))| (i + 1, r.clone()))
    }
}

/// `5s`, `1500ms`: durations as scenario files write them.
pub fn secs(s: u64) -> String {
    format!("{s}s")
}

/// A fixed duration of `ms` milliseconds.
pub fn ms(ms: u64) -> DurationExpr {
    DurationExpr::Fixed(Duration::from_millis(ms))
}

/// A fixed duration of `s` seconds.
pub fn s(s: u64) -> DurationExpr {
    DurationExpr::Fixed(Duration::from_secs(s))
}

/// A matcher written as JSON (`$` keys are operators). The explorers only write valid ones.
pub fn matcher(v: Value) -> Spanned<Matcher> {
    Spanned::new(
        Matcher::compile(&v).unwrap_or_else(|e| panic!("explorer matcher {v}: {e}")),
        Span::default(),
    )
}

/// `request: { conn, cmd, body }` (no expectation yet).
pub fn request(conn: &str, cmd: &str, body: Option<Value>) -> Request {
    Request {
        conn: conn.to_string(),
        cmd: cmd.to_string(),
        req_id: None,
        body,
        raw_body: false,
        expect: None,
        capture: BTreeMap::new(),
        within: None,
        not_before: None,
        no_reply: false,
    }
}

/// A `request` whose reply must match `expect`.
pub fn request_expecting(conn: &str, cmd: &str, body: Option<Value>, expect: Value) -> StepKind {
    StepKind::Request(Request {
        expect: Some(matcher(expect)),
        ..request(conn, cmd, body)
    })
}

/// `expect: { conn, frame, within }`.
pub fn expect(conn: &str, frame: Value, within: DurationExpr) -> StepKind {
    StepKind::Expect(Expect {
        conn: conn.to_string(),
        matcher: matcher(frame),
        capture: BTreeMap::new(),
        within: Some(within),
        not_before: None,
        observed: None,
    })
}

/// `expect_closed: { conn, within }`.
pub fn expect_closed(conn: &str, within: DurationExpr) -> StepKind {
    StepKind::ExpectClosed(ExpectClosed {
        conn: conn.to_string(),
        within: Some(within),
        not_before: None,
    })
}

/// A success reply (errcode 0) with this body.
pub fn ok(body: Option<Value>) -> ReplySpec {
    ReplySpec {
        errcode: 0,
        errmsg: None,
        body,
        suggestion: None,
        interval: None,
        binary: None,
        no_advice: false,
    }
}

/// An error reply with the catalog's advice.
pub fn err(errcode: i64) -> ReplySpec {
    ReplySpec {
        errcode,
        ..ok(None)
    }
}

/// `push: { cmd, body }` on the default connection.
pub fn push(cmd: &str, body: Option<Value>) -> StepKind {
    StepKind::Push(Push {
        conn: "a".into(),
        cmd: cmd.to_string(),
        body,
        req_id: None,
    })
}

/// `capture` entries: name → dotted path.
pub fn capture<const N: usize>(pairs: [(String, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().collect()
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
    fn matchers_compile_operators() {
        let m = matcher(json!({"errcode": {"$ne": 0}}));
        assert_eq!(flow(&m.value.to_value()), "{ errcode: { $ne: 0 } }");
        assert_eq!(millis(1500), "1500ms");
    }

    #[test]
    fn wraps_descriptions() {
        assert_eq!(wrap("a b c d", 3), "a b\nc d");
    }
}
