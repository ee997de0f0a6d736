//! Rule objects: always-on monitors a profile hands the engine, the violations they report
//! (each naming the obligation it enforces, as a string) and the events they read.

use super::frame::Frame;
use std::time::Duration;

/// A broken rule: which obligation (the profile's id for it), how binding the broken text
/// is, and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
}

/// How binding the broken text is. The reference says most statements are MUSTs, but a
/// deviation from a documented *example* (a field order, an absent `body`), a SHOULD or a MAY
/// allows other conformant choices: it is reported, and never fails a target.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Shown, listed apart, and leaves the verdict alone.
    Warning,
    /// Fails the rule.
    Fail,
}

/// How binding an obligation is, as its statement words it (RFC 2119): a MUST fails a target
/// that breaks it, a SHOULD at most warns, a MAY never counts against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    Must,
    Should,
    May,
}

/// A time window a scenario writes by name (`within: ${resend_latest}`): its value, and how
/// the protocol's rules produce it, so a failure can show the composition instead of a bare
/// number (a window read off one rule alone misses what another adds to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimingConstant {
    pub name: &'static str,
    pub value: std::time::Duration,
    /// The rules it is composed of, with their sources: "the longest request timeout (FAQ:
    /// 5–10 s) + the longest staggered retry (FAQ: 1–3 s) + 1 s tolerance".
    pub composition: &'static str,
}

impl Violation {
    /// A broken MUST: the rule fails.
    pub fn fail(rule: &'static str, message: impl Into<String>) -> Violation {
        Violation {
            rule,
            severity: Severity::Fail,
            message: message.into(),
        }
    }

    /// A deviation from an example, a SHOULD or a MAY: a warning on the rule.
    pub fn warning(rule: &'static str, message: impl Into<String>) -> Violation {
        Violation {
            rule,
            severity: Severity::Warning,
            message: message.into(),
        }
    }
}

/// What happened on the wire, as a monitor reads it (the engine's transcript, without the
/// harness's own bookkeeping).
#[derive(Clone, Copy, Debug)]
pub enum WireEvent<'a> {
    Opened {
        conn: &'a str,
        /// How long before this event the device opened the connection (it waited for the
        /// harness to take it).
        waited: Duration,
    },
    Closed {
        conn: &'a str,
    },
    /// The harness let a link go without closing it (an IP change; a name reused by a new link).
    Abandoned {
        conn: &'a str,
    },
    /// The harness sent a frame.
    Sent {
        conn: &'a str,
        frame: &'a Frame,
    },
    /// The target sent a frame.
    Received {
        conn: &'a str,
        frame: &'a Frame,
    },
}

/// An always-on monitor: rules checked on everything the target sends, whichever step runs.
pub trait RoleMonitor: Send {
    /// The obligation ids this monitor enforces.
    fn rules(&self) -> &'static [&'static str];
    /// One event, at `at` on the scenario clock.
    fn observe(&mut self, at: Duration, event: &WireEvent<'_>) -> Vec<Violation>;
    /// After the events of a sweep: rules about time passing (`now`), with the connections
    /// the session still holds (`open`) and whether the scenario is over (`end`).
    fn tick(&mut self, _now: Duration, _open: &[String], _end: bool) -> Vec<Violation> {
        Vec::new()
    }
    /// The rules the conversation so far gave this monitor a chance to judge. A watcher that
    /// cites what its monitors judged (`hwconform observe`) must not pass a rule about, say,
    /// re-sent requests when nothing was re-sent; a monitor whose rules apply to every frame
    /// keeps the default (all of them).
    fn exercised(&self) -> Vec<&'static str> {
        self.rules().to_vec()
    }
}

/// The rule of a device whose address changed while its link was live (the old link silent,
/// not closed, as a dead NAT leaves it): its login from the new address is refused with
/// `code` while the old link may still be live.
#[derive(Clone, Copy, Debug)]
pub struct AddressChangeRule {
    pub rule: &'static str,
    /// The request a device logs in with on a new link.
    pub command: &'static str,
    /// The answer it must get while its old link is live.
    pub code: i64,
    /// How long the cloud keeps an old link live at the least (its heartbeat expiry's
    /// earliest): after that the old link may be gone, and any answer conforms.
    pub live_for: Duration,
    /// The code a reply carries.
    pub code_of: fn(&serde_json::Value) -> Option<i64>,
}

impl AddressChangeRule {
    /// The cloud's answer `reply` to the device's `command` from a new source address, its
    /// old link open and silent for `since`: `None` when it proves nothing (the old link may
    /// have expired), else whether it conforms.
    pub fn judge(
        &self,
        reply: &serde_json::Value,
        since: Duration,
    ) -> Option<Result<(), Violation>> {
        if since >= self.live_for {
            return None;
        }
        match (self.code_of)(reply) {
            Some(c) if c == self.code => Some(Ok(())),
            got => Some(Err(Violation::fail(
                self.rule,
                format!(
                    "`{}` from a new source address, the device's old link open for {:.1} s, got errcode {} instead of {}",
                    self.command,
                    since.as_secs_f64(),
                    got.map_or_else(|| "none".to_string(), |c| c.to_string()),
                    self.code
                ),
            ))),
        }
    }
}

/// The rule that a device keeps one link: a new link while an old one stays open longer
/// than `grace` breaks `rule`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecondLinkRule {
    pub rule: &'static str,
    pub grace: Duration,
}

impl SecondLinkRule {
    /// A second connection has waited `side_by_side` while a link stayed open.
    pub fn waiting(&self, side_by_side: Duration) -> Violation {
        Violation::fail(self.rule, format!("the device opened another connection while its link stayed open ({:.1} s side by side)", side_by_side.as_secs_f64()))
    }

    /// The device reconnected under `conn` while its old link stayed open past the grace.
    pub fn reopened(&self, conn: &str) -> Violation {
        Violation::fail(
            self.rule,
            format!("the device opened a new link while its old `{conn}` link stayed open"),
        )
    }
}
