//! What recording a text frame costs (`cargo bench --bench recorder`), as a ratio to the
//! floor of parsing the same frame's JSON once, measured in the same run: the recorder parses
//! each frame once, learns the secrets in it, redacts and stores it (issue 12: it used to
//! parse every frame twice).

use hwconform::engine::clock::ScenarioClock;
use hwconform::engine::recorder::Recorder;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Median of `rounds` timings of `n` calls of `f`, per call.
fn per_call(rounds: usize, n: usize, mut f: impl FnMut(usize)) -> Duration {
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for i in 0..n {
                f(i);
            }
            started.elapsed() / n as u32
        })
        .collect();
    times.sort();
    times[rounds / 2]
}

fn main() {
    let small = serde_json::json!({"headers": {"req_id": "hwc-17"}, "errcode": 0, "errmsg": "ok", "body": {"active_code": "ac-cert-0007", "corpid": "ww1234", "server_time": 1764633600u64}}).to_string();
    let users: Vec<_> = (0..60).map(|i| serde_json::json!({"userid": format!("user{i:04}"), "name": format!("User {i}"), "department": [1, 2], "face": "f".repeat(40)})).collect();
    let page = serde_json::json!({"headers": {"req_id": "hwc-18"}, "errcode": 0, "errmsg": "ok", "body": {"userlist": users, "next_cursor": "c2"}}).to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let _guard = rt.enter();
    for (name, text) in [("reply, 0.2 KiB", &small), ("contacts page, 8 KiB", &page)] {
        let n = if text.len() > 1000 { 2_000 } else { 20_000 };
        let floor = per_call(9, n, |_| {
            black_box(serde_json::from_str::<serde_json::Value>(black_box(text)).unwrap());
        });
        let recorder = Recorder::new(
            ScenarioClock::start(0),
            vec!["SECRETNO-0001".into()],
            hwconform::profile::default_profile(),
        );
        let cost = per_call(9, n, |i| {
            // A fresh transcript now and then, so the cap on entries never turns recording off.
            if i % 10_000 == 0 {
                black_box(recorder.take());
            }
            recorder.text_frame("a", black_box(text), false);
        });
        println!(
            "record {name} ({} bytes): {:.2} µs per frame; floor (one JSON parse) {:.2} µs; {:.2}× the floor",
            text.len(),
            cost.as_secs_f64() * 1e6,
            floor.as_secs_f64() * 1e6,
            cost.as_secs_f64() / floor.as_secs_f64()
        );
    }
}
