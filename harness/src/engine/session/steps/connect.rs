//! The `connect` step: its execution (its file format is `scenario/steps/connect.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn connect(&mut self, c: &Connect, at: &At) -> StepResult {
        let from = parse_ip(c.from.as_deref(), at)?;
        let within = self.duration(&c.within, at)?;
        let device = self.device_name(&c.device);
        self.open(&c.conn, device, from, within, at).await
    }
}
