//! The `close` step: its execution (its file format is `scenario/steps/close.rs`).

use super::prelude::*;

impl Session<'_> {
    /// The cloud closes the connection, with a close code.
    pub(in crate::engine::session) async fn close(&mut self, c: &Close, at: &At) -> StepResult {
        let conn = self.conns.remove(&c.conn).ok_or_else(|| at.error(format!("no open connection `{}`", c.conn)))?;
        conn.close(c.code.unwrap_or(1000), c.reason.as_deref().unwrap_or("")).await;
        Ok(())
    }
}
