//! What an open link costs (`cargo bench --bench links`): resident memory per idle
//! WebSocket link held by the mock cloud, as a ratio against a floor measured in the same
//! run — a bare tokio-tungstenite server with the same buffer settings — and beside the cost
//! with tungstenite's default settings (what the mock used before its buffers were sized).
//!
//! Each case runs in a fresh child process (glibc keeps freed memory, so cases measured one
//! after another in one process would hide each other's cost). Every case opens the same
//! number of loopback links with the same client settings, so the differences are the
//! server's. `HWCONFORM_BENCH_LINKS` sets the number of links (default 5,000; two file
//! descriptors each).

use futures_util::StreamExt;
use hwconform::wire::transport::ws_config;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const CASE_VAR: &str = "HWCONFORM_BENCH_LINKS_CASE";
const CASES: [&str; 3] = ["floor", "tungstenite-defaults", "mock"];

mod common;
use common::rss_kib;

fn links() -> usize {
    std::env::var("HWCONFORM_BENCH_LINKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

/// A server that accepts WebSocket links and reads from each until it closes: the least a
/// server can hold per link with `config`.
async fn bare_server(config: WebSocketConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut ws) =
                    tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await
                {
                    while let Some(Ok(_)) = ws.next().await {}
                }
            });
        }
    });
    addr
}

async fn run_case(case: &str) {
    let n = links();
    let addr = match case {
        "floor" => bare_server(ws_config()).await,
        "tungstenite-defaults" => bare_server(WebSocketConfig::default()).await,
        "mock" => {
            let (addr, _accept) = hwconform::targets::mock::listen(
                Default::default(),
                "127.0.0.1:0".parse().unwrap(),
            )
            .await
            .expect("the mock listens on loopback");
            addr
        }
        other => panic!("unknown case {other}"),
    };
    // Settle the runtime and the server before the baseline reading.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = rss_kib();
    let started = Instant::now();
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let tcp = TcpStream::connect(addr)
            .await
            .expect("connect over loopback");
        let (ws, _) = tokio_tungstenite::client_async_with_config(
            format!("ws://{addr}/"),
            tcp,
            Some(ws_config()),
        )
        .await
        .expect("handshake");
        clients.push(ws);
    }
    let opened = started.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let open = rss_kib();
    for mut ws in clients.drain(..) {
        let _ = ws.close(None).await;
    }
    drop(clients);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let closed = rss_kib();
    let per_link = open.saturating_sub(before) as f64 / n as f64;
    let kept = closed.saturating_sub(before) as f64 / 1024.0;
    println!(
        "{case} {per_link:.2} {kept:.1} {:.1}",
        opened.as_secs_f64() * 1e3
    );
}

fn main() {
    if let Ok(case) = std::env::var(CASE_VAR) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(run_case(&case));
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut figures = Vec::new();
    for case in CASES {
        let out = Command::new(&exe)
            .env(CASE_VAR, case)
            .output()
            .expect("run a case");
        assert!(
            out.status.success(),
            "case {case} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        let f: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        assert_eq!(f.len(), 3, "case {case} printed {line:?}");
        figures.push((case, f[0], f[1], f[2]));
    }
    let floor = figures[0].1.max(0.01);
    println!("{} idle links over loopback, client and server in one process (client side identical in every case):", links());
    for (case, per_link, kept, ms) in &figures {
        println!(
            "  {case:<22} {per_link:>8.2} KiB per link ({:>5.2}x the floor), {kept:>7.1} MiB still resident after all closed, opened in {ms:.0} ms",
            per_link / floor
        );
    }
}
