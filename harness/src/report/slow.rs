//! SLOW lines: where stderr is not a terminal (a CI log) there is no status line, and a
//! scenario waiting on a real target for minutes would leave the log silent until CI's
//! no-output timeout kills the job. So, as nextest does, every scenario still running gets a
//! line each time it passes another multiple of a period (60 s by default):
//! `SLOW [60.0s] device.heartbeat.x at step 3 accept (line 14)`.

use crate::engine::live::{LiveBoard, Snapshot};
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long a scenario runs between two of its SLOW lines, unless told otherwise.
pub const PERIOD: Duration = Duration::from_secs(60);

/// The SLOW lines due at `s`: one for each running scenario that passed a multiple of
/// `period` it has no line for yet. `reported` keeps, by scenario id, the multiples already
/// said; a scenario gone from the board is forgotten.
pub fn due(s: &Snapshot, period: Duration, reported: &mut BTreeMap<String, u128>) -> Vec<String> {
    let period_ns = period.as_nanos().max(1);
    reported.retain(|id, _| s.running.iter().any(|r| &r.id == id));
    let mut lines = Vec::new();
    for r in &s.running {
        let passed = r.elapsed.as_nanos() / period_ns;
        let said = reported.entry(r.id.clone()).or_default();
        if passed > *said {
            *said = passed;
            let at = period.as_secs_f64() * passed as f64;
            let mut line = format!("SLOW [{at:.1}s] {}", r.id);
            if let Some(step) = &r.step {
                line.push_str(&format!(" at {step}"));
            }
            lines.push(line);
        }
    }
    lines
}

/// The thread writing SLOW lines to stderr until [`SlowLines::finish`].
pub struct SlowLines {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SlowLines {
    /// Watches `board`, looking a few times per period (at least once a second).
    pub fn start(board: Arc<LiveBoard>, period: Duration) -> SlowLines {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let poll = (period / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let theirs = stop.clone();
        let thread = std::thread::Builder::new()
            .name("slow-lines".into())
            .spawn(move || {
                let mut reported = BTreeMap::new();
                let (lock, wake) = &*theirs;
                let mut stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
                while !*stopped {
                    for line in due(&board.snapshot(), period, &mut reported) {
                        eprintln!("{line}");
                    }
                    stopped = wake
                        .wait_timeout(stopped, poll)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            })
            .ok();
        SlowLines { stop, thread }
    }

    /// Stops the thread; no line is written after this returns.
    pub fn finish(mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::live::RunningScenario;

    fn running(id: &str, secs: f64, step: Option<&str>) -> RunningScenario {
        RunningScenario {
            id: id.into(),
            elapsed: Duration::from_secs_f64(secs),
            step: step.map(Into::into),
        }
    }

    fn board(running: Vec<RunningScenario>) -> Snapshot {
        Snapshot {
            running,
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_line_per_scenario_per_period_passed() {
        let mut said = BTreeMap::new();
        let p = Duration::from_secs(60);
        assert!(due(&board(vec![running("a", 59.9, None)]), p, &mut said).is_empty());
        assert_eq!(
            due(
                &board(vec![
                    running("a", 60.2, Some("step 2 expect (line 9)")),
                    running("b", 12.0, None)
                ]),
                p,
                &mut said
            ),
            ["SLOW [60.0s] a at step 2 expect (line 9)"]
        );
        assert!(
            due(&board(vec![running("a", 119.0, None)]), p, &mut said).is_empty(),
            "once per period"
        );
        assert_eq!(
            due(
                &board(vec![running("a", 121.0, None), running("b", 61.0, None)]),
                p,
                &mut said
            ),
            ["SLOW [120.0s] a", "SLOW [60.0s] b"]
        );
        // A scenario that ended and a new one of the same id starts afresh.
        assert!(due(&board(vec![]), p, &mut said).is_empty());
        assert_eq!(
            due(&board(vec![running("a", 60.0, None)]), p, &mut said),
            ["SLOW [60.0s] a"]
        );
    }
}
