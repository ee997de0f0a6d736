//! Golden transcripts end to end, through the binary as a user runs it: check, update,
//! review, accept, the reports of a changed conversation, `hwconform diff`; and a scan of
//! every committed golden for values that must never be in one.

use crate::common::repo;
use regex::Regex;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scenario of our own, so edits to the library cannot break these tests.
const SCENARIO: &str = "id: t.golden.login-ping
title: log in and ping
requirements: [C1]
role: device
steps:
  - connect: a
  - request: { cmd: register }
    expect: { errcode: 0 }
  - request: { cmd: active }
    expect: { errcode: 0 }
  - request: { cmd: subscribe_corp }
    expect: { errcode: 0 }
  - wait: 2.5s
  - request: { cmd: ping }
    expect: { errcode: 0 }
";

/// A directory under the system temp dir, removed when dropped (even when a test panics).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("hwconform-golden-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hwconform(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("hwconform starts")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn everything(o: &Output) -> String {
    format!("{}\n{}", stdout(o), String::from_utf8_lossy(&o.stderr))
}

fn run(dir: &Path, golden: &str, reports: &str) -> Output {
    hwconform(
        dir,
        &[
            "run",
            "t.yaml",
            "--golden",
            golden,
            "--golden-dir",
            "golden",
            "--reports",
            reports,
        ],
    )
}

#[test]
fn check_update_review_accept_and_diff() {
    let tmp = TempDir::new("cycle");
    let dir = &tmp.0;
    std::fs::write(tmp.path("t.yaml"), SCENARIO).unwrap();
    let (snap, pending) = (
        tmp.path("golden/t.golden.login-ping.snap"),
        tmp.path("golden/t.golden.login-ping.snap.new"),
    );

    // No golden yet: the default check passes, says it checked none, and writes nothing;
    // asked for, a check without goldens is bad usage.
    let out = hwconform(dir, &["run", "t.yaml", "--reports", "r0"]);
    assert_eq!(out.status.code(), Some(0), "{}", everything(&out));
    assert!(
        everything(&out).contains("golden transcripts are not checked"),
        "{}",
        everything(&out)
    );
    assert!(!pending.exists() && !snap.exists());
    assert_eq!(run(dir, "check", "r0").status.code(), Some(2));

    // Update writes a pending snapshot only; review shows it as new; accept makes it golden.
    let out = run(dir, "update", "r1");
    assert_eq!(out.status.code(), Some(0), "{}", everything(&out));
    assert!(pending.exists() && !snap.exists());
    let out = hwconform(dir, &["golden", "review"]);
    assert_eq!(out.status.code(), Some(0), "{}", everything(&out));
    assert!(
        stdout(&out).contains("t.golden.login-ping: new snapshot"),
        "{}",
        stdout(&out)
    );
    let out = hwconform(dir, &["golden", "accept", "t.golden.login-ping"]);
    assert_eq!(out.status.code(), Some(0), "{}", everything(&out));
    assert!(
        stdout(&out).contains("accepted golden/t.golden.login-ping.snap (new)"),
        "{}",
        stdout(&out)
    );
    assert!(snap.exists() && !pending.exists());
    let golden = std::fs::read_to_string(&snap).unwrap();
    assert!(
        golden.starts_with("---\nsource: t.yaml\nexpression: t.golden.login-ping\n---\n"),
        "{golden}"
    );
    assert!(
        golden.contains(r#"    2.500s [a] → {"cmd":"ping","headers":{"req_id":"<req_id#4>"}}"#),
        "{golden}"
    );

    // insta reads the file as we do.
    let parsed = insta::Snapshot::from_file(&snap).unwrap();
    assert_eq!(parsed.metadata().expression(), Some("t.golden.login-ping"));
    let content = hwconform::check::golden::SnapFile::parse(&golden)
        .unwrap()
        .content;
    assert_eq!(parsed.as_text().unwrap().to_string(), content);

    // Checked against its own golden, the run passes (twice: the transcript is stable).
    for reports in ["r2", "r2b"] {
        let out = run(dir, "check", reports);
        assert_eq!(out.status.code(), Some(0), "{}", everything(&out));
    }

    // An edited golden: the run fails with a diff that names the changed line, everywhere.
    let edited = golden.replace(r#""cmd":"ping""#, r#""cmd":"pong""#);
    assert_ne!(edited, golden);
    std::fs::write(&snap, &edited).unwrap();
    let out = run(dir, "check", "r3");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{}", everything(&out));
    assert!(text.contains("FAIL   t.golden.login-ping"), "{text}");
    assert!(
        text.contains("the conversation changed against golden/t.golden.login-ping.snap"),
        "{text}"
    );
    let removed = r#"-    2.500s [a] → {"cmd":"pong","headers":{"req_id":"<req_id#4>"}}"#;
    let added = r#"+    2.500s [a] → {"cmd":"ping","headers":{"req_id":"<req_id#4>"}}"#;
    assert!(
        text.contains(&format!("        {removed}\n"))
            && text.contains(&format!("        {added}\n")),
        "{text}"
    );
    let xml = std::fs::read_to_string(tmp.path("r3/junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("a <failure>");
    let body: String = failure.descendants().filter_map(|n| n.text()).collect();
    assert!(body.contains(removed) && body.contains(added), "{body}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path("r3/run.json")).unwrap()).unwrap();
    let diff = json["scenarios"][0]["diff"].as_str().unwrap();
    assert!(diff.contains(removed) && diff.contains(added), "{diff}");

    // Update mode does not fail for it, writes the run's version as pending, keeps the golden.
    let out = run(dir, "update", "r4");
    assert_eq!(out.status.code(), Some(0), "{}", everything(&out));
    assert_eq!(std::fs::read_to_string(&snap).unwrap(), edited);
    assert_eq!(std::fs::read_to_string(&pending).unwrap(), golden);
    let out = hwconform(dir, &["golden", "review"]);
    assert!(
        stdout(&out).contains(removed) && stdout(&out).contains(added),
        "{}",
        stdout(&out)
    );
    // Accepting all restores the original; a later update removes nothing it need not.
    let out = hwconform(dir, &["golden", "accept"]);
    assert_eq!(out.status.code(), Some(0), "{}", everything(&out));
    assert!(stdout(&out).contains("(updated)"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(&snap).unwrap(), golden);
    // A stale pending snapshot goes when the run matches the golden again.
    std::fs::write(&pending, &edited).unwrap();
    assert_eq!(run(dir, "update", "r5").status.code(), Some(0));
    assert!(!pending.exists());
    assert_eq!(
        hwconform(dir, &["golden", "accept", "no.such.id"])
            .status
            .code(),
        Some(2)
    );

    // `hwconform diff`: run r2 (pass) against r3 (fail) is a verdict change; a run against
    // itself is no change; a missing or broken file is bad input, named.
    let out = hwconform(dir, &["diff", "r2/run.json", "r3/run.json"]);
    assert_eq!(out.status.code(), Some(1), "{}", everything(&out));
    assert!(
        stdout(&out)
            .contains("  verdict  t.golden.login-ping: pass → fail: the conversation changed"),
        "{}",
        stdout(&out)
    );
    let out = hwconform(dir, &["diff", "r2/run.json", "r2b/run.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", everything(&out));
    assert!(stdout(&out).contains("no changes"), "{}", stdout(&out));
    std::fs::write(tmp.path("broken.json"), "{\"version\": 1").unwrap();
    for bad in ["missing.json", "broken.json"] {
        let out = hwconform(dir, &["diff", "r2/run.json", bad]);
        assert_eq!(out.status.code(), Some(2), "{}", everything(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(bad),
            "{}",
            everything(&out)
        );
    }
}

#[test]
fn diff_reports_changed_transcripts_per_scenario() {
    let tmp = TempDir::new("diff");
    let dir = &tmp.0;
    std::fs::write(tmp.path("t.yaml"), SCENARIO).unwrap();
    assert_eq!(run(dir, "off", "a").status.code(), Some(0));
    // The same scenario id, another conversation (and a longer one on the scenario clock).
    let other = SCENARIO.replace(
        "  - wait: 2.5s\n",
        "  - wait: 5s\n  - request: { cmd: get_timestamp }\n",
    );
    std::fs::write(tmp.path("t.yaml"), other).unwrap();
    assert_eq!(run(dir, "off", "b").status.code(), Some(0));
    let out = hwconform(dir, &["diff", "a/run.json", "b/run.json"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{}", everything(&out));
    assert!(
        text.contains("frames (1 scenario):\n  t.golden.login-ping:"),
        "{text}"
    );
    assert!(
        text.contains(r#"+[a] → {"cmd":"get_timestamp","headers":{"req_id":"<req_id#4>"}}"#),
        "{text}"
    );
    assert!(
        text.contains("  timing   t.golden.login-ping: scenario clock 2.5s → 5.0s (+100%)"),
        "{text}"
    );
}

// ---------------------------------------------------------------- the committed goldens

fn committed_goldens() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("golden"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "snap"));
    files.sort();
    files
}

#[test]
fn committed_goldens_hold_nothing_volatile_secret_or_local() {
    let files = committed_goldens();
    assert!(!files.is_empty(), "golden/ holds the library's transcripts");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ten_years = 10 * 365 * 24 * 3600;
    let digits = Regex::new(r"\d+").unwrap();
    let port = Regex::new(r"(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\]|localhost):\d+|://[^/\s]+:\d+")
        .unwrap();
    let fleet_sn = Regex::new(r"HWC-TEST-\d{4}").unwrap();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        for m in digits.find_iter(&text) {
            if m.as_str().len() == 10 {
                let n: i64 = m.as_str().parse().unwrap();
                assert!(
                    (n - now).abs() > ten_years,
                    "{name}: a unix time near now: {n}"
                );
            }
        }
        assert!(
            !text.contains("hwc-secretno-"),
            "{name}: a default-fleet SecretNo"
        );
        assert!(
            !text.contains("hwc-seed-secretno"),
            "{name}: the default seed SecretNo"
        );
        assert!(
            !port.is_match(&text),
            "{name}: a port: {:?}",
            port.find(&text).map(|m| m.as_str())
        );
        assert!(
            !fleet_sn.is_match(&text),
            "{name}: a fleet SN (depends on which device the run lent; should be <sn#N>)"
        );
        // The format insta reads: the id is the expression, the source a relative path.
        let snap = insta::Snapshot::from_file(file)
            .unwrap_or_else(|e| panic!("{name}: insta cannot read it: {e}"));
        assert_eq!(
            snap.metadata().expression().map(|e| format!("{e}.snap")),
            Some(name.clone())
        );
        let source = snap.metadata().source().unwrap_or_default();
        assert!(source.starts_with("scenarios/"), "{name}: source {source}");
    }
}
