//! What one request/reply round trip costs over real loopback sockets (`cargo bench --bench
//! wire`), each case as a ratio to a floor measured in the same run (issue 12: "the harness
//! at the floor over sockets"):
//!
//! * **harness**: `ping` requests run by the engine (`Runner`, a `repeat` of `request: ping`
//!   with `expect: {errcode: 0}`) against the mock's `ws://` URL, as `hwconform run --cloud
//!   ws://…` does — sessions, recording, monitors and verdicts included; once without
//!   reports and once with the file reports a normal run writes (JUnit, JSON, CSV, HTML) —
//!   against the **floor**: a bare tokio-tungstenite client, same WebSocket settings, sending
//!   the same frames over the same kind of link to the same mock.
//! * **mock**: that bare client against the mock, against a bare tokio-tungstenite server
//!   that parses each request and answers with a reply of the same shape and size.
//!
//! Both the client and the server run in this process: the server on a runtime of one worker
//! thread, the client on a thread of its own (the engine runs each scenario that way too), so
//! the process CPU time per round trip is client plus server. The engine's fixed cost per
//! scenario (control probe, runtime, `connect`) is measured with scenarios that only connect
//! and subtracted. `HWCONFORM_BENCH_PINGS` sets the pings per round (default 10,000).

use futures_util::{SinkExt, StreamExt};
use hwconform::engine::event::Event;
use hwconform::engine::runner::{RunConfig, Runner};
use hwconform::report::{FileReports, ReportFormat, Reporter, RunMeta};
use hwconform::scenario::{load_str, Scenario};
use hwconform::targets::CloudChoice;
use hwconform::wire::transport::ws_config;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

mod common;

/// Rounds; each figure is the median of a case's rounds.
const ROUNDS: usize = 5;
/// Bound on any one wait of the bare client or server: a broken mock cannot hang the bench.
const WAIT: Duration = Duration::from_secs(5);
/// Pings per scenario: under `repeat`'s bound, and far under the transcript's cap, so every
/// frame is recorded as in any real scenario.
const PINGS_PER_SCENARIO: usize = 1000;

fn pings() -> usize {
    std::env::var("HWCONFORM_BENCH_PINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
        .max(PINGS_PER_SCENARIO)
}

/// Wall and process CPU time (user + system) so far.
#[derive(Clone, Copy)]
struct Stamp {
    wall: Instant,
    cpu: Duration,
}

impl Stamp {
    fn now() -> Stamp {
        Stamp {
            wall: Instant::now(),
            cpu: common::cpu_time(),
        }
    }

    /// (wall, cpu) since `self`.
    fn since(self) -> (Duration, Duration) {
        let now = Stamp::now();
        (now.wall - self.wall, now.cpu.saturating_sub(self.cpu))
    }
}

/// Per-round-trip cost of one case: median wall and CPU time, in µs.
#[derive(Clone, Copy)]
struct Cost {
    wall_us: f64,
    cpu_us: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One timed run of a case: wall and CPU time for its `n` round trips.
type Case<'a> = Box<dyn FnMut() -> (Duration, Duration) + 'a>;

/// Runs every case once per round, [`ROUNDS`] rounds, interleaved: a load that comes and goes
/// (another build on the machine) weighs on each case and its floor alike.
fn measure(n: usize, mut cases: Vec<Case<'_>>) -> Vec<Cost> {
    let mut samples = vec![(Vec::new(), Vec::new()); cases.len()];
    for _ in 0..ROUNDS {
        for (case, (walls, cpus)) in cases.iter_mut().zip(&mut samples) {
            let (wall, cpu) = case();
            walls.push(wall.as_secs_f64() * 1e6 / n as f64);
            cpus.push(cpu.as_secs_f64() * 1e6 / n as f64);
        }
    }
    samples
        .into_iter()
        .map(|(walls, cpus)| Cost {
            wall_us: median(walls),
            cpu_us: median(cpus),
        })
        .collect()
}

/// A server that parses each text frame and answers with the reply the mock gives a `ping`
/// (same keys, same size): what the least JSON server does per request.
async fn bare_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let accept = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(Ok(mut ws)) = timeout(
                    WAIT,
                    tokio_tungstenite::accept_async_with_config(tcp, Some(ws_config())),
                )
                .await
                else {
                    return;
                };
                while let Ok(Some(Ok(Message::Text(t)))) = timeout(WAIT, ws.next()).await {
                    let Ok(v) = serde_json::from_str::<Value>(&t) else {
                        break;
                    };
                    let reply = json!({"headers": {"req_id": v["headers"]["req_id"]}, "errcode": 0, "errmsg": "ok"});
                    if !matches!(
                        timeout(WAIT, ws.send(Message::text(reply.to_string()))).await,
                        Ok(Ok(()))
                    ) {
                        break;
                    }
                }
            });
        }
    });
    (addr, accept)
}

/// The floor client: one link with the harness's WebSocket settings and `TCP_NODELAY`, then
/// `n` pings one after another, each reply parsed and checked to echo its `req_id`. Runs on a
/// thread and runtime of its own, as the engine runs a scenario.
fn bare_client(addr: SocketAddr, n: usize) -> (Duration, Duration) {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("client runtime");
        rt.block_on(async move {
            let tcp = TcpStream::connect(addr)
                .await
                .expect("connect over loopback");
            tcp.set_nodelay(true).expect("TCP_NODELAY");
            let handshake = tokio_tungstenite::client_async_with_config(
                format!("ws://{addr}/"),
                tcp,
                Some(ws_config()),
            );
            let (mut ws, _) = timeout(WAIT, handshake)
                .await
                .expect("handshake in time")
                .expect("handshake");
            let started = Stamp::now();
            for i in 0..n {
                let req_id = format!("hwc-{i}");
                let frame = format!(r#"{{"cmd":"ping","headers":{{"req_id":"{req_id}"}}}}"#);
                timeout(WAIT, ws.send(Message::text(frame)))
                    .await
                    .expect("sent in time")
                    .expect("sent");
                let reply = match timeout(WAIT, ws.next()).await.expect("a reply in time") {
                    Some(Ok(Message::Text(t))) => t,
                    other => panic!("no reply to ping {i}: {other:?}"),
                };
                let v: Value = serde_json::from_str(&reply).expect("the reply is JSON");
                assert!(
                    v["headers"]["req_id"] == req_id.as_str() && v["errcode"] == 0,
                    "unexpected reply {reply}"
                );
            }
            let spent = started.since();
            let _ = timeout(WAIT, ws.close(None)).await;
            spent
        })
    })
    .join()
    .expect("the client thread")
}

/// The reports directory of the run, removed when dropped, also when a case panics.
struct ReportsDir(PathBuf);

impl ReportsDir {
    fn new() -> ReportsDir {
        let dir = std::env::temp_dir().join(format!("hwconform-bench-wire-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a reports directory");
        ReportsDir(dir)
    }
}

impl Drop for ReportsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `count` scenarios of one link each and `pings` pings on it (none: they only connect).
fn scenarios(count: usize, pings: usize) -> Vec<Scenario> {
    (0..count)
        .map(|k| {
            let repeat = if pings == 0 {
                String::new()
            } else {
                format!("  - repeat:\n      times: {pings}\n      steps:\n        - request: {{ cmd: ping }}\n          expect: {{ errcode: 0 }}\n")
            };
            let text = format!("id: bench.wire.pings-{pings}-{k}\ntitle: {pings} pings on one link\nrequirements: [C8]\ntags: [bench]\nrole: device\nsteps:\n  - connect: a\n{repeat}");
            load_str(Path::new("bench-wire.yaml"), &text).expect("the bench scenario loads")
        })
        .collect()
}

/// Runs `scenarios` with the engine against `url`, one at a time; with `reports`, also
/// writing the file reports a normal run writes there.
fn engine_run(url: &str, scenarios: &[Scenario], reports: Option<&Path>) -> (Duration, Duration) {
    let cloud = CloudChoice::Url {
        url: url.to_string(),
        insecure: false,
        control_token: None,
    };
    let config = RunConfig {
        cloud: Some(cloud.build(hwconform::profile::CloudTimings::FAQ)),
        jobs: 1,
        step_timeout: WAIT,
        deadline: Duration::from_secs(60),
        ..RunConfig::default()
    };
    let formats = [
        ReportFormat::Junit,
        ReportFormat::Json,
        ReportFormat::Csv,
        ReportFormat::Html,
    ];
    let mut files = reports.map(|dir| FileReports::new(dir, &formats, RunMeta::of_this_harness()));
    let started = Stamp::now();
    let summary = Runner::new(config)
        .run(scenarios, |e: Event| {
            if let Some(f) = &mut files {
                f.on_event(&e).expect("the reports are written");
            }
        })
        .expect("the run starts");
    let spent = started.since();
    assert!(
        summary.ok() && summary.passed == scenarios.len(),
        "the bench scenarios must pass: {summary:?}"
    );
    spent
}

/// [`engine_run`] of the ping scenarios, less the same run of scenarios that only connect.
fn engine_pings(
    url: &str,
    pinging: &[Scenario],
    connecting: &[Scenario],
    reports: Option<&Path>,
) -> (Duration, Duration) {
    let (wall0, cpu0) = engine_run(url, connecting, reports);
    let (wall, cpu) = engine_run(url, pinging, reports);
    (wall.saturating_sub(wall0), cpu.saturating_sub(cpu0))
}

fn main() {
    let n = pings();
    let per = n / PINGS_PER_SCENARIO;
    let n = per * PINGS_PER_SCENARIO;
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let (mock, mock_accept) = server_rt
        .block_on(hwconform::targets::mock::listen(
            Default::default(),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .expect("the mock listens on loopback");
    let (bare, bare_accept) = server_rt.block_on(bare_server());
    let url = format!("ws://{mock}/");
    let reports_dir = ReportsDir::new();
    let reports = reports_dir.0.as_path();
    let (pinging, connecting) = (scenarios(per, PINGS_PER_SCENARIO), scenarios(per, 0));

    // `HWCONFORM_BENCH_WIRE_PROFILE=floor|engine|reports` runs only that case, for a profiler
    // (callgrind counts instructions exactly where wall time on a shared machine swings).
    if let Ok(case) = std::env::var("HWCONFORM_BENCH_WIRE_PROFILE") {
        if case == "floor" {
            let (wall, cpu) = bare_client(mock, n);
            println!(
                "{case}: {:.2} µs wall, {:.2} µs CPU per round trip",
                wall.as_secs_f64() * 1e6 / n as f64,
                cpu.as_secs_f64() * 1e6 / n as f64
            );
            return;
        }
        let with = (case == "reports").then_some(reports);
        let (wall, cpu) = engine_run(&url, &pinging, with);
        println!(
            "{case}: {:.2} µs wall, {:.2} µs CPU per round trip (connects included)",
            wall.as_secs_f64() * 1e6 / n as f64,
            cpu.as_secs_f64() * 1e6 / n as f64
        );
        return;
    }

    // Warm both servers, the allocator and the page cache up before anything is timed.
    bare_client(mock, n / 10);
    bare_client(bare, n / 10);
    engine_run(&url, &pinging[..1], Some(reports));

    let cases: Vec<Case<'_>> = vec![
        Box::new(|| bare_client(mock, n)),
        Box::new(|| engine_pings(&url, &pinging, &connecting, None)),
        Box::new(|| engine_pings(&url, &pinging, &connecting, Some(reports))),
        Box::new(|| bare_client(bare, n)),
    ];
    let [floor, engine, reported, server_floor]: [Cost; 4] = measure(n, cases)
        .try_into()
        .ok()
        .expect("one cost per case");

    mock_accept.abort();
    bare_accept.abort();
    server_rt.shutdown_timeout(WAIT);
    drop(reports_dir);

    let line = |name: &str, c: Cost, of: Cost, floor_name: &str| {
        println!(
            "  {name:<34} {:>7.2} µs wall ({:>5.2}x {floor_name}), {:>7.2} µs CPU ({:>5.2}x)",
            c.wall_us,
            c.wall_us / of.wall_us,
            c.cpu_us,
            c.cpu_us / of.cpu_us
        );
    };
    println!("{n} ping round trips over loopback sockets, median of {ROUNDS} rounds, per round trip (CPU: the whole process, client and server):");
    println!("the harness as a client (against the mock):");
    line(
        "floor: bare tokio-tungstenite client",
        floor,
        floor,
        "the floor",
    );
    line("harness engine, no reports", engine, floor, "the floor");
    line(
        "harness engine + file reports",
        reported,
        floor,
        "the floor",
    );
    println!("the mock as a server (the bare client against it):");
    line(
        "floor: bare tokio-tungstenite server",
        server_floor,
        server_floor,
        "the floor",
    );
    line("mock", floor, server_floor, "the floor");
}
