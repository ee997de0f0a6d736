//! Reports as evidence: run metadata, rebuilding reports from run.json, sharded runs merged
//! back, and an unwritable reports directory found before anything runs.

use crate::common;

use crate::common::repo;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hwconform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(repo())
        .args(args)
        .output()
        .expect("hwconform starts")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("hwconform-evidence-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A few quick scenarios of both roles; the device ones are skipped (`--device none`).
const SCENARIOS: &[&str] = &[
    "scenarios/cloud/malformed-json.yaml",
    "scenarios/cloud/malformed-fields.yaml",
    "scenarios/cloud/commands-timestamp.yaml",
    "scenarios/cloud/envelope-reply-echoes-req-id.yaml",
    "scenarios/cloud/order-before-register.yaml",
    "scenarios/device",
];

fn run(reports: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--device",
        "none",
        "--golden",
        "off",
        "--reports",
        reports.to_str().unwrap(),
    ];
    args.extend(SCENARIOS);
    args.extend(extra);
    let out = hwconform(&args);
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn run_json_and_junit_carry_the_run_metadata_with_secrets_redacted() {
    let dir = temp_dir("meta");
    run(
        &dir,
        &[
            "--identity",
            "SN-META=meta-secret-no-1",
            "--report",
            "json,junit",
        ],
    );
    let v = json(&dir.join("run.json"));
    let meta = &v["meta"];
    assert_eq!(meta["harness_version"], env!("CARGO_PKG_VERSION"));
    assert!(!meta["git_commit"].as_str().unwrap().is_empty());
    for t in ["started_at", "finished_at"] {
        let text = meta[t].as_str().unwrap();
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
        assert!(text.ends_with('Z'), "{text}");
    }
    assert!(meta["started_at"].as_str() <= meta["finished_at"].as_str());
    let argv: Vec<&str> = meta["command_line"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        argv.windows(2).any(|w| w == ["--identity", "<redacted>"]),
        "{argv:?}"
    );
    assert!(
        argv.windows(2).any(|w| w == ["--device", "none"]),
        "only credentials are redacted, not the device choice: {argv:?}"
    );
    assert_eq!(
        meta["targets"],
        serde_json::json!({"cloud": "mock", "device": "none"})
    );
    assert!(meta["catalog_version"]
        .as_str()
        .unwrap()
        .starts_with("sha1:"));
    let files = meta["scenario_files"].as_object().unwrap();
    assert!(
        files.keys().any(|k| k.ends_with("malformed-json.yaml")),
        "{files:?}"
    );
    assert!(files
        .values()
        .all(|h| h.as_str().unwrap().starts_with("sha1:") && h.as_str().unwrap().len() == 45));
    let sources = meta["scenario_sources"].as_object().unwrap();
    let (path, text) = sources
        .iter()
        .find(|(k, _)| k.ends_with("malformed-json.yaml"))
        .unwrap();
    assert_eq!(
        text.as_str().unwrap(),
        std::fs::read_to_string(repo().join(path)).unwrap()
    );
    let everything = std::fs::read_to_string(dir.join("run.json")).unwrap()
        + &std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(!everything.contains("meta-secret-no-1"));
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let prop = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some(name))
            .and_then(|n| n.attribute("value"))
            .map(str::to_string)
    };
    assert_eq!(
        prop("hwconform.version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        prop("hwconform.started_at").as_deref(),
        meta["started_at"].as_str()
    );
    assert_eq!(prop("hwconform.target.cloud").as_deref(), Some("mock"));
    // --report json,junit: no HTML file, no terminal output.
    assert!(!dir.join("report.html").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn diff_ignores_metadata_of_identical_runs() {
    let (a, b) = (temp_dir("diff-a"), temp_dir("diff-b"));
    run(&a, &[]);
    run(&b, &["--jobs", "1"]);
    let out = hwconform(&[
        "diff",
        a.join("run.json").to_str().unwrap(),
        b.join("run.json").to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for d in [a, b] {
        let _ = std::fs::remove_dir_all(&d);
    }
}

#[test]
fn report_rebuilds_junit_and_json_byte_for_byte() {
    let (orig, rebuilt) = (temp_dir("orig"), temp_dir("rebuilt"));
    run(&orig, &[]);
    let out = hwconform(&[
        "report",
        orig.join("run.json").to_str().unwrap(),
        "--reports",
        rebuilt.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["run.json", "junit.xml"] {
        assert_eq!(
            std::fs::read(orig.join(f)).unwrap(),
            std::fs::read(rebuilt.join(f)).unwrap(),
            "{f} differs"
        );
    }
    for d in [orig, rebuilt] {
        let _ = std::fs::remove_dir_all(&d);
    }
}

/// The parts of a run that sharding must not change: counts, verdicts, the requirement
/// matrix and the scenario sources.
fn outcome(v: &serde_json::Value) -> (serde_json::Value, Vec<(String, String)>) {
    let mut summary = v["summary"].clone();
    summary.as_object_mut().unwrap().remove("wall_time");
    summary["requirements"] = v["requirements"].clone();
    summary["scenario_sources"] = v["meta"]["scenario_sources"].clone();
    summary["scenario_files"] = v["meta"]["scenario_files"].clone();
    let scenarios = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (summary, scenarios)
}

#[test]
fn partitions_merged_equal_the_unsharded_run() {
    let whole = temp_dir("whole");
    run(&whole, &["--report", "json"]);
    let expected = outcome(&json(&whole.join("run.json")));
    assert!(
        expected.1.len() > 4 && expected.1.iter().any(|(_, v)| v == "skip"),
        "{expected:?}"
    );
    for by in ["count", "hash"] {
        let (a, b, merged) = (
            temp_dir(&format!("{by}-1")),
            temp_dir(&format!("{by}-2")),
            temp_dir(&format!("{by}-m")),
        );
        run(
            &a,
            &["--partition", &format!("{by}:1/2"), "--report", "json"],
        );
        run(
            &b,
            &["--partition", &format!("{by}:2/2"), "--report", "json"],
        );
        let (ja, jb) = (json(&a.join("run.json")), json(&b.join("run.json")));
        let (na, nb) = (
            ja["scenarios"].as_array().unwrap().len(),
            jb["scenarios"].as_array().unwrap().len(),
        );
        assert!(
            na > 0 && nb > 0 && na + nb == expected.1.len(),
            "{by}: {na} + {nb}"
        );
        let (pa, pb) = (a.join("run.json"), b.join("run.json"));
        let out = hwconform(&[
            "report",
            "merge",
            pb.to_str().unwrap(),
            pa.to_str().unwrap(),
            "--reports",
            merged.to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m = json(&merged.join("run.json"));
        assert_eq!(outcome(&m), expected, "{by}");
        assert!(merged.join("junit.xml").exists());
        let starts = [&ja, &jb].map(|j| j["meta"]["started_at"].as_str().unwrap().to_string());
        assert_eq!(
            m["meta"]["started_at"].as_str().unwrap(),
            starts.iter().min().unwrap()
        );

        // The same shard twice overlaps.
        let out = hwconform(&[
            "report",
            "merge",
            pa.to_str().unwrap(),
            pa.to_str().unwrap(),
            "--reports",
            merged.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("more than one shard"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for d in [a, b, merged] {
            let _ = std::fs::remove_dir_all(&d);
        }
    }
    let _ = std::fs::remove_dir_all(&whole);
}

#[test]
fn merging_runs_of_another_harness_or_target_is_refused() {
    let dir = temp_dir("refuse");
    run(&dir, &["--partition", "count:1/2", "--report", "json"]);
    let a = json(&dir.join("run.json"));
    let mut b = a.clone();
    b["scenarios"] = serde_json::json!([]);
    b["meta"]["harness_version"] = "9.9.9".into();
    std::fs::write(dir.join("b.json"), b.to_string()).unwrap();
    let mut c = a.clone();
    c["scenarios"] = serde_json::json!([]);
    c["meta"]["targets"]["cloud"] = "ws://127.0.0.1:1/".into();
    std::fs::write(dir.join("c.json"), c.to_string()).unwrap();
    for (other, message) in [("b.json", "9.9.9"), ("c.json", "same targets")] {
        let out = hwconform(&[
            "report",
            "merge",
            dir.join("run.json").to_str().unwrap(),
            dir.join(other).to_str().unwrap(),
            "--reports",
            dir.join("m").to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_reports_directory_is_a_usage_error_before_any_scenario_runs() {
    let dir = temp_dir("unwritable");
    // A file where the directory should be: it can be neither created nor written.
    std::fs::write(dir.join("blocker"), "x").unwrap();
    let reports = dir.join("blocker/reports");
    let out = hwconform(&[
        "run",
        "--reports",
        reports.to_str().unwrap(),
        "scenarios/cloud/malformed-json.yaml",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("blocker"), "{stderr}");
    assert!(!stdout.contains("pass"), "nothing ran: {stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_committed_run_schema_is_current_and_a_real_run_validates_against_it() {
    let committed = std::fs::read_to_string(repo().join("schemas/run.schema.json"))
        .expect("schemas/run.schema.json is committed");
    let out = hwconform(&["schema", "run"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        committed,
        "regenerate with `hwconform schema run > schemas/run.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let dir = temp_dir("schema");
    run(&dir, &["--report", "json"]);
    let instance = json(&dir.join("run.json"));
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // And it is not vacuous: a verdict it does not know is refused.
    let mut bad = instance.clone();
    bad["scenarios"][0]["verdict"] = "maybe".into();
    assert!(!validator.is_valid(&bad));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A scenario file as the schema sees it: its YAML as JSON.
fn scenario_json(text: &str) -> serde_json::Value {
    let node = hwconform::scenario::yaml::parse(text)
        .expect("YAML")
        .expect("a document");
    hwconform::scenario::yaml::to_json(&node)
}

/// Every scenario under `dir`, recursively.
fn yaml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

/// The scenario schema is the generated one, accepts the whole library, and refuses what the
/// loader refuses for shape (an unknown step or top-level key, a wrong type).
#[test]
fn the_scenario_schema_is_current_and_accepts_the_library() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let committed = std::fs::read_to_string(root.join("schemas/scenario.schema.json")).unwrap();
    let out = hwconform(&["schema", "scenario"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        committed,
        "regenerate with `hwconform schema scenario > schemas/scenario.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let mut files = Vec::new();
    yaml_files(&root.join("scenarios"), &mut files);
    assert!(files.len() > 70, "the library is there: {}", files.len());
    for f in &files {
        let instance = scenario_json(&std::fs::read_to_string(f).unwrap());
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", f.display());
    }
    let head = "id: x\ntitle: t\nrequirements: [C1]\nrole: device\n";
    for (bad, why) in [
        (
            format!("{head}steps:\n  - conect: a\n"),
            "an unknown step kind",
        ),
        (
            format!("{head}steps:\n  - wait: {{ for: 1s, forever: true }}\n"),
            "an unknown key of a step",
        ),
        (format!("{head}stepz: []\n"), "an unknown top-level key"),
        (
            format!("{head}steps:\n  - connect: a\n    wait: 1s\n"),
            "two kinds in one step",
        ),
        (
            "id: x\ntitle: t\nrole: server\n".to_string(),
            "a role that does not exist",
        ),
        (
            "id: [x]\ntitle: t\n".to_string(),
            "an id that is not a string",
        ),
    ] {
        assert!(
            !validator.is_valid(&scenario_json(&bad)),
            "the schema accepts {why}:\n{bad}"
        );
    }
}

/// A run recorded by a harness whose monitor missed a broken rule: `hwconform rejudge` with
/// today's monitors finds it and lists the changed verdict; the honest recording of a
/// conformant device is left as it was.
#[test]
fn rejudge_holds_an_old_recording_to_todays_monitors() {
    use hwconform::engine::{Severity, Verdict};
    use hwconform::report::{Collector, RunMeta, RunReport};
    use hwconform::targets::sim::SimFault;
    use hwconform::targets::DeviceChoice;
    let scenarios = common::library("device");
    // A fault the steps let through and only an always-on monitor catches.
    let (fault, report) = SimFault::ALL
        .iter()
        .find_map(|&fault| {
            let config = hwconform::engine::runner::RunConfig {
                device: Some(
                    DeviceChoice::Sim {
                        faults: [fault].into(),
                        variants: Default::default(),
                    }
                    .build(),
                ),
                ..hwconform::targets::defaults()
            };
            let mut collector = Collector::new(RunMeta::of_this_harness());
            let mut report = None;
            hwconform::engine::runner::Runner::new(config)
                .run(&scenarios, |e| {
                    report = report.take().or(collector.on_event(&e))
                })
                .unwrap();
            let report: RunReport = report.unwrap();
            let monitor_only = report.scenarios.iter().any(|r| {
                r.findings.iter().any(|f| f.severity == Severity::Fail)
                    && r.judged
                        .as_ref()
                        .is_some_and(|j| j.steps == Some(Verdict::Pass))
            });
            monitor_only.then_some((fault, report))
        })
        .expect("some fault is caught by a monitor alone");
    let dir = temp_dir("rejudge");
    // What the older harness wrote: the same transcripts, no findings, the steps' verdict.
    let mut old = report.clone();
    let mut tampered = Vec::new();
    for r in &mut old.scenarios {
        if let Some(j) = &mut r.judged {
            if j.steps == Some(Verdict::Pass)
                && r.findings.iter().any(|f| f.severity == Severity::Fail)
            {
                r.findings.clear();
                r.verdict = Verdict::Pass;
                j.steps = None;
                r.obligations
                    .values_mut()
                    .for_each(|o| *o = hwconform::engine::Outcome::Pass);
                tampered.push(r.id.clone());
            }
        }
    }
    old.summary = hwconform::engine::RunSummary::default();
    for r in &old.scenarios {
        old.summary.add(&r.verdict);
    }
    std::fs::write(dir.join("old.json"), old.to_json().unwrap()).unwrap();
    let out = hwconform(&[
        "rejudge",
        dir.join("old.json").to_str().unwrap(),
        "--golden",
        "off",
        "--reports",
        dir.join("new").to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "fault {}: the rejudged run fails:\n{stdout}",
        fault.name()
    );
    assert!(
        stdout.contains(&format!("{} changed", tampered.len())),
        "{stdout}"
    );
    for id in &tampered {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{id}  pass -> fail"))),
            "{id} listed:\n{stdout}"
        );
    }
    let new = json(&dir.join("new/run.json"));
    assert!(new["meta"]["rejudged"]["at"].is_string());
    for id in &tampered {
        let s = new["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id.as_str())
            .unwrap();
        assert_eq!(s["verdict"], "fail", "{id}");
    }
    // The live recording, judged again, says what it said.
    std::fs::write(dir.join("live.json"), report.to_json().unwrap()).unwrap();
    let out = hwconform(&[
        "rejudge",
        dir.join("live.json").to_str().unwrap(),
        "--golden",
        "off",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(": 0 changed;"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
