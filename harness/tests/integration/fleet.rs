//! `hwconform fleet` as a user runs it: shard processes whose merged report equals one
//! process's on the same fleet, objectives deciding the exit code, and a fleet over real
//! sockets against the standalone mock from spread source addresses.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hwconform-fleet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn hwconform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .args(args)
        .output()
        .expect("hwconform runs")
}

fn report(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the report is written"))
        .expect("the report is JSON")
}

/// A fleet that goes through everything: a storm from new addresses (600002, held links),
/// devices sharing addresses (600045), check-ins and contact pushes.
const FLEET: &[&str] = &[
    "fleet",
    "--devices",
    "24",
    "--duration",
    "3m",
    "--ramp",
    "50",
    "--storm",
    "60s",
    "--storm-new-address",
    "--ips",
    "4",
    "--checkin-every",
    "40s",
    "--contact-change-every",
    "50s",
    "--quiet",
];

fn run_fleet(extra: &[&str], reports: &Path) -> Output {
    let mut args = FLEET.to_vec();
    args.extend(extra);
    args.extend(["--reports", reports.to_str().unwrap()]);
    hwconform(&args)
}

#[test]
fn two_shards_merged_equal_one_run() {
    let base = dir("shards");
    let whole = run_fleet(&[], &base.join("whole"));
    assert_eq!(
        whole.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    for k in ["1/2", "2/2"] {
        let out = run_fleet(&["--shard", k], &base.join(k.replace('/', "-of-")));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let merged_path = base.join("merged/fleet.json");
    let merge = hwconform(&[
        "fleet",
        "merge",
        base.join("1-of-2/fleet.json").to_str().unwrap(),
        base.join("2-of-2/fleet.json").to_str().unwrap(),
        "-o",
        merged_path.to_str().unwrap(),
    ]);
    assert_eq!(
        merge.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&merge.stderr)
    );
    let (whole, merged) = (report(&base.join("whole/fleet.json")), report(&merged_path));
    assert_eq!(
        whole["figures"], merged["figures"],
        "every figure, histogram and sample equal"
    );
    assert_eq!(
        merged["run"]["shards"],
        serde_json::json!([{"index": 1, "count": 2}, {"index": 2, "count": 2}])
    );
    let strip = |mut r: Value| {
        r["run"]["shards"] = Value::Null;
        r["run"].clone()
    };
    assert_eq!(strip(whole.clone()), strip(merged.clone()));
    // The fleet went through what it was built for, so the equality means something.
    let f = &whole["figures"];
    assert_eq!(f["devices"], 24);
    assert!(
        f["errors"]["register 600002"].as_u64() > Some(0)
            && f["errors"]["subscribe_corp 600045"].as_u64() > Some(0),
        "{}",
        f["errors"]
    );
    assert!(
        f["latency"]["checkin"]["count"].as_u64() > Some(0)
            && f["pushes"]["push_change_contact"].as_u64() > Some(0)
    );
    assert_eq!(
        f["breaks"],
        serde_json::json!({}),
        "the mock earns no break"
    );
    // The merged page says what ran: each shard's command line and harness, the storm.
    let page = std::fs::read_to_string(base.join("merged/fleet.html")).unwrap();
    assert!(page.contains("Fleet report"));
    for shard in ["--shard 1/2", "--shard 2/2"] {
        assert!(page.contains(shard), "{shard} in the page");
    }
    assert!(page.contains(&format!("hwconform {}", env!("CARGO_PKG_VERSION"))));
    assert!(
        page.contains("<dt>storm</dt><dd>at 60 s, devices return from new source addresses</dd>")
    );
    // One shard twice is not a fleet.
    let twice = hwconform(&[
        "fleet",
        "merge",
        base.join("1-of-2/fleet.json").to_str().unwrap(),
        base.join("1-of-2/fleet.json").to_str().unwrap(),
        "-o",
        base.join("bad.json").to_str().unwrap(),
    ]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("shard 1/2 is in more than one report"),
        "{}",
        String::from_utf8_lossy(&twice.stderr)
    );
    let _ = std::fs::remove_dir_all(&base);
}

#[rstest::rstest]
#[case::met("breaks==0,logged_in>=80%,errors<50%", 0, "slo breaks==0: met")]
#[case::missed("login.p99<1ms", 1, "slo login.p99<1ms: MISSED")]
#[case::unknown_figure("speed>1", 2, "unknown figure")]
fn objectives_decide_the_exit_code(#[case] slo: &str, #[case] code: i32, #[case] says: &str) {
    let reports = dir(&format!("slo-{code}"));
    let out = run_fleet(&["--slo", slo], &reports);
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(code), "{shown}");
    assert!(shown.contains(says), "{shown}");
    if code != 2 {
        let r = report(&reports.join("fleet.json"));
        assert_eq!(
            r["slo"].as_array().map(Vec::len),
            Some(slo.split(',').count())
        );
    }
    let _ = std::fs::remove_dir_all(&reports);
}

/// Over real sockets: the standalone mock knows the generated fleet; 40 devices dial from
/// their own 127.x addresses (one address for all would meet the five-a-minute subscribe
/// limit), log in, ride out a storm and are switched off at the end. With worker processes
/// sharing the port a device's links land on any worker: each accepts the credentials
/// another issued (the secret cached since the first login, the issued SecretNo).
#[rstest::rstest]
#[case::one_process(1)]
#[case::three_worker_processes(3)]
fn a_fleet_over_sockets_against_the_standalone_mock(#[case] workers: usize) {
    let (_mock, url) = standalone_mock(40, None, workers);
    let reports = dir(&format!("sockets-{workers}"));
    let out = hwconform(&[
        "fleet",
        "--cloud",
        &url,
        "--devices",
        "40",
        "--ramp",
        "200",
        "--duration",
        "6s",
        "--storm",
        "2s",
        "--quiet",
        "--slo",
        "breaks==0",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{shown}");
    let r = report(&reports.join("fleet.json"));
    let f = &r["figures"];
    assert_eq!(
        (f["live_at_end"].as_u64(), f["logged_in_at_end"].as_u64()),
        (Some(40), Some(40)),
        "{shown}"
    );
    assert_eq!(
        f["reconnects"], 40,
        "every device came back after the storm: {shown}"
    );
    assert_eq!(
        f["errors"],
        serde_json::json!({}),
        "no 600045: the addresses were spread; {shown}"
    );
    assert_eq!(r["run"]["clock"], "wall");
    assert!(
        f["latency"]["register"]["count"] == 80 && f["login"]["count"] == 80,
        "{shown}"
    );
    let _ = std::fs::remove_dir_all(&reports);
}

/// `cmd` with at most `files` open files (soft and hard: the harness cannot raise it).
fn with_file_limit(cmd: &mut Command, files: u64) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe and only touches the child about to exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: files,
                rlim_max: files,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
    }
}

/// The standalone mock for a generated fleet of `devices`, its URL, killed when dropped.
fn standalone_mock(devices: usize, files: Option<u64>, workers: usize) -> (Killed, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hwconform"));
    cmd.args([
        "mock",
        "--listen",
        "127.0.0.1:0",
        "--fleet-size",
        &devices.to_string(),
        "--workers",
        &workers.to_string(),
    ])
    .env("HWCONFORM_CONTROL_TOKEN", "fleet-test-token-0123456789")
    .env("HWCONFORM_LOG", "error")
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if let Some(files) = files {
        with_file_limit(&mut cmd, files);
    }
    let mut child = cmd.spawn().expect("the mock starts");
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    (Killed(child), url.trim().to_string())
}

/// A fleet of `devices` switched on at once against `url` for `duration`, with a 1 s dial
/// timeout and objectives on who never connected; its report and what it printed.
fn fleet_against(url: &str, devices: usize, duration: &str, files: Option<u64>) -> (Value, String) {
    let reports = dir(&format!("never-{}", url.rsplit(':').next().unwrap_or("x")));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hwconform"));
    cmd.args([
        "fleet",
        "--cloud",
        url,
        "--devices",
        &devices.to_string(),
        "--ramp",
        "0",
        "--duration",
        duration,
        "--dial-timeout",
        "1s",
        "--quiet",
        "--slo",
        "never_connected==0,never_connected<10%",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    if let Some(files) = files {
        with_file_limit(&mut cmd, files);
    }
    let out = cmd.output().expect("hwconform runs");
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "an objective is missed: {shown}"
    );
    let r = report(&reports.join("fleet.json"));
    let _ = std::fs::remove_dir_all(&reports);
    (r, shown)
}

/// Every device is in exactly one place, and the ones that never connected are all there
/// for `why`; returns how many never connected.
fn accounted(r: &Value, devices: u64, why: &str, shown: &str) -> u64 {
    let f = &r["figures"];
    let d = &f["accounting"];
    let (connected, never) = (
        d["connected"].as_u64().unwrap(),
        d["never_connected"].as_u64().unwrap(),
    );
    assert_eq!(connected + never, devices, "{d}");
    assert_eq!(
        d["logged_in"].as_u64().unwrap() + d["never_logged_in"].as_u64().unwrap(),
        connected,
        "{d}"
    );
    assert_eq!(
        d["never_connected_by"],
        serde_json::json!({ why: never }),
        "{d}"
    );
    assert!(
        f["dial_failures_by"][why].as_u64() >= Some(never),
        "each of them failed at least one dial: {f}"
    );
    assert!(
        shown.contains(&format!(
            "never connected {never} ({never} {})",
            why.replace('_', " ")
        )),
        "the terminal says so: {shown}"
    );
    let line = shown
        .lines()
        .find(|l| l.contains("dial failures"))
        .unwrap_or_default();
    assert!(
        line.contains(&format!("dial failures {} (", f["dial_failures"]))
            && line.contains(&format!(
                "{} {}",
                f["dial_failures_by"][why],
                why.replace('_', " ")
            )),
        "the dial failures by why: {shown}"
    );
    assert!(
        shown.contains(&format!(
            "slo never_connected==0: MISSED ({never} of {devices} devices: {never} {}",
            why.replace('_', " ")
        )),
        "{shown}"
    );
    never
}

/// Nobody listens: every dial is refused, and every device is counted as never connected,
/// refused.
#[test]
fn devices_refused_are_counted_as_never_connected() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (r, shown) = fleet_against(&format!("ws://127.0.0.1:{port}/"), 8, "2s", None);
    assert_eq!(accounted(&r, 8, "refused", &shown), 8);
}

/// The mock at its open-file limit serves the links it holds; the others wait in the
/// kernel's accept queue until their dial times out: counted as never connected, timed out,
/// while those the mock took log in.
#[test]
fn devices_a_mock_at_its_file_limit_cannot_take_are_counted_as_timed_out() {
    let (_mock, url) = standalone_mock(80, Some(48), 1);
    let (r, shown) = fleet_against(&url, 80, "4s", None);
    let never = accounted(&r, 80, "timed_out", &shown);
    let d = &r["figures"]["accounting"];
    assert!(never > 0 && never < 80, "the mock took some: {d}");
    assert_eq!(d["logged_in"].as_u64(), Some(80 - never), "{d}");
    assert_eq!(r["figures"]["logged_in_at_end"].as_u64(), Some(80 - never));
}

/// The fleet at its own open-file limit: the devices it has no descriptor for are counted
/// as never connected, file limit.
#[test]
fn devices_past_the_fleets_own_file_limit_are_counted_as_file_limit() {
    let (_mock, url) = standalone_mock(60, None, 1);
    let (r, shown) = fleet_against(&url, 60, "3s", Some(40));
    let never = accounted(&r, 60, "file_limit", &shown);
    assert!(never > 0 && never < 60, "{}", r["figures"]["accounting"]);
}
