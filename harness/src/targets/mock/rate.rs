//! The per-IP `subscribe_corp` rate limit (C11, FAQ: "同一个 ip 在一分钟内 subscribe 超过 5 次").
//!
//! A sliding window: an attempt is admitted while fewer than `limit` admitted attempts of
//! that IP lie inside the last `window`. Every admitted attempt counts, whatever its outcome
//! (bad secret, re-sent, success); refused attempts do not, so the `interval` the cloud
//! advises is exactly the time until a slot frees.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: HashMap<IpAddr, VecDeque<Instant>>,
}

impl RateLimiter {
    /// Admits (and records) an attempt at `now`, or returns the whole seconds (at least 1)
    /// until the oldest attempt leaves the window.
    pub fn admit(
        &mut self,
        ip: IpAddr,
        now: Instant,
        window: Duration,
        limit: usize,
    ) -> Result<(), i64> {
        let q = self.windows.entry(ip).or_default();
        while q
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= window)
        {
            q.pop_front();
        }
        if q.len() >= limit {
            let frees_at = q
                .front()
                .map(|&t| super::server::later(t, window))
                .unwrap_or(now);
            let wait = frees_at.saturating_duration_since(now);
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(secs.max(1) as i64);
        }
        q.push_back(now);
        Ok(())
    }

    /// Drops the window of `ip` (control `forget`).
    pub fn forget(&mut self, ip: IpAddr) {
        self.windows.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(60);

    #[test]
    fn sixth_attempt_in_a_minute_is_refused_then_allowed_again() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        let mut r = RateLimiter::default();
        for i in 0..5 {
            assert_eq!(r.admit(ip, t0 + Duration::from_secs(i * 2), W, 5), Ok(()));
        }
        assert_eq!(r.admit(ip, t0 + Duration::from_secs(10), W, 5), Err(50));
        assert_eq!(
            r.admit(other, t0 + Duration::from_secs(10), W, 5),
            Ok(()),
            "per IP"
        );
        // Refused attempts do not count: the first slot frees at t0 + 60 s.
        assert_eq!(
            r.admit(ip, t0 + Duration::from_millis(59_500), W, 5),
            Err(1)
        );
        assert_eq!(r.admit(ip, t0 + W, W, 5), Ok(()));
        assert_eq!(r.admit(ip, t0 + W, W, 5), Err(2));
        r.forget(ip);
        assert_eq!(r.admit(ip, t0 + W, W, 5), Ok(()));
    }
}
