//! Device targets over real sockets: the reference device as a process (`exec:`) gives the
//! same verdicts as in-process; devices that never connect, send garbage, go silent or close
//! get fail verdicts with reasons within bounds; harness-side faults are errors.

use crate::common::{library, run_library, verdicts};
use futures_util::{SinkExt, StreamExt};
use hwconform::engine::runner::RunConfig;
use hwconform::engine::Verdict;
use hwconform::scenario::{load_paths, Scenario};
use hwconform::targets::DeviceChoice;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Device scenarios that take seconds of real time, for runs over sockets.
const REAL_TIME: &[&str] = &[
    "device.recovery.suggestion-reconnect",
    "device.activation.push-bind-corp-activates-at-once",
    "device.door.scan-to-open-reported-within-3s",
    "device.enrolment.upload-after-enter-page",
    "device.log.fetch-log-uploads-binary-log",
    "device.visitors.fetch-on-push-visitor-list-change",
    "device.retry.random-1-3s-without-interval",
];

fn device_sim_command(extra: &str) -> String {
    format!(
        "{} device-sim --url {{url}} --sn {{sn}} --secret-no {{secret_no}} {extra}",
        env!("CARGO_BIN_EXE_hwconform")
    )
}

fn config(device: DeviceChoice) -> RunConfig {
    RunConfig {
        device: Some(device.build()),
        jobs: 8,
        ..hwconform::targets::defaults()
    }
}

fn selection() -> Vec<Scenario> {
    library("device")
        .into_iter()
        .filter(|s| REAL_TIME.contains(&s.id.value.as_str()))
        .collect()
}

#[test]
fn exec_device_sim_gives_the_in_process_verdicts() {
    let scenarios = selection();
    assert_eq!(scenarios.len(), REAL_TIME.len());
    for fault in ["", "--fault no-jitter"] {
        let faults = fault
            .strip_prefix("--fault ")
            .and_then(hwconform::targets::sim::SimFault::parse)
            .into_iter()
            .collect();
        let sim = DeviceChoice::Sim {
            faults,
            variants: BTreeSet::new(),
        };
        let in_process: Vec<(String, &str)> = verdicts(&run_library(&scenarios, config(sim)))
            .into_iter()
            .map(|(id, v)| (id, v.name()))
            .collect();
        let exec = DeviceChoice::Exec {
            command: device_sim_command(fault),
        };
        let over_sockets: Vec<(String, &str)> = verdicts(&run_library(&scenarios, config(exec)))
            .into_iter()
            .map(|(id, v)| (id, v.name()))
            .collect();
        assert_eq!(in_process, over_sockets, "fault {fault:?}");
        let failed: BTreeSet<&str> = over_sockets
            .iter()
            .filter(|(_, v)| *v != "pass")
            .map(|(id, _)| id.as_str())
            .collect();
        let expect: BTreeSet<&str> = if fault.is_empty() {
            BTreeSet::new()
        } else {
            BTreeSet::from(["device.retry.random-1-3s-without-interval"])
        };
        assert_eq!(failed, expect, "fault {fault:?}");
    }
    // Every device process was stopped.
    let ours = format!(
        "{} device-sim --url ws://127.0.0.1",
        env!("CARGO_BIN_EXE_hwconform")
    );
    let left = std::process::Command::new("pgrep")
        .args(["-f", &ours])
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "device processes left running: {}",
        String::from_utf8_lossy(&left)
    );
}

/// A short cloud-role scenario: the device connects and registers.
fn register_scenario(dir: &std::path::Path) -> Vec<Scenario> {
    let file = dir.join("register.yaml");
    std::fs::write(
        &file,
        "id: x.register\ntitle: t\nrequirements: [D7]\nrole: cloud\nsteps:\n  - accept: { within: 3s }\n  - receive: { cmd: register, within: 2s }\n  - reply: {}\n",
    )
    .unwrap();
    load_paths(&[file]).unwrap()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hwconform-dev-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn only_verdict(scenarios: &[Scenario], device: DeviceChoice) -> Verdict {
    let started = Instant::now();
    let results = run_library(
        scenarios,
        RunConfig {
            device: Some(device.build()),
            ..hwconform::targets::defaults()
        },
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    results[0].verdict.clone()
}

fn message(v: &Verdict) -> String {
    match v {
        Verdict::Fail(f) | Verdict::Error(f) => f.message.clone(),
        other => panic!("expected fail or error, got {other:?}"),
    }
}

#[test]
fn a_device_that_never_connects_fails_and_one_that_cannot_start_is_an_error() {
    let dir = temp_dir("exec");
    let scenarios = register_scenario(&dir);
    let silent = only_verdict(
        &scenarios,
        DeviceChoice::Exec {
            command: "sleep 30".into(),
        },
    );
    assert_eq!(silent.name(), "fail", "{silent:?}");
    assert!(
        message(&silent).contains("did not connect within 3s"),
        "{}",
        message(&silent)
    );
    let missing = only_verdict(
        &scenarios,
        DeviceChoice::Exec {
            command: "/nonexistent/firmware --url {url}".into(),
        },
    );
    assert_eq!(missing.name(), "error", "{missing:?}");
    assert!(
        message(&missing).contains("exited without connecting"),
        "{}",
        message(&missing)
    );
    // One that dies at once: its last words reach the message (they raced the exit once).
    for _ in 0..5 {
        let dead = only_verdict(
            &scenarios,
            DeviceChoice::Exec {
                command: "echo 'firmware: no such radio' >&2; exit 3".into(),
            },
        );
        assert_eq!(dead.name(), "error", "{dead:?}");
        assert!(
            message(&dead).contains("exit status: 3")
                && message(&dead).contains("firmware: no such radio"),
            "{}",
            message(&dead)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A device that connects and dies at once failed on the wire; it did connect.
#[test]
fn a_device_that_crashes_after_connecting_fails_on_the_link_it_opened() {
    let dir = temp_dir("crash");
    let file = dir.join("crash.yaml");
    std::fs::write(&file, "id: x.crash\ntitle: t\nrequirements: [D7]\nrole: cloud\nsteps:\n  - accept: { within: 5s }\n  - receive: { cmd: register, within: 2s }\n  - no_reply: {}\n  - receive: { cmd: active, within: 20s }\n").unwrap();
    let scenarios = load_paths(&[file]).unwrap();
    // The reference device as a process, killed as soon as its register is out.
    let command = format!(
        "{} & pid=$!; sleep 1; kill -9 $pid; exit 3",
        device_sim_command("")
    );
    let verdict = only_verdict(&scenarios, DeviceChoice::Exec { command });
    assert_eq!(verdict.name(), "fail", "{verdict:?}");
    assert!(
        !message(&verdict).contains("without connecting"),
        "{}",
        message(&verdict)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A device killed by SIGSEGV mid-scenario (its shell exits 139) is reported once, as that,
/// whichever step met the crash: a `receive` whose link ended, or a `push` that could not be
/// written; never as a broken link, a failed push or a bare exit status.
#[test]
fn a_device_killed_by_a_signal_is_reported_once_as_that() {
    let dir = temp_dir("segv");
    let met_by = [
        ("receive", "  - receive: { cmd: active, within: 20s }\n"),
        (
            "push",
            "  - wait: 3s\n  - push: { cmd: push_restart_device }\n  - receive: { cmd: active, within: 20s }\n",
        ),
    ];
    for (kind, tail) in met_by {
        let file = dir.join(format!("segv-{kind}.yaml"));
        std::fs::write(
            &file,
            format!("id: x.segv-{kind}\ntitle: t\nrequirements: [D7]\nrole: cloud\nsteps:\n  - accept: {{ within: 5s }}\n  - receive: {{ cmd: register, within: 2s }}\n  - no_reply: {{}}\n{tail}"),
        )
        .unwrap();
        let scenarios = load_paths(&[file]).unwrap();
        // The reference device as a process, killed by SIGSEGV once its register is out; the
        // shell reports it as 139, as it would a firmware's segfault. Rust's runtime takes
        // the first SIGSEGV (its stack-overflow handler, which then restores the default), so
        // a second one ends it as a C firmware's first would.
        let command = format!(
            "echo 'firmware: about to crash' >&2; {} & pid=$!; sleep 1; kill -SEGV $pid; sleep 0.3; kill -SEGV $pid; wait $pid",
            device_sim_command("")
        );
        let verdict = only_verdict(&scenarios, DeviceChoice::Exec { command });
        assert_eq!(verdict.name(), "error", "{kind}: {verdict:?}");
        let text = message(&verdict);
        assert!(
            text.starts_with("the device was killed by signal 11 (SIGSEGV)")
                && text.contains("firmware: about to crash"),
            "{kind}: {text}"
        );
        for other_way in ["cannot push", "exit status", "closed", "broken"] {
            assert!(!text.contains(other_way), "{kind}: {text}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// How a rogue device misbehaves.
#[derive(Clone, Copy, Debug)]
enum Rogue {
    Garbage,
    /// A binary frame that is no `upload_log`.
    BinaryGarbage,
    Silent,
    Close,
    ReuseReqId,
    /// Pings as fast as it can, never registering.
    PingFlood,
    /// A 16 MiB text frame, four times what the harness accepts.
    Huge,
    /// Sends its `register` a byte at a time, 100 ms apart: it takes longer than the step bound.
    Drip,
    /// Opens TCP, sends half an upgrade request and closes.
    HandshakeClose,
    /// Acknowledges a push the harness never sent (a frame without `cmd`).
    UnknownAck,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to `addr`, retrying until the harness listens or `deadline` passes.
async fn connect_retrying(addr: std::net::SocketAddr, deadline: Instant) -> Option<Ws> {
    loop {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/")).await {
            return Some(ws);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One frame as a client writes it (FIN, text, masked with a zero key), for a rogue that
/// writes bytes itself.
fn raw_masked_text_frame(text: &str) -> Vec<u8> {
    assert!(text.len() < 126, "a short frame");
    let mut bytes = vec![0x81, 0x80 | text.len() as u8, 0, 0, 0, 0];
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

const REGISTER: &str = r#"{"cmd":"register","headers":{"req_id":"r1"},"body":{}}"#;

/// Connects to `addr` (retrying until the harness listens) and misbehaves; the close code
/// the harness sent it lands in `closed`.
async fn rogue_device(
    addr: std::net::SocketAddr,
    mode: Rogue,
    closed: std::sync::Arc<std::sync::atomic::AtomicU16>,
) {
    use tokio::io::AsyncWriteExt;
    if let Rogue::HandshakeClose = mode {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut tcp) = tokio::net::TcpStream::connect(addr).await {
                let _ = tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgr").await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        return;
    }
    let Some(mut ws) = connect_retrying(addr, Instant::now() + Duration::from_secs(10)).await
    else {
        return;
    };
    match mode {
        Rogue::Garbage => {
            let _ = ws.send(Message::text("\u{1}not json at all")).await;
        }
        Rogue::BinaryGarbage => {
            let _ = ws.send(Message::binary(vec![0xff, 0x00, 0x13, 0x37])).await;
        }
        Rogue::Silent | Rogue::HandshakeClose => {}
        Rogue::Close => {
            let _ = ws.close(None).await;
            return;
        }
        Rogue::PingFlood => {
            let until = Instant::now() + Duration::from_secs(8);
            let mut n = 0u64;
            while Instant::now() < until {
                n += 1;
                if ws
                    .send(Message::text(format!(
                        r#"{{"cmd":"ping","headers":{{"req_id":"p{n}"}}}}"#
                    )))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        Rogue::ReuseReqId => {
            for _ in 0..2 {
                let _ = ws
                    .send(Message::text(
                        r#"{"cmd":"get_timestamp","headers":{"req_id":"fixed"}}"#,
                    ))
                    .await;
            }
        }
        Rogue::UnknownAck => {
            let _ = ws
                .send(Message::text(
                    r#"{"headers":{"req_id":"push-never-sent"},"errcode":0,"errmsg":"ok"}"#,
                ))
                .await;
            let _ = ws.send(Message::text(REGISTER)).await;
        }
        Rogue::Huge => {
            // Written while the harness's close is read, as a big write cannot finish.
            let (mut sink, mut stream) = ws.split();
            tokio::spawn(async move { sink.send(Message::text("x".repeat(16 << 20))).await });
            while let Some(Ok(msg)) = tokio::time::timeout(Duration::from_secs(8), stream.next())
                .await
                .ok()
                .flatten()
            {
                if let Message::Close(Some(frame)) = msg {
                    closed.store(u16::from(frame.code), std::sync::atomic::Ordering::SeqCst);
                }
            }
            return;
        }
        Rogue::Drip => {
            for b in raw_masked_text_frame(REGISTER) {
                if ws.get_mut().write_all(&[b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    while let Some(Ok(_)) = tokio::time::timeout(Duration::from_secs(8), ws.next())
        .await
        .ok()
        .flatten()
    {}
}

/// The hostile-device matrix of the guide (docs/src/reference/hostile-targets.md): each case fails with its
/// reason within a bound of wall time (the scenario waits 3 s for the link, 2 s for `register`).
#[rstest::rstest]
#[case::garbage(Rogue::Garbage, "D1")]
#[case::binary_garbage(
    Rogue::BinaryGarbage,
    "D3: [a] binary frame of 4 bytes is not a well-formed upload_log"
)]
#[case::silent(Rogue::Silent, "no `register`")]
#[case::close(Rogue::Close, "closed")]
#[case::reused_req_id(Rogue::ReuseReqId, "D2")]
#[case::ping_flood(Rogue::PingFlood, "D7: [a] `ping` before `register`")]
#[case::huge(Rogue::Huge, "over the 4 MiB limit")]
#[case::slow_drip(Rogue::Drip, "no `register` from the device within 2s")]
#[case::handshake_close(Rogue::HandshakeClose, "failed the WebSocket handshake")]
#[case::unknown_ack(
    Rogue::UnknownAck,
    "D1: [a] a frame without `cmd` that acknowledges no push"
)]
fn a_misbehaving_device_gets_a_failure_with_the_reason(#[case] mode: Rogue, #[case] reason: &str) {
    let dir = temp_dir(&format!("{mode:?}"));
    let scenarios = register_scenario(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let closed = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(0));
    let device = rt.spawn(rogue_device(addr, mode, closed.clone()));
    let started = Instant::now();
    let results = run_library(
        &scenarios,
        RunConfig {
            device: Some(DeviceChoice::Listen { addr }.build()),
            ..hwconform::targets::defaults()
        },
    );
    let took = started.elapsed();
    let verdict = results[0].verdict.clone();
    // 3 s for the link, 2 s for `register`, the 2 s wait for the echo of the harness's close,
    // and a margin: never the rogue's 8 s.
    assert!(
        took < Duration::from_secs(7),
        "{mode:?}: took {took:?}: {verdict:?}"
    );
    assert_eq!(verdict.name(), "fail", "{mode:?}: {verdict:?}");
    assert!(
        message(&verdict).contains(reason),
        "{mode:?}: {}",
        message(&verdict)
    );
    if let Rogue::Huge = mode {
        // RFC 6455 §7.4.1: the device heard why.
        let heard = Instant::now() + Duration::from_secs(2);
        while closed.load(std::sync::atomic::Ordering::SeqCst) == 0 && Instant::now() < heard {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(closed.load(std::sync::atomic::Ordering::SeqCst), 1009);
    }
    device.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_listen_port_in_use_is_an_error_not_a_device_failure() {
    let dir = temp_dir("inuse");
    let scenarios = register_scenario(&dir);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let verdict = only_verdict(
        &scenarios,
        DeviceChoice::Listen {
            addr: taken.local_addr().unwrap(),
        },
    );
    assert_eq!(verdict.name(), "error", "{verdict:?}");
    assert!(
        message(&verdict).contains("cannot listen"),
        "{}",
        message(&verdict)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real device keeps its cached secret from one scenario to the next: on each new link it
/// registers and goes straight to subscribe_corp (a MAY of D10).
async fn cached_secret_device(addr: std::net::SocketAddr, links: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    for link in 0..links {
        let Some(mut ws) = connect_retrying(addr, deadline).await else {
            return;
        };
        let _ = ws
            .send(Message::text(format!(
                r#"{{"cmd":"register","headers":{{"req_id":"r{link}"}},"body":{{}}}}"#
            )))
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(3), ws.next()).await;
        let _ = ws.send(Message::text(format!(r#"{{"cmd":"subscribe_corp","headers":{{"req_id":"s{link}"}},"body":{{"secret":"cached","firmware_version":"1"}}}}"#))).await;
        while let Some(Ok(_)) = tokio::time::timeout(Duration::from_secs(8), ws.next())
            .await
            .ok()
            .flatten()
        {}
    }
}

/// With `listen:` the second scenario's failed preamble says the device may have carried
/// state over, and how to rule that out; the first scenario's does not.
#[test]
fn an_inconclusive_preamble_after_an_earlier_scenario_points_to_device_reset() {
    let dir = temp_dir("carried");
    let text = |id: &str| {
        format!("id: x.{id}\ntitle: t\nrequirements: [D9]\nrole: cloud\nsteps:\n  - accept: {{ within: 5s }}\n  - receive: {{ cmd: register, within: 2s }}\n  - reply: {{}}\n  - receive: {{ cmd: active, within: 2s }}\n  - purpose: the device activates\n")
    };
    std::fs::write(dir.join("a.yaml"), text("first")).unwrap();
    std::fs::write(dir.join("b.yaml"), text("second")).unwrap();
    let scenarios = load_paths(std::slice::from_ref(&dir)).unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let device = rt.spawn(cached_secret_device(addr, 2));
    let results = run_library(
        &scenarios,
        RunConfig {
            device: Some(DeviceChoice::Listen { addr }.build()),
            ..hwconform::targets::defaults()
        },
    );
    device.abort();
    let reasons: Vec<(String, String)> = results
        .iter()
        .map(|r| {
            (
                r.verdict.name().to_string(),
                r.verdict
                    .failure()
                    .map(|f| f.message.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(reasons[0].0, "inconclusive", "{reasons:?}");
    assert_eq!(reasons[1].0, "inconclusive", "{reasons:?}");
    assert!(!reasons[0].1.contains("--device-reset"), "{reasons:?}");
    assert!(
        reasons[1].1.contains("give `--device-reset CMD`"),
        "{reasons:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
