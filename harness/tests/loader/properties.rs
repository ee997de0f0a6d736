//! Properties of the loader: arbitrary input never panics, generated scenarios survive a trip
//! through YAML text, and the limits hold.

use super::*;

/// Text built from YAML punctuation and the format's own words, to reach deep parser and
/// loader paths that random bytes rarely reach.
fn yamlish() -> impl Strategy<Value = String> {
    let tokens = prop_oneof![
        Just("id"),
        Just("title"),
        Just("requirements"),
        Just("role"),
        Just("steps"),
        Just("device"),
        Just("C9"),
        Just("request"),
        Just("connect"),
        Just("expect"),
        Just("wait"),
        Just("repeat"),
        Just("control"),
        Just("times"),
        Just("cmd"),
        Just("conn"),
        Just("within"),
        Just("frame"),
        Just("$type"),
        Just("$regex"),
        Just("$in"),
        Just(": "),
        Just(":"),
        Just("\n"),
        Just("  "),
        Just("- "),
        Just("{"),
        Just("}"),
        Just("["),
        Just("]"),
        Just(", "),
        Just("\""),
        Just("'"),
        Just("&a "),
        Just("*a"),
        Just("!!str "),
        Just("# c"),
        Just("10s"),
        Just("${x}"),
        Just("127.0.0.2"),
        Just("---\n"),
        Just("\t"),
        Just("|\n"),
        Just("? "),
        Just("~"),
        Just("1e9"),
        Just("-"),
        Just("cloud"),
        Just("accept"),
        Just("receive"),
        Just("reply"),
        Just("check"),
        Just("mark"),
        Just("timing"),
        Just("since"),
        Just("auto_reply"),
        Just("manual"),
        Just("off"),
        Just("push_x"),
        Just("device_control"),
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
    Connect {
        conn: String,
        host: u8,
    },
    Request {
        conn: String,
        cmd: String,
        within_ms: u64,
        errcode: i64,
        text: String,
    },
    Wait {
        ms: u64,
    },
    Disconnect {
        conn: String,
    },
    Silence {
        conn: String,
        ms: u64,
    },
    Repeat {
        times: u32,
        inner: Vec<GenStep>,
    },
    // cloud role
    Accept {
        conn: String,
        within_ms: Option<u64>,
    },
    Receive {
        conn: String,
        cmd: Option<String>,
        within_ms: u64,
        text: String,
    },
    Reply {
        to: String,
        errcode: i64,
        text: String,
        suggestion: Option<&'static str>,
    },
    Push {
        conn: String,
        cmd: String,
        text: String,
    },
    Close {
        conn: String,
        code: u16,
    },
    Delay {
        ms: u64,
    },
    Reconnect {
        conn: String,
        within_ms: u64,
    },
    CmdSilence {
        conn: String,
        ms: u64,
        cmd: String,
    },
    Mark {
        name: String,
    },
    /// `since` is filled in after generation with the latest earlier mark, if any.
    Timing {
        cmd: String,
        since: Option<String>,
        min_ms: u64,
        max_ms: u64,
        min_count: Option<u32>,
    },
}

/// Plain words YAML would type as booleans or null rather than strings.
fn typed_word(s: &str) -> bool {
    matches!(s, "true" | "false" | "null")
}

fn conn_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,5}".prop_filter("a string in YAML", |s| !typed_word(s))
}

fn cmd_name() -> impl Strategy<Value = String> {
    "[a-z_]{1,12}".prop_filter("a string in YAML", |s| !typed_word(s))
}

/// Any printable text a value may hold: everything but an expression (`${...}` is checked at
/// load and expanded at run, so it is no free text).
fn free_text() -> impl Strategy<Value = String> {
    "\\PC{0,12}".prop_filter("no ${ expression", |s| !s.contains("${"))
}

fn leaf_step() -> impl Strategy<Value = GenStep> {
    prop_oneof![
        (conn_name(), 1u8..=254).prop_map(|(conn, host)| GenStep::Connect { conn, host }),
        (
            conn_name(),
            cmd_name(),
            1u64..100_000,
            -1i64..700_000,
            free_text()
        )
            .prop_map(|(conn, cmd, within_ms, errcode, text)| GenStep::Request {
                conn,
                cmd,
                within_ms,
                errcode,
                text
            }),
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

/// The steps of a cloud-role scenario: the shared kinds and the cloud's own.
fn cloud_leaf_step() -> impl Strategy<Value = GenStep> {
    let close_code = prop_oneof![Just(1000u16), Just(1001), 3000u16..=4999];
    prop_oneof![
        (1u64..10_000_000).prop_map(|ms| GenStep::Wait { ms }),
        conn_name().prop_map(|conn| GenStep::Disconnect { conn }),
        (conn_name(), proptest::option::of(1u64..100_000))
            .prop_map(|(conn, within_ms)| GenStep::Accept { conn, within_ms }),
        (
            conn_name(),
            proptest::option::of(cmd_name()),
            1u64..100_000,
            free_text()
        )
            .prop_map(|(conn, cmd, within_ms, text)| GenStep::Receive {
                conn,
                cmd,
                within_ms,
                text
            }),
        (
            "[a-z0-9]{1,8}",
            0i64..700_000,
            free_text(),
            proptest::option::of(prop_oneof![Just("retry"), Just("reconnect")])
        )
            .prop_map(|(to, errcode, text, suggestion)| GenStep::Reply {
                to,
                errcode,
                text,
                suggestion
            }),
        (conn_name(), "push_[a-z_]{1,12}", free_text())
            .prop_map(|(conn, cmd, text)| GenStep::Push { conn, cmd, text }),
        (conn_name(), close_code).prop_map(|(conn, code)| GenStep::Close { conn, code }),
        (1u64..1_000_000).prop_map(|ms| GenStep::Delay { ms }),
        (conn_name(), 1u64..1_000_000)
            .prop_map(|(conn, within_ms)| GenStep::Reconnect { conn, within_ms }),
        (conn_name(), 1u64..1_000_000, cmd_name())
            .prop_map(|(conn, ms, cmd)| GenStep::CmdSilence { conn, ms, cmd }),
        conn_name().prop_map(|name| GenStep::Mark { name }),
        (
            cmd_name(),
            0u64..100_000,
            0u64..100_000,
            proptest::option::of(1u32..1000)
        )
            .prop_map(|(cmd, a, b, min_count)| {
                GenStep::Timing {
                    cmd,
                    since: None,
                    min_ms: a.min(b),
                    max_ms: a.max(b),
                    min_count,
                }
            }),
    ]
}

fn cloud_step() -> impl Strategy<Value = GenStep> {
    prop_oneof![
        4 => cloud_leaf_step(),
        1 => (1u32..=1000, proptest::collection::vec(cloud_leaf_step(), 1..4)).prop_map(|(times, inner)| GenStep::Repeat { times, inner }),
    ]
}

/// Points every generated `timing` at the latest mark before it in file order (or none), as
/// `since` must name an earlier mark.
fn link_marks(steps: &mut [GenStep], latest: &mut Option<String>) {
    for step in steps {
        match step {
            GenStep::Mark { name } => *latest = Some(name.clone()),
            GenStep::Timing { since, .. } => since.clone_from(latest),
            GenStep::Repeat { inner, .. } => link_marks(inner, latest),
            _ => {}
        }
    }
}

fn ms(ms: u64) -> DurationExpr {
    DurationExpr::Fixed(Duration::from_millis(ms))
}

/// The typed step a generated one stands for; rendered with the scenario's own `to_yaml`.
fn typed(step: &GenStep) -> StepKind {
    use hwconform::scenario as sc;
    let text_body = |text: &str| Some(json!({ "text": text }));
    let matcher = |v: Value| Spanned::new(Matcher::compile(&v).unwrap(), Span::default());
    match step {
        GenStep::Connect { conn, host } => StepKind::Connect(sc::Connect {
            conn: conn.clone(),
            from: Some(format!("127.0.0.{host}")),
            device: None,
            within: None,
        }),
        GenStep::Request {
            conn,
            cmd,
            within_ms,
            errcode,
            text,
        } => StepKind::Request(sc::Request {
            conn: conn.clone(),
            cmd: cmd.clone(),
            req_id: None,
            body: None,
            raw_body: false,
            expect: Some(matcher(
                json!({ "errcode": errcode, "body": { "text": text } }),
            )),
            capture: Default::default(),
            within: Some(ms(*within_ms)),
            not_before: None,
            no_reply: false,
        }),
        GenStep::Wait { ms: n } => StepKind::Wait(ms(*n).into()),
        GenStep::Disconnect { conn } => StepKind::Disconnect(sc::ConnRef { conn: conn.clone() }),
        GenStep::Silence { conn, ms: n } => StepKind::ExpectSilence(sc::ExpectSilence {
            conn: conn.clone(),
            duration: ms(*n),
            cmd: None,
        }),
        GenStep::Repeat { times, inner } => StepKind::Repeat(sc::Repeat {
            times: *times,
            steps: inner.iter().map(|g| sc::Step::new(typed(g))).collect(),
        }),
        GenStep::Accept { conn, within_ms } => StepKind::Accept(sc::Accept {
            conn: conn.clone(),
            within: within_ms.map(ms),
        }),
        GenStep::Receive {
            conn,
            cmd,
            within_ms,
            text,
        } => StepKind::Receive(sc::Receive {
            conn: conn.clone(),
            cmd: cmd.clone(),
            within: Some(ms(*within_ms)),
            not_before: None,
            check: Some(matcher(json!({ "body": { "text": text } }))),
            capture: Default::default(),
        }),
        GenStep::Reply {
            to,
            errcode,
            text,
            suggestion,
        } => StepKind::Reply(sc::Reply {
            conn: "a".into(),
            to: Some(to.clone()),
            spec: ReplySpec {
                errcode: *errcode,
                errmsg: None,
                body: text_body(text),
                suggestion: suggestion.map(str::to_string),
                interval: None,
                binary: None,
                no_advice: false,
            },
        }),
        GenStep::Push { conn, cmd, text } => StepKind::Push(sc::Push {
            conn: conn.clone(),
            cmd: cmd.clone(),
            body: text_body(text),
            req_id: None,
        }),
        GenStep::Close { conn, code } => StepKind::Close(sc::Close {
            conn: conn.clone(),
            code: Some(*code),
            reason: None,
        }),
        GenStep::Delay { ms: n } => StepKind::Delay(ms(*n)),
        GenStep::Reconnect { conn, within_ms } => StepKind::ExpectReconnect(sc::ExpectReconnect {
            conn: conn.clone(),
            within: Some(ms(*within_ms)),
            not_before: None,
        }),
        GenStep::CmdSilence { conn, ms: n, cmd } => StepKind::ExpectSilence(sc::ExpectSilence {
            conn: conn.clone(),
            duration: ms(*n),
            cmd: Some(cmd.clone()),
        }),
        GenStep::Mark { name } => StepKind::Mark(name.clone()),
        GenStep::Timing {
            cmd,
            since,
            min_ms,
            max_ms,
            min_count,
        } => StepKind::Timing(sc::Timing {
            conn: None,
            cmd: cmd.clone(),
            since: since.clone(),
            gaps: Some(sc::DurationRange {
                min: Some(ms(*min_ms)),
                max: Some(ms(*max_ms)),
            }),
            jitter: false,
            min_count: *min_count,
            max_per: None,
            none: false,
        }),
    }
}

/// The generated scenario as text, by `Scenario::to_yaml` (the one renderer).
fn render_scenario(id: &str, requirements: &[String], role: Role, steps: &[GenStep]) -> String {
    use hwconform::scenario as sc;
    let scenario = Scenario {
        id: Spanned::new(id.to_string(), Span::default()),
        title: "generated: a title".into(),
        description: None,
        requirements: requirements
            .iter()
            .map(|r| Spanned::new(r.clone(), Span::default()))
            .collect(),
        tags: Vec::new(),
        role,
        requires: Vec::new(),
        features: Vec::new(),
        devices: vec!["dev".into()],
        vars: Default::default(),
        deadline: None,
        step_timeout: None,
        manual: None,
        assumption: None,
        auto_reply: None,
        steps: steps.iter().map(|g| sc::Step::new(typed(g))).collect(),
        source: std::sync::Arc::new(sc::Source {
            path: PathBuf::from("generated.yaml"),
            text: String::new(),
        }),
    };
    scenario.to_yaml()
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
        (
            StepKind::Request(r),
            GenStep::Request {
                conn,
                cmd,
                within_ms,
                errcode,
                text,
            },
        ) => {
            prop_assert_eq!(&r.conn, conn);
            prop_assert_eq!(&r.cmd, cmd);
            prop_assert_eq!(fixed(&r.within), Duration::from_millis(*within_ms));
            let want =
                Matcher::from_value(&json!({ "errcode": errcode, "body": { "text": text } }));
            prop_assert_eq!(&r.expect.as_ref().unwrap().value, &want);
        }
        (StepKind::Wait(d), GenStep::Wait { ms }) => {
            let got = fixed(&Some(d.duration.clone())).as_secs_f64();
            prop_assert!(
                (got - *ms as f64 / 1000.0).abs() < 0.006,
                "{} vs {}ms",
                got,
                ms
            );
        }
        (StepKind::Disconnect(c), GenStep::Disconnect { conn }) => prop_assert_eq!(&c.conn, conn),
        (StepKind::ExpectSilence(s), GenStep::Silence { conn, ms }) => {
            prop_assert_eq!(&s.conn, conn);
            prop_assert_eq!(fixed(&Some(s.duration.clone())), Duration::from_millis(*ms));
        }
        (StepKind::Accept(a), GenStep::Accept { conn, within_ms }) => {
            prop_assert_eq!(&a.conn, conn);
            prop_assert_eq!(
                a.within.clone(),
                within_ms.map(|ms| DurationExpr::Fixed(Duration::from_millis(ms)))
            );
        }
        (
            StepKind::Receive(r),
            GenStep::Receive {
                conn,
                cmd,
                within_ms,
                text,
            },
        ) => {
            prop_assert_eq!(&r.conn, conn);
            prop_assert_eq!(&r.cmd, cmd);
            prop_assert_eq!(fixed(&r.within), Duration::from_millis(*within_ms));
            let want = Matcher::from_value(&json!({ "body": { "text": text } }));
            prop_assert_eq!(&r.check.as_ref().unwrap().value, &want);
        }
        (
            StepKind::Reply(r),
            GenStep::Reply {
                to,
                errcode,
                text,
                suggestion,
            },
        ) => {
            prop_assert_eq!(&r.conn, "a");
            prop_assert_eq!(r.to.as_deref(), Some(to.as_str()));
            prop_assert_eq!(r.spec.errcode, *errcode);
            prop_assert_eq!(&r.spec.body, &Some(json!({ "text": text })));
            prop_assert_eq!(r.spec.suggestion.as_deref(), *suggestion);
        }
        (StepKind::Push(p), GenStep::Push { conn, cmd, text }) => {
            prop_assert_eq!((&p.conn, &p.cmd), (conn, cmd));
            prop_assert_eq!(&p.body, &Some(json!({ "text": text })));
        }
        (StepKind::Close(c), GenStep::Close { conn, code }) => {
            prop_assert_eq!(&c.conn, conn);
            prop_assert_eq!(c.code, Some(*code));
        }
        (StepKind::Delay(d), GenStep::Delay { ms }) => {
            prop_assert_eq!(fixed(&Some(d.clone())), Duration::from_millis(*ms))
        }
        (StepKind::ExpectReconnect(r), GenStep::Reconnect { conn, within_ms }) => {
            prop_assert_eq!(&r.conn, conn);
            prop_assert_eq!(fixed(&r.within), Duration::from_millis(*within_ms));
        }
        (StepKind::ExpectSilence(s), GenStep::CmdSilence { conn, ms, cmd }) => {
            prop_assert_eq!(&s.conn, conn);
            prop_assert_eq!(fixed(&Some(s.duration.clone())), Duration::from_millis(*ms));
            prop_assert_eq!(s.cmd.as_ref(), Some(cmd));
        }
        (StepKind::Mark(m), GenStep::Mark { name }) => prop_assert_eq!(m, name),
        (
            StepKind::Timing(t),
            GenStep::Timing {
                cmd,
                since,
                min_ms,
                max_ms,
                min_count,
            },
        ) => {
            prop_assert_eq!(&t.cmd, cmd);
            prop_assert_eq!(&t.since, since);
            let gaps = t.gaps.as_ref().unwrap();
            prop_assert_eq!(fixed(&gaps.min), Duration::from_millis(*min_ms));
            prop_assert_eq!(fixed(&gaps.max), Duration::from_millis(*max_ms));
            prop_assert_eq!(t.min_count, *min_count);
            prop_assert!(t.conn.is_none() && !t.jitter && !t.none && t.max_per.is_none());
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
    prop_oneof![
        (1u32..=42).prop_map(|n| format!("D{n}")),
        (1u32..=24).prop_map(|n| format!("C{n}"))
    ]
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
        (role, mut steps) in prop_oneof![
            proptest::collection::vec(gen_step(), 1..8).prop_map(|s| (Role::Device, s)),
            proptest::collection::vec(cloud_step(), 1..8).prop_map(|s| (Role::Cloud, s)),
        ],
    ) {
        link_marks(&mut steps, &mut None);
        let requirements: Vec<String> = requirements.into_iter().collect();
        let text = render_scenario(&id, &requirements, role, &steps);
        let loaded = load(&text).map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
        prop_assert_eq!(&loaded.id.value, &id);
        prop_assert_eq!(&loaded.title, "generated: a title");
        prop_assert_eq!(loaded.role, role);
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
    let s = load(&with_steps(
        "  - send: { json: { a: \"10\", b: 10, c: '1.5', d: 1.5, e: null, f: \"true\" } }\n",
    ))
    .unwrap();
    let StepKind::Send(send) = &s.steps[0].kind else {
        panic!()
    };
    let hwconform::scenario::SendFrame::Json(v) = &send.frame else {
        panic!()
    };
    assert_eq!(
        v,
        &json!({"a": "10", "b": 10, "c": "1.5", "d": 1.5, "e": Value::Null, "f": "true"})
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = format!(
        "{HEAD}vars: {{ x: {}1{} }}\nsteps: [wait: 1s]\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let _ = load(&text);
}

/// A generated file with more steps than any scenario needs is refused with a pointed error,
/// before it takes the loader's memory; duplicate keys are still found in a huge mapping.
#[test]
fn huge_files_get_clear_errors() {
    let limit = hwconform::scenario::loader::MAX_STEPS;
    let steps: String = (0..=limit).map(|_| "  - wait: 1s\n").collect();
    let err = load(&with_steps(&steps)).expect_err("too many steps");
    assert_eq!(err.diagnostics().len(), 1, "one error, not one per step");
    let d = &err.diagnostics()[0];
    assert!(
        d.to_string().contains(&format!("more than {limit} steps")),
        "{d}"
    );
    assert_eq!(
        d.span.line as usize,
        6 + limit,
        "points at the first step past the limit"
    );
    let mut keys: String = (0..50_000).map(|i| format!("  k{i}: {i}\n")).collect();
    keys.push_str("  k17: again\n");
    let err =
        load(&format!("{HEAD}vars:\n{keys}steps:\n  - wait: 1s\n")).expect_err("duplicate key");
    assert!(
        err.diagnostics()[0]
            .to_string()
            .contains("duplicate key `k17` (first at line"),
        "{}",
        err.render()
    );
}

/// Prose is never expanded, so a `${` in a description is no error.
#[test]
fn expressions_are_checked_only_where_they_are_expanded() {
    let text = "id: t.p\ntitle: t\ndescription: \"write ${name} or ${ to expand\"\nrequirements: [C1]\nrole: device\nsteps:\n  - wait: 1s\n";
    load(text).unwrap_or_else(|e| panic!("{}", e.render()));
}
