//! SLOW lines: where stderr is not a terminal (a CI log) there is no status line, and a
//! scenario waiting on a real target for minutes would leave the log silent until CI's
//! no-output timeout kills the job. So, as nextest does, every scenario still running gets a
//! line each time it passes another multiple of a period (60 s by default): the run's `Slow`
//! events, written as `SLOW [60.0s] device.heartbeat.x at step 3 accept (line 14)`.

use super::sink::{ReportError, Reporter};
use crate::engine::event::{Event, RunEvent};
use std::io::Write;
use std::time::Duration;

/// How long a scenario runs between two of its SLOW lines, unless told otherwise.
pub const PERIOD: Duration = Duration::from_secs(60);

/// The line for a scenario still running after `after`, at `step` when one began.
pub fn line(id: &str, after: Duration, step: Option<&str>) -> String {
    let mut line = format!("SLOW [{:.1}s] {id}", after.as_secs_f64());
    if let Some(step) = step {
        line.push_str(&format!(" at {step}"));
    }
    line
}

/// Writes each `Slow` event of the stream to `out` (stderr in the CLI) as a SLOW line.
pub struct SlowLines<W: Write> {
    out: W,
}

impl<W: Write> SlowLines<W> {
    pub fn new(out: W) -> SlowLines<W> {
        SlowLines { out }
    }
}

impl<W: Write> Reporter for SlowLines<W> {
    fn on_event(&mut self, event: &Event) -> Result<(), ReportError> {
        match &event.kind {
            RunEvent::Slow {
                id, after, step, ..
            } => writeln!(self.out, "{}", line(id, *after, step.as_deref()))
                .and_then(|()| self.out.flush())
                .map_err(ReportError::Terminal),
            RunEvent::RunStarted { .. }
            | RunEvent::Notice { .. }
            | RunEvent::ScenarioStarted { .. }
            | RunEvent::Step { .. }
            | RunEvent::Finding { .. }
            | RunEvent::ScenarioFinished { .. }
            | RunEvent::Interrupted { .. }
            | RunEvent::RunFinished(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::event::RunClock;

    #[test]
    fn a_slow_event_is_one_line_and_nothing_else_writes() {
        let clock = RunClock::start();
        let mut out = Vec::new();
        let mut lines = SlowLines::new(&mut out);
        let event = |kind| Event {
            stamp: clock.now(),
            kind,
        };
        lines
            .on_event(&event(RunEvent::ScenarioStarted {
                index: 0,
                id: "a".into(),
                bound: PERIOD,
            }))
            .unwrap();
        for (after, step) in [(60, Some("step 2 expect (line 9)")), (120, None)] {
            lines
                .on_event(&event(RunEvent::Slow {
                    index: 0,
                    id: "a".into(),
                    after: Duration::from_secs(after),
                    step: step.map(Into::into),
                }))
                .unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "SLOW [60.0s] a at step 2 expect (line 9)\nSLOW [120.0s] a\n"
        );
    }
}
