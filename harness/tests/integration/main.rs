//! Every integration test of the harness in one binary: cargo links each `tests/*.rs` on its
//! own, each link pulling in the harness and all its dependencies with their debug info, so
//! one binary links once. `cargo test --test integration cli::` runs one file's tests. (The
//! scenario loader's tests keep their own binary, `tests/loader`.)

#[path = "../common/mod.rs"]
mod common;

mod architecture;
mod ci_behaviour;
mod cli;
mod cloud_suite;
mod device_output;
mod device_suite;
mod device_targets;
mod device_variants;
mod docs;
mod events;
mod evidence;
mod explore;
mod fleet;
mod golden;
mod hostile_input;
mod html_report;
mod ics;
mod obligations;
mod observe;
mod observe_by_sn;
mod observe_scenarios;
mod processes;
mod real_sockets;
mod reports;
mod toy_profile;
mod verdicts;
