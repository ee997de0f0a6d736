//! The binary as CI meets it (docs/src/reference/ci-behaviour.md): what would pass where it
//! should not is an error, a log never goes silent, a closed pipe is no failure.

use crate::common::repo;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hwconform");
/// A scenario of a moment against the in-process targets, with an accepted golden.
const QUICK: &str = "cloud.commands.get-timestamp-is-current";

fn hwconform_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("hwconform starts")
}

fn hwconform(args: &[&str]) -> Output {
    hwconform_in(&repo(), args)
}

/// A fresh directory of this test process, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("hwconform-ci-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    fn arg(&self, rel: &str) -> String {
        self.path(rel).to_str().unwrap().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Stops a process this test started, whatever happened to the test.
struct Started(Option<Child>);

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn report_merge_refuses_an_incomplete_or_doubled_shard_set_unless_told() {
    let dir = TempDir::new("merge");
    for k in 1..=3 {
        let out = hwconform(&[
            "run",
            "scenarios",
            "--partition",
            &format!("count:{k}/3"),
            "--report",
            "json",
            "--reports",
            &dir.arg(&format!("s{k}")),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(
            json(&dir.path(&format!("s{k}/run.json")))["meta"]["partition"],
            format!("count:{k}/3"),
            "every shard records its K/N"
        );
    }
    let (s1, s2, s3) = (
        dir.arg("s1/run.json"),
        dir.arg("s2/run.json"),
        dir.arg("s3/run.json"),
    );

    // Two of three: refused, naming the missing one; nothing written.
    let out = hwconform(&["report", "merge", &s1, &s3, "--reports", &dir.arg("m")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("incomplete") && stderr.contains("count:2/3"),
        "{stderr}"
    );
    assert!(!dir.path("m/run.json").exists());

    // Told: merged, said, and the report says partial.
    let out = hwconform(&[
        "report",
        "merge",
        &s1,
        &s3,
        "--allow-partial",
        "--reports",
        &dir.arg("p"),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("missing shard(s) count:2/3"), "{stderr}");
    let partial = json(&dir.path("p/run.json"));
    assert_eq!(
        partial["meta"]["missing_shards"],
        serde_json::json!(["count:2/3"])
    );
    assert!(partial["meta"].get("partition").is_none());
    let html = std::fs::read_to_string(dir.path("p/report.html")).unwrap();
    assert!(html.contains("missing shard(s) count:2/3"));
    assert!(std::fs::read_to_string(dir.path("p/junit.xml"))
        .unwrap()
        .contains(r#"name="hwconform.missing_shards" value="count:2/3""#));

    // A shard given twice is refused even when told (an empty copy: no scenario overlaps).
    let mut empty = json(&dir.path("s2/run.json"));
    empty["scenarios"] = serde_json::json!([]);
    std::fs::write(dir.path("again.json"), empty.to_string()).unwrap();
    let out = hwconform(&[
        "report",
        "merge",
        &s1,
        &s2,
        &s3,
        &dir.arg("again.json"),
        "--allow-partial",
        "--reports",
        &dir.arg("d"),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("shard count:2/3 is given twice"),
        "{stderr}"
    );

    // The whole set (in any order) merges without a word of warning.
    let out = hwconform(&["report", "merge", &s3, &s1, &s2, "--reports", &dir.arg("w")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert!(json(&dir.path("w/run.json"))["meta"]
        .get("missing_shards")
        .is_none());
}

#[test]
fn goldens_asked_for_must_be_there_and_update_creates_nothing_unasked() {
    let elsewhere = TempDir::new("golden-cwd");
    let scenarios = repo().join("scenarios");
    let scenarios = scenarios.to_str().unwrap();
    let empty = TempDir::new("golden-empty");
    let reports = elsewhere.arg("reports");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", scenarios, "--filter", QUICK, "--reports", &reports];
        args.extend_from_slice(extra);
        hwconform_in(&elsewhere.0, &args)
    };
    for (extra, says) in [
        (
            &["--golden", "check"][..],
            "the golden directory golden does not exist (relative to the current directory",
        ),
        (
            &["--golden-dir", "nowhere"][..],
            "--golden-dir nowhere does not exist",
        ),
        (
            &["--golden-dir", &empty.arg("")][..],
            "holds no golden transcript (*.snap)",
        ),
        (
            &["--golden", "update"][..],
            "--golden update: there is no golden directory golden here",
        ),
    ] {
        let out = run(extra);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
        assert!(!out.stdout.iter().any(|_| true), "nothing ran: {extra:?}");
    }
    assert!(!elsewhere.path("golden").exists(), "update created nothing");

    // Not asked for: the run goes on, and says the goldens are not checked.
    let out = run(&[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("golden transcripts are not checked"),
        "{stderr}"
    );

    // The repository's goldens, named from elsewhere, are checked; no note.
    let goldens = repo().join("golden");
    let out = run(&["--golden-dir", goldens.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("golden"),
        "{}",
        text(&out.stderr)
    );

    // update into a directory named explicitly creates it.
    let out = run(&["--golden", "update", "--golden-dir", "new-goldens"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("created the golden directory new-goldens"));
    assert!(elsewhere
        .path(&format!("new-goldens/{QUICK}.snap.new"))
        .exists());
}

#[test]
fn an_unknown_slo_figure_stops_the_fleet_before_it_runs() {
    let dir = TempDir::new("slo");
    let started = Instant::now();
    let out = hwconform(&[
        "fleet",
        "--devices",
        "2",
        "--duration",
        "10m",
        "--slo",
        "login.p99<2s,latency.p99<2s",
        "--reports",
        &dir.arg("r"),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown figure \"latency.p99\""),
        "{stderr}"
    );
    for known in ["login.p50|p90|p99|max", "checkin", "errors", "breaks"] {
        assert!(stderr.contains(known), "lists {known}: {stderr}");
    }
    assert!(started.elapsed() < Duration::from_secs(20), "at once");
    assert!(!dir.path("r").exists(), "nothing ran");

    // A known command's figure is taken: the fleet runs (on the mock's virtual clock).
    let out = hwconform(&[
        "fleet",
        "--devices",
        "2",
        "--duration",
        "30s",
        "--slo",
        "checkin.p99<2s,login.p99<2s",
        "-q",
        "--reports",
        &dir.arg("r"),
    ]);
    assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(dir.path("r/fleet.json").exists());
}

/// A cloud-role scenario against `--device listen:`: nothing connects, so its first step
/// waits in wall time until the deadline.
fn waiting_run(period: Option<&str>, reports: &str) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(repo()).args([
        "run",
        "scenarios/device",
        "--filter",
        "device.activation.polls-every-5s-while-unbound",
        "--device",
        "listen:127.0.0.1:0",
        "--deadline",
        "2s",
        "--golden",
        "off",
        "--reports",
        reports,
    ]);
    match period {
        Some(p) => cmd.env("HWCONFORM_SLOW_PERIOD", p),
        None => cmd.env_remove("HWCONFORM_SLOW_PERIOD"),
    };
    cmd.output().expect("hwconform starts")
}

#[test]
fn a_log_that_is_no_terminal_gets_a_slow_line_per_period_for_each_waiting_scenario() {
    let dir = TempDir::new("slow");
    let out = waiting_run(Some("500ms"), &dir.arg("a"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the deadline errs: {stderr}");
    let slow: Vec<&str> = stderr.lines().filter(|l| l.starts_with("SLOW ")).collect();
    assert!(
        slow.first().is_some_and(|l| l.starts_with(
            "SLOW [0.5s] device.activation.polls-every-5s-while-unbound at step 1 accept"
        )),
        "{stderr}"
    );
    assert!(slow.len() <= 4, "once per period: {stderr}");
    // The default period is a minute: a run of 2 s says nothing of the kind.
    let out = waiting_run(None, &dir.arg("b"));
    assert!(!text(&out.stderr).contains("SLOW"), "{}", text(&out.stderr));
    // A period that is no duration is bad usage.
    let out = waiting_run(Some("soon"), &dir.arg("c"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("HWCONFORM_SLOW_PERIOD"));
}

/// `run` with its stdout closed before it wrote anything (`| head -0`), or kept.
fn run_piped(args: &[&str], closed: bool) -> Output {
    let mut child = Command::new(BIN)
        .current_dir(repo())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hwconform starts");
    if closed {
        drop(child.stdout.take());
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_ends_the_run_quietly_with_its_own_exit_code() {
    let dir = TempDir::new("pipe");
    let fast_poll = "device.activation.polls-every-5s-while-unbound";
    for (name, args) in [
        ("pass", vec!["--filter", QUICK]),
        (
            "fail",
            vec![
                "--filter",
                fast_poll,
                "--device",
                "sim:fault=fast-active-poll",
            ],
        ),
    ] {
        let reports = dir.arg(name);
        let mut args: Vec<&str> = [&["run", "scenarios", "--reports"][..], &args].concat();
        args.insert(3, &reports);
        let open = run_piped(&args, false);
        assert!(text(&open.stdout).contains("summary:"));
        let closed = run_piped(&args, true);
        let stderr = text(&closed.stderr);
        assert_eq!(closed.status.code(), open.status.code(), "{name}: {stderr}");
        assert_eq!(
            closed.status.code(),
            Some(if name == "pass" { 0 } else { 1 }),
            "{name}: {stderr}"
        );
        assert!(
            !stderr.contains("Broken pipe") && !stderr.contains("panicked"),
            "{name}: {stderr}"
        );
        assert!(
            dir.path(&format!("{name}/run.json")).exists(),
            "{name}: reports written"
        );
    }
}

#[test]
fn run_and_report_say_where_the_reports_were_written() {
    let dir = TempDir::new("written");
    let reports = dir.arg("r");
    let out = hwconform(&[
        "run",
        "scenarios",
        "--filter",
        QUICK,
        "--report",
        "terminal,json,junit",
        "--reports",
        &reports,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let tail: Vec<&str> = stdout.lines().rev().take(2).collect();
    assert_eq!(
        tail,
        [
            format!("report: {reports}/junit.xml"),
            format!("report: {reports}/run.json")
        ],
        "{stdout}"
    );
    let out = hwconform(&[
        "report",
        &dir.arg("r/run.json"),
        "--report",
        "html",
        "--reports",
        &dir.arg("again"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        format!("report: {}\n", dir.arg("again/report.html"))
    );
}

/// Starts the standalone mock; its URL and control token from its first two stdout lines.
fn mock(extra: &[&str]) -> (Started, String, String) {
    let mut child = Command::new(BIN)
        .current_dir(repo())
        .args(["mock", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("HWCONFORM_LOG")
        .env_remove("HWCONFORM_CONTROL_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the mock starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap();
    let token_line = lines.next().unwrap().unwrap();
    let token = token_line.split_whitespace().nth(2).unwrap().to_string();
    (Started(Some(child)), url, token)
}

/// Everything the mock wrote on stderr, once stopped.
fn stopped(mut mock: Started) -> String {
    let mut child = mock.0.take().expect("running");
    let _ = child.kill();
    text(&child.wait_with_output().unwrap().stderr)
}

#[test]
fn the_standalone_mock_says_what_a_person_needs_and_more_when_asked() {
    let dir = TempDir::new("mock");
    for (extra, chatty) in [(&[][..], false), (&["--log-level", "info"][..], true)] {
        let (mock, url, token) = mock(extra);
        let out = Command::new(BIN)
            .current_dir(repo())
            .args([
                "run",
                "scenarios",
                "--filter",
                QUICK,
                "--cloud",
                &url,
                "--device",
                "none",
                "--reports",
                &dir.arg("r"),
            ])
            .env("HWCONFORM_CONTROL_TOKEN", &token)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let log = stopped(mock);
        let first = log.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            format!("hwconform mock: listening on {url}"),
            "{log}"
        );
        if chatty {
            assert!(log.contains("device connected"), "{log}");
        } else {
            assert_eq!(log.lines().count(), 1, "only the startup line: {log}");
        }
    }

    // Without the token the run says so once.
    let (mock, url, _) = mock(&[]);
    let out = Command::new(BIN)
        .current_dir(repo())
        .args([
            "run",
            "scenarios",
            "--filter",
            "cloud.active.secret-only-when-bound",
            "--cloud",
            &url,
            "--device",
            "none",
            "--reports",
            &dir.arg("t"),
        ])
        .env_remove("HWCONFORM_CONTROL_TOKEN")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("needs its token").count(), 1, "{stderr}");
    drop(mock);
}
