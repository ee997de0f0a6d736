//! The `push` step: its execution (its file format is `scenario/steps/push.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn push(&mut self, p: &Push, at: &At) -> StepResult {
        let req_id = match &p.req_id {
            Some(t) => self.expand_text(t, at)?,
            None => self.fresh_id("cloud-push"),
        };
        let body = p.body.as_ref().map(|b| self.expand(b, at)).transpose()?;
        self.set_var("last_push_req_id", json!(req_id));
        let frame = self.profile.push_frame(&p.cmd, &req_id, body);
        // What the device sends from here on on this link may be its reaction; what it sent
        // before cannot be.
        let now = self.now();
        self.pushed_at.insert(p.conn.clone(), now);
        let conn = self.conn(&p.conn, at)?;
        conn.send_json(frame).await.map_err(|e| at.fail(format!("[{}] cannot push: {e}", p.conn)))
    }
}
