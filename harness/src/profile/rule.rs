//! Rule objects: always-on monitors a profile hands the engine, the violations they report
//! (each naming the obligation it enforces, as a string) and the events they read.

use super::frame::Frame;
use std::time::Duration;

/// A broken rule: which obligation (the profile's id for it), and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub message: String,
}

/// What happened on the wire, as a monitor reads it (the engine's transcript, without the
/// harness's own bookkeeping).
#[derive(Clone, Copy, Debug)]
pub enum WireEvent<'a> {
    Opened { conn: &'a str },
    Closed { conn: &'a str },
    /// The harness let a link go without closing it (an IP change; a name reused by a new link).
    Abandoned { conn: &'a str },
    /// The harness sent a frame.
    Sent { conn: &'a str, frame: &'a Frame },
    /// The target sent a frame.
    Received { conn: &'a str, frame: &'a Frame },
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
        Violation {
            rule: self.rule,
            message: format!("the device opened another connection while its link stayed open ({:.1} s side by side)", side_by_side.as_secs_f64()),
        }
    }

    /// The device reconnected under `conn` while its old link stayed open past the grace.
    pub fn reopened(&self, conn: &str) -> Violation {
        Violation { rule: self.rule, message: format!("the device opened a new link while its old `{conn}` link stayed open") }
    }
}
