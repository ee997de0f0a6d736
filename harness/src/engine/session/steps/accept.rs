//! The `accept` step: its execution (its file format is `scenario/steps/accept.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn accept(&mut self, a: &Accept, at: &At) -> StepResult {
        let within = self.duration(&a.within, at)?;
        self.take_connection(&a.conn, within, at).await.map(|_| ())
    }
}
