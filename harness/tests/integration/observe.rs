//! `hwconform observe` between the mock cloud and the reference device, on loopback: the
//! observer is the real binary (stopped by SIGINT or --duration, as a lab stops it), the
//! mock and the device run in this process. Every wait is bounded; every process and task
//! started here is stopped.

use hwconform::profile::{DeviceIdentity, Fleet};
use hwconform::targets::mock::{self, corp::CorpSeed, MockConfig};
use hwconform::targets::sim::{self, SimConfig, SimFault};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_hwconform");
const SN: &str = "HWC-TEST-0001";
const SECRET_NO: &str = "hwc-secretno-0001";

/// A corp with two pages of members (the reference device pulls 100 a page), so the device
/// sends `get_userinfo_by_page` twice within its first second: a fixed req_id shows at once.
fn two_page_corp() -> CorpSeed {
    let mut corp = CorpSeed::default_corp();
    let model = corp.users[0].clone();
    for i in 0..150 {
        let mut u = model.clone();
        u.userid = format!("member{i:03}");
        corp.users.push(u);
    }
    corp
}

async fn start_mock(corp: CorpSeed) -> (String, tokio::task::JoinHandle<()>) {
    start_mock_with(MockConfig {
        fleet: Fleet::default_fleet(),
        corp,
        ..MockConfig::default()
    })
    .await
}

async fn start_mock_with(config: MockConfig) -> (String, tokio::task::JoinHandle<()>) {
    let (addr, handle) = mock::listen(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (format!("ws://{addr}"), handle)
}

/// The observer binary, with its URL (the first line it prints) and the rest of what it
/// prints (the live findings, the summary), whole once it has exited.
async fn start_observe(
    upstream: &str,
    reports: &Path,
    extra: &[&str],
) -> (Child, String, tokio::task::JoinHandle<Vec<String>>) {
    let mut child = Command::new(BIN)
        .args(["observe", "--listen", "127.0.0.1:0", "--upstream", upstream])
        .arg("--reports")
        .arg(reports)
        .args(extra)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("observe printed its URL in time")
        .unwrap()
        .expect("a first line");
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
    // The rest of stdout (live findings, the summary) is drained so the pipe never fills.
    let rest = tokio::spawn(async move {
        let mut rest = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push(line);
        }
        rest
    });
    (child, url, rest)
}

fn device(url: String, faults: &[SimFault]) -> tokio::task::JoinHandle<()> {
    let mut config = SimConfig::new(DeviceIdentity::new(SN.to_string(), SECRET_NO.to_string()));
    config.faults = faults.iter().copied().collect();
    tokio::spawn(async move {
        let _ = sim::run_standalone(&url, config).await;
    })
}

/// Waits (bounded) for the observer to exit; its exit code.
async fn exit_of(mut child: Child) -> i32 {
    match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
        Ok(status) => status.unwrap().code().expect("exited, not killed"),
        Err(_) => {
            let _ = child.kill().await;
            panic!("observe did not exit within 30 s of being stopped");
        }
    }
}

fn sigint(child: &Child) {
    let pid = child.id().expect("running") as i32;
    // SAFETY: a plain kill(2) on the child this test started.
    unsafe { libc::kill(pid, libc::SIGINT) };
}

fn run_json(dir: &Path) -> (Value, String) {
    let text = std::fs::read_to_string(dir.join("run.json")).unwrap();
    (serde_json::from_str(&text).unwrap(), text)
}

/// The matrix rows with this status.
fn with_status(run: &Value, status: &str) -> Vec<String> {
    run["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == status)
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn scenario<'a>(run: &'a Value, suffix: &str) -> &'a Value {
    run["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no result ending {suffix}: {run:#}"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hwconform-observe-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Observes a device for `for_` and stops the observer with SIGINT; the run.json. What the
/// observer printed after its URL is kept beside the reports ([`printed`]).
async fn observe_device(
    name: &str,
    faults: &[SimFault],
    for_: Duration,
    corp: CorpSeed,
    extra: &[&str],
) -> (Value, String, i32, PathBuf) {
    let reports = temp_dir(name);
    let (upstream, mock) = start_mock(corp).await;
    let (observer, url, rest) = start_observe(&upstream, &reports, extra).await;
    let dev = device(url, faults);
    tokio::time::sleep(for_).await;
    sigint(&observer);
    let code = exit_of(observer).await;
    dev.abort();
    mock.abort();
    let rest = tokio::time::timeout(Duration::from_secs(10), rest)
        .await
        .expect("stdout closed with the observer")
        .unwrap();
    std::fs::write(reports.with_extension("stdout"), rest.join("\n")).unwrap();
    let (run, text) = run_json(&reports);
    (run, text, code, reports)
}

/// The lines the observer of [`observe_device`] printed after its URL.
fn printed(reports: &Path) -> Vec<String> {
    std::fs::read_to_string(reports.with_extension("stdout"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_reusing_req_ids_fails_d2_alone_with_the_frames_as_evidence() {
    let (run, text, code, reports) = observe_device(
        "reuse",
        &[SimFault::ReuseReqId],
        Duration::from_secs(3),
        two_page_corp(),
        &[],
    )
    .await;
    assert_eq!(code, 1, "a failed obligation: exit 1");
    assert_eq!(
        with_status(&run, "fail"),
        ["D2"],
        "{:#}",
        run["requirements"]
    );
    let device = scenario(&run, ".device");
    assert_eq!(device["id"], format!("observe.001.{SN}.device"));
    assert_eq!(device["verdict"], "fail");
    let finding = &device["findings"][0];
    assert_eq!(finding["rule"], "D2");
    assert!(
        finding["message"].as_str().unwrap().contains("lb_"),
        "names the reused req_id: {finding}"
    );
    // Said live too, as it happened: the device's SN, its link, the party, the rule.
    let live = format!(
        "{SN} (link 1): device D2 fail: {}",
        finding["message"].as_str().unwrap()
    );
    let printed = printed(&reports);
    assert!(printed.contains(&live), "{live:?} not in {printed:#?}");
    // The evidence: the device's frames carrying the reused req_id, in its transcript.
    let reused = device["transcript"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["event"] == "received"
                && e["frame"]["json"]["headers"]["req_id"] == "lb_get_userinfo_by_page"
        })
        .count();
    assert!(reused >= 2, "{reused} frames with the reused req_id");
    // The cloud was judged too, and held.
    let cloud = scenario(&run, ".cloud");
    assert_eq!(cloud["verdict"], "pass", "{cloud:#}");
    // No credential in any report.
    for file in ["run.json", "report.html", "junit.xml", "requirements.csv"] {
        let body = std::fs::read_to_string(reports.join(file)).unwrap();
        assert!(!body.contains(SECRET_NO), "{file} holds the SecretNo");
    }
    assert!(
        text.contains("\"secret\": \"<redacted>\""),
        "the issued secret is redacted"
    );

    // Judged again from the file alone: the same verdicts.
    let out = std::process::Command::new(BIN)
        .args(["rejudge", "--golden", "off"])
        .arg(reports.join("run.json"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(": 0 changed"), "{stdout}");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let _ = std::fs::remove_dir_all(&reports);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conformant_device_and_cloud_fail_nothing() {
    let (run, _, code, reports) = observe_device(
        "conformant",
        &[],
        Duration::from_secs(3),
        two_page_corp(),
        &[],
    )
    .await;
    assert_eq!(with_status(&run, "fail"), Vec::<String>::new());
    assert_eq!(code, 0, "{:#}", run["summary"]);
    // Nothing failed live either.
    let printed = printed(&reports);
    assert!(
        !printed.iter().any(|l| l.contains(" fail: ")),
        "{printed:#?}"
    );
    // Both parties were judged on what they said: the per-frame rules passed.
    let passed = with_status(&run, "pass");
    for id in ["D1", "D2", "C1", "C2"] {
        assert!(
            passed.contains(&id.to_string()),
            "{id} not passed: {passed:?}"
        );
    }
    // Not re-sent, not judged: C9 is not claimed.
    assert!(!passed.contains(&"C9".to_string()), "{passed:?}");
    // The observer's stop closed both links cleanly.
    for suffix in [".device", ".cloud"] {
        let entries = scenario(&run, suffix)["transcript"]["entries"]
            .as_array()
            .unwrap()
            .clone();
        assert!(
            entries
                .iter()
                .any(|e| e["event"] == "closed" && e["code"] == 1001 && e["by"] == "harness"),
            "{suffix}: {entries:#?}"
        );
    }
    let _ = std::fs::remove_dir_all(&reports);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_conversation_loads_and_replays_against_the_same_device() {
    let recorded = temp_dir("recorded");
    let (_, _, code, reports) = observe_device(
        "record",
        &[],
        Duration::from_secs(2),
        CorpSeed::default_corp(),
        &["--record", recorded.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 0);
    let _ = std::fs::remove_dir_all(&reports);
    // The recorded scenario loads, and replays the cloud's side to the same device: it passes.
    let file = recorded.join(format!("recorded.001.{SN}.yaml"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("role: cloud") && text.contains("receive: { cmd: \"register\""),
        "{text}"
    );
    assert!(!text.contains(SECRET_NO), "{text}");
    let replay = temp_dir("replay");
    let out = std::process::Command::new(BIN)
        .arg("run")
        .arg(&file)
        .args(["--device", "sim", "--report", "json", "--reports"])
        .arg(&replay)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let validated = std::process::Command::new(BIN)
        .arg("validate")
        .arg(&recorded)
        .output()
        .unwrap();
    assert_eq!(validated.status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&recorded);
    let _ = std::fs::remove_dir_all(&replay);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_register_reply_is_resent_and_the_cloud_answers_600012() {
    let reports = temp_dir("drop");
    let (upstream, mock) = start_mock(two_page_corp()).await;
    // The reference device re-sends after 5-10 s without a reply (D13).
    let (observer, url, _) = start_observe(
        &upstream,
        &reports,
        &[
            "--fault",
            "drop:to-device:reply=register",
            "--duration",
            "13s",
        ],
    )
    .await;
    let dev = device(url, &[]);
    let code = exit_of(observer).await;
    dev.abort();
    mock.abort();
    let (run, _) = run_json(&reports);
    assert_eq!(
        with_status(&run, "fail"),
        Vec::<String>::new(),
        "{:#}",
        run["requirements"]
    );
    assert_eq!(code, 0);
    let c9 = run["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "C9")
        .unwrap();
    assert_eq!(c9["status"], "pass", "{c9:#}");
    let cloud = scenario(&run, ".cloud");
    assert_eq!(cloud["obligations"]["C9"], "pass");
    let entries = |s: &Value| s["transcript"]["entries"].as_array().unwrap().clone();
    // The cloud answered the first register, and the re-sent one with 600012.
    let answers: Vec<Value> = entries(cloud)
        .iter()
        .filter(|e| e["event"] == "received" && e["frame"]["json"]["errcode"].is_i64())
        .map(|e| e["frame"]["json"]["errcode"].clone())
        .take(2)
        .collect();
    assert_eq!(answers, [0, 600012], "{:#?}", entries(cloud));
    // The device never saw the first answer: its view has the fault, not the frame.
    let device = scenario(&run, ".device");
    let seen: Vec<Value> = entries(device)
        .iter()
        .filter(|e| e["event"] == "sent" && e["frame"]["json"]["errcode"].is_i64())
        .map(|e| e["frame"]["json"]["errcode"].clone())
        .take(1)
        .collect();
    assert_eq!(seen, [600012]);
    assert!(entries(device).iter().any(|e| e["event"] == "note"
        && e["text"]
            .as_str()
            .unwrap()
            .starts_with("observe fault drop:to-device:reply=register: dropped")));
    let _ = std::fs::remove_dir_all(&reports);
}

/// A device cannot be moved off loopback without an address to move it to: refused at
/// start, not found out at the first move.
#[test]
fn a_new_address_fault_off_loopback_needs_a_source_address() {
    let reports = temp_dir("moved-usage");
    let run = |extra: &[&str]| {
        std::process::Command::new(BIN)
            .args([
                "observe",
                "--upstream",
                "ws://192.0.2.1:9",
                "--duration",
                "0s",
            ])
            .args(["--fault", "new-address:to-cloud:cmd=ping"])
            .args(extra)
            .arg("--reports")
            .arg(&reports)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs --source-address"), "{err}");
    let out = run(&["--source-address", "127.0.0.9"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&reports);
}

#[test]
fn a_bad_fault_is_a_usage_error_that_says_what_was_expected() {
    let out = std::process::Command::new(BIN)
        .args([
            "observe",
            "--upstream",
            "ws://127.0.0.1:9",
            "--fault",
            "drop:sideways:any",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown direction \"sideways\""), "{err}");
    assert!(err.contains("expected ACTION:DIRECTION:PATTERN"), "{err}");
}

/// The forwarding rate on loopback, for the guide: a device sends `FRAMES` small requests
/// as fast as the link takes them, an echoing upstream sends each back, and the device reads
/// them all; both directions go through the observer with its monitors and recorders.
/// `cargo test --release --test observe -- --ignored --nocapture forwarding_rate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn forwarding_rate_on_loopback() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    const FRAMES: usize = 20_000;
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    let echo_task = tokio::spawn(async move {
        let (tcp, _) = echo.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let (mut tx, mut rx) = ws.split();
        while let Some(Ok(m)) = rx.next().await {
            if m.is_text() && tx.send(m).await.is_err() {
                break;
            }
        }
    });
    let (url, stop_tx, serving) = observer(&format!("ws://{echo_addr}"), &[], None);
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let (mut tx, mut rx) = ws.split();
    let started = std::time::Instant::now();
    let sender = tokio::spawn(async move {
        for i in 0..FRAMES {
            let frame = format!(r#"{{"cmd":"ping","headers":{{"req_id":"p{i}"}}}}"#);
            tx.send(Message::text(frame)).await.unwrap();
        }
        tx
    });
    let mut got = 0;
    while got < FRAMES {
        match tokio::time::timeout(Duration::from_secs(60), rx.next()).await {
            Ok(Some(Ok(m))) if m.is_text() => got += 1,
            Ok(Some(Ok(_))) => {}
            other => panic!("after {got} frames: {other:?}"),
        }
    }
    let took = started.elapsed();
    let _tx = sender.await.unwrap();
    let _ = stop_tx.send(());
    let observed = tokio::time::timeout(Duration::from_secs(20), serving)
        .await
        .unwrap()
        .unwrap();
    echo_task.abort();
    assert_eq!(observed.forwarded, 2 * FRAMES as u64);
    println!(
        "{} frames forwarded in {:.2} s: {:.0} frames/s",
        2 * FRAMES,
        took.as_secs_f64(),
        (2 * FRAMES) as f64 / took.as_secs_f64()
    );
}

/// An in-process observer in front of an upstream that records the text frames it gets, for
/// the faults' own semantics; the device side is a bare WebSocket client.
async fn in_process(
    fault: &str,
) -> (
    DeviceWs,
    tokio::sync::mpsc::UnboundedReceiver<(std::time::Instant, String)>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<hwconform::observe::Observed>,
) {
    in_process_with(&[fault], None).await
}

type DeviceWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// [`in_process`] with several faults, and TLS on the device side when `tls` is given (the
/// device then trusts the certificate DER given with it).
async fn in_process_with(
    faults: &[&str],
    tls: Option<(hwconform::observe::ListenTls, Vec<u8>)>,
) -> (
    DeviceWs,
    tokio::sync::mpsc::UnboundedReceiver<(std::time::Instant, String)>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<hwconform::observe::Observed>,
) {
    use futures_util::StreamExt;
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_addr = upstream.local_addr().unwrap();
    let (seen_tx, seen) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (tcp, _) = upstream.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        while let Some(Ok(m)) = ws.next().await {
            if let Ok(t) = m.to_text() {
                if m.is_text() {
                    let _ = seen_tx.send((std::time::Instant::now(), t.to_string()));
                }
            }
        }
        let _ = seen_tx.send((std::time::Instant::now(), "<end>".into()));
    });
    let (trust, tls) = match tls {
        Some((tls, der)) => (Some(der), Some(tls)),
        None => (None, None),
    };
    let (url, stop_tx, serving) = observer(&format!("ws://{up_addr}"), faults, tls);
    let ws = match trust {
        None => tokio_tungstenite::connect_async(url).await.unwrap().0,
        Some(der) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(der.into()).unwrap();
            let client = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
            let url = url.replace("127.0.0.1", "localhost");
            tokio_tungstenite::connect_async_tls_with_config(
                url,
                None,
                false,
                Some(tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(
                    client,
                ))),
            )
            .await
            .unwrap()
            .0
        }
    };
    (ws, seen, stop_tx, serving)
}

/// An in-process observer in front of `upstream` with `faults`; its URL, its stop, and its
/// task.
fn observer(
    upstream: &str,
    faults: &[&str],
    tls: Option<hwconform::observe::ListenTls>,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<hwconform::observe::Observed>,
) {
    use hwconform::observe::{ObserveConfig, Observer};
    use hwconform::wire::transport::Endpoint;
    let config = ObserveConfig {
        upstream: Endpoint::parse(upstream).unwrap(),
        insecure: false,
        sources: Vec::new(),
        tls,
        faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
        on_finding: hwconform::observe::OnFinding::ignored(),
    };
    let observer = Observer::bind(
        "127.0.0.1:0".parse().unwrap(),
        config,
        hwconform::profile::default_profile(),
    )
    .unwrap();
    let url = observer.url().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(observer.run(async {
        let _ = stop_rx.await;
    }));
    (url, stop_tx, serving)
}

fn request(cmd: &str, id: &str) -> tokio_tungstenite::tungstenite::Message {
    tokio_tungstenite::tungstenite::Message::text(format!(
        r#"{{"cmd":"{cmd}","headers":{{"req_id":"{id}"}}}}"#
    ))
}

async fn next_seen(
    seen: &mut tokio::sync::mpsc::UnboundedReceiver<(std::time::Instant, String)>,
) -> (std::time::Instant, String) {
    tokio::time::timeout(Duration::from_secs(10), seen.recv())
        .await
        .expect("the upstream got a frame in time")
        .expect("the upstream is up")
}

/// `dup` delivers the frame twice, `delay` holds it (and what follows it) in order, `reset`
/// ends both links without a close; the frames a fault does not take pass unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dup_delay_and_reset_do_what_they_say_to_the_frame_they_take() {
    use futures_util::{SinkExt, StreamExt};
    // dup
    let (mut ws, mut seen, stop, serving) = in_process("dup:to-cloud:cmd=b").await;
    for (cmd, id) in [("a", "1"), ("b", "2"), ("b", "3")] {
        ws.send(request(cmd, id)).await.unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(next_seen(&mut seen).await.1);
    }
    let ids: Vec<&str> = got.iter().map(|t| &t[t.len() - 5..t.len() - 3]).collect();
    assert_eq!(ids, ["\"1", "\"2", "\"2", "\"3"], "{got:?}");
    assert_eq!(got[0], request("a", "1").to_text().unwrap(), "unchanged");
    let _ = stop.send(());
    let observed = serving.await.unwrap();
    assert_eq!(observed.forwarded, 4);
    drop(ws);

    // delay: the held frame and the one behind it arrive late, in order
    let (mut ws, mut seen, stop, serving) = in_process("delay:to-cloud:cmd=a:400ms").await;
    let sent = std::time::Instant::now();
    ws.send(request("a", "1")).await.unwrap();
    ws.send(request("b", "2")).await.unwrap();
    let (first, text) = next_seen(&mut seen).await;
    assert!(text.contains("\"1\""), "{text}");
    assert!(
        first - sent >= Duration::from_millis(400),
        "{:?}",
        first - sent
    );
    assert!(next_seen(&mut seen).await.1.contains("\"2\""));
    let _ = stop.send(());
    serving.await.unwrap();
    drop(ws);

    // reset: the frame never arrives, and both links end without a close
    let (mut ws, mut seen, stop, serving) = in_process("reset:to-cloud:cmd=b").await;
    ws.send(request("a", "1")).await.unwrap();
    assert!(next_seen(&mut seen).await.1.contains("\"1\""));
    ws.send(request("b", "2")).await.unwrap();
    assert_eq!(
        next_seen(&mut seen).await.1,
        "<end>",
        "the upstream's link ended"
    );
    let end = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("the device's link ended in time");
    assert!(
        !matches!(
            end,
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))
        ),
        "a reset, not a close: {end:?}"
    );
    let _ = stop.send(());
    let observed = serving.await.unwrap();
    let device = observed
        .results
        .iter()
        .find(|r| r.id.ends_with(".device"))
        .unwrap();
    let text = serde_json::to_string(&device.transcript).unwrap();
    assert!(
        text.contains("observe fault reset:to-cloud:cmd=b: reset"),
        "{text}"
    );
}

/// `@2` takes the first two matching frames of the connection, `@every` all of them; the
/// frames a fault does not match pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_with_a_count_takes_that_many_frames_and_every_takes_all() {
    use futures_util::SinkExt;
    for (fault, passed) in [
        ("drop:to-cloud:cmd=b@2", vec!["\"3\"", "\"4\""]),
        ("drop:to-cloud:cmd=b", vec!["\"2\"", "\"3\"", "\"4\""]),
        ("drop:to-cloud:cmd=b@every", vec!["\"4\""]),
    ] {
        let (mut ws, mut seen, stop, serving) = in_process(fault).await;
        for (cmd, id) in [("b", "1"), ("b", "2"), ("b", "3"), ("a", "4")] {
            ws.send(request(cmd, id)).await.unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..passed.len() {
            got.push(next_seen(&mut seen).await.1);
        }
        for (text, id) in got.iter().zip(&passed) {
            assert!(text.contains(id), "{fault}: {got:?}");
        }
        let _ = stop.send(());
        let observed = serving.await.unwrap();
        assert_eq!(observed.forwarded, passed.len() as u64, "{fault}");
        drop(ws);
    }
}

/// `half-open`: nothing more reaches the cloud and the device is no longer read, yet no link
/// is closed, as behind a dead NAT; the cloud finds the link silent, releases it at its
/// heartbeat expiry (C8), and its close still reaches the device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_link_is_left_to_the_cloud_to_detect() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut timings = MockConfig::default().timings;
    timings.heartbeat_timeout = Duration::from_secs(2);
    let (upstream, mock) = start_mock_with(MockConfig {
        fleet: Fleet::default_fleet(),
        timings,
        ..MockConfig::default()
    })
    .await;
    let (url, stop, serving) = observer(&upstream, &["half-open:to-cloud:cmd=ping"], None);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // A request before the link is half-open is answered.
    ws.send(request("no_such_command", "1")).await.unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("an answer in time");
    assert!(
        matches!(answered, Some(Ok(Message::Text(_)))),
        "{answered:?}"
    );
    let since = std::time::Instant::now();
    ws.send(request("ping", "2")).await.unwrap();
    ws.send(request("no_such_command", "3")).await.unwrap();
    // Nothing for the device until the cloud gives up on the silent link.
    let end = tokio::time::timeout(Duration::from_secs(15), ws.next())
        .await
        .expect("the cloud released the link in time");
    let waited = since.elapsed();
    match end {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4000),
        other => panic!("the cloud's close, forwarded: {other:?}"),
    }
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
    let _ = stop.send(());
    let observed = tokio::time::timeout(Duration::from_secs(30), serving)
        .await
        .unwrap()
        .unwrap();
    mock.abort();
    let cloud = observed
        .results
        .iter()
        .find(|r| r.id.ends_with(".cloud"))
        .unwrap();
    let text = serde_json::to_string(&cloud.transcript).unwrap();
    assert!(
        text.contains("half-open: nothing more goes to-cloud"),
        "{text}"
    );
    assert!(
        !text.contains("\"req_id\":\"2\""),
        "the ping never reached the cloud: {text}"
    );
    assert!(
        !text.contains("\"req_id\":\"3\""),
        "nor what came after: {text}"
    );
    // The device here is a bare client (it never registers): the cloud is what is judged.
    for r in observed.results.iter().filter(|r| r.id.ends_with(".cloud")) {
        assert!(
            r.findings
                .iter()
                .all(|f| f.severity != hwconform::engine::Severity::Fail),
            "{}: {:?}",
            r.id,
            r.findings
        );
    }
}

/// `new-address`: the device's link is reset while the cloud's is kept open and silent, and
/// the device reconnects through the observer, which reaches the cloud from 127.0.0.2. The
/// cloud must refuse the `register` of an SN live on another address with 600002 (C10):
/// judged pass against the mock, and fail against a mock that does not bind an SN to its
/// link (the mutant), with C10 the one failed obligation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_moving_to_another_address_gets_600002_judged_by_c10() {
    for binds in [true, false] {
        let reports = temp_dir(if binds { "moved" } else { "moved-mutant" });
        let mut config = MockConfig {
            fleet: Fleet::default_fleet(),
            ..MockConfig::default()
        };
        if !binds {
            config.disabled_rules.insert(mock::MockRule::NoSnBinding);
        }
        let (upstream, mock) = start_mock_with(config).await;
        let (observer, url, _) = start_observe(
            &upstream,
            &reports,
            &[
                "--fault",
                "new-address:to-cloud:cmd=subscribe_corp",
                "--duration",
                "8s",
            ],
        )
        .await;
        let dev = device(url, &[]);
        let code = exit_of(observer).await;
        dev.abort();
        mock.abort();
        let (run, _) = run_json(&reports);
        let c10: Vec<(String, Value)> = run["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| {
                let o = &s["obligations"]["C10"];
                (!o.is_null()).then(|| (s["id"].as_str().unwrap().to_string(), o.clone()))
            })
            .collect();
        // The device moves on every connection (the fault is per connection): each link
        // after a move is judged; against the mock the first one gets 600002 and the device
        // stays away (D20), so there is one.
        assert!(!c10.is_empty(), "C10 judged after the move: {run:#}");
        assert!(
            c10.iter()
                .all(|(id, _)| id.ends_with(".cloud") && !id.starts_with("observe.001.")),
            "{c10:?}"
        );
        if binds {
            assert_eq!(c10.len(), 1, "{c10:?}");
            assert_eq!(c10[0].1, "pass", "{c10:?}");
            assert_eq!(with_status(&run, "fail"), Vec::<String>::new());
            assert_eq!(code, 0);
        } else {
            assert!(c10.iter().all(|(_, o)| o == "fail"), "{c10:?}");
            assert_eq!(with_status(&run, "fail"), ["C10"]);
        }
        // The second link reached the cloud from the device's new address.
        let second = run["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == c10[0].0.as_str())
            .unwrap();
        let opened = second["transcript"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event"] == "opened")
            .cloned()
            .unwrap_or_default();
        assert!(
            opened["local"]
                .as_str()
                .unwrap_or("")
                .starts_with("127.0.0.2:"),
            "{opened}"
        );
        // Judged again from the file alone: the observer's own C10 verdict stays.
        let out = std::process::Command::new(BIN)
            .args(["rejudge", "--golden", "off"])
            .arg(reports.join("run.json"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(": 0 changed"), "{stdout}");
        let _ = std::fs::remove_dir_all(&reports);
    }
}

/// `wss://` on the device side with a lab certificate: the device's TLS handshake, then
/// frames forwarded as on `ws://`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_connects_with_tls_under_a_lab_certificate() {
    use futures_util::SinkExt;
    let dir = temp_dir("wss");
    std::fs::create_dir_all(&dir).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_pem, key_pem) = (dir.join("lab.crt"), dir.join("lab.key"));
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.key_pair.serialize_pem()).unwrap();
    let tls = hwconform::observe::ListenTls::from_pem(&cert_pem, &key_pem).unwrap();
    let (mut ws, mut seen, stop, serving) =
        in_process_with(&[], Some((tls, cert.cert.der().to_vec()))).await;
    ws.send(request("a", "1")).await.unwrap();
    assert!(next_seen(&mut seen).await.1.contains("\"1\""));
    let _ = stop.send(());
    assert_eq!(serving.await.unwrap().forwarded, 1);
    // A key that is no key is refused, naming the file.
    std::fs::write(&key_pem, "not a key").unwrap();
    let e = hwconform::observe::ListenTls::from_pem(&cert_pem, &key_pem)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("lab.key"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The reference device observed in process with each view's transcript capped at `cap`
/// entries; the results, and the notices said live.
async fn observed_with_cap(
    cap: usize,
) -> (Vec<hwconform::engine::verdict::ScenarioResult>, Vec<String>) {
    use hwconform::engine::event::{RunClock, RunEvent};
    use hwconform::observe::{ObserveConfig, Observer, OnFinding};
    use hwconform::wire::transport::Endpoint;
    let (upstream, mock) = start_mock(CorpSeed::default_corp()).await;
    let notices = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let said = notices.clone();
    let config = ObserveConfig {
        upstream: Endpoint::parse(&upstream).unwrap(),
        insecure: false,
        sources: Vec::new(),
        tls: None,
        faults: Vec::new(),
        on_finding: OnFinding::new(RunClock::start(), move |e| {
            if let RunEvent::Notice { text } = e.kind {
                said.lock().unwrap().push(text);
            }
        }),
    };
    let observer = Observer::bind(
        "127.0.0.1:0".parse().unwrap(),
        config,
        hwconform::profile::default_profile(),
    )
    .unwrap()
    .with_transcript_cap(cap);
    let url = observer.url().unwrap();
    let run = tokio::spawn(observer.run(tokio::time::sleep(Duration::from_secs(3))));
    let dev = device(url, &[]);
    let observed = tokio::time::timeout(Duration::from_secs(40), run)
        .await
        .expect("the observer stops within its bound")
        .unwrap();
    dev.abort();
    mock.abort();
    let notices = notices.lock().unwrap().clone();
    (observed.results, notices)
}

/// Past its transcript cap a link is still forwarded, but its monitors would see only part
/// of the conversation: both its results are inconclusive, naming the cap, the live output
/// says so once, and `rejudge` keeps them as recorded. Under the cap the same link passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_past_its_transcript_cap_is_inconclusive_not_passed() {
    use hwconform::engine::verdict::Verdict;
    let (results, notices) = observed_with_cap(8).await;
    let links: Vec<_> = results
        .iter()
        .filter(|r| r.id.starts_with("observe.001."))
        .collect();
    assert_eq!(
        links.len(),
        2,
        "{:?}",
        results.iter().map(|r| &r.id).collect::<Vec<_>>()
    );
    for r in &links {
        match &r.verdict {
            Verdict::Inconclusive(f) => assert!(
                f.message.contains("transcript cap (8 entries)")
                    && f.message.contains("not judged"),
                "{}",
                f.message
            ),
            other => panic!("{}: {other:?}", r.id),
        }
        assert!(r.judged.is_none(), "{}: kept as recorded", r.id);
        assert!(
            r.obligations
                .values()
                .all(|o| *o != hwconform::engine::verdict::Outcome::Pass),
            "{}: {:?}",
            r.id,
            r.obligations
        );
        let note = r.transcript.entries.last().unwrap();
        assert!(
            format!("{:?}", note.event).contains("(transcript cap 8)"),
            "{:?}",
            note.event
        );
    }
    let about_link: Vec<_> = notices.iter().filter(|n| n.contains("(link 1)")).collect();
    assert_eq!(about_link.len(), 1, "{notices:?}");
    assert!(
        about_link[0].contains("transcript cap (8 entries)"),
        "{notices:?}"
    );

    // The variant: under the cap, the same conversation is judged and passes.
    let (results, notices) = observed_with_cap(hwconform::engine::recorder::MAX_ENTRIES).await;
    assert!(notices.is_empty(), "{notices:?}");
    let links: Vec<_> = results
        .iter()
        .filter(|r| r.id.starts_with("observe.001."))
        .collect();
    assert_eq!(links.len(), 2);
    for r in links {
        assert_eq!(r.verdict, Verdict::Pass, "{}", r.id);
        assert!(r.judged.is_some(), "{}", r.id);
    }
}
