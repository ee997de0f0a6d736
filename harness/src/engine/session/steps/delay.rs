//! The `delay` step: its execution (its file format is `scenario/steps/delay.rs`).

use super::prelude::*;

impl Session<'_> {
    /// Lets scenario time pass before the next step (typically before a reply).
    pub(in crate::engine::session) async fn delay(&mut self, d: &DurationExpr, at: &At) -> StepResult {
        tokio::time::sleep(self.resolve(d, at)?).await;
        Ok(())
    }
}
