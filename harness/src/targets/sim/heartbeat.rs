//! The heartbeat: once logged in, a `ping` every random 20–40 s for the life of the
//! connection (D12). Pings are scheduled from the previous send, not from its reply, so a
//! lost reply never stretches a gap; a lost ping is not re-sent (the next one is due anyway).

use super::link::Outcome;
use super::policy::Advice;
use super::session::Ctx;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use std::time::Duration;

/// Runs until the cloud advises a reconnect (the delay is returned).
pub(super) async fn run(ctx: &Ctx<'_>) -> Duration {
    let dev = ctx.dev;
    let mut next = tokio::time::Instant::now() + dev.first_ping_delay();
    let mut inflight: Option<BoxFuture<'_, Outcome>> = None;
    loop {
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(next) => {
                inflight = Some(ctx.link.call("ping", None).boxed());
                next = tokio::time::Instant::now() + dev.ping_gap();
            }
            outcome = async { inflight.as_mut().expect("guarded").await }, if inflight.is_some() => {
                inflight = None;
                match outcome {
                    Outcome::Error(r) => match dev.advice(&r) {
                        Advice::Reconnect(d) => return d,
                        _ => tracing::debug!(sn = %dev.sn(), errcode = r.errcode, "ping answered with an error"),
                    },
                    Outcome::Timeout => tracing::debug!(sn = %dev.sn(), "ping unanswered"),
                    Outcome::Ok(_) | Outcome::Down => {}
                }
            }
        }
    }
}
