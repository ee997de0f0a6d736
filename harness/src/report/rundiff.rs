//! What changed between two runs (two firmware builds, two
//! clouds, yesterday and today), read from their JSON reports (`reports/run.json`).
//!
//! Reported, in this order: obligations whose status in the requirement matrix changed
//! (`D2 pass → fail`, with the scenarios whose outcome for it moved); scenarios added and
//! removed; verdict changes (`pass → fail`);
//! transcript changes (normalized transcripts, diffed per scenario; without `--times` they
//! are compared as for a real target: no times, connection by connection); timing changes (the scenario clock moved by more than 10% and more
//! than 1 s).
//! How the changes read (text and JSON, bounded) is [`super::diff_report`]; the command
//! line (`hwconform diff`, exit codes) is `crate::cli::diff`.

use crate::check::golden::linediff;
use crate::check::golden::normalize::{normalize_with, NormalizeOptions};
use crate::check::golden::view;
use crate::engine::transcript::{Transcript, TranscriptEntry, TranscriptEvent};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// A timing change is reported when the scenario clock moved by more than this fraction…
const TIMING_RATIO: f64 = 0.10;
/// …and by more than this many seconds.
const TIMING_SECS: f64 = 1.0;

pub use super::RunFileError;

/// The parts of a run report (see [`crate::report::json`]) that a diff reads.
#[derive(Debug, Deserialize)]
pub struct RunFile {
    pub version: u32,
    #[serde(default)]
    pub target: String,
    pub scenarios: Vec<ScenarioRecord>,
    /// The requirement matrix (absent from reports older than it: no obligation changes).
    #[serde(default)]
    pub requirements: Vec<RequirementRecord>,
}

/// The parts of a matrix row ([`crate::report::matrix::Row`]) a diff reads.
#[derive(Debug, Deserialize)]
pub struct RequirementRecord {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub scenarios: Vec<GivenRecord>,
}

#[derive(Debug, Deserialize)]
pub struct GivenRecord {
    pub scenario: String,
    pub outcome: String,
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

    /// [`RunFile::load`] of a run judged with `profile`; one of another profile is refused.
    pub fn load_for(
        path: &Path,
        profile: &dyn crate::profile::Profile,
    ) -> Result<RunFile, RunFileError> {
        crate::report::json::parse_run_for(&crate::report::json::read_run(path)?, path, profile)
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
    /// An obligation's status changed (`None`: the run's matrix does not list it).
    Obligation {
        id: String,
        from: Option<String>,
        to: Option<String>,
        /// The scenarios whose outcome for it changed, which explain the change.
        scenarios: Vec<Moved>,
    },
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

/// A scenario's outcome for one obligation, before and after (`None`: not given).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Moved {
    pub id: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The obligations whose status changed, in run `b`'s matrix order (then those only `a`
/// lists).
fn obligations(a: &RunFile, b: &RunFile) -> Vec<Change> {
    let rows_a: BTreeMap<&str, &RequirementRecord> =
        a.requirements.iter().map(|r| (r.id.as_str(), r)).collect();
    let in_b: std::collections::HashSet<&str> =
        b.requirements.iter().map(|r| r.id.as_str()).collect();
    let mut out = Vec::new();
    let rows = b
        .requirements
        .iter()
        .map(|rb| {
            (
                rb.id.as_str(),
                rows_a.get(rb.id.as_str()).copied(),
                Some(rb),
            )
        })
        .chain(
            a.requirements
                .iter()
                .filter(|ra| !in_b.contains(ra.id.as_str()))
                .map(|ra| (ra.id.as_str(), Some(ra), None)),
        );
    for (id, ra, rb) in rows {
        let (from, to) = (ra.map(|r| r.status.clone()), rb.map(|r| r.status.clone()));
        if from == to {
            continue;
        }
        let given = |r: Option<&RequirementRecord>| -> BTreeMap<String, String> {
            r.map(|r| {
                r.scenarios
                    .iter()
                    .map(|g| (g.scenario.clone(), g.outcome.clone()))
                    .collect()
            })
            .unwrap_or_default()
        };
        let (ga, gb) = (given(ra), given(rb));
        let mut ids: Vec<&String> = ga.keys().chain(gb.keys()).collect();
        ids.sort();
        ids.dedup();
        let scenarios = ids
            .into_iter()
            .filter(|s| ga.get(*s) != gb.get(*s))
            .map(|s| Moved {
                id: s.clone(),
                from: ga.get(s).cloned(),
                to: gb.get(s).cloned(),
            })
            .collect();
        out.push(Change::Obligation {
            id: id.to_string(),
            from,
            to,
            scenarios,
        });
    }
    out
}

/// Every change from run `a` to run `b`, grouped by kind (obligations first, in matrix
/// order), scenarios by id within a kind.
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
    obligations(a, b)
        .into_iter()
        .chain(added)
        .chain(removed)
        .chain(verdicts)
        .chain(transcripts)
        .chain(timings)
        .collect()
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
