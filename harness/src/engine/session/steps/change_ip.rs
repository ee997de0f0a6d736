//! The `change_ip` step: its execution (its file format is `scenario/steps/change_ip.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn change_ip(&mut self, c: &ChangeIp, at: &At) -> StepResult {
        let old = self.conns.remove(&c.conn).ok_or_else(|| at.error(format!("no open connection `{}`", c.conn)))?;
        let device = old.device.clone();
        self.abandoned.push(old.abandon());
        let to = parse_ip(Some(&c.to), at)?;
        let within = self.step_timeout;
        self.open(&c.conn, device, to, within, at).await
    }
}
