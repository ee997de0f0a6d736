//! The cloud's timers and limits that scenarios refer to (`${heartbeat_timeout}`,
//! `${subscribe_window}`, `${subscribe_limit}`): one struct for the mock's settings and for
//! what a run expects of a real cloud.

use crate::profile::TimingConstant;
use std::time::Duration;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
const fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}
const fn plus(a: Duration, b: Duration) -> Duration {
    a.saturating_add(b)
}
const fn less(a: Duration, b: Duration) -> Duration {
    a.saturating_sub(b)
}

/// The FAQ's timeout for one request: 5–10 s (D13).
pub const REQUEST_TIMEOUT: (Duration, Duration) = (secs(5), secs(10));
/// The FAQ's staggered retry: a random 1–3 s (D14).
pub const RETRY_JITTER: (Duration, Duration) = (secs(1), secs(3));
/// D12: a ping every 20–40 s after login.
pub const PING_PERIOD: (Duration, Duration) = (secs(20), secs(40));
/// D8: an unbound device polls `active` every 5 s.
pub const ACTIVE_POLL: Duration = secs(5);
/// The FAQ on 600002: wait about 1–2 minutes for the old link's heartbeat to expire (D20).
pub const WAIT_600002: (Duration, Duration) = (secs(60), secs(120));
/// D34/C19: the report of a remote open is due within 3 s.
pub const REMOTE_OPEN_REPORT: Duration = secs(3);
/// The FAQ on heartbeats (C8): a link with no traffic for about 1–2 minutes is released.
pub const HEARTBEAT_EXPIRY: (Duration, Duration) = (secs(60), secs(120));
/// How much before its expiry a cloud may release a silent link: its timer's granularity.
pub const EXPIRY_EARLY: Duration = secs(5);
/// How much after its expiry: a cloud that sweeps silent links now and then (every half
/// minute, say) releases one up to a sweep late, and "about" 2 minutes allows it.
pub const EXPIRY_LATE: Duration = secs(30);

/// How long a push caused by a change (C16's `push_change_contact` after an upload) may take:
/// no delay is documented, so the longest request timeout stands for it, an assumption; a
/// scenario that misses one leaves its rule inconclusive, never failed.
pub const PUSH_LATEST: Duration = REQUEST_TIMEOUT.1;

/// D13: no re-send sooner than this after the unanswered request (`${resend_earliest}`).
pub const RESEND_EARLIEST: Duration = less(REQUEST_TIMEOUT.0, ms(250));
/// The latest a re-send of an unanswered request may come (`${resend_latest}`): the longest
/// timeout, then the longest staggered retry, plus 1 s.
pub const RESEND_LATEST: Duration = plus(plus(REQUEST_TIMEOUT.1, RETRY_JITTER.1), secs(1));
/// D12: the longest gap between pings after login (`${ping_gap_latest}`).
pub const PING_GAP_LATEST: Duration = plus(PING_PERIOD.1, secs(2));

/// Every window a scenario names, composed from the rules above (the tolerances cover a real
/// device's scheduling; the in-process clock needs none).
pub const CONSTANTS: &[TimingConstant] = &[
    TimingConstant { name: "request_timeout_min", value: REQUEST_TIMEOUT.0, composition: "the shortest request timeout (FAQ: 5–10 s)" },
    TimingConstant { name: "request_timeout_max", value: REQUEST_TIMEOUT.1, composition: "the longest request timeout (FAQ: 5–10 s)" },
    TimingConstant { name: "retry_jitter_min", value: RETRY_JITTER.0, composition: "the shortest staggered retry (FAQ: a random 1–3 s)" },
    TimingConstant { name: "retry_jitter_max", value: RETRY_JITTER.1, composition: "the longest staggered retry (FAQ: a random 1–3 s)" },
    TimingConstant {
        name: "resend_earliest",
        value: RESEND_EARLIEST,
        composition: "the shortest request timeout (FAQ: 5–10 s) less 250 ms tolerance (D13)",
    },
    TimingConstant {
        name: "resend_latest",
        value: RESEND_LATEST,
        composition: "the longest request timeout (FAQ: 10 s) + the longest staggered retry after it (FAQ: 3 s) + 1 s tolerance",
    },
    TimingConstant { name: "retry_latest", value: plus(RETRY_JITTER.1, ms(500)), composition: "the longest staggered retry (FAQ: 1–3 s) + 500 ms tolerance (D14)" },
    TimingConstant { name: "ping_period_earliest", value: less(PING_PERIOD.0, secs(1)), composition: "the shortest ping period (D12: 20–40 s) less 1 s tolerance" },
    TimingConstant { name: "ping_gap_latest", value: PING_GAP_LATEST, composition: "the longest ping period (D12: 20–40 s) + 2 s tolerance" },
    TimingConstant { name: "active_poll_earliest", value: less(ACTIVE_POLL, ms(500)), composition: "the active poll period (D8: 5 s) less 500 ms tolerance" },
    TimingConstant { name: "wait_600002_min", value: WAIT_600002.0, composition: "the shortest wait after 600002 (FAQ: about 1–2 min, D20)" },
    TimingConstant {
        name: "wait_600002_latest",
        value: plus(WAIT_600002.1, secs(10)),
        composition: "the longest wait after 600002 (FAQ: about 1–2 min) + 10 s tolerance (D20)",
    },
    TimingConstant {
        name: "push_latest",
        value: PUSH_LATEST,
        composition: "no delay is documented for a push a change causes ([UNDOC]): assumed within the longest request timeout (FAQ: 10 s); a step waiting this long for one judges nothing by its absence",
    },
    TimingConstant { name: "remote_open_report", value: REMOTE_OPEN_REPORT, composition: "the remote-open report deadline (D34, C19: 3 s)" },
    TimingConstant { name: "heartbeat_expiry_min", value: HEARTBEAT_EXPIRY.0, composition: "the shortest heartbeat expiry (FAQ: about 1–2 min, C8)" },
    TimingConstant { name: "heartbeat_expiry_max", value: HEARTBEAT_EXPIRY.1, composition: "the longest heartbeat expiry (FAQ: about 1–2 min, C8)" },
    TimingConstant { name: "expiry_early", value: EXPIRY_EARLY, composition: "how much before its expiry a cloud may release a silent link (a timer's granularity)" },
    TimingConstant { name: "expiry_late", value: EXPIRY_LATE, composition: "how much after its expiry a cloud may release a silent link (a sweep every 30 s)" },
];

/// The constant named `name`.
pub fn constant(name: &str) -> Option<&'static TimingConstant> {
    CONSTANTS.iter().find(|c| c.name == name)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloudTimings {
    /// No inbound frame for this long and the cloud releases the link (FAQ: about 1–2 min):
    /// the cloud's expiry, or the latest it may be when only a range is known.
    pub heartbeat_timeout: Duration,
    /// The earliest the expiry may be, when only a range is known (a real cloud that states
    /// nothing: the FAQ's 1–2 min); `None` when `heartbeat_timeout` is the exact value.
    pub heartbeat_timeout_min: Option<Duration>,
    /// The window of the per-IP `subscribe_corp` rate limit (FAQ: a minute).
    pub subscribe_window: Duration,
    /// How many `subscribe_corp` one IP may send inside the window (FAQ: 5).
    pub subscribe_limit: usize,
    /// The largest frame the cloud takes before it ends the link, when it has a limit and
    /// says so (the protocol documents none).
    pub max_frame_bytes: Option<usize>,
    /// Whether the cloud answers the full visitor pull `get_visitor_list` (a name known only
    /// from an implementation, [UNDOC]); `None` when it does not say.
    pub visitor_list: Option<bool>,
}

impl CloudTimings {
    /// The mock's defaults: 90 s heartbeat expiry (inside the FAQ's 1–2 min), 5 a minute,
    /// frames up to 64 KiB.
    pub const MOCK: CloudTimings = CloudTimings {
        heartbeat_timeout: Duration::from_secs(90),
        heartbeat_timeout_min: None,
        subscribe_window: Duration::from_secs(60),
        subscribe_limit: 5,
        max_frame_bytes: Some(64 * 1024),
        visitor_list: Some(true),
    };
    /// What a real cloud that states nothing is held to: the FAQ's ranges (a heartbeat
    /// expiry anywhere in 1–2 min), no frame limit.
    pub const FAQ: CloudTimings = CloudTimings {
        heartbeat_timeout: HEARTBEAT_EXPIRY.1,
        heartbeat_timeout_min: Some(HEARTBEAT_EXPIRY.0),
        subscribe_window: Duration::from_secs(60),
        subscribe_limit: 5,
        max_frame_bytes: None,
        visitor_list: None,
    };

    /// The same, with the heartbeat expiry known to be exactly `expiry`.
    pub fn with_expiry(self, expiry: Duration) -> CloudTimings {
        CloudTimings {
            heartbeat_timeout: expiry,
            heartbeat_timeout_min: None,
            ..self
        }
    }

    /// The shortest the heartbeat expiry may be.
    pub fn expiry_min(&self) -> Duration {
        self.heartbeat_timeout_min
            .unwrap_or(self.heartbeat_timeout)
            .min(self.heartbeat_timeout)
    }

    /// The earliest a silent link may be released (`${heartbeat_expiry_earliest}`): the
    /// shortest expiry less [`EXPIRY_EARLY`].
    pub fn expiry_earliest(&self) -> Duration {
        less(self.expiry_min(), EXPIRY_EARLY.min(self.expiry_min() / 2))
    }

    /// The latest a silent link must be released by (`${heartbeat_expiry_latest}`): the
    /// longest expiry plus [`EXPIRY_LATE`].
    pub fn expiry_latest(&self) -> Duration {
        plus(self.heartbeat_timeout, EXPIRY_LATE)
    }

    /// How a heartbeat window was composed, for a step that missed it.
    pub fn expiry_composition(&self) -> String {
        let fmt = |d: Duration| match d.subsec_millis() {
            0 => format!("{}s", d.as_secs()),
            _ => format!("{:.2}s", d.as_secs_f64()),
        };
        let expiry = match self.heartbeat_timeout_min {
            Some(_) if self.expiry_min() < self.heartbeat_timeout => format!(
                "an expiry anywhere in {}–{} (the FAQ's about 1–2 min, or the cloud statement's range)",
                fmt(self.expiry_min()),
                fmt(self.heartbeat_timeout)
            ),
            _ => format!(
                "the cloud's expiry of {} (its statement, --heartbeat-timeout or the mock's own)",
                fmt(self.heartbeat_timeout)
            ),
        };
        format!(
            "{expiry}, released no earlier than {} before it and no later than {} after it",
            fmt(EXPIRY_EARLY.min(self.expiry_min() / 2)),
            fmt(EXPIRY_LATE)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The windows are the rules composed: a re-send after the longest timeout and the
    /// longest staggered retry after it (13 s) lies inside `resend_latest`, which a window
    /// read off the timeout rule alone (11 s) would not.
    #[test]
    fn windows_compose_the_rules() {
        let v = |n: &str| constant(n).unwrap_or_else(|| panic!("{n}")).value;
        assert_eq!(
            v("resend_latest"),
            REQUEST_TIMEOUT.1 + RETRY_JITTER.1 + secs(1)
        );
        assert!(
            REQUEST_TIMEOUT.1 + RETRY_JITTER.1 <= v("resend_latest")
                && REQUEST_TIMEOUT.1 + RETRY_JITTER.1 > secs(11)
        );
        assert!(v("resend_earliest") <= REQUEST_TIMEOUT.0);
        assert_eq!(v("ping_gap_latest"), PING_GAP_LATEST);
        assert!(v("wait_600002_min") <= WAIT_600002.0 && v("wait_600002_latest") > WAIT_600002.1);
        let mut names: Vec<&str> = CONSTANTS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CONSTANTS.len(), "names are unique");
        assert!(CONSTANTS.iter().all(|c| !c.composition.is_empty()));
    }
}
