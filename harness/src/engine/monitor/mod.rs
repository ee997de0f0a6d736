//! The monitor host: feeds everything the transcript records to the profile's always-on
//! monitors, whichever step is running, and collects their violations. Reading the
//! transcript, the monitors also judge frames no step consumed. The rules themselves (and
//! the obligations they enforce) belong to the profile.

use super::transcript::{Transcript, TranscriptEntry, TranscriptEvent};
use crate::profile::{Profile, RoleMonitor, Violation, WireEvent};
use std::time::Duration;

/// The monitors of a session's target.
pub struct Monitor {
    monitors: Vec<Box<dyn RoleMonitor>>,
    /// Transcript entries already fed.
    seen: usize,
}

impl Monitor {
    pub fn new(monitors: Vec<Box<dyn RoleMonitor>>) -> Monitor {
        Monitor { monitors, seen: 0 }
    }

    /// The profile's monitors of a cloud target. `strict_codes`: error codes the profile does
    /// not define break its rules (the mock defines every code it uses; a real cloud may use
    /// undocumented ones).
    pub fn for_cloud(profile: &dyn Profile, strict_codes: bool) -> Monitor {
        Monitor::new(profile.cloud_monitors(strict_codes))
    }

    /// The profile's monitors of a device target.
    pub fn for_device(profile: &dyn Profile, seeded: Option<bool>) -> Monitor {
        Monitor::new(profile.device_monitors(seeded))
    }

    /// The obligation ids the monitors enforce.
    pub fn rules(&self) -> Vec<&'static str> {
        self.monitors
            .iter()
            .flat_map(|m| m.rules().iter().copied())
            .collect()
    }

    /// The obligation ids the monitors had a chance to judge so far.
    pub fn exercised(&self) -> Vec<&'static str> {
        self.monitors.iter().flat_map(|m| m.exercised()).collect()
    }

    /// Checks the entries added since the last sweep. `now` is the scenario time, `open` the
    /// connections the session still holds, `end` whether the scenario is over.
    pub fn sweep(
        &mut self,
        t: &Transcript,
        now: Duration,
        open: &[String],
        end: bool,
    ) -> Vec<Violation> {
        self.sweep_entries(&t.entries, now, open, end)
    }

    /// [`Monitor::sweep`] over a transcript's entries so far (a replay feeds them one by one).
    pub fn sweep_entries(
        &mut self,
        entries: &[TranscriptEntry],
        now: Duration,
        open: &[String],
        end: bool,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        for entry in &entries[self.seen.min(entries.len())..] {
            let Some(event) = wire_event(&entry.event) else {
                continue;
            };
            for m in &mut self.monitors {
                out.extend(m.observe(entry.at, &event));
            }
        }
        self.seen = entries.len();
        for m in &mut self.monitors {
            out.extend(m.tick(now, open, end));
        }
        out
    }
}

/// A transcript event as the monitors read it; the harness's own bookkeeping (steps, notes)
/// is none of theirs.
fn wire_event(e: &TranscriptEvent) -> Option<WireEvent<'_>> {
    Some(match e {
        TranscriptEvent::Opened { conn, waited, .. } => WireEvent::Opened {
            conn,
            // Read back from a run.json: a value no duration holds is no wait.
            waited: waited
                .and_then(|w| Duration::try_from_secs_f64(w.max(0.0)).ok())
                .unwrap_or(Duration::ZERO),
        },
        TranscriptEvent::Closed { conn, .. } => WireEvent::Closed { conn },
        TranscriptEvent::Abandoned { conn } => WireEvent::Abandoned { conn },
        TranscriptEvent::Sent { conn, frame } => WireEvent::Sent { conn, frame },
        TranscriptEvent::Received { conn, frame } => WireEvent::Received { conn, frame },
        TranscriptEvent::Step { .. }
        | TranscriptEvent::Note { .. }
        | TranscriptEvent::Output { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Frame;
    use std::sync::{Arc, Mutex};

    /// Records what it is fed and breaks a rule on every received frame.
    struct Probe(Arc<Mutex<Vec<String>>>);

    impl RoleMonitor for Probe {
        fn rules(&self) -> &'static [&'static str] {
            &["X1"]
        }
        fn observe(&mut self, at: Duration, e: &WireEvent<'_>) -> Vec<Violation> {
            self.0
                .lock()
                .unwrap()
                .push(format!("{}:{e:?}", at.as_secs()));
            match e {
                WireEvent::Received { .. } => vec![Violation::fail("X1", "received")],
                _ => Vec::new(),
            }
        }
        fn tick(&mut self, now: Duration, open: &[String], end: bool) -> Vec<Violation> {
            self.0
                .lock()
                .unwrap()
                .push(format!("tick {} {open:?} {end}", now.as_secs()));
            Vec::new()
        }
    }

    #[test]
    fn feeds_each_wire_event_once_then_ticks() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut m = Monitor::new(vec![Box::new(Probe(log.clone()))]);
        assert_eq!(m.rules(), ["X1"]);
        let mut t = Transcript::default();
        let frame = Frame::Json {
            json: serde_json::json!({}).into(),
        };
        t.push(
            Duration::from_secs(1),
            TranscriptEvent::Opened {
                waited: None,
                conn: "a".into(),
                local: "x".into(),
            },
        );
        t.push(
            Duration::from_secs(2),
            TranscriptEvent::Step {
                index: "1".into(),
                kind: "k".into(),
                line: 1,
            },
        );
        t.push(
            Duration::from_secs(3),
            TranscriptEvent::Received {
                conn: "a".into(),
                frame: frame.clone(),
            },
        );
        let v = m.sweep(&t, Duration::from_secs(4), &["a".into()], false);
        assert_eq!(v.len(), 1);
        t.push(
            Duration::from_secs(5),
            TranscriptEvent::Sent {
                conn: "a".into(),
                frame,
            },
        );
        assert!(m.sweep(&t, Duration::from_secs(6), &[], true).is_empty());
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 5, "{log:?}");
        assert!(log[0].starts_with("1:Opened"), "{log:?}");
        assert!(log[1].starts_with("3:Received"), "{log:?}");
        assert_eq!(log[2], "tick 4 [\"a\"] false");
        assert!(log[3].starts_with("5:Sent"), "{log:?}");
        assert_eq!(log[4], "tick 6 [] true");
    }
}
