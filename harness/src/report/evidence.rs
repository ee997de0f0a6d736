//! A failure's evidence, described once: what broke, where in the scenario file, the rule,
//! what was expected and what came, the diff against the golden transcript, and the frames
//! (with the device's own lines between them) that led up to it. The terminal, JUnit and
//! HTML render this description, each in its own markup; none of them reads the failure
//! itself, so a change to what a failure says is made here once.

use crate::engine::transcript::{render_entry, TranscriptEvent};
use crate::engine::{Failure, ScenarioResult};
use std::fmt::Write as _;

/// Frames shown before the end of a failed scenario (the whole transcript is elsewhere).
pub const LAST_FRAMES: usize = 6;

#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    pub message: String,
    /// `file:line:col (step 3, expect)`, with whatever parts are known.
    pub location: String,
    /// The obligation the failure judges, when one does.
    pub rule: Option<String>,
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// The unified diff against the golden transcript.
    pub diff: Option<String>,
    /// The last [`LAST_FRAMES`] frames and the output lines among them, one line each.
    pub frames: Vec<String>,
}

impl Evidence {
    pub fn of(r: &ScenarioResult, f: &Failure) -> Evidence {
        Evidence {
            message: f.message.clone(),
            location: location(r, f),
            rule: f.rule.clone(),
            expected: f.expected.clone(),
            actual: f.actual.clone(),
            diff: f.diff.clone(),
            frames: frames_before_end(r),
        }
    }

    /// The labelled lines of the plain-text form (JUnit's body; the terminal indents and
    /// colours the same lines): `(label, value)`, a value possibly of several lines.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![
            ("", self.message.as_str()),
            ("--> ", self.location.as_str()),
        ];
        if let Some(rule) = &self.rule {
            out.push(("rule: ", rule));
        }
        if let Some(expected) = &self.expected {
            out.push(("expected: ", expected));
        }
        if let Some(actual) = &self.actual {
            out.push(("actual:   ", actual));
        }
        out
    }

    /// The whole description as plain text, each part under its label.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (label, value) in self.fields() {
            let _ = writeln!(s, "{label}{value}");
        }
        if let Some(diff) = &self.diff {
            s.push_str("diff:\n");
            for line in diff.lines() {
                let _ = writeln!(s, "  {line}");
            }
        }
        if !self.frames.is_empty() {
            s.push_str("last frames:\n");
            for line in &self.frames {
                let _ = writeln!(s, "  {line}");
            }
        }
        s
    }
}

/// From the [`LAST_FRAMES`]th frame before the end on: the frames and the lines commands
/// wrote among them.
fn frames_before_end(r: &ScenarioResult) -> Vec<String> {
    let entries = &r.transcript.entries;
    let is_frame = |e: &TranscriptEvent| {
        matches!(
            e,
            TranscriptEvent::Sent { .. } | TranscriptEvent::Received { .. }
        )
    };
    let from = entries
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, e)| is_frame(&e.event))
        .nth(LAST_FRAMES - 1)
        .map_or(0, |(i, _)| i);
    entries[from..]
        .iter()
        .filter(|e| is_frame(&e.event) || matches!(e.event, TranscriptEvent::Output { .. }))
        .map(render_entry)
        .collect()
}

/// `file:line:col (step 3, expect)`, with whatever parts are known.
pub(crate) fn location(r: &ScenarioResult, f: &Failure) -> String {
    let mut loc = r.file.display().to_string();
    if let Some(line) = f.line {
        let _ = write!(loc, ":{line}");
        if let Some(col) = f.col {
            let _ = write!(loc, ":{col}");
        }
    }
    match (&f.step, &f.step_kind) {
        (Some(step), Some(kind)) => {
            let _ = write!(loc, " (step {step}, {kind})");
        }
        (Some(step), None) => {
            let _ = write!(loc, " (step {step})");
        }
        (None, Some(kind)) => {
            let _ = write!(loc, " ({kind})");
        }
        (None, None) => {}
    }
    loc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::transcript::{OutputSource, OutputStream, Transcript};
    use crate::engine::{Frame, Verdict};
    use serde_json::json;
    use std::time::Duration;

    fn failed() -> (ScenarioResult, Failure) {
        let mut f = Failure::new("the reply did not match: errcode");
        f.rule = Some("D2".into());
        f.line = Some(12);
        f.col = Some(5);
        f.step = Some("3".into());
        f.step_kind = Some("expect".into());
        f.expected = Some("0".into());
        f.actual = Some("600002".into());
        let mut t = Transcript::default();
        for i in 0..8u64 {
            t.push(
                Duration::from_millis(i * 10),
                TranscriptEvent::Received {
                    conn: "a".into(),
                    frame: Frame::Json {
                        json: std::sync::Arc::new(json!({"cmd": format!("c{i}")})),
                    },
                },
            );
        }
        t.push(
            Duration::from_millis(80),
            TranscriptEvent::Output {
                source: OutputSource::Device,
                stream: OutputStream::Stderr,
                line: "assert failed in net.c:88".into(),
                cut: 0,
            },
        );
        let r = ScenarioResult {
            id: "device.x".into(),
            title: String::new(),
            file: "scenarios/x.yaml".into(),
            role: crate::scenario::Role::Cloud,
            requirements: vec!["D2".into()],
            tags: vec![],
            verdict: Verdict::Fail(f.clone()),
            findings: vec![],
            obligations: Default::default(),
            not_reached: Default::default(),
            wall_time: Duration::ZERO,
            scenario_time: Duration::ZERO,
            transcript: t,
            judged: None,
        };
        (r, f)
    }

    #[test]
    fn the_evidence_holds_where_what_and_the_frames_before_with_the_devices_lines() {
        let (r, f) = failed();
        let e = Evidence::of(&r, &f);
        assert_eq!(e.location, "scenarios/x.yaml:12:5 (step 3, expect)");
        assert_eq!(e.frames.len(), LAST_FRAMES + 1, "{:#?}", e.frames);
        assert!(e.frames[0].contains("c2"), "{:#?}", e.frames);
        assert!(e
            .frames
            .last()
            .unwrap()
            .contains("[device stderr] assert failed in net.c:88"));
    }

    /// One description, three renderings: a change to the description shows in the
    /// terminal, in JUnit and in HTML alike.
    #[test]
    fn every_format_renders_the_one_description() {
        let (r, f) = failed();
        let mut e = Evidence::of(&r, &f);
        e.location = "moved.yaml:42:7 (step 9, expect)".into();
        e.expected = Some("the changed expectation".into());
        e.frames = vec!["    0.500s [a] ← the changed frame".into()];
        let mut terminal = String::new();
        super::super::terminal::render_evidence(&mut terminal, &e, false, true);
        let junit = super::super::junit::failure_body(&e);
        let html = super::super::html::evidence(&e).into_string();
        for (name, text) in [("terminal", &terminal), ("junit", &junit), ("html", &html)] {
            assert!(
                text.contains("moved.yaml:42:7 (step 9, expect)"),
                "{name}: {text}"
            );
            assert!(text.contains("the changed expectation"), "{name}: {text}");
            assert!(
                text.contains("the reply did not match: errcode"),
                "{name}: {text}"
            );
        }
        for (name, text) in [("terminal", &terminal), ("junit", &junit)] {
            assert!(text.contains("the changed frame"), "{name}: {text}");
        }
    }
}
