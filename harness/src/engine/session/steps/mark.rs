//! The `mark` step: its execution (its file format is `scenario/steps/mark.rs`).

use super::prelude::*;

impl Session<'_> {
    /// Remembers this moment as a transcript position (many frames can share one instant on
    /// the virtual clock, so time alone cannot say what came after).
    pub(in crate::engine::session) async fn mark(&mut self, name: &str, _: &At) -> StepResult {
        let position = self.rec.with_transcript(|t| t.entries.len());
        self.marks.insert(name.to_string(), position);
        Ok(())
    }
}
