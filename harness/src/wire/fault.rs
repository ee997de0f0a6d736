//! Faults the harness applies to its own side of one connection: dropping, delaying or
//! duplicating the next frames in one direction, going half-open, resetting. They live in the
//! wire so they work against every target — a real cloud or device has no control plane to
//! ask for a lost reply, but the harness can always lose it itself.
//!
//! Which frames a fault takes is a [`FrameFilter`] the caller supplies: the wire knows no
//! protocol, so "the reply to a request of some command" is the caller's to recognise.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Which way a frame travels, seen from the harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the target to the harness.
    Inbound,
    /// From the harness to the target.
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// What a frame fault does to a frame it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameAction {
    /// The frame is discarded: an outbound one never reaches the socket, an inbound one is
    /// recorded as received (it did arrive) but never handed to the steps.
    Drop,
    /// The frame is held this long; frames behind it wait too (order is kept, as on a slow link).
    Delay(Duration),
    /// The frame is sent (outbound) or handed to the steps (inbound) twice.
    Duplicate,
}

/// Picks the frames a fault applies to.
pub trait FrameFilter: Send + Sync {
    /// Sees every text or binary frame on the connection, both ways, before faults apply
    /// (so a filter can learn, say, the ids of requests whose replies it is to take).
    fn observe(&self, _direction: Direction, _msg: &Message) {}
    /// Whether the fault takes this frame.
    fn matches(&self, msg: &Message) -> bool;
}

/// One armed frame fault.
#[derive(Clone)]
pub struct FrameFault {
    pub direction: Direction,
    pub action: FrameAction,
    /// `None`: any text or binary frame.
    pub filter: Option<Arc<dyn FrameFilter>>,
    /// How many frames it takes before it is spent.
    pub count: u32,
    /// What the filter takes, for the transcript ("the reply to `x`").
    pub label: String,
}

/// What a fault did to one frame, for the transcript.
pub(super) struct Applied {
    pub action: FrameAction,
    pub label: String,
    /// How many more frames the fault takes.
    pub left: u32,
}

impl Applied {
    /// "dropped the inbound frame (the reply to `x`)": the transcript note's text.
    pub(super) fn describe(&self, direction: Direction) -> String {
        let what = format!("{} frame ({})", direction.as_str(), self.label);
        let done = match self.action {
            FrameAction::Drop if direction == Direction::Inbound => {
                format!("dropped the {what}: the steps never see it")
            }
            FrameAction::Drop => format!("dropped the {what}: it never reached the socket"),
            FrameAction::Delay(d) => format!("holding the {what} for {}ms", d.as_millis()),
            FrameAction::Duplicate => format!("duplicated the {what}"),
        };
        format!("harness fault: {done} ({} more to take)", self.left)
    }
}

/// The armed faults of one connection.
#[derive(Default)]
pub(super) struct Faults {
    armed: Vec<FrameFault>,
}

impl Faults {
    pub(super) fn arm(&mut self, fault: FrameFault) {
        if fault.count > 0 {
            self.armed.push(fault);
        }
    }

    /// Shows the frame to every armed filter, then lets the first armed fault of its direction
    /// that takes it spend one of its count. Control frames are never taken.
    pub(super) fn apply(&mut self, direction: Direction, msg: &Message) -> Option<Applied> {
        if !(msg.is_text() || msg.is_binary()) {
            return None;
        }
        for f in &self.armed {
            if let Some(filter) = &f.filter {
                filter.observe(direction, msg);
            }
        }
        let i = self.armed.iter().position(|f| {
            f.direction == direction && f.filter.as_ref().is_none_or(|m| m.matches(msg))
        })?;
        let f = &mut self.armed[i];
        f.count -= 1;
        let applied = Applied {
            action: f.action,
            label: f.label.clone(),
            left: f.count,
        };
        if f.count == 0 {
            self.armed.remove(i);
        }
        Some(applied)
    }
}

/// The armed faults, shared by a connection's writer and its reader task.
#[derive(Clone, Default)]
pub(super) struct FaultState(Arc<Mutex<Faults>>);

impl FaultState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn arm(&self, fault: FrameFault) {
        self.lock().arm(fault);
    }

    pub(super) fn apply(&self, direction: Direction, msg: &Message) -> Option<Applied> {
        self.lock().apply(direction, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes text frames containing `needle`, and records what it observed.
    struct Contains(&'static str, Mutex<Vec<Direction>>);
    impl FrameFilter for Contains {
        fn observe(&self, d: Direction, _: &Message) {
            self.1.lock().unwrap().push(d);
        }
        fn matches(&self, msg: &Message) -> bool {
            msg.to_text().is_ok_and(|t| t.contains(self.0))
        }
    }

    fn fault(direction: Direction, count: u32, filter: Option<Arc<dyn FrameFilter>>) -> FrameFault {
        FrameFault {
            direction,
            action: FrameAction::Drop,
            filter,
            count,
            label: "x".into(),
        }
    }

    #[test]
    fn a_fault_takes_its_count_of_matching_frames_in_its_direction_then_is_spent() {
        let filter = Arc::new(Contains("reg", Mutex::new(Vec::new())));
        let mut faults = Faults::default();
        faults.arm(fault(Direction::Inbound, 2, Some(filter.clone())));
        assert!(
            faults
                .apply(Direction::Outbound, &Message::text("reg"))
                .is_none(),
            "the other direction"
        );
        assert!(
            faults
                .apply(Direction::Inbound, &Message::text("ping"))
                .is_none(),
            "not matching"
        );
        assert!(
            faults
                .apply(Direction::Inbound, &Message::Ping(Vec::new().into()))
                .is_none(),
            "control frames"
        );
        assert_eq!(
            faults
                .apply(Direction::Inbound, &Message::text("reg"))
                .map(|a| a.left),
            Some(1)
        );
        assert_eq!(
            faults
                .apply(Direction::Inbound, &Message::text("reg"))
                .map(|a| a.left),
            Some(0)
        );
        assert!(
            faults
                .apply(Direction::Inbound, &Message::text("reg"))
                .is_none(),
            "spent"
        );
        assert_eq!(
            filter.1.lock().unwrap().len(),
            4,
            "the filter saw every data frame while armed"
        );
    }

    #[test]
    fn the_first_armed_fault_wins_and_zero_counts_are_not_armed() {
        let mut faults = Faults::default();
        faults.arm(fault(Direction::Outbound, 0, None));
        assert!(faults
            .apply(Direction::Outbound, &Message::text("a"))
            .is_none());
        faults.arm(FrameFault {
            action: FrameAction::Duplicate,
            ..fault(Direction::Outbound, 1, None)
        });
        faults.arm(fault(Direction::Outbound, 1, None));
        assert_eq!(
            faults
                .apply(Direction::Outbound, &Message::text("a"))
                .map(|a| a.action),
            Some(FrameAction::Duplicate)
        );
        assert_eq!(
            faults
                .apply(Direction::Outbound, &Message::text("a"))
                .map(|a| a.action),
            Some(FrameAction::Drop)
        );
    }
}
