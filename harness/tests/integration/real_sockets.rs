//! Over real sockets: the standalone mock as a process runs the whole cloud library (IP
//! changes from 127.x.0.2 to 127.x.0.3 included), and clouds that misbehave get fail/error
//! verdicts with reasons within bounded time.

use crate::common::{library, repo, run_library};
use futures_util::{SinkExt, StreamExt};
use hwconform::engine::runner::RunConfig;
use hwconform::engine::Verdict;
use hwconform::scenario::model::Capability;
use hwconform::targets::CloudChoice;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// A child process that is killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The control token the tests' standalone mocks are started with.
const TOKEN: &str = "test-control-token-0123456789";

fn start_mock(extra: &[&str]) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .args(["mock", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("HWCONFORM_CONTROL_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the mock starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the mock prints its URL");
    let url = line.trim().to_string();
    assert!(
        url.starts_with("ws://127.0.0.1:"),
        "first line is the URL, got {url:?}"
    );
    (Killed(child), url)
}

/// Runs the whole cloud library against `url` as a user would; the exit code, the run report
/// and the terminal output.
fn run_cloud_library(
    url: &str,
    name: &str,
    extra: &[&str],
) -> (Option<i32>, serde_json::Value, String) {
    let reports = std::env::temp_dir().join(format!("hwconform-e2e-{name}-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(repo())
        .args([
            "run",
            "scenarios/cloud",
            "--cloud",
            url,
            "--jobs",
            "8",
            "--reports",
        ])
        .env("HWCONFORM_CONTROL_TOKEN", TOKEN)
        .arg(&reports)
        .args(extra)
        .output()
        .expect("hwconform run starts");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("run.json")).unwrap()).unwrap();
    if name == "readme" {
        // JUnit parses back with one passing testcase per scenario.
        let xml = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let cases: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), library("cloud").len());
        assert!(
            cases.iter().all(|c| !c
                .children()
                .any(|k| k.has_tag_name("failure") || k.has_tag_name("error"))),
            "{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&reports);
    (out.status.code(), run, text)
}

/// The ids of the scenarios with `verdict` in a run report.
fn with_verdict(run: &serde_json::Value, verdict: &str) -> BTreeSet<String> {
    run["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verdict"] == verdict)
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// The library's scenarios that need one of `what` (the control plane for binding, an
/// unbound device, a stated frame limit).
fn needing(what: &[Capability]) -> BTreeSet<String> {
    library("cloud")
        .into_iter()
        .filter(|s| s.requires.iter().any(|c| what.contains(c)))
        .map(|s| s.id.value)
        .collect()
}

/// The standalone mock started as the README says (`--heartbeat-timeout 10s`, the default
/// 60 s subscribe window): the whole library passes over ws://127.0.0.1, waits keep their link
/// alive with pings, and the harness-side faults (lost and delayed replies) run over sockets.
#[test]
fn the_library_passes_against_the_standalone_mock_started_as_the_readme_says() {
    let (_mock, url) = start_mock(&["--heartbeat-timeout", "10s"]);
    let (code, run, text) = run_cloud_library(&url, "readme", &[]);
    assert_eq!(code, Some(0), "run over sockets failed:\n{text}");
    let all: BTreeSet<String> = library("cloud").into_iter().map(|s| s.id.value).collect();
    let passed = with_verdict(&run, "pass");
    let skipped = with_verdict(&run, "skip");
    // The fleet holds no unbound device: the C6 wire scenario says so and is skipped.
    assert!(
        skipped.is_subset(&needing(&[Capability::Control, Capability::Unbound])),
        "skipped for another reason than control: {skipped:?}"
    );
    assert_eq!(
        passed.union(&skipped).cloned().collect::<BTreeSet<_>>(),
        all,
        "{text}"
    );
    for id in [
        "cloud.subscribe.rate-limit-600045",
        "cloud.lost-reply.register-recovered-600012",
        "cloud.faults.delayed-reply-still-correlated",
    ] {
        assert!(passed.contains(id), "{id} did not pass:\n{text}");
    }
    // The IP-change scenario really ran (not skipped) and its transcript shows both addresses.
    let scenario = |id: &str| {
        run["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    let ip_change = scenario("cloud.heartbeat.expiry-frees-sn-for-new-ip");
    let transcript = ip_change["transcript"].to_string();
    assert!(
        transcript.contains(".0.2") && transcript.contains(".0.3"),
        "{transcript}"
    );
    // The lost reply was the harness's doing, and the transcript says so.
    let lost = scenario("cloud.lost-reply.register-recovered-600012")["transcript"].to_string();
    assert!(
        lost.contains("dropped the inbound frame (the reply to `register`)"),
        "{lost}"
    );
    // The sixth login from one address in a minute was limited, and the one after the
    // window (waited out with no link open, on the wall clock) was not.
    let rate = scenario("cloud.subscribe.rate-limit-600045")["transcript"].clone();
    let text = rate.to_string();
    assert!(text.contains("\"errcode\":600045"), "{text}");
    let last = rate["entries"]
        .as_array()
        .and_then(|e| e.iter().filter_map(|e| e["at"].as_f64()).reduce(f64::max))
        .unwrap_or_default();
    assert!(last >= 61.0, "the window was not waited out: {text}");
}

/// A standalone mock that refuses control (`--no-control`), as a real cloud would: only the
/// scenarios that need control (faults), the cloud made to act with no upper tester (binding,
/// a remote open, a log request, a QR scan: "not tested", never "not applicable"), an unbound
/// device (the fleet has none) or a stated
/// frame limit (no statement is given) are skipped; the lost-reply and delayed-reply ones
/// run, their faults being the harness's own. The two that need a never-activated device can
/// fail once a device of the fleet was activated by an earlier scenario (without control the
/// harness cannot make the cloud forget it).
#[test]
fn against_a_mock_without_control_only_binding_scenarios_are_skipped() {
    let (_mock, url) = start_mock(&["--heartbeat-timeout", "10s", "--no-control"]);
    let (_, run, text) = run_cloud_library(&url, "no-control", &["--heartbeat-timeout", "10s"]);
    assert_eq!(
        with_verdict(&run, "skip"),
        needing(&[
            Capability::Control,
            Capability::CloudControl,
            Capability::Unbound,
            Capability::FrameLimit
        ]),
        "{text}"
    );
    assert!(with_verdict(&run, "error").is_empty(), "{text}");
    for id in needing(&[Capability::CloudControl]) {
        let reason = scenario_of(&run, &id)["reason"].to_string();
        assert!(
            reason.contains("not tested: needs an upper tester to make the cloud act"),
            "{id}: {reason}"
        );
    }
    // C22 and C24 are judged by no other scenario: not tested, never not applicable.
    for id in ["C22", "C24"] {
        assert_eq!(requirement_of(&run, id)["status"], "not_tested", "{id}");
    }
    let fresh_device: BTreeSet<String> = [
        "cloud.order.subscribe-before-activation-600016",
        "cloud.secret-no.seed-exchange",
    ]
    .map(String::from)
    .into();
    assert!(
        with_verdict(&run, "fail").is_subset(&fresh_device),
        "{text}"
    );
    let passed = with_verdict(&run, "pass");
    for id in [
        "cloud.lost-reply.register-recovered-600012",
        "cloud.lost-reply.active-recovered-600053",
        "cloud.lost-reply.subscribe-recovered-600054",
        "cloud.faults.delayed-reply-still-correlated",
        "cloud.subscribe.rate-limit-600045",
    ] {
        assert!(
            passed.contains(id),
            "{id} did not pass without control:\n{text}"
        );
    }
}

fn scenario_of(run: &serde_json::Value, id: &str) -> serde_json::Value {
    run["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no scenario {id}"))
        .clone()
}

fn requirement_of(run: &serde_json::Value, id: &str) -> serde_json::Value {
    run["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no requirement {id}"))
        .clone()
}

/// The cloud's upper tester (TTCN-3's UT): a lab's command makes the cloud act as a corp, a
/// person or the vendor would. Here it is a script that drives the standalone mock through its
/// control plane's socket, as a lab's drives its cloud's console: the harness performs no
/// action itself, and C7, C19, C22 and C24 are judged. A tester that says the cloud did not
/// mark the late remote open failed fails C19 alone; one that breaks is an error, no failure.
#[test]
fn a_cloud_upper_tester_makes_the_cloud_act() {
    let (_mock, url) = start_mock(&["--heartbeat-timeout", "10s"]);
    let port = url.rsplit(':').next().unwrap().trim_end_matches('/');
    let script = repo().join("harness/tests/integration/mock_upper_tester.sh");
    let ut = format!("bash '{}' {port}", script.display());
    let acting = needing(&[Capability::CloudControl]);
    let only = [
        "--filter", "C7", "--filter", "C19", "--filter", "C22", "--filter", "C24",
    ];
    let with_ut = |name: &str, ut: &str| {
        let args: Vec<&str> = only
            .iter()
            .copied()
            .chain(["--cloud-upper-tester", ut])
            .collect();
        run_cloud_library(&url, name, &args)
    };
    let (code, run, text) = with_ut("cloud-ut", &ut);
    assert_eq!(code, Some(0), "{text}");
    assert!(acting.is_subset(&with_verdict(&run, "pass")), "{text}");
    for id in &acting {
        let transcript = scenario_of(&run, id)["transcript"].to_string();
        assert!(
            transcript.contains("cloud upper tester: {"),
            "{id}: {transcript}"
        );
        assert!(transcript.contains(r#""source":"upper_tester""#), "{id}");
        assert!(
            !transcript.contains("note: control") && !transcript.contains(r#""text":"control: "#),
            "{id}: {transcript}"
        );
    }
    for id in ["C7", "C19", "C22", "C24"] {
        assert_eq!(requirement_of(&run, id)["status"], "pass", "{id}: {text}");
    }
    // A cloud that shows the late remote open as succeeded: C19 fails, and nothing else.
    let says_no = format!(
        r#"case "$HWCONFORM_ACTION" in *remote_open_failed*) echo 'shown as succeeded' >&2; exit 3;; esac; {ut}"#
    );
    let (_, run, text) = with_ut("cloud-ut-no", &says_no);
    let failed: Vec<_> = run["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "fail")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["C19"], "{text}");
    // A tester that cannot do its job (exit 1) is an error of the scenario, never a failure.
    let broken = format!(r#"case "$HWCONFORM_ACTION" in *fetch_log*) exit 1;; esac; {ut}"#);
    let (_, run, text) = with_ut("cloud-ut-broken", &broken);
    assert_eq!(
        scenario_of(&run, "cloud.log.fetch-hint-verbatim")["verdict"],
        "error",
        "{text}"
    );
    assert_ne!(requirement_of(&run, "C22")["status"], "fail", "{text}");
    // A statement that lists what the lab's tester can do: a scenario needing more is not
    // tested, and what it lists runs.
    let statement = std::env::temp_dir().join(format!("hwconform-ut-{}.toml", std::process::id()));
    std::fs::write(
        &statement,
        "[upper_tester]\nactions = [\"bind\", \"unbind\", \"fetch_log\"]\n",
    )
    .unwrap();
    let args: Vec<&str> = only
        .iter()
        .copied()
        .chain([
            "--cloud-upper-tester",
            &ut,
            "--cloud-statement",
            statement.to_str().unwrap(),
        ])
        .collect();
    let (_, run, text) = run_cloud_library(&url, "cloud-ut-statement", &args);
    let _ = std::fs::remove_file(&statement);
    let qr = scenario_of(&run, "cloud.qr.scan-pushes-state-and-old-dynamic-refused");
    assert!(
        qr["reason"].as_str().is_some_and(
            |r| r.starts_with("not tested: the cloud's upper tester cannot perform `scan_qr`")
        ),
        "{qr}"
    );
    assert_eq!(
        requirement_of(&run, "C24")["status"],
        "not_tested",
        "{text}"
    );
    assert_eq!(
        scenario_of(&run, "cloud.log.fetch-hint-verbatim")["verdict"],
        "pass",
        "{text}"
    );
}

/// How a rogue cloud misbehaves.
#[derive(Clone, Copy, Debug)]
enum Rogue {
    /// Answers every frame with text that is not JSON.
    Garbage,
    /// Answers every frame with a binary frame where a JSON reply was expected.
    Binary,
    /// Accepts the link and never answers.
    Silent,
    /// Drops every TCP connection before the WebSocket handshake.
    Reset,
    /// Answers with a 16 MiB frame, four times what the harness accepts.
    Huge,
    /// Completes the handshake, then closes at once.
    Close,
    /// Sends its reply's bytes one at a time, 100 ms apart: the reply takes longer than the
    /// step bound.
    Drip,
    /// Reads the upgrade request and closes before answering it.
    HandshakeClose,
    /// Answers every request correctly, twice.
    DuplicateReply,
    /// Holds the reply to `r1` until `r2` came, then answers `r2` first.
    OutOfOrder,
    /// Answers the first request with thousands of `push_*` frames and no reply.
    PushFlood,
    /// Answers with a req_id nobody sent, then correctly.
    UnknownReqId,
    /// Answers the upgrade with a web page.
    PlainHttp,
    /// Reads the first frame, then shuts its TCP connection down without a close handshake
    /// (how some servers release a link).
    TcpDrop,
    /// Answers correctly, and `gen_login_qrcode` with a binary reply whose data is a PNG
    /// image (the docs' "QR image"), not the text the mock sends.
    QrImage,
}

/// A binary reply (§1.2, little-endian): format_version 1, the echoed req_id, then `data`.
fn binary_reply(req_id: &str, data: &[u8]) -> Vec<u8> {
    let mut frame = 1u32.to_le_bytes().to_vec();
    frame.extend_from_slice(&(req_id.len() as u32).to_le_bytes());
    frame.extend_from_slice(req_id.as_bytes());
    frame.extend_from_slice(&(data.len() as u32).to_le_bytes());
    frame.extend_from_slice(data);
    frame
}

/// What a cloud that renders its login QR as an image sends: a PNG signature and header,
/// with bytes that are no text.
const PNG_QR: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x80\0\0\0\x80\x01\0\0\0\0\xeb\x45\x5c\x66";

/// A correct reply to the request `frame` (what `cloud.register.valid-signature` expects).
fn good_reply(frame: &serde_json::Value) -> serde_json::Value {
    let req_id = frame["headers"]["req_id"].clone();
    let body = match frame["cmd"].as_str() {
        Some("register") => Some(serde_json::json!({ "active_code": "rogue-code" })),
        Some("active") => Some(serde_json::json!({ "secret": "rogue-secret" })),
        Some("ping") => None,
        _ => Some(serde_json::json!({})),
    };
    let mut reply =
        serde_json::json!({ "headers": { "req_id": req_id }, "errcode": 0, "errmsg": "ok" });
    if let Some(b) = body {
        reply["body"] = b;
    }
    reply
}

/// One frame as a server writes it (unmasked, FIN, text), for a rogue that writes bytes itself.
fn raw_text_frame(text: &str) -> Vec<u8> {
    assert!(text.len() < 126, "a short frame");
    let mut bytes = vec![0x81, text.len() as u8];
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

/// A rogue cloud on loopback: its URL, its accept loop, and the close code the harness sent
/// it last (0 while none came).
async fn rogue_cloud(
    mode: Rogue,
) -> (
    String,
    tokio::task::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicU16>,
) {
    use std::sync::atomic::{AtomicU16, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let closed = std::sync::Arc::new(AtomicU16::new(0));
    let seen = closed.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                match mode {
                    Rogue::Reset => return drop(tcp),
                    Rogue::HandshakeClose | Rogue::PlainHttp => {
                        let mut buf = [0u8; 4096];
                        let _ = tcp.read(&mut buf).await;
                        if let Rogue::PlainHttp = mode {
                            let page = "<html><body>hello</body></html>";
                            let _ = tcp.write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n{page}", page.len()).as_bytes()).await;
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                        return;
                    }
                    _ => {}
                }
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                match mode {
                    Rogue::Close => return drop(ws.close(None).await),
                    Rogue::TcpDrop => {
                        let _ = ws.next().await;
                        let _ = ws.get_mut().shutdown().await;
                        return;
                    }
                    Rogue::Drip => {
                        // Every request's reply, a byte at a time (below the WebSocket layer).
                        while let Some(Ok(Message::Text(text))) = ws.next().await {
                            let request: serde_json::Value =
                                serde_json::from_str(&text).unwrap_or_default();
                            for b in raw_text_frame(&good_reply(&request).to_string()) {
                                if ws.get_mut().write_all(&[b]).await.is_err() {
                                    return;
                                }
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                        return;
                    }
                    _ => {}
                }
                // Reads on while a long write is under way, so the harness's close is heard.
                let (sink, mut stream) = ws.split();
                let sink = std::sync::Arc::new(tokio::sync::Mutex::new(sink));
                let mut held: Option<serde_json::Value> = None;
                while let Some(Ok(msg)) = stream.next().await {
                    if let Message::Close(Some(frame)) = &msg {
                        seen.store(u16::from(frame.code), Ordering::SeqCst);
                    }
                    let Message::Text(text) = &msg else { continue };
                    let request: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
                    let good = Message::text(good_reply(&request).to_string());
                    let answers = match mode {
                        Rogue::Garbage => vec![Message::text("\u{1}garbage{{{")],
                        Rogue::Binary => vec![Message::binary(vec![0xde, 0xad, 0xbe, 0xef])],
                        Rogue::Huge => vec![Message::text("x".repeat(16 << 20))],
                        Rogue::DuplicateReply => vec![good.clone(), good],
                        Rogue::UnknownReqId => {
                            let mut stray = good_reply(&request);
                            stray["headers"]["req_id"] = "nobody-sent-this".into();
                            vec![Message::text(stray.to_string()), good]
                        }
                        Rogue::OutOfOrder => match request["headers"]["req_id"].as_str() {
                            Some("r1") => {
                                held = Some(request);
                                vec![]
                            }
                            _ => std::iter::once(good).chain(held.take().map(|h| Message::text(good_reply(&h).to_string()))).collect(),
                        },
                        Rogue::QrImage => match (request["cmd"].as_str(), request["body"]["state"].as_str()) {
                            (Some("gen_login_qrcode"), Some(_)) => {
                                let req_id = request["headers"]["req_id"].as_str().unwrap_or_default();
                                vec![Message::binary(binary_reply(req_id, PNG_QR))]
                            }
                            (Some("gen_login_qrcode"), None) => {
                                let req_id = request["headers"]["req_id"].clone();
                                vec![Message::text(serde_json::json!({"headers": {"req_id": req_id}, "errcode": 600904, "errmsg": "state is required", "suggestion": "retry", "interval": 1}).to_string())]
                            }
                            _ => vec![good],
                        },
                        Rogue::PushFlood => (0..5000).map(|n| Message::text(format!(r#"{{"cmd":"push_flood","headers":{{"req_id":"f{n}"}},"body":{{}}}}"#))).collect(),
                        _ => vec![],
                    };
                    let sink = sink.clone();
                    tokio::spawn(async move {
                        let mut sink = sink.lock().await;
                        for answer in answers {
                            if sink.feed(answer).await.is_err() {
                                return;
                            }
                        }
                        let _ = sink.flush().await;
                    });
                }
            });
        }
    });
    (url, task, closed)
}

/// The QR reply's data is "the QR image": a cloud that sends a PNG there passes the library's
/// QR scenario, which judges the binary framing (C3) and not what the image holds.
#[test]
fn a_binary_qr_reply_carrying_image_data_passes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, server, _) = rt.block_on(rogue_cloud(Rogue::QrImage));
    let scenarios: Vec<_> = library("cloud")
        .into_iter()
        .filter(|s| s.id.value == "cloud.commands.login-qrcode-binary-reply")
        .collect();
    assert_eq!(scenarios.len(), 1);
    let config = RunConfig {
        step_timeout: Duration::from_secs(2),
        ..at_url(url)
    };
    let results = run_library(&scenarios, config);
    server.abort();
    assert!(
        matches!(results[0].verdict, Verdict::Pass),
        "{:?}",
        results[0].verdict
    );
    let transcript = serde_json::to_string(&results[0].transcript).unwrap();
    // The PNG signature, as the transcript shows a binary frame's head.
    assert!(
        transcript.contains("89504e470d0a1a0a"),
        "the image was received: {transcript}"
    );
}

/// A hostile cloud's scenario: the 1 s step bound, the 2 s the harness waits for the echo of
/// its close (a drip never completes it), and a margin.
const SCENARIO_BOUND: Duration = Duration::from_secs(4);

/// How long the harness waits for a target's answer to its control probe, and a margin.
const PROBE_BOUND: Duration =
    Duration::from_millis(hwconform::targets::remote::PROBE_TIMEOUT.as_millis() as u64 + 500);

/// Two requests in flight on one link, the first sent raw: their replies may come in either
/// order, since they are correlated by req_id.
const TWO_IN_FLIGHT: &str = "id: x.two-in-flight\ntitle: t\nrequirements: [C1]\nrole: device\nsteps:\n  - connect: a\n  - send: { json: { cmd: ping, headers: { req_id: r1 } } }\n  - request: { cmd: ping, req_id: r2 }\n    expect: { errcode: 0 }\n  - expect: { frame: { errcode: 0, headers: { req_id: r1 } } }\n";

/// The hostile-cloud matrix of the guide (docs/src/reference/hostile-targets.md): each case's verdict, a
/// fragment of its reason, within a bound of wall time (the step bound is 1 s).
#[rstest::rstest]
#[case::garbage(Rogue::Garbage, "ws", "fail", "not JSON")]
#[case::binary(Rogue::Binary, "ws", "fail", "C3")]
#[case::silent(Rogue::Silent, "ws", "fail", "no reply to `register`")]
#[case::reset(Rogue::Reset, "ws", "error", "could not connect")]
#[case::huge(
    Rogue::Huge,
    "ws",
    "fail",
    "broken: the target sent a frame over the 4 MiB limit"
)]
#[case::close(Rogue::Close, "ws", "fail", "closed")]
#[case::slow_drip(Rogue::Drip, "ws", "fail", "no reply to `register`")]
#[case::bad_tls(Rogue::Silent, "wss", "error", "`--insecure`")]
#[case::handshake_close(Rogue::HandshakeClose, "ws", "error", "could not connect")]
#[case::duplicate_reply(Rogue::DuplicateReply, "ws", "fail", "a second reply")]
#[case::out_of_order(Rogue::OutOfOrder, "ws", "pass", "")]
#[case::push_flood(Rogue::PushFlood, "ws", "fail", "flooded the link")]
#[case::unknown_req_id(Rogue::UnknownReqId, "ws", "fail", "which the harness never sent")]
#[case::plain_http(
    Rogue::PlainHttp,
    "ws",
    "error",
    "200 OK (the server answered with plain HTTP instead of switching to WebSocket"
)]
#[case::refused(Rogue::Reset, "refused", "error", "could not connect")]
fn a_misbehaving_cloud_gets_a_verdict_not_a_hang(
    #[case] mode: Rogue,
    #[case] scheme: &str,
    #[case] verdict: &str,
    #[case] reason: &str,
) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, server, closed) = rt.block_on(rogue_cloud(mode));
    let url = match scheme {
        "wss" => url.replace("ws://", "wss://"),
        "refused" => {
            // Nothing listens on a port just freed.
            server.abort();
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            format!("ws://127.0.0.1:{port}")
        }
        _ => url,
    };
    let scenarios = match mode {
        Rogue::OutOfOrder => {
            let dir = std::env::temp_dir().join(format!("hwconform-order-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("two.yaml"), TWO_IN_FLIGHT).unwrap();
            let loaded = hwconform::scenario::load_paths(&[dir.join("two.yaml")]).unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            loaded
        }
        _ => library("cloud")
            .into_iter()
            .filter(|s| s.id.value == "cloud.register.valid-signature")
            .collect(),
    };
    let config = RunConfig {
        step_timeout: Duration::from_secs(1),
        deadline: Duration::from_secs(20),
        ..at_url(url)
    };
    let started = Instant::now();
    let results = run_library(&scenarios, config);
    let took = started.elapsed();
    server.abort();
    // The scenario within its bound; the run within it and the control probe's (a cloud that
    // accepts the probe's link and stays silent costs it once a run).
    assert!(
        results[0].wall_time < SCENARIO_BOUND,
        "{mode:?}: the scenario took {:?}",
        results[0].wall_time
    );
    assert!(
        took < SCENARIO_BOUND + PROBE_BOUND,
        "{mode:?}: the run took {took:?}"
    );
    let v = &results[0].verdict;
    assert_eq!(v.name(), verdict, "{mode:?}: {v:?}");
    if verdict == "pass" {
        return;
    }
    let message = match v {
        Verdict::Fail(f) | Verdict::Error(f) => f.message.clone(),
        other => panic!("{other:?}"),
    };
    assert!(message.contains(reason), "{mode:?}: {message}");
    if let Rogue::Huge = mode {
        // RFC 6455 §7.4.1: the rogue heard why.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(closed.load(std::sync::atomic::Ordering::SeqCst), 1009);
    }
}

/// A link the cloud breaks (a frame over the size limit) is not the clean close that
/// `expect_closed` asks for: a heartbeat scenario must not pass against it.
#[test]
fn a_broken_link_is_not_a_clean_close() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, server, _) = rt.block_on(rogue_cloud(Rogue::Huge));
    let scenarios = [hwconform::scenario::load_str(
        std::path::Path::new("closed.yaml"),
        "id: x.closed\ntitle: t\nrequirements: [C8]\nrole: device\nsteps:\n  - connect: a\n  - send: { json: { cmd: ping, headers: { req_id: r1 } } }\n  - expect_closed: { conn: a, within: 5s }\n",
    )
    .unwrap()];
    let config = at_url(url);
    let results = run_library(&scenarios, config);
    server.abort();
    match &results[0].verdict {
        Verdict::Fail(f) => assert!(f.message.contains("the harness ended it"), "{}", f.message),
        other => panic!("expected a fail, got {other:?}"),
    }
}

/// A cloud that releases a link by shutting TCP down, without a close handshake, has
/// released it: `expect_closed` passes, and the transcript says how it let go.
#[test]
fn a_link_released_without_a_close_handshake_is_released() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, server, _) = rt.block_on(rogue_cloud(Rogue::TcpDrop));
    let text = "id: x.released\ntitle: t\nrequirements: [C8]\nrole: device\nsteps:\n  - connect: a\n  - send: { json: { cmd: ping, headers: { req_id: r1 } } }\n  - expect_closed: { conn: a, within: 5s }\n";
    let scenario =
        hwconform::scenario::load_str(std::path::Path::new("released.yaml"), text).unwrap();
    let config = at_url(url);
    let results = run_library(&[scenario], config);
    server.abort();
    assert_eq!(
        results[0].verdict,
        Verdict::Pass,
        "{:?}",
        results[0].verdict
    );
    let notes = format!("{:?}", results[0].transcript);
    assert!(
        notes.contains("the target ended the link without a close handshake")
            && notes.contains("released all the same"),
        "{notes}"
    );
}

/// The standalone mock's debug log redacts by value: a configured SecretNo and the secret it
/// issued, sent back by a device in fields that are not credential keys, appear nowhere in it.
#[test]
fn the_mock_debug_log_shows_no_credential_wherever_a_frame_carries_it() {
    let dir = std::env::temp_dir().join(format!("hwconform-mocklog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("mock.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .args([
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--device",
            "LOGSN1=log-secret-no-1234",
        ])
        .env("HWCONFORM_LOG", "debug")
        .env("HWCONFORM_CONTROL_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("the mock starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _mock = Killed(child);
    let scenario = dir.join("leak.yaml");
    std::fs::write(
        &scenario,
        "id: x.leak\ntitle: t\nrequirements: [C1]\nrole: device\nsteps:\n  - connect: a\n  - request: { cmd: register }\n  - request: { cmd: active }\n    capture: { issued: body.secret }\n  - request: { cmd: ping, body: { dbg: \"issued ${issued}\", note: \"log-secret-no-1234\" } }\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .args(["run"])
        .arg(&scenario)
        .args([
            "--cloud",
            line.trim(),
            "--identity",
            "LOGSN1=log-secret-no-1234",
            "--reports",
        ])
        .env("HWCONFORM_CONTROL_TOKEN", TOKEN)
        .arg(dir.join("reports"))
        .args(["-v"])
        .output()
        .unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains("PASS"), "{shown}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("device frame"),
        "the debug log shows frames: {logged}"
    );
    let issued = regex::Regex::new(r"sk[0-9a-f]{22}").unwrap();
    for (name, text) in [("mock log", &logged), ("run output", &shown)] {
        assert!(
            !text.contains("log-secret-no-1234"),
            "{name} shows the SecretNo:\n{text}"
        );
        assert!(
            !issued.is_match(text),
            "{name} shows the issued secret:\n{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The standalone mock's control plane: without the token, or from a web page, a control
/// request is refused at the handshake (and the harness says how to fix it); with it, the
/// run has control. A generated token is printed with the URL.
#[test]
fn the_mock_control_plane_needs_its_token_and_refuses_web_pages() {
    let (_mock, url) = start_mock(&[]);
    let control = format!("{}/_hwconform/control", url.trim_end_matches('/'));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = |headers: &[(&'static str, &str)]| {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = control.as_str().into_client_request().unwrap();
        for (k, v) in headers {
            req.headers_mut().insert(*k, v.parse().unwrap());
        }
        match rt.block_on(tokio_tungstenite::connect_async(req)) {
            Ok(_) => 101,
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
            Err(e) => panic!("{e}"),
        }
    };
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(status(&[]), 401);
    assert_eq!(status(&[("authorization", "Bearer wrong")]), 401);
    assert_eq!(
        status(&[
            ("authorization", &bearer),
            ("origin", "http://evil.example")
        ]),
        403
    );
    assert_eq!(status(&[("authorization", &bearer)]), 101);
    // The harness without the token stops before any scenario, saying what to do.
    let out = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(repo())
        .args([
            "run",
            "scenarios/cloud/active-unbound.yaml",
            "--cloud",
            &url,
        ])
        .env_remove("HWCONFORM_CONTROL_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("needs its token: give it with HWCONFORM_CONTROL_TOKEN"),
        "{err}"
    );
    // Without a token given, the mock makes one up and prints it after the URL.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .args(["mock", "--listen", "127.0.0.1:0"])
        .env_remove("HWCONFORM_CONTROL_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    out.read_line(&mut first).unwrap();
    out.read_line(&mut second).unwrap();
    let _killed = Killed(child);
    assert!(first.starts_with("ws://127.0.0.1:"), "{first}");
    assert!(
        regex::Regex::new(r"^control token: [0-9a-f]{32} ")
            .unwrap()
            .is_match(&second),
        "{second}"
    );
}

/// Control arguments are bounded: a reply delay past the heartbeat timeout is refused.
#[test]
fn a_reply_delay_past_the_heartbeat_timeout_is_refused() {
    use hwconform::targets::mock::{ControlRequest, MockCloud, MockConfig};
    let mock = MockCloud::new(MockConfig::default());
    let sn = MockConfig::default().fleet.devices[0].identity.sn.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    assert!(mock
        .control(ControlRequest::DelayReplies {
            sn: sn.clone(),
            ms: 1_000
        })
        .is_ok());
    let err = mock
        .control(ControlRequest::DelayReplies { sn, ms: u64::MAX })
        .unwrap_err();
    assert!(
        err.to_string().contains("at most the heartbeat timeout"),
        "{err}"
    );
}

/// The run's defaults against the cloud at `url`, held to the FAQ's ranges.
fn at_url(url: String) -> RunConfig {
    RunConfig {
        cloud: Some(
            CloudChoice::Url {
                url,
                insecure: false,
                control_token: None,
            }
            .build(hwconform::profile::CloudTimings::FAQ),
        ),
        ..hwconform::targets::defaults()
    }
}
