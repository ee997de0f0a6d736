//! Judging a recorded scenario again, without its target: the profile's always-on monitors
//! of today read the recorded transcript as they would have read it live, and today's judges
//! (goldens) look at it, so a run archived before a check was tightened can be held to the
//! tightened check. Everything needed is in the result ([`Judged`](super::verdict::Judged)).
//!
//! What cannot be replayed is kept as recorded: the steps' own verdict (the steps talked to
//! the target) and the findings the session made itself rather than a monitor (a second link
//! left open, a step's reply check).

use super::judge::{Judge, JudgeContext};
use super::monitor::Monitor;
use super::transcript::TranscriptEvent;
use super::verdict::{Finding, Outcome, ScenarioResult, Severity, MAX_FINDINGS};
use crate::profile::Profile;
use crate::scenario::Role;
use std::collections::BTreeSet;
use std::sync::Arc;

/// `old` judged again; `None` when it holds no evidence to judge (a skip, a manual check,
/// or a result written by a harness that did not record how it judged).
pub fn rejudge(old: &ScenarioResult, profile: &dyn Profile, judges: &[Arc<dyn Judge>]) -> Option<ScenarioResult> {
    let judged = old.judged.as_ref()?;
    let mut monitor = match old.role {
        Role::Device => Monitor::for_cloud(profile, judged.strict_codes),
        Role::Cloud => Monitor::for_device(profile),
    };
    let mut findings: Vec<Finding> = old.findings.iter().filter(|f| !f.monitor).cloned().collect();
    let mut open: Vec<String> = Vec::new();
    let mut step: Option<(String, u32)> = None;
    let entries = &old.transcript.entries;
    let record = |violations: Vec<crate::profile::Violation>, step: &Option<(String, u32)>, findings: &mut Vec<Finding>| {
        for v in violations {
            if findings.len() >= MAX_FINDINGS || findings.iter().any(|f| f.rule == v.rule && f.message == v.message) {
                continue;
            }
            findings.push(Finding {
                rule: v.rule.to_string(),
                severity: v.severity,
                message: v.message,
                step: step.as_ref().map(|(i, _)| i.clone()),
                line: step.as_ref().map(|(_, l)| *l),
                monitor: true,
            });
        }
    };
    for (i, entry) in entries.iter().enumerate() {
        match &entry.event {
            TranscriptEvent::Opened { conn, .. } => open.push(conn.clone()),
            TranscriptEvent::Closed { conn, .. } | TranscriptEvent::Abandoned { conn } => open.retain(|c| c != conn),
            TranscriptEvent::Step { index, line, .. } => step = Some((index.clone(), *line)),
            _ => {}
        }
        let found = monitor.sweep_entries(&entries[..=i], entry.at, &open, false);
        record(found, &step, &mut findings);
    }
    let end = old.scenario_time.max(entries.last().map(|e| e.at).unwrap_or_default());
    let found = monitor.sweep_entries(entries, end, &open, true);
    record(found, &step, &mut findings);

    let mut new = old.clone();
    new.verdict = judged.steps.clone().unwrap_or_else(|| old.verdict.clone());
    new.findings = findings;
    let context = JudgeContext { in_process: judged.in_process, reference: judged.reference };
    for judge in judges {
        judge.judge(&mut new, context);
    }
    new.conclude();
    if let Some(j) = &mut new.judged {
        j.steps = Some(judged.steps.clone().unwrap_or_else(|| old.verdict.clone())).filter(|s| *s != new.verdict);
    }
    Some(new)
}

/// Whether judging again changed what the result says: its outcome, or which rules broke
/// or warned (messages may word the same finding differently, e.g. with a time).
pub fn changed(old: &ScenarioResult, new: &ScenarioResult) -> bool {
    let rules = |r: &ScenarioResult| -> BTreeSet<(String, bool)> { r.findings.iter().map(|f| (f.rule.clone(), f.severity == Severity::Fail)).collect() };
    Outcome::of(&old.verdict) != Outcome::of(&new.verdict) || rules(old) != rules(new)
}
