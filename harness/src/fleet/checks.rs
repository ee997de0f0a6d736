//! What the cloud owes a fleet that one device cannot see: an error code the fleet did not
//! earn, and a silent link the cloud never let go. Each check names the obligation of the
//! reference's §6.2 it judges; the always-on monitors of the profile judge the rest (C1, C2,
//! C3, C12) on every frame.
//!
//! These are readings of FAQ rules ([F]): against a real cloud they are reported as the
//! assumptions they are (the report lists them with their source).

use crate::profile::CloudTimings;
use std::time::Duration;

/// "The SN is live on another connection" (FAQ).
pub const REGISTERED_ELSEWHERE: i64 = 600002;
/// "Too many subscribe_corp from one IP in a minute", or the SN is live from another IP (FAQ).
pub const SUBSCRIBE_LIMITED: i64 = 600045;

/// Slack on the cloud's release of a silent link: its timer need not fire to the second.
pub const RELEASE_SLACK: Duration = Duration::from_secs(10);

/// The obligations these checks judge, with the text each one reads.
pub const CHECKS: &[(&str, &str)] = &[
    ("C8", "a link silent past the heartbeat expiry (FAQ: 1-2 min) is released by the cloud"),
    ("C10", "register answers 600002 only while another link of the SN is live"),
    ("C11", "subscribe_corp answers 600045 only past 5 a minute from one IP, or while the SN is live from another IP"),
];

/// What the fleet knew when it sent the request an error answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SentContext {
    /// Old links of the device the cloud still held open (after a storm).
    pub held_links: usize,
    /// `subscribe_corp` sent from the device's source address inside the window before
    /// (and including) this one.
    pub subscribes_from_address: usize,
}

/// The obligation an error reply breaks, with why; `None` when the fleet earned it (or the
/// code is not one these checks judge).
pub fn unearned(
    cmd: &str,
    errcode: i64,
    sent: SentContext,
    timings: &CloudTimings,
) -> Option<(&'static str, String)> {
    match (cmd, errcode) {
        ("register", REGISTERED_ELSEWHERE) if sent.held_links == 0 => Some((
            "C10",
            "register answered 600002 (live on another connection) while the device had no other link open".to_string(),
        )),
        ("subscribe_corp", SUBSCRIBE_LIMITED) if sent.held_links == 0 && sent.subscribes_from_address <= timings.subscribe_limit => Some((
            "C11",
            format!(
                "subscribe_corp answered 600045 though its address sent {} in {} s (limit {}) and the device had no other link open",
                sent.subscribes_from_address,
                timings.subscribe_window.as_secs(),
                timings.subscribe_limit
            ),
        )),
        _ => None,
    }
}

/// The C8 break of a silent link the cloud held for `held` after the device's last frame
/// (`released`: whether it was let go at all within the fleet's watch).
pub fn held_too_long(
    held: Duration,
    released: bool,
    timings: &CloudTimings,
) -> Option<(&'static str, String)> {
    let limit = timings.heartbeat_timeout + RELEASE_SLACK;
    (held > limit).then(|| {
        let what = if released {
            "released only after"
        } else {
            "still open after"
        };
        (
            "C8",
            format!(
                "a silent link was {what} {:.0} s (heartbeat expiry {} s)",
                held.as_secs_f64(),
                timings.heartbeat_timeout.as_secs()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const T: CloudTimings = CloudTimings::FAQ;

    fn ctx(held_links: usize, subscribes_from_address: usize) -> SentContext {
        SentContext {
            held_links,
            subscribes_from_address,
        }
    }

    #[rstest]
    #[case::c10_unearned("register", 600002, ctx(0, 0), Some("C10"))]
    #[case::c10_earned_by_a_held_link("register", 600002, ctx(1, 0), None)]
    #[case::c11_unearned("subscribe_corp", 600045, ctx(0, 5), Some("C11"))]
    #[case::c11_earned_by_the_rate("subscribe_corp", 600045, ctx(0, 6), None)]
    #[case::c11_earned_by_a_held_link("subscribe_corp", 600045, ctx(1, 1), None)]
    #[case::other_codes_are_not_judged("register", 600045, ctx(0, 0), None)]
    #[case::other_commands_are_not_judged("active", 600002, ctx(0, 0), None)]
    fn error_codes_the_fleet_did_not_earn(
        #[case] cmd: &str,
        #[case] code: i64,
        #[case] sent: SentContext,
        #[case] rule: Option<&str>,
    ) {
        assert_eq!(unearned(cmd, code, sent, &T).map(|(r, _)| r), rule);
    }

    #[test]
    fn a_silent_link_is_released_in_time() {
        let limit = T.heartbeat_timeout + RELEASE_SLACK;
        assert_eq!(held_too_long(limit, true, &T), None);
        assert_eq!(
            held_too_long(limit + Duration::from_secs(1), false, &T).map(|(r, _)| r),
            Some("C8")
        );
    }
}
