//! Stopping a run from outside (a signal at the command line): no new scenario starts, the
//! running ones end at once, and the run still reports what it has.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tokio::sync::Notify;

/// Shared between whoever asks the run to stop and every scenario of it. Waiting on it costs
/// no timer, so scenarios on the virtual clock are not disturbed.
#[derive(Default, Debug)]
pub struct Interrupt {
    raised: AtomicBool,
    why: Mutex<String>,
    /// When it was first raised.
    at: Mutex<Option<std::time::Instant>>,
    notify: Notify,
}

impl Interrupt {
    /// Asks the run to stop; `why` goes into the verdicts ("SIGTERM").
    pub fn raise(&self, why: &str) {
        self.at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(std::time::Instant::now);
        *self.why.lock().unwrap_or_else(|p| p.into_inner()) = why.to_string();
        self.raised.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// When the run was first asked to stop.
    pub fn raised_at(&self) -> Option<std::time::Instant> {
        *self.at.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What stopped the run, once raised.
    pub fn why(&self) -> String {
        self.why.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Resolves once the run is asked to stop (at once if it already was).
    pub async fn raised(&self) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_raised() {
            return;
        }
        notified.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_waiter_wakes_whether_it_came_before_or_after() {
        let i = Arc::new(Interrupt::default());
        let early = tokio::spawn({
            let i = i.clone();
            async move { i.raised().await }
        });
        tokio::task::yield_now().await;
        i.raise("SIGTERM");
        tokio::time::timeout(Duration::from_secs(1), early)
            .await
            .expect("the early waiter woke")
            .unwrap();
        tokio::time::timeout(Duration::from_secs(1), i.raised())
            .await
            .expect("a late waiter returns at once");
        assert_eq!(i.why(), "SIGTERM");
    }
}
