//! Helpers shared by the integration tests.
#![allow(dead_code)]

use hwconform::engine::runner::{RunConfig, Runner};
use hwconform::engine::{RunEvent, ScenarioResult, Verdict};
use hwconform::scenario::{load_paths, Scenario};
use std::path::PathBuf;

/// The repository root (the workspace above `harness/`).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness/ has a parent")
        .to_path_buf()
}

/// Loads `scenarios/<dir>`: what `run` runs (observer scenarios are `observe`'s).
pub fn library(dir: &str) -> Vec<Scenario> {
    match load_paths(&[repo().join("scenarios").join(dir)]) {
        Ok(s) => s
            .into_iter()
            .filter(|s| s.role != hwconform::scenario::Role::Observer)
            .collect(),
        Err(e) => panic!("the library does not load:\n{}", e.render()),
    }
}

/// Runs `scenarios`; every result is also judged again from its recorded transcript
/// (`hwconform rejudge`), which must say the same: the replayed monitors are the live ones.
pub fn run_library(scenarios: &[Scenario], config: RunConfig) -> Vec<ScenarioResult> {
    let mut results = Vec::new();
    let (profile, judges) = (config.profile.clone(), config.judges.clone());
    Runner::new(config)
        .run(scenarios, |e| {
            if let RunEvent::ScenarioFinished { result, .. } = e.kind {
                results.push(std::sync::Arc::unwrap_or_clone(result));
            }
        })
        .expect("the run starts");
    // Results come as scenarios finish; tests read them in the order they were given.
    let position = |id: &str| scenarios.iter().position(|s| s.id.value == id);
    results.sort_by_key(|r| position(&r.id));
    for r in &results {
        if let Some(again) = hwconform::engine::rejudge::rejudge(r, &*profile, &judges) {
            assert!(
                !hwconform::engine::rejudge::changed(r, &again),
                "{} judged again from its transcript differs:\nlive: {:?}\n{:?}\nagain: {:?}\n{:?}",
                r.id,
                r.verdict,
                r.findings,
                again.verdict,
                again.findings
            );
        }
    }
    results
}

pub fn verdicts(results: &[ScenarioResult]) -> Vec<(String, Verdict)> {
    results
        .iter()
        .map(|r| (r.id.clone(), r.verdict.clone()))
        .collect()
}

/// `"<id> <verdict>"` for every result `ok` rejects.
pub fn not_passing(results: &[ScenarioResult], ok: impl Fn(&Verdict) -> bool) -> Vec<String> {
    results
        .iter()
        .filter(|r| !ok(&r.verdict))
        .map(|r| format!("{} {:?}", r.id, r.verdict))
        .collect()
}

/// For every knob, the results of `scenarios` run with `config(knob)` that `ok` rejects,
/// labelled `label(knob)`; a knob with none has an empty list.
pub fn knob_matrix<K: Copy>(
    scenarios: &[Scenario],
    knobs: &[K],
    label: impl Fn(K) -> String,
    config: impl Fn(K) -> RunConfig,
    ok: impl Fn(&Verdict) -> bool,
) -> Vec<(String, Vec<ScenarioResult>)> {
    knobs
        .iter()
        .map(|&knob| {
            (
                label(knob),
                run_library(scenarios, config(knob))
                    .into_iter()
                    .filter(|r| !ok(&r.verdict))
                    .collect(),
            )
        })
        .collect()
}

/// [`knob_matrix`] as a compact table: one row per scenario that any knob rejects, one
/// column per knob (numbered, with a legend), the verdict's initial in the cell; then each
/// rejection's first line of message.
pub fn render_knob_matrix(matrix: &[(String, Vec<ScenarioResult>)]) -> String {
    use std::fmt::Write as _;
    let mut ids: Vec<&str> = matrix
        .iter()
        .flat_map(|(_, rs)| rs.iter().map(|r| r.id.as_str()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let width = ids
        .iter()
        .map(|id| id.len())
        .max()
        .unwrap_or(0)
        .max("scenario".len());
    let mut out = String::new();
    for (n, (label, rs)) in matrix.iter().enumerate() {
        let _ = writeln!(out, "{:>3} {label}: {} not passing", n + 1, rs.len());
    }
    let _ = write!(out, "\n{:width$} |", "scenario");
    for n in 1..=matrix.len() {
        let _ = write!(out, "{n:>3}");
    }
    out.push('\n');
    for id in &ids {
        let _ = write!(out, "{id:width$} |");
        for (_, rs) in matrix {
            let cell = rs
                .iter()
                .find(|r| r.id == *id)
                .map_or(".", |r| &r.verdict.name()[..1]);
            let _ = write!(out, "{cell:>3}");
        }
        out.push('\n');
    }
    out.push('\n');
    for (label, rs) in matrix {
        for r in rs {
            let why = match &r.verdict {
                Verdict::Fail(f) | Verdict::Error(f) => {
                    f.message.lines().next().unwrap_or_default().to_string()
                }
                Verdict::Skip { reason } => reason.clone(),
                other => other.name().to_string(),
            };
            let _ = writeln!(out, "{label}: {} {}: {why}", r.id, r.verdict.name());
        }
    }
    out
}

/// The mutation matrix: for every knob, the scenarios `catchers` names (all of which must be
/// in `scenarios`) are run with `config(knob)` and must each fail. Returns one line per
/// scenario that did not, prefixed by `label(knob)`.
pub fn mutation_matrix<K: Copy>(
    scenarios: &[Scenario],
    knobs: &[K],
    label: impl Fn(K) -> String,
    catchers: impl Fn(K) -> &'static [&'static str],
    config: impl Fn(K) -> RunConfig,
) -> Vec<String> {
    let mut missed = Vec::new();
    for &knob in knobs {
        let wanted = catchers(knob);
        let selected: Vec<_> = scenarios
            .iter()
            .filter(|s| wanted.contains(&s.id.value.as_str()))
            .cloned()
            .collect();
        assert_eq!(
            selected.len(),
            wanted.len(),
            "{}: a listed scenario is missing from the library",
            label(knob)
        );
        for (id, verdict) in verdicts(&run_library(&selected, config(knob))) {
            if !matches!(verdict, Verdict::Fail(_)) {
                missed.push(format!("{}: {id} gave {verdict:?}", label(knob)));
            }
        }
    }
    missed
}
