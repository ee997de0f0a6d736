//! The `accept` step: its execution (its file format is `scenario/steps/accept.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn accept(&mut self, a: &Accept, at: &At) -> StepResult {
        // A device still booting is not late: the first wait is never shorter than its boot.
        let within = self.duration(&a.within, at)?.max(self.boot_time.take().unwrap_or_default());
        self.take_connection(&a.conn, within, at).await.map(|_| ())
    }
}
