//! The run's one event stream: what happened, and when. The runner emits it in the order
//! things happen; every reporter and the live status are fed from it alone, so each sees the
//! same run at the same times. Every reporter handles every variant by name.

use super::verdict::{Finding, RunSummary, ScenarioResult};
use crate::ics::IcsSummary;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// When an event happened. `at` is on the monotonic clock from the run's start (what orders
/// and measures events: never goes back); `wall` is that moment on the wall clock, for a
/// report that shows the time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub at: Duration,
    pub wall: SystemTime,
}

/// The run's clock: reads a [`Stamp`] for now. Cheap to copy to every worker.
#[derive(Clone, Copy, Debug)]
pub struct RunClock {
    start: Instant,
    wall: SystemTime,
}

impl RunClock {
    pub fn start() -> RunClock {
        RunClock {
            start: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// Now. The wall time follows the monotonic offset, so a wall-clock step (NTP) during
    /// the run never puts two events out of order.
    pub fn now(&self) -> Stamp {
        let at = self.start.elapsed();
        Stamp {
            at,
            wall: self.wall + at,
        }
    }

    /// The stamp of `instant` (the run's start if it came before).
    pub fn stamp_at(&self, instant: Instant) -> Stamp {
        let at = instant.saturating_duration_since(self.start);
        Stamp {
            at,
            wall: self.wall + at,
        }
    }

    /// The instant `stamp` was read at.
    pub fn instant(&self, stamp: &Stamp) -> Instant {
        self.start + stamp.at
    }
}

/// One event of the stream.
#[derive(Clone, Debug)]
pub struct Event {
    pub stamp: Stamp,
    pub kind: RunEvent,
}

#[derive(Clone, Debug)]
pub enum RunEvent {
    /// The run begins: how many scenarios, against what, and what the device under test
    /// says it implements (when the run has a device target and a statement for it).
    RunStarted {
        scenarios: usize,
        target: String,
        ics: Option<IcsSummary>,
    },
    /// Something the person running the harness needs before the scenarios can proceed
    /// (where to point a device that is to connect), right after `RunStarted`. An observer's
    /// stream says here, once, that a link's transcript is full and no longer judged.
    Notice {
        text: String,
    },
    /// A worker took scenario `index` (its place in the run's list) and starts it now. A
    /// scenario the run never started has no `ScenarioStarted`, only its `ScenarioFinished`.
    ScenarioStarted {
        index: usize,
        id: String,
        bound: Duration,
    },
    /// The scenario began step `step` (`3`, `5.2` in a repeat), a `kind` step at `line`.
    Step {
        index: usize,
        step: String,
        kind: &'static str,
        line: u32,
    },
    /// A broken rule (or a warning) the scenario's session saw, when it saw it: once each,
    /// between the scenario's start and its end. An observer's stream has these (and notices): `index`
    /// is the device connection's number and `id` names the party judged on it.
    Finding {
        index: usize,
        id: String,
        finding: Finding,
    },
    /// The scenario has run for `after` (another multiple of the run's slow period) and is
    /// still running, at `step` when one began.
    Slow {
        index: usize,
        id: String,
        after: Duration,
        step: Option<String>,
    },
    /// The scenario `index` of the run has its verdict.
    ScenarioFinished {
        index: usize,
        result: Arc<ScenarioResult>,
    },
    /// The run was asked to stop (`why`: the signal); once, before the scenarios it cut.
    Interrupted {
        why: String,
    },
    RunFinished(RunSummary),
}
