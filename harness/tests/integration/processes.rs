//! No process the harness starts outlives it: a SIGTERM to `hwconform run` while a
//! `--device-reset` command or an `exec:` device runs leaves none of theirs running, not even a
//! grandchild that called `setsid()`. (The normal end and the time bound are tested in
//! `engine::children` and `engine::target`.)

use crate::common;
use rstest::rstest;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hwconform-procs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A command starting a grandchild in a session of its own that writes its pid, then sleeping.
fn with_setsid_grandchild(pidfile: &Path) -> String {
    format!(
        "setsid sh -c 'echo $$ > {}; exec sleep 300' & sleep 300",
        pidfile.display()
    )
}

/// Running: in /proc and not a zombie (one left for init to collect counts as gone).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.get(s.rfind(')')? + 2..)
                .map(|r| !r.starts_with('Z') && !r.starts_with('X'))
        })
        .unwrap_or(false)
}

#[rstest]
#[case::reset_command("reset")]
#[case::exec_device("device")]
fn sigterm_leaves_no_process_behind(#[case] what: &str) {
    let dir = temp_dir(what);
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(
        scenarios.join("a.yaml"),
        "id: x.a\ntitle: t\nrequirements: [D7]\nrole: cloud\nsteps:\n  - accept: { within: 60s }\n",
    )
    .unwrap();
    let pidfile = dir.join("grandchild.pid");
    let command = with_setsid_grandchild(&pidfile);
    let (device, reset) = match what {
        "reset" => ("exec:sleep 300".to_string(), Some(command)),
        _ => (format!("exec:{command}"), None),
    };
    let reports = dir.join("reports");
    let mut args = vec![
        "run".to_string(),
        scenarios.display().to_string(),
        "--cloud".into(),
        "none".into(),
        "--device".into(),
        device,
        "--reports".into(),
        reports.display().to_string(),
        "--golden".into(),
        "off".into(),
    ];
    if let Some(reset) = reset {
        args.extend(["--device-reset".to_string(), reset]);
    }
    let mut harness = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(common::repo())
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let grandchild: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            break pid;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = harness.kill();
            panic!("the grandchild never started");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(running(grandchild));
    // SAFETY: signals the child this test started.
    unsafe { libc::kill(harness.id() as i32, libc::SIGTERM) };
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = harness.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(15) {
            let _ = harness.kill();
            panic!("the run did not stop within 15 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::io::read_to_string(harness.stderr.take().unwrap()).unwrap_or_default();
    assert_eq!(status.code(), Some(143), "{stderr}");
    let left = running(grandchild);
    if left {
        // SAFETY: the grandchild this test's harness started; the test cleans up after itself.
        unsafe { libc::kill(grandchild, libc::SIGKILL) };
    }
    assert!(
        !left,
        "the grandchild {grandchild} outlived the run: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
