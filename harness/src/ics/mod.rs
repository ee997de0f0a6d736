//! The implementation conformance statement (ICS, as Matter's PICS or ISO 9646 call it): what
//! a device under test says it implements. Verdicts must hold for every conformant device, so
//! what a scenario may assume of the device comes from here, never from what the reference
//! device happens to do.
//!
//! The type is protocol-neutral: feature names are data (`BTreeMap<String, bool>`); the
//! profile supplies the known keys ([`crate::profile::Profile::ics_features`]), so the engine
//! can gate scenarios on them without naming any. The file format is TOML ([`load`]); the
//! commented template every lab starts from is [`template`].

pub mod cloud;
pub mod load;
pub mod template;
mod toml_reader;

pub use load::{load_file, load_str, IcsError};
pub use template::template;

use crate::profile::Feature;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How the device gets its per-device SecretNo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Provisioning {
    /// Flashed with its own SecretNo at the factory: it registers with it from the start.
    #[serde(rename = "per-device")]
    PerDevice,
    /// Flashed with the shared seed SecretNo: it exchanges it for its own first.
    #[serde(rename = "seed")]
    Seed,
}

impl Provisioning {
    /// The word the file writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Provisioning::PerDevice => "per-device",
            Provisioning::Seed => "seed",
        }
    }

    pub const WORDS: &'static [&'static str] = &["per-device", "seed"];

    pub fn parse(word: &str) -> Option<Provisioning> {
        match word {
            "per-device" => Some(Provisioning::PerDevice),
            "seed" => Some(Provisioning::Seed),
            _ => None,
        }
    }
}

/// Which device the statement is about: goes into every report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub vendor: String,
    pub model: String,
    pub firmware_version: String,
}

/// Facts of the lab set-up, each with a documented default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lab {
    /// How long the device takes to start and connect (default 10 s): the first wait for
    /// its connection is never shorter.
    pub boot_time: Duration,
    /// Whether the device keeps its exchanged SecretNo across the lab's reset (default true).
    pub keeps_secret_across_reset: bool,
}

impl Lab {
    pub const DEFAULT_BOOT_TIME: Duration = Duration::from_secs(10);
}

impl Default for Lab {
    fn default() -> Self {
        Lab {
            boot_time: Lab::DEFAULT_BOOT_TIME,
            keeps_secret_across_reset: true,
        }
    }
}

/// One implementation conformance statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ics {
    /// Where it came from (diagnostics name it); `<built-in reference ICS>` for the reference.
    pub path: PathBuf,
    /// `None` when the file does not say: a scenario that depends on it cannot be selected.
    pub provisioning: Option<Provisioning>,
    pub identity: Identity,
    /// Feature name → implemented. A name left out is unknown, not false.
    pub features: BTreeMap<String, bool>,
    pub lab: Lab,
}

/// What the statement decides for one scenario's needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applicability {
    Applicable,
    /// The statement says the device lacks something the scenario needs; the reason reads
    /// `not applicable: the ICS says face = false`.
    NotApplicable {
        reason: String,
    },
    /// The statement does not say: the key that is missing (`face`, `provisioning`).
    Unknown {
        key: String,
    },
}

impl Ics {
    /// The path shown for the statement the harness makes up for its reference device.
    pub const REFERENCE_PATH: &'static str = "<built-in reference ICS>";

    /// The reference device's statement: every feature of `features` implemented,
    /// provisioned as given (seed where the fleet has a seed SecretNo).
    pub fn reference(features: &[Feature], provisioning: Provisioning) -> Ics {
        Ics {
            path: PathBuf::from(Ics::REFERENCE_PATH),
            provisioning: Some(provisioning),
            identity: Identity {
                vendor: "hwconform".into(),
                model: "reference device".into(),
                firmware_version: env!("CARGO_PKG_VERSION").into(),
            },
            features: features
                .iter()
                .map(|f| (f.name.to_string(), true))
                .collect(),
            lab: Lab::default(),
        }
    }

    /// Whether a scenario that needs `features` (and the seed, with `seed`) applies to the
    /// device. Features are checked in the order given; the first that fails decides.
    pub fn applicability<S: AsRef<str>>(&self, features: &[S], seed: bool) -> Applicability {
        for name in features {
            let name = name.as_ref();
            match self.features.get(name) {
                Some(true) => {}
                Some(false) => {
                    return Applicability::NotApplicable {
                        reason: format!("not applicable: the ICS says {name} = false"),
                    }
                }
                None => {
                    return Applicability::Unknown {
                        key: name.to_string(),
                    }
                }
            }
        }
        if seed {
            match self.provisioning {
                Some(Provisioning::Seed) => {}
                Some(p) => {
                    return Applicability::NotApplicable {
                        reason: format!(
                            "not applicable: the ICS says provisioning = {}",
                            p.as_str()
                        ),
                    }
                }
                None => {
                    return Applicability::Unknown {
                        key: "provisioning".into(),
                    }
                }
            }
        }
        Applicability::Applicable
    }

    /// How to state `key` in the file (for an error about a missing one).
    pub fn how_to_state(key: &str) -> String {
        match key {
            "provisioning" => {
                "add `provisioning = \"per-device\"` or `\"seed\"` at the top".to_string()
            }
            _ => format!("add `{key} = true` or `{key} = false` under [features]"),
        }
    }

    /// What reports show of the statement.
    pub fn summary(&self) -> IcsSummary {
        IcsSummary {
            vendor: self.identity.vendor.clone(),
            model: self.identity.model.clone(),
            firmware_version: self.identity.firmware_version.clone(),
            provisioning: self.provisioning,
            features: self.features.clone(),
        }
    }
}

/// The statement as reports carry it (run.json's `ics`, JUnit properties, the banner).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IcsSummary {
    pub vendor: String,
    pub model: String,
    pub firmware_version: String,
    pub provisioning: Option<Provisioning>,
    pub features: BTreeMap<String, bool>,
}

impl IcsSummary {
    /// `Acme DC-100 firmware 2.3.1, per-device provisioning, features: door, log (2 of 12)`.
    pub fn banner(&self) -> String {
        let on: Vec<&str> = self
            .features
            .iter()
            .filter(|(_, v)| **v)
            .map(|(k, _)| k.as_str())
            .collect();
        let provisioning = self
            .provisioning
            .map_or("provisioning not stated".to_string(), |p| {
                format!("{} provisioning", p.as_str())
            });
        let features = if on.is_empty() {
            "none".to_string()
        } else {
            on.join(", ")
        };
        format!(
            "{} {} firmware {}, {provisioning}, features: {features} ({} of {})",
            self.vendor,
            self.model,
            self.firmware_version,
            on.len(),
            self.features.len()
        )
    }
}

#[cfg(test)]
mod tests;
