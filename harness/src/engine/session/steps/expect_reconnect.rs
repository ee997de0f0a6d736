//! The `expect_reconnect` step: its execution (its file format is `scenario/steps/expect_reconnect.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn expect_reconnect(&mut self, e: &ExpectReconnect, at: &At) -> StepResult {
        let within = self.duration(&e.within, at)?;
        let not_before = self.resolve_opt(&e.not_before, at)?;
        let started = self.step_start();
        let arrived = self.take_connection(&e.conn, within, at).await?;
        // The new link replaced the old under `conn`; where the profile has a one-link rule,
        // an old one still open must close now.
        if let Some(rule) = self.profile.second_link_rule() {
            if let Some(mut old) = self.abandoned.pop() {
                if old.ended().is_none() {
                    tokio::time::sleep(rule.grace).await;
                    if old.ended().is_none() {
                        self.abandoned.push(old);
                        self.finding(rule.reopened(&e.conn), Some(at));
                    }
                }
            }
        }
        at.not_before("the new connection", arrived.saturating_sub(started), not_before)
    }
}
