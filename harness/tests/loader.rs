//! The scenario loader, end to end: every kind of invalid file gives one diagnostic at the
//! right place, rendered diagnostics are snapshotted, arbitrary input never panics, generated
//! scenarios survive a trip through YAML text, and the scenario library loads.

use hwconform::scenario::expr::format_duration;
use hwconform::scenario::matcher::Matcher;
use hwconform::scenario::{load_paths, load_str, loader, DurationExpr, LoadError, Scenario, StepKind};
use proptest::prelude::*;
use rstest::rstest;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Lines 1-4 of most cases; `steps:` is line 5 and the first step line 6.
const HEAD: &str = "id: t.case\ntitle: a case\nrequirements: [C9]\nrole: device\n";

fn with_steps(steps: &str) -> String {
    format!("{HEAD}steps:\n{steps}")
}

fn load(text: &str) -> Result<Scenario, LoadError> {
    load_str(Path::new("case.yaml"), text)
}

/// A fresh directory under the system temp dir, removed first if a previous run left it.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hwconform-loader-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[rstest]
#[case::unknown_key(with_steps("  - request: { cmd: ping, withn: 5s }\n"), (6, 27), "unknown key `withn` in a `request` step")]
#[case::unknown_key_suggests(with_steps("  - request: { cmd: ping, withn: 5s }\n"), (6, 27), "did you mean `within`?")]
#[case::wrong_type(with_steps("  - request: { cmd: ping, within: [1] }\n"), (6, 35), "expected a duration like 10s, found a list")]
#[case::wrong_type_bool(with_steps("  - request: { cmd: ping, raw: yes }\n"), (6, 32), "expected true or false, found a string")]
#[case::unknown_step_kind(with_steps("  - reqest: { cmd: ping }\n"), (6, 5), "did you mean `request`?")]
#[case::two_kind_keys(with_steps("  - connect: a\n    send: { text: x }\n"), (7, 5), "exactly one kind; found `connect` and `send`")]
#[case::argument_beside_kind(with_steps("  - expect_closed: a\n    within: 5s\n"), (7, 5), "unknown key `within` beside `expect_closed`")]
#[case::unknown_requirement("id: x\ntitle: t\nrequirements: [C9, c12]\nrole: device\nsteps: [wait: 1s]\n", (3, 20), "did you mean `C12`?")]
#[case::requirement_out_of_range("id: x\ntitle: t\nrequirements: [D43]\nrole: device\nsteps: [wait: 1s]\n", (3, 16), "unknown requirement id `D43`")]
#[case::no_requirements("id: x\ntitle: t\nrequirements: []\nrole: device\nsteps: [wait: 1s]\n", (3, 15), "at least one requirement")]
#[case::bad_duration(with_steps("  - wait: 5 parsecs\n"), (6, 11), "invalid duration \"5 parsecs\"")]
#[case::bad_duration_template(with_steps("  - wait: \"${heartbeat_timeout\"\n"), (6, 11), "unclosed `${`")]
#[case::bad_ip(with_steps("  - connect: { from: 10.0.0.1 }\n"), (6, 22), "expected an IPv4 address in 127.0.0.0/8")]
#[case::bad_ip_text(with_steps("  - change_ip: { to: localhost }\n"), (6, 22), "invalid address `localhost` for `to`")]
#[case::unknown_op(with_steps("  - expect: { frame: { x: { $regx: a } } }\n"), (6, 29), "did you mean `$regex`?")]
#[case::bad_regex(with_steps("  - expect: { frame: { x: { $regex: \"(a\" } } }\n"), (6, 37), "invalid $regex: unclosed group")]
#[case::bad_op_argument(with_steps("  - expect: { frame: { x: { $gte: [1] } } }\n"), (6, 35), "$gte takes a number")]
#[case::mixed_matcher(with_steps("  - expect: { frame: { $type: object, cmd: x } }\n"), (6, 39), "mixes operators (`$type`) with keys (`cmd`)")]
#[case::missing_step_key(with_steps("  - request: { conn: a }\n"), (6, 14), "missing required key `cmd` in a `request` step")]
#[case::missing_frame(with_steps("  - expect: { within: 1s }\n"), (6, 13), "missing required key `frame` in an `expect` step")]
#[case::missing_top_key("id: x\nrequirements: [C9]\nrole: device\nsteps: [wait: 1s]\n", (1, 1), "missing required key `title` in a scenario")]
#[case::unknown_top_key(format!("{HEAD}stepz: []\n"), (5, 1), "did you mean `steps`?")]
#[case::duplicate_mapping_key(with_steps("  - request: { cmd: a, cmd: b }\n"), (6, 24), "duplicate key `cmd` (first at line 6:16)")]
#[case::tab_indentation(with_steps("\t- wait: 1s\n"), (6, 2), "tabs disallowed")]
#[case::scanner_error(with_steps("  - wait: \"1s\n"), (6, 11), "invalid YAML")]
#[case::second_document(format!("{HEAD}steps: [wait: 1s]\n---\nid: y\n"), (6, 1), "holds one YAML document")]
#[case::unsupported_tag(with_steps("  - wait: !duration 1s\n"), (6, 11), "tags are not supported")]
#[case::empty_file(String::new(), (1, 1), "empty scenario file")]
#[case::comments_only("# nothing yet\n".to_string(), (1, 1), "empty scenario file")]
#[case::top_level_list("- wait: 1s\n".to_string(), (1, 1), "a scenario file must be a mapping")]
#[case::top_level_scalar("hello\n".to_string(), (1, 1), "found a string")]
#[case::control_without_requires(with_steps("  - control: { bind: dev }\n"), (6, 5), "add `requires: [control]`")]
#[case::control_two_operations(format!("{HEAD}requires: [control]\nsteps:\n  - control: {{ bind: dev, unbind: dev }}\n"), (7, 27), "does one thing")]
#[case::unknown_device(with_steps("  - connect: { device: phone }\n"), (6, 24), "unknown device `phone`")]
#[case::bad_id("id: \"two words\"\ntitle: t\nrequirements: [C9]\nrole: device\nsteps: [wait: 1s]\n", (1, 5), "invalid scenario id `two words`")]
#[case::unknown_role("id: x\ntitle: t\nrequirements: [C9]\nrole: clud\nsteps: [wait: 1s]\n", (4, 7), "did you mean `cloud`?")]
#[case::repeat_out_of_range(with_steps("  - repeat: { times: 0, steps: [wait: 1s] }\n"), (6, 22), "an integer from 1 to 1000")]
#[case::repeat_too_many(with_steps("  - repeat: { times: 1001, steps: [wait: 1s] }\n"), (6, 22), "`times` is out of range")]
#[case::empty_steps(format!("{HEAD}steps: []\n"), (5, 8), "at least one step")]
#[case::scalar_step(with_steps("  - disconnect\n"), (6, 5), "write `disconnect:`")]
#[case::send_two_frames(with_steps("  - send: { text: a, json: 1 }\n"), (6, 22), "sends one frame")]
#[case::bad_hex(with_steps("  - send: { binary_hex: \"0g\" }\n"), (6, 25), "invalid `binary_hex`")]
#[case::no_reply_with_expect(with_steps("  - request: { cmd: ping, no_reply: true }\n    expect: { errcode: 0 }\n"), (7, 5), "cannot be used with `no_reply: true`")]
#[case::fixed_deadline(format!("{HEAD}deadline: \"${{x}}+1s\"\nsteps: [wait: 1s]\n"), (5, 11), "`deadline` must be a fixed duration")]
#[case::var_shadows_run_variable(format!("{HEAD}vars: {{ now: 1 }}\nsteps: [wait: 1s]\n"), (5, 9), "`now` is a run variable")]
#[case::window_inverted(with_steps("  - expect_closed: { within: 5s, not_before: 10s }\n"), (6, 46), "later than `within`")]
fn invalid_files_point_at_the_problem(#[case] text: String, #[case] at: (u32, u32), #[case] fragment: &str) {
    let err = load(&text).expect_err("the file must not load");
    let d = &err.diagnostics()[0];
    let shown = d.to_string();
    assert!(shown.contains(fragment), "{fragment:?} not in {shown:?}\n{}", err.render());
    assert_eq!((d.span.line, d.span.col), at, "{}", err.render());
}

#[test]
fn duplicate_ids_across_files_point_at_the_second() {
    let dir = temp_dir("dup");
    std::fs::write(dir.join("a.yaml"), with_steps("  - wait: 1s\n")).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub").join("b.yml"), with_steps("  - wait: 2s\n")).unwrap();
    let err = load_paths(std::slice::from_ref(&dir)).expect_err("duplicate ids");
    let d = &err.diagnostics()[0];
    assert_eq!(d.path, dir.join("sub").join("b.yml"));
    assert_eq!((d.span.line, d.span.col), (1, 5));
    assert!(d.message.contains("duplicate scenario id `t.case`"), "{d}");
    let first = format!("{}:1:5", dir.join("a.yaml").display());
    assert!(d.note.as_deref().is_some_and(|n| n.contains(&first)), "{:?}", d.note);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_file_is_checked_and_good_files_still_count() {
    let dir = temp_dir("many");
    std::fs::write(dir.join("1-ok.yaml"), with_steps("  - wait: 1s\n")).unwrap();
    std::fs::write(dir.join("2-bad.yaml"), with_steps("  - wiat: 1s\n")).unwrap();
    std::fs::write(dir.join("3-bad.yaml"), "id: y\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a scenario").unwrap();
    let missing = dir.join("missing.yaml");
    let (ok, err) = loader::validate_paths(&[dir.clone(), missing.clone()]);
    let err = err.expect("errors");
    assert_eq!(ok, 1);
    assert_eq!(err.file_count(), 3, "{err:?}");
    let paths: Vec<&Path> = err.diagnostics().iter().map(|d| d.path.as_path()).collect();
    assert!(paths.contains(&dir.join("2-bad.yaml").as_path()) && paths.contains(&missing.as_path()));
    assert!(err.render().contains("cannot read scenario path"), "{err:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_empty_directory_loads_nothing() {
    let dir = temp_dir("empty");
    assert!(load_paths(std::slice::from_ref(&dir)).unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- rendered diagnostics ----

fn rendered(text: &str) -> String {
    load_str(Path::new("scenarios/cloud/case.yaml"), text).expect_err("invalid").render()
}

#[test]
fn snapshot_unknown_key() {
    insta::assert_snapshot!(rendered(&with_steps("  - connect: a\n  - request:\n      cmd: register\n      withn: 5s\n")));
}

#[test]
fn snapshot_unknown_requirement_and_step_kind() {
    let text = "id: cloud.x\ntitle: t\nrequirements: [C9, C52]\nrole: device\nsteps:\n  - conect: b\n  - wait: 1s\n";
    insta::assert_snapshot!(rendered(text));
}

#[test]
fn snapshot_control_without_requires() {
    insta::assert_snapshot!(rendered(&with_steps("  - connect: a\n  - control: { unbind: dev }\n")));
}

#[test]
fn snapshot_duplicate_id_and_missing_file() {
    let dir = temp_dir("snap");
    std::fs::write(dir.join("a.yaml"), with_steps("  - wait: 1s\n")).unwrap();
    std::fs::write(dir.join("b.yaml"), format!("# the same id again\n{}", with_steps("  - wait: 1s\n"))).unwrap();
    let err = load_paths(&[dir.clone(), dir.join("gone.yaml")]).expect_err("errors");
    let text = err.render().replace(&dir.display().to_string(), "[dir]");
    let _ = std::fs::remove_dir_all(&dir);
    // The OS error text differs between platforms; keep only our part of the message.
    let text = text.lines().map(|l| l.split(": No such file").next().unwrap_or(l)).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!(text);
}

// ---- the library ----

/// Every file in the repository's `scenarios/` loads (none yet is fine).
#[test]
fn the_scenario_library_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("scenarios");
    if !root.is_dir() {
        return;
    }
    let scenarios = match load_paths(std::slice::from_ref(&root)) {
        Ok(s) => s,
        Err(e) => panic!("the library does not load:\n{}", e.render()),
    };
    for s in &scenarios {
        assert!(!s.steps.is_empty(), "{}", s.id.value);
    }
}

// ---- properties ----

/// Text built from YAML punctuation and the format's own words, to reach deep parser and
/// loader paths that random bytes rarely reach.
fn yamlish() -> impl Strategy<Value = String> {
    let tokens = prop_oneof![
        Just("id"), Just("title"), Just("requirements"), Just("role"), Just("steps"), Just("device"), Just("C9"),
        Just("request"), Just("connect"), Just("expect"), Just("wait"), Just("repeat"), Just("control"), Just("times"),
        Just("cmd"), Just("conn"), Just("within"), Just("frame"), Just("$type"), Just("$regex"), Just("$in"),
        Just(": "), Just(":"), Just("\n"), Just("  "), Just("- "), Just("{"), Just("}"), Just("["), Just("]"), Just(", "),
        Just("\""), Just("'"), Just("&a "), Just("*a"), Just("!!str "), Just("# c"), Just("10s"), Just("${x}"),
        Just("127.0.0.2"), Just("---\n"), Just("\t"), Just("|\n"), Just("? "), Just("~"), Just("1e9"), Just("-"),
    ];
    proptest::collection::vec(tokens, 0..60).prop_map(|t| t.concat())
}

/// A valid file with a random edit: a byte range replaced by random text.
fn mutated() -> impl Strategy<Value = String> {
    let base = with_steps(
        "  - connect: { conn: a, from: 127.0.0.2 }\n  - request: { cmd: register, within: 5s }\n    expect: { errcode: 0, body: { x: { $type: string } } }\n    capture: { code: body.x }\n  - repeat: { times: 2, steps: [wait: 1s] }\n",
    );
    let len = base.len();
    (0..len, 0..8usize, "\\PC{0,6}").prop_map(move |(at, cut, insert)| {
        let end = (at + cut).min(len);
        format!("{}{insert}{}", &base[..at], &base[end..])
    })
}

/// One generated step, kept simple enough to render and compare.
#[derive(Clone, Debug)]
enum GenStep {
    Connect { conn: String, host: u8 },
    Request { conn: String, cmd: String, within_ms: u64, errcode: i64, text: String },
    Wait { ms: u64 },
    Disconnect { conn: String },
    Silence { conn: String, ms: u64 },
    Repeat { times: u32, inner: Vec<GenStep> },
}

fn conn_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,5}"
}

fn leaf_step() -> impl Strategy<Value = GenStep> {
    prop_oneof![
        (conn_name(), 1u8..=254).prop_map(|(conn, host)| GenStep::Connect { conn, host }),
        (conn_name(), "[a-z_]{1,12}", 1u64..100_000, -1i64..700_000, "\\PC{0,12}")
            .prop_map(|(conn, cmd, within_ms, errcode, text)| GenStep::Request { conn, cmd, within_ms, errcode, text }),
        (0u64..10_000_000).prop_map(|ms| GenStep::Wait { ms }),
        conn_name().prop_map(|conn| GenStep::Disconnect { conn }),
        (conn_name(), 1u64..1_000_000).prop_map(|(conn, ms)| GenStep::Silence { conn, ms }),
    ]
}

fn gen_step() -> impl Strategy<Value = GenStep> {
    prop_oneof![
        4 => leaf_step(),
        1 => (1u32..=1000, proptest::collection::vec(leaf_step(), 1..4)).prop_map(|(times, inner)| GenStep::Repeat { times, inner }),
    ]
}

/// A JSON string is a valid YAML double-quoted scalar.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn render_steps(steps: &[GenStep], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for step in steps {
        match step {
            GenStep::Connect { conn, host } => out.push_str(&format!("{pad}- connect: {{ conn: {conn}, from: 127.0.0.{host} }}\n")),
            GenStep::Request { conn, cmd, within_ms, errcode, text } => {
                out.push_str(&format!("{pad}- request: {{ conn: {conn}, cmd: {cmd}, within: {within_ms}ms }}\n"));
                out.push_str(&format!("{pad}  expect: {{ errcode: {errcode}, body: {{ text: {} }} }}\n", quoted(text)));
            }
            GenStep::Wait { ms } => out.push_str(&format!("{pad}- wait: {}\n", format_duration(Duration::from_millis(*ms)))),
            GenStep::Disconnect { conn } => out.push_str(&format!("{pad}- disconnect: {conn}\n")),
            GenStep::Silence { conn, ms } => out.push_str(&format!("{pad}- expect_silence:\n{pad}    conn: {conn}\n{pad}    for: {ms}ms\n")),
            GenStep::Repeat { times, inner } => {
                out.push_str(&format!("{pad}- repeat:\n{pad}    times: {times}\n{pad}    steps:\n"));
                render_steps(inner, indent + 6, out);
            }
        }
    }
}

fn render_scenario(id: &str, requirements: &[String], steps: &[GenStep]) -> String {
    let mut out = format!("id: {id}\ntitle: {}\nrequirements: [{}]\nrole: device\nsteps:\n", quoted("generated: a title"), requirements.join(", "));
    render_steps(steps, 2, &mut out);
    out
}

fn fixed(d: &Option<DurationExpr>) -> Duration {
    match d {
        Some(DurationExpr::Fixed(d)) => *d,
        other => panic!("expected a fixed duration, got {other:?}"),
    }
}

/// Compares a loaded step with the one it was generated from.
fn same_step(got: &StepKind, want: &GenStep) -> Result<(), TestCaseError> {
    match (got, want) {
        (StepKind::Connect(c), GenStep::Connect { conn, host }) => {
            prop_assert_eq!(&c.conn, conn);
            prop_assert_eq!(c.from.clone(), Some(format!("127.0.0.{host}")));
        }
        (StepKind::Request(r), GenStep::Request { conn, cmd, within_ms, errcode, text }) => {
            prop_assert_eq!(&r.conn, conn);
            prop_assert_eq!(&r.cmd, cmd);
            prop_assert_eq!(fixed(&r.within), Duration::from_millis(*within_ms));
            let want = Matcher::from_value(&json!({ "errcode": errcode, "body": { "text": text } }));
            prop_assert_eq!(&r.expect.as_ref().unwrap().value, &want);
        }
        (StepKind::Wait(d), GenStep::Wait { ms }) => {
            let got = fixed(&Some(d.clone())).as_secs_f64();
            prop_assert!((got - *ms as f64 / 1000.0).abs() < 0.006, "{} vs {}ms", got, ms);
        }
        (StepKind::Disconnect(c), GenStep::Disconnect { conn }) => prop_assert_eq!(&c.conn, conn),
        (StepKind::ExpectSilence(s), GenStep::Silence { conn, ms }) => {
            prop_assert_eq!(&s.conn, conn);
            prop_assert_eq!(fixed(&Some(s.duration.clone())), Duration::from_millis(*ms));
        }
        (StepKind::Repeat(r), GenStep::Repeat { times, inner }) => {
            prop_assert_eq!(r.times, *times);
            prop_assert_eq!(r.steps.len(), inner.len());
            for (g, w) in r.steps.iter().zip(inner) {
                same_step(&g.kind, w)?;
            }
        }
        (got, want) => prop_assert!(false, "step kind {} for {:?}", got.name(), want),
    }
    Ok(())
}

fn requirement_id() -> impl Strategy<Value = String> {
    prop_oneof![(1u32..=42).prop_map(|n| format!("D{n}")), (1u32..=24).prop_map(|n| format!("C{n}"))]
}

// 256 cases each by default; set PROPTEST_CASES for a longer search.
proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = load(&text);
    }

    #[test]
    fn yamlish_text_never_panics(text in yamlish()) {
        if let Err(e) = load(&text) {
            let _ = e.render();
        }
    }

    #[test]
    fn edited_files_never_panic(text in mutated()) {
        if let Err(e) = load(&text) {
            prop_assert!(!e.diagnostics().is_empty());
            let _ = e.render();
        }
    }

    /// Generated scenarios rendered as YAML load back with the same ids, kinds, connections,
    /// durations and matcher values.
    #[test]
    fn generated_scenarios_round_trip(
        id in "[a-z][a-z0-9._-]{0,20}",
        requirements in proptest::collection::btree_set(requirement_id(), 1..4),
        steps in proptest::collection::vec(gen_step(), 1..8),
    ) {
        let requirements: Vec<String> = requirements.into_iter().collect();
        let text = render_scenario(&id, &requirements, &steps);
        let loaded = load(&text).map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
        prop_assert_eq!(&loaded.id.value, &id);
        prop_assert_eq!(&loaded.title, "generated: a title");
        let got: Vec<&str> = loaded.requirements.iter().map(|r| r.value.as_str()).collect();
        prop_assert_eq!(got, requirements.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(loaded.steps.len(), steps.len());
        for (got, want) in loaded.steps.iter().zip(&steps) {
            same_step(&got.kind, want)?;
        }
    }
}

#[test]
fn json_strings_keep_their_type_through_yaml() {
    let s = load(&with_steps("  - send: { json: { a: \"10\", b: 10, c: '1.5', d: 1.5, e: null, f: \"true\" } }\n")).unwrap();
    let StepKind::Send(send) = &s.steps[0].kind else { panic!() };
    let hwconform::scenario::SendFrame::Json(v) = &send.frame else { panic!() };
    assert_eq!(v, &json!({"a": "10", "b": 10, "c": "1.5", "d": 1.5, "e": Value::Null, "f": "true"}));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = format!("{HEAD}vars: {{ x: {}1{} }}\nsteps: [wait: 1s]\n", "[".repeat(100_000), "]".repeat(100_000));
    let _ = load(&text);
}
