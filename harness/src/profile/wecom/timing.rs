//! The cloud's timers and limits that scenarios refer to (`${heartbeat_timeout}`,
//! `${subscribe_window}`, `${subscribe_limit}`): one struct for the mock's settings and for
//! what a run expects of a real cloud.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloudTimings {
    /// No inbound frame for this long and the cloud releases the link (FAQ: about 1–2 min).
    pub heartbeat_timeout: Duration,
    /// The window of the per-IP `subscribe_corp` rate limit (FAQ: a minute).
    pub subscribe_window: Duration,
    /// How many `subscribe_corp` one IP may send inside the window (FAQ: 5).
    pub subscribe_limit: usize,
}

impl CloudTimings {
    /// The mock's defaults: 90 s heartbeat expiry (inside the FAQ's 1–2 min), 5 a minute.
    pub const MOCK: CloudTimings =
        CloudTimings { heartbeat_timeout: Duration::from_secs(90), subscribe_window: Duration::from_secs(60), subscribe_limit: 5 };
    /// What a real cloud is assumed to do: the FAQ's upper bound for heartbeat expiry.
    pub const FAQ: CloudTimings =
        CloudTimings { heartbeat_timeout: Duration::from_secs(120), subscribe_window: Duration::from_secs(60), subscribe_limit: 5 };
}
