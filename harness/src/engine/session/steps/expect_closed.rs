//! The `expect_closed` step: its execution (its file format is `scenario/steps/expect_closed.rs`).

use super::prelude::*;

impl Session<'_> {
    /// The target ends the link within the bound (frames before the end are allowed), by any
    /// means: a close handshake, or a TCP close or reset without one (a cloud that releases a
    /// link has released it, however it lets go; the transcript says which).
    pub(in crate::engine::session) async fn expect_closed(&mut self, e: &ExpectClosed, at: &At) -> StepResult {
        let within = self.duration(&e.within, at)?;
        let not_before = self.resolve_opt(&e.not_before, at)?;
        let started = self.now();
        let deadline = Instant::now() + within;
        let conn = self.conn(&e.conn, at)?;
        let mut broken = None;
        let end = loop {
            match conn.next(deadline).await {
                Some(Inbound { at: when, item: Item::Closed { .. } }) => break when,
                Some(Inbound { at: when, item: Item::Broken { reason, by_harness: false } }) => {
                    broken = Some(reason);
                    break when;
                }
                Some(Inbound { item: Item::Broken { reason, by_harness: true }, .. }) => {
                    return Err(at.fail(format!("[{}] expected the target to close the link, but the harness ended it: {reason}", e.conn)))
                }
                Some(_) => continue,
                None if conn.closed => break started,
                None => return Err(at.fail(format!("[{}] the connection was not closed within {}: it is still open", e.conn, format_duration(within)))),
            }
        };
        if let Some(reason) = broken {
            self.note(format!("[{}] the target ended the link without a close handshake ({reason}): released all the same", e.conn));
        }
        self.conns.remove(&e.conn);
        at.not_before(&format!("[{}] the close", e.conn), end.saturating_sub(started), not_before)
    }
}
