//! Judging a recorded scenario again, without its target: the profile's always-on monitors
//! of today read the recorded transcript as they would have read it live, and today's judges
//! (goldens) look at it, so a run archived before a check was tightened can be held to the
//! tightened check. Everything needed is in the result ([`Judged`](super::verdict::Judged)).
//!
//! What cannot be replayed is kept as recorded: the steps' own verdict (the steps talked to
//! the target) and the findings the session made itself rather than a monitor (a second link
//! left open, a step's reply check). The monitors see the entries they saw live, up to their
//! last sweep (not what arrived while the links were shut down); live they sweep after each
//! step and the replay after each entry, so a rule about time passing may word its finding
//! differently ([`changed`] compares outcomes and broken rules, not wording).

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
pub fn rejudge(
    old: &ScenarioResult,
    profile: &dyn Profile,
    judges: &[Arc<dyn Judge>],
) -> Option<ScenarioResult> {
    let judged = old.judged.as_ref()?;
    let mut monitor = match old.role {
        Role::Device => Monitor::for_cloud(profile, judged.strict_codes),
        Role::Cloud => Monitor::for_device(profile, judged.seeded),
        // An observer scenario's own result judges its steps, which a transcript cannot
        // replay; its two parties' results (roles device and cloud) are re-judged.
        Role::Observer => return None,
    };
    // What the monitors judged live: the entries up to their last sweep.
    let entries = &old.transcript.entries[..judged
        .swept
        .unwrap_or(old.transcript.entries.len())
        .min(old.transcript.entries.len())];
    let mut replayed: Vec<Finding> = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut step: Option<(String, u32)> = None;
    for (i, entry) in entries.iter().enumerate() {
        match &entry.event {
            TranscriptEvent::Opened { conn, .. } => open.push(conn.clone()),
            TranscriptEvent::Closed { conn, .. } | TranscriptEvent::Abandoned { conn } => {
                open.retain(|c| c != conn)
            }
            TranscriptEvent::Step { index, line, .. } => step = Some((index.clone(), *line)),
            _ => {}
        }
        for v in monitor.sweep_entries(&entries[..=i], entry.at, &open, false) {
            Finding::push_new(&mut replayed, v, step.clone(), true);
        }
    }
    // The last sweep runs after the steps, at no step.
    for v in monitor.sweep_entries(entries, old.scenario_time, &open, true) {
        Finding::push_new(&mut replayed, v, None, true);
    }
    let mut new = old.clone();
    new.verdict = judged.steps.clone().unwrap_or_else(|| old.verdict.clone());
    new.findings = merge_findings(&old.findings, replayed);
    let context = JudgeContext {
        in_process: judged.in_process,
        reference: judged.reference,
    };
    for judge in judges {
        judge.judge(&mut new, context);
    }
    new.conclude(&|id| profile.binding(id));
    if let Some(j) = &mut new.judged {
        j.steps = Some(judged.steps.clone().unwrap_or_else(|| old.verdict.clone()))
            .filter(|s| *s != new.verdict);
    }
    Some(new)
}

/// The findings of a rejudged result in the order they were first seen: the recorded ones
/// the session made itself and the monitor ones seen again keep their places (the first
/// broken rule names the verdict, so order matters), a monitor finding not seen again goes,
/// and what only today's monitors see follows.
fn merge_findings(old: &[Finding], mut replayed: Vec<Finding>) -> Vec<Finding> {
    let mut out = Vec::with_capacity(old.len().max(replayed.len()));
    for f in old {
        if !f.monitor {
            out.push(f.clone());
        } else if let Some(i) = replayed
            .iter()
            .position(|r| r.rule == f.rule && r.message == f.message)
        {
            out.push(replayed.remove(i));
        }
    }
    out.extend(replayed);
    out.truncate(MAX_FINDINGS);
    out
}

/// Whether judging again changed what the result says: its outcome, or which rules broke
/// or warned, or the rule its verdict names (messages may word the same finding differently,
/// e.g. with a time).
pub fn changed(old: &ScenarioResult, new: &ScenarioResult) -> bool {
    let rules = |r: &ScenarioResult| -> BTreeSet<(String, bool)> {
        r.findings
            .iter()
            .map(|f| (f.rule.clone(), f.severity == Severity::Fail))
            .collect()
    };
    let named = |r: &ScenarioResult| r.verdict.failure().and_then(|f| f.rule.clone());
    Outcome::of(&old.verdict) != Outcome::of(&new.verdict)
        || rules(old) != rules(new)
        || named(old) != named(new)
}
