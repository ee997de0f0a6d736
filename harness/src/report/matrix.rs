//! The requirement matrix: every obligation of the profile, its statement, and what this run
//! says about it — including the ones no scenario gives and the manual ones no one signed.
//! The terminal table, run.json's `requirements`, the CSV and the HTML report are views of it.

use super::brief::Cites;
use crate::engine::Outcome;
use crate::profile::Statement;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the run says about one obligation.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    Error,
    Inconclusive,
    Warn,
    /// Only skipped scenarios give it: this target does not do it (the ICS reason is in the detail).
    NotApplicable,
    /// The scenarios that judge it could not run against this target (the device must be
    /// made to act and there is no upper tester): not judged, and not excused either.
    NotTested,
    /// A manual check gives it and no one has recorded its verdict yet.
    ManualPending,
    /// No scenario cites it.
    NotCovered,
}

impl Status {
    /// Every status, in the matrix's order of severity.
    pub const ALL: [Status; 9] = [
        Status::Pass,
        Status::Fail,
        Status::Error,
        Status::Inconclusive,
        Status::Warn,
        Status::NotApplicable,
        Status::NotTested,
        Status::ManualPending,
        Status::NotCovered,
    ];

    /// The status as the terminal and the HTML report show it.
    pub fn name(self) -> &'static str {
        match self {
            Status::NotApplicable => "n/a",
            Status::NotTested => "not tested",
            Status::ManualPending => "manual pending",
            Status::NotCovered => "not covered",
            other => other.key(),
        }
    }

    /// The status as JSON, CSV and the HTML report's filters spell it.
    pub fn key(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::Inconclusive => "inconclusive",
            Status::Warn => "warn",
            Status::NotApplicable => "not_applicable",
            Status::NotTested => "not_tested",
            Status::ManualPending => "manual_pending",
            Status::NotCovered => "not_covered",
        }
    }

    fn of(o: Outcome) -> Status {
        match o {
            Outcome::Pass => Status::Pass,
            Outcome::Fail => Status::Fail,
            Outcome::Error => Status::Error,
            Outcome::Inconclusive => Status::Inconclusive,
            Outcome::Warn => Status::Warn,
            Outcome::Skip => Status::NotApplicable,
            Outcome::Manual => Status::ManualPending,
        }
    }
}

/// A verdict someone recorded for a manual check (`hwconform manual record`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ManualRecord {
    pub id: String,
    /// `pass` or `fail`.
    pub verdict: String,
    pub by: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub note: String,
    /// The device the check was made on ([`super::manual`] refuses the record for another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceRef>,
}

/// Which unit a manual verdict was seen on: its statement's identity, the hash of that
/// statement's file and the SNs it gave. Empty strings where the run had none (no ICS file:
/// the reference device, or a device run without `--ics`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeviceRef {
    pub vendor: String,
    pub model: String,
    pub firmware_version: String,
    #[serde(default)]
    pub ics_sha256: String,
    #[serde(default)]
    pub sns: Vec<String>,
}

impl DeviceRef {
    /// The device a run tested, as its report records it.
    pub fn of_run(report: &super::RunReport) -> DeviceRef {
        DeviceRef::new(
            report.ics.as_ref(),
            report.meta.ics_file.as_ref(),
            report.meta.sns.clone(),
        )
    }

    pub fn new(
        ics: Option<&crate::ics::IcsSummary>,
        file: Option<&super::json::HashedFile>,
        sns: Vec<String>,
    ) -> DeviceRef {
        DeviceRef {
            vendor: ics.map(|i| i.vendor.clone()).unwrap_or_default(),
            model: ics.map(|i| i.model.clone()).unwrap_or_default(),
            firmware_version: ics.map(|i| i.firmware_version.clone()).unwrap_or_default(),
            ics_sha256: file.map(|f| f.sha256.clone()).unwrap_or_default(),
            sns,
        }
    }

    /// `Acme DC-100 firmware 2.3.1`.
    pub fn name(&self) -> String {
        if self.vendor.is_empty() && self.model.is_empty() {
            "a device with no ICS".into()
        } else {
            format!(
                "{} {} firmware {}",
                self.vendor, self.model, self.firmware_version
            )
        }
    }

    /// Why a verdict seen on `self` does not hold for `run`'s device; `None` when it is the
    /// same unit (same statement, and an SN in common where both name SNs).
    pub fn mismatch(&self, run: &DeviceRef) -> Option<String> {
        if (&self.vendor, &self.model, &self.firmware_version)
            != (&run.vendor, &run.model, &run.firmware_version)
        {
            return Some(format!(
                "it was seen on {}, this run tested {}",
                self.name(),
                run.name()
            ));
        }
        if self.ics_sha256 != run.ics_sha256 {
            let or_none = |h: &str| {
                if h.is_empty() {
                    "no ICS file".to_string()
                } else {
                    format!("ICS {h}")
                }
            };
            return Some(format!(
                "it was seen with {}, this run used {}",
                or_none(&self.ics_sha256),
                or_none(&run.ics_sha256)
            ));
        }
        if !self.sns.is_empty()
            && !run.sns.is_empty()
            && !self.sns.iter().any(|sn| run.sns.contains(sn))
        {
            return Some(format!(
                "it was seen on SN {}, this run's device is SN {}",
                self.sns.join(", "),
                run.sns.join(", ")
            ));
        }
        None
    }
}

/// One scenario's outcome for an obligation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Given {
    pub scenario: String,
    pub outcome: String,
    /// Why the scenario did not judge it (an `inconclusive` outcome).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One row of the matrix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Row {
    pub id: String,
    pub text: String,
    pub source: String,
    pub strength: String,
    pub status: Status,
    /// Why the status is what it is, when the status alone does not say (skip reasons, the
    /// automated half of a manual check, who signed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<ManualRecord>,
    pub scenarios: Vec<Given>,
}

/// The rows for `statements` (in their order), then any other id the results name, in
/// natural order. A manual record counts for the last record of its id.
pub fn build<R: Cites>(
    statements: &[Statement],
    results: &[R],
    manual: &[ManualRecord],
) -> Vec<Row> {
    let mut given: BTreeMap<&str, Vec<(&R, Outcome)>> = BTreeMap::new();
    for r in results {
        for (req, outcome) in r.obligations() {
            given.entry(req.as_str()).or_default().push((r, *outcome));
        }
    }
    let signed: BTreeMap<&str, &ManualRecord> = manual.iter().map(|m| (m.id.as_str(), m)).collect();
    let mut rows: Vec<Row> = statements
        .iter()
        .map(|s| {
            row(
                &s.id,
                s,
                given.remove(s.id.as_str()).unwrap_or_default(),
                signed.get(s.id.as_str()).copied(),
            )
        })
        .collect();
    let mut extra: Vec<(&str, Vec<(&R, Outcome)>)> = given.into_iter().collect();
    extra.sort_by_key(|(id, _)| super::terminal::natural_key(id));
    let blank = Statement {
        id: String::new(),
        source: String::new(),
        strength: String::new(),
        markers: vec![],
        text: String::new(),
    };
    rows.extend(
        extra
            .into_iter()
            .map(|(id, list)| row(id, &blank, list, signed.get(id).copied())),
    );
    rows
}

fn row<R: Cites>(
    id: &str,
    s: &Statement,
    mut list: Vec<(&R, Outcome)>,
    signed: Option<&ManualRecord>,
) -> Row {
    list.sort_by(|a, b| a.0.id().cmp(b.0.id()));
    let scenarios = list
        .iter()
        .map(|(r, o)| Given {
            scenario: r.id().to_string(),
            outcome: o.name().into(),
            reason: r.not_reached().get(id).cloned(),
        })
        .collect();
    // Across scenarios: evidence against it anywhere fails it; otherwise judged and held
    // anywhere passes it (a scenario that could not reach it proves nothing either way).
    let automated = list
        .iter()
        .map(|(_, o)| *o)
        .filter(|o| !matches!(o, Outcome::Skip | Outcome::Manual))
        .max_by_key(|o| across(*o));
    let has_manual = list.iter().any(|(_, o)| *o == Outcome::Manual);
    let (status, detail) = if list.is_empty() {
        (Status::NotCovered, "no scenario cites it".to_string())
    } else if let Some(worst @ (Outcome::Fail | Outcome::Error)) = automated {
        (Status::of(worst), String::new())
    } else if has_manual {
        let half = match automated {
            Some(o) => format!("automated half: {}", o.name()),
            None => String::new(),
        };
        match signed {
            None => (Status::ManualPending, half),
            Some(m) => {
                let status = if m.verdict == "fail" {
                    Status::Fail
                } else {
                    automated.map(Status::of).unwrap_or(Status::Pass)
                };
                let by = format!("manual {} by {} at {}: {}", m.verdict, m.by, m.at, m.note);
                (
                    status,
                    if half.is_empty() {
                        by
                    } else {
                        format!("{by}; {half}")
                    },
                )
            }
        }
    } else if let Some(worst) = automated {
        let detail = match worst {
            Outcome::Inconclusive => {
                let mut reasons: Vec<String> = list
                    .iter()
                    .filter_map(|(r, _)| {
                        r.not_reached()
                            .get(id)
                            .map(|why| format!("{}: {why}", r.id()))
                    })
                    .collect();
                reasons.dedup();
                let more = reasons.len().saturating_sub(3);
                reasons.truncate(3);
                if more > 0 {
                    reasons.push(format!("and {more} more"));
                }
                reasons.join("; ")
            }
            _ => String::new(),
        };
        (Status::of(worst), detail)
    } else {
        let mut reasons: Vec<&str> = list.iter().filter_map(|(r, _)| r.skip_reason()).collect();
        reasons.sort_unstable();
        reasons.dedup();
        // Not run for want of a way to drive the device is not "the device does not do it".
        let untested = reasons.iter().any(|r| r.starts_with("not tested"));
        (
            if untested {
                Status::NotTested
            } else {
                Status::NotApplicable
            },
            reasons.join("; "),
        )
    };
    // A verdict signed for an obligation no manual scenario gives still counts: a lab that saw
    // it broken by hand fails it, and a signed pass is shown beside what the wire said.
    let (status, detail) = match signed.filter(|_| !has_manual) {
        None => (status, detail),
        Some(m) => {
            let by = format!("manual {} by {} at {}: {}", m.verdict, m.by, m.at, m.note);
            let status = if m.verdict == "fail" {
                Status::Fail
            } else {
                status
            };
            (
                status,
                if detail.is_empty() {
                    by
                } else {
                    format!("{by}; {detail}")
                },
            )
        }
    };
    Row {
        id: id.to_string(),
        text: s.text.clone(),
        source: s.source.clone(),
        strength: s.strength.clone(),
        status,
        detail,
        manual: signed.cloned(),
        scenarios,
    }
}

/// How much one scenario's outcome weighs in the obligation's status across the run: fail,
/// then warn (a deviation shown), then pass, then what judged nothing.
fn across(o: Outcome) -> u8 {
    match o {
        Outcome::Fail => 6,
        Outcome::Warn => 5,
        Outcome::Pass => 4,
        Outcome::Error => 3,
        Outcome::Inconclusive => 2,
        Outcome::Manual => 1,
        Outcome::Skip => 0,
    }
}

pub use super::spreadsheet::to_csv;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Failure, ScenarioResult, Transcript, Verdict};
    use crate::profile::wecom::obligations::statements;

    fn result(id: &str, reqs: &[&str], verdict: Verdict) -> ScenarioResult {
        let o = Outcome::of(&verdict);
        ScenarioResult {
            id: id.into(),
            title: String::new(),
            file: "x.yaml".into(),
            role: crate::scenario::Role::Device,
            requirements: reqs.iter().map(|s| s.to_string()).collect(),
            tags: vec![],
            verdict,
            findings: vec![],
            obligations: reqs.iter().map(|r| (r.to_string(), o)).collect(),
            not_reached: BTreeMap::new(),
            wall_time: std::time::Duration::ZERO,
            scenario_time: std::time::Duration::ZERO,
            transcript: Transcript::default(),
            judged: None,
        }
    }

    #[test]
    fn status_keys_are_the_json_spelling() {
        for s in Status::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.key());
        }
    }

    fn status<'a>(rows: &'a [Row], id: &str) -> &'a Row {
        rows.iter().find(|r| r.id == id).unwrap()
    }

    #[test]
    fn the_rules_of_the_matrix() {
        let manual = || Verdict::Manual {
            instructions: "look".into(),
        };
        let results = vec![
            result("a.pass", &["D1", "D36"], Verdict::Pass),
            result("a.manual", &["D36", "D38"], manual()),
            result(
                "b.skip",
                &["D34"],
                Verdict::Skip {
                    reason: "ICS: no door".into(),
                },
            ),
            result("c.fail", &["D2"], Verdict::Fail(Failure::new("reused"))),
            result("c.pass", &["D2"], Verdict::Pass),
            result("d.manual", &["D39"], manual()),
        ];
        let signed = [ManualRecord {
            id: "D39".into(),
            verdict: "pass".into(),
            by: "ann".into(),
            at: "2026-12-02T14:00:00Z".into(),
            note: "QR ok".into(),
            device: None,
        }];
        let rows = build(statements(), &results, &signed);
        assert_eq!(rows.len(), 66);
        assert_eq!(status(&rows, "D1").status, Status::Pass);
        assert!(status(&rows, "D1")
            .text
            .starts_with("Every device→cloud JSON request"));
        assert_eq!(status(&rows, "D2").status, Status::Fail);
        let d34 = status(&rows, "D34");
        assert_eq!(
            (d34.status, d34.detail.as_str()),
            (Status::NotApplicable, "ICS: no door")
        );
        let d36 = status(&rows, "D36");
        assert_eq!(
            (d36.status, d36.detail.as_str()),
            (Status::ManualPending, "automated half: pass")
        );
        assert_eq!(status(&rows, "D38").status, Status::ManualPending);
        let d39 = status(&rows, "D39");
        assert_eq!(d39.status, Status::Pass);
        assert_eq!(
            d39.detail,
            "manual pass by ann at 2026-12-02T14:00:00Z: QR ok"
        );
        assert_eq!(d39.manual.as_ref().map(|m| m.by.as_str()), Some("ann"));
        assert_eq!(status(&rows, "C15").status, Status::NotCovered);
        let failed = [ManualRecord {
            verdict: "fail".into(),
            ..signed[0].clone()
        }];
        assert_eq!(
            status(&build(statements(), &results, &failed), "D39").status,
            Status::Fail
        );
        // Signed for an obligation no manual scenario gives: a fail fails it, a pass is shown.
        let on_wire = [
            ManualRecord {
                id: "D1".into(),
                verdict: "fail".into(),
                ..signed[0].clone()
            },
            ManualRecord {
                id: "C15".into(),
                verdict: "pass".into(),
                ..signed[0].clone()
            },
        ];
        let rows = build(statements(), &results, &on_wire);
        assert_eq!(status(&rows, "D1").status, Status::Fail);
        assert!(status(&rows, "D1").detail.starts_with("manual fail by ann"));
        let c15 = status(&rows, "C15");
        assert_eq!(
            (c15.status, c15.manual.is_some()),
            (Status::NotCovered, true)
        );
        assert!(
            c15.detail.starts_with("manual pass by ann"),
            "{}",
            c15.detail
        );
    }
}
