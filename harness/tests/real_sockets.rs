//! Over real sockets: the standalone mock as a process runs the whole cloud library (IP
//! changes from 127.x.0.2 to 127.x.0.3 included), and clouds that misbehave get fail/error
//! verdicts with reasons within bounded time.

mod common;

use common::{library, repo, run_library};
use futures_util::{SinkExt, StreamExt};
use hwconform::engine::runner::RunConfig;
use hwconform::targets::CloudChoice;
use hwconform::engine::Verdict;
use hwconform::scenario::model::Capability;
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
    BufReader::new(stdout).read_line(&mut line).expect("the mock prints its URL");
    let url = line.trim().to_string();
    assert!(url.starts_with("ws://127.0.0.1:"), "first line is the URL, got {url:?}");
    (Killed(child), url)
}

/// Runs the whole cloud library against `url` as a user would; the exit code, the run report
/// and the terminal output.
fn run_cloud_library(url: &str, name: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let reports = std::env::temp_dir().join(format!("hwconform-e2e-{name}-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(repo())
        .args(["run", "scenarios/cloud", "--cloud", url, "--jobs", "8", "--reports"])
        .env("HWCONFORM_CONTROL_TOKEN", TOKEN)
        .arg(&reports)
        .args(extra)
        .output()
        .expect("hwconform run starts");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reports.join("run.json")).unwrap()).unwrap();
    if name == "readme" {
        // JUnit parses back with one passing testcase per scenario.
        let xml = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
        assert_eq!(cases.len(), library("cloud").len());
        assert!(cases.iter().all(|c| !c.children().any(|k| k.has_tag_name("failure") || k.has_tag_name("error"))), "{text}");
    }
    let _ = std::fs::remove_dir_all(&reports);
    (out.status.code(), run, text)
}

/// The ids of the scenarios with `verdict` in a run report.
fn with_verdict(run: &serde_json::Value, verdict: &str) -> BTreeSet<String> {
    run["scenarios"].as_array().unwrap().iter().filter(|s| s["verdict"] == verdict).map(|s| s["id"].as_str().unwrap().to_string()).collect()
}

/// The library's scenarios that need the mock's control plane (binding).
fn needing_control() -> BTreeSet<String> {
    library("cloud").into_iter().filter(|s| s.requires.contains(&Capability::Control)).map(|s| s.id.value).collect()
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
    assert!(skipped.is_subset(&needing_control()), "skipped for another reason than control: {skipped:?}");
    assert_eq!(passed.union(&skipped).cloned().collect::<BTreeSet<_>>(), all, "{text}");
    for id in ["cloud.subscribe.rate-limit-600045", "cloud.lost-reply.register-recovered-600012", "cloud.faults.delayed-reply-still-correlated"] {
        assert!(passed.contains(id), "{id} did not pass:\n{text}");
    }
    // The IP-change scenario really ran (not skipped) and its transcript shows both addresses.
    let scenario = |id: &str| run["scenarios"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap().clone();
    let ip_change = scenario("cloud.heartbeat.expiry-frees-sn-for-new-ip");
    let transcript = ip_change["transcript"].to_string();
    assert!(transcript.contains(".0.2") && transcript.contains(".0.3"), "{transcript}");
    // The lost reply was the harness's doing, and the transcript says so.
    let lost = scenario("cloud.lost-reply.register-recovered-600012")["transcript"].to_string();
    assert!(lost.contains("dropped the inbound frame (the reply to `register`)"), "{lost}");
    // The rate-limit wait pinged: the link outlived the 10 s heartbeat timeout.
    let rate = scenario("cloud.subscribe.rate-limit-600045")["transcript"].to_string();
    assert!(rate.matches("\"cmd\":\"ping\"").count() >= 15, "{rate}");
}

/// A standalone mock that refuses control (`--no-control`), as a real cloud would: only the
/// scenarios that need control (binding) are skipped; the lost-reply and delayed-reply ones
/// run, their faults being the harness's own. The two that need a never-activated device can
/// fail once a device of the fleet was activated by an earlier scenario (without control the
/// harness cannot make the cloud forget it).
#[test]
fn against_a_mock_without_control_only_binding_scenarios_are_skipped() {
    let (_mock, url) = start_mock(&["--heartbeat-timeout", "10s", "--no-control"]);
    let (_, run, text) = run_cloud_library(&url, "no-control", &["--heartbeat-timeout", "10s"]);
    assert_eq!(with_verdict(&run, "skip"), needing_control(), "{text}");
    assert!(with_verdict(&run, "error").is_empty(), "{text}");
    let fresh_device: BTreeSet<String> =
        ["cloud.order.subscribe-before-activation-600016", "cloud.secret-no.seed-exchange"].map(String::from).into();
    assert!(with_verdict(&run, "fail").is_subset(&fresh_device), "{text}");
    let passed = with_verdict(&run, "pass");
    for id in ["cloud.lost-reply.register-recovered-600012", "cloud.lost-reply.active-recovered-600053", "cloud.lost-reply.subscribe-recovered-600054", "cloud.faults.delayed-reply-still-correlated", "cloud.subscribe.rate-limit-600045"] {
        assert!(passed.contains(id), "{id} did not pass without control:\n{text}");
    }
}

/// How a rogue cloud misbehaves.
#[derive(Clone, Copy, Debug)]
enum Rogue {
    /// Answers every frame with text that is not JSON.
    Garbage,
    /// Accepts the link and never answers.
    Silent,
    /// Drops every TCP connection before the WebSocket handshake.
    Reset,
    /// Answers with a frame larger than the harness accepts.
    Huge,
    /// Completes the handshake, then closes at once.
    Close,
}

async fn rogue_cloud(mode: Rogue) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Rogue::Reset = mode {
                    drop(tcp);
                    return;
                }
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                match mode {
                    Rogue::Close => {
                        let _ = ws.close(None).await;
                    }
                    _ => {
                        while let Some(Ok(msg)) = ws.next().await {
                            if !msg.is_text() && !msg.is_binary() {
                                continue;
                            }
                            let answer = match mode {
                                Rogue::Garbage => Message::text("\u{1}garbage{{{"),
                                Rogue::Huge => Message::text("x".repeat(6 << 20)),
                                _ => continue,
                            };
                            if ws.send(answer).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    (url, task)
}

#[rstest::rstest]
#[case::garbage(Rogue::Garbage, "fail", "not JSON")]
#[case::silent(Rogue::Silent, "fail", "no reply")]
#[case::reset(Rogue::Reset, "error", "could not connect")]
#[case::huge(Rogue::Huge, "fail", "broken: the target sent a frame over the 4 MiB limit")]
#[case::close(Rogue::Close, "fail", "closed")]
fn a_misbehaving_cloud_gets_a_verdict_not_a_hang(#[case] mode: Rogue, #[case] verdict: &str, #[case] reason: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, server) = rt.block_on(rogue_cloud(mode));
    let scenarios: Vec<_> = library("cloud").into_iter().filter(|s| s.id.value == "cloud.register.valid-signature").collect();
    let config = RunConfig {
        cloud: Some(CloudChoice::Url { url, insecure: false, control_token: None }.build(hwconform::profile::CloudTimings::FAQ)),
        step_timeout: Duration::from_secs(1),
        deadline: Duration::from_secs(20),
        ..hwconform::targets::defaults()
    };
    let started = Instant::now();
    let results = run_library(&scenarios, config);
    server.abort();
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    let v = &results[0].verdict;
    assert_eq!(v.name(), verdict, "{mode:?}: {v:?}");
    let message = match v {
        Verdict::Fail(f) | Verdict::Error(f) => f.message.clone(),
        other => panic!("{other:?}"),
    };
    assert!(message.contains(reason), "{mode:?}: {message}");
}

/// A link the cloud breaks (a frame over the size limit) is not the clean close that
/// `expect_closed` asks for: a heartbeat scenario must not pass against it.
#[test]
fn a_broken_link_is_not_a_clean_close() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, server) = rt.block_on(rogue_cloud(Rogue::Huge));
    let dir = std::env::temp_dir().join(format!("hwconform-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("closed.yaml");
    std::fs::write(&file, "id: x.closed\ntitle: t\nrequirements: [C8]\nrole: device\nsteps:\n  - connect: a\n  - send: { json: { cmd: ping, headers: { req_id: r1 } } }\n  - expect_closed: { conn: a, within: 5s }\n").unwrap();
    let scenarios = hwconform::scenario::load_paths(&[file]).unwrap();
    let config = RunConfig { cloud: Some(CloudChoice::Url { url, insecure: false, control_token: None }.build(hwconform::profile::CloudTimings::FAQ)), ..hwconform::targets::defaults() };
    let results = run_library(&scenarios, config);
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    match &results[0].verdict {
        Verdict::Fail(f) => assert!(f.message.contains("broke"), "{}", f.message),
        other => panic!("expected a fail, got {other:?}"),
    }
}

/// The standalone mock's debug log redacts by value: a configured SecretNo and the secret it
/// issued, sent back by a device in fields that are not credential keys, appear nowhere in it.
#[test]
fn the_mock_debug_log_shows_no_credential_wherever_a_frame_carries_it() {
    let dir = std::env::temp_dir().join(format!("hwconform-mocklog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("mock.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .args(["mock", "--listen", "127.0.0.1:0", "--device", "LOGSN1=log-secret-no-1234"])
        .env("HWCONFORM_LOG", "debug")
        .env("HWCONFORM_CONTROL_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("the mock starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
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
        .args(["--cloud", line.trim(), "--identity", "LOGSN1=log-secret-no-1234", "--reports"])
        .env("HWCONFORM_CONTROL_TOKEN", TOKEN)
        .arg(dir.join("reports"))
        .args(["-v"])
        .output()
        .unwrap();
    let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(shown.contains("PASS"), "{shown}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("device frame"), "the debug log shows frames: {logged}");
    let issued = regex::Regex::new(r"sk[0-9a-f]{22}").unwrap();
    for (name, text) in [("mock log", &logged), ("run output", &shown)] {
        assert!(!text.contains("log-secret-no-1234"), "{name} shows the SecretNo:\n{text}");
        assert!(!issued.is_match(text), "{name} shows the issued secret:\n{text}");
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
    assert_eq!(status(&[("authorization", &bearer), ("origin", "http://evil.example")]), 403);
    assert_eq!(status(&[("authorization", &bearer)]), 101);
    // The harness without the token stops before any scenario, saying what to do.
    let out = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(repo())
        .args(["run", "scenarios/cloud/active-unbound.yaml", "--cloud", &url])
        .env_remove("HWCONFORM_CONTROL_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("needs its token: give it with HWCONFORM_CONTROL_TOKEN"), "{err}");
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
    assert!(regex::Regex::new(r"^control token: [0-9a-f]{32} ").unwrap().is_match(&second), "{second}");
}

/// Control arguments are bounded: a reply delay past the heartbeat timeout is refused.
#[test]
fn a_reply_delay_past_the_heartbeat_timeout_is_refused() {
    use hwconform::targets::mock::{ControlRequest, MockCloud, MockConfig};
    let mock = MockCloud::new(MockConfig::default());
    let sn = MockConfig::default().fleet.devices[0].identity.sn.clone();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _guard = rt.enter();
    assert!(mock.control(ControlRequest::DelayReplies { sn: sn.clone(), ms: 1_000 }).is_ok());
    let err = mock.control(ControlRequest::DelayReplies { sn, ms: u64::MAX }).unwrap_err();
    assert!(err.to_string().contains("at most the heartbeat timeout"), "{err}");
}
