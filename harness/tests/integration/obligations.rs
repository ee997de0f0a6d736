//! Per obligation, not per scenario: every injected defect fails exactly the obligation it
//! breaks in the requirement matrix, and every conformant target fails none.
//!
//! `device_suite.rs` and `cloud_suite.rs` prove that the scenarios named for a knob fail; that
//! says nothing about the matrix a lab reads. A fault of one rule that also fails D1 or D13
//! (because a step cites them beside the broken one, or because a monitor blames the wrong
//! rule) tells the vendor to fix things that are not broken. These tests build the matrix
//! from a whole-library run and compare the failing rows with what the knob breaks.
//!
//! Failures are collected, not asserted one by one, so a single run shows every knob that
//! fails too much or too little, with the scenarios responsible. Run with `--nocapture` to
//! see the summary lines on success too.

use crate::common::{library, run_library};
use hwconform::engine::runner::RunConfig;
use hwconform::engine::{Outcome, ScenarioResult, Verdict};
use hwconform::profile::wecom::obligations::{is_known, statements};
use hwconform::profile::CloudTimings;
use hwconform::report::matrix::{self, Row, Status};
use hwconform::scenario::Scenario;
use hwconform::targets::mock::corp::{CorpSeed, User};
use hwconform::targets::mock::{MockRule, MockVariant};
use hwconform::targets::mock_cloud::MockCloudTarget;
use hwconform::targets::sim::{SimFault, SimVariant};
use hwconform::targets::DeviceChoice;
use std::collections::BTreeSet;
use std::sync::Arc;

/// How much of a failure message a mismatch line shows: enough to recognise it.
const MESSAGE_CHARS: usize = 160;

/// How many scenarios a line lists for an obligation that should have failed and did not.
const GIVEN_SHOWN: usize = 8;

/// What a broken knob must do to the matrix.
#[derive(Debug)]
enum Wanted {
    /// Fail exactly these obligations (a fault or rule that names its one obligation).
    Exactly(BTreeSet<String>),
    /// Fail at least one of these and nothing else: the knob names two obligations, or none
    /// and its catching scenarios cite several, so which one the matrix blames is open.
    SomeOf(BTreeSet<String>),
}

impl Wanted {
    /// The obligations the knob may fail.
    fn allowed(&self) -> &BTreeSet<String> {
        match self {
            Wanted::Exactly(ids) | Wanted::SomeOf(ids) => ids,
        }
    }

    fn met_by(&self, failed: &BTreeSet<String>) -> bool {
        match self {
            Wanted::Exactly(ids) => failed == ids,
            Wanted::SomeOf(ids) => !failed.is_empty() && failed.is_subset(ids),
        }
    }

    /// The obligations that should have failed and did not: for `SomeOf`, all of them when
    /// none failed.
    fn missing(&self, failed: &BTreeSet<String>) -> Vec<String> {
        match self {
            Wanted::Exactly(ids) => ids.difference(failed).cloned().collect(),
            Wanted::SomeOf(ids) if failed.is_empty() => ids.iter().cloned().collect(),
            Wanted::SomeOf(_) => Vec::new(),
        }
    }

    /// As a label shows it: `D2`, or `one or more of C4, C5`.
    fn describe(&self) -> String {
        match self {
            Wanted::Exactly(ids) => natural(ids).join(", "),
            Wanted::SomeOf(ids) => format!("one or more of {}", natural(ids).join(", ")),
        }
    }
}

/// `ids` in the matrix's order (D2 before D13).
fn natural<'a>(ids: impl IntoIterator<Item = &'a String>) -> Vec<&'a str> {
    let mut ids: Vec<&str> = ids.into_iter().map(String::as_str).collect();
    ids.sort_by_key(|id| {
        let (prefix, number) =
            id.split_at(id.find(|c: char| c.is_ascii_digit()).unwrap_or(id.len()));
        (
            prefix.to_string(),
            number.parse::<u64>().unwrap_or(u64::MAX),
            id.to_string(),
        )
    });
    ids
}

/// The requirement matrix of a run, as the reports build it (no manual records).
fn matrix_of(results: &[ScenarioResult]) -> Vec<Row> {
    matrix::build(statements(), results, &[])
}

/// The ids of the rows whose status is one of `statuses`, in the matrix's order.
fn rows_with(rows: &[Row], statuses: &[Status]) -> Vec<String> {
    rows.iter()
        .filter(|r| statuses.contains(&r.status))
        .map(|r| r.id.clone())
        .collect()
}

/// The message a verdict carries, whitespace folded and cut to [`MESSAGE_CHARS`].
fn message(verdict: &Verdict) -> String {
    let text = match verdict {
        Verdict::Fail(f) | Verdict::Inconclusive(f) | Verdict::Warn(f) | Verdict::Error(f) => {
            f.message.as_str()
        }
        Verdict::Skip { reason } => reason,
        Verdict::Manual { instructions } => instructions,
        _ => "",
    };
    shorten(text)
}

fn shorten(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &flat[..end]),
        None => flat,
    }
}

/// An outcome that judges an obligation broken or unjudgeable (not pass, not a skip, not
/// left to the lab).
fn judged_badly(o: Outcome) -> bool {
    !matches!(o, Outcome::Pass | Outcome::Skip | Outcome::Manual)
}

/// One line per scenario behind a mismatch: those giving one of `bad` to an obligation
/// outside `allowed`, and those judging an obligation of `allowed` other than pass. Each
/// shows the obligations it judged badly (`!` marks those outside `allowed`: the ones to
/// look at), its verdict's message, and the always-on finding behind each outside obligation
/// it failed (a monitor, not the steps, may have blamed it).
fn scenario_lines(
    results: &[ScenarioResult],
    allowed: &BTreeSet<String>,
    bad: &[Outcome],
) -> Vec<String> {
    let mut lines = Vec::new();
    for r in results {
        let outside: Vec<&String> = r
            .obligations
            .iter()
            .filter(|(id, o)| !allowed.contains(*id) && bad.contains(o))
            .map(|(id, _)| id)
            .collect();
        let inside_bad = r
            .obligations
            .iter()
            .any(|(id, o)| allowed.contains(id) && judged_badly(*o));
        if outside.is_empty() && !inside_bad {
            continue;
        }
        let judged: Vec<String> = natural(r.obligations.keys())
            .into_iter()
            .filter(|id| judged_badly(r.obligations[*id]))
            .map(|id| {
                let mark = if outside.iter().any(|o| o.as_str() == id) {
                    "!"
                } else {
                    ""
                };
                format!("{mark}{id} {}", r.obligations[id].name())
            })
            .collect();
        lines.push(format!(
            "    {} {} [{}]: {}",
            r.id,
            r.verdict.name(),
            judged.join(", "),
            message(&r.verdict)
        ));
        for id in natural(outside) {
            if let Some(f) = r.findings.iter().find(|f| f.rule == id) {
                lines.push(format!("        finding {id}: {}", shorten(&f.message)));
            }
        }
    }
    lines
}

/// What the matrix row of each of `ids` got from which scenario, for an obligation that
/// should have failed and did not.
fn given(rows: &[Row], ids: &[String]) -> String {
    let mut parts = Vec::new();
    for id in ids {
        let Some(row) = rows.iter().find(|r| r.id == *id) else {
            parts.push(format!("{id} has no row"));
            continue;
        };
        let mut shown: Vec<String> = row
            .scenarios
            .iter()
            .take(GIVEN_SHOWN)
            .map(|g| format!("{}={}", g.scenario, g.outcome))
            .collect();
        if row.scenarios.len() > GIVEN_SHOWN {
            shown.push(format!("… {} more", row.scenarios.len() - GIVEN_SHOWN));
        }
        parts.push(format!(
            "{id} is {} from [{}]",
            row.status.key(),
            shown.join(", ")
        ));
    }
    parts.join("; ")
}

/// Judges one knob's run: `None` when the matrix fails what `wanted` says, else the
/// mismatch as a header line (`label: fails [...]`) and the scenarios behind it.
fn mismatch(label: &str, results: &[ScenarioResult], wanted: &Wanted) -> Option<String> {
    let rows = matrix_of(results);
    let failed_rows = rows_with(&rows, &[Status::Fail]);
    let failed: BTreeSet<String> = failed_rows.iter().cloned().collect();
    if wanted.met_by(&failed) {
        return None;
    }
    let mut header = format!("{label}: fails [{}]", failed_rows.join(", "));
    let missing = wanted.missing(&failed);
    if !missing.is_empty() {
        header.push_str(&format!("; wanted {}", given(&rows, &missing)));
    }
    let lines = scenario_lines(results, wanted.allowed(), &[Outcome::Fail]);
    header.push_str(if lines.is_empty() {
        "; per scenario: none"
    } else {
        "; per scenario:"
    });
    Some(
        std::iter::once(header)
            .chain(lines)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Panics with every mismatch and the count line, or prints the count line.
fn report(mismatches: &[String], knobs: usize, what: &str) {
    let count = format!("{} of {knobs} {what}", knobs - mismatches.len());
    if mismatches.is_empty() {
        println!("{count}");
    } else {
        panic!(
            "{} knob(s) do not fail exactly their own obligation(s) \
             (`!` marks a fail of an obligation the knob does not break):\n\n{}\n\n{count}",
            mismatches.len(),
            mismatches.join("\n\n")
        );
    }
}

/// The reference device with `fault` and nothing else, as `device_suite.rs` runs it.
fn with_fault(fault: SimFault) -> RunConfig {
    let device = DeviceChoice::Sim {
        faults: BTreeSet::from([fault]),
        variants: BTreeSet::new(),
    };
    RunConfig {
        device: Some(device.build()),
        ..hwconform::targets::defaults()
    }
}

/// Every fault of the reference device breaks one obligation ([`SimFault::obligation`]): run
/// against the whole device library, the matrix fails that row and no other.
#[test]
fn every_device_fault_fails_exactly_its_obligation() {
    let scenarios = library("device");
    let mut mismatches = Vec::new();
    for &fault in SimFault::ALL {
        let wanted = Wanted::Exactly(BTreeSet::from([fault.obligation().to_string()]));
        let results = run_library(&scenarios, with_fault(fault));
        if let Some(m) = mismatch(
            &format!("{} ({})", fault.name(), wanted.describe()),
            &results,
            &wanted,
        ) {
            mismatches.push(m);
        }
    }
    report(
        &mismatches,
        SimFault::ALL.len(),
        "faults fail exactly their obligation",
    );
}

/// The scenarios `cloud_suite.rs`'s `catchers` names for the rules whose description names
/// no obligation (a silent cloud breaks no single numbered behaviour); their cited
/// requirements are what the rule may fail.
fn silent_rule_catchers(rule: MockRule) -> Option<&'static [&'static str]> {
    match rule.name() {
        "silent-on-malformed" => Some(&["cloud.malformed.garbage-text-answered"]),
        "not-implemented-silent" => Some(&["cloud.commands.unknown-command-answered"]),
        _ => None,
    }
}

/// What switching `rule` off may fail: the C ids its description names (exactly the one, or
/// one or more of two); for a rule naming none, what its catching scenarios cite (exactly,
/// when they agree on one id, else one or more of them).
fn wanted_for(rule: MockRule, scenarios: &[Scenario]) -> Wanted {
    let named: BTreeSet<String> = rule
        .description()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.starts_with('C') && is_known(w))
        .map(str::to_string)
        .collect();
    let ids = if named.is_empty() {
        let catchers = silent_rule_catchers(rule).unwrap_or_else(|| {
            panic!("mock rule `{rule}` names no obligation: list its catching scenarios in silent_rule_catchers")
        });
        let cited: BTreeSet<String> = catchers
            .iter()
            .flat_map(|id| {
                let s = scenarios.iter().find(|s| s.id.value == *id);
                let s = s.unwrap_or_else(|| {
                    panic!("{rule}: catching scenario {id} is not in the cloud library")
                });
                s.requirements.iter().map(|r| r.value.clone())
            })
            .collect();
        assert!(
            !cited.is_empty(),
            "{rule}: its catching scenarios cite no obligation"
        );
        cited
    } else {
        named
    };
    if ids.len() == 1 {
        Wanted::Exactly(ids)
    } else {
        Wanted::SomeOf(ids)
    }
}

/// The in-process mock cloud with `rules` switched off.
fn mock_without(rules: BTreeSet<MockRule>) -> RunConfig {
    mock(rules, true)
}

/// The in-process mock with `rules` switched off, with or without its control plane (without,
/// it is a cloud as a lab meets one: scenarios that bind or inject faults are skipped).
fn mock(rules: BTreeSet<MockRule>, control: bool) -> RunConfig {
    let cloud = MockCloudTarget {
        disabled_rules: rules,
        control,
        ..MockCloudTarget::default()
    };
    RunConfig {
        cloud: Some(Arc::new(cloud)),
        ..hwconform::targets::defaults()
    }
}

/// Members past the 200 a page may hold, so a limit above 200 honoured shows.
const LARGE_CORP_MEMBERS: usize = 250;

/// The control-less mock with `rule` off, serving a corp of 250 members: what shows C15's
/// fault without a control plane to add members (a lab's corp is as large as it is).
fn large_corp_without_control(rule: MockRule) -> RunConfig {
    let mut corp = CorpSeed::default_corp();
    let template = corp.users[0].clone();
    corp.users.extend((0..LARGE_CORP_MEMBERS).map(|n| User {
        userid: format!("member{n:03}"),
        name: format!("Member {n}"),
        ..template.clone()
    }));
    let cloud = MockCloudTarget {
        disabled_rules: BTreeSet::from([rule]),
        control: false,
        corp: Some(Arc::new(corp)),
        ..MockCloudTarget::default()
    };
    RunConfig {
        cloud: Some(Arc::new(cloud)),
        ..hwconform::targets::defaults()
    }
}

/// The C rules a run judged and found held: the rows a lab signs as passed.
fn passed_c_rules(results: &[ScenarioResult]) -> BTreeSet<String> {
    rows_with(&matrix_of(results), &[Status::Pass])
        .into_iter()
        .filter(|id| id.starts_with('C'))
        .collect()
}

/// How many of the 24 C rules a cloud without a control plane must have judged: every rule the
/// wire can show (issue 22 asks for at least 20).
const CONTROL_LESS_JUDGED_AT_LEAST: usize = 20;

/// Against the conformant mock without its control plane, the library judges (and passes)
/// at least 20 of the 24 C rules; and every rule switched off whose obligation is among them
/// fails exactly that obligation there too: each control-free scenario is shown able to fail
/// and able to pass, as a lab without control would run it.
#[test]
fn a_cloud_without_control_has_most_c_rules_judged_each_able_to_fail() {
    let scenarios = library("cloud");
    let conformant = run_library(&scenarios, mock(BTreeSet::new(), false));
    let judged = passed_c_rules(&conformant);
    println!(
        "{} of 24 C rules judged without control: {}",
        judged.len(),
        natural(&judged).join(", ")
    );
    assert!(
        judged.len() >= CONTROL_LESS_JUDGED_AT_LEAST,
        "only {} C rules judged without control: {}",
        judged.len(),
        natural(&judged).join(", ")
    );
    let mut mismatches = Vec::new();
    let mut knobs = 0;
    for &rule in MockRule::ALL {
        let wanted = wanted_for(rule, &scenarios);
        if !wanted.allowed().iter().any(|id| judged.contains(id)) {
            continue;
        }
        knobs += 1;
        let wanted = match wanted {
            Wanted::Exactly(ids) => Wanted::Exactly(ids),
            Wanted::SomeOf(ids) => Wanted::SomeOf(ids.intersection(&judged).cloned().collect()),
        };
        // A fault a small corp hides: the default corp has 3 members.
        let config = if rule.name() == "page-limit-honoured" {
            large_corp_without_control(rule)
        } else {
            mock(BTreeSet::from([rule]), false)
        };
        let results = run_library(&scenarios, config);
        if let Some(m) = mismatch(
            &format!("{} without control ({})", rule.name(), wanted.describe()),
            &results,
            &wanted,
        ) {
            mismatches.push(m);
        }
    }
    report(
        &mismatches,
        knobs,
        "mock rules fail exactly their obligation(s) without control",
    );
}

/// Every rule the mock can be told to break fails, against the whole cloud library, the
/// behaviour(s) its description names and no other.
#[test]
fn every_mock_rule_fails_exactly_its_obligation() {
    let scenarios = library("cloud");
    let mut mismatches = Vec::new();
    for &rule in MockRule::ALL {
        let wanted = wanted_for(rule, &scenarios);
        let results = run_library(&scenarios, mock_without(BTreeSet::from([rule])));
        if let Some(m) = mismatch(
            &format!("{} ({})", rule.name(), wanted.describe()),
            &results,
            &wanted,
        ) {
            mismatches.push(m);
        }
    }
    report(
        &mismatches,
        MockRule::ALL.len(),
        "mock rules fail exactly their obligation(s)",
    );
}

/// A cloud that states nothing is held to the FAQ's ranges: whatever heartbeat expiry it has
/// inside 1–2 min, the heartbeat scenarios pass (the windows are composed from the range,
/// not read off one value); one that keeps a silent link past 2 min (150 s) fails C8 and
/// nothing else.
#[rstest::rstest]
#[case::at_60s(60, &[])]
#[case::at_90s(90, &[])]
#[case::at_120s(120, &[])]
#[case::at_150s(150, &["C8"])]
fn a_cloud_that_states_nothing_is_judged_against_the_faq_range(
    #[case] expiry_s: u64,
    #[case] failed: &[&str],
) {
    let scenarios: Vec<Scenario> = library("cloud")
        .into_iter()
        .filter(|s| s.tags.iter().any(|t| t == "heartbeat"))
        .collect();
    assert!(scenarios.len() >= 3, "the heartbeat scenarios");
    let expiry = std::time::Duration::from_secs(expiry_s);
    let cloud = MockCloudTarget {
        timings: CloudTimings::MOCK.with_expiry(expiry),
        stated: Some(CloudTimings::FAQ),
        control: false,
        ..MockCloudTarget::default()
    };
    let results = run_library(
        &scenarios,
        RunConfig {
            cloud: Some(Arc::new(cloud)),
            ..hwconform::targets::defaults()
        },
    );
    let rows = matrix_of(&results);
    let wanted: Vec<String> = failed.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        rows_with(&rows, &[Status::Fail]),
        wanted,
        "expiry {expiry_s}s:\n{}",
        scenario_lines(
            &results,
            &BTreeSet::new(),
            &[Outcome::Fail, Outcome::Error, Outcome::Inconclusive]
        )
        .join("\n")
    );
    assert!(
        rows_with(&rows, &[Status::Error, Status::Inconclusive]).is_empty(),
        "expiry {expiry_s}s: {:?}",
        rows_with(&rows, &[Status::Error, Status::Inconclusive])
    );
    if failed.is_empty() {
        assert!(results.iter().all(|r| matches!(r.verdict, Verdict::Pass)));
    } else {
        let released = results
            .iter()
            .find(|r| r.id == "cloud.heartbeat.silent-link-released")
            .expect("the silent-link scenario ran");
        let Verdict::Fail(f) = &released.verdict else {
            panic!("{:?}", released.verdict)
        };
        // The miss says how its window was composed.
        assert!(
            f.message
                .contains("heartbeat_expiry_latest = 150s: an expiry anywhere in 60s–120s"),
            "{}",
            f.message
        );
    }
}

/// What a cloud states decides what applies to it: no frame limit stated (the protocol
/// documents none), and the oversized-frame scenario is not applicable; `visitor_list =
/// false`, and the visitor-pull scenario is not; a limit of 64 KiB, and the 1 MiB frame must
/// end the link. Skips, never failures.
#[rstest::rstest]
#[case::no_frame_limit(
    None,
    None,
    "cloud.malformed.oversized-frame-closes-only-that-link",
    "skip",
    "states no frame limit"
)]
#[case::frame_limit(Some(64 * 1024), None, "cloud.malformed.oversized-frame-closes-only-that-link", "pass", "")]
#[case::limit_above_the_frame(Some(2 << 20), None, "cloud.malformed.oversized-frame-closes-only-that-link", "skip", "is not below the 1048576-byte frame")]
#[case::no_visitor_list(
    None,
    Some(false),
    "cloud.visitors.pulled-ids-keep-agentid-wire",
    "skip",
    "visitor_list = false"
)]
#[case::visitor_list_unstated(
    None,
    None,
    "cloud.visitors.pulled-ids-keep-agentid-wire",
    "pass",
    ""
)]
fn what_a_cloud_states_decides_what_applies(
    #[case] max_frame_bytes: Option<usize>,
    #[case] visitor_list: Option<bool>,
    #[case] id: &str,
    #[case] verdict: &str,
    #[case] reason: &str,
) {
    let scenarios: Vec<Scenario> = library("cloud")
        .into_iter()
        .filter(|s| s.id.value == id)
        .collect();
    let cloud = MockCloudTarget {
        stated: Some(CloudTimings {
            max_frame_bytes,
            visitor_list,
            ..CloudTimings::MOCK
        }),
        control: false,
        ..MockCloudTarget::default()
    };
    let results = run_library(
        &scenarios,
        RunConfig {
            cloud: Some(Arc::new(cloud)),
            ..hwconform::targets::defaults()
        },
    );
    assert_eq!(
        results[0].verdict.name(),
        verdict,
        "{:?}",
        results[0].verdict
    );
    if let Verdict::Skip { reason: why } = &results[0].verdict {
        assert!(why.contains(reason), "{why}");
    }
}

/// The variant alone, with its own statement (as `device_variants.rs` and
/// `--device sim:variant=...` get it): what it does not implement is not applicable.
fn with_variant(variant: SimVariant) -> RunConfig {
    let variants = BTreeSet::from([variant]);
    let defaults = hwconform::targets::defaults();
    let ics = SimVariant::reference_statement(&variants, &defaults.fleet, &*defaults.profile);
    let device = DeviceChoice::Sim {
        faults: BTreeSet::new(),
        variants,
    };
    RunConfig {
        device: Some(device.build()),
        ics: Some(Arc::new(ics)),
        ..defaults
    }
}

/// The matrix statuses a conformant target must never get.
const NOT_CONFORMANT: [Status; 3] = [Status::Fail, Status::Error, Status::Inconclusive];

/// A conformant target's run: `None` when no row is fail, error or inconclusive, else the
/// offending rows and the scenarios behind them.
fn offenders(label: &str, results: &[ScenarioResult]) -> Option<String> {
    let rows = matrix_of(results);
    let bad: Vec<String> = rows
        .iter()
        .filter(|r| NOT_CONFORMANT.contains(&r.status))
        .map(|r| format!("{} {}", r.id, r.status.key()))
        .collect();
    if bad.is_empty() {
        return None;
    }
    let lines = scenario_lines(
        results,
        &BTreeSet::new(),
        &[Outcome::Fail, Outcome::Error, Outcome::Inconclusive],
    );
    let header = format!("{label}: [{}]; per scenario:", bad.join(", "));
    Some(
        std::iter::once(header)
            .chain(lines)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Every conformant variant of the reference device (alone) and the conformant mock cloud:
/// no obligation is failed, errored or left inconclusive.
#[test]
fn conformant_variants_fail_no_obligation() {
    let device = library("device");
    let mut bad = Vec::new();
    for &variant in SimVariant::ALL {
        bad.extend(offenders(
            &format!("variant {}", variant.name()),
            &run_library(&device, with_variant(variant)),
        ));
    }
    let cloud = run_library(&library("cloud"), mock_without(BTreeSet::new()));
    bad.extend(offenders("conformant mock", &cloud));
    let control_less = run_library(&library("cloud"), mock(BTreeSet::new(), false));
    bad.extend(offenders("conformant mock without control", &control_less));
    let targets = SimVariant::ALL.len() + 2;
    let count = format!(
        "{} of {targets} conformant targets fail no obligation",
        targets - bad.len()
    );
    assert!(
        bad.is_empty(),
        "conformant targets with obligations failed, errored or inconclusive \
         (`!` marks each such outcome):\n\n{}\n\n{count}",
        bad.join("\n\n")
    );
    println!("{count}");
}

/// Every conformant choice the mock can make instead of its own (empty lists left out of
/// replies, other documented pushes before a corp push), with and without its control plane:
/// no obligation is failed, errored or left inconclusive. The independent cloud of the trial
/// (`docs/src/internals/measured.md`) made both, and each failed an obligation before.
#[test]
fn conformant_mock_variants_fail_no_obligation() {
    let scenarios = library("cloud");
    let mut bad = Vec::new();
    for &variant in MockVariant::ALL {
        for control in [true, false] {
            let cloud = MockCloudTarget {
                variants: BTreeSet::from([variant]),
                control,
                ..MockCloudTarget::default()
            };
            let config = RunConfig {
                cloud: Some(Arc::new(cloud)),
                ..hwconform::targets::defaults()
            };
            let label = format!("mock variant {} (control: {control})", variant.name());
            bad.extend(offenders(&label, &run_library(&scenarios, config)));
        }
    }
    assert!(
        bad.is_empty(),
        "conformant mock variants with obligations failed, errored or inconclusive:\n\n{}",
        bad.join("\n\n")
    );
}
