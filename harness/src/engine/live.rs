//! The live board: what a run is doing right now — which scenarios run, since when, at which
//! step — for a status line while a scenario waits on a real target. It is fed from the run's
//! event stream alone ([`LiveBoard::on_event`]); a viewer (the CLI's status line) reads
//! snapshots of it at its own pace, so a slow terminal never slows a scenario.

use super::event::{Event, RunClock, RunEvent, Stamp};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The board a run writes; shared with a viewer through [`RunConfig::live`](super::RunConfig).
#[derive(Debug, Default)]
pub struct LiveBoard {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The run's clock, which the events' stamps are read on (none before the run begins).
    clock: Option<RunClock>,
    total: usize,
    jobs: usize,
    /// The largest bound of any scenario of the run: what one still waiting may take.
    bound: Duration,
    finished: usize,
    finished_wall: Duration,
    running: BTreeMap<usize, Running>,
}

#[derive(Clone, Debug)]
struct Running {
    id: String,
    since: Instant,
    /// Its own bound (a scenario may set its deadline).
    bound: Duration,
    step: Option<StepAt>,
}

/// Where a scenario is: kept as its parts and written out only when a viewer takes a
/// snapshot, since every step of every scenario updates it and few are ever looked at.
#[derive(Clone, Debug)]
struct StepAt {
    index: String,
    kind: &'static str,
    line: u32,
}

impl StepAt {
    fn text(&self) -> String {
        format!("step {} {} (line {})", self.index, self.kind, self.line)
    }
}

/// A session's place in the run's event stream: where it says which step it is in.
#[derive(Clone, Debug)]
pub struct LiveSlot {
    pub(crate) events: std::sync::mpsc::SyncSender<Event>,
    pub(crate) clock: RunClock,
    pub(crate) index: usize,
    /// The scenario's id.
    pub(crate) id: std::sync::Arc<str>,
}

impl LiveSlot {
    /// The session saw `finding` (a broken rule, or a warning) as it happened.
    pub(crate) fn finding(&self, finding: &crate::engine::verdict::Finding) {
        let _ = self.events.send(Event {
            stamp: self.clock.now(),
            kind: RunEvent::Finding {
                index: self.index,
                id: self.id.to_string(),
                finding: finding.clone(),
            },
        });
    }

    /// The session began step `step` (a `kind` step at `line` of its file).
    pub(crate) fn step(&self, step: &str, kind: &'static str, line: u32) {
        // The run has ended its stream only once every scenario is done: nothing is lost.
        let _ = self.events.send(Event {
            stamp: self.clock.now(),
            kind: RunEvent::Step {
                index: self.index,
                step: step.to_string(),
                kind,
                line,
            },
        });
    }
}

/// One running scenario, as a viewer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningScenario {
    /// Its place in the run's list.
    pub index: usize,
    pub id: String,
    pub elapsed: Duration,
    /// `step 3 accept (line 12)`: the step it is in, once one began.
    pub step: Option<String>,
}

/// The board at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub total: usize,
    pub finished: usize,
    pub jobs: usize,
    /// Running scenarios, longest-running first.
    pub running: Vec<RunningScenario>,
    /// What is left at most, from the scenarios' bounds.
    pub eta_bound: Duration,
    /// What is left at the pace of the scenarios finished so far (none before the first).
    pub eta_pace: Option<Duration>,
}

impl LiveBoard {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Follows the event stream: what it does to the board.
    pub fn on_event(&self, event: &Event) {
        match &event.kind {
            RunEvent::ScenarioStarted { index, id, bound } => {
                self.started(*index, id, *bound, &event.stamp)
            }
            RunEvent::Step {
                index,
                step,
                kind,
                line,
            } => self.step(*index, step, kind, *line),
            RunEvent::ScenarioFinished { index, .. } => self.finished(*index, &event.stamp),
            RunEvent::RunStarted { .. }
            | RunEvent::Notice { .. }
            | RunEvent::Finding { .. }
            | RunEvent::Slow { .. }
            | RunEvent::Interrupted { .. }
            | RunEvent::RunFinished(_) => {}
        }
    }

    pub(crate) fn begin(&self, clock: RunClock, total: usize, jobs: usize, bound: Duration) {
        self.with(|s| {
            *s = State {
                clock: Some(clock),
                total,
                jobs: jobs.max(1),
                bound,
                ..State::default()
            }
        });
    }

    fn started(&self, index: usize, id: &str, bound: Duration, at: &Stamp) {
        self.with(|s| {
            let since = s.clock.map_or_else(Instant::now, |c| c.instant(at));
            s.running.insert(
                index,
                Running {
                    id: id.to_string(),
                    since,
                    bound,
                    step: None,
                },
            )
        });
    }

    fn step(&self, scenario: usize, index: &str, kind: &'static str, line: u32) {
        self.with(|s| {
            if let Some(r) = s.running.get_mut(&scenario) {
                match &mut r.step {
                    // The last step's index buffer is reused: no allocation per step.
                    Some(at) => {
                        at.index.clear();
                        at.index.push_str(index);
                        (at.kind, at.line) = (kind, line);
                    }
                    None => {
                        r.step = Some(StepAt {
                            index: index.to_string(),
                            kind,
                            line,
                        })
                    }
                }
            }
        });
    }

    fn finished(&self, index: usize, at: &Stamp) {
        self.with(|s| {
            if let Some(r) = s.running.remove(&index) {
                let end = s.clock.map_or_else(Instant::now, |c| c.instant(at));
                s.finished_wall += end.saturating_duration_since(r.since);
            }
            s.finished += 1;
        });
    }

    pub fn snapshot(&self) -> Snapshot {
        self.with(|s| {
            let mut running: Vec<RunningScenario> = s
                .running
                .iter()
                .map(|(index, r)| RunningScenario {
                    index: *index,
                    id: r.id.clone(),
                    elapsed: r.since.elapsed(),
                    step: r.step.as_ref().map(StepAt::text),
                })
                .collect();
            running.sort_by(|a, b| b.elapsed.cmp(&a.elapsed).then_with(|| a.id.cmp(&b.id)));
            let waiting = s.total.saturating_sub(s.finished + running.len());
            let jobs = s.jobs.max(1) as u32;
            // The running finish within their bounds; those waiting follow in rounds of `jobs`.
            let left_of_running: Duration = s
                .running
                .values()
                .map(|r| r.bound.saturating_sub(r.since.elapsed()))
                .max()
                .unwrap_or_default();
            let rounds = u32::try_from(waiting.div_ceil(jobs as usize)).unwrap_or(u32::MAX);
            let eta_bound = left_of_running.saturating_add(s.bound.saturating_mul(rounds));
            let eta_pace = (s.finished > 0).then(|| {
                let mean = s.finished_wall / s.finished as u32;
                (mean * (waiting + running.len()) as u32) / jobs
            });
            Snapshot {
                total: s.total,
                finished: s.finished,
                jobs: s.jobs,
                running,
                eta_bound,
                eta_pace,
            }
        })
    }
}

/// A scenario that has run for another multiple of the slow period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowDue {
    pub index: usize,
    pub id: String,
    pub after: Duration,
    pub step: Option<String>,
}

/// What is due at `s`: one for each running scenario that passed a multiple of `period` not
/// said yet. `said` keeps, by scenario index, the multiples already said; a scenario gone
/// from the board is forgotten.
pub fn slow_due(s: &Snapshot, period: Duration, said: &mut BTreeMap<usize, u128>) -> Vec<SlowDue> {
    let period_ns = period.as_nanos().max(1);
    said.retain(|i, _| s.running.iter().any(|r| r.index == *i));
    let mut due = Vec::new();
    for r in &s.running {
        let passed = r.elapsed.as_nanos() / period_ns;
        let before = said.entry(r.index).or_default();
        if passed > *before {
            *before = passed;
            due.push(SlowDue {
                index: r.index,
                id: r.id.clone(),
                after: period.saturating_mul(u32::try_from(passed).unwrap_or(u32::MAX)),
                step: r.step.clone(),
            });
        }
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_follows_the_run_and_bounds_what_is_left() {
        let board = LiveBoard::default();
        let clock = RunClock::start();
        board.begin(clock, 5, 2, Duration::from_secs(60));
        let minute = Duration::from_secs(60);
        board.started(0, "a", minute, &clock.now());
        board.started(1, "b", minute, &clock.now());
        board.step(1, "2", "accept", 9);
        let s = board.snapshot();
        assert_eq!((s.total, s.finished, s.running.len()), (5, 0, 2));
        assert_eq!(
            s.running
                .iter()
                .find(|r| r.id == "b")
                .unwrap()
                .step
                .as_deref(),
            Some("step 2 accept (line 9)")
        );
        // The running ones end within 60 s; three wait for two workers: two more rounds.
        assert!(
            s.eta_bound <= Duration::from_secs(180) && s.eta_bound > Duration::from_secs(170),
            "{:?}",
            s.eta_bound
        );
        assert_eq!(s.eta_pace, None);
        board.finished(0, &clock.now());
        board.finished(1, &clock.now());
        let s = board.snapshot();
        assert_eq!((s.finished, s.running.len()), (2, 0));
        assert!(s.eta_pace.is_some());
    }

    fn running(index: usize, id: &str, secs: f64, step: Option<&str>) -> RunningScenario {
        RunningScenario {
            index,
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

    fn said(due: Vec<SlowDue>) -> Vec<String> {
        due.into_iter()
            .map(|d| format!("{} {}s {:?}", d.id, d.after.as_secs(), d.step))
            .collect()
    }

    #[test]
    fn slow_is_due_once_per_scenario_per_period_passed() {
        let mut seen = BTreeMap::new();
        let p = Duration::from_secs(60);
        assert!(slow_due(&board(vec![running(0, "a", 59.9, None)]), p, &mut seen).is_empty());
        assert_eq!(
            said(slow_due(
                &board(vec![
                    running(0, "a", 60.2, Some("step 2 expect (line 9)")),
                    running(1, "b", 12.0, None)
                ]),
                p,
                &mut seen
            )),
            ["a 60s Some(\"step 2 expect (line 9)\")"]
        );
        assert!(
            slow_due(&board(vec![running(0, "a", 119.0, None)]), p, &mut seen).is_empty(),
            "once per period"
        );
        assert_eq!(
            said(slow_due(
                &board(vec![
                    running(0, "a", 121.0, None),
                    running(1, "b", 61.0, None)
                ]),
                p,
                &mut seen
            )),
            ["a 120s None", "b 60s None"]
        );
        // A scenario that ended is forgotten: the next in its place starts afresh.
        assert!(slow_due(&board(vec![]), p, &mut seen).is_empty());
        assert_eq!(
            said(slow_due(
                &board(vec![running(0, "a", 60.0, None)]),
                p,
                &mut seen
            )),
            ["a 60s None"]
        );
    }
}
