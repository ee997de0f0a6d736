//! The `fault` step: its execution (its file format is `scenario/steps/fault.rs`). The wire
//! applies the fault; the session arms it, with a filter that asks the profile which frames
//! are requests of a command or replies to one (the wire knows no protocol).

use super::prelude::*;
use crate::wire::fault::{Direction, FrameAction, FrameFault, FrameFilter};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

impl Session<'_> {
    pub(in crate::engine::session) async fn fault(&mut self, f: &Fault, at: &At) -> StepResult {
        let name = &f.conn;
        match &f.action {
            FaultAction::HalfOpen => {
                self.conn(name, at)?.half_open();
            }
            FaultAction::Reset => {
                self.conn(name, at)?.reset().await;
            }
            // The loader keeps these to observer scenarios, which `observe` runs.
            FaultAction::Link { .. } => {
                return Err(at.error("a fault on an observed link runs only in an observer scenario (`hwconform observe --scenario`)"));
            }
            FaultAction::Frames { direction, what, only, count } => {
                let (action, verb) = match what {
                    FrameFaultKind::Drop => (FrameAction::Drop, "drop".to_string()),
                    FrameFaultKind::Delay(d) => {
                        let d = self.resolve(d, at)?;
                        (FrameAction::Delay(d), format!("delay by {}", format_duration(d)))
                    }
                    FrameFaultKind::Duplicate => (FrameAction::Duplicate, "duplicate".to_string()),
                };
                let direction = match direction {
                    FaultDirection::Inbound => Direction::Inbound,
                    FaultDirection::Outbound => Direction::Outbound,
                };
                let label = match only {
                    None => "any frame".to_string(),
                    Some(FaultMatch::Cmd(c)) => format!("a frame of `{c}`"),
                    Some(FaultMatch::ReplyTo(c)) => format!("the reply to `{c}`"),
                };
                let filter = only.clone().map(|only| {
                    Arc::new(ProfileFilter { profile: self.profile.clone(), only, direction, req_ids: Mutex::default() }) as Arc<dyn FrameFilter>
                });
                self.conn(name, at)?.arm(FrameFault { direction, action, filter, count: *count, label: label.clone() });
                let frames = if *count == 1 { "frame".to_string() } else { format!("{count} frames") };
                self.note(format!("[{name}] the harness will {verb} the next {} {frames} ({label})", direction.as_str()));
            }
        }
        Ok(())
    }
}

/// Takes the frames a fault's `match` names, as the profile reads them.
struct ProfileFilter {
    profile: Arc<dyn Profile>,
    only: FaultMatch,
    /// The direction of the frames the fault takes (replies travel this way; their requests
    /// the other).
    direction: Direction,
    /// `reply_to`: the request ids of the named command seen going the other way.
    req_ids: Mutex<BTreeSet<String>>,
}

impl ProfileFilter {
    /// A frame as a request or push, if it is one.
    fn request(&self, msg: &Message) -> Option<Value> {
        match msg {
            Message::Text(t) => serde_json::from_str(t).ok(),
            Message::Binary(b) => self.profile.decode_binary_request(b),
            _ => None,
        }
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.req_ids.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl FrameFilter for ProfileFilter {
    fn observe(&self, direction: Direction, msg: &Message) {
        let FaultMatch::ReplyTo(cmd) = &self.only else { return };
        if direction == self.direction {
            return;
        }
        if let Some(v) = self.request(msg) {
            if self.profile.command(&v) == Some(cmd.as_str()) {
                if let Some(id) = self.profile.req_id(&v) {
                    self.ids().insert(id.to_string());
                }
            }
        }
    }

    fn matches(&self, msg: &Message) -> bool {
        match &self.only {
            FaultMatch::Cmd(cmd) => self.request(msg).is_some_and(|v| self.profile.command(&v) == Some(cmd.as_str())),
            FaultMatch::ReplyTo(_) => match msg {
                Message::Text(t) => serde_json::from_str::<Value>(t).is_ok_and(|v| self.ids().iter().any(|id| self.profile.is_reply_to(&v, id))),
                Message::Binary(b) => self.profile.decode_binary_reply(b).is_some_and(|r| self.ids().contains(&r.req_id)),
                _ => false,
            },
        }
    }
}
