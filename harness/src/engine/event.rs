//! Events out of the runner. Every reporter handles every variant by name.

use super::verdict::{RunSummary, ScenarioResult};
use crate::ics::IcsSummary;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub enum RunEvent {
    /// The run begins: how many scenarios, against what, and what the device under test
    /// says it implements (when the run has a device target and a statement for it).
    RunStarted {
        scenarios: usize,
        target: String,
        ics: Option<IcsSummary>,
    },
    /// Something the person running the harness needs before the scenarios can proceed
    /// (where to point a device that is to connect), right after `RunStarted`.
    Notice {
        text: String,
    },
    ScenarioStarted {
        id: String,
    },
    ScenarioFinished(Arc<ScenarioResult>),
    RunFinished(RunSummary),
}
