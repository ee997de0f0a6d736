//! The live board: what a run is doing right now — which scenarios run, since when, at which
//! step — for a status line while a scenario waits on a real target. The runner and sessions
//! write it; a viewer (the CLI's status line) reads snapshots of it at its own pace, so a slow
//! terminal never slows a scenario.

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

/// A session's place on the board: where it reports the step it is in.
#[derive(Clone, Debug)]
pub struct LiveSlot {
    pub(crate) board: std::sync::Arc<LiveBoard>,
    pub(crate) index: usize,
}

impl LiveSlot {
    /// The session began step `index` (a `kind` step at `line` of its file).
    pub(crate) fn step(&self, index: &str, kind: &'static str, line: u32) {
        self.board.step(self.index, index, kind, line);
    }
}

/// One running scenario, as a viewer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningScenario {
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

    pub(crate) fn begin(&self, total: usize, jobs: usize, bound: Duration) {
        self.with(|s| {
            *s = State {
                total,
                jobs: jobs.max(1),
                bound,
                ..State::default()
            }
        });
    }

    pub(crate) fn started(&self, index: usize, id: &str, bound: Duration) {
        self.with(|s| {
            s.running.insert(
                index,
                Running {
                    id: id.to_string(),
                    since: Instant::now(),
                    bound,
                    step: None,
                },
            )
        });
    }

    pub(crate) fn step(&self, scenario: usize, index: &str, kind: &'static str, line: u32) {
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

    pub(crate) fn finished(&self, index: usize) {
        self.with(|s| {
            if let Some(r) = s.running.remove(&index) {
                s.finished_wall += r.since.elapsed();
            }
            s.finished += 1;
        });
    }

    pub fn snapshot(&self) -> Snapshot {
        self.with(|s| {
            let mut running: Vec<RunningScenario> = s
                .running
                .values()
                .map(|r| RunningScenario {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_follows_the_run_and_bounds_what_is_left() {
        let board = LiveBoard::default();
        board.begin(5, 2, Duration::from_secs(60));
        board.started(0, "a", Duration::from_secs(60));
        board.started(1, "b", Duration::from_secs(60));
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
        board.finished(0);
        board.finished(1);
        let s = board.snapshot();
        assert_eq!((s.finished, s.running.len()), (2, 0));
        assert!(s.eta_pace.is_some());
    }
}
