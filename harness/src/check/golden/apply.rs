//! The golden check after each scenario: compare the normalized transcript with
//! `golden/<id>.snap` (a changed conversation fails), or write `golden/<id>.snap.new` for
//! review.
//!
//! Which scenarios are compared: in-process targets (mock, sim) always, times included,
//! since their virtual clock makes transcripts deterministic; real targets (a URL, `exec:`,
//! `listen:`) only when the mode was asked for on the command line, and then without times
//! (they vary on the wall clock) and connection by connection (how the frames of two
//! connections interleave is a race over sockets): see [`view`]. Skipped and manual scenarios have no transcript and no
//! golden; a scenario that errored is never compared (its transcript says nothing about the
//! target), and only a scenario that passed gets a pending snapshot: a golden records a
//! conversation that passed.

use super::linediff;
use super::normalize::{normalize_by, per_connection, strip_times, NormalizeOptions};
use super::snapfile::{accepted_path, pending_path, source_name, SnapFile};
use crate::engine::{Failure, Judge, JudgeContext, ScenarioResult, Severity, Verdict};
use crate::profile::Profile;
use std::path::PathBuf;
use std::sync::Arc;

/// What a run does with golden transcripts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GoldenMode {
    /// Compare with `golden/<id>.snap` where one exists; a changed conversation fails.
    #[default]
    Check,
    /// Write `golden/<id>.snap.new` for every new or changed conversation, for review.
    Update,
    /// No golden comparison.
    Off,
}

/// Where a run keeps golden transcripts and what it does with them.
#[derive(Clone, Debug)]
pub struct GoldenConfig {
    pub mode: GoldenMode,
    pub dir: PathBuf,
    /// The mode was asked for on the command line (so `check` applies to real targets too).
    pub explicit: bool,
}

/// The golden comparison as a judge the runner applies after each scenario, reading
/// transcripts with the run's profile.
#[derive(Clone)]
pub struct GoldenJudge {
    pub config: GoldenConfig,
    pub profile: Arc<dyn Profile>,
}

impl std::fmt::Debug for GoldenJudge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoldenJudge")
            .field("config", &self.config)
            .field("profile", &self.profile.name())
            .finish()
    }
}

impl Judge for GoldenJudge {
    fn judge(&self, result: &mut ScenarioResult, context: JudgeContext) {
        apply_by(
            &*self.profile,
            &self.config,
            result,
            context.in_process,
            context.reference,
        );
    }
}

/// After a scenario ran: compares (and may turn a pass into a fail) or writes a pending
/// snapshot. `in_process`: the scenario ran on the virtual clock. `reference`: its target
/// was the default one the goldens record (the mock with its default timings and every rule
/// on, the reference device without faults); other setups change conversations on purpose,
/// so they are compared only when `--golden` was given explicitly.
pub fn apply(
    config: &GoldenConfig,
    result: &mut ScenarioResult,
    in_process: bool,
    reference: bool,
) {
    apply_by(
        &*crate::profile::default_profile(),
        config,
        result,
        in_process,
        reference,
    )
}

/// [`apply`], transcripts read with `profile`.
pub fn apply_by(
    profile: &dyn Profile,
    config: &GoldenConfig,
    result: &mut ScenarioResult,
    in_process: bool,
    reference: bool,
) {
    if config.mode == GoldenMode::Off || !(config.explicit || in_process && reference) {
        return;
    }
    match result.verdict {
        // What a pass looks like is recorded; an inconclusive or warned run is not one.
        Verdict::Skip { .. }
        | Verdict::Manual { .. }
        | Verdict::Error(_)
        | Verdict::Inconclusive(_)
        | Verdict::Warn(_) => return,
        Verdict::Pass | Verdict::Fail(_) => {}
    }
    let actual = view(
        &normalize_by(
            profile,
            &result.transcript,
            NormalizeOptions { times: in_process },
        ),
        in_process,
    );
    let accepted = accepted_path(&config.dir, &result.id);
    let golden = match SnapFile::read(&accepted) {
        Ok(g) => g.map(|g| view(&g.content, in_process)),
        Err(e) => {
            return harness_problem(
                result,
                format!(
                    "cannot read the golden transcript {}: {e}",
                    accepted.display()
                ),
            )
        }
    };
    match config.mode {
        GoldenMode::Off => {}
        GoldenMode::Check => {
            if let Some(golden) = golden {
                check(result, &accepted.display().to_string(), &golden, &actual);
            }
        }
        GoldenMode::Update => update(config, result, golden.as_deref(), &actual),
    }
}

/// What a run is held to: the golden text itself in-process; for a real target the text
/// without times, grouped by connection.
pub fn view(text: &str, in_process: bool) -> String {
    if in_process {
        text.to_string()
    } else {
        per_connection(&strip_times(text))
    }
}

fn check(result: &mut ScenarioResult, shown: &str, golden: &str, actual: &str) {
    let diff = linediff::unified(golden, actual, shown, "this run");
    if diff.is_empty() {
        return;
    }
    match &mut result.verdict {
        Verdict::Pass => {
            let (removed, added) = linediff::counts(golden, actual);
            let mut f = Failure::new(format!(
                "the conversation changed against {shown} ({removed} golden line(s) gone, {added} new)\n\
                 if the change is intended: `hwconform run --golden update`, `hwconform golden review`, `hwconform golden accept`"
            ));
            f.diff = Some(diff);
            result.verdict = Verdict::Fail(f);
        }
        // The scenario's own failure says more; the diff is kept as evidence.
        Verdict::Fail(f) => {
            f.diff = Some(match f.diff.take() {
                Some(earlier) => format!("{earlier}\n{diff}"),
                None => diff,
            });
        }
        Verdict::Error(_)
        | Verdict::Inconclusive(_)
        | Verdict::Warn(_)
        | Verdict::Skip { .. }
        | Verdict::Manual { .. } => {}
    }
}

fn update(config: &GoldenConfig, result: &mut ScenarioResult, golden: Option<&str>, actual: &str) {
    // A broken always-on rule fails the run once findings are folded in: not a golden.
    if !matches!(result.verdict, Verdict::Pass)
        || result.findings.iter().any(|f| f.severity == Severity::Fail)
    {
        return;
    }
    let pending = pending_path(&config.dir, &result.id);
    if golden.is_some_and(|g| linediff::unified(g, actual, "", "").is_empty()) {
        // Equal to the accepted one: whatever is pending is stale.
        if let Err(e) = std::fs::remove_file(&pending) {
            if e.kind() != std::io::ErrorKind::NotFound {
                harness_problem(
                    result,
                    format!(
                        "cannot remove the stale pending snapshot {}: {e}",
                        pending.display()
                    ),
                );
            }
        }
        return;
    }
    let snap = SnapFile::new(Some(source_name(&result.file)), &result.id, actual);
    if let Err(e) = snap.write(&pending) {
        harness_problem(
            result,
            format!(
                "cannot write the pending snapshot {}: {e}",
                pending.display()
            ),
        );
    }
}

/// A golden file that cannot be read or written is the harness's problem, not the
/// target's: a pass becomes an error; a failure keeps its own message.
fn harness_problem(result: &mut ScenarioResult, message: String) {
    match &mut result.verdict {
        Verdict::Pass => result.verdict = Verdict::Error(Failure::new(message)),
        Verdict::Fail(f) => {
            f.diff = Some(match f.diff.take() {
                Some(earlier) => format!("{earlier}\n{message}"),
                None => message,
            });
        }
        Verdict::Error(_)
        | Verdict::Inconclusive(_)
        | Verdict::Warn(_)
        | Verdict::Skip { .. }
        | Verdict::Manual { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Frame, Transcript, TranscriptEvent};
    use std::time::Duration;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!(
            "hwconform-golden-apply-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        Dir(d)
    }

    fn result(verdict: Verdict, cmd: &str) -> ScenarioResult {
        let mut t = Transcript::default();
        t.push(
            Duration::ZERO,
            TranscriptEvent::Opened {
                waited: None,
                conn: "a".into(),
                local: "127.0.0.1:40000".into(),
            },
        );
        t.push(
            Duration::from_secs(2),
            TranscriptEvent::Sent {
                conn: "a".into(),
                frame: Frame::text(
                    &format!(r#"{{"cmd":"{cmd}"}}"#),
                    &crate::profile::wecom::WeComProfile,
                ),
            },
        );
        ScenarioResult {
            id: "x.y".into(),
            title: "t".into(),
            file: "scenarios/x.yaml".into(),
            role: crate::scenario::Role::Device,
            requirements: vec![],
            tags: vec![],
            verdict,
            findings: vec![],
            obligations: Default::default(),
            not_reached: Default::default(),
            wall_time: Duration::ZERO,
            scenario_time: Duration::from_secs(2),
            transcript: t,
            judged: None,
        }
    }

    fn config(d: &Dir, mode: GoldenMode, explicit: bool) -> GoldenConfig {
        GoldenConfig {
            mode,
            dir: d.0.clone(),
            explicit,
        }
    }

    fn write_golden(d: &Dir, cmd: &str) {
        let text = super::super::normalize::normalize(&result(Verdict::Pass, cmd).transcript);
        SnapFile::new(None, "x.y", &text)
            .write(&accepted_path(&d.0, "x.y"))
            .unwrap();
    }

    #[test]
    fn real_targets_are_compared_only_when_asked_and_then_without_times() {
        let d = dir("real");
        write_golden(&d, "ping");
        let mut r = result(Verdict::Pass, "pong");
        apply(&config(&d, GoldenMode::Check, false), &mut r, false, true);
        assert_eq!(
            r.verdict,
            Verdict::Pass,
            "not asked for: a real target is not compared"
        );
        apply(&config(&d, GoldenMode::Check, true), &mut r, false, true);
        let Verdict::Fail(f) = &r.verdict else {
            panic!("{:?}", r.verdict)
        };
        let diff = f.diff.as_deref().unwrap();
        assert!(
            diff.contains("\n-[a] → {\"cmd\":\"ping\"}\n+[a] → {\"cmd\":\"pong\"}\n"),
            "untimed: {diff}"
        );
        // The same conversation at other times passes.
        let mut r = result(Verdict::Pass, "ping");
        r.transcript.entries[1].at = Duration::from_millis(2345);
        apply(&config(&d, GoldenMode::Check, true), &mut r, false, true);
        assert_eq!(r.verdict, Verdict::Pass);
    }

    #[test]
    fn a_failed_scenario_keeps_its_failure_and_gains_the_diff() {
        let d = dir("failed");
        write_golden(&d, "ping");
        let mut r = result(Verdict::Fail(Failure::new("C1: no reply")), "pong");
        apply(&config(&d, GoldenMode::Check, false), &mut r, true, true);
        let Verdict::Fail(f) = &r.verdict else {
            panic!()
        };
        assert_eq!(f.message, "C1: no reply");
        assert!(f
            .diff
            .as_deref()
            .unwrap()
            .contains("+    2.000s [a] → {\"cmd\":\"pong\"}"));
        // An error is left alone; so is everything when the mode is off.
        let mut r = result(Verdict::Error(Failure::new("refused")), "pong");
        apply(&config(&d, GoldenMode::Check, false), &mut r, true, true);
        assert!(matches!(&r.verdict, Verdict::Error(f) if f.diff.is_none()));
        let mut r = result(Verdict::Pass, "pong");
        apply(&config(&d, GoldenMode::Off, true), &mut r, true, true);
        assert_eq!(r.verdict, Verdict::Pass);
    }

    #[test]
    fn update_writes_pending_only_for_a_changed_pass_and_an_unreadable_golden_is_an_error() {
        let d = dir("update");
        write_golden(&d, "ping");
        let before = std::fs::read_to_string(accepted_path(&d.0, "x.y")).unwrap();
        let mut r = result(Verdict::Fail(Failure::new("C1")), "pong");
        apply(&config(&d, GoldenMode::Update, true), &mut r, true, true);
        assert!(
            !pending_path(&d.0, "x.y").exists(),
            "a failed run is no golden"
        );
        let mut r = result(Verdict::Pass, "pong");
        apply(&config(&d, GoldenMode::Update, true), &mut r, true, true);
        assert_eq!(r.verdict, Verdict::Pass);
        let pending = SnapFile::read(&pending_path(&d.0, "x.y")).unwrap().unwrap();
        assert!(
            pending.content.contains("pong")
                && pending.source.as_deref() == Some("scenarios/x.yaml")
        );
        assert_eq!(
            std::fs::read_to_string(accepted_path(&d.0, "x.y")).unwrap(),
            before
        );
        std::fs::write(accepted_path(&d.0, "x.y"), "not a snapshot").unwrap();
        let mut r = result(Verdict::Pass, "ping");
        apply(&config(&d, GoldenMode::Check, false), &mut r, true, true);
        assert!(
            matches!(&r.verdict, Verdict::Error(f) if f.message.contains("cannot read the golden transcript")),
            "{:?}",
            r.verdict
        );
    }

    #[test]
    fn a_non_reference_setup_is_compared_only_when_asked() {
        let d = dir("reference");
        write_golden(&d, "ping");
        let mut r = result(Verdict::Pass, "pong");
        apply(&config(&d, GoldenMode::Check, false), &mut r, true, false);
        assert_eq!(
            r.verdict,
            Verdict::Pass,
            "a faulted or retimed in-process run is not held to the goldens by default"
        );
        apply(&config(&d, GoldenMode::Check, true), &mut r, true, false);
        assert_eq!(r.verdict.name(), "fail");
    }
}
