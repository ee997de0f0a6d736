//! The `expect` step: its execution (its file format is `scenario/steps/expect.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn expect(&mut self, e: &Expect, at: &At) -> StepResult {
        let within = self.duration(&e.within, at)?;
        let not_before = self.resolve_opt(&e.not_before, at)?;
        let started = self.now();
        let conn = self.conn(&e.conn, at)?;
        let inbound = conn.next(Instant::now() + within).await;
        let frame = match inbound.as_ref().map(|i| &i.item) {
            Some(Item::Text(_, json)) => match json {
                Some(v) => v.clone(),
                None => return Err(at.fail(format!("[{}] expected a JSON frame, got text that is not JSON", e.conn))),
            },
            Some(Item::Binary(b)) => return Err(at.fail(format!("[{}] expected a JSON frame, got a binary frame of {} bytes", e.conn, b.len()))),
            Some(_) => {
                let why = inbound.as_ref().and_then(Inbound::end_text).unwrap_or_default();
                return Err(at.fail(format!("[{}] expected a frame, but the link {why}", e.conn)));
            }
            None => return Err(at.fail(format!("[{}] no frame within {}", e.conn, format_duration(within)))),
        };
        let arrived = inbound.map(|i| i.at).unwrap_or(started);
        at.not_before("the frame", arrived.saturating_sub(started), not_before)?;
        self.check(&e.matcher.value, &frame).map_err(|mm| at.mismatch("the frame", mm, e.matcher.span))?;
        self.capture(&e.capture, &frame, at)
    }
}
