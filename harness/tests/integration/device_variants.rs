//! The device scenario library against every conformant variant of the reference device
//! (`--device sim:variant=NAME`): each variant makes another choice the protocol allows, so
//! a scenario that fails one judges a rule the protocol does not make.
//!
//! Run with `cargo test --test device_variants -- --nocapture` to print the table of
//! variants × scenarios that do not pass (empty when the library is right).

use crate::common;

use crate::common::{knob_matrix, library, render_knob_matrix, run_library};
use hwconform::engine::runner::RunConfig;
use hwconform::engine::{Outcome, Severity, Verdict};
use hwconform::targets::sim::SimVariant;
use hwconform::targets::DeviceChoice;
use std::collections::BTreeSet;

/// The variants, with their own statement (as `--device sim:variant=...` gets it): what they
/// do not implement is not applicable to them.
fn with_variants(variants: &[SimVariant]) -> RunConfig {
    let variants: BTreeSet<SimVariant> = variants.iter().copied().collect();
    let defaults = hwconform::targets::defaults();
    let ics = SimVariant::reference_statement(&variants, &defaults.fleet, &*defaults.profile);
    let device = DeviceChoice::Sim {
        faults: BTreeSet::new(),
        variants,
    };
    RunConfig {
        device: Some(device.build()),
        ics: Some(std::sync::Arc::new(ics)),
        ..defaults
    }
}

/// What a conformant variant may get: a pass, a skip (not applicable to it) or a manual check.
fn acceptable(v: &Verdict) -> bool {
    matches!(
        v,
        Verdict::Pass | Verdict::Skip { .. } | Verdict::Manual { .. }
    )
}

/// Every variant alone, and the combinations a lab meets most: a device without contact sync
/// that is not seed-provisioned, and a door controller.
const COMBINATIONS: &[&[SimVariant]] = &[
    &[SimVariant::NoContacts, SimVariant::PerDevice],
    &[
        SimVariant::DoorOnly,
        SimVariant::PerDevice,
        SimVariant::ReconnectOn600045,
    ],
    &[
        SimVariant::PingFirst,
        SimVariant::Reactivates,
        SimVariant::LongTimeout,
        SimVariant::LateFirstPing,
    ],
];

fn label(variants: &[SimVariant]) -> String {
    variants
        .iter()
        .map(|v| v.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// The variants matrix: every conformant variant (and the combinations) × the whole device
/// library gives pass, not applicable or manual only. `--nocapture` prints the table.
#[test]
fn every_conformant_variant_passes_the_library() {
    let scenarios = library("device");
    let singles: Vec<Vec<SimVariant>> = SimVariant::ALL.iter().map(|v| vec![*v]).collect();
    let all: Vec<&[SimVariant]> = singles
        .iter()
        .map(Vec::as_slice)
        .chain(COMBINATIONS.iter().copied())
        .collect();
    let matrix = knob_matrix(&scenarios, &all, label, with_variants, acceptable);
    println!("{}", render_knob_matrix(&matrix));
    let failing: usize = matrix.iter().map(|(_, rs)| rs.len()).sum();
    assert_eq!(
        failing,
        0,
        "conformant variants rejected by scenarios:\n{}",
        render_knob_matrix(&matrix)
    );
}

/// `"body": null` on parameterless requests deviates from the documented examples only: D1
/// gets a warning, and every verdict is what the reference device gets.
#[test]
fn a_null_body_is_a_warning_on_d1_and_changes_no_verdict() {
    let scenarios = library("device");
    let reference = run_library(&scenarios, with_variants(&[]));
    let null = run_library(&scenarios, with_variants(&[SimVariant::BodyNull]));
    let names = |rs: &[hwconform::engine::ScenarioResult]| {
        rs.iter()
            .map(|r| (r.id.clone(), r.verdict.name()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&null), names(&reference));
    let warned = null
        .iter()
        .filter(|r| r.obligations.get("D1") == Some(&Outcome::Warn))
        .count();
    assert!(warned > 10, "D1 warned in {warned} scenarios");
    assert!(
        null.iter().all(|r| r
            .findings
            .iter()
            .all(|f| f.rule == "D1" && f.severity == Severity::Warning)),
        "only D1 warnings"
    );
}

/// The guide's variant table (docs/src/reference/reference-device.md), as the knobs describe
/// themselves.
fn readme_table() -> String {
    let mut table = String::from("| variant | allowed by | what it does |\n|---|---|---|\n");
    for v in SimVariant::ALL {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            v.name(),
            v.allowed_by().replace('|', "\\|"),
            v.description().replace('|', "\\|")
        ));
    }
    table
}

#[test]
fn the_guide_lists_every_variant_as_the_knobs_describe_it() {
    let page = "docs/src/reference/reference-device.md";
    let readme = std::fs::read_to_string(common::repo().join(page)).unwrap();
    let table = readme_table();
    assert!(
        readme.contains(&table),
        "{page} must carry this table (generated from SimVariant):\n{table}"
    );
}

/// A vendor's statement, as a file: the door controller of the guide (no contacts, no
/// visitors, no enrolment, not seed-provisioned), played by the reference device with the
/// matching variants, gets no `fail` and no `inconclusive`; what it lacks is not applicable.
#[test]
fn a_door_controller_described_by_its_ics_file_fails_nothing() {
    let defaults = hwconform::targets::defaults();
    let path = common::repo().join("examples/ics/door-controller.toml");
    let ics = hwconform::ics::load_file(&path, defaults.profile.ics_features())
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let device = DeviceChoice::Sim {
        faults: BTreeSet::new(),
        variants: BTreeSet::from([SimVariant::DoorOnly, SimVariant::PerDevice]),
    };
    let config = RunConfig {
        device: Some(device.build()),
        ics: Some(std::sync::Arc::new(ics)),
        ..defaults
    };
    let results = run_library(&library("device"), config);
    let rejected: Vec<String> = results
        .iter()
        .filter(|r| !acceptable(&r.verdict))
        .map(|r| format!("{} {:?}", r.id, r.verdict))
        .collect();
    assert!(rejected.is_empty(), "{rejected:#?}");
    let not_applicable = |id: &str| {
        results.iter().any(|r| r.id.starts_with(id) && matches!(&r.verdict, Verdict::Skip { reason } if reason.starts_with("not applicable: the ICS says")))
    };
    for id in [
        "device.enrolment.upload-after-enter-page",
        "device.contacts.full-pull-after-login",
        "device.lifecycle.secret-no-exchanged-once",
    ] {
        assert!(
            not_applicable(id),
            "{id} is not applicable to a door controller"
        );
    }
}
