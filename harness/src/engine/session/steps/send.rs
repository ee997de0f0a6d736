//! The `send` step: its execution (its file format is `scenario/steps/send.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn send(&mut self, s: &Send, at: &At) -> StepResult {
        let msg = match &s.frame {
            SendFrame::Json(v) => Message::text(self.expand(v, at)?.to_string()),
            SendFrame::Text(t) => Message::text(t.clone()),
            SendFrame::Binary(b) => Message::binary(b.clone()),
            SendFrame::Oversized(n) => Message::text(format!("{{\"pad\":\"{}\"}}", "x".repeat(n.saturating_sub(10)))),
        };
        let conn = self.conn(&s.conn, at)?;
        // A target may close the link while a frame is on its way (an oversized frame); that
        // is its answer, judged by the steps that follow, not a failure to send.
        if let Err(e) = conn.send(msg).await {
            self.note(format!("[{}] {e}", s.conn));
        }
        Ok(())
    }
}
