//! The cloud scenario library against the in-process mock: everything passes, every rule's
//! scenario fails when the mock breaks that rule, and misbehaving clouds get verdicts, not
//! hangs.

use crate::common::{library, mutation_matrix, not_passing, run_library};
use hwconform::engine::runner::RunConfig;
use hwconform::engine::Verdict;
use hwconform::targets::mock::MockRule;
use hwconform::targets::mock_cloud::MockCloudTarget;
use std::collections::BTreeSet;

#[test]
fn the_library_passes_against_the_mock() {
    let scenarios = library("cloud");
    assert!(
        scenarios.len() >= 25,
        "the cloud library has {} scenarios",
        scenarios.len()
    );
    let results = run_library(&scenarios, hwconform::targets::defaults());
    let bad = not_passing(&results, |v| *v == Verdict::Pass);
    assert!(
        bad.is_empty(),
        "scenarios that did not pass:\n{}",
        bad.join("\n")
    );
}

/// Which scenario catches each rule the mock can be told to break. The README shows the
/// same table.
fn catchers(rule: MockRule) -> &'static [&'static str] {
    match rule.name() {
        "no-req-id-echo" => &["cloud.envelope.reply-echoes-req-id"],
        "cmd-in-reply" => &["cloud.envelope.replies-carry-no-cmd"],
        "no-error-advice" => &["cloud.errors.every-error-carries-advice"],
        "no-signature-check" => &["cloud.register.bad-signature-rejected"],
        "no-timestamp-check" => &["cloud.register.stale-timestamp-rejected"],
        "no-resend-codes" => &["cloud.lifecycle.resent-register-answers-progress", "cloud.lifecycle.resent-active-subscribe-answer-progress", "cloud.lost-reply.register-recovered-600012"],
        "no-order-check" => &["cloud.order.before-register-600014", "cloud.order.business-before-login-600020", "cloud.order.business-before-login-refused"],
        "no-sn-binding" => &["cloud.ip-change.second-ip-refused-600002", "cloud.heartbeat.expiry-frees-sn-for-new-ip"],
        "no-kick" => &["cloud.kick.second-link-same-ip"],
        "no-heartbeat-expiry" => &["cloud.heartbeat.silent-link-released"],
        "no-rate-limit" => &["cloud.subscribe.rate-limit-600045"],
        "no-bind-push" => &["cloud.active.secret-only-when-bound", "cloud.push.unbind-revokes-secret"],
        "secret-no-after-register" => &["cloud.secret-no.seed-exchange"],
        "unbound-active-succeeds" => &["cloud.active.secret-only-when-bound"],
        "no-selfhelp-echo" => &["cloud.commands.selfhelp-notify-echoed"],
        "silent-on-malformed" => &["cloud.malformed.garbage-text-answered"],
        "not-implemented-silent" => &["cloud.commands.unknown-command-answered"],
        "duplicate-replies" => &["cloud.envelope.reply-echoes-req-id"],
        "page-limit-honoured" => &["cloud.contacts.page-limit-not-honoured"],
        "version-skips" => &["cloud.contacts.version-rises-by-one-per-change"],
        "history-ignores-version" => &["cloud.contacts.notify-history-above-version"],
        "checkin-rejects-old" => &["cloud.checkin.pre-2018-dropped-and-no-pass-type-no-access-record"],
        "remote-open-no-deadline" => &["cloud.door.remote-open-late-report-fails"],
        "visitor-id-stripped" => &["cloud.visitors.ids-keep-agentid", "cloud.contacts.version-rises-by-one-per-change"],
        "no-algorithm-priority" => &["cloud.templates.follow-announced-algorithm-priority"],
        "fetch-log-hint-changed" => &["cloud.log.fetch-hint-verbatim"],
        "dynamic-qr-no-expiry" => &["cloud.qr.scan-pushes-state-and-old-dynamic-refused"],
        "binary-big-endian" => &["cloud.commands.login-qrcode-binary-reply"],
        other => panic!("mock rule `{other}` has no scenario that catches it: add one and list it here and in docs/src/reference/mock.md"),
    }
}

#[test]
fn every_broken_rule_is_caught_by_its_scenario() {
    let scenarios = library("cloud");
    let missed = mutation_matrix(
        &scenarios,
        MockRule::ALL,
        |r| format!("{} off", r.name()),
        catchers,
        |rule| RunConfig {
            cloud: Some(std::sync::Arc::new(MockCloudTarget {
                disabled_rules: BTreeSet::from([rule]),
                ..MockCloudTarget::default()
            })),
            ..hwconform::targets::defaults()
        },
    );
    assert!(
        missed.is_empty(),
        "rules broken without a failing scenario:\n{}",
        missed.join("\n")
    );
}

/// Every cloud obligation C1–C24 is cited by a scenario of the library, and broken by a mock
/// rule (its description names the id) whose catching scenario cites it.
#[test]
fn every_cloud_obligation_is_cited_and_has_a_knob_its_scenario_catches() {
    let scenarios = library("cloud");
    let cites = |id: &str, c: &str| {
        scenarios
            .iter()
            .any(|s| s.id.value == id && s.requirements.iter().any(|r| r.value == c))
    };
    let mut gaps = Vec::new();
    for n in 1..=24 {
        let c = format!("C{n}");
        if !scenarios
            .iter()
            .any(|s| s.requirements.iter().any(|r| r.value == c))
        {
            gaps.push(format!("{c}: no cloud scenario cites it"));
        }
        let named = |r: &MockRule| {
            r.description()
                .split(|ch: char| !ch.is_ascii_alphanumeric())
                .any(|w| w == c)
        };
        let caught = MockRule::ALL
            .iter()
            .filter(|r| named(r))
            .any(|r| catchers(*r).iter().any(|id| cites(id, &c)));
        if !caught {
            gaps.push(format!(
                "{c}: no mock rule names it with a catching scenario that cites it"
            ));
        }
    }
    assert!(gaps.is_empty(), "{}", gaps.join("\n"));
}
