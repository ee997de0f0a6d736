//! The binary as a user runs it: exit codes, messages, and the README's main command.

use crate::common;

use crate::common::repo;
use std::process::{Command, Output};

fn hwconform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(repo())
        .args(args)
        .output()
        .expect("hwconform starts")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hwconform-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_main_command_passes_the_certification_suite_and_writes_reports() {
    // The README's main command: both libraries, the mock and the reference device, goldens checked.
    let reports = temp_dir("main");
    let out = hwconform(&["run", "scenarios", "--reports", reports.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().any(|l| l.contains(" passed, 0 failed")),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, common::library("").len());
    let failed = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure") || n.has_tag_name("error"))
        .count();
    assert_eq!(failed, 0);
    let _ = std::fs::remove_dir_all(&reports);
}

#[test]
fn an_invalid_scenario_names_file_line_col_and_exits_2() {
    let dir = temp_dir("invalid");
    let file = dir.join("bad.yaml");
    std::fs::write(&file, "id: x.bad\ntitle: t\nrequirements: [C1]\nrole: device\nsteps:\n  - request: { cmd: ping, withn: 5s }\n").unwrap();
    for cmd in ["validate", "run"] {
        let out = hwconform(&[cmd, file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {stderr}");
        assert!(stderr.contains("bad.yaml:6:"), "{cmd}: {stderr}");
        assert!(stderr.contains("within"), "did you mean: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_scenario_exits_1_and_shows_expected_and_actual() {
    let dir = temp_dir("failing");
    let file = dir.join("wrong.yaml");
    std::fs::write(&file, "id: x.wrong\ntitle: t\nrequirements: [C1]\nrole: device\nsteps:\n  - connect: a\n  - request: { cmd: ping }\n    expect: { errcode: 600014 }\n").unwrap();
    let out = hwconform(&[
        "run",
        file.to_str().unwrap(),
        "--reports",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("wrong.yaml:8"), "{stdout}");
    assert!(
        stdout.contains("600014") && stdout.contains("errcode"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Asking for nothing, or for what is not there, is a usage error with a message, the same
/// for every subcommand.
#[rstest::rstest]
#[case::bad_cloud(&["run", "--cloud", "ftp://x"], "")]
#[case::unknown_subcommand(&["frobnicate"], "")]
#[case::run_no_match(&["run", "--filter", "no-such-scenario-anywhere"], "no scenario matches")]
#[case::list_no_match(&["list", "scenarios/cloud", "--filter", "no-such-scenario-anywhere"], "no scenario matches")]
#[case::validate_nothing(&["validate", "harness/src/scenario/steps"], "no scenario files")]
#[case::review_no_dir(&["golden", "review", "--dir", "/nonexistent-golden-dir"], "no golden directory")]
#[case::zero_jobs(&["run", "scenarios/cloud", "-j", "0"], "must be at least 1")]
#[case::identity_without_secret(&["run", "scenarios/cloud", "--identity", "FOO"], "identity #1 (SN=SECRET_NO): expected SN=SECRET_NO")]
fn bad_usage_exits_2(#[case] args: &[&str], #[case] message: &str) {
    let out = hwconform(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(message), "{args:?}: {err}");
}

/// `--cloud-statement`: a statement that does not load names file:line:col and stops the run
/// before any scenario (exit 2); one given twice over (an expiry also given by flag) or for
/// the in-process mock, which states its own settings, is a usage error.
#[test]
fn a_cloud_statement_is_checked_before_the_run() {
    let dir = temp_dir("statement");
    let reports = dir.join("reports");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[heartbeat]\nexpiry = \"150s\"\n").unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, "[heartbeat]\nexpiry = \"90s\"\n").unwrap();
    let url = "ws://127.0.0.1:9";
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "scenarios/cloud",
            "--reports",
            reports.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        hwconform(&args)
    };
    let cases: [(Vec<&str>, String); 3] = [
        (
            vec!["--cloud", url, "--cloud-statement", bad.to_str().unwrap()],
            format!("{}:2:10", bad.display()),
        ),
        (
            vec![
                "--cloud",
                "mock",
                "--cloud-statement",
                good.to_str().unwrap(),
            ],
            "describes a cloud at a URL".into(),
        ),
        (
            vec![
                "--cloud",
                url,
                "--cloud-statement",
                good.to_str().unwrap(),
                "--heartbeat-timeout",
                "90s",
            ],
            "the heartbeat expiry is given twice".into(),
        ),
    ];
    for (extra, message) in cases {
        let out = run(&extra);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(&message), "{extra:?}: {err}");
        assert!(
            !reports.join("run.json").exists(),
            "{extra:?}: no scenario ran"
        );
    }
    let out = run(&["--cloud", url, "--cloud-statement", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("outside the FAQ's 1–2 min"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A cloud statement that loads is recorded as the ICS is: run.json's `meta` has its file, its
/// hash and the values it declared (only those), and the cover shows them; a run at a URL
/// without one says the cloud was held to the FAQ's ranges.
#[test]
fn a_cloud_statement_is_recorded_and_on_the_cover() {
    let dir = temp_dir("statement-recorded");
    let statement = dir.join("cloud.toml");
    let text = "[identity]\nvendor = \"Acme <Cloud>\"\n[heartbeat]\nexpiry = \"90s\"\n";
    std::fs::write(&statement, text).unwrap();
    let sha = hwconform::report::cover::sha256_of(text.as_bytes());
    for with in [true, false] {
        let reports = dir.join(format!("reports-{with}"));
        let mut args = vec![
            "run",
            "scenarios/cloud",
            "--filter",
            "C4",
            // Nothing listens: the scenarios err, and the reports are still written.
            "--cloud",
            "ws://127.0.0.1:9",
            "--step-timeout",
            "1s",
            "--report",
            "json,html",
            "--reports",
            reports.to_str().unwrap(),
        ];
        if with {
            args.extend(["--cloud-statement", statement.to_str().unwrap()]);
        }
        let out = hwconform(&args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(reports.join("run.json")).unwrap())
                .unwrap();
        let page = std::fs::read_to_string(reports.join("report.html")).unwrap();
        let cover = page.split("<section id=\"cover\">").nth(1).unwrap();
        let cover = cover.split("</section>").next().unwrap();
        if with {
            assert_eq!(run["meta"]["cloud_statement_file"]["sha256"], sha);
            assert_eq!(
                run["meta"]["cloud_statement"],
                serde_json::json!({"vendor": "Acme <Cloud>", "heartbeat_expiry": "90s"})
            );
            for shown in [
                sha.as_str(),
                "<dt>heartbeat expiry</dt><dd>90s</dd>",
                "<dd>Acme &lt;Cloud&gt;</dd>",
            ] {
                assert!(cover.contains(shown), "no `{shown}` in {cover}");
            }
        } else {
            assert!(run["meta"].get("cloud_statement_file").is_none(), "{run}");
            assert!(run["meta"].get("cloud_statement").is_none(), "{run}");
            assert!(cover.contains("held to the FAQ's ranges"), "{cover}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn list_and_filter() {
    let out = hwconform(&["list", "scenarios/cloud", "--filter", "C11"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout.contains("cloud.subscribe.rate-limit-600045"),
        "{stdout}"
    );
    assert!(!stdout.contains("cloud.kick"), "{stdout}");
}

/// `--exclude`, `!` and requirement wildcards narrow `list`; `--format json` is data.
#[test]
fn list_excludes_wildcards_and_json() {
    let out = hwconform(&[
        "list",
        "scenarios/cloud",
        "--filter",
        "C1*",
        "--exclude",
        "C11",
        "--filter",
        "!C12",
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("list --format json prints JSON");
    assert!(!rows.is_empty());
    for row in &rows {
        let reqs: Vec<&str> = row["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert!(reqs.iter().any(|r| r.starts_with("C1")), "{row}");
        assert!(!reqs.contains(&"C11") && !reqs.contains(&"C12"), "{row}");
        assert_eq!(row["under_test"], "cloud", "{row}");
        assert!(row["file"].as_str().unwrap().ends_with(".yaml"), "{row}");
    }
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(
        !ids.contains(&"cloud.subscribe.rate-limit-600045"),
        "C11 excluded: {ids:?}"
    );
}

/// After the first failure nothing else starts; what did not start is a skip that says so,
/// in the terminal and the reports, and the run exits 1.
#[test]
fn fail_fast_stops_after_the_first_failure() {
    let dir = temp_dir("fail-fast");
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(scenarios.join("a-wrong.yaml"), "id: x.a-wrong\ntitle: t\nrequirements: [C1]\nrole: device\nsteps:\n  - connect: a\n  - request: { cmd: ping }\n    expect: { errcode: 600014 }\n").unwrap();
    for name in ["b-later", "c-later"] {
        std::fs::write(scenarios.join(format!("{name}.yaml")), format!("id: x.{name}\ntitle: t\nrequirements: [C1]\nrole: device\nsteps:\n  - connect: a\n")).unwrap();
    }
    let reports = dir.join("reports");
    let out = hwconform(&[
        "run",
        scenarios.to_str().unwrap(),
        "-j",
        "1",
        "--fail-fast",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("run.json")).unwrap()).unwrap();
    let verdicts: Vec<(&str, &str)> = run["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("x.a-wrong", "fail"),
            ("x.b-later", "skip"),
            ("x.c-later", "skip")
        ],
        "{stdout}"
    );
    assert!(
        run["scenarios"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("fail-fast stopped the run after `x.a-wrong` (fail)"),
        "{run}"
    );
    // Without the flag every scenario runs.
    let out = hwconform(&[
        "run",
        scenarios.to_str().unwrap(),
        "-j",
        "1",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("run.json")).unwrap()).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(run["summary"]["passed"], 2, "{run}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_secret_reaches_the_output_or_reports() {
    let reports = temp_dir("secrets");
    let out = hwconform(&[
        "run",
        "scenarios/cloud",
        "--verbose",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    let mut everything = String::from_utf8_lossy(&out.stdout).to_string();
    everything.push_str(&String::from_utf8_lossy(&out.stderr));
    for f in ["junit.xml", "run.json"] {
        everything.push_str(&std::fs::read_to_string(reports.join(f)).unwrap());
    }
    // The default fleet's SecretNos and seed.
    assert!(!everything.contains("hwc-secretno-"), "a SecretNo leaked");
    assert!(!everything.contains("hwc-seed-secretno"), "the seed leaked");
    assert!(
        everything.contains("<redacted>"),
        "secrets are shown redacted"
    );
    let _ = std::fs::remove_dir_all(&reports);
}

/// A SecretNo on argv is visible in the process list: it still works, with a warning; from
/// the environment it works without one.
#[test]
fn a_secret_no_on_the_command_line_is_warned_about() {
    let reports = temp_dir("argv");
    let args = [
        "run",
        "scenarios/cloud/register-valid.yaml",
        "--reports",
        reports.to_str().unwrap(),
        "--identity",
        "ARGVSN=argv-secret-no",
    ];
    let out = hwconform(&args);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "warning: a SecretNo given on the command line is visible to every user of this host"
        ),
        "{err}"
    );
    assert!(!err.contains("argv-secret-no"), "{err}");
    let env = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(repo())
        .args([
            "run",
            "scenarios/cloud/register-valid.yaml",
            "--reports",
            reports.to_str().unwrap(),
        ])
        .env("HWCONFORM_SN", "ENVSN")
        .env("HWCONFORM_SECRET_NO", "env-secret-no")
        .output()
        .unwrap();
    assert!(
        env.status.success()
            && !String::from_utf8_lossy(&env.stderr).contains("warning: a SecretNo"),
        "{env:?}"
    );
    let _ = std::fs::remove_dir_all(&reports);
}

/// `{secret_no}` in an `exec:` command is warned about; the environment carries it unseen.
#[test]
fn secret_no_in_an_exec_command_is_warned_about() {
    let reports = temp_dir("execwarn");
    let out = hwconform(&[
        "run",
        "scenarios/device/lifecycle-register-first.yaml",
        "--device",
        "exec:sleep 0 {secret_no}",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "warning: `{secret_no}` puts the SecretNo on the device command's command line"
        ),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&reports);
}

#[test]
fn captured_secrets_are_redacted_in_failure_messages() {
    let dir = temp_dir("captured");
    let file = dir.join("leak.yaml");
    std::fs::write(
        &file,
        "id: x.leak\ntitle: t\nrequirements: [C6]\nrole: device\nsteps:\n  - connect: a\n  - request: { cmd: register }\n  - request: { cmd: active }\n    capture: { s1: body.secret }\n  - request: { cmd: ping }\n    expect: { errcode: { $in: [\"${s1}\"] } }\n",
    )
    .unwrap();
    let out = hwconform(&[
        "run",
        file.to_str().unwrap(),
        "--reports",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let expected = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("expected:"))
        .unwrap_or_default();
    assert!(
        expected.contains("<redacted>"),
        "the captured secret shows: {stdout}"
    );
    let json = std::fs::read_to_string(dir.join("run.json")).unwrap();
    let run: serde_json::Value = serde_json::from_str(&json).unwrap();
    let failure = run["scenarios"][0]["expected"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(failure.contains("<redacted>"), "{failure}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn one_run_both_roles_and_a_role_without_target_is_skipped_with_the_reason() {
    let reports = temp_dir("roles");
    let out = hwconform(&[
        "run",
        "scenarios",
        "--device",
        "none",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("run.json")).unwrap()).unwrap();
    let scenarios = run["scenarios"].as_array().unwrap();
    for s in scenarios {
        let is_device_lib = s["file"]
            .as_str()
            .unwrap_or_default()
            .contains("scenarios/device/");
        match (is_device_lib, s["verdict"].as_str().unwrap()) {
            (true, "skip") => assert!(
                s["reason"].as_str().unwrap().contains("no device target"),
                "{s}"
            ),
            (true, "manual") | (false, "pass") => {}
            other => panic!("unexpected {other:?} for {}", s["id"]),
        }
    }
    assert!(
        scenarios.iter().any(|s| s["verdict"] == "pass")
            && scenarios.iter().any(|s| s["verdict"] == "skip")
    );
    let _ = std::fs::remove_dir_all(&reports);
}

#[test]
fn listen_on_port_0_prints_the_bound_url_before_waiting() {
    use std::io::{BufRead, BufReader};
    let reports = temp_dir("listen");
    let scenario = repo().join("scenarios/device/lifecycle-register-first.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(repo())
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--device",
            "listen:127.0.0.1:0",
            "--reports",
            reports.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("hwconform starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut lines = Vec::new();
    let mut url = None;
    while let Ok(line) =
        rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        url = line
            .strip_prefix("waiting for the device on ")
            .and_then(|l| l.strip_suffix(" ..."))
            .map(str::to_string);
        lines.push(line);
        if url.is_some() {
            break;
        }
    }
    // The harness listens there while it waits: a device can connect.
    let connected = url
        .as_deref()
        .and_then(|u| {
            u.strip_prefix("ws://127.0.0.1:")?
                .strip_suffix('/')?
                .parse::<u16>()
                .ok()
        })
        .filter(|&port| port != 0)
        .map(|port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&reports);
    assert_eq!(connected, Some(true), "stderr: {lines:?}");
}

#[test]
fn an_unknown_sim_variant_is_a_usage_error_listing_the_variants() {
    for args in [
        &[
            "run",
            "scenarios/device",
            "--device",
            "sim:variant=nonsense",
        ][..],
        &[
            "explore",
            "--device",
            "sim:variant=ping-first;fault=nonsense",
            "--cases",
            "1",
        ],
    ] {
        let out = hwconform(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let listed = if args[0] == "run" {
            "known variants: no-contacts, ping-first"
        } else {
            "known faults: no-jitter"
        };
        assert!(stderr.contains(listed), "{args:?}: {stderr}");
    }
}

/// Every argument and option of every subcommand says what it is for.
#[test]
fn every_argument_has_help_text() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&hwconform::cli::Cli::command(), "hwconform", &mut missing);
    assert!(missing.is_empty(), "arguments without help: {missing:?}");
}

/// SIGTERM during a run with a started device: the reports are written with the running
/// scenario an error that says it was interrupted and the rest not run, the device's
/// process group is gone, and the exit code is 143 — all within a few seconds.
#[test]
fn sigterm_writes_the_reports_and_stops_the_device() {
    let dir = temp_dir("sigterm");
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    for name in ["a-waits", "b-later"] {
        std::fs::write(scenarios.join(format!("{name}.yaml")), format!("id: x.{name}\ntitle: t\nrequirements: [D7]\nrole: cloud\nsteps:\n  - accept: {{ within: 60s }}\n")).unwrap();
    }
    let pidfile = dir.join("device.pid");
    let reports = dir.join("reports");
    let device = format!("exec:echo $$ > {} && exec sleep 120", pidfile.display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(repo())
        .args([
            "run",
            scenarios.to_str().unwrap(),
            "-j",
            "1",
            "--cloud",
            "none",
            "--device",
            &device,
            "--reports",
            reports.to_str().unwrap(),
            "--golden",
            "off",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !pidfile.exists() || std::fs::read_to_string(&pidfile).unwrap().trim().is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the device never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let device_pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: signals the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let signalled = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the run did not stop within 10 s of SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(143), "{stderr}");
    let run: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("run.json")).expect("run.json written"),
    )
    .unwrap();
    let first = &run["scenarios"][0];
    assert_eq!(first["verdict"], "error", "{run}");
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("interrupted (SIGTERM)"),
        "{run}"
    );
    assert_eq!(run["scenarios"][1]["verdict"], "skip", "{run}");
    assert!(
        run["scenarios"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("interrupted (SIGTERM)"),
        "{run}"
    );
    assert!(reports.join("junit.xml").exists());
    // The device is gone (a zombie waiting for init to reap it counts as gone).
    let state = std::fs::read_to_string(format!("/proc/{device_pid}/status")).unwrap_or_default();
    let alive = state
        .lines()
        .find(|l| l.starts_with("State:"))
        .is_some_and(|l| !l.contains("Z"));
    assert!(
        !alive,
        "the device process {device_pid} outlived the run: {state}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The requirement matrix as CSV: every obligation a row, the uncovered ones said so, and a
/// spreadsheet reads the statements back whole (commas and quotes inside them).
#[test]
fn requirements_csv_lists_every_obligation() {
    let reports = temp_dir("csv");
    let out = hwconform(&[
        "run",
        "scenarios/cloud",
        "--filter",
        "C1",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader =
        csv::Reader::from_path(reports.join("requirements.csv")).expect("requirements.csv written");
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "status",
            "source",
            "strength",
            "scenarios",
            "detail",
            "text"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let status = |id: &str| rows.iter().find(|r| &r[0] == id).map(|r| r[1].to_string());
    for n in 1..=42 {
        assert!(status(&format!("D{n}")).is_some(), "D{n} missing");
    }
    for n in 1..=24 {
        assert!(status(&format!("C{n}")).is_some(), "C{n} missing");
    }
    assert_eq!(status("C1").as_deref(), Some("pass"));
    assert_eq!(status("C15").as_deref(), Some("not_covered"));
    let c1 = rows.iter().find(|r| &r[0] == "C1").unwrap();
    for row in &rows {
        let statement = hwconform::profile::wecom::obligations::statements()
            .iter()
            .find(|s| s.id == row[0])
            .expect("a known id");
        assert_eq!(
            &row[6], statement.text,
            "{} comes back whole (quotes, commas and all)",
            &row[0]
        );
    }
    assert!(c1[6].contains("\"ok\""), "{:?}", &c1[6]);
    assert!(c1[4].contains("=pass"), "{:?}", &c1[4]);
    // --report json leaves it out.
    let only = temp_dir("csv-only-json");
    let out = hwconform(&[
        "run",
        "scenarios/cloud",
        "--filter",
        "C1",
        "--report",
        "json",
        "--reports",
        only.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!only.join("requirements.csv").exists());
    let _ = std::fs::remove_dir_all(&reports);
    let _ = std::fs::remove_dir_all(&only);
}

/// The row of `id` in a run.json's requirement matrix.
fn matrix_row(run_json: &std::path::Path, id: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_json).unwrap()).unwrap();
    v["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no row {id}"))
        .clone()
}

#[test]
fn a_recorded_manual_verdict_signs_the_matrix_in_every_report() {
    let dir = temp_dir("manual");
    let (run, rebuilt, direct, file) = (
        dir.join("run"),
        dir.join("rebuilt"),
        dir.join("direct"),
        dir.join("verdicts.json"),
    );
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let out = hwconform(&[
        "run",
        "scenarios/device",
        "--filter",
        "D38",
        "--filter",
        "D36",
        "--reports",
        &s(&run),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        matrix_row(&run.join("run.json"), "D38")["status"],
        "manual_pending"
    );

    // Bad records are refused and write nothing.
    for (args, says) in [
        (
            vec!["D99", "--verdict", "pass", "--note", "x"],
            "`D99` is not an obligation",
        ),
        (
            vec!["D38", "--verdict", "ok", "--note", "x"],
            "invalid value 'ok'",
        ),
        (
            vec!["D38", "--verdict", "pass", "--note", " "],
            "cannot be empty",
        ),
    ] {
        let mut full = vec!["manual", "record"];
        full.extend(args);
        let run_json = s(&run.join("run.json"));
        full.extend(["--by", "ann", "--file", file.to_str().unwrap()]);
        full.extend(["--run", &run_json]);
        let out = hwconform(&full);
        assert_eq!(out.status.code(), Some(2), "{full:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{full:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!file.exists());
    }
    for (id, verdict, note) in [
        ("d38", "fail", "first look"),
        (
            "D38",
            "pass",
            "batch of 30 readings uploaded, values match the screen",
        ),
        ("D36", "pass", "face template enrolled"),
    ] {
        let out = hwconform(&[
            "manual",
            "record",
            id,
            "--verdict",
            verdict,
            "--note",
            note,
            "--by",
            "Ann Lab",
            "--file",
            &s(&file),
            "--run",
            &s(&run.join("run.json")),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!(
            "recorded {} {verdict} by Ann Lab at ",
            id.to_uppercase()
        )));
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .contains(" for hwconform reference device firmware "),
            "the record names the device it was seen on"
        );
    }
    let listed =
        String::from_utf8_lossy(&hwconform(&["manual", "list", "--file", &s(&file)]).stdout)
            .into_owned();
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(
        listed
            .lines()
            .all(|l| l.contains(" on hwconform reference device firmware ")),
        "each record names its device: {listed}"
    );

    // Signed afterwards: the reports are rebuilt from run.json with the verdicts file.
    let out = hwconform(&[
        "report",
        &s(&run.join("run.json")),
        "--manual",
        &s(&file),
        "--reports",
        &s(&rebuilt),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Signed up front: the run takes the file.
    let out = hwconform(&[
        "run",
        "scenarios/device",
        "--filter",
        "D38",
        "--filter",
        "D36",
        "--manual",
        &s(&file),
        "--requirements",
        "--reports",
        &s(&direct),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(table.contains("manual pass by Ann Lab at "), "{table}");
    for dir in [&rebuilt, &direct] {
        let d38 = matrix_row(&dir.join("run.json"), "D38");
        assert_eq!(d38["status"], "pass", "the later record supersedes: {d38}");
        assert_eq!(d38["manual"]["by"], "Ann Lab");
        assert!(
            d38["detail"]
                .as_str()
                .unwrap()
                .contains("batch of 30 readings"),
            "{d38}"
        );
        let d36 = matrix_row(&dir.join("run.json"), "D36");
        assert_eq!(
            d36["status"], "pass",
            "signed manual half, automated half passed: {d36}"
        );
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(
            html.contains("manual pass by Ann Lab"),
            "the HTML matrix shows who signed"
        );
        let csv = std::fs::read_to_string(dir.join("requirements.csv")).unwrap();
        assert!(csv.contains("manual pass by Ann Lab"));
    }
    // Rebuilding the rebuilt report with the same file again counts each record once.
    let again = dir.join("again");
    hwconform(&[
        "report",
        &s(&rebuilt.join("run.json")),
        "--manual",
        &s(&file),
        "--reports",
        &s(&again),
    ]);
    assert_eq!(
        std::fs::read(again.join("run.json")).unwrap(),
        std::fs::read(rebuilt.join("run.json")).unwrap()
    );
    // A record made on another device is refused for this one, with the reason.
    let other = dir.join("other.json");
    let out = hwconform(&[
        "manual",
        "record",
        "D38",
        "--verdict",
        "pass",
        "--note",
        "seen on the bench unit",
        "--by",
        "Bob",
        "--file",
        &s(&other),
        "--ics",
        "examples/ics/door-controller.toml",
        "--sn",
        "ACME-0042",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for args in [
        vec![
            "report",
            run.join("run.json").to_str().unwrap(),
            "--reports",
            again.to_str().unwrap(),
        ],
        vec![
            "run",
            "scenarios/device",
            "--filter",
            "D38",
            "--reports",
            again.to_str().unwrap(),
        ],
    ] {
        let mut args = args;
        args.extend(["--manual", other.to_str().unwrap()]);
        let out = hwconform(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("records D38 (by Bob at ")
                && err.contains("for another device: it was seen on Acme DC-100 firmware 2.3.1, this run tested hwconform reference device firmware"),
            "{args:?}: {err}"
        );
    }
    // A record that names no device (made before records were bound) is refused too.
    let unbound = dir.join("unbound.json");
    std::fs::write(
        &unbound,
        r#"{"version": 1, "records": [{"id": "D38", "verdict": "pass", "by": "ann", "at": "t", "note": "n"}]}"#,
    )
    .unwrap();
    let out = hwconform(&[
        "report",
        &s(&run.join("run.json")),
        "--manual",
        &s(&unbound),
        "--reports",
        &s(&again),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("for no device; sign it again"));
    // The cover names the verdicts file and its hash.
    let html = std::fs::read_to_string(rebuilt.join("report.html")).unwrap();
    assert!(
        html.contains(&format!("<code>{}</code> (3 records)", s(&file))),
        "the cover names the file"
    );
    let sha = format!(
        "sha256:{}",
        String::from_utf8_lossy(
            &std::process::Command::new("sha256sum")
                .arg(&file)
                .output()
                .unwrap()
                .stdout
        )
        .split_whitespace()
        .next()
        .unwrap()
    );
    assert!(
        html.contains(&sha),
        "the cover quotes the file's hash {sha}"
    );
    // A named file that is missing is an error, not an empty list.
    let out = hwconform(&[
        "report",
        &s(&run.join("run.json")),
        "--manual",
        &s(&dir.join("nope.json")),
        "--reports",
        &s(&again),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// While a scenario waits on a real device, a terminal gets a status line (what runs, at which
/// step, for how long, what is left); redirected output gets none, and NO_COLOR is honoured.
#[test]
fn a_terminal_gets_a_status_line_while_a_scenario_waits_and_a_pipe_does_not() {
    let dir = temp_dir("status");
    let file = dir.join("wait.yaml");
    std::fs::write(&file, "id: x.status\ntitle: t\nrequirements: [D7]\nrole: cloud\nsteps:\n  - accept: { within: 3s }\n").unwrap();
    let reports = dir.join("reports");
    let args = [
        "run",
        file.to_str().unwrap(),
        "--device",
        "exec:sleep 30",
        "--reports",
        reports.to_str().unwrap(),
    ];
    let plain = hwconform(&args);
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(
        !stderr.contains("done]") && !stderr.contains('\x1b'),
        "no status line or escapes into a pipe:\n{stderr}"
    );
    // A terminal, by script(1) (util-linux), where it is installed.
    if Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let typescript = dir.join("typescript");
        let line = std::iter::once(env!("CARGO_BIN_EXE_hwconform").to_string())
            .chain(args.iter().map(|a| format!("'{a}'")))
            .collect::<Vec<_>>()
            .join(" ");
        let out = Command::new("script")
            .current_dir(repo())
            .env("NO_COLOR", "1")
            .args(["-qec", &line, typescript.to_str().unwrap()])
            .output()
            .unwrap();
        let seen = std::fs::read_to_string(&typescript).unwrap_or_default();
        assert!(
            seen.contains("[0/1 done] x.status 0:0")
                && seen.contains("at step 1 accept (line 6)")
                && seen.contains("ETA at most"),
            "{out:?}\n{seen}"
        );
        assert!(
            seen.contains("\r\x1b[2K[1/1] "),
            "the line is cleared before the result prints:\n{seen:?}"
        );
        assert!(
            !seen.contains("\x1b[1;") && !seen.contains("\x1b[3"),
            "NO_COLOR: no colour on stdout or stderr:\n{seen:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_serves_a_corp_file_and_points_at_a_bad_one() {
    let dir = std::env::temp_dir().join(format!("hwconform-cli-corp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("corp.yaml");
    std::fs::write(
        &good,
        "name: Acme\nperm_version: 41\nusers:\n  - { userid: ann, name: Ann }\n",
    )
    .unwrap();
    let scenario = dir.join("version.yaml");
    let text = "id: t.corp\ntitle: the corp file's version\nrequirements: [C16]\nrole: device\nsteps:\n  - connect: a\n  - request: { cmd: register }\n  - request: { cmd: active }\n  - request: { cmd: subscribe_corp }\n  - request: { cmd: get_perm_version }\n    expect: { errcode: 0, body: { perm_version: 41 } }\n  - request: { cmd: get_corp_info }\n    expect: { body: { corp_name: Acme } }\n";
    std::fs::write(&scenario, text).unwrap();
    let reports = dir.join("reports");
    let out = hwconform(&[
        "run",
        "--corp",
        good.to_str().unwrap(),
        "--reports",
        reports.to_str().unwrap(),
        scenario.to_str().unwrap(),
    ]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("serving corp \"Acme\""), "{all}");
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "users:\n  - userid: a\n    nmae: A\n").unwrap();
    let out = hwconform(&[
        "run",
        "--corp",
        bad.to_str().unwrap(),
        scenario.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:2:5: in `users`: unknown field `nmae`",
            bad.display()
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
