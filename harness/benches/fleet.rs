//! Fleet logins per second (`cargo bench --bench fleet`): `hwconform fleet` switching on
//! 1,000 and 10,000 reference devices at once against the mock, over loopback sockets and
//! in-process, each beside a floor measured in the same run: raw tokio-tungstenite clients
//! doing on the wire what those devices did (a connection from the same spread of source
//! addresses, its WebSocket handshake, as many request/reply round trips per device, a
//! close) against a bare tokio-tungstenite server that answers every frame at once.
//!
//! The rate is logins per CPU-second of the whole process (cloud and devices, or bare
//! server and raw clients): what a machine sustains, whatever the waits. Over sockets the
//! round trips are the login's (its lifecycle commands) and the wall figure is the slowest
//! device's time to log in; in-process (the virtual clock) they are every request of the
//! run (login and contact sync) and the wall figure is the whole run's.
//!
//! Each case runs in a fresh child process, so each peak RSS is its own. The mock (or the
//! bare server) runs on a runtime of its own with one worker, the devices (or the raw
//! clients) on a runtime with two. `HWCONFORM_BENCH_FLEET` sets the fleet sizes (default
//! `1000,10000`).

use futures_util::{SinkExt, StreamExt};
use hwconform::fleet::{self, Business, FleetCloud, FleetPlan, Shard};
use hwconform::profile::CloudTimings;
use hwconform::targets::mock::MockConfig;
use hwconform::wire::transport::{listen_tcp, ws_config};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

const CASE_VAR: &str = "HWCONFORM_BENCH_FLEET_CASE";
/// Commands a device sends after it has logged in (its contact sync and heartbeat): not
/// part of a login's round trips.
const AFTER_LOGIN: [&str; 4] = [
    "ping",
    "get_perm_version",
    "get_userinfo_by_page",
    "get_userinfo_by_ids",
];
/// Longest a case may take: a broken cloud or client must not hang the bench.
const CASE_LIMIT: Duration = Duration::from_secs(120);
/// A request of a login's size (the sim's `register` is about this long).
const FRAME: &str = r#"{"cmd":"register","headers":{"req_id":"hwc-sim-0000-00000001"},"body":{"sn":"HWC-TEST-0001","timestamp":1764633600,"nonce":123456789,"signature":"0123456789abcdef0123456789abcdef01234567","model":"hwc-ref","firmware":"1.0.0"}}"#;

fn sizes() -> Vec<usize> {
    std::env::var("HWCONFORM_BENCH_FLEET")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn plan(devices: usize, duration: Duration) -> FleetPlan {
    FleetPlan {
        fleet: FleetPlan::generated_fleet(devices),
        shard: Shard::WHOLE,
        ramp: None,
        duration,
        storm: None,
        ips: devices,
        business: Business::default(),
        seed: 1,
    }
}

/// A runtime with one worker on its own thread, for the server side; dropped with the
/// process (each case is one).
fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime")
}

/// A bare tokio-tungstenite server that answers every text frame with itself.
async fn bare_server() -> SocketAddr {
    let listener = listen_tcp("127.0.0.1:0".parse().unwrap()).expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            tokio::spawn(echo(tcp));
        }
    });
    addr
}

async fn echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(io: S) {
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(io, Some(ws_config())).await
    else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        if msg.is_text() && ws.send(msg).await.is_err() {
            return;
        }
    }
}

/// One raw client: `round_trips` requests, each awaited, then a close.
async fn raw_device<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    io: S,
    round_trips: usize,
) {
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config("ws://127.0.0.1/", io, Some(ws_config()))
            .await
            .expect("handshake");
    for _ in 0..round_trips {
        ws.send(Message::text(FRAME)).await.expect("send");
        ws.next().await.expect("a reply").expect("a frame");
    }
    let _ = ws.close(None).await;
}

mod common;

/// CPU time of the whole process so far (every thread), seconds.
fn cpu_seconds() -> f64 {
    common::cpu_time().as_secs_f64()
}

/// Prints `wall_seconds cpu_seconds rss_mib round_trips_per_device` for one case.
fn run_case(case: &str, n: usize, round_trips: usize) {
    fleet::raise_open_files_limit();
    let cpu_before = cpu_seconds();
    let (seconds, trips, done) = match case {
        "fleet-sockets" => {
            let server = server_runtime();
            let config = MockConfig {
                fleet: FleetPlan::generated_fleet(n),
                ..MockConfig::default()
            };
            let (addr, _accept) = server
                .block_on(hwconform::targets::mock::listen(
                    config,
                    "127.0.0.1:0".parse().unwrap(),
                ))
                .expect("the mock listens");
            // Long enough for every device to log in; the figure is their time to log in.
            let timings = CloudTimings::FAQ;
            let report = fleet::run(
                &plan(n, Duration::from_secs(15)),
                FleetCloud::Url {
                    url: format!("ws://{addr}/"),
                    timings,
                    dial_timeout: hwconform::targets::sim::DIAL_TIMEOUT,
                },
                hwconform::profile::default_profile(),
                |_| {},
            )
            .expect("the fleet runs");
            let f = &report.figures;
            // A device not logged in by the end is still in its lifecycle's waits (a dial the
            // kernel's accept queue, capped by net.core.somaxconn, turned away is retried
            // after a back-off): the rate counts the logins done. An error reply or a lost
            // link is a broken run.
            assert!(
                f.errors.is_empty() && f.lost_by_cloud == 0,
                "errors {:?}, lost {}",
                f.errors,
                f.lost_by_cloud
            );
            let d = &f.accounting;
            if d.logged_in < n as u64 {
                eprintln!(
                    "  {} of {n} devices not logged in: {} connected and never logged in, {} never connected ({}); {} dials failed {:?}",
                    n as u64 - d.logged_in,
                    d.never_logged_in,
                    d.never_connected,
                    d.never_connected_reasons(),
                    f.dial_failures,
                    f.dial_failures_by,
                );
            }
            (f.login.max_ms / 1e3, login_round_trips(f, n), f.logins)
        }
        "fleet-in-process" => {
            let started = Instant::now();
            let report = fleet::run(
                &plan(n, Duration::from_secs(20)),
                FleetCloud::Mock(Box::default()),
                hwconform::profile::default_profile(),
                |_| {},
            )
            .expect("the fleet runs");
            let f = &report.figures;
            assert_eq!(f.logins, n as u64, "every device logs in: {:?}", f.errors);
            (
                started.elapsed().as_secs_f64(),
                (f.requests as f64 / n as f64).round() as usize,
                f.logins,
            )
        }
        "floor-sockets" => {
            let server = server_runtime();
            let addr = server.block_on(bare_server());
            let clients = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("client runtime");
            let seconds = clients.block_on(async {
                let started = Instant::now();
                let all: Vec<_> = (0..n)
                    .map(|i| {
                        tokio::spawn(async move {
                            let socket = TcpSocket::new_v4().expect("socket");
                            socket
                                .bind(SocketAddr::new(fleet::plan::source_address(i).into(), 0))
                                .expect("bind a loopback source address");
                            let tcp = socket.connect(addr).await.expect("connect over loopback");
                            let _ = tcp.set_nodelay(true);
                            raw_device(tcp, round_trips).await;
                        })
                    })
                    .collect();
                tokio::time::timeout(CASE_LIMIT, futures_util::future::join_all(all))
                    .await
                    .expect("the floor finishes");
                started.elapsed().as_secs_f64()
            });
            (seconds, round_trips, n as u64)
        }
        "floor-in-process" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .expect("runtime");
            let started = Instant::now();
            rt.block_on(async {
                let all = futures_util::stream::FuturesUnordered::new();
                for _ in 0..n {
                    let (client, server) = tokio::io::duplex(2 * 1024);
                    tokio::spawn(echo(server));
                    all.push(raw_device(client, round_trips));
                }
                tokio::time::timeout(CASE_LIMIT, all.collect::<Vec<()>>())
                    .await
                    .expect("the floor finishes");
            });
            (started.elapsed().as_secs_f64(), round_trips, n as u64)
        }
        other => panic!("unknown case {other}"),
    };
    println!(
        "{seconds} {} {:.1} {trips} {done}",
        cpu_seconds() - cpu_before,
        fleet::peak_rss_mib().unwrap_or(0.0)
    );
}

/// Requests per device before its login finished: all but the after-login commands.
fn login_round_trips(f: &hwconform::fleet::report::Figures, n: usize) -> usize {
    let after: u64 = AFTER_LOGIN
        .iter()
        .filter_map(|c| f.latency.get(*c))
        .map(|l| l.count)
        .sum();
    ((f.requests - after) as f64 / n as f64).round() as usize
}

/// What a case measured.
struct Figures {
    wall_s: f64,
    cpu_s: f64,
    rss_mib: f64,
    round_trips: usize,
    /// Devices that logged in (or raw clients that finished).
    done: u64,
}

/// Runs a case in a child process.
fn child(case: &str, n: usize, round_trips: usize) -> Figures {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(exe)
        .env(CASE_VAR, format!("{case} {n} {round_trips}"))
        .output()
        .expect("run a case");
    assert!(
        out.status.success(),
        "case {case} ({n}) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What the case has to say beyond its figures (devices that never connected, and why).
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let f: Vec<f64> = line
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    assert_eq!(f.len(), 5, "case {case} printed {line:?}");
    Figures {
        wall_s: f[0],
        cpu_s: f[1],
        rss_mib: f[2],
        round_trips: f[3] as usize,
        done: f[4] as u64,
    }
}

fn main() {
    if let Ok(spec) = std::env::var(CASE_VAR) {
        let mut it = spec.split_whitespace();
        let (case, n, trips) = (
            it.next().unwrap_or_default(),
            it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
        );
        run_case(case, n, trips);
        return;
    }
    println!("devices switched on at once; rates per CPU-second of the process; the floor does the same round trips per device with raw tokio-tungstenite:");
    for n in sizes() {
        for (how, fleet_case, floor_case) in [
            ("over loopback sockets", "fleet-sockets", "floor-sockets"),
            ("in-process", "fleet-in-process", "floor-in-process"),
        ] {
            let fleet = child(fleet_case, n, 0);
            let floor = child(floor_case, n, fleet.round_trips);
            println!(
                "  {n:>6} devices {how:<22} fleet {:>7.0} logins/s ({} logged in, {:.2} s CPU, {:.2} s wall, {:.0} MiB peak); floor {:>7.0}/s ({:.2} s CPU, {:.2} s wall, {:.0} MiB); {:.2}x the floor's CPU per device, {} round trips each",
                fleet.done as f64 / fleet.cpu_s,
                fleet.done,
                fleet.cpu_s,
                fleet.wall_s,
                fleet.rss_mib,
                n as f64 / floor.cpu_s,
                floor.cpu_s,
                floor.wall_s,
                floor.rss_mib,
                (fleet.cpu_s / fleet.done.max(1) as f64) / (floor.cpu_s / n as f64).max(1e-12),
                fleet.round_trips
            );
        }
    }
}
