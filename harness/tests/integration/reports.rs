//! Reports, end to end: a hand-built run fed through every reporter, with the output read
//! back (terminal by snapshot, JUnit and JSON by parsing and comparing with the model).

use hwconform::check::golden::{GoldenConfig, GoldenMode};
use hwconform::engine::event::{Event, RunClock};
use hwconform::engine::transcript::{render_entry, Party};
use hwconform::engine::{
    Failure, Frame, RunEvent, RunSummary, ScenarioResult, Transcript, TranscriptEvent, Verdict,
};
use hwconform::report::{
    requirement_table, FileReports, MultiReporter, ReportFormat, Reporter, RunMeta,
    TerminalOptions, TerminalReporter, JSON_FORMAT_VERSION,
};
use hwconform::scenario::Role;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A credential that appears in a raw frame before redaction; no report may contain it.
const SECRET: &str = "s3cr3t-VALUE-9f2c";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn transcript(conn: &str, frames: usize) -> Transcript {
    let mut t = Transcript::default();
    t.push(
        ms(0),
        TranscriptEvent::Opened {
            waited: None,
            conn: conn.into(),
            local: "127.0.0.1:50000".into(),
        },
    );
    t.push(
        ms(1),
        TranscriptEvent::Step {
            index: "1".into(),
            kind: "send".into(),
            line: 8,
        },
    );
    let login = format!(
        r#"{{"cmd":"aibot_device_register","body":{{"device_sn":"SN001","secret":"{SECRET}"}}}}"#
    );
    t.push(
        ms(2),
        TranscriptEvent::Sent {
            conn: conn.into(),
            frame: Frame::text(&login, &hwconform::profile::wecom::WeComProfile),
        },
    );
    for i in 0..frames {
        let at = ms(1000 * (i as u64 + 1));
        if i % 2 == 0 {
            t.push(
                at,
                TranscriptEvent::Sent {
                    conn: conn.into(),
                    frame: Frame::text(
                        &format!(r#"{{"cmd":"ping","seq":{i}}}"#),
                        &hwconform::profile::wecom::WeComProfile,
                    ),
                },
            );
        } else {
            t.push(
                at,
                TranscriptEvent::Received {
                    conn: conn.into(),
                    frame: Frame::text(
                        &format!(r#"{{"cmd":"pong","seq":{i}}}"#),
                        &hwconform::profile::wecom::WeComProfile,
                    ),
                },
            );
        }
    }
    t.push(
        ms(90_000),
        TranscriptEvent::Note {
            text: "waiting for close".into(),
        },
    );
    t.push(
        ms(95_000),
        TranscriptEvent::Closed {
            conn: conn.into(),
            by: Party::Target,
            code: Some(1000),
            reason: "bye".into(),
        },
    );
    t
}

#[allow(clippy::too_many_arguments)]
fn result(
    id: &str,
    role: Role,
    file: &str,
    reqs: &[&str],
    verdict: Verdict,
    wall: u64,
    clock: u64,
    t: Transcript,
) -> ScenarioResult {
    let mut r = ScenarioResult {
        id: id.into(),
        title: format!("title of {id}"),
        file: PathBuf::from(file),
        role,
        requirements: reqs.iter().map(|s| s.to_string()).collect(),
        tags: vec!["smoke".into()],
        verdict,
        findings: vec![],
        obligations: Default::default(),
        not_reached: Default::default(),
        wall_time: ms(wall),
        scenario_time: ms(clock),
        transcript: t,
        judged: None,
    };
    r.conclude(&|_| hwconform::profile::Binding::Must);
    r
}

/// Five scenarios, in the order they finished (not sorted by id).
fn results() -> Vec<ScenarioResult> {
    let fail = Failure {
        message: "the cloud did not close the connection after a missed heartbeat".into(),
        rule: Some("C8".into()),
        step: Some("3".into()),
        step_kind: Some("expect_close".into()),
        line: Some(14),
        col: Some(7),
        expected: Some("close within 90s".into()),
        actual: Some("{\n  \"cmd\": \"pong\",\n  \"note\": \"a]]>b <x>\"\n}".into()),
        diff: None,
        judges: vec![],
        early: false,
    };
    let error = Failure {
        step: Some("1".into()),
        step_kind: Some("connect".into()),
        line: Some(9),
        col: Some(3),
        ..Failure::new("connection refused (os error 111)")
    };
    vec![
        result(
            "cloud.lifecycle.register",
            Role::Device,
            "scenarios/cloud/lifecycle/register.yaml",
            &["C4"],
            Verdict::Pass,
            12,
            95_000,
            transcript("c1", 2),
        ),
        result(
            "cloud.heartbeat.timeout",
            Role::Device,
            "scenarios/cloud/heartbeat/timeout.yaml",
            &["C7", "C8"],
            Verdict::Fail(fail),
            30,
            130_000,
            transcript("c1", 8),
        ),
        result(
            "device.ota.download",
            Role::Cloud,
            "scenarios/device/ota/download.yaml",
            &["D30"],
            Verdict::Error(error),
            5,
            0,
            Transcript::default(),
        ),
        result(
            "device.bind.unbind",
            Role::Cloud,
            "scenarios/device/bind/unbind.yaml",
            &["D12"],
            Verdict::Skip {
                reason: "the target does not accept harness control".into(),
            },
            0,
            0,
            Transcript::default(),
        ),
        result(
            "cloud.heartbeat.ok",
            Role::Device,
            "scenarios/cloud/heartbeat/ok.yaml",
            &["C7", "C10"],
            Verdict::Pass,
            20,
            120_000,
            transcript("c2", 1),
        ),
    ]
}

fn summary(results: &[ScenarioResult]) -> RunSummary {
    let mut s = RunSummary {
        wall_time: ms(1230),
        ..RunSummary::default()
    };
    for r in results {
        s.add(&r.verdict);
    }
    s
}

fn events(results: &[ScenarioResult]) -> Vec<Event> {
    let mut ev = vec![RunEvent::RunStarted {
        scenarios: results.len(),
        target: "mock".into(),
        ics: None,
    }];
    for (index, r) in results.iter().enumerate() {
        ev.push(RunEvent::ScenarioStarted {
            index,
            id: r.id.clone(),
            bound: std::time::Duration::from_secs(60),
        });
        ev.push(RunEvent::ScenarioFinished {
            index,
            result: std::sync::Arc::new(r.clone()),
        });
    }
    ev.push(RunEvent::RunFinished(summary(results)));
    let clock = RunClock::start();
    ev.into_iter()
        .map(|kind| Event {
            stamp: clock.now(),
            kind,
        })
        .collect()
}

fn feed(reporter: &mut dyn Reporter, events: &[Event]) {
    for e in events {
        reporter.on_event(e).unwrap();
    }
}

/// Feeds the whole run of `results` to `reporter`; returns what it wrote to `path`.
/// The file report of one format as the CLI writes it: `format`'s file under `dir`.
fn file_report(dir: &Path, format: ReportFormat) -> FileReports {
    FileReports::new(dir, &[format], RunMeta::default())
}

fn written(mut reporter: impl Reporter, path: &Path, results: &[ScenarioResult]) -> String {
    feed(&mut reporter, &events(results));
    std::fs::read_to_string(path).unwrap()
}

fn terminal(opts: TerminalOptions) -> String {
    let mut r = TerminalReporter::new(Vec::new(), opts);
    feed(&mut r, &events(&results()));
    String::from_utf8(r.into_inner()).unwrap()
}

/// A directory under the system temp dir, removed when dropped (even when a test panics).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("hwconform-reports-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------- terminal

#[test]
fn terminal_output() {
    insta::assert_snapshot!(terminal(TerminalOptions::default()));
}

#[test]
fn terminal_output_verbose_with_requirements() {
    insta::assert_snapshot!(terminal(TerminalOptions {
        verbose: true,
        color: false,
        requirements: true
    }));
}

#[test]
fn requirement_table_lists_every_cited_requirement() {
    insta::assert_snapshot!(requirement_table(&results()));
}

#[test]
fn terminal_colour_only_on_request_and_never_on_the_summary() {
    let plain = terminal(TerminalOptions::default());
    assert!(!plain.contains('\x1b'));
    let coloured = terminal(TerminalOptions {
        color: true,
        ..TerminalOptions::default()
    });
    assert!(coloured.contains("\x1b[1;32mPASS "));
    assert!(coloured
        .lines()
        .any(|l| l == "summary: 2 passed, 1 failed, 1 skipped"));
    // Apart from the escapes, the output is the same.
    let stripped = regex::Regex::new("\x1b\\[[0-9;]*m")
        .unwrap()
        .replace_all(&coloured, "");
    assert_eq!(stripped, plain);
}

#[test]
fn terminal_summary_line_matches_what_ci_reads() {
    let out = terminal(TerminalOptions::default());
    let ci = regex::Regex::new(r"^(\w+: )?(\d+) passed, (\d+) failed(, (\d+) skipped)?$").unwrap();
    let hits: Vec<_> = out.lines().filter_map(|l| ci.captures(l)).collect();
    assert_eq!(hits.len(), 1);
    let s = summary(&results());
    assert_eq!(hits[0][2].parse::<usize>().unwrap(), s.passed);
    assert_eq!(hits[0][3].parse::<usize>().unwrap(), s.failed);
    assert_eq!(hits[0][5].parse::<usize>().unwrap(), s.skipped);
    assert!(out.contains(&format!(
        "\n{} inconclusive, {} warned, {} errored, {} manual, wall time 1.230s\n",
        s.inconclusive, s.warned, s.errored, s.manual
    )));
}

#[test]
fn terminal_shows_the_last_six_frames_of_a_failure() {
    let out = terminal(TerminalOptions::default());
    let fail = results()
        .into_iter()
        .find(|r| r.verdict.name() == "fail")
        .unwrap();
    let last: Vec<String> = fail
        .transcript
        .last_frames(6)
        .into_iter()
        .map(render_entry)
        .collect();
    assert_eq!(last.len(), 6);
    for line in &last {
        assert!(out.contains(line.as_str()), "missing {line}");
    }
    let seventh = render_entry(fail.transcript.last_frames(7)[0]);
    assert!(!out.contains(&seventh));
}

// ---------------------------------------------------------------- JUnit

fn attr<'a>(n: roxmltree::Node<'a, '_>, name: &str) -> &'a str {
    n.attribute(name)
        .unwrap_or_else(|| panic!("<{}> has no {name}", n.tag_name().name()))
}

fn text_of(n: roxmltree::Node) -> String {
    n.descendants().filter_map(|c| c.text()).collect()
}

#[test]
fn junit_matches_the_model() {
    let dir = TempDir::new("junit");
    let path = dir.0.join("nested/junit.xml");
    let results = results();
    let xml = written(
        file_report(path.parent().unwrap(), ReportFormat::Junit),
        &path,
        &results,
    );
    let doc = roxmltree::Document::parse(&xml).unwrap();

    let suites: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: Vec<&str> = suites.iter().map(|s| attr(*s, "name")).collect();
    assert_eq!(names, ["cloud-target", "device-target"]);

    for suite in &suites {
        let role = if attr(*suite, "name") == "cloud-target" {
            Role::Device
        } else {
            Role::Cloud
        };
        let mut expected: Vec<&ScenarioResult> =
            results.iter().filter(|r| r.role == role).collect();
        expected.sort_by(|a, b| a.id.cmp(&b.id));
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();

        let count = |v: &str| expected.iter().filter(|r| r.verdict.name() == v).count();
        assert_eq!(
            attr(*suite, "tests").parse::<usize>().unwrap(),
            expected.len()
        );
        assert_eq!(
            attr(*suite, "failures").parse::<usize>().unwrap(),
            count("fail")
        );
        assert_eq!(
            attr(*suite, "errors").parse::<usize>().unwrap(),
            count("error")
        );
        let skipped = cases
            .iter()
            .filter(|c| c.children().any(|n| n.has_tag_name("skipped")))
            .count();
        assert_eq!(skipped, count("skip") + count("manual"));
        assert_eq!(
            attr(*suite, "skipped").parse::<usize>().unwrap(),
            skipped,
            "the suite counts its skipped cases"
        );

        assert_eq!(cases.len(), expected.len());
        for (case, r) in cases.iter().zip(&expected) {
            assert_eq!(attr(*case, "name"), r.id);
            assert_eq!(attr(*case, "file"), r.file.to_str().unwrap());
            assert_eq!(
                attr(*case, "classname"),
                r.id.rsplit_once('.').unwrap().0,
                "a dotted class: the id without its last part"
            );
            assert_eq!(
                attr(*case, "time").parse::<f64>().unwrap(),
                r.wall_time.as_secs_f64()
            );
            let child = |tag: &str| case.children().find(|n| n.has_tag_name(tag));
            match &r.verdict {
                Verdict::Pass => {
                    assert!(
                        child("failure").is_none()
                            && child("error").is_none()
                            && child("skipped").is_none()
                    );
                }
                Verdict::Inconclusive(_) | Verdict::Warn(_) => {
                    unreachable!("no such verdict in the fixture")
                }
                Verdict::Fail(f) | Verdict::Error(f) => {
                    let (tag, default) = if r.verdict.name() == "fail" {
                        ("failure", "mismatch")
                    } else {
                        ("error", "error")
                    };
                    let node = child(tag).unwrap_or_else(|| panic!("{} has no <{tag}>", r.id));
                    assert_eq!(attr(node, "type"), f.rule.as_deref().unwrap_or(default));
                    assert_eq!(attr(node, "message"), f.message);
                    let body = text_of(node);
                    assert!(body.starts_with(&f.message));
                    for part in [&f.expected, &f.actual].into_iter().flatten() {
                        assert!(
                            body.contains(part.as_str()),
                            "{} body lacks {part:?}:\n{body}",
                            r.id
                        );
                    }
                    let line = f.line.map(|l| format!(":{l}")).unwrap_or_default();
                    assert!(body.contains(&format!("--> {}{line}", r.file.display())));
                    for e in r.transcript.last_frames(6) {
                        assert!(body.contains(&render_entry(e)));
                    }
                }
                Verdict::Skip { reason } => {
                    assert_eq!(attr(child("skipped").unwrap(), "message"), reason);
                }
                Verdict::Manual { instructions } => {
                    let node = child("skipped").unwrap();
                    assert_eq!(attr(node, "type"), "manual");
                    assert!(
                        !attr(node, "message").contains('\n'),
                        "no multi-line attribute"
                    );
                    let out = child("system-out").map(text_of).unwrap_or_default();
                    assert!(
                        out.contains(&format!("check by hand:\n{instructions}")),
                        "{out}"
                    );
                }
            }
            let out = child("system-out").map(text_of).unwrap_or_default();
            for e in &r.transcript.entries {
                assert!(
                    out.contains(&render_entry(e)),
                    "{} system-out lacks {}",
                    r.id,
                    render_entry(e)
                );
            }
            assert!(out.starts_with(&format!("requirements: {}\n", r.requirements.join(", "))));
        }
    }
}

#[test]
fn junit_io_error_names_the_path() {
    let dir = TempDir::new("junit-err");
    std::fs::create_dir_all(&dir.0).unwrap();
    // A file where a directory should be.
    std::fs::write(dir.0.join("blocker"), "x").unwrap();
    let path = dir.0.join("blocker/junit.xml");
    let mut r = file_report(path.parent().unwrap(), ReportFormat::Junit);
    let ev = events(&results());
    let (last, rest) = ev.split_last().unwrap();
    feed(&mut r, rest);
    let err = r.on_event(last).unwrap_err();
    assert!(
        err.to_string()
            .contains(&dir.0.join("blocker").display().to_string()),
        "{err}"
    );
}

// ---------------------------------------------------------------- JSON

#[test]
fn json_matches_the_model() {
    let dir = TempDir::new("json");
    let path = dir.0.join("reports/run.json");
    let results = results();
    let text = written(
        file_report(path.parent().unwrap(), ReportFormat::Json),
        &path,
        &results,
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();

    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "version",
            "target",
            "meta",
            "summary",
            "scenarios",
            "requirements",
            "statement"
        ]
    );
    assert_eq!(v["version"], JSON_FORMAT_VERSION);
    assert_eq!(v["target"], "mock");
    assert_eq!(
        v["summary"],
        serde_json::json!({"passed": 2, "failed": 1, "inconclusive": 0, "warned": 0, "errored": 1, "skipped": 1, "manual": 0, "wall_time": 1.23})
    );

    let scenarios = v["scenarios"].as_array().unwrap();
    let ids: Vec<&str> = scenarios
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "scenarios are sorted by id");
    for s in scenarios {
        let model = results.iter().find(|r| r.id == s["id"]).unwrap();
        assert_eq!(*s, serde_json::to_value(model).unwrap());
        assert_eq!(s["verdict"], model.verdict.name());
        assert_eq!(s["role"], model.role.as_str());
    }
    let fail = scenarios.iter().find(|s| s["verdict"] == "fail").unwrap();
    assert_eq!(fail["rule"], "C8");
    assert_eq!(fail["line"], 14);
    assert_eq!(fail["wall_time"], 0.03);
    let skip = scenarios.iter().find(|s| s["verdict"] == "skip").unwrap();
    assert_eq!(skip["reason"], "the target does not accept harness control");

    // Same results in another order: the same bytes, wall times included.
    let mut reversed = results.clone();
    reversed.reverse();
    let path2 = dir.0.join("reports2/run.json");
    feed(
        &mut file_report(path2.parent().unwrap(), ReportFormat::Json),
        &events(&reversed),
    );
    // Only the run's clock times (meta) may differ.
    let without_meta = |t: &str| {
        let mut v: serde_json::Value = serde_json::from_str(t).unwrap();
        v.as_object_mut().unwrap().remove("meta");
        serde_json::to_string_pretty(&v).unwrap()
    };
    assert_eq!(
        without_meta(&std::fs::read_to_string(&path2).unwrap()),
        without_meta(&text)
    );
}

/// The file reports of a run are streamed (each scenario's parts spilled as it finishes):
/// every file is byte for byte what the document held whole renders, in every format, for
/// results in any order and for a run with no scenarios.
#[test]
fn streamed_reports_are_the_documents_held_whole() {
    use hwconform::report::{write_reports, Collector};
    let dir = TempDir::new("streamed");
    let meta = RunMeta {
        started_at: "2026-12-03T06:00:00Z".into(),
        finished_at: "2026-12-03T06:00:02Z".into(),
        ..RunMeta::of_this_harness()
    };
    let mut reversed = results();
    reversed.reverse();
    for (name, results) in [
        ("some", results()),
        ("reversed", reversed),
        ("none", vec![]),
    ] {
        let streamed = dir.0.join(name).join("streamed");
        let formats = ReportFormat::ALL;
        feed(
            &mut FileReports::new(&streamed, formats, meta.clone()),
            &events(&results),
        );
        let mut collector = Collector::new(meta.clone());
        let whole = events(&results)
            .iter()
            .find_map(|e| collector.on_event(e))
            .expect("the run finished");
        let held = dir.0.join(name).join("held");
        write_reports(&whole, &held, formats).unwrap();
        // Both ways go through the same document writers; serde's own rendering of the whole
        // document is the independent check that run.json's splice is right.
        assert_eq!(
            std::fs::read_to_string(streamed.join("run.json")).unwrap(),
            whole.to_json().unwrap(),
            "{name}: run.json is serde's rendering of the whole document"
        );
        for format in formats {
            let Some(file) = format.file_name() else {
                continue;
            };
            let (a, b) = (
                std::fs::read(streamed.join(file)).unwrap(),
                std::fs::read(held.join(file)).unwrap(),
            );
            assert!(
                a == b,
                "{name}: {file} differs:\n{}\n---\n{}",
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b)
            );
        }
        let left: Vec<_> = std::fs::read_dir(&streamed)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left.len(),
            4,
            "{name}: the reports and nothing else (no spill, no temporary): {left:?}"
        );
    }
}

// ---------------------------------------------------------------- secrets and provenance

/// Every report, written through one `MultiReporter`.
struct AllReports {
    terminal: String,
    junit: String,
    json: String,
    /// report.html, rendered from run.json as `hwconform report` would.
    html: String,
}

/// A `Write` whose buffer outlives the boxed reporter that owns it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn all_reports(dir: &Path, results: &[ScenarioResult]) -> AllReports {
    let out = Shared::default();
    let opts = TerminalOptions {
        verbose: true,
        color: false,
        requirements: true,
    };
    let mut multi = MultiReporter::new(vec![
        Box::new(TerminalReporter::new(out.clone(), opts)),
        Box::new(FileReports::new(
            dir,
            &[ReportFormat::Junit, ReportFormat::Json],
            RunMeta::default(),
        )),
    ]);
    feed(&mut multi, &events(results));
    let terminal = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let json = std::fs::read_to_string(dir.join("run.json")).unwrap();
    let html = hwconform::report::html::render(
        &hwconform::report::RunReport::parse(&json, std::path::Path::new("run.json")).unwrap(),
    );
    AllReports {
        terminal,
        junit: std::fs::read_to_string(dir.join("junit.xml")).unwrap(),
        json,
        html,
    }
}

#[test]
fn secrets_stay_redacted_in_every_report() {
    let dir = TempDir::new("secrets");
    let results = results();
    let frame = render_entry(&results[0].transcript.entries[2]);
    assert!(
        frame.contains(r#""secret":"<redacted>""#),
        "the fixture frame is redacted: {frame}"
    );
    let reports = all_reports(&dir.0, &results);
    for (name, text) in [
        ("terminal", &reports.terminal),
        ("junit", &reports.junit),
        ("json", &reports.json),
        ("html", &reports.html),
    ] {
        assert!(!text.contains(SECRET), "{name} leaks the secret");
        assert!(!text.contains("s3cr3t"), "{name} leaks part of the secret");
    }
    assert!(reports.terminal.contains(&frame));
    // JUnit keeps the rendered frame verbatim in CDATA; JSON keeps the frame as data.
    let doc = roxmltree::Document::parse(&reports.junit).unwrap();
    assert!(doc
        .descendants()
        .filter_map(|n| n.text())
        .any(|t| t.contains(&frame)));
    let v: serde_json::Value = serde_json::from_str(&reports.json).unwrap();
    let register = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "cloud.lifecycle.register")
        .unwrap();
    assert_eq!(
        register["transcript"]["entries"][2]["frame"]["json"]["body"]["secret"],
        "<redacted>"
    );
}

/// Words in `text`: runs of letters (tokens with digits are numbers, times, ids and
/// timestamps, which carry no prose).
fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| w.len() >= 3 && !w.chars().any(|c| c.is_ascii_digit()))
        .map(str::to_lowercase)
        .collect()
}

#[test]
fn reports_write_nothing_that_is_not_in_the_results() {
    let dir = TempDir::new("provenance");
    let results = results();
    let reports = all_reports(&dir.0, &results);

    // Everything the results say: their serialized fields and their rendered transcripts.
    let mut known = words(&serde_json::to_string(&results).unwrap());
    for r in &results {
        for e in &r.transcript.entries {
            known.extend(words(&render_entry(e)));
        }
    }
    // Plus the fixed vocabulary of each format.
    let vocabulary = "running scenarios against passed failed errored skipped inconclusive warned summary wall time \
        scenario clock pass fail error skip last frames transcript rule expected actual step \
        requirement requirements status mismatch cloud device target testsuites testsuite testcase \
        name package tests errors failures hostname localhost timestamp classname file failure \
        system out xml version encoding utf cdata type message mock manual";
    known.extend(words(vocabulary));
    known.extend(words(
        "opened from closed by harness code abandoned no close note line not covered",
    ));
    // The run metadata: the run's provenance (its fields, and the JUnit properties naming them).
    known.extend(words("meta harness_version git_commit started_at finished_at command_line targets catalog_version \
        scenario_files scenario_sources hwconform properties property value"));
    // The requirement matrix: the profile's obligation statements and its own field names.
    known.extend(words(
        &serde_json::to_string(hwconform::profile::wecom::obligations::statements()).unwrap(),
    ));
    known.extend(words(
        "detail outcome not_applicable not_covered manual_pending no scenario cites it",
    ));
    // The statement of the result over the matrix (the cover's sentence, as data).
    known.extend(words(
        "statement result conforms does_not_conform incomplete failed not_judged in_scope",
    ));
    // Its words as the cover, the terminal and JUnit say them.
    known.extend(words(
        "does not conform not judged no obligation was in scope",
    ));

    let doc = roxmltree::Document::parse(&reports.junit).unwrap();
    let mut junit_text = String::new();
    for n in doc.descendants() {
        if n.is_element() {
            junit_text.push_str(n.tag_name().name());
            for a in n.attributes() {
                junit_text.push_str(&format!(" {} {}", a.name(), a.value()));
            }
        }
        if let Some(t) = n.text() {
            junit_text.push('\n');
            junit_text.push_str(t);
        }
        junit_text.push('\n');
    }

    for (name, text) in [
        ("terminal", &reports.terminal),
        ("junit", &junit_text),
        ("json", &reports.json),
    ] {
        let unknown: Vec<String> = words(text).difference(&known).cloned().collect();
        assert!(
            unknown.is_empty(),
            "{name} writes words not in the results: {unknown:?}"
        );
    }
    // The JSON is exactly the results and the run's header, nothing more.
    let mut v: serde_json::Value = serde_json::from_str(&reports.json).unwrap();
    // The metadata of a reporter fed events alone: only the times it saw the run start and end.
    let meta = v
        .as_object_mut()
        .unwrap()
        .remove("meta")
        .expect("run.json has meta");
    for (k, val) in meta.as_object().unwrap() {
        match k.as_str() {
            "started_at" | "finished_at" => {
                assert!(val.as_str().unwrap().ends_with('Z'), "{k}: {val}")
            }
            "command_line" | "targets" | "scenario_files" | "scenario_sources" => assert!(
                val.as_array().is_some_and(|a| a.is_empty())
                    || val.as_object().is_some_and(|o| o.is_empty()),
                "{k}: {val}"
            ),
            _ => assert_eq!(val, "", "{k}"),
        }
    }
    let mut sorted = results.clone();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let rows = hwconform::report::matrix::build(
        hwconform::profile::wecom::obligations::statements(),
        &results,
        &[],
    );
    assert_eq!(
        v,
        serde_json::json!({
            "version": 1,
            "target": "mock",
            "summary": serde_json::to_value(summary(&results)).unwrap(),
            "scenarios": serde_json::to_value(&sorted).unwrap(),
            "requirements": serde_json::to_value(&rows).unwrap(),
            "statement": serde_json::to_value(hwconform::report::cover::ResultStatement::of(&rows)).unwrap(),
        })
    );
}

/// [`all_reports`] as `run` writes them: every writer scrubs what it writes with the run's
/// one credential set (the terminal with the fleet's, the files with the fleet's and every
/// one the wire taught), and the run's target is `target`.
fn all_reports_scrubbed(
    dir: &Path,
    results: &[ScenarioResult],
    credentials: &hwconform::profile::RunCredentials,
    target: &str,
) -> AllReports {
    let out = Shared::default();
    let opts = TerminalOptions {
        verbose: true,
        color: false,
        requirements: true,
    };
    let mut multi = MultiReporter::new(vec![
        Box::new(TerminalReporter::new(
            credentials.fleet.scrub(out.clone()),
            opts,
        )),
        Box::new(
            FileReports::new(
                dir,
                &[ReportFormat::Junit, ReportFormat::Json, ReportFormat::Html],
                RunMeta::default(),
            )
            .with_credentials(credentials.clone()),
        ),
    ]);
    let mut events = events(results);
    if let RunEvent::RunStarted { target: t, .. } = &mut events[0].kind {
        *t = target.to_string();
    }
    feed(&mut multi, &events);
    drop(multi);
    let terminal = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    AllReports {
        terminal,
        junit: std::fs::read_to_string(dir.join("junit.xml")).unwrap(),
        json: std::fs::read_to_string(dir.join("run.json")).unwrap(),
        html: std::fs::read_to_string(dir.join("report.html")).unwrap(),
    }
}

/// Credentials planted anywhere in the frames of a conversation (any key, any depth, inside
/// longer strings, as keys, as a number's digits) reach no report: terminal (verbose, with the
/// requirement table), JUnit, JSON, HTML and the pending golden. Planted are the scenario's
/// own SecretNo, one issued on the wire, and those of *other* devices of the fleet and its
/// seed, which a target may echo: in frames, in a failure's free text no recorder saw (a
/// reset command's output) and in the run's target (a device command that spells one out).
#[test]
fn planted_credentials_reach_no_report() {
    use hwconform::engine::clock::ScenarioClock;
    use hwconform::engine::recorder::Recorder;
    use proptest::prelude::*;
    const FLEET_SECRETS: [&str; 4] = [
        "planted-secret-no",
        "other-device-secret-1",
        "other-device-secret-2",
        "fleet-seed-secret",
    ];
    let leaf = prop_oneof![
        Just(serde_json::json!("planted-secret-no")),
        Just(serde_json::json!("issued-secret-77")),
        Just(serde_json::json!(4242424242u64)),
        Just(serde_json::json!("other-device-secret-1")),
        Just(serde_json::json!("fleet-seed-secret")),
        "[a-z ]{0,6}".prop_map(|s| serde_json::json!(format!("{s}planted-secret-no{s}"))),
        "[a-z ]{0,6}".prop_map(|s| serde_json::json!(format!("{s}other-device-secret-2{s}"))),
        "[a-z]{0,6}".prop_map(|s| serde_json::json!(s)),
    ];
    let tree = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    "[a-z_]{1,6}",
                    Just("k-planted-secret-no".to_string()),
                    Just("k-other-device-secret-1".to_string())
                ],
                inner,
                0..4
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    let mut fleet = hwconform::profile::fleet::Fleet::from_pairs(&[
        "DUT-1=planted-secret-no".to_string(),
        "OTHER-1=other-device-secret-1".to_string(),
        "OTHER-2=other-device-secret-2".to_string(),
    ])
    .unwrap();
    fleet.seed_secret_no = Some(hwconform::profile::Secret::new("fleet-seed-secret"));
    let dir = TempDir::new("planted");
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 48,
        ..Default::default()
    });
    runner
        .run(&tree, |frame| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
            let _guard = rt.enter();
            // One set for the run, built once from the whole fleet; the recorder of the
            // scenario (which plays only DUT-1) knows its own identity and the run's set.
            let credentials = hwconform::profile::RunCredentials::new(fleet.credentials());
            let rec = Recorder::for_run(ScenarioClock::start(0), vec!["planted-secret-no".into(), "4242424242".into()], credentials.clone(), hwconform::profile::default_profile());
            rec.text_frame("a", &serde_json::json!({"body": {"secret": "issued-secret-77"}}).to_string(), false);
            rec.text_frame("a", &serde_json::json!({"cmd": "ping", "headers": {"req_id": "p"}, "body": {"note": frame.clone()}}).to_string(), false);
            rec.text_frame("a", &frame.to_string(), true);
            // A large frame too: summarised, never a credential's start in the summary.
            rec.text_frame("a", &serde_json::json!({"cmd": "ping", "headers": {"req_id": "q"}, "body": {"pad": "y".repeat(20_000), "note": frame.clone(), "tail": format!("{}other-device-secret-1", "z".repeat(2_000))}}).to_string(), false);
            let mut failure = Failure::new(rec.redact(&format!("expected nothing, got {frame}")));
            failure.actual = Some(rec.redact(&frame.to_string()));
            // Free text no recorder saw: what a reset command printed (the fleet's credentials
            // raw; one the wire taught this scenario, as the session words it).
            failure.expected = Some(format!("the device reset command failed: echoed other-device-secret-1, fleet-seed-secret and {}", rec.redact(&frame.to_string())));
            let verdict = Verdict::Fail(failure);
            let results = vec![result("x.planted", Role::Cloud, "scenarios/x.yaml", &["D1"], verdict, 1, 1, rec.take())];
            let reports = all_reports_scrubbed(&dir.0, &results, &credentials, "exec:./device --secret-no other-device-secret-2");
            // The golden a `--golden update` run would write for this conversation.
            let golden_dir = dir.0.join("golden");
            let _ = std::fs::remove_dir_all(&golden_dir);
            let golden = GoldenConfig { mode: GoldenMode::Update, dir: golden_dir.clone(), explicit: true };
            let mut passed = results[0].clone();
            passed.verdict = Verdict::Pass;
            hwconform::check::golden::apply(&golden, &mut passed, true, true);
            let snapshots: Vec<String> = std::fs::read_dir(&golden_dir).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
            prop_assert_eq!(snapshots.len(), 1, "the update wrote its pending golden");
            prop_assert!(reports.html.contains("<title>") && reports.json.contains("exec:./device --secret-no <redacted>"), "the target is shown, scrubbed");
            let outputs = [("terminal", &reports.terminal), ("junit", &reports.junit), ("json", &reports.json), ("html", &reports.html), ("golden", &snapshots[0])];
            for (name, text) in outputs {
                for secret in FLEET_SECRETS.iter().chain(&["issued-secret-77", "4242424242"]) {
                    prop_assert!(!text.contains(secret), "{name} shows {secret}:\n{text}");
                }
            }
            Ok(())
        })
        .unwrap();
}
