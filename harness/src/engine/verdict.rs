//! Verdicts: what a run concluded about each scenario, with the evidence.

use super::transcript::Transcript;
use crate::scenario::Role;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Why a scenario failed or errored: the message, where in the file, and for a mismatch what
/// was expected and what arrived (secrets redacted).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failure {
    pub message: String,
    /// The rule (obligation id) broken, when a rule check failed.
    pub rule: Option<String>,
    /// The step, as `3` or `5.2` (nested in a repeat), with its kind.
    pub step: Option<String>,
    pub step_kind: Option<String>,
    pub line: Option<u32>,
    pub col: Option<u32>,
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// A line diff (golden transcript against this run), when the failure is a changed
    /// conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), rule: None, step: None, step_kind: None, line: None, col: None, expected: None, actual: None, diff: None }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    /// The target broke a rule.
    Fail(Failure),
    /// The run could not judge (refused connection, harness problem).
    Error(Failure),
    /// Not applicable to this target, with the reason.
    Skip { reason: String },
    /// Not observable on the wire: the lab checks it by hand, following the instructions.
    Manual { instructions: String },
}

impl Verdict {
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "fail",
            Verdict::Error(_) => "error",
            Verdict::Skip { .. } => "skip",
            Verdict::Manual { .. } => "manual",
        }
    }
    pub fn is_bad(&self) -> bool {
        matches!(self, Verdict::Fail(_) | Verdict::Error(_))
    }
}

/// Everything a reporter needs about one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioResult {
    pub id: String,
    pub title: String,
    pub file: PathBuf,
    pub role: Role,
    pub requirements: Vec<String>,
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Wall-clock time the scenario took.
    #[serde(serialize_with = "ser_secs")]
    pub wall_time: Duration,
    /// Time on the scenario clock (virtual for in-process targets).
    #[serde(serialize_with = "ser_secs")]
    pub scenario_time: Duration,
    pub transcript: Transcript,
}

/// Totals of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub passed: usize,
    pub failed: usize,
    pub errored: usize,
    pub skipped: usize,
    /// Scenarios left to the lab (not observable on the wire).
    pub manual: usize,
    #[serde(serialize_with = "ser_secs")]
    pub wall_time: Duration,
}

impl RunSummary {
    pub fn add(&mut self, v: &Verdict) {
        match v {
            Verdict::Pass => self.passed += 1,
            Verdict::Fail(_) => self.failed += 1,
            Verdict::Error(_) => self.errored += 1,
            Verdict::Skip { .. } => self.skipped += 1,
            Verdict::Manual { .. } => self.manual += 1,
        }
    }
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.errored + self.skipped + self.manual
    }
    /// True when nothing failed or errored.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.errored == 0
    }
}

/// Durations in reports: seconds with millisecond precision.
pub(crate) fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}
