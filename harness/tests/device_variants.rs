//! The device scenario library against every conformant variant of the reference device
//! (`--device sim:variant=NAME`): each variant makes another choice the protocol allows, so
//! a scenario that fails one judges a rule the protocol does not make.
//!
//! Run with `cargo test --test device_variants -- --ignored --nocapture` to print the table
//! of variants × scenarios that do not pass.

mod common;

use common::{knob_matrix, library, render_knob_matrix};
use hwconform::engine::runner::RunConfig;
use hwconform::engine::Verdict;
use hwconform::targets::sim::SimVariant;
use hwconform::targets::DeviceChoice;
use std::collections::BTreeSet;

/// The variant, with its own statement (as `--device sim:variant=NAME` gets it): what it
/// does not implement is not applicable to it.
fn with_variant(variant: SimVariant) -> RunConfig {
    let variants = BTreeSet::from([variant]);
    let defaults = hwconform::targets::defaults();
    let ics = SimVariant::reference_statement(&variants, &defaults.fleet, &*defaults.profile);
    let device = DeviceChoice::Sim { faults: BTreeSet::new(), variants };
    RunConfig { device: Some(device.build()), ics: Some(std::sync::Arc::new(ics)), ..defaults }
}

/// What a conformant variant may get: a pass, a skip (not applicable to it) or a manual check.
fn acceptable(v: &Verdict) -> bool {
    matches!(v, Verdict::Pass | Verdict::Skip { .. } | Verdict::Manual { .. })
}

// Ignored for now: other engineers are fixing scenarios that judge the reference's own
// choices as rules (and the verdict model, so that a documented-example deviation like
// `"body": null` grades a warning). Once they land, drop the `#[ignore]`: the assertion below
// is the goal, every scenario passes or is skipped / not applicable for every variant.
#[test]
#[ignore = "scenarios and the verdict model are being fixed; prints the variant × failing-scenario table"]
fn every_conformant_variant_passes_the_library() {
    let scenarios = library("device");
    let matrix = knob_matrix(&scenarios, SimVariant::ALL, |v| v.name().to_string(), with_variant, acceptable);
    println!("{}", render_knob_matrix(&matrix));
    let failing: usize = matrix.iter().map(|(_, rs)| rs.len()).sum();
    assert_eq!(failing, 0, "conformant variants rejected by scenarios (table above)");
}

/// The README's variant table, as the knobs describe themselves.
fn readme_table() -> String {
    let mut table = String::from("| variant | allowed by | what it does |\n|---|---|---|\n");
    for v in SimVariant::ALL {
        table.push_str(&format!("| `{}` | {} | {} |\n", v.name(), v.allowed_by().replace('|', "\\|"), v.description().replace('|', "\\|")));
    }
    table
}

#[test]
fn the_readme_lists_every_variant_as_the_knobs_describe_it() {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let table = readme_table();
    assert!(readme.contains(&table), "README.md must carry this table (generated from SimVariant):\n{table}");
}
