//! The `reply` step: its execution (its file format is `scenario/steps/reply.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn reply(&mut self, r: &Reply, at: &At) -> StepResult {
        let (req_id, cmd) = match &r.to {
            Some(t) => {
                let id = self.expand_text(t, at)?;
                let cmd = self.received_cmds.get(&id).cloned().unwrap_or_default();
                (id, cmd)
            }
            None => self.last_received.get(&r.conn).cloned().ok_or_else(|| at.error(format!("no request received on `{}` to reply to", r.conn)))?,
        };
        let msg = self.reply_frame(&req_id, &r.spec, at)?;
        // What the harness hands out (a new SecretNo) is what the device uses from now on.
        if let Message::Text(text) = &msg {
            if let Ok(sent) = serde_json::from_str::<Value>(text) {
                let learned = self.profile.learn(&cmd, &sent);
                let first = self.sc.devices.first().cloned().unwrap_or_default();
                if let Some(d) = self.devices.get_mut(&first) {
                    d.apply(learned);
                }
            }
        }
        let conn = self.conn(&r.conn, at)?;
        conn.send(msg).await.map_err(|e| at.fail(format!("[{}] cannot reply: {e}", r.conn)))
    }
}
