//! Unit tests of the loader's internals (the diagnostics themselves are checked in tests/loader.rs).

use super::*;
use crate::scenario::matcher::{Matcher, Op};
use crate::scenario::steps::{control::*, send::*};
use std::time::Duration;

fn load(text: &str) -> Result<Scenario, LoadError> {
    load_str(Path::new("t.yaml"), text)
}

const HEAD: &str = "id: t.x\ntitle: t\nrequirements: [C9]\nrole: device\n";

fn steps(body: &str) -> Vec<Step> {
    load(&format!("{HEAD}steps:\n{body}")).unwrap().steps
}

fn first_error(text: &str) -> Diagnostic {
    load(text).unwrap_err().diagnostics()[0].clone()
}

#[test]
fn loads_the_spec_example() {
    let text = format!(
        "{HEAD}description: |\n  x\ntags: [a]\nrequires: [control]\ndevices: [dev, other]\nvars: {{ fw: \"1.2.3\" }}\n\
         deadline: 10m\nstep_timeout: 10s\nsteps:\n\
         \x20 - connect: {{ conn: a, from: 127.0.0.2 }}\n\
         \x20 - request: {{ conn: a, cmd: register }}\n\
         \x20   expect: {{ errcode: 0, body: {{ active_code: {{ $type: string }} }} }}\n\
         \x20   capture: {{ code: body.active_code }}\n\
         \x20 - control: {{ bind: other }}\n"
    );
    let s = load(&text).unwrap();
    assert_eq!(s.id.value, "t.x");
    assert_eq!(s.devices, ["dev", "other"]);
    assert_eq!(s.deadline, Some(Duration::from_secs(600)));
    assert_eq!(s.vars["fw"], Value::String("1.2.3".into()));
    let StepKind::Request(r) = &s.steps[1].kind else {
        panic!()
    };
    assert_eq!(r.capture["code"], "body.active_code");
    assert_eq!(s.steps[1].span, Span { line: 15, col: 5 });
    assert!(
        matches!(&s.steps[2].kind, StepKind::Control(Control::Bind { device: Some(d) }) if d == "other")
    );
    assert_eq!(s.source.text, text);
}

#[test]
fn shorthands_and_defaults() {
    let s = steps("  - connect: b\n  - connect:\n  - disconnect: b\n  - expect_closed: { within: 5s }\n  - wait: 90\n");
    assert!(matches!(&s[0].kind, StepKind::Connect(c) if c.conn == "b"));
    assert!(matches!(&s[1].kind, StepKind::Connect(c) if c.conn == "a"));
    assert!(matches!(&s[2].kind, StepKind::Disconnect(c) if c.conn == "b"));
    assert!(
        matches!(&s[3].kind, StepKind::ExpectClosed(c) if c.conn == "a" && c.within == Some(DurationExpr::Fixed(Duration::from_secs(5))))
    );
    assert!(
        matches!(&s[4].kind, StepKind::Wait(sc) if matches!(sc.duration, DurationExpr::Fixed(d) if d.as_secs() == 90) && !sc.keepalive)
    );
}

#[test]
fn send_frames() {
    let s = steps(
        "  - send: { binary_hex: \"0a ff\" }\n  - send: { oversized: 70000 }\n  - send: { json: [1] }\n  - send: { text: \"{\" }\n",
    );
    assert!(
        matches!(&s[0].kind, StepKind::Send(Send { frame: SendFrame::Binary(b), .. }) if b == &[10, 255])
    );
    assert!(matches!(
        &s[1].kind,
        StepKind::Send(Send {
            frame: SendFrame::Oversized(70000),
            ..
        })
    ));
    assert!(matches!(
        &s[2].kind,
        StepKind::Send(Send {
            frame: SendFrame::Json(_),
            ..
        })
    ));
    assert!(
        matches!(&s[3].kind, StepKind::Send(Send { frame: SendFrame::Text(t), .. }) if t == "{")
    );
}

#[test]
fn matchers_compile_with_operators() {
    let s = steps("  - expect: { frame: { cmd: x, n: { $gte: 1, $lte: 3 }, l: [1, \"2\"] } }\n");
    let StepKind::Expect(e) = &s[0].kind else {
        panic!()
    };
    let Matcher::Object(fields) = &e.matcher.value else {
        panic!()
    };
    assert_eq!(
        fields[0],
        (
            "cmd".to_string(),
            Matcher::Literal(Value::String("x".into()))
        )
    );
    assert_eq!(
        fields[1].1,
        Matcher::Ops(vec![Op::Gte(1.into()), Op::Lte(3.into())])
    );
    assert_eq!(
        fields[2].1,
        Matcher::Array(vec![
            Matcher::Literal(1.into()),
            Matcher::Literal("2".into())
        ])
    );
}

#[test]
fn expression_durations_are_kept_and_checked() {
    let s = steps("  - expect_silence: { for: \"${heartbeat_timeout}+10s\" }\n");
    assert!(
        matches!(&s[0].kind, StepKind::ExpectSilence(e) if e.duration == DurationExpr::Expr("${heartbeat_timeout}+10s".into()))
    );
    let d = first_error(&format!("{HEAD}steps:\n  - wait: \"${{x}}+5 parsecs\"\n"));
    assert!(d.message.contains("invalid duration"), "{d}");
    let d = first_error(&format!(
        "{HEAD}deadline: \"${{x}}\"\nsteps:\n  - wait: 1s\n"
    ));
    assert!(d.message.contains("fixed duration"), "{d}");
}

#[test]
fn every_error_of_a_file_is_reported() {
    let e = load(&format!(
        "{HEAD}steps:\n  - wait: []\n  - connect: {{ from: 10.0.0.1 }}\n  - bogus: 1\n"
    ))
    .unwrap_err();
    let lines: Vec<u32> = e.diagnostics().iter().map(|d| d.span.line).collect();
    assert_eq!(lines, [6, 7, 8], "{e:?}");
}

#[test]
fn arguments_beside_the_kind_get_a_hint() {
    let d = first_error(&format!(
        "{HEAD}steps:\n  - expect_closed: a\n    within: 5s\n"
    ));
    assert_eq!(
        d.help.as_deref(),
        Some("`within` is an argument of `expect_closed`; write `expect_closed: { within: ... }`")
    );
}

#[test]
fn regex_errors_are_one_line() {
    let d = first_error(&format!(
        "{HEAD}steps:\n  - expect: {{ frame: {{ x: {{ $regex: \"(a\" }} }} }}\n"
    ));
    assert!(
        !d.message.contains('\n') && d.message.starts_with("invalid $regex"),
        "{d}"
    );
}

#[test]
fn step_names_and_attachments() {
    assert_eq!(step_what("accept"), "an `accept` step");
    assert_eq!(step_what("reply"), "a `reply` step");
    assert!(belongs_beside("request", "expect") && belongs_beside("request", "no_reply"));
    assert!(belongs_beside("receive", "expect") && !belongs_beside("connect", "send"));
    for kind in STEP_KINDS {
        let roles = crate::scenario::steps::roles_of(kind).expect("every listed kind has roles");
        assert!(!roles.is_empty(), "{kind}");
    }
    let only = |role| {
        STEP_KINDS
            .iter()
            .filter(|k| crate::scenario::steps::roles_of(k) == Some(&[role][..]))
            .count()
    };
    assert_eq!((only(Role::Device), only(Role::Cloud)), (5, 13));
    // The observer role shares four kinds and owns none.
    let observer: Vec<&str> = STEP_KINDS
        .iter()
        .copied()
        .filter(|k| {
            crate::scenario::steps::roles_of(k).is_some_and(|r| r.contains(&Role::Observer))
        })
        .collect();
    assert_eq!(observer, ["expect", "wait", "purpose", "fault"]);
}

#[test]
fn role_kinds_leave_out_the_other_role() {
    let profile = crate::profile::default_profile();
    let mut loader = Loader::new(Path::new("t.yaml"), &*profile);
    assert_eq!(loader.role_kinds().len(), STEP_KINDS.len());
    loader.role = Some(Role::Cloud);
    assert!(loader.role_kinds().contains(&"receive") && !loader.role_kinds().contains(&"request"));
}

#[test]
fn cloud_scenarios_load() {
    let s = load(
        "id: t.c\ntitle: t\nrequirements: [D12]\nrole: cloud\nsteps:\n  - accept:\n  - receive: { cmd: register }\n  - reply:\n",
    )
    .unwrap();
    assert!(
        matches!(&s.steps[2].kind, StepKind::Reply(r) if r.spec.errcode == 0 && r.to.is_none())
    );
}

#[test]
fn templates() {
    assert!(check_template("${a}+10s").is_ok());
    assert!(check_template("${a").is_err());
    assert!(check_template("${a}x").is_err());
}

#[test]
fn fault_steps_load_and_render_back() {
    use crate::scenario::steps::fault::*;
    let body = "  - fault: { conn: b, drop: inbound, match: { reply_to: register } }\n\
                \x20 - fault: { delay: outbound, by: 1.5s, match: { cmd: ping }, count: 3 }\n\
                \x20 - fault: { duplicate: inbound }\n\
                \x20 - fault: { half_open: true }\n\
                \x20 - fault: { conn: b, reset: true }\n\
                \x20 - wait: { for: \"${subscribe_window}+1s\", keepalive: true }\n";
    let s = steps(body);
    let faults: Vec<&Fault> = s
        .iter()
        .filter_map(|st| {
            if let StepKind::Fault(f) = &st.kind {
                Some(f)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(
        faults[0],
        &Fault {
            conn: "b".into(),
            action: FaultAction::Frames {
                direction: FaultDirection::Inbound,
                what: FrameFaultKind::Drop,
                only: Some(FaultMatch::ReplyTo("register".into())),
                count: 1
            }
        }
    );
    assert_eq!(
        faults[1].action,
        FaultAction::Frames {
            direction: FaultDirection::Outbound,
            what: FrameFaultKind::Delay(DurationExpr::Fixed(Duration::from_millis(1500))),
            only: Some(FaultMatch::Cmd("ping".into())),
            count: 3
        }
    );
    assert!(matches!(
        &faults[2].action,
        FaultAction::Frames {
            what: FrameFaultKind::Duplicate,
            only: None,
            ..
        }
    ));
    assert_eq!(
        (faults[3].conn.as_str(), &faults[3].action),
        ("a", &FaultAction::HalfOpen)
    );
    assert_eq!(faults[4].action, FaultAction::Reset);
    assert!(matches!(&s[5].kind, StepKind::Wait(w) if w.keepalive));
    // Rendered and loaded again, the steps are the same.
    let again = steps(&crate::scenario::steps::render_steps(&s, 2).join("\n"));
    for (a, b) in s.iter().zip(&again) {
        assert_eq!(a.to_yaml(0), b.to_yaml(0));
    }
    if let (StepKind::Fault(a), StepKind::Fault(b)) = (&s[1].kind, &again[1].kind) {
        assert_eq!(a, b);
    }
}
