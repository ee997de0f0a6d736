//! The `wait` step: its execution (its file format is `scenario/steps/wait.rs`).

use super::prelude::*;

impl Session<'_> {
    /// Lets scenario time pass (virtual on in-process targets); with `keepalive`, every open
    /// connection sends the profile's keepalive request at its interval meanwhile.
    pub(in crate::engine::session) async fn wait(&mut self, w: &Wait, at: &At) -> StepResult {
        let total = self.resolve(&w.duration, at)?;
        if !w.keepalive {
            tokio::time::sleep(total).await;
            return Ok(());
        }
        let keepalive = match &self.target {
            Target::Cloud(cloud) => self.profile.keepalive(&cloud.settings()),
            Target::Device(_) => return Err(at.error("`keepalive` is for the device role: the harness plays the cloud here")),
        };
        let Some(keepalive) = keepalive else {
            return Err(at.error(format!("the {} profile has no keepalive request", self.profile.name())));
        };
        let end = Instant::now() + total;
        loop {
            let tick = (Instant::now() + keepalive.interval).min(end);
            tokio::time::sleep_until(tick).await;
            if tick >= end {
                return Ok(());
            }
            // A half-open link reads no replies: the harness chose silence there.
            let live: Vec<String> =
                self.conns.iter_mut().filter_map(|(n, c)| (c.ended().is_none() && !c.is_half_open()).then(|| n.clone())).collect();
            for name in live {
                self.keepalive_request(&name, keepalive.cmd, at).await?;
            }
        }
    }
}
