//! Verdicts: what a run concluded about each scenario, with the evidence.

use super::transcript::Transcript;
pub use crate::profile::{Binding, Severity};
use crate::scenario::Role;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Why a scenario failed or errored: the message, where in the file, and for a mismatch what
/// was expected and what arrived (secrets redacted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The obligations a failed step is charged to: what its matchers (`$judges`) or the step
    /// (`judges`) name. Empty: every id the scenario cites.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judges: Vec<String>,
    /// The step's `not_before` bound was broken (what came, came too early): the step's
    /// `judges: { not_before: ... }` names the rule.
    #[serde(skip)]
    pub early: bool,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            rule: None,
            step: None,
            step_kind: None,
            line: None,
            col: None,
            expected: None,
            actual: None,
            diff: None,
            judges: Vec::new(),
            early: false,
        }
    }
}

/// A scenario's verdict. Precedence when several apply (TTCN-3): fail over inconclusive over
/// warn over pass; a harness fault is `error`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    /// The target broke a rule.
    Fail(Failure),
    /// Nothing was proven either way: the preamble did not bring the target to the state the
    /// test purpose needs (it may have taken another conformant path).
    Inconclusive(Failure),
    /// The target deviated from a reading that does not bind it (an undocumented behaviour of
    /// the reference, judged against a target that is not the harness's own): listed apart,
    /// never a failure.
    Warn(Failure),
    /// The run could not judge (refused connection, harness problem).
    Error(Failure),
    /// Not applicable to this target, with the reason.
    Skip {
        reason: String,
    },
    /// Not observable on the wire: the lab checks it by hand, following the instructions.
    Manual {
        instructions: String,
    },
}

impl Verdict {
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "fail",
            Verdict::Inconclusive(_) => "inconclusive",
            Verdict::Warn(_) => "warn",
            Verdict::Error(_) => "error",
            Verdict::Skip { .. } => "skip",
            Verdict::Manual { .. } => "manual",
        }
    }
    /// A verdict that proves nothing or something wrong: the run's exit code is not 0.
    pub fn is_bad(&self) -> bool {
        matches!(
            self,
            Verdict::Fail(_) | Verdict::Error(_) | Verdict::Inconclusive(_)
        )
    }

    /// The failure behind a verdict that has one.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Verdict::Fail(f) | Verdict::Inconclusive(f) | Verdict::Warn(f) | Verdict::Error(f) => {
                Some(f)
            }
            _ => None,
        }
    }
}

/// What an always-on rule saw, wherever it happened: recorded without ending the scenario,
/// so one deviation does not hide the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    /// The obligation id.
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    /// The step that was running, as `3` or `5.2`, and its line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// An always-on monitor saw it in the transcript (so `rejudge` can see it again); false
    /// for what the session saw itself (a link left open, a reply check of a step).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub monitor: bool,
}

impl Finding {
    /// Adds what `v` saw to `findings`, at `step` (index and line), unless the same rule
    /// already broke the same way (a rule that keeps breaking says nothing new) or the list
    /// is full ([`MAX_FINDINGS`]); whether it was added.
    pub fn push_new(
        findings: &mut Vec<Finding>,
        v: crate::profile::Violation,
        step: Option<(String, u32)>,
        monitor: bool,
    ) -> bool {
        if findings.len() >= MAX_FINDINGS
            || findings
                .iter()
                .any(|f| f.rule == v.rule && f.message == v.message)
        {
            return false;
        }
        let (step, line) = step.map_or((None, None), |(s, l)| (Some(s), Some(l)));
        findings.push(Finding {
            rule: v.rule.to_string(),
            severity: v.severity,
            message: v.message,
            step,
            line,
            monitor,
        });
        true
    }
}

/// One obligation's verdict in one scenario: the ids the scenario cites, judged by its steps,
/// and every rule an always-on monitor saw broken.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Skip,
    Manual,
    Pass,
    Warn,
    Inconclusive,
    Error,
    Fail,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Skip => "skip",
            Outcome::Manual => "manual",
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Inconclusive => "inconclusive",
            Outcome::Error => "error",
            Outcome::Fail => "fail",
        }
    }

    /// The outcome a verdict gives the ids its scenario cites.
    pub fn of(v: &Verdict) -> Outcome {
        match v {
            Verdict::Pass => Outcome::Pass,
            Verdict::Fail(_) => Outcome::Fail,
            Verdict::Inconclusive(_) => Outcome::Inconclusive,
            Verdict::Warn(_) => Outcome::Warn,
            Verdict::Error(_) => Outcome::Error,
            Verdict::Skip { .. } => Outcome::Skip,
            Verdict::Manual { .. } => Outcome::Manual,
        }
    }
}

/// Everything a reporter needs about one scenario.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScenarioResult {
    pub id: String,
    pub title: String,
    pub file: PathBuf,
    pub role: Role,
    pub requirements: Vec<String>,
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// What the always-on rules saw, failures and warnings, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Each obligation's own verdict here: the cited ids as the steps judged them, and every
    /// rule a finding names (a broken rule fails that rule, not the ids cited beside it).
    pub obligations: BTreeMap<String, Outcome>,
    /// Why a cited obligation was not judged here (`inconclusive`): what intervened before
    /// the scenario reached its checks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub not_reached: BTreeMap<String, String>,
    /// Wall-clock time the scenario took.
    #[serde(serialize_with = "ser_secs", deserialize_with = "de_secs")]
    #[schemars(with = "f64")]
    pub wall_time: Duration,
    /// Time on the scenario clock (virtual for in-process targets).
    #[serde(serialize_with = "ser_secs", deserialize_with = "de_secs")]
    #[schemars(with = "f64")]
    pub scenario_time: Duration,
    pub transcript: Transcript,
    /// What judging the transcript again needs besides it (`hwconform rejudge`); absent for
    /// scenarios that never reached their target and in run.json files of older harnesses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judged: Option<Judged>,
}

/// How a scenario was judged, kept so the recorded transcript can be judged again later by
/// a harness whose monitors or goldens have changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Judged {
    /// The steps' own verdict, before judges (goldens) and always-on findings were folded in;
    /// absent when it is the final verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Verdict>,
    /// The target ran in-process, on the virtual clock.
    pub in_process: bool,
    /// The target was the reference one goldens are recorded with.
    pub reference: bool,
    /// The cloud target's error codes were judged against the profile's list.
    pub strict_codes: bool,
    /// Transcript entries the monitors judged (the last sweep ran before the links were shut
    /// down; what arrived during the shutdown was never judged and is not on replay).
    #[serde(default)]
    pub swept: Option<usize>,
    /// Cloud role: the device under test started seed-provisioned (absent in run.json files
    /// of older harnesses: then the seed exchange is not judged by provisioning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeded: Option<bool>,
}

/// Totals of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunSummary {
    pub passed: usize,
    pub failed: usize,
    /// Scenarios that proved nothing: their preamble did not reach the test purpose.
    pub inconclusive: usize,
    /// Scenarios whose only deviation does not bind the target.
    pub warned: usize,
    pub errored: usize,
    pub skipped: usize,
    /// Scenarios left to the lab (not observable on the wire).
    pub manual: usize,
    #[serde(serialize_with = "ser_secs", deserialize_with = "de_secs")]
    #[schemars(with = "f64")]
    pub wall_time: Duration,
}

impl RunSummary {
    pub fn add(&mut self, v: &Verdict) {
        match v {
            Verdict::Pass => self.passed += 1,
            Verdict::Fail(_) => self.failed += 1,
            Verdict::Inconclusive(_) => self.inconclusive += 1,
            Verdict::Warn(_) => self.warned += 1,
            Verdict::Error(_) => self.errored += 1,
            Verdict::Skip { .. } => self.skipped += 1,
            Verdict::Manual { .. } => self.manual += 1,
        }
    }
    pub fn total(&self) -> usize {
        self.passed
            + self.failed
            + self.inconclusive
            + self.warned
            + self.errored
            + self.skipped
            + self.manual
    }
    /// True when nothing failed, errored or was left inconclusive.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.errored == 0 && self.inconclusive == 0
    }
}

/// Durations in reports: seconds with millisecond precision.
pub(crate) fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Durations read back from a report (the inverse of [`ser_secs`]).
pub(crate) fn de_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    // Written to the millisecond: read back as whole milliseconds, so a re-written report
    // has the same numbers (0.012 s as f64 is a hair under 12 ms).
    let secs = f64::deserialize(d)?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(serde::de::Error::custom(format!(
            "a duration in seconds, not {secs}"
        )));
    }
    Ok(Duration::from_millis((secs * 1000.0).round() as u64))
}

/// How many findings a scenario keeps: the first ones say what went wrong, and a flooding
/// target must not grow the report without bound.
pub const MAX_FINDINGS: usize = 64;

impl ScenarioResult {
    /// Settles the verdict once every check has spoken: `verdict` holds what the steps (and
    /// judges such as the golden compare) concluded; the findings of the always-on rules are
    /// folded in with TTCN-3 precedence (a broken rule fails the scenario whatever its steps
    /// said; a warning leaves the verdict alone), and each obligation gets its own outcome
    /// ([`Self::judge_obligations`]).
    pub fn conclude(&mut self, binding: &dyn Fn(&str) -> Binding) {
        self.judge_obligations(binding);
        let Some(first) = self.findings.iter().find(|f| f.severity == Severity::Fail) else {
            return;
        };
        let mut failure = Failure::new(format!("{}: {}", first.rule, first.message));
        failure.rule = Some(first.rule.clone());
        failure.step = first.step.clone();
        failure.line = first.line;
        if let Some(then) = self.verdict.failure() {
            failure.message = format!("{}; then: {}", failure.message, then.message);
            failure.step_kind = then.step_kind.clone().filter(|_| then.step == failure.step);
            failure.expected = then.expected.clone();
            failure.actual = then.actual.clone();
            failure.diff = then.diff.clone();
            failure.judges = then.judges.clone();
        }
        self.verdict = Verdict::Fail(failure);
    }

    /// Each obligation's verdict in this scenario, as TTCN-3 gives one per test purpose:
    /// - a failed step fails only what it judges (`judges` / `$judges`, else every cited id),
    ///   unless an always-on rule broke first: then the failure is that rule's doing, and what
    ///   the step judges was not reached;
    /// - a cited id the steps never got to (the scenario stopped on another one, or in its
    ///   preamble) is `inconclusive`, with the reason in `not_reached`;
    /// - every rule a finding names fails (or warns);
    /// - a MAY never fails and a SHOULD at most warns.
    fn judge_obligations(&mut self, binding: &dyn Fn(&str) -> Binding) {
        let own = Outcome::of(&self.verdict);
        let mut obligations: BTreeMap<String, Outcome> =
            self.requirements.iter().map(|r| (r.clone(), own)).collect();
        let mut not_reached = BTreeMap::new();
        let stopped = match &self.verdict {
            Verdict::Fail(f) | Verdict::Warn(f) => Some(f),
            _ => None,
        };
        if let Some(f) = stopped {
            let explicit = !f.judges.is_empty();
            let charged: Vec<&String> = if explicit {
                f.judges.iter().collect()
            } else {
                self.requirements.iter().collect()
            };
            // A rule broken at or before the failed step (the last sweep, after the steps,
            // has no step) explains the failure, unless the step names that very rule as
            // what it judges: the finding fails its rule, and what the step judges was not
            // reached.
            let first_broken = self.findings.iter().find(|x| {
                x.severity == Severity::Fail
                    && x.step.is_some()
                    && !(explicit && charged.contains(&&x.rule))
            });
            let at = f
                .step
                .as_ref()
                .map_or(String::new(), |s| format!(" at step {s}"));
            for id in &self.requirements {
                let (outcome, why) = match (charged.contains(&id), first_broken) {
                    (true, None) => (own, None),
                    (_, Some(b)) => (
                        Outcome::Inconclusive,
                        Some(format!(
                            "not reached: {} was broken first{}",
                            b.rule,
                            b.step
                                .as_ref()
                                .map_or(String::new(), |s| format!(" (step {s})"))
                        )),
                    ),
                    (false, None) => {
                        let ids: Vec<&str> = charged.iter().map(|s| s.as_str()).collect();
                        (
                            Outcome::Inconclusive,
                            Some(format!(
                                "not reached: the scenario stopped{at} on {}",
                                ids.join(", ")
                            )),
                        )
                    }
                };
                obligations.insert(id.clone(), outcome);
                if let Some(why) = why {
                    not_reached.insert(id.clone(), why);
                }
            }
        } else if let Verdict::Inconclusive(f) = &self.verdict {
            for id in &self.requirements {
                not_reached.insert(id.clone(), f.message.clone());
            }
        }
        for f in &self.findings {
            let o = match f.severity {
                Severity::Fail => Outcome::Fail,
                Severity::Warning => Outcome::Warn,
            };
            let entry = obligations.entry(f.rule.clone()).or_insert(o);
            if o > *entry {
                *entry = o;
                not_reached.remove(&f.rule);
            }
        }
        for (id, outcome) in obligations.iter_mut() {
            if *outcome == Outcome::Fail && binding(id) != Binding::Must {
                *outcome = Outcome::Warn;
            }
        }
        self.obligations = obligations;
        self.not_reached = not_reached;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn result(verdict: Verdict, findings: Vec<Finding>) -> ScenarioResult {
        ScenarioResult {
            id: "x".into(),
            title: String::new(),
            file: PathBuf::new(),
            role: Role::Cloud,
            requirements: vec!["R13".into()],
            tags: vec![],
            verdict,
            findings,
            obligations: BTreeMap::new(),
            not_reached: BTreeMap::new(),
            wall_time: Duration::ZERO,
            scenario_time: Duration::ZERO,
            transcript: Transcript::default(),
            judged: None,
        }
    }

    fn finding(rule: &str, severity: Severity) -> Finding {
        Finding {
            rule: rule.into(),
            severity,
            message: "seen".into(),
            step: Some("2".into()),
            line: Some(7),
            monitor: true,
        }
    }

    fn verdict(i: u8) -> Verdict {
        let f = Failure::new("steps");
        match i % 5 {
            0 => Verdict::Pass,
            1 => Verdict::Fail(f),
            2 => Verdict::Inconclusive(f),
            3 => Verdict::Warn(f),
            _ => Verdict::Error(f),
        }
    }

    #[test]
    fn a_broken_rule_fails_that_rule_and_not_the_ids_cited_beside_it() {
        let mut r = result(Verdict::Pass, vec![finding("R1", Severity::Fail)]);
        r.conclude(&|_| Binding::Must);
        assert_eq!(r.verdict.name(), "fail");
        assert_eq!(r.verdict.failure().unwrap().rule.as_deref(), Some("R1"));
        assert_eq!(
            r.obligations,
            BTreeMap::from([("R1".into(), Outcome::Fail), ("R13".into(), Outcome::Pass)])
        );
    }

    #[test]
    fn a_warning_is_listed_and_leaves_the_verdict_alone() {
        let mut r = result(Verdict::Pass, vec![finding("R1", Severity::Warning)]);
        r.conclude(&|_| Binding::Must);
        assert_eq!(r.verdict, Verdict::Pass);
        assert_eq!(r.obligations.get("R1"), Some(&Outcome::Warn));
    }

    #[test]
    fn an_inconclusive_preamble_leaves_the_cited_ids_inconclusive() {
        let mut r = result(Verdict::Inconclusive(Failure::new("no login")), vec![]);
        r.conclude(&|_| Binding::Must);
        assert_eq!(r.verdict.name(), "inconclusive");
        assert_eq!(r.obligations.get("R13"), Some(&Outcome::Inconclusive));
        assert!(
            r.verdict.is_bad(),
            "nothing was proven: the exit code says so"
        );
    }

    proptest! {
        /// Fail over everything; otherwise the steps' verdict stands; the step failure's
        /// message survives behind the rule's.
        #[test]
        fn precedence(steps in 0u8..5, rules in proptest::collection::vec((0u8..3, any::<bool>()), 0..6)) {
            let findings: Vec<Finding> = rules.iter().map(|(r, fail)| finding(["R1", "R2", "R13"][*r as usize], if *fail { Severity::Fail } else { Severity::Warning })).collect();
            let any_fail = findings.iter().any(|f| f.severity == Severity::Fail);
            let before = verdict(steps);
            let mut r = result(before.clone(), findings.clone());
            r.conclude(&|_| Binding::Must);
            if any_fail {
                prop_assert_eq!(r.verdict.name(), "fail");
                if let Some(f) = before.failure() {
                    let tail = format!("then: {}", f.message);
                    let kept = r.verdict.failure().unwrap().message.ends_with(&tail);
                    prop_assert!(kept);
                }
            } else {
                prop_assert_eq!(&r.verdict, &before);
            }
            for f in &findings {
                let least = if f.severity == Severity::Fail { Outcome::Fail } else { Outcome::Warn };
                let at_least = r.obligations[&f.rule] >= least;
                prop_assert!(at_least);
            }
            // The cited id keeps the steps' outcome, unless a broken rule came first and
            // explains the failed step: then it was not reached.
            let explained = matches!(before, Verdict::Fail(_) | Verdict::Warn(_)) && findings.iter().any(|f| f.severity == Severity::Fail && f.rule != "R13");
            let broken = findings.iter().any(|f| f.rule == "R13" && f.severity == Severity::Fail);
            let cited = r.obligations["R13"];
            if broken {
                prop_assert_eq!(cited, Outcome::Fail);
            } else if explained {
                prop_assert_eq!(cited, Outcome::Inconclusive);
                prop_assert!(r.not_reached["R13"].contains("was broken first"));
            } else {
                prop_assert!(cited >= Outcome::of(&before));
            }
        }
    }

    fn cited(reqs: &[&str], verdict: Verdict, findings: Vec<Finding>) -> ScenarioResult {
        ScenarioResult {
            requirements: reqs.iter().map(|s| s.to_string()).collect(),
            ..result(verdict, findings)
        }
    }

    fn judged(ids: &[&str]) -> Verdict {
        Verdict::Fail(Failure {
            judges: ids.iter().map(|s| s.to_string()).collect(),
            step: Some("4".into()),
            ..Failure::new("the reply did not match")
        })
    }

    #[test]
    fn a_failed_step_fails_what_it_judges_and_leaves_the_rest_not_reached() {
        let mut r = cited(&["R1", "R2", "R3"], judged(&["R2"]), vec![]);
        r.conclude(&|_| Binding::Must);
        assert_eq!(
            r.obligations,
            BTreeMap::from([
                ("R1".into(), Outcome::Inconclusive),
                ("R2".into(), Outcome::Fail),
                ("R3".into(), Outcome::Inconclusive)
            ])
        );
        assert_eq!(
            r.not_reached["R1"],
            "not reached: the scenario stopped at step 4 on R2"
        );
        assert!(!r.not_reached.contains_key("R2"));
    }

    #[test]
    fn an_unattributed_failure_charges_every_cited_id() {
        let mut r = cited(
            &["R1", "R2"],
            Verdict::Fail(Failure::new("no reply")),
            vec![],
        );
        r.conclude(&|_| Binding::Must);
        assert_eq!(
            r.obligations,
            BTreeMap::from([("R1".into(), Outcome::Fail), ("R2".into(), Outcome::Fail)])
        );
    }

    #[test]
    fn a_rule_broken_before_the_failed_step_explains_it() {
        let mut r = cited(
            &["R1", "R2"],
            judged(&["R2"]),
            vec![finding("R9", Severity::Fail)],
        );
        r.conclude(&|_| Binding::Must);
        assert_eq!(r.obligations["R9"], Outcome::Fail);
        assert_eq!(
            r.obligations["R2"],
            Outcome::Inconclusive,
            "the step failed because R9 broke first"
        );
        assert_eq!(
            r.not_reached["R2"],
            "not reached: R9 was broken first (step 2)"
        );
        // A step that judges the very rule a monitor saw broken fails it.
        let mut r = cited(
            &["R1", "R2"],
            judged(&["R2"]),
            vec![finding("R2", Severity::Fail)],
        );
        r.conclude(&|_| Binding::Must);
        assert_eq!(
            (r.obligations["R1"], r.obligations["R2"]),
            (Outcome::Inconclusive, Outcome::Fail)
        );
        // What the last sweep saw after the steps (no step) does not explain them.
        let late = Finding {
            step: None,
            ..finding("R9", Severity::Fail)
        };
        let mut r = cited(&["R2"], judged(&["R2"]), vec![late]);
        r.conclude(&|_| Binding::Must);
        assert_eq!(r.obligations["R2"], Outcome::Fail);
    }

    #[test]
    fn a_may_never_fails_and_a_should_at_most_warns() {
        let binding = |id: &str| match id {
            "R1" => Binding::May,
            "R2" => Binding::Should,
            _ => Binding::Must,
        };
        let mut r = cited(
            &["R1", "R2", "R3"],
            Verdict::Fail(Failure::new("no")),
            vec![],
        );
        r.conclude(&binding);
        assert_eq!(
            r.obligations,
            BTreeMap::from([
                ("R1".into(), Outcome::Warn),
                ("R2".into(), Outcome::Warn),
                ("R3".into(), Outcome::Fail)
            ])
        );
    }
}
