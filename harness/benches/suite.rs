//! Speed and memory of whole suites, printed as figures (`cargo bench --bench suite`).
//!
//! Goal (issue 2): the cloud library against the in-process mock, 2-minute heartbeat and
//! 1-minute rate-limit scenarios included, in under 2 s of wall time on 2 cores.

use hwconform::engine::runner::Runner;
use hwconform::engine::RunEvent;
use hwconform::scenario::load_paths;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod common;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    for dir in ["cloud", "device"] {
        let path = root.join(dir);
        if !path.exists() {
            continue;
        }
        let load_started = Instant::now();
        let scenarios = load_paths(&[path]).expect("the library loads");
        let load_time = load_started.elapsed();
        let runs = 20;
        let mut times: Vec<Duration> = Vec::new();
        let mut scenario_clock = Duration::ZERO;
        for _ in 0..runs {
            let started = Instant::now();
            let mut clock = Duration::ZERO;
            let summary = Runner::new(hwconform::targets::defaults())
                .run(&scenarios, |e| {
                    if let RunEvent::ScenarioFinished { result, .. } = e.kind {
                        clock += result.scenario_time;
                    }
                })
                .expect("the run starts");
            assert!(summary.ok(), "the {dir} library must pass: {summary:?}");
            assert_eq!(summary.failed + summary.errored, 0);
            times.push(started.elapsed());
            scenario_clock = clock;
        }
        times.sort();
        println!(
            "{dir}: {} scenarios, load {:.1} ms; run (jobs={}) min {:.1} ms, median {:.1} ms, max {:.1} ms over {runs} runs; {:.0} s of protocol time per run",
            scenarios.len(),
            load_time.as_secs_f64() * 1e3,
            hwconform::targets::defaults().jobs,
            times[0].as_secs_f64() * 1e3,
            times[runs / 2].as_secs_f64() * 1e3,
            times[runs - 1].as_secs_f64() * 1e3,
            scenario_clock.as_secs_f64(),
        );
    }
    println!(
        "peak RSS: {:.1} MiB",
        common::peak_rss_kib() as f64 / 1024.0
    );
}
