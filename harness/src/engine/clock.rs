//! The scenario clock: tokio's clock, paused (virtual) for in-process targets and real for
//! sockets, plus the unix time the protocol's timestamps are measured against.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Time since a scenario started, and unix seconds at that moment.
#[derive(Clone, Copy, Debug)]
pub struct ScenarioClock {
    started: Instant,
    start_unix: u64,
}

impl ScenarioClock {
    /// Starts now (tokio's now: virtual under a paused runtime).
    pub fn start(start_unix: u64) -> ScenarioClock {
        ScenarioClock {
            started: Instant::now(),
            start_unix,
        }
    }

    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.started)
    }

    /// Unix seconds on the scenario clock; what signatures and the cloud's freshness check use.
    pub fn now_unix(&self) -> u64 {
        self.start_unix + self.elapsed().as_secs()
    }
}

/// Wall-clock unix seconds, the anchor of every scenario clock.
pub fn wall_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
