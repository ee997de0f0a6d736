//! The `repeat` step: its execution (its file format is `scenario/steps/repeat.rs`).

use super::prelude::*;

impl Session<'_> {
    /// Runs the nested steps `times` times, with `${iteration}` 1-based inside.
    pub(in crate::engine::session) async fn repeat(&mut self, r: &Repeat, at: &At) -> StepResult {
        for n in 1..=r.times {
            self.set_var("iteration", json!(n));
            let prefix = super::super::numbered(&at.index, "[", n, "]");
            self.run_steps(&r.steps, &prefix).await?;
        }
        self.vars.remove("iteration");
        Ok(())
    }
}
