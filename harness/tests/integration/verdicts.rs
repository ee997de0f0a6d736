//! What a scenario's verdict says, end to end: a preamble that does not reach the test
//! purpose proves nothing (`inconclusive`); a check resting on an assumption binds only the
//! harness's own targets (`warn` elsewhere); a broken always-on rule fails that rule without
//! ending the scenario or failing the ids cited beside it.

use crate::common::run_library;
use hwconform::engine::runner::RunConfig;
use hwconform::engine::{Outcome, ScenarioResult, Severity, Verdict};
use hwconform::scenario::load_str;
use hwconform::targets::sim::SimFault;
use hwconform::targets::DeviceChoice;
use rstest::rstest;
use std::collections::BTreeSet;
use std::path::Path;

const HEAD: &str = "id: v.x\ntitle: t\nrequirements: [D7]\nrole: cloud\n";

/// The device's login up to the reply to `register`.
const REGISTER: &str = "  - accept: { within: 30s }\n  - receive: { cmd: register, within: 15s }\n  - reply: { body: { active_code: ac-1 } }\n";

fn sim(faults: &[SimFault]) -> DeviceChoice {
    DeviceChoice::Sim {
        faults: faults.iter().copied().collect::<BTreeSet<_>>(),
        variants: BTreeSet::new(),
    }
}

fn run(text: &str, device: DeviceChoice) -> ScenarioResult {
    let scenario = load_str(Path::new("v.yaml"), text).unwrap_or_else(|e| panic!("{}", e.render()));
    let config = RunConfig {
        device: Some(device.build()),
        ..hwconform::targets::defaults()
    };
    run_library(&[scenario], config).pop().expect("one result")
}

fn device_sim_exec() -> DeviceChoice {
    let bin = env!("CARGO_BIN_EXE_hwconform");
    DeviceChoice::Exec {
        command: format!("{bin} device-sim --url {{url}} --sn {{sn}} --secret-no {{secret_no}}"),
    }
}

/// Where the failing expectation sits decides the verdict: before `purpose` nothing is
/// proven, after it the device failed.
#[rstest]
#[case::preamble(
    "  - receive: { cmd: get_secret_no, within: 2s }\n  - purpose: the device registers\n",
    "inconclusive"
)]
#[case::body(
    "  - purpose: the device registers\n  - receive: { cmd: get_secret_no, within: 2s }\n",
    "fail"
)]
#[case::no_purpose("  - receive: { cmd: get_secret_no, within: 2s }\n", "fail")]
fn a_failure_before_the_purpose_is_inconclusive(#[case] tail: &str, #[case] verdict: &str) {
    let text = format!("{HEAD}steps:\n{REGISTER}{tail}");
    let r = run(&text, sim(&[]));
    assert_eq!(r.verdict.name(), verdict, "{:?}", r.verdict);
    assert_eq!(r.obligations.get("D7").map(|o| o.name()), Some(verdict));
    if verdict == "inconclusive" {
        assert!(
            r.verdict
                .failure()
                .unwrap()
                .message
                .starts_with("the preamble did not reach the test purpose: "),
            "{:?}",
            r.verdict
        );
    }
}

/// The same failing body check: strict against the harness's own device, a warning against
/// one that is not (the reference device run as a process stands in for a vendor's).
#[test]
fn an_assumption_is_strict_against_our_device_and_a_warning_elsewhere() {
    let text = format!(
        "{HEAD}assumption: the device sends get_secret_no after register (our own reading)\nsteps:\n{REGISTER}  - purpose: t\n  - receive: {{ cmd: get_secret_no, within: 2s }}\n"
    );
    let ours = run(&text, sim(&[]));
    assert_eq!(ours.verdict.name(), "fail", "{:?}", ours.verdict);
    let theirs = run(&text, device_sim_exec());
    let Verdict::Warn(f) = &theirs.verdict else {
        panic!("{:?}", theirs.verdict)
    };
    assert!(
        f.message.contains("rests on an assumption"),
        "{}",
        f.message
    );
    assert_eq!(theirs.obligations.get("D7"), Some(&Outcome::Warn));
    assert!(!theirs.verdict.is_bad(), "a warning does not fail the run");
}

/// A device that reuses req_ids breaks D2 at its second ping; the scenario goes on to its
/// end, D2 fails and the cited D7 passes on its own evidence.
#[test]
fn a_broken_rule_fails_that_rule_and_the_scenario_goes_on() {
    let text = format!(
        "{HEAD}steps:\n{REGISTER}  - receive: {{ cmd: active, within: 10s }}\n  - reply: {{ body: {{ secret: s-1 }} }}\n  - receive: {{ cmd: subscribe_corp, within: 10s }}\n  - reply: {{}}\n  - delay: 70s\n"
    );
    let r = run(&text, sim(&[SimFault::ReuseReqId]));
    let Verdict::Fail(f) = &r.verdict else {
        panic!("{:?}", r.verdict)
    };
    assert_eq!(f.rule.as_deref(), Some("D2"));
    assert_eq!(r.obligations.get("D2"), Some(&Outcome::Fail));
    assert_eq!(
        r.obligations.get("D7"),
        Some(&Outcome::Pass),
        "{:?}",
        r.obligations
    );
    // Every step ran: the conversation reached subscribe_corp's reply.
    let last_step = r
        .transcript
        .entries
        .iter()
        .rev()
        .find_map(|e| match &e.event {
            hwconform::engine::TranscriptEvent::Step { index, .. } => Some(index.clone()),
            _ => None,
        });
    assert_eq!(last_step.as_deref(), Some("8"));
    assert!(
        r.findings
            .iter()
            .all(|f| f.severity == Severity::Fail && f.rule == "D2"),
        "{:?}",
        r.findings
    );
}

/// The whole login of the reference device, ending with the reply to `subscribe_corp`.
const LOGIN: &str = "  - accept: { within: 30s }\n  - receive: { cmd: register, within: 15s }\n  - reply: { body: { active_code: ac-1 } }\n  - receive: { cmd: active, within: 10s }\n  - reply: { body: { secret: s-1 } }\n  - receive: { cmd: subscribe_corp, within: 10s }\n";

fn cloud_scenario(steps: &str) -> String {
    format!("{HEAD}steps:\n{steps}")
}

/// A cloud-role scenario that waits for the contact sync's requests (so needs the feature).
fn contacts_scenario(steps: &str) -> String {
    format!("{HEAD}requires: [contacts]\nsteps:\n{steps}")
}

fn notes(r: &ScenarioResult) -> Vec<String> {
    r.transcript
        .entries
        .iter()
        .filter_map(|e| match &e.event {
            hwconform::engine::TranscriptEvent::Note { text } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// `logged_in` takes the device's first post-login request, whichever it is, and consumes
/// nothing; before login the device's requests prove nothing.
#[rstest]
#[case::after_login(
    "  - reply: {}\n  - logged_in: {}\n  - receive: { within: 45s }\n",
    "pass",
    ""
)]
#[case::before_login(
    "  - no_reply: {}\n  - logged_in: { within: 3s }\n",
    "fail",
    "sent no request that only a logged-in device sends (a heartbeat or a business call) within 3s"
)]
fn logged_in_accepts_any_post_login_request(
    #[case] tail: &str,
    #[case] verdict: &str,
    #[case] message: &str,
) {
    let r = run(&contacts_scenario(&format!("{LOGIN}{tail}")), sim(&[]));
    assert_eq!(r.verdict.name(), verdict, "{:?}", r.verdict);
    if let Some(f) = r.verdict.failure() {
        assert!(f.message.contains(message), "{}", f.message);
    } else {
        assert!(
            notes(&r)
                .iter()
                .any(|n| n.starts_with("[a] logged in: the device sent `")),
            "{:?}",
            notes(&r)
        );
    }
}

/// After 600045 the reference retries on its link; a scenario listing both conformant
/// continuations takes that branch and judges it, its `not_before` counted from `one_of`.
#[rstest]
#[case::retry_listed_first("same_link", "reconnect")]
#[case::retry_listed_second("reconnect", "same_link")]
fn one_of_takes_the_branch_the_device_chose(#[case] first: &str, #[case] second: &str) {
    let branch = |name: &str| {
        match name {
        "same_link" => "      same_link:\n        - receive: { cmd: subscribe_corp, not_before: 3s, within: 70s }\n        - reply: {}\n".to_string(),
        _ => "      reconnect:\n        - expect_reconnect: { not_before: 3s, within: 70s }\n        - receive: { cmd: register }\n".to_string(),
    }
    };
    let tail = format!("  - reply: {{ errcode: 600045, errmsg: too many, suggestion: retry, interval: 3 }}\n  - one_of:\n{}{}  - logged_in: {{}}\n", branch(first), branch(second));
    let r = run(&cloud_scenario(&format!("{LOGIN}{tail}")), sim(&[]));
    assert_eq!(r.verdict.name(), "pass", "{:?}", r.verdict);
    assert!(
        notes(&r).contains(&"one_of: the target took `same_link`".to_string()),
        "{:?}",
        notes(&r)
    );
    // The chosen branch's steps are numbered under the `one_of` step.
    assert!(r.transcript.entries.iter().any(|e| matches!(&e.event, hwconform::engine::TranscriptEvent::Step { index, .. } if index == "8.same_link.1")));
}

/// A retry earlier than the interval breaks the window of the branch it picked.
#[test]
fn one_of_judges_the_chosen_branch() {
    let tail = "  - reply: { errcode: 600045, errmsg: too many, suggestion: retry, interval: 3 }\n  - one_of:\n      same_link:\n        - receive: { cmd: subscribe_corp, not_before: 30s, within: 70s }\n      reconnect:\n        - expect_reconnect: { not_before: 30s, within: 70s }\n";
    let r = run(&cloud_scenario(&format!("{LOGIN}{tail}")), sim(&[]));
    let f = r
        .verdict
        .failure()
        .unwrap_or_else(|| panic!("{:?}", r.verdict));
    assert!(
        f.message.contains("before the earliest allowed 30s"),
        "{}",
        f.message
    );
}

/// A request the device sent before a push is no reaction to it.
#[rstest]
#[case::without_push("", "pass")]
#[case::after_push("  - push: { cmd: push_nothing_to_do }\n", "fail")]
fn a_reaction_comes_after_its_cause(#[case] push: &str, #[case] verdict: &str) {
    // The reference asks get_perm_version right after login; the scenario leaves it queued.
    let tail = format!("  - reply: {{}}\n  - delay: 2s\n{push}  - receive: {{ cmd: get_perm_version, within: 3s }}\n");
    let r = run(&contacts_scenario(&format!("{LOGIN}{tail}")), sim(&[]));
    assert_eq!(r.verdict.name(), verdict, "{:?}", r.verdict);
}

/// On the virtual clock nested repeats take no scenario time; the wall-clock budget still
/// ends them, as the harness's own limit (`error`), not the device's failure.
#[test]
fn a_scenario_that_outlives_its_wall_budget_is_an_error() {
    let text = format!("{HEAD}steps:\n{REGISTER}  - repeat: {{ times: 1000, steps: [ {{ repeat: {{ times: 1000, steps: [ {{ delay: 0s }} ] }} }} ] }}\n");
    let scenario =
        load_str(Path::new("v.yaml"), &text).unwrap_or_else(|e| panic!("{}", e.render()));
    let config = RunConfig {
        device: Some(sim(&[]).build()),
        wall_budget: std::time::Duration::from_millis(300),
        ..hwconform::targets::defaults()
    };
    let started = std::time::Instant::now();
    let r = run_library(&[scenario], config).pop().expect("one result");
    let Verdict::Error(f) = &r.verdict else {
        panic!("{:?}", r.verdict)
    };
    assert!(
        f.message.contains("wall-clock budget of 300ms"),
        "{}",
        f.message
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// A request queued before a push cannot pick a `one_of` branch as the reaction to it.
#[test]
fn a_request_from_before_a_push_picks_no_branch() {
    let tail = "  - reply: {}\n  - delay: 2s\n  - push: { cmd: push_nothing_to_do }\n  - one_of:\n      reacts:\n        - receive: { cmd: get_perm_version, within: 3s }\n      reconnects:\n        - expect_reconnect: { within: 3s }\n";
    let r = run(&contacts_scenario(&format!("{LOGIN}{tail}")), sim(&[]));
    let f = r
        .verdict
        .failure()
        .unwrap_or_else(|| panic!("{:?}", r.verdict));
    assert!(
        f.message
            .contains("none of the allowed continuations came within 3s"),
        "{}",
        f.message
    );
}

/// A real device is made to act through the lab's upper tester (TTCN-3's UT): the harness runs
/// it with the action as JSON, and a scenario that needs a device to act is "not tested"
/// without one, never "not applicable".
#[test]
fn a_real_device_acts_through_the_upper_tester_and_is_not_tested_without_one() {
    let text = format!("{HEAD}requires: [device_control]\nsteps:\n{LOGIN}  - reply: {{}}\n  - device_control: {{ checkin: {{ userid: alice, pass_type: 1, pass_method: 1 }} }}\n");
    let scenario =
        load_str(Path::new("ut.yaml"), &text).unwrap_or_else(|e| panic!("{}", e.render()));
    // Without an upper tester: skipped as not tested, and the matrix says so.
    let config = RunConfig {
        device: Some(device_sim_exec().build()),
        ..hwconform::targets::defaults()
    };
    let r = run_library(std::slice::from_ref(&scenario), config)
        .pop()
        .unwrap();
    let Verdict::Skip { reason } = &r.verdict else {
        panic!("{:?}", r.verdict)
    };
    assert!(
        reason.starts_with("not tested: needs an upper tester"),
        "{reason}"
    );
    let rows = hwconform::report::matrix::build(
        hwconform::profile::wecom::obligations::statements(),
        std::slice::from_ref(&r),
        &[],
    );
    let d7 = rows.iter().find(|row| row.id == "D7").unwrap();
    assert_eq!(
        d7.status,
        hwconform::report::matrix::Status::NotTested,
        "{d7:?}"
    );
    // With one: it runs with the action as JSON on stdin.
    let dir = std::env::temp_dir().join(format!("hwconform-ut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let got = dir.join("action.json");
    let config = RunConfig {
        device: Some(device_sim_exec().build()),
        upper_tester: Some(format!("cat > '{}'", got.display())),
        ..hwconform::targets::defaults()
    };
    let r = run_library(&[scenario], config).pop().unwrap();
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.verdict);
    let action: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&got).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        (
            action["action"].as_str(),
            action["userid"].as_str(),
            action["pass_type"].as_u64()
        ),
        (Some("check_in"), Some("alice"), Some(1)),
        "{action}"
    );
    assert!(
        action["sn"]
            .as_str()
            .is_some_and(|sn| sn.starts_with("HWC-TEST-")),
        "{action}"
    );
}

/// A postamble (the trailing steps that each say `judges: []`) tidies up after the test
/// purpose: its failure leaves the verdict the judged steps gave, and is noted; a step that
/// judges nothing and fails before a judged one still leaves the scenario inconclusive, and a
/// judged failure before a postamble still fails.
#[rstest]
#[case::postamble_fails_after_a_pass(
    "  - purpose: p\n  - receive: { cmd: active, within: 10s }\n  - receive: { cmd: get_secret_no, within: 2s }\n    judges: []\n",
    "pass",
    true
)]
#[case::judging_nothing_before_a_judged_step(
    "  - receive: { cmd: get_secret_no, within: 2s }\n    judges: []\n  - purpose: p\n  - receive: { cmd: active, within: 10s }\n",
    "inconclusive",
    false
)]
#[case::judged_failure_then_postamble(
    "  - purpose: p\n  - receive: { cmd: get_secret_no, within: 2s }\n  - wait: 1s\n    judges: []\n",
    "fail",
    false
)]
#[case::postamble_passes(
    "  - purpose: p\n  - receive: { cmd: active, within: 10s }\n  - wait: 1s\n    judges: []\n",
    "pass",
    false
)]
fn a_failed_postamble_leaves_the_verdict(
    #[case] tail: &str,
    #[case] verdict: &str,
    #[case] noted: bool,
) {
    let r = run(&format!("{HEAD}steps:\n{REGISTER}{tail}"), sim(&[]));
    assert_eq!(r.verdict.name(), verdict, "{:?}", r.verdict);
    assert_eq!(r.obligations.get("D7").map(|o| o.name()), Some(verdict));
    let postamble: Vec<_> = notes(&r)
        .into_iter()
        .filter(|n| n.starts_with("postamble: step "))
        .collect();
    assert_eq!(!postamble.is_empty(), noted, "{postamble:?}");
    if noted {
        assert!(
            postamble[0].contains("judges nothing, so the verdict stands")
                && postamble[0].contains("get_secret_no"),
            "{postamble:?}"
        );
    }
}
