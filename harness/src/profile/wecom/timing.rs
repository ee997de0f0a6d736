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
    TimingConstant { name: "remote_open_report", value: REMOTE_OPEN_REPORT, composition: "the remote-open report deadline (D34, C19: 3 s)" },
];

/// The constant named `name`.
pub fn constant(name: &str) -> Option<&'static TimingConstant> {
    CONSTANTS.iter().find(|c| c.name == name)
}

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
    pub const MOCK: CloudTimings = CloudTimings {
        heartbeat_timeout: Duration::from_secs(90),
        subscribe_window: Duration::from_secs(60),
        subscribe_limit: 5,
    };
    /// What a real cloud is assumed to do: the FAQ's upper bound for heartbeat expiry.
    pub const FAQ: CloudTimings = CloudTimings {
        heartbeat_timeout: Duration::from_secs(120),
        subscribe_window: Duration::from_secs(60),
        subscribe_limit: 5,
    };
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
