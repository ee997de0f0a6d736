//! The JSON report: the run's results as data, for tools (`hwconform diff` compares two).
//!
//! # Format, version 1
//!
//! One object, pretty-printed, keys in this order:
//!
//! ```json
//! {
//!   "version": 1,
//!   "target": "mock",
//!   "summary": { "passed": 12, "failed": 1, "errored": 0, "skipped": 2, "wall_time": 1.23 },
//!   "scenarios": [
//!     {
//!       "id": "cloud.lifecycle.register",
//!       "title": "…",
//!       "file": "scenarios/cloud/lifecycle/register.yaml",
//!       "role": "device",
//!       "requirements": ["C4"],
//!       "tags": [],
//!       "verdict": "pass",
//!       "wall_time": 0.012,
//!       "scenario_time": 95.0,
//!       "transcript": { "entries": [ { "at": 0.0, "event": "opened", "conn": "c1", "local": "…" } ] }
//!     }
//!   ],
//!   "requirements": [
//!     { "id": "C4", "text": "…", "source": "D 91370", "strength": "must", "status": "pass",
//!       "scenarios": [ { "scenario": "cloud.lifecycle.register", "outcome": "pass" } ] }
//!   ]
//! }
//! ```
//!
//! - `requirements` is the requirement matrix: every D/C obligation in order, `status` one of
//!   `pass`, `fail`, `error`, `inconclusive`, `warn`, `not_applicable`, `manual_pending`,
//!   `not_covered`; `detail` (skip reasons, a manual check's automated half, who signed) and
//!   `manual` (the recorded manual verdict: `verdict`, `by`, `at`, `note`) when there are.
//!
//! - `version` changes only when a field is removed or changes meaning; new fields may be
//!   added within a version.
//! - `target` is the target name from `RunStarted` (empty if the run never started).
//! - `ics` (after `target`, only when the run had a device target and an implementation
//!   conformance statement for it): `{ "vendor", "model", "firmware_version",
//!   "provisioning": "per-device" | "seed" | null, "features": { "door": true, ... } }`.
//! - `summary` is the engine's [`RunSummary`](crate::engine::RunSummary); `scenarios` are
//!   [`ScenarioResult`]s **sorted by id**, so two runs diff line by line whatever order the
//!   scenarios finished in.
//! - `verdict` is `pass`, `fail`, `error` or `skip`. A fail or error adds the
//!   [`Failure`](crate::engine::Failure) fields beside it (`message`, `rule`, `step`,
//!   `step_kind`, `line`, `col`, `expected`, `actual`; `null` when unknown); a skip adds
//!   `reason`.
//! - Durations are seconds as numbers, rounded to the millisecond. The file holds no
//!   timestamps, hostnames or absolute clock readings; `wall_time` fields are the only values
//!   that vary between identical runs, and a diff should ignore them.
//! - Transcript frames are stored with secrets already redacted (`"<redacted>"`).

use super::sink::{write_file, ReportError, Reporter};
use crate::engine::{RunEvent, RunSummary, ScenarioResult};
use crate::ics::IcsSummary;
use serde::Serialize;
use std::path::PathBuf;

/// The version written in the `version` field.
pub const JSON_FORMAT_VERSION: u32 = 1;

/// The document written to the file (see the [module docs](self)).
#[derive(Serialize)]
pub struct RunReport<'a> {
    pub version: u32,
    pub target: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ics: Option<&'a IcsSummary>,
    pub summary: &'a RunSummary,
    pub scenarios: Vec<&'a ScenarioResult>,
    /// The requirement matrix ([`super::matrix`]): every obligation, in the profile's order.
    pub requirements: Vec<super::matrix::Row>,
}

impl<'a> RunReport<'a> {
    /// The document for a run, scenarios sorted by id.
    pub fn new(target: &'a str, summary: &'a RunSummary, results: &'a [ScenarioResult]) -> RunReport<'a> {
        let mut scenarios: Vec<&ScenarioResult> = results.iter().collect();
        scenarios.sort_by(|a, b| a.id.cmp(&b.id));
        let requirements = super::matrix::build(crate::profile::wecom::obligations::statements(), results, &[]);
        RunReport { version: JSON_FORMAT_VERSION, target, ics: None, summary, scenarios, requirements }
    }

    /// The document as pretty JSON with a final newline.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let mut s = serde_json::to_string_pretty(self)?;
        s.push('\n');
        Ok(s)
    }
}

/// Collects results and writes the JSON report on `RunFinished`.
pub struct JsonReporter {
    path: PathBuf,
    target: String,
    ics: Option<IcsSummary>,
    results: Vec<ScenarioResult>,
    manual: Vec<super::matrix::ManualRecord>,
}

impl JsonReporter {
    /// The manual verdicts recorded so far, for the `requirements` matrix.
    pub fn with_manual(mut self, manual: Vec<super::matrix::ManualRecord>) -> JsonReporter {
        self.manual = manual;
        self
    }

    /// A reporter that will write to `path` (the CLI passes `reports/run.json`); parent
    /// directories are created when the file is written.
    pub fn new(path: impl Into<PathBuf>) -> JsonReporter {
        JsonReporter { path: path.into(), target: String::new(), ics: None, results: Vec::new(), manual: Vec::new() }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Reporter for JsonReporter {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ReportError> {
        match event {
            RunEvent::RunStarted { scenarios, target, ics } => {
                self.target = target.clone();
                self.ics = ics.clone();
                self.results = Vec::with_capacity(*scenarios);
            }
            // Notices are for the person at the terminal; the report has the target.
            RunEvent::Notice { text: _ } | RunEvent::ScenarioStarted { id: _ } => {}
            RunEvent::ScenarioFinished(result) => self.results.push((**result).clone()),
            RunEvent::RunFinished(summary) => {
                let requirements =
                    super::matrix::build(crate::profile::wecom::obligations::statements(), &self.results, &self.manual);
                let report =
                    RunReport { ics: self.ics.as_ref(), requirements, ..RunReport::new(&self.target, summary, &self.results) };
                let json = report
                    .to_json()
                    .map_err(|source| ReportError::Json { path: self.path.clone(), source })?;
                write_file(&self.path, json.as_bytes())?;
            }
        }
        Ok(())
    }
}
