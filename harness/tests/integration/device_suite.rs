//! The device scenario library against the reference device: the conformant device passes
//! everything, and every injected fault is caught by the scenarios named for it (the README
//! shows the same matrix).

use crate::common::{library, mutation_matrix, not_passing, run_library};
use hwconform::engine::runner::RunConfig;
use hwconform::engine::Verdict;
use hwconform::targets::sim::SimFault;
use hwconform::targets::DeviceChoice;
use std::collections::BTreeSet;

fn with_faults(faults: BTreeSet<SimFault>) -> RunConfig {
    RunConfig {
        device: Some(
            DeviceChoice::Sim {
                faults,
                variants: BTreeSet::new(),
            }
            .build(),
        ),
        ..hwconform::targets::defaults()
    }
}

#[test]
fn the_conformant_reference_device_passes_the_library() {
    let scenarios = library("device");
    assert!(
        scenarios.len() >= 40,
        "the device library has {} scenarios",
        scenarios.len()
    );
    let results = run_library(&scenarios, with_faults(BTreeSet::new()));
    let bad = not_passing(&results, |v| {
        matches!(v, Verdict::Pass | Verdict::Manual { .. })
    });
    assert!(
        bad.is_empty(),
        "scenarios that did not pass:\n{}",
        bad.join("\n")
    );
    // Every device obligation is either checked on the wire or left to the lab, by name.
    let cited: BTreeSet<&str> = scenarios
        .iter()
        .flat_map(|s| s.requirements.iter().map(|r| r.value.as_str()))
        .collect();
    let missing: Vec<String> = (1..=42)
        .map(|n| format!("D{n}"))
        .filter(|d| !cited.contains(d.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "obligations no scenario cites: {missing:?}"
    );
}

/// The scenarios that must fail for each fault.
fn catchers(fault: SimFault) -> &'static [&'static str] {
    match fault.name() {
        "no-jitter" => &["device.retry.random-1-3s-without-interval"],
        "ignore-interval" => &["device.retry.honours-interval"],
        "retry-after-minus-one" => &["device.retry.interval-minus-one-register-not-retried", "device.retry.interval-minus-one-business-not-retried"],
        "short-timeout" => &["device.timing.no-resend-before-5s"],
        "loop-on-600012" => &["device.recovery.register-600012-continues-to-active"],
        "no-600002-backoff" => &["device.recovery.register-600002-backs-off"],
        "ignore-600002-interval" => &["device.recovery.register-600002-with-advice-backs-off"],
        "subscribe-storm" => &["device.timing.subscribe-at-most-5-per-minute"],
        "slow-heartbeat" => &["device.timing.heartbeat-every-20-40s"],
        "reuse-req-id" => &["device.envelope.well-formed-unique-requests"],
        "unsorted-signature" => &["device.lifecycle.register-first"],
        "skip-register" => &["device.lifecycle.register-on-every-connection"],
        "wipe-before-full-pull" => &["device.contacts.recognises-users-during-full-pull"],
        "two-connections" => &["device.recovery.suggestion-reconnect"],
        "string-nonce" => &["device.lifecycle.register-first"],
        "resend-secret-no" => &["device.lifecycle.secret-no-exchanged-once"],
        "fast-active-poll" => &["device.activation.polls-every-5s-while-unbound"],
        "no-bind-push-active" => &["device.activation.push-bind-corp-activates-at-once"],
        "full-pull-limit-500" => &["device.contacts.full-pull-after-login"],
        "no-full-pull-restart" => &["device.contacts.full-pull-restarts-on-version-change"],
        "skip-incremental-pull" => &["device.contacts.incremental-pull-on-push-change-contact"],
        "delta-on-gap" => &["device.contacts.version-gap-triggers-full-pull"],
        "strip-visitor-agentid" => &["device.visitors.fetch-on-push-visitor-list-change"],
        "drop-failed-checkins" => &["device.checkin.failed-records-resent"],
        "slow-remote-open-report" => &["device.door.remote-open-reported-within-3s"],
        "image-as-feature" => &["device.enrolment.upload-after-enter-page"],
        other => panic!("sim fault `{other}` has no scenario that catches it: add one and list it here and in docs/src/concepts/obligations.md"),
    }
}

#[test]
fn every_fault_is_caught_by_its_scenarios() {
    let scenarios = library("device");
    let missed = mutation_matrix(
        &scenarios,
        SimFault::ALL,
        |f| f.name().to_string(),
        catchers,
        |fault| with_faults(BTreeSet::from([fault])),
    );
    assert!(
        missed.is_empty(),
        "faults that no listed scenario caught:\n{}",
        missed.join("\n")
    );
}

/// Harness-side faults in the cloud role: the harness loses its own reply to the device's
/// register, and the reference device re-sends register after its retry interval; the
/// transcript says the harness dropped it.
#[test]
fn a_reply_the_harness_drops_is_re_sent_by_the_device() {
    let text = "id: t.fault.cloud\ntitle: the harness drops its reply to register\nrequirements: [D13]\nrole: cloud\nsteps:\n\
                \x20 - accept: a\n\
                \x20 - fault: { drop: outbound, match: { reply_to: register } }\n\
                \x20 - receive: { cmd: register }\n\
                \x20 - reply:\n\
                \x20 - receive: { cmd: register, not_before: 4s, within: 30s }\n\
                \x20 - reply:\n";
    let scenario =
        hwconform::scenario::load_str(std::path::Path::new("cloud-fault.yaml"), text).unwrap();
    let results = run_library(&[scenario], hwconform::targets::defaults());
    assert_eq!(
        results[0].verdict,
        Verdict::Pass,
        "{:?}",
        results[0].verdict
    );
    let notes = format!("{:?}", results[0].transcript);
    assert!(
        notes.contains("dropped the outbound frame (the reply to `register`)"),
        "{notes}"
    );
}
