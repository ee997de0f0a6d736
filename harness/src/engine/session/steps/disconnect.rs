//! The `disconnect` step: its execution (its file format is `scenario/steps/disconnect.rs`).

use super::prelude::*;

impl Session<'_> {
    /// Closes a connection cleanly (close handshake, 1000).
    pub(in crate::engine::session) async fn disconnect(&mut self, c: &ConnRef, at: &At) -> StepResult {
        let conn = self.conns.remove(&c.conn).ok_or_else(|| at.error(format!("no open connection `{}`", c.conn)))?;
        conn.close(1000, "").await;
        Ok(())
    }
}
