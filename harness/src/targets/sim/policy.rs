//! Every wait the device makes, in one place: request timeouts, retry spacing after error
//! replies, reconnect delays, heartbeat and poll periods, and the subscribe budget. The
//! faults and the variants that bend a timing are applied here and nowhere else.

use super::config::{SimFault, SimVariant};
use super::device::Device;
use super::link::Reply;
use crate::profile::wecom::catalog::Suggestion;
use std::time::Duration;
use tokio::time::Instant;

/// A reply timeout: a random 5–10 s (FAQ; D13).
pub const TIMEOUT_S: (f64, f64) = (5.0, 10.0);
/// Retry spacing when an error reply gives no usable interval, and the delay before
/// dialing again after a failed dial or a lost link: a random 1–3 s (FAQ; D14).
pub const JITTER_S: (f64, f64) = (1.0, 3.0);
/// Extra random delay added to a positive `interval` (D14).
pub const INTERVAL_JITTER_S: (f64, f64) = (0.0, 1.0);
/// The heartbeat period: a random 20–40 s per ping (D12).
pub const PING_S: (f64, f64) = (20.0, 40.0);
/// `active` poll while unbound: 5 s plus up to 0.5 s (D8).
pub const ACTIVE_POLL_S: (f64, f64) = (5.0, 5.5);
/// Wait after `register` answered 600002 before reconnecting: a random 60–90 s (D20).
pub const REGISTERED_ELSEWHERE_S: (f64, f64) = (60.0, 90.0);
/// The `late-600002-reconnect` variant's wait after 600002: the FAQ's upper bound (D20).
pub const LATE_600002_RECONNECT: Duration = Duration::from_secs(120);
/// Wait before re-sending check-ins that failed or went unanswered (D33).
pub const CHECKIN_RETRY_S: (f64, f64) = (5.0, 10.0);
/// At most this many `subscribe_corp` in any [`SUBSCRIBE_WINDOW`] (D21).
pub const SUBSCRIBE_BUDGET: usize = 5;
pub const SUBSCRIBE_WINDOW: Duration = Duration::from_secs(60);
/// The `long-timeout` variant's re-send after an unanswered request: the longest timeout the
/// FAQ allows (10 s) and then the longest staggered retry (3 s) (D13, D14 composed).
pub const LONG_TIMEOUT: Duration = Duration::from_secs(13);
/// The `late-first-ping` variant's first ping after login: the latest D12 allows.
pub const LATE_FIRST_PING: Duration = Duration::from_secs(40);
/// The `ping-first` variant's delay of the contact sync after login.
pub const PING_FIRST_SYNC_DELAY: Duration = Duration::from_secs(35);
/// The least the `reconnect-on-600045` variant stays away after 600045 without an interval.
pub const RECONNECT_600045_MIN: Duration = Duration::from_secs(60);
/// Intervals beyond a day are taken as a day, so no wait overflows the clock.
const MAX_INTERVAL_S: i64 = 86_400;

/// What to do after an error reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Advice {
    /// Send the request again (with a new req_id) after the delay.
    Retry(Duration),
    /// Never send this request again (`interval: -1`, D15).
    Never,
    /// Close the connection, wait, dial again and redo the handshake (D16).
    Reconnect(Duration),
}

impl Device {
    fn range(&self, (lo, hi): (f64, f64)) -> Duration {
        self.uniform(lo, hi)
    }

    /// `faulty` when `fault` is injected (no random draw then), else a draw from `range`.
    fn range_unless(&self, fault: SimFault, faulty: Duration, range: (f64, f64)) -> Duration {
        if self.has(fault) {
            return faulty;
        }
        self.range(range)
    }

    /// How long to wait for a reply before re-sending (D13).
    pub fn request_timeout(&self) -> Duration {
        if self.is(SimVariant::LongTimeout) && !self.has(SimFault::ShortTimeout) {
            return LONG_TIMEOUT;
        }
        self.range_unless(SimFault::ShortTimeout, Duration::from_secs(1), TIMEOUT_S)
    }

    /// A random 1–3 s.
    pub fn jitter(&self) -> Duration {
        self.range(JITTER_S)
    }

    /// Whether the reply forbids any retry (`interval: -1`), as this device reads it (D15).
    pub fn forbids_retry(&self, reply: &Reply) -> bool {
        reply.interval == Some(-1) && !self.has(SimFault::RetryAfterMinusOne)
    }

    /// The FAQ's retry rule (D14, D15, D16): `-1` never; `reconnect` closes and re-opens
    /// after `interval` (or 1–3 s); otherwise retry after `interval` + 0–1 s, or 1–3 s.
    pub fn advice(&self, reply: &Reply) -> Advice {
        if reply.interval == Some(-1) {
            return if self.has(SimFault::RetryAfterMinusOne) {
                Advice::Retry(self.jitter())
            } else {
                Advice::Never
            };
        }
        if reply.suggestion == Some(Suggestion::Reconnect) {
            return Advice::Reconnect(self.after_interval(reply.interval));
        }
        Advice::Retry(self.retry_delay(reply.interval))
    }

    /// Retry spacing for an error reply carrying `interval` (not -1).
    pub fn retry_delay(&self, interval: Option<i64>) -> Duration {
        match interval {
            Some(n) if n >= 1 && self.has(SimFault::IgnoreInterval) => Duration::from_secs(1),
            Some(n) if n >= 1 => self.after_interval(Some(n)),
            _ if self.has(SimFault::NoJitter) => Duration::from_secs(1),
            _ => self.jitter(),
        }
    }

    /// `interval` seconds plus 0–1 s when positive, else 1–3 s.
    pub(super) fn after_interval(&self, interval: Option<i64>) -> Duration {
        match interval {
            Some(n) if n >= 1 => {
                Duration::from_secs(n.min(MAX_INTERVAL_S) as u64) + self.range(INTERVAL_JITTER_S)
            }
            _ => self.jitter(),
        }
    }

    /// Delay before reconnecting after `register` answered 600002 (D20): 60–90 s, and never
    /// earlier than a positive `interval` allows.
    pub fn registered_elsewhere_delay(&self, interval: Option<i64>) -> Duration {
        if self.has(SimFault::No600002Backoff) {
            return self.jitter();
        }
        if self.has(SimFault::Ignore600002Interval) {
            let floor = Duration::from_secs_f64(REGISTERED_ELSEWHERE_S.0);
            return floor + self.range(INTERVAL_JITTER_S);
        }
        let wait = match self.is(SimVariant::Late600002Reconnect) {
            true => LATE_600002_RECONNECT,
            false => self.range(REGISTERED_ELSEWHERE_S),
        };
        self.at_least_interval(wait, interval, 1)
    }

    /// Next `active` poll while the device is not bound (D8): 5–5.5 s, or a longer interval.
    pub fn active_poll_delay(&self, interval: Option<i64>) -> Duration {
        if self.has(SimFault::FastActivePoll) {
            return Duration::from_secs(1);
        }
        self.at_least_interval(self.range(ACTIVE_POLL_S), interval, 6)
    }

    /// `wait`, or longer when `interval` is at least `min` seconds and asks for more.
    fn at_least_interval(&self, wait: Duration, interval: Option<i64>, min: i64) -> Duration {
        match interval {
            Some(n) if n >= min => wait.max(self.after_interval(Some(n))),
            _ => wait,
        }
    }

    /// Time to the next ping (D12).
    pub fn ping_gap(&self) -> Duration {
        self.range_unless(SimFault::SlowHeartbeat, Duration::from_secs(60), PING_S)
    }

    /// Time from login to the first ping: a gap like any other, at once (`ping-first`) or
    /// the latest D12 allows (`late-first-ping`).
    pub fn first_ping_delay(&self) -> Duration {
        if self.is(SimVariant::PingFirst) {
            Duration::ZERO
        } else if self.is(SimVariant::LateFirstPing) && !self.has(SimFault::SlowHeartbeat) {
            LATE_FIRST_PING
        } else {
            self.ping_gap()
        }
    }

    /// Time from login to the contact sync: at once, or after the first pings (`ping-first`).
    pub fn contact_sync_delay(&self) -> Duration {
        if self.is(SimVariant::PingFirst) {
            PING_FIRST_SYNC_DELAY
        } else {
            Duration::ZERO
        }
    }

    /// How long the `reconnect-on-600045` variant stays away after 600045: the interval
    /// (at least 60 s) plus 0-1 s.
    pub fn reconnect_after_600045(&self, interval: Option<i64>) -> Duration {
        self.after_interval(interval)
            .max(RECONNECT_600045_MIN + self.range(INTERVAL_JITTER_S))
    }

    pub fn checkin_retry_delay(&self) -> Duration {
        self.range(CHECKIN_RETRY_S)
    }

    /// How long to wait before one more `subscribe_corp` fits the budget (D21); records the
    /// send when it is zero. The window is kept a second wider than the rule's.
    pub fn subscribe_slot(&self) -> Duration {
        let now = Instant::now();
        let window = SUBSCRIBE_WINDOW + Duration::from_secs(1);
        let mut store = self.store();
        while store
            .subscribes
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            store.subscribes.pop_front();
        }
        if store.subscribes.len() >= SUBSCRIBE_BUDGET && !self.has(SimFault::SubscribeStorm) {
            let oldest = store.subscribes[store.subscribes.len() - SUBSCRIBE_BUDGET];
            return (oldest + window)
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
        }
        store.subscribes.push_back(now);
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::identity::DeviceIdentity;
    use crate::targets::sim::SimConfig;

    fn dev(faults: &[SimFault]) -> Device {
        let mut c = SimConfig::new(DeviceIdentity::new("SN", "S"));
        c.faults = faults.iter().copied().collect();
        Device::new(c)
    }

    fn variant(v: SimVariant) -> Device {
        let mut c = SimConfig::new(DeviceIdentity::new("SN", "S"));
        c.variants = [v].into();
        Device::new(c)
    }

    fn reply(suggestion: Option<Suggestion>, interval: Option<i64>) -> Reply {
        Reply {
            errcode: 600999,
            errmsg: "x".into(),
            body: serde_json::Value::Null,
            suggestion,
            interval,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn d14_d15_d16_advice() {
        let d = dev(&[]);
        assert_eq!(d.advice(&reply(None, Some(-1))), Advice::Never);
        assert_eq!(
            d.advice(&reply(Some(Suggestion::Reconnect), Some(-1))),
            Advice::Never
        );
        let Advice::Retry(t) = d.advice(&reply(Some(Suggestion::Retry), Some(7))) else {
            panic!()
        };
        assert!(
            t >= Duration::from_secs(7) && t <= Duration::from_secs(8),
            "{t:?}"
        );
        let Advice::Retry(t) = d.advice(&reply(None, None)) else {
            panic!()
        };
        assert!(
            t >= Duration::from_secs(1) && t <= Duration::from_secs(3),
            "{t:?}"
        );
        let Advice::Reconnect(t) = d.advice(&reply(Some(Suggestion::Reconnect), Some(4))) else {
            panic!()
        };
        assert!(
            t >= Duration::from_secs(4) && t <= Duration::from_secs(5),
            "{t:?}"
        );
        let r = d.registered_elsewhere_delay(Some(90));
        assert!(
            r >= Duration::from_secs(90) && r <= Duration::from_secs(91),
            "{r:?}"
        );
        let r = d.registered_elsewhere_delay(None);
        assert!(
            r >= Duration::from_secs(60) && r <= Duration::from_secs(90),
            "{r:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn faults_bend_the_timings() {
        assert_eq!(
            dev(&[SimFault::NoJitter]).advice(&reply(None, None)),
            Advice::Retry(Duration::from_secs(1))
        );
        assert_eq!(
            dev(&[SimFault::IgnoreInterval]).advice(&reply(None, Some(30))),
            Advice::Retry(Duration::from_secs(1))
        );
        assert!(matches!(
            dev(&[SimFault::RetryAfterMinusOne]).advice(&reply(None, Some(-1))),
            Advice::Retry(_)
        ));
        assert_eq!(
            dev(&[SimFault::ShortTimeout]).request_timeout(),
            Duration::from_secs(1)
        );
        assert_eq!(
            dev(&[SimFault::SlowHeartbeat]).ping_gap(),
            Duration::from_secs(60)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn variants_bend_the_timings_within_the_rules() {
        assert_eq!(
            variant(SimVariant::LongTimeout).request_timeout(),
            LONG_TIMEOUT
        );
        assert_eq!(
            variant(SimVariant::PingFirst).first_ping_delay(),
            Duration::ZERO
        );
        assert_eq!(
            variant(SimVariant::PingFirst).contact_sync_delay(),
            PING_FIRST_SYNC_DELAY
        );
        assert_eq!(
            variant(SimVariant::LateFirstPing).first_ping_delay(),
            LATE_FIRST_PING
        );
        let d = variant(SimVariant::LateFirstPing);
        assert!((0..20)
            .map(|_| d.ping_gap())
            .all(|g| g >= Duration::from_secs(20) && g <= Duration::from_secs(40)));
        let d = variant(SimVariant::ReconnectOn600045);
        for (interval, lo) in [(None, 60), (Some(5), 60), (Some(90), 90)] {
            let t = d.reconnect_after_600045(interval);
            assert!(
                t >= Duration::from_secs(lo) && t <= Duration::from_secs(lo + 1),
                "{interval:?}: {t:?}"
            );
        }
        let d = dev(&[]);
        assert_eq!(d.contact_sync_delay(), Duration::ZERO);
        assert!(d.first_ping_delay() >= Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn d21_subscribe_budget() {
        let d = dev(&[]);
        for _ in 0..SUBSCRIBE_BUDGET {
            assert_eq!(d.subscribe_slot(), Duration::ZERO);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let wait = d.subscribe_slot();
        assert!(
            wait > Duration::from_secs(45) && wait <= Duration::from_secs(61),
            "{wait:?}"
        );
        tokio::time::sleep(wait).await;
        assert_eq!(d.subscribe_slot(), Duration::ZERO);
    }
}
