//! The `no_reply` step: its execution (its file format is `scenario/steps/no_reply.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn no_reply(&mut self, c: &ConnRef, at: &At) -> StepResult {
        let conn = &c.conn;
        let (req_id, cmd) = self.last_received.get(conn).cloned().ok_or_else(|| at.error(format!("no request received on `{conn}`")))?;
        self.note(format!("[{conn}] `{cmd}` (req_id {req_id}) gets no reply"));
        Ok(())
    }
}
