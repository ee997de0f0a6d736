//! Judging after the run: a judge looks at a finished scenario and may change its verdict or
//! add evidence (the golden comparison is one, in `check::golden`). The runner applies the
//! judges of its [`RunConfig`](super::RunConfig) in order, before the scenario's result is
//! emitted; it knows nothing of what they compare.

use super::verdict::ScenarioResult;

/// What a judge knows of how a scenario ran, besides its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JudgeContext {
    /// The scenario ran on the virtual clock (its target is in-process).
    pub in_process: bool,
    /// Its target is the default one reference recordings are made with.
    pub reference: bool,
}

/// Looks at a finished scenario; may turn its verdict or add evidence to it.
pub trait Judge: Send + Sync {
    fn judge(&self, result: &mut ScenarioResult, context: JudgeContext);
}
