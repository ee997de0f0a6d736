//! What `hwconform diff` shows: the changes of [`super::rundiff::compare`] as one document,
//! obligations first (what a lab signs), then scenarios, then frames, the frames bounded so
//! two runs that differ everywhere still read in a screen or two. Rendered as text for
//! people and as JSON for tools, from the same document.
//!
//! # JSON, `diff_version` 1
//!
//! ```json
//! {
//!   "diff_version": 1,
//!   "run_a": { "path": "a/run.json", "target": "…", "scenarios": 3 },
//!   "run_b": { "path": "b/run.json", "target": "…", "scenarios": 3 },
//!   "obligations": [ { "id": "D2", "from": "pass", "to": "fail",
//!                      "scenarios": [ { "id": "device.x", "from": "pass", "to": "fail" } ] } ],
//!   "scenarios": [ { "change": "verdict", "id": "device.x", "from": "pass", "to": "fail", "why": "…" },
//!                  { "change": "added", "id": "…", "verdict": "pass" },
//!                  { "change": "removed", "id": "…", "verdict": "pass" },
//!                  { "change": "timing", "id": "…", "from": 10.0, "to": 20.0 } ],
//!   "frames": [ { "id": "device.x", "lines": ["--- run A", "+++ run B", "-[a] ← …", "+[a] ← …"], "more_lines": 0 } ],
//!   "more_frames": 0,
//!   "summary": { "obligations": 1, "added": 0, "removed": 0, "verdict": 1, "frames": 1, "timing": 0 }
//! }
//! ```
//!
//! `from`/`to` are `null` where a run does not list the obligation (or the scenario's outcome
//! for it). `frames` holds at most [`Limits::scenarios`] scenarios (`more_frames` counts the
//! rest) and at most [`Limits::lines`] lines of each (`more_lines`); `summary` counts
//! everything, shown or not. New fields may be added within a version.

use super::rundiff::{Change, Moved, RunFile};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// Scenarios listed under a changed obligation in the text (the JSON lists them all).
const SCENARIOS_PER_OBLIGATION: usize = 5;

/// The version written in `diff_version`.
pub const DIFF_FORMAT_VERSION: u32 = 1;

/// How much of the frames is shown.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Scenarios whose frame changes are shown.
    pub scenarios: usize,
    /// Lines of each scenario's frame diff.
    pub lines: usize,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        scenarios: 10,
        lines: 24,
    };
    pub const NONE: Limits = Limits {
        scenarios: usize::MAX,
        lines: usize::MAX,
    };
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiffReport {
    pub diff_version: u32,
    pub run_a: Side,
    pub run_b: Side,
    pub obligations: Vec<ObligationChange>,
    pub scenarios: Vec<ScenarioChange>,
    pub frames: Vec<FrameChange>,
    pub more_frames: usize,
    pub summary: Counts,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Side {
    pub path: String,
    pub target: String,
    pub scenarios: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ObligationChange {
    pub id: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub scenarios: Vec<Moved>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ScenarioChange {
    Added {
        id: String,
        verdict: String,
    },
    Removed {
        id: String,
        verdict: String,
    },
    Verdict {
        id: String,
        from: String,
        to: String,
        why: Option<String>,
    },
    Timing {
        id: String,
        from: f64,
        to: f64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrameChange {
    pub id: String,
    pub lines: Vec<String>,
    pub more_lines: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    pub obligations: usize,
    pub added: usize,
    pub removed: usize,
    pub verdict: usize,
    pub frames: usize,
    pub timing: usize,
}

impl Counts {
    fn total(&self) -> usize {
        self.obligations + self.added + self.removed + self.verdict + self.frames + self.timing
    }
}

fn side(path: &Path, run: &RunFile) -> Side {
    Side {
        path: path.display().to_string(),
        target: run.target.clone(),
        scenarios: run.scenarios.len(),
    }
}

impl DiffReport {
    pub fn new(
        (path_a, a): (&Path, &RunFile),
        (path_b, b): (&Path, &RunFile),
        changes: Vec<Change>,
        limits: Limits,
    ) -> DiffReport {
        let mut report = DiffReport {
            diff_version: DIFF_FORMAT_VERSION,
            run_a: side(path_a, a),
            run_b: side(path_b, b),
            obligations: Vec::new(),
            scenarios: Vec::new(),
            frames: Vec::new(),
            more_frames: 0,
            summary: Counts::default(),
        };
        let counts = &mut report.summary;
        for change in changes {
            match change {
                Change::Obligation {
                    id,
                    from,
                    to,
                    scenarios,
                } => {
                    counts.obligations += 1;
                    report.obligations.push(ObligationChange {
                        id,
                        from,
                        to,
                        scenarios,
                    });
                }
                Change::Added { id, verdict } => {
                    counts.added += 1;
                    report.scenarios.push(ScenarioChange::Added { id, verdict });
                }
                Change::Removed { id, verdict } => {
                    counts.removed += 1;
                    report
                        .scenarios
                        .push(ScenarioChange::Removed { id, verdict });
                }
                Change::Verdict { id, from, to, why } => {
                    counts.verdict += 1;
                    report
                        .scenarios
                        .push(ScenarioChange::Verdict { id, from, to, why });
                }
                Change::Timing { id, from, to } => {
                    counts.timing += 1;
                    report
                        .scenarios
                        .push(ScenarioChange::Timing { id, from, to });
                }
                Change::Transcript { id, diff } => {
                    counts.frames += 1;
                    if report.frames.len() >= limits.scenarios {
                        report.more_frames += 1;
                        continue;
                    }
                    let all: Vec<&str> = diff.lines().collect();
                    let shown = all.len().min(limits.lines);
                    report.frames.push(FrameChange {
                        id,
                        lines: all[..shown].iter().map(|l| l.to_string()).collect(),
                        more_lines: all.len() - shown,
                    });
                }
            }
        }
        report
    }

    pub fn is_empty(&self) -> bool {
        self.summary.total() == 0
    }

    /// The document as pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a diff serializes");
        s.push('\n');
        s
    }

    /// The text people read: obligations, scenarios, frames, then one line of counts.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (name, side) in [("run A", &self.run_a), ("run B", &self.run_b)] {
            let noun = if side.scenarios == 1 {
                "scenario"
            } else {
                "scenarios"
            };
            let target = if side.target.is_empty() {
                String::new()
            } else {
                format!(", {}", side.target)
            };
            let _ = writeln!(
                s,
                "{name}: {} ({} {noun}{target})",
                side.path, side.scenarios
            );
        }
        if self.is_empty() {
            let _ = writeln!(s, "no changes");
            return s;
        }
        let state = |v: &Option<String>| v.as_deref().unwrap_or("(not listed)").to_string();
        if !self.obligations.is_empty() {
            let _ = writeln!(s, "\nobligations ({} changed):", self.obligations.len());
            let width = self
                .obligations
                .iter()
                .map(|o| o.id.len())
                .max()
                .unwrap_or(0);
            for o in &self.obligations {
                let _ = writeln!(
                    s,
                    "  {:width$}  {} → {}",
                    o.id,
                    state(&o.from),
                    state(&o.to)
                );
                for m in o.scenarios.iter().take(SCENARIOS_PER_OBLIGATION) {
                    let _ = writeln!(
                        s,
                        "  {:width$}    {}: {} → {}",
                        "",
                        m.id,
                        state(&m.from),
                        state(&m.to)
                    );
                }
                let more = o.scenarios.len().saturating_sub(SCENARIOS_PER_OBLIGATION);
                if more > 0 {
                    let _ = writeln!(s, "  {:width$}    … and {more} more scenarios", "");
                }
            }
        }
        if !self.scenarios.is_empty() {
            let _ = writeln!(s, "\nscenarios ({} changes):", self.scenarios.len());
            for c in &self.scenarios {
                let _ = match c {
                    ScenarioChange::Added { id, verdict } => {
                        writeln!(s, "  added    {id} ({verdict})")
                    }
                    ScenarioChange::Removed { id, verdict } => {
                        writeln!(s, "  removed  {id} (was {verdict})")
                    }
                    ScenarioChange::Verdict { id, from, to, why } => {
                        let why = why.as_deref().map(|w| format!(": {w}")).unwrap_or_default();
                        writeln!(s, "  verdict  {id}: {from} → {to}{why}")
                    }
                    ScenarioChange::Timing { id, from, to } => {
                        let pct = if *from > 0.0 {
                            format!(" ({:+.0}%)", (to - from) / from * 100.0)
                        } else {
                            String::new()
                        };
                        writeln!(
                            s,
                            "  timing   {id}: scenario clock {from:.1}s → {to:.1}s{pct}"
                        )
                    }
                };
            }
        }
        if self.summary.frames > 0 {
            let noun = if self.summary.frames == 1 {
                "scenario"
            } else {
                "scenarios"
            };
            let _ = writeln!(s, "\nframes ({} {noun}):", self.summary.frames);
            for f in &self.frames {
                let _ = writeln!(s, "  {}:", f.id);
                for line in &f.lines {
                    let _ = writeln!(s, "      {line}");
                }
                if f.more_lines > 0 {
                    let _ = writeln!(s, "      … and {} more lines", f.more_lines);
                }
            }
            if self.more_frames > 0 {
                let _ = writeln!(
                    s,
                    "  … and {} more scenarios with changed frames (--full shows them)",
                    self.more_frames
                );
            }
        }
        let c = &self.summary;
        let _ = writeln!(
            s,
            "\nchanges: {} obligations, {} added, {} removed, {} verdict, {} frames, {} timing",
            c.obligations, c.added, c.removed, c.verdict, c.frames, c.timing
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::golden::normalize::NormalizeOptions;
    use crate::report::rundiff::compare;
    use serde_json::json;

    fn frame(cmd: &str, n: usize) -> serde_json::Value {
        json!({"at": 0.0, "event": "received", "conn": "a",
               "frame": {"type": "json", "json": {"cmd": cmd, "headers": {"req_id": format!("r{n}")}}}})
    }

    /// Two small runs of the same three scenarios: in B the register scenario fails (D2 and
    /// nothing else changes status), its frames changed, and one scenario is new.
    fn runs(frames_b: usize) -> (RunFile, RunFile) {
        let row = |id: &str, status: &str, given: serde_json::Value| json!({"id": id, "text": "…", "source": "D 1", "strength": "must", "status": status, "scenarios": given});
        let a = json!({"version": 1, "target": "the device started by `fw-1.0`", "scenarios": [
            {"id": "device.register", "verdict": "pass", "scenario_time": 1.0,
             "transcript": {"entries": [frame("register", 1)]}},
            {"id": "device.ping", "verdict": "pass", "scenario_time": 1.0,
             "transcript": {"entries": [frame("ping", 1)]}},
        ], "requirements": [
            row("D1", "pass", json!([{"scenario": "device.ping", "outcome": "pass"}])),
            row("D2", "pass", json!([{"scenario": "device.register", "outcome": "pass"}])),
            row("D3", "not_covered", json!([])),
        ]});
        let entries: Vec<_> = (0..frames_b).map(|n| frame("register_v2", n)).collect();
        let b = json!({"version": 1, "target": "the device started by `fw-1.1`", "scenarios": [
            {"id": "device.register", "verdict": "fail", "message": "D2: the register came without a signature\nmore",
             "scenario_time": 1.0, "transcript": {"entries": entries}},
            {"id": "device.ping", "verdict": "pass", "scenario_time": 1.0,
             "transcript": {"entries": [frame("ping", 1)]}},
            {"id": "device.new", "verdict": "pass"},
        ], "requirements": [
            row("D1", "pass", json!([{"scenario": "device.ping", "outcome": "pass"}])),
            row("D2", "fail", json!([{"scenario": "device.register", "outcome": "fail"}])),
            row("D3", "not_covered", json!([])),
        ]});
        let parse =
            |v: serde_json::Value| RunFile::parse(&v.to_string(), Path::new("run.json")).unwrap();
        (parse(a), parse(b))
    }

    fn report(frames_b: usize, limits: Limits) -> DiffReport {
        let (a, b) = runs(frames_b);
        let changes = compare(&a, &b, NormalizeOptions { times: false });
        DiffReport::new(
            (Path::new("fw-1.0/run.json"), &a),
            (Path::new("fw-1.1/run.json"), &b),
            changes,
            limits,
        )
    }

    #[test]
    fn one_changed_obligation_reads_first_in_text_and_json() {
        let r = report(2, Limits::DEFAULT);
        assert_eq!(
            r.obligations.len(),
            1,
            "only D2 changed: {:?}",
            r.obligations
        );
        insta::assert_snapshot!("diff_text", r.to_text());
        insta::assert_snapshot!("diff_json", r.to_json());
    }

    /// Frames are bounded: lines per scenario and scenarios, each with what was left out;
    /// `--full` shows all; the counts are of everything.
    #[test]
    fn frames_are_capped_with_and_n_more() {
        let capped = report(
            40,
            Limits {
                scenarios: 10,
                lines: 5,
            },
        );
        let f = &capped.frames[0];
        assert_eq!(f.lines.len(), 5);
        assert!(f.more_lines > 30, "{}", f.more_lines);
        assert!(capped
            .to_text()
            .contains(&format!("… and {} more lines", f.more_lines)));
        let none = report(
            40,
            Limits {
                scenarios: 0,
                lines: 5,
            },
        );
        assert!(none.frames.is_empty());
        assert_eq!((none.more_frames, none.summary.frames), (1, 1));
        assert!(none
            .to_text()
            .contains("… and 1 more scenarios with changed frames"));
        let full = report(40, Limits::NONE);
        assert_eq!(full.frames[0].more_lines, 0);
        // The same run twice: nothing changed, said once.
        let (a, _) = runs(1);
        let same = DiffReport::new(
            (Path::new("a"), &a),
            (Path::new("a"), &a),
            compare(&a, &a, NormalizeOptions { times: false }),
            Limits::DEFAULT,
        );
        assert!(same.is_empty());
        assert!(same.to_text().ends_with("no changes\n"));
    }
}
