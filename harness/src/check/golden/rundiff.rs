//! What changed between two runs (two firmware builds, two
//! clouds, yesterday and today), read from their JSON reports (`reports/run.json`).
//!
//! Reported, in this order: scenarios added and removed; verdict changes (`pass → fail`);
//! transcript changes (normalized transcripts, diffed per scenario; without `--times` they
//! are compared as for a real target: no times, connection by connection); timing changes (the scenario clock moved by more than 10% and more
//! than 1 s).
//! The command line (`hwconform diff`, exit codes) is `crate::cli::diff`.

use super::apply::view;
use super::linediff;
use super::normalize::{normalize_with, NormalizeOptions};
use crate::engine::transcript::{Transcript, TranscriptEntry, TranscriptEvent};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// A timing change is reported when the scenario clock moved by more than this fraction…
const TIMING_RATIO: f64 = 0.10;
/// …and by more than this many seconds.
const TIMING_SECS: f64 = 1.0;

pub use crate::report::RunFileError;

/// The parts of a run report (see [`crate::report::json`]) that a diff reads.
#[derive(Debug, Deserialize)]
pub struct RunFile {
    pub version: u32,
    #[serde(default)]
    pub target: String,
    pub scenarios: Vec<ScenarioRecord>,
}

#[derive(Debug, Deserialize)]
pub struct ScenarioRecord {
    pub id: String,
    pub verdict: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub scenario_time: f64,
    #[serde(default)]
    pub transcript: TranscriptRecord,
}

#[derive(Debug, Default, Deserialize)]
pub struct TranscriptRecord {
    #[serde(default)]
    pub entries: Vec<EntryRecord>,
}

#[derive(Debug, Deserialize)]
pub struct EntryRecord {
    pub at: f64,
    #[serde(flatten)]
    pub event: TranscriptEvent,
}

impl RunFile {
    pub fn load(path: &Path) -> Result<RunFile, RunFileError> {
        RunFile::parse(&crate::report::json::read_run(path)?, path)
    }

    /// Checked as every reader of run.json checks it ([`crate::report::parse_run`]).
    pub fn parse(text: &str, path: &Path) -> Result<RunFile, RunFileError> {
        crate::report::parse_run(text, path)
    }

    fn by_id(&self) -> BTreeMap<&str, &ScenarioRecord> {
        self.scenarios.iter().map(|s| (s.id.as_str(), s)).collect()
    }
}

impl TranscriptRecord {
    fn to_transcript(&self) -> Transcript {
        Transcript {
            entries: self
                .entries
                .iter()
                .map(|e| TranscriptEntry {
                    at: Duration::from_secs_f64(e.at.max(0.0)),
                    event: e.event.clone(),
                })
                .collect(),
        }
    }
}

/// One difference between two runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
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
    Transcript {
        id: String,
        diff: String,
    },
    Timing {
        id: String,
        from: f64,
        to: f64,
    },
}

/// Every change from run `a` to run `b`, grouped by kind, scenarios by id within a kind.
pub fn compare(a: &RunFile, b: &RunFile, opts: NormalizeOptions) -> Vec<Change> {
    let (ma, mb) = (a.by_id(), b.by_id());
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut verdicts = Vec::new();
    let mut transcripts = Vec::new();
    let mut timings = Vec::new();
    for (id, sa) in &ma {
        if !mb.contains_key(id) {
            removed.push(Change::Removed {
                id: id.to_string(),
                verdict: sa.verdict.clone(),
            });
        }
    }
    for (id, sb) in &mb {
        let Some(sa) = ma.get(id) else {
            added.push(Change::Added {
                id: id.to_string(),
                verdict: sb.verdict.clone(),
            });
            continue;
        };
        if sa.verdict != sb.verdict {
            let why = sb
                .message
                .clone()
                .or_else(|| sb.reason.clone())
                .map(|m| m.lines().next().unwrap_or_default().to_string());
            verdicts.push(Change::Verdict {
                id: id.to_string(),
                from: sa.verdict.clone(),
                to: sb.verdict.clone(),
                why,
            });
        }
        // Only conversations that happened on both sides are compared.
        if sa.transcript.entries.is_empty() || sb.transcript.entries.is_empty() {
            continue;
        }
        // Without times, as for a real target: connection by connection.
        let ta = view(
            &normalize_with(&sa.transcript.to_transcript(), opts),
            opts.times,
        );
        let tb = view(
            &normalize_with(&sb.transcript.to_transcript(), opts),
            opts.times,
        );
        let diff = linediff::unified(&ta, &tb, "run A", "run B");
        if !diff.is_empty() {
            transcripts.push(Change::Transcript {
                id: id.to_string(),
                diff,
            });
        }
        let (ta, tb) = (sa.scenario_time, sb.scenario_time);
        let delta = (tb - ta).abs();
        if delta > TIMING_SECS && delta > TIMING_RATIO * ta.abs() {
            timings.push(Change::Timing {
                id: id.to_string(),
                from: ta,
                to: tb,
            });
        }
    }
    added
        .into_iter()
        .chain(removed)
        .chain(verdicts)
        .chain(transcripts)
        .chain(timings)
        .collect()
}

/// The report people read.
pub fn render(
    path_a: &Path,
    a: &RunFile,
    path_b: &Path,
    b: &RunFile,
    changes: &[Change],
) -> String {
    let mut s = String::new();
    let describe = |p: &Path, r: &RunFile| {
        let target = if r.target.is_empty() {
            String::new()
        } else {
            format!(", {}", r.target)
        };
        let noun = if r.scenarios.len() == 1 {
            "scenario"
        } else {
            "scenarios"
        };
        format!("{} ({} {noun}{target})", p.display(), r.scenarios.len())
    };
    let _ = writeln!(s, "run A: {}", describe(path_a, a));
    let _ = writeln!(s, "run B: {}", describe(path_b, b));
    let mut counts = [0usize; 5];
    for c in changes {
        match c {
            Change::Added { id, verdict } => {
                counts[0] += 1;
                let _ = writeln!(s, "added      {id} ({verdict})");
            }
            Change::Removed { id, verdict } => {
                counts[1] += 1;
                let _ = writeln!(s, "removed    {id} (was {verdict})");
            }
            Change::Verdict { id, from, to, why } => {
                counts[2] += 1;
                let why = why.as_deref().map(|w| format!(": {w}")).unwrap_or_default();
                let _ = writeln!(s, "verdict    {id}: {from} → {to}{why}");
            }
            Change::Transcript { id, diff } => {
                counts[3] += 1;
                let _ = writeln!(s, "transcript {id}:");
                for line in diff.lines() {
                    let _ = writeln!(s, "    {line}");
                }
            }
            Change::Timing { id, from, to } => {
                counts[4] += 1;
                let pct = if *from > 0.0 {
                    format!(" ({:+.0}%)", (to - from) / from * 100.0)
                } else {
                    String::new()
                };
                let _ = writeln!(
                    s,
                    "timing     {id}: scenario clock {from:.1}s → {to:.1}s{pct}"
                );
            }
        }
    }
    if changes.is_empty() {
        let _ = writeln!(s, "no changes");
    } else {
        let _ = writeln!(
            s,
            "changes: {} added, {} removed, {} verdict, {} transcript, {} timing",
            counts[0], counts[1], counts[2], counts[3], counts[4]
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(scenarios: serde_json::Value) -> RunFile {
        RunFile::parse(
            &json!({"version": 1, "target": "mock", "summary": {}, "scenarios": scenarios})
                .to_string(),
            Path::new("x.json"),
        )
        .unwrap()
    }

    fn entry(at: f64, text: &str) -> serde_json::Value {
        json!({"at": at, "event": "sent", "conn": "a", "frame": {"type": "json", "json": {"cmd": text, "headers": {"req_id": format!("r{at}")}}}})
    }

    #[test]
    fn finds_every_kind_of_change() {
        let a = run(json!([
            {"id": "s.same", "verdict": "pass", "scenario_time": 1.0, "transcript": {"entries": [entry(0.0, "ping")]}},
            {"id": "s.gone", "verdict": "pass"},
            {"id": "s.broke", "verdict": "pass", "scenario_time": 10.0, "transcript": {"entries": [entry(0.0, "ping")]}},
        ]));
        let b = run(json!([
            {"id": "s.same", "verdict": "pass", "scenario_time": 1.5, "transcript": {"entries": [entry(0.5, "ping")]}},
            {"id": "s.new", "verdict": "skip", "reason": "no device"},
            {"id": "s.broke", "verdict": "fail", "message": "C4: wrong\nmore", "scenario_time": 20.0, "transcript": {"entries": [entry(0.0, "pong")]}},
        ]));
        let changes = compare(&a, &b, NormalizeOptions { times: false });
        assert_eq!(changes.len(), 5, "{changes:#?}");
        assert_eq!(
            changes[0],
            Change::Added {
                id: "s.new".into(),
                verdict: "skip".into()
            }
        );
        assert_eq!(
            changes[1],
            Change::Removed {
                id: "s.gone".into(),
                verdict: "pass".into()
            }
        );
        assert_eq!(
            changes[2],
            Change::Verdict {
                id: "s.broke".into(),
                from: "pass".into(),
                to: "fail".into(),
                why: Some("C4: wrong".into())
            }
        );
        assert!(
            matches!(&changes[3], Change::Transcript { id, diff } if id == "s.broke" && diff.contains("-[a] → {\"cmd\":\"ping\""))
        );
        assert_eq!(
            changes[4],
            Change::Timing {
                id: "s.broke".into(),
                from: 10.0,
                to: 20.0
            }
        );
        // With times, the shifted frame of s.same shows; its 0.5 s clock change does not.
        let timed = compare(&a, &b, NormalizeOptions { times: true });
        assert!(timed
            .iter()
            .any(|c| matches!(c, Change::Transcript { id, .. } if id == "s.same")));
        assert!(!timed
            .iter()
            .any(|c| matches!(c, Change::Timing { id, .. } if id == "s.same")));
        assert!(compare(&a, &a, NormalizeOptions { times: true }).is_empty());
    }

    #[test]
    fn bad_files_name_the_path() {
        let p = Path::new("reports/x.json");
        assert!(RunFile::parse("{", p)
            .unwrap_err()
            .to_string()
            .contains("reports/x.json"));
        let v2 = json!({"version": 2, "scenarios": []}).to_string();
        assert!(RunFile::parse(&v2, p)
            .unwrap_err()
            .to_string()
            .contains("version 2"));
        let dup = json!({"version": 1, "scenarios": [{"id": "a", "verdict": "pass"}, {"id": "a", "verdict": "pass"}]}).to_string();
        assert!(RunFile::parse(&dup, p)
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }
}
