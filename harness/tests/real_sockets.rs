//! Over real sockets: the standalone mock as a process runs the whole cloud library (IP
//! changes from 127.x.0.2 to 127.x.0.3 included), and clouds that misbehave get fail/error
//! verdicts with reasons within bounded time.

mod common;

use common::{library, repo, run_library};
use futures_util::{SinkExt, StreamExt};
use hwconform::engine::runner::RunConfig;
use hwconform::targets::CloudChoice;
use hwconform::engine::Verdict;
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

fn start_mock(extra: &[&str]) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .args(["mock", "--listen", "127.0.0.1:0"])
        .args(extra)
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

#[test]
fn the_library_passes_over_real_sockets_against_the_standalone_mock() {
    let (_mock, url) = start_mock(&["--heartbeat-timeout", "10s", "--subscribe-window", "3s"]);
    let reports = std::env::temp_dir().join(format!("hwconform-e2e-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(repo())
        .args(["run", "scenarios/cloud", "--cloud", &url, "--jobs", "8", "--reports"])
        .arg(&reports)
        .output()
        .expect("hwconform run starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "run over sockets failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // The IP-change scenario really ran (not skipped) and its transcript shows both addresses.
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reports.join("run.json")).unwrap()).unwrap();
    let ip_change = run["scenarios"].as_array().unwrap().iter().find(|s| s["id"] == "cloud.heartbeat.expiry-frees-sn-for-new-ip").unwrap();
    assert_eq!(ip_change["verdict"], "pass");
    let text = ip_change["transcript"].to_string();
    assert!(text.contains(".0.2") && text.contains(".0.3"), "{text}");
    // JUnit parses back with one passing testcase per scenario.
    let xml = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), library("cloud").len());
    assert!(cases.iter().all(|c| !c.children().any(|k| k.has_tag_name("failure") || k.has_tag_name("error"))));
    let _ = std::fs::remove_dir_all(&reports);
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
#[case::huge(Rogue::Huge, "fail", "broken")]
#[case::close(Rogue::Close, "fail", "closed")]
fn a_misbehaving_cloud_gets_a_verdict_not_a_hang(#[case] mode: Rogue, #[case] verdict: &str, #[case] reason: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, server) = rt.block_on(rogue_cloud(mode));
    let scenarios: Vec<_> = library("cloud").into_iter().filter(|s| s.id.value == "cloud.register.valid-signature").collect();
    let config = RunConfig {
        cloud: Some(CloudChoice::Url { url, insecure: false }.build(hwconform::profile::CloudTimings::FAQ)),
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
    let config = RunConfig { cloud: Some(CloudChoice::Url { url, insecure: false }.build(hwconform::profile::CloudTimings::FAQ)), ..hwconform::targets::defaults() };
    let results = run_library(&scenarios, config);
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    match &results[0].verdict {
        Verdict::Fail(f) => assert!(f.message.contains("broke"), "{}", f.message),
        other => panic!("expected a fail, got {other:?}"),
    }
}
