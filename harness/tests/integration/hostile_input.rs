//! Files written to hurt the harness: `validate` on each answers with exit 2, boundedly in
//! time and output, however many errors the file holds or however wide its one line is.

use crate::common;
use rstest::rstest;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hwconform-hostile-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const HEAD: &str = "id: x.hostile\ntitle: t\nrole: device\n";

fn repeated(n: usize, item: impl Fn(usize) -> String) -> String {
    (0..n).map(item).collect::<Vec<_>>().join(", ")
}

/// 20,000 duplicate requirement ids on one 80 KB line (once: a 1.8 GB allocation).
fn duplicate_requirements() -> String {
    format!(
        "{HEAD}requirements: [{}]\nsteps:\n  - wait: 1s\n",
        repeated(20_000, |_| "C6".into())
    )
}

/// 5,000 misspelt keys in one step on one line (once: 1.2 GB of stderr).
fn misspelt_keys() -> String {
    format!(
        "{HEAD}requirements: [C6]\nsteps:\n  - request: {{cmd: register, {}}}\n",
        repeated(5_000, |i| format!("wiat{i}: 1s"))
    )
}

/// A flow sequence 100,000 deep: the parser's limit, on a 100 KB line.
fn deep_yaml() -> String {
    format!("{HEAD}requirements: [C6]\nsteps: {}\n", "[".repeat(100_000))
}

/// 50,000 distinct unknown requirement ids.
fn unknown_requirements() -> String {
    format!(
        "{HEAD}requirements: [{}]\nsteps:\n  - wait: 1s\n",
        repeated(50_000, |i| format!("Q{i}"))
    )
}

/// A line of 1 MB holding one unknown key at its end.
fn one_wide_line() -> String {
    format!(
        "{HEAD}requirements: [C6]\nsteps:\n  - request: {{cmd: register, body: {{pad: \"{}\"}}, wihtin: 1s}}\n",
        "x".repeat(1_000_000)
    )
}

/// 1,000,000 duplicate requirement ids (3 MB; once grown to 24 GB and OOM-killed): refused
/// at the YAML value limit, before the tree takes the memory.
fn a_million_requirements() -> String {
    format!(
        "{HEAD}requirements: [{}]\nsteps:\n  - wait: 1s\n",
        repeated(1_000_000, |_| "C6".into())
    )
}

#[rstest]
#[case::a_million_requirements("million", a_million_requirements(), None)]
#[case::duplicate_requirements("dup", duplicate_requirements(), Some(19_949))]
#[case::misspelt_keys("keys", misspelt_keys(), Some(4_950))]
#[case::deep_yaml("deep", deep_yaml(), None)]
#[case::unknown_requirements("unknown", unknown_requirements(), Some(49_950))]
#[case::one_wide_line("wide", one_wide_line(), None)]
fn validate_on_a_hostile_file_is_bounded_and_exits_2(
    #[case] name: &str,
    #[case] text: String,
    #[case] more: Option<usize>,
) {
    let dir = temp_dir(name);
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, &text).unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .args(["validate", file.to_str().unwrap()])
        .output()
        .expect("hwconform starts");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // Under 1 s in a release build; a debug build (and a busy machine) gets ten times that.
    assert!(took < Duration::from_secs(10), "{name}: {took:?}");
    assert!(
        out.stderr.len() + out.stdout.len() < 100_000,
        "{name}: {} bytes of output",
        out.stderr.len() + out.stdout.len()
    );
    // Every shown line of the file is a window of it, not the line.
    assert!(
        stderr.lines().all(|l| l.chars().count() < 600),
        "{name}: a line of {} characters",
        stderr.lines().map(|l| l.chars().count()).max().unwrap_or(0)
    );
    assert!(stderr.contains(&format!("{name}.yaml:")), "{stderr}");
    match more {
        Some(n) => {
            let grouped = format!("{},{:03}", n / 1000, n % 1000);
            assert!(
                stderr.contains(&format!("and {grouped} more errors")),
                "{name}: {}",
                &stderr[stderr.len().saturating_sub(400)..]
            );
            assert_eq!(stderr.matches("\nerror: ").count() + 1, 51, "{name}");
        }
        None => assert!(!stderr.contains("more error"), "{stderr}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// What `validate` says of a scenario whose steps are `steps`: it is refused (exit 2).
fn refused_steps(name: &str, steps: &str) -> String {
    let dir = temp_dir(name);
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, format!("{HEAD}requirements: [C6]\nsteps:\n{steps}")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .args(["validate", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
    stderr
}

/// A NUL byte is named as one, and shown as the visible `␀`, never as a tab.
#[test]
fn a_nul_byte_is_reported_as_nul() {
    let stderr = refused_steps("nul", "  - wait: 1s\0\n");
    assert!(stderr.contains("NUL byte (\\0)"), "{stderr}");
    assert!(stderr.contains("1s␀"), "{stderr}");
    assert!(!stderr.contains("tabs"), "{stderr}");
    assert!(!stderr.contains('\0'), "{stderr}");
}

/// A tab is still named as a tab.
#[test]
fn a_tab_is_still_reported_as_a_tab() {
    let stderr = refused_steps("tab", "\t- wait: 1s\n");
    assert!(stderr.contains("tabs"), "{stderr}");
    assert!(!stderr.contains("NUL"), "{stderr}");
}

/// A run.json of a real (one-scenario) run, made once.
fn good_run() -> &'static PathBuf {
    static RUN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let dir = temp_dir("good-run");
        let out = Command::new(env!("CARGO_BIN_EXE_hwconform"))
            .current_dir(common::repo())
            .args([
                "run",
                "scenarios/cloud/active-unbound.yaml",
                "--reports",
                dir.to_str().unwrap(),
                "--golden",
                "off",
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir.join("run.json")
    })
}

/// The good run with one change.
fn bad_run(name: &str, change: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let mut run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(good_run()).unwrap()).unwrap();
    change(&mut run);
    let path = temp_dir(&format!("bad-run-{name}")).join("run.json");
    std::fs::write(&path, run.to_string()).unwrap();
    path
}

/// Every reader of run.json refuses the same files, with the same reason (exit 2): among
/// them a run judged with another profile than this harness runs, whose obligation ids mean
/// something else (the error names both profiles).
#[rstest]
fn run_json_readers_agree(
    #[values("version", "duplicate", "verdict", "profile")] bad: &str,
    #[values("report", "rejudge", "diff", "merge", "manual")] command: &str,
) {
    // A file per case: the cases run in parallel.
    let name = format!("{bad}-{command}");
    let (path, reason) = match bad {
        "version" => (
            bad_run(&name, |r| r["version"] = 999.into()),
            "is a run report of version 999; this hwconform reads version 1",
        ),
        "duplicate" => (
            bad_run(&name, |r| {
                let first = r["scenarios"][0].clone();
                r["scenarios"].as_array_mut().unwrap().push(first);
            }),
            "lists scenario cloud.active.secret-only-when-bound twice",
        ),
        "verdict" => (
            bad_run(&name, |r| r["scenarios"][0]["verdict"] = "pwned".into()),
            "has the unknown verdict `pwned`",
        ),
        _ => (
            bad_run(&name, |r| r["meta"]["profile"] = "toy".into()),
            "was judged with profile `toy`; this hwconform runs profile `wecom`",
        ),
    };
    let out_dir = temp_dir(&format!("out-{bad}-{command}"));
    let (p, good, out) = (
        path.to_str().unwrap(),
        good_run().to_str().unwrap(),
        out_dir.to_str().unwrap(),
    );
    let manual = out_dir.join("manual.json").display().to_string();
    let args: Vec<&str> = match command {
        "report" => vec!["report", p, "--reports", out],
        "rejudge" => vec!["rejudge", p],
        "diff" => vec!["diff", good, p],
        "manual" => vec![
            "manual",
            "record",
            "D38",
            "--verdict",
            "pass",
            "--note",
            "seen",
            "--by",
            "lab",
            "--file",
            &manual,
            "--run",
            p,
        ],
        _ => vec!["report", "merge", good, p, "--reports", out],
    };
    let run = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(common::repo())
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{command} on {bad}: {stderr}");
    assert!(
        !Path::new(&manual).exists(),
        "{command} on {bad} recorded nothing"
    );
    assert!(stderr.contains(reason), "{command} on {bad}: {stderr}");
    assert!(
        stderr.contains(p),
        "{command} on {bad} names the file: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}

/// The variant: the good file goes through every reader.
#[rstest]
#[case::report(&["report", "RUN", "--reports", "OUT"])]
#[case::rejudge(&["rejudge", "RUN"])]
#[case::diff(&["diff", "RUN", "RUN"])]
#[case::manual(&[
    "manual", "record", "D38", "--verdict", "pass", "--note", "seen", "--by", "lab", "--file",
    "MANUAL", "--run", "RUN",
])]
fn a_good_run_json_is_read_by_every_reader(#[case] args: &[&str]) {
    let out_dir = temp_dir(&format!("out-good-{}", args[0]));
    let manual = out_dir.join("manual.json").display().to_string();
    let args: Vec<&str> = args
        .iter()
        .map(|a| match *a {
            "RUN" => good_run().to_str().unwrap(),
            "OUT" => out_dir.to_str().unwrap(),
            "MANUAL" => &manual,
            a => a,
        })
        .collect();
    let run = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(common::repo())
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}

/// A devices file with an empty `devices` list is a mistake in the file: exit 2, whichever
/// command reads it (`explore` used to start and fail with exit 1).
#[rstest]
#[case::run(&["run", "scenarios/cloud/active-unbound.yaml", "--devices-file", "FILE", "--reports", "OUT"])]
#[case::explore(&["explore", "--cloud", "mock", "--devices-file", "FILE"])]
fn an_empty_devices_list_exits_2(#[case] args: &[&str]) {
    let dir = temp_dir(&format!("empty-devices-{}", args[0]));
    let file = dir.join("devices.json");
    std::fs::write(&file, r#"{"devices": []}"#).unwrap();
    let args: Vec<&str> = args
        .iter()
        .map(|a| match *a {
            "FILE" => file.to_str().unwrap(),
            "OUT" => dir.to_str().unwrap(),
            a => a,
        })
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(common::repo())
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains("devices is empty"), "{args:?}: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
