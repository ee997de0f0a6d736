//! Targets: what the engine runs scenarios against, each a value behind
//! [`engine::target::CloudTarget`](crate::engine::target::CloudTarget) or
//! [`engine::target::DeviceTarget`](crate::engine::target::DeviceTarget), one per file —
//! the in-process mock ([`mock_cloud`]), a remote URL ([`remote`]), the reference device
//! ([`sim_device`]), a command per scenario ([`exec`]), a real device connecting to an
//! address ([`listen`]) — and the choice of one as given on the command line.

pub mod device_link;
pub mod exec;
pub mod knobs;
pub mod listen;
pub mod mock;
pub mod mock_cloud;
pub mod remote;
pub mod sim;
pub mod sim_device;

use crate::engine::target::{CloudTarget, DeviceTarget};
use crate::engine::RunConfig;
use crate::profile::{CloudTimings, Secret};
use exec::ExecTarget;
use knobs::Knob;
use listen::ListenTarget;
use mock_cloud::MockCloudTarget;
use remote::RemoteTarget;
use sim::{SimFault, SimVariant};
use sim_device::SimDeviceTarget;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

/// The cloud target of a run, as chosen on the command line.
#[derive(Clone, Debug)]
pub enum CloudChoice {
    /// The built-in mock, in-process, one fresh instance per scenario on a virtual clock.
    Mock(MockCloudTarget),
    /// A real endpoint: `ws://` or `wss://`.
    Url {
        url: String,
        insecure: bool,
        control_token: Option<Secret>,
    },
}

impl CloudChoice {
    /// The target; a URL that does not report its timers is expected to keep `fallback`.
    pub fn build(&self, fallback: CloudTimings) -> Arc<dyn CloudTarget> {
        match self {
            CloudChoice::Mock(m) => Arc::new(m.clone()),
            CloudChoice::Url {
                url,
                insecure,
                control_token,
            } => Arc::new(
                RemoteTarget::new(url.clone(), *insecure, fallback)
                    .with_control_token(control_token.clone()),
            ),
        }
    }

    pub fn describe(&self) -> String {
        self.build(CloudTimings::FAQ).describe()
    }
}

/// The device target of a run, as chosen on the command line.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceChoice {
    /// The built-in reference device, in-process on the scenario's virtual clock, with
    /// obligations broken on purpose (`faults`) and other conformant choices (`variants`).
    Sim {
        faults: BTreeSet<SimFault>,
        variants: BTreeSet<SimVariant>,
    },
    /// Wait for a real device to connect to ADDR; each scenario takes its next connection.
    Listen { addr: SocketAddr },
    /// Start `command` (through `sh -c`) for each scenario and stop it at the end.
    Exec { command: String },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DeviceChoiceError {
    #[error("unknown device target {0:?}: expected sim, sim:fault=NAME[,NAME...], sim:variant=NAME[,NAME...][;fault=NAME[,NAME...]], listen:ADDR, exec:CMD or none")]
    Unknown(String),
    #[error("unknown sim fault {name:?}; known faults: {known}")]
    Fault { name: String, known: String },
    #[error("unknown sim variant {name:?}; known variants: {known}")]
    Variant { name: String, known: String },
    #[error(
        "sim:{0:?}: expected variant=NAME[,NAME...] and/or fault=NAME[,NAME...], separated by ';'"
    )]
    SimKey(String),
    #[error("listen:{0} is not an address like 127.0.0.1:9000")]
    Addr(String),
    #[error("exec: needs a command")]
    EmptyCommand,
}

impl DeviceChoice {
    /// The reference device without faults or variants.
    pub fn sim() -> DeviceChoice {
        DeviceChoice::Sim {
            faults: BTreeSet::new(),
            variants: BTreeSet::new(),
        }
    }

    /// Parses `sim`, `sim:fault=a,b`, `sim:variant=a,b`, `sim:variant=a;fault=b`,
    /// `listen:ADDR`, `exec:CMD`. Within `sim:` a `,` separates names and a `;` keys; a
    /// name of the form `key=NAME` also starts a new key, so `sim:variant=a,fault=b` works too.
    pub fn parse(text: &str) -> Result<DeviceChoice, DeviceChoiceError> {
        if text == "sim" {
            return Ok(DeviceChoice::sim());
        }
        if let Some(spec) = text.strip_prefix("sim:") {
            return Self::parse_sim(spec);
        }
        if let Some(addr) = text.strip_prefix("listen:") {
            return addr
                .parse()
                .map(|addr| DeviceChoice::Listen { addr })
                .map_err(|_| DeviceChoiceError::Addr(addr.into()));
        }
        if let Some(cmd) = text.strip_prefix("exec:") {
            if cmd.trim().is_empty() {
                return Err(DeviceChoiceError::EmptyCommand);
            }
            return Ok(DeviceChoice::Exec {
                command: cmd.to_string(),
            });
        }
        Err(DeviceChoiceError::Unknown(text.to_string()))
    }

    /// The `--device` text of a reference-device choice, as [`Self::parse`] reads it back:
    /// `sim`, `sim:fault=a,b`, `sim:variant=a;fault=b`. `None` for the other targets.
    pub fn sim_arg(&self) -> Option<String> {
        let DeviceChoice::Sim { faults, variants } = self else {
            return None;
        };
        let join = |names: Vec<&str>| names.join(",");
        let mut keys = Vec::new();
        if !variants.is_empty() {
            keys.push(format!(
                "variant={}",
                join(variants.iter().map(|v| v.name()).collect())
            ));
        }
        if !faults.is_empty() {
            keys.push(format!(
                "fault={}",
                join(faults.iter().map(|f| f.name()).collect())
            ));
        }
        Some(if keys.is_empty() {
            "sim".into()
        } else {
            format!("sim:{}", keys.join(";"))
        })
    }

    fn parse_sim(spec: &str) -> Result<DeviceChoice, DeviceChoiceError> {
        let (mut faults, mut variants) = (BTreeSet::new(), BTreeSet::new());
        let mut key: Option<&str> = None;
        for item in spec.split([';', ',']).map(str::trim) {
            let name = match item.split_once('=') {
                Some((k @ ("fault" | "variant"), name)) => {
                    key = Some(k);
                    name.trim()
                }
                Some(_) => return Err(DeviceChoiceError::SimKey(spec.to_string())),
                None => item,
            };
            match key {
                Some("fault") => {
                    faults.insert(knob(name, |name, known| DeviceChoiceError::Fault {
                        name,
                        known,
                    })?);
                }
                Some(_) => {
                    variants.insert(knob(name, |name, known| DeviceChoiceError::Variant {
                        name,
                        known,
                    })?);
                }
                None => return Err(DeviceChoiceError::SimKey(spec.to_string())),
            }
        }
        Ok(DeviceChoice::Sim { faults, variants })
    }

    pub fn build(&self) -> Arc<dyn DeviceTarget> {
        match self {
            DeviceChoice::Sim { faults, variants } => Arc::new(SimDeviceTarget {
                faults: faults.clone(),
                variants: variants.clone(),
            }),
            DeviceChoice::Listen { addr } => Arc::new(ListenTarget::new(*addr)),
            DeviceChoice::Exec { command } => Arc::new(ExecTarget {
                command: command.clone(),
            }),
        }
    }

    pub fn describe(&self) -> String {
        self.build().describe()
    }
}

/// The knob `name`, or `error(name, every known name)`.
fn knob<K: Knob>(
    name: &str,
    error: impl FnOnce(String, String) -> DeviceChoiceError,
) -> Result<K, DeviceChoiceError> {
    K::parse(name).ok_or_else(|| {
        error(
            name.to_string(),
            K::ALL
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", "),
        )
    })
}

/// The default cloud: the in-process mock.
pub fn default_cloud() -> Arc<dyn CloudTarget> {
    Arc::new(MockCloudTarget::default())
}

/// The default device: the reference device without faults.
pub fn default_device() -> Arc<dyn DeviceTarget> {
    Arc::new(SimDeviceTarget::default())
}

/// [`RunConfig::default`] with the default targets: the in-process mock and the reference
/// device (what the goldens record).
pub fn defaults() -> RunConfig {
    RunConfig {
        cloud: Some(default_cloud()),
        device: Some(default_device()),
        remedies: std::sync::Arc::new(remedies()),
        ..RunConfig::default()
    }
}

/// What a run's verdicts tell a person to give, naming the options that choose these
/// targets (`--cloud`, `--device sim`, `--upper-tester`, `--device-reset`, `--devices-file`).
pub fn remedies() -> crate::engine::target::Remedies {
    crate::engine::target::Remedies {
        no_cloud: "the harness plays a device here, and this run has no cloud target (--cloud)".into(),
        no_device: "the harness plays the cloud here, and this run has no device target (--device)".into(),
        needs_upper_tester: "not tested: needs an upper tester to make the device act (a member checks in): give `--upper-tester CMD`, or run the reference device (--device sim), which acts by itself".into(),
        not_reset: "the device served an earlier scenario and may have kept its state (a cached secret): give `--device-reset CMD` to reset it between scenarios, or say in the ICS that it keeps its secret across a reset".into(),
        needs_unbound: "needs a device no corp has bound: add one with \"bound\": false to the devices file (--devices-file), one for each such scenario".into(),
        needs_cloud_upper_tester: "not tested: needs an upper tester to make the cloud act (a corp binds the device, a person opens the door remotely): give `--cloud-upper-tester CMD`, or run the mock (--cloud mock), which acts through its control plane".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim(faults: &[SimFault], variants: &[SimVariant]) -> DeviceChoice {
        DeviceChoice::Sim {
            faults: faults.iter().copied().collect(),
            variants: variants.iter().copied().collect(),
        }
    }

    #[rstest::rstest]
    #[case("sim", sim(&[], &[]))]
    #[case("sim:fault=no-jitter", sim(&[SimFault::NoJitter], &[]))]
    #[case("sim:fault=no-jitter,short-timeout", sim(&[SimFault::NoJitter, SimFault::ShortTimeout], &[]))]
    #[case("sim:variant=ping-first", sim(&[], &[SimVariant::PingFirst]))]
    #[case("sim:variant=ping-first,body-null", sim(&[], &[SimVariant::PingFirst, SimVariant::BodyNull]))]
    #[case("sim:variant=ping-first;fault=no-jitter", sim(&[SimFault::NoJitter], &[SimVariant::PingFirst]))]
    #[case("sim:variant=ping-first,fault=no-jitter", sim(&[SimFault::NoJitter], &[SimVariant::PingFirst]))]
    #[case("sim:fault=no-jitter; variant=door-only,reactivates", sim(&[SimFault::NoJitter], &[SimVariant::DoorOnly, SimVariant::Reactivates]))]
    fn parses_sim_knobs(#[case] text: &str, #[case] want: DeviceChoice) {
        assert_eq!(DeviceChoice::parse(text), Ok(want));
    }

    #[test]
    fn sim_arg_parses_back() {
        for choice in [
            sim(&[], &[]),
            sim(&[SimFault::NoJitter], &[]),
            sim(&[SimFault::NoJitter], SimVariant::ALL),
            sim(&[], &[SimVariant::BodyNull]),
        ] {
            let arg = choice.sim_arg().unwrap();
            assert_eq!(DeviceChoice::parse(&arg), Ok(choice), "{arg}");
        }
        assert_eq!(
            sim(&[SimFault::NoJitter], &[SimVariant::PingFirst])
                .sim_arg()
                .unwrap(),
            "sim:variant=ping-first;fault=no-jitter"
        );
        assert_eq!(
            DeviceChoice::Exec {
                command: "x".into()
            }
            .sim_arg(),
            None
        );
    }

    #[rstest::rstest]
    #[case(
        "sim:variant=nonsense",
        "unknown sim variant \"nonsense\"; known variants: no-contacts, ping-first"
    )]
    #[case(
        "sim:variant=ping-first;fault=no-such",
        "unknown sim fault \"no-such\"; known faults: no-jitter,"
    )]
    #[case("sim:variant=no-jitter", "unknown sim variant \"no-jitter\"")]
    #[case("sim:colour=red", "expected variant=NAME")]
    #[case("sim:ping-first", "expected variant=NAME")]
    fn sim_knob_errors_list_the_names(#[case] text: &str, #[case] message: &str) {
        let e = DeviceChoice::parse(text).unwrap_err().to_string();
        assert!(e.contains(message), "{e}");
    }

    #[test]
    fn parses_device_targets() {
        assert_eq!(DeviceChoice::parse("sim"), Ok(DeviceChoice::sim()));
        assert!(matches!(
            DeviceChoice::parse("listen:127.0.0.1:9000"),
            Ok(DeviceChoice::Listen { .. })
        ));
        assert_eq!(
            DeviceChoice::parse("exec:./fw --url {url}"),
            Ok(DeviceChoice::Exec {
                command: "./fw --url {url}".into()
            })
        );
        assert!(matches!(
            DeviceChoice::parse("sim:fault=nonsense"),
            Err(DeviceChoiceError::Fault { .. })
        ));
        assert!(matches!(
            DeviceChoice::parse("listen:nowhere"),
            Err(DeviceChoiceError::Addr(_))
        ));
        assert_eq!(
            DeviceChoice::parse("exec:  "),
            Err(DeviceChoiceError::EmptyCommand)
        );
        assert!(matches!(
            DeviceChoice::parse("qemu"),
            Err(DeviceChoiceError::Unknown(_))
        ));
    }
}
