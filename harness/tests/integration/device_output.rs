//! What an `exec:` device, the `--device-reset` command and the upper tester write is
//! evidence: recorded line by line into the transcript, in order with the frames, shown with
//! `-v`, scrubbed of secrets; an interrupted run keeps what the running scenario recorded.

use crate::common::repo;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hwconform-out-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn device_sim() -> String {
    format!(
        "{} device-sim --url {{url}} --sn {{sn}} --secret-no {{secret_no}}",
        env!("CARGO_BIN_EXE_hwconform")
    )
}

/// The events of the first scenario's transcript.
fn entries(run: &Value) -> Vec<Value> {
    run["scenarios"][0]["transcript"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn position(entries: &[Value], pred: impl Fn(&Value) -> bool, what: &str) -> usize {
    entries
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("no {what} in {entries:#?}"))
}

fn output_line<'a>(e: &'a Value, source: &str, stream: &str) -> Option<&'a str> {
    (e["event"] == "output" && e["source"] == source && e["stream"] == stream)
        .then(|| e["line"].as_str())
        .flatten()
}

#[test]
fn an_exec_devices_output_is_in_the_transcript_in_order_and_without_secrets() {
    let dir = temp_dir("order");
    std::fs::write(
        dir.join("register.yaml"),
        "id: x.register\ntitle: t\nrequirements: [D7]\nrole: cloud\nsteps:\n  - accept: { within: 5s }\n  - receive: { cmd: register, within: 3s }\n  - reply: {}\n  - delay: 1500ms\n",
    )
    .unwrap();
    let leaked = dir.join("secret");
    // The device says its secret outright, as a JSON field under a secret key and under
    // another, writes a byte that is not UTF-8, and logs after it registered.
    let device = format!(
        "exec:echo \"$HWCONFORM_SECRET_NO\" > {leaked}; echo \"boot sn={{sn}} key={{secret_no}}\"; \
         echo \"cfg {{\\\"secret\\\": \\\"vendor-$((6*7))-shh\\\", \\\"n\\\": 1}}\" >&2; printf 'bad \\377 byte\\n'; \
         (sleep 0.8; echo \"after register $HWCONFORM_SECRET_NO\" >&2) & exec {}",
        device_sim(),
        leaked = leaked.display()
    );
    let reports = dir.join("reports");
    let out = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(repo())
        .args([
            "run",
            dir.to_str().unwrap(),
            "--cloud",
            "none",
            "--device",
            &device,
            "--device-reset",
            "echo reset-done; echo reset-warning >&2",
            "--reports",
            reports.to_str().unwrap(),
            "--golden",
            "off",
            "-v",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let secret = std::fs::read_to_string(&leaked).unwrap().trim().to_string();
    assert!(secret.len() >= 4, "the device saw its secret: {secret:?}");
    let json = std::fs::read_to_string(reports.join("run.json")).unwrap();
    let run: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(run["scenarios"][0]["verdict"], "pass", "{stdout}{stderr}");
    let e = entries(&run);
    let reset = position(
        &e,
        |e| output_line(e, "device_reset", "stdout") == Some("reset-done"),
        "reset stdout",
    );
    position(
        &e,
        |e| output_line(e, "device_reset", "stderr") == Some("reset-warning"),
        "reset stderr",
    );
    let boot = position(
        &e,
        |e| output_line(e, "device", "stdout").is_some_and(|l| l.starts_with("boot sn=")),
        "boot line",
    );
    let cfg = position(
        &e,
        |e| output_line(e, "device", "stderr").is_some_and(|l| l.starts_with("cfg {")),
        "cfg line",
    );
    assert!(
        output_line(&e[cfg], "device", "stderr")
            .unwrap()
            .contains(r#""n":1"#),
        "the JSON around the secret is kept: {}",
        e[cfg]
    );
    position(
        &e,
        |e| output_line(e, "device", "stdout") == Some("bad \u{fffd} byte"),
        "the non-UTF-8 line",
    );
    let register = position(&e, |e| e["event"] == "received", "a received frame");
    let after = position(
        &e,
        |e| output_line(e, "device", "stderr").is_some_and(|l| l.starts_with("after register")),
        "the line after register",
    );
    assert!(
        reset < boot && boot < register && cfg < register && register < after,
        "{e:#?}"
    );
    let times: Vec<f64> = e.iter().map(|e| e["at"].as_f64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "times in order: {times:?}"
    );
    // The secrets it said are nowhere: not in run.json, the HTML, JUnit or the terminal.
    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    for (name, text) in [
        ("run.json", &json),
        ("report.html", &html),
        ("junit.xml", &junit),
        ("stdout", &stdout.to_string()),
        ("stderr", &stderr.to_string()),
    ] {
        assert!(!text.contains(&secret), "the secret in {name}");
        assert!(!text.contains("vendor-42-shh"), "the JSON secret in {name}");
    }
    // Shown with -v between the frames, and in the report's wire log.
    assert!(stdout.contains("[device stdout] boot sn="), "{stdout}");
    assert!(
        stdout.contains("[device-reset stdout] reset-done"),
        "{stdout}"
    );
    assert!(
        html.contains("[device stderr]") && html.contains("after register"),
        "the HTML shows the lines"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits until the pipe behind `path` (a process's write end, opened here as a read end we
/// never read) holds no unread bytes: its reader has taken them.
fn wait_until_read(path: &str, started: Instant) {
    use std::os::fd::AsRawFd;
    let pipe = std::fs::File::open(path).unwrap();
    loop {
        let mut unread: libc::c_int = 0;
        // SAFETY: FIONREAD writes one c_int through the pointer, on an fd we own.
        let rc = unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut unread) };
        assert_eq!(rc, 0, "FIONREAD on {path}");
        if unread == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{path}: {unread} bytes never read"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGINT while a scenario waits: its transcript up to the interruption (here, what the
/// device said) is kept in run.json, with the interruption noted.
#[test]
fn an_interrupted_scenario_keeps_its_transcript() {
    let dir = temp_dir("sigint");
    std::fs::write(
        dir.join("waits.yaml"),
        "id: x.waits\ntitle: t\nrequirements: [D7]\nrole: cloud\nsteps:\n  - accept: { within: 60s }\n",
    )
    .unwrap();
    let ready = dir.join("ready");
    let device = format!(
        "exec:echo 'firmware 1.2 booting'; echo 'no network yet' >&2; echo $$ > {0}.tmp; mv {0}.tmp {0}; exec sleep 120",
        ready.display()
    );
    let reports = dir.join("reports");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(repo())
        .args([
            "run",
            dir.to_str().unwrap(),
            "--cloud",
            "none",
            "--device",
            &device,
            "--reports",
            reports.to_str().unwrap(),
            "--golden",
            "off",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the device never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The lines are read once the device's pipes hold nothing unread: the harness records
    // each line in the same poll that reads it.
    let pid: u32 = std::fs::read_to_string(&ready)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for fd in [1, 2] {
        wait_until_read(&format!("/proc/{pid}/fd/{fd}"), started);
    }
    // SAFETY: signals the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let signalled = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if signalled.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the run did not stop within 10 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("run.json")).unwrap()).unwrap();
    let first = &run["scenarios"][0];
    assert_eq!(first["verdict"], "error", "{run}");
    let e = entries(&run);
    position(
        &e,
        |e| output_line(e, "device", "stdout") == Some("firmware 1.2 booting"),
        "stdout line",
    );
    position(
        &e,
        |e| output_line(e, "device", "stderr") == Some("no network yet"),
        "stderr line",
    );
    position(
        &e,
        |e| {
            e["event"] == "note"
                && e["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("interrupted (SIGINT)"))
        },
        "the interruption noted",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
