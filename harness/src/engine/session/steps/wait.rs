//! The `wait` step: its execution (its file format is `scenario/steps/wait.rs`).

use super::prelude::*;

impl Session<'_> {
    /// Lets scenario time pass (virtual on in-process targets).
    pub(in crate::engine::session) async fn wait(&mut self, d: &DurationExpr, at: &At) -> StepResult {
        let d = self.resolve(d, at)?;
        tokio::time::sleep(d).await;
        Ok(())
    }
}
