//! Helpers shared by the integration tests.
#![allow(dead_code)]

use hwconform::engine::runner::{RunConfig, Runner};
use hwconform::engine::{RunEvent, ScenarioResult, Verdict};
use hwconform::scenario::{load_paths, Scenario};
use std::path::PathBuf;

/// The repository root (the workspace above `harness/`).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("harness/ has a parent").to_path_buf()
}

/// Loads `scenarios/<dir>`.
pub fn library(dir: &str) -> Vec<Scenario> {
    match load_paths(&[repo().join("scenarios").join(dir)]) {
        Ok(s) => s,
        Err(e) => panic!("the library does not load:\n{}", e.render()),
    }
}

pub fn run_library(scenarios: &[Scenario], config: RunConfig) -> Vec<ScenarioResult> {
    let mut results = Vec::new();
    Runner::new(config)
        .run(scenarios, |e| {
            if let RunEvent::ScenarioFinished(r) = e {
                results.push(std::sync::Arc::unwrap_or_clone(r));
            }
        })
        .expect("the run starts");
    results
}

pub fn verdicts(results: &[ScenarioResult]) -> Vec<(String, Verdict)> {
    results.iter().map(|r| (r.id.clone(), r.verdict.clone())).collect()
}
