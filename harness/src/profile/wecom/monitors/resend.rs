//! C9 as an always-on rule of a cloud: a `register` re-sent on a link that already got
//! somewhere is answered by how far the link got (600012 registered, 600053 activated,
//! 600054 subscribed), whoever re-sent it — a scenario's step, or a real device whose reply
//! was lost on the way (`hwconform observe --fault drop:to-device:reply=register`).
//!
//! Only `register` is judged: the codes for a re-sent `active` / `subscribe_corp` are the
//! mock's assumption ([UNDOC] in C9), not a rule.
//!
//! What the protocol allows a re-sent `register`: the code of the link's phase (or of one it
//! reached while the re-send was on its way). What breaks C9: a success (the register taken
//! as new), or a code that says the link got elsewhere than it did: another phase's
//! progress code, or "not registered / not activated / not logged in" (600014 / 600016 /
//! 600020) on a link that registered. Any other error is a refusal C9 does not speak of: a
//! stale timestamp or bad signature in the re-sent frame (C4, with a code the reference does
//! not give), a system error with its advice (C12), 600002 or 600045 (C10, C11): the
//! re-send is then not judged.

use crate::profile::json::field;
use crate::profile::wecom::catalog::codes;
use crate::profile::wecom::envelope::header_req_id;
use crate::profile::{Frame, RoleMonitor, Violation, WireEvent};
use serde_json::Value;
use std::time::Duration;

/// How far a link got, in C9's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Opened,
    Registered,
    Activated,
    Subscribed,
}

impl Phase {
    fn after(cmd: &str) -> Option<Phase> {
        match cmd {
            "register" => Some(Phase::Registered),
            "active" => Some(Phase::Activated),
            "subscribe_corp" => Some(Phase::Subscribed),
            _ => None,
        }
    }

    /// The code a re-sent `register` gets on a link this far (none before it registered).
    fn resend_code(self) -> Option<(i64, &'static str)> {
        match self {
            Phase::Opened => None,
            Phase::Registered => Some((codes::KEEP_ALIVE_REGISTERED, "registered")),
            Phase::Activated => Some((codes::ACTIVED, "activated")),
            Phase::Subscribed => Some((codes::HAS_SUBSCRIBED, "subscribed")),
        }
    }
}

/// The documented codes that contradict a link that registered: C9's own progress codes (for
/// another phase) and the "not yet" codes of C14.
const CONTRADICTING: [i64; 6] = [
    codes::KEEP_ALIVE_REGISTERED,
    codes::ACTIVED,
    codes::HAS_SUBSCRIBED,
    codes::NOT_REGISTERED,
    codes::NOT_ACTIVE,
    codes::NOT_LOGIN,
];

/// A request on its way to the cloud whose reply this rule reads.
enum Pending {
    /// A lifecycle request: a success moves the link on.
    Step(Phase),
    /// A re-sent `register`, sent when the link was this far: its reply carries the code of
    /// that phase or of one the link reached before the cloud answered (a cloud answers in
    /// order, so an `active` on its way when the register was re-sent may count).
    Resent { from: Phase },
}

struct Link {
    conn: String,
    phase: Phase,
    /// By req_id; a link has a handful of lifecycle requests, bounded by [`MAX_PENDING`].
    pending: Vec<(String, Pending)>,
}

/// Lifecycle requests remembered per link: a device that floods `register` cannot grow it.
const MAX_PENDING: usize = 64;

/// Reads re-sent `register`s and their replies (C9).
#[derive(Default)]
pub struct ResendMonitor {
    links: Vec<Link>,
    /// A re-sent `register` was answered: C9 was judged.
    judged: bool,
}

impl ResendMonitor {
    fn link(&mut self, conn: &str) -> &mut Link {
        match self.links.iter().position(|l| l.conn == conn) {
            Some(i) => &mut self.links[i],
            None => {
                self.links.push(Link {
                    conn: conn.to_string(),
                    phase: Phase::Opened,
                    pending: Vec::new(),
                });
                self.links.last_mut().expect("just pushed")
            }
        }
    }
}

impl RoleMonitor for ResendMonitor {
    fn rules(&self) -> &'static [&'static str] {
        &["C9"]
    }

    fn exercised(&self) -> Vec<&'static str> {
        if self.judged {
            vec!["C9"]
        } else {
            Vec::new()
        }
    }

    fn observe(&mut self, _at: Duration, event: &WireEvent<'_>) -> Vec<Violation> {
        match *event {
            WireEvent::Opened { conn, .. }
            | WireEvent::Closed { conn }
            | WireEvent::Abandoned { conn } => {
                self.links.retain(|l| l.conn != conn);
            }
            WireEvent::Sent {
                conn,
                frame: Frame::Json { json },
            } => {
                let (Some(cmd), Some(id)) = (
                    field(json, "cmd").and_then(Value::as_str),
                    header_req_id(json).and_then(Value::as_str),
                ) else {
                    return Vec::new();
                };
                let Some(next) = Phase::after(cmd) else {
                    return Vec::new();
                };
                let link = self.link(conn);
                let pending = match (cmd, link.phase.resend_code()) {
                    ("register", Some(_)) => Pending::Resent { from: link.phase },
                    _ => Pending::Step(next),
                };
                link.pending.retain(|(i, _)| i != id);
                if link.pending.len() >= MAX_PENDING {
                    link.pending.remove(0);
                }
                link.pending.push((id.to_string(), pending));
            }
            WireEvent::Received {
                conn,
                frame: Frame::Json { json },
            } => {
                if field(json, "cmd").is_some() {
                    return Vec::new();
                }
                let Some(id) = header_req_id(json).and_then(Value::as_str) else {
                    return Vec::new();
                };
                let Some(link) = self.links.iter_mut().find(|l| l.conn == conn) else {
                    return Vec::new();
                };
                let Some(i) = link.pending.iter().position(|(p, _)| p == id) else {
                    return Vec::new();
                };
                let (_, pending) = link.pending.remove(i);
                let errcode = json.get("errcode").and_then(Value::as_i64);
                match pending {
                    Pending::Step(phase) => {
                        if errcode == Some(0) {
                            link.phase = link.phase.max(phase);
                        }
                    }
                    Pending::Resent { from } => {
                        let answered_as_new = errcode == Some(0);
                        let contradicting = errcode.is_some_and(|c| CONTRADICTING.contains(&c));
                        if errcode.is_some() && !answered_as_new && !contradicting {
                            // A refusal for a reason C9 does not speak of: not judged.
                            return Vec::new();
                        }
                        self.judged = true;
                        let allowed: Vec<(i64, &str)> =
                            [Phase::Registered, Phase::Activated, Phase::Subscribed]
                                .into_iter()
                                .filter(|p| (from..=from.max(link.phase)).contains(p))
                                .filter_map(Phase::resend_code)
                                .collect();
                        if !allowed.iter().any(|(code, _)| errcode == Some(*code)) {
                            let got = errcode.map_or("no errcode".to_string(), |c| c.to_string());
                            let want: Vec<String> = allowed
                                .iter()
                                .map(|(code, phase)| format!("{code} ({phase})"))
                                .collect();
                            let (_, phase) = allowed[0];
                            return vec![Violation::fail(
                                "C9",
                                format!("[{conn}] a re-sent register (req_id {id}) on a link that had {phase} was answered {got}, not {}", want.join(" or ")),
                            )];
                        }
                    }
                }
            }
            _ => {}
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frame(v: Value) -> Frame {
        Frame::Json { json: v.into() }
    }

    fn request(m: &mut ResendMonitor, cmd: &str, id: &str) -> Vec<Violation> {
        let f = frame(json!({"cmd": cmd, "headers": {"req_id": id}, "body": {}}));
        m.observe(
            Duration::ZERO,
            &WireEvent::Sent {
                conn: "a",
                frame: &f,
            },
        )
    }

    fn reply(m: &mut ResendMonitor, id: &str, errcode: i64) -> Vec<Violation> {
        let f = frame(json!({"headers": {"req_id": id}, "errcode": errcode, "errmsg": "x"}));
        m.observe(
            Duration::ZERO,
            &WireEvent::Received {
                conn: "a",
                frame: &f,
            },
        )
    }

    /// The code a re-sent register gets after the link went `steps` far, and what the rule says.
    #[rstest::rstest]
    #[case::registered(&["register"], 600012, true)]
    #[case::activated(&["register", "active"], 600053, true)]
    #[case::subscribed(&["register", "active", "subscribe_corp"], 600054, true)]
    #[case::subscribed_without_active(&["register", "subscribe_corp"], 600054, true)]
    #[case::answered_as_new(&["register"], 0, false)]
    #[case::wrong_phase(&["register", "active"], 600012, false)]
    #[case::not_registered(&["register"], 600014, false)]
    #[case::not_logged_in(&["register", "active"], 600020, false)]
    fn a_resent_register_is_answered_by_the_phase(
        #[case] steps: &[&str],
        #[case] answer: i64,
        #[case] holds: bool,
    ) {
        let mut m = ResendMonitor::default();
        for (i, cmd) in steps.iter().enumerate() {
            assert!(request(&mut m, cmd, &format!("r{i}")).is_empty());
            assert!(reply(&mut m, &format!("r{i}"), 0).is_empty());
        }
        assert!(m.exercised().is_empty(), "nothing re-sent yet");
        assert!(request(&mut m, "register", "again").is_empty());
        let v = reply(&mut m, "again", answer);
        assert_eq!(v.is_empty(), holds, "{v:?}");
        assert_eq!(m.exercised(), ["C9"]);
    }

    /// The race a real device makes: `active` on its way when the register is re-sent. The
    /// cloud answers in order, so 600053 (activated) is right; 600012 (the phase at sending)
    /// too. Anything else still breaks C9.
    #[rstest::rstest]
    #[case::activated_meanwhile(600053, true)]
    #[case::as_sent(600012, true)]
    #[case::answered_as_new(0, false)]
    fn a_register_resent_while_active_was_on_its_way(#[case] answer: i64, #[case] holds: bool) {
        let mut m = ResendMonitor::default();
        request(&mut m, "register", "r");
        reply(&mut m, "r", 0);
        request(&mut m, "active", "a");
        request(&mut m, "register", "again");
        assert!(reply(&mut m, "a", 0).is_empty());
        let v = reply(&mut m, "again", answer);
        assert_eq!(v.is_empty(), holds, "{v:?}");
    }

    /// A re-sent register refused for a reason C9 does not speak of (a stale timestamp or bad
    /// signature with the cloud's own code, a system error, 600002, 600045) is not judged:
    /// it neither fails C9 nor counts as C9 judged.
    #[rstest::rstest]
    #[case::own_code_for_a_stale_timestamp(600031)]
    #[case::system_error(-1)]
    #[case::sn_elsewhere(600002)]
    #[case::rate_limited(600045)]
    fn a_resent_register_refused_for_another_reason_is_not_judged(#[case] answer: i64) {
        let mut m = ResendMonitor::default();
        request(&mut m, "register", "r");
        reply(&mut m, "r", 0);
        request(&mut m, "register", "again");
        assert!(reply(&mut m, "again", answer).is_empty());
        assert!(m.exercised().is_empty());
    }

    #[test]
    fn a_register_after_a_failed_one_or_on_a_new_link_is_not_a_resend() {
        let mut m = ResendMonitor::default();
        request(&mut m, "register", "1");
        reply(&mut m, "1", 600901);
        request(&mut m, "register", "2");
        assert!(reply(&mut m, "2", 0).is_empty());
        m.observe(Duration::ZERO, &WireEvent::Closed { conn: "a" });
        request(&mut m, "register", "3");
        assert!(reply(&mut m, "3", 0).is_empty());
        assert!(m.exercised().is_empty());
    }
}
