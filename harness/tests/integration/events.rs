//! The run's event stream: every scenario's events in their order and at their times, and
//! a stop from outside said once, before the scenarios it cut.

use crate::common;
use hwconform::engine::event::{Event, RunEvent};
use hwconform::engine::runner::{RunConfig, Runner};
use hwconform::engine::Verdict;
use hwconform::scenario::Scenario;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// Every event of a run of `scenarios`, with `on` called on each as it comes.
fn stream(scenarios: &[Scenario], config: RunConfig, mut on: impl FnMut(&Event)) -> Vec<Event> {
    let mut events = Vec::new();
    Runner::new(config)
        .run(scenarios, |e| {
            on(&e);
            events.push(e);
        })
        .expect("the run starts");
    events
}

/// Per scenario index: the times of its started, steps and finished, in stream order.
#[derive(Default, Debug)]
struct Life {
    started: Vec<Duration>,
    steps: Vec<Duration>,
    findings: Vec<Duration>,
    finished: Vec<Duration>,
}

fn lives(events: &[Event]) -> BTreeMap<usize, Life> {
    let mut lives: BTreeMap<usize, Life> = BTreeMap::new();
    for e in events {
        let at = e.stamp.at;
        match &e.kind {
            RunEvent::ScenarioStarted { index, .. } => {
                lives.entry(*index).or_default().started.push(at)
            }
            RunEvent::Step { index, .. } => lives.entry(*index).or_default().steps.push(at),
            RunEvent::Finding { index, .. } => lives.entry(*index).or_default().findings.push(at),
            RunEvent::ScenarioFinished { index, .. } => {
                lives.entry(*index).or_default().finished.push(at)
            }
            _ => {}
        }
    }
    lives
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Whatever the parallelism and the scenarios: the stream's times never go back, it
    /// opens with `RunStarted` and closes with `RunFinished`, and each scenario starts once,
    /// then steps (a manual or not applicable one has none), then finishes once, in that
    /// order of time.
    #[test]
    fn each_scenario_starts_steps_and_finishes_in_order_of_time(
        jobs in 1usize..4,
        pick in proptest::sample::subsequence((0..46usize).collect::<Vec<_>>(), 1..8),
    ) {
        let library = common::library("device");
        let scenarios: Vec<Scenario> =
            pick.iter().filter_map(|i| library.get(*i).cloned()).collect();
        let config = RunConfig { jobs, ..hwconform::targets::defaults() };
        let events = stream(&scenarios, config, |_| {});
        let opens = matches!(events.first().map(|e| &e.kind), Some(RunEvent::RunStarted { .. }));
        let closes = matches!(events.last().map(|e| &e.kind), Some(RunEvent::RunFinished(_)));
        prop_assert!(opens && closes);
        for pair in events.windows(2) {
            prop_assert!(pair[0].stamp.at <= pair[1].stamp.at, "time went back: {:?} then {:?}", pair[0], pair[1]);
            prop_assert!(pair[0].stamp.wall <= pair[1].stamp.wall);
        }
        let lives = lives(&events);
        prop_assert_eq!(lives.len(), scenarios.len());
        for (i, life) in &lives {
            prop_assert_eq!(life.started.len(), 1, "scenario {} started once", i);
            prop_assert_eq!(life.finished.len(), 1, "scenario {} finished once", i);
            let (start, end) = (life.started[0], life.finished[0]);
            prop_assert!(
                life.steps.iter().chain(&life.findings).all(|s| start <= *s && *s <= end),
                "{:?}",
                life
            );
        }
    }
}

/// A scenario is started when a worker takes it, not when it ends: with one job, the next
/// scenario's start comes after the previous one's end, and a scenario's start comes before
/// its own steps (the stream used to say `started` only with the verdict).
#[test]
fn started_is_said_when_the_scenario_starts() {
    let library = common::library("device");
    let scenarios = &library[..3];
    let config = RunConfig {
        jobs: 1,
        ..hwconform::targets::defaults()
    };
    let kinds: Vec<String> = stream(scenarios, config, |_| {})
        .iter()
        .filter_map(|e| match &e.kind {
            RunEvent::ScenarioStarted { index, .. } => Some(format!("start {index}")),
            RunEvent::Step { index, step, .. } if step == "1" => Some(format!("step {index}")),
            RunEvent::ScenarioFinished { index, .. } => Some(format!("end {index}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "start 0", "step 0", "end 0", "start 1", "step 1", "end 1", "start 2", "step 2",
            "end 2"
        ]
    );
}

/// Ctrl-C (the interrupt raised, as the signal watcher does) is said once, as `interrupted`
/// with the signal's name, before every scenario it kept from running; no scenario starts
/// after it.
#[test]
fn a_stop_from_outside_is_said_once_before_what_it_cut() {
    let library = common::library("device");
    let scenarios = &library[..6];
    let config = RunConfig {
        jobs: 1,
        ..hwconform::targets::defaults()
    };
    let interrupt = config.interrupt.clone();
    let events = stream(scenarios, config, |e| {
        if matches!(e.kind, RunEvent::ScenarioStarted { index: 0, .. }) {
            interrupt.raise("SIGINT");
        }
    });
    let at = |f: &dyn Fn(&RunEvent) -> bool| events.iter().position(|e| f(&e.kind));
    let interrupted: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(&e.kind, RunEvent::Interrupted { why } if why == "SIGINT"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(interrupted.len(), 1, "said once: {events:#?}");
    let said = interrupted[0];
    assert!(at(&|k| matches!(k, RunEvent::ScenarioStarted { index: 0, .. })).unwrap() < said);
    assert!(
        events[said..]
            .iter()
            .all(|e| !matches!(e.kind, RunEvent::ScenarioStarted { .. })),
        "nothing starts after it"
    );
    let cut: Vec<usize> = events[said..]
        .iter()
        .filter_map(|e| match &e.kind {
            RunEvent::ScenarioFinished { index, result } if matches!(&result.verdict, Verdict::Skip { reason } if reason.contains("interrupted (SIGINT)")) => Some(*index),
            _ => None,
        })
        .collect();
    assert!(!cut.is_empty() && cut.contains(&5), "{cut:?}");
    // A variant: without the stop, nothing says `interrupted`.
    let config = RunConfig {
        jobs: 1,
        ..hwconform::targets::defaults()
    };
    let events = stream(&scenarios[..2], config, |_| {});
    assert!(events
        .iter()
        .all(|e| !matches!(e.kind, RunEvent::Interrupted { .. })));
}

/// A scenario still running after a period gets a `Slow` event (what the SLOW lines print),
/// at the multiple it passed; a quick one gets none.
#[test]
fn a_scenario_running_past_the_period_is_said_slow() {
    let library = common::library("device");
    let config = RunConfig {
        jobs: 1,
        slow_period: Duration::from_millis(20),
        ..hwconform::targets::defaults()
    };
    // The first scenario takes its time: the stream's consumer is slow to take its start.
    let mut slowed = false;
    let events = stream(&library[..1], config, |e| {
        if matches!(e.kind, RunEvent::Step { .. }) && !slowed {
            slowed = true;
            std::thread::sleep(Duration::from_millis(120));
        }
    });
    let slow: Vec<Duration> = events
        .iter()
        .filter_map(|e| match &e.kind {
            RunEvent::Slow {
                after, index: 0, ..
            } => Some(*after),
            _ => None,
        })
        .collect();
    // The board follows the stream: the scenario counts as running from its start event.
    assert!(
        !slow.is_empty()
            && slow.windows(2).all(|w| w[0] < w[1])
            && slow.iter().all(|a| a.as_millis() % 20 == 0),
        "{slow:?}"
    );
    let config = RunConfig {
        jobs: 1,
        slow_period: Duration::from_secs(60),
        ..hwconform::targets::defaults()
    };
    let events = stream(&library[..1], config, |_| {});
    assert!(events
        .iter()
        .all(|e| !matches!(e.kind, RunEvent::Slow { .. })));
}

/// A finding is said when the session sees it, while the scenario runs, and once: the D2
/// of a device that reuses a req_id, in the scenario that catches it, between its start and
/// its end, with the result carrying the same finding; a conformant device gives none.
#[test]
fn a_finding_is_said_while_its_scenario_runs() {
    use hwconform::targets::sim::SimFault;
    use hwconform::targets::DeviceChoice;
    let library = common::library("device");
    let caught: Vec<Scenario> = library
        .iter()
        .filter(|s| s.id.value == "device.envelope.well-formed-unique-requests")
        .cloned()
        .collect();
    assert_eq!(caught.len(), 1);
    for faults in [vec![SimFault::ReuseReqId], vec![]] {
        let config = RunConfig {
            device: Some(
                DeviceChoice::Sim {
                    faults: faults.iter().copied().collect(),
                    variants: Default::default(),
                }
                .build(),
            ),
            ..hwconform::targets::defaults()
        };
        let events = stream(&caught, config, |_| {});
        let said: Vec<String> = events
            .iter()
            .filter_map(|e| match &e.kind {
                RunEvent::Finding { finding, .. } => Some(finding.rule.clone()),
                _ => None,
            })
            .collect();
        let carried: Vec<String> = events
            .iter()
            .find_map(|e| match &e.kind {
                RunEvent::ScenarioFinished { result, .. } => {
                    Some(result.findings.iter().map(|f| f.rule.clone()).collect())
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(said, carried, "each finding once");
        if faults.is_empty() {
            assert!(said.is_empty(), "{said:?}");
            continue;
        }
        assert!(said.contains(&"D2".to_string()), "{said:?}");
        let life = &lives(&events)[&0];
        let (start, end) = (life.started[0], life.finished[0]);
        assert!(
            life.findings.iter().all(|f| start <= *f && *f <= end),
            "{life:?}"
        );
        // Said when seen, not with the verdict.
        assert!(life.findings.iter().all(|f| *f < end), "{life:?}");
    }
}
