//! `hwconform ics template`: a commented statement with every key, what it means and which
//! obligations it gates, for a lab to fill in. It loads as it is (every feature `true`).

use super::{Lab, Provisioning};
use crate::profile::Feature;
use crate::scenario::expr::format_duration;

/// The template for a profile's `features`.
pub fn template(features: &[Feature]) -> String {
    let width = features.iter().map(|f| f.name.len()).max().unwrap_or(0);
    let mut out = vec![
        "# Implementation conformance statement (ICS) for hwconform: what the device under test"
            .to_string(),
        "# implements. Scenarios that need something the ICS says `false` are skipped as not"
            .to_string(),
        "# applicable; one that needs a key this file leaves out stops the run (exit 2)."
            .to_string(),
        "# Check it with `hwconform ics check FILE`; use it with `hwconform run --ics FILE`."
            .to_string(),
        String::new(),
        "# How the device gets its SecretNo: \"per-device\" (flashed with its own; it registers"
            .to_string(),
        "# with it from the start) or \"seed\" (flashed with the shared seed SecretNo; it calls"
            .to_string(),
        "# get_secret_no first, D6). Gates the scenarios that `requires: [seed]`.".to_string(),
        format!("provisioning = \"{}\"", Provisioning::PerDevice.as_str()),
        String::new(),
        "# The device under test, as every report names it.".to_string(),
        "[identity]".to_string(),
        "vendor = \"Acme\"".to_string(),
        "model = \"DC-100\"".to_string(),
        "firmware_version = \"2.3.1\"".to_string(),
        String::new(),
        "# Which optional protocol areas the device implements: true or false for each."
            .to_string(),
        "[features]".to_string(),
    ];
    for f in features {
        out.push(format!(
            "# {} ({})",
            f.description,
            f.obligations.join(", ")
        ));
        out.push(format!("{:width$} = true", f.name));
    }
    let lab = Lab::default();
    out.extend([
        String::new(),
        "# The lab set-up (optional; the values shown are the defaults).".to_string(),
        "[lab]".to_string(),
        "# How long the device takes to start and connect: the wait for its first connection"
            .to_string(),
        "# is never shorter than this.".to_string(),
        format!("boot_time = \"{}\"", format_duration(lab.boot_time)),
        "# Whether the device keeps its exchanged SecretNo across the lab's --device-reset."
            .to_string(),
        format!(
            "keeps_secret_across_reset = {}",
            lab.keeps_secret_across_reset
        ),
    ]);
    let mut text = out.join("\n");
    text.push('\n');
    text
}
