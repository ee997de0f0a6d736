//! The `purpose` step: its execution (its file format is `scenario/steps/purpose.rs`).

use super::prelude::*;

impl Session<'_> {
    /// From here on a failure is the target's: the preamble brought it where the test
    /// purpose needs it.
    pub(in crate::engine::session) async fn purpose(&mut self, p: &Purpose, _: &At) -> StepResult {
        self.in_body = true;
        self.note(format!("test body: {}", p.text));
        Ok(())
    }
}
