//! Events out of the runner. Every reporter handles every variant by name.

use super::verdict::{RunSummary, ScenarioResult};

#[derive(Clone, Debug)]
pub enum RunEvent {
    /// The run begins: how many scenarios, against what.
    RunStarted { scenarios: usize, target: String },
    ScenarioStarted { id: String },
    ScenarioFinished(Box<ScenarioResult>),
    RunFinished(RunSummary),
}
