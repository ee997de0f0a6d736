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
use crate::profile::CloudTimings;
use exec::ExecTarget;
use listen::ListenTarget;
use mock_cloud::MockCloudTarget;
use remote::RemoteTarget;
use sim::SimFault;
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
    Url { url: String, insecure: bool },
}

impl CloudChoice {
    /// The target; a URL that does not report its timers is expected to keep `fallback`.
    pub fn build(&self, fallback: CloudTimings) -> Arc<dyn CloudTarget> {
        match self {
            CloudChoice::Mock(m) => Arc::new(m.clone()),
            CloudChoice::Url { url, insecure } => Arc::new(RemoteTarget::new(url.clone(), *insecure, fallback)),
        }
    }

    pub fn describe(&self) -> String {
        self.build(CloudTimings::FAQ).describe()
    }
}

/// The device target of a run, as chosen on the command line.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceChoice {
    /// The built-in reference device, in-process on the scenario's virtual clock.
    Sim { faults: BTreeSet<SimFault> },
    /// Wait for a real device to connect to ADDR; each scenario takes its next connection.
    Listen { addr: SocketAddr },
    /// Start `command` (through `sh -c`) for each scenario and stop it at the end.
    Exec { command: String },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DeviceChoiceError {
    #[error("unknown device target {0:?}: expected sim, sim:fault=NAME[,NAME...], listen:ADDR, exec:CMD or none")]
    Unknown(String),
    #[error("unknown sim fault {name:?}; known faults: {known}")]
    Fault { name: String, known: String },
    #[error("listen:{0} is not an address like 127.0.0.1:9000")]
    Addr(String),
    #[error("exec: needs a command")]
    EmptyCommand,
}

impl DeviceChoice {
    /// Parses `sim`, `sim:fault=a,b`, `listen:ADDR`, `exec:CMD`.
    pub fn parse(text: &str) -> Result<DeviceChoice, DeviceChoiceError> {
        if text == "sim" {
            return Ok(DeviceChoice::Sim { faults: BTreeSet::new() });
        }
        if let Some(list) = text.strip_prefix("sim:fault=") {
            let faults = list
                .split(',')
                .map(|n| {
                    SimFault::parse(n.trim()).ok_or_else(|| DeviceChoiceError::Fault {
                        name: n.to_string(),
                        known: SimFault::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "),
                    })
                })
                .collect::<Result<_, _>>()?;
            return Ok(DeviceChoice::Sim { faults });
        }
        if let Some(addr) = text.strip_prefix("listen:") {
            return addr.parse().map(|addr| DeviceChoice::Listen { addr }).map_err(|_| DeviceChoiceError::Addr(addr.into()));
        }
        if let Some(cmd) = text.strip_prefix("exec:") {
            if cmd.trim().is_empty() {
                return Err(DeviceChoiceError::EmptyCommand);
            }
            return Ok(DeviceChoice::Exec { command: cmd.to_string() });
        }
        Err(DeviceChoiceError::Unknown(text.to_string()))
    }

    pub fn build(&self) -> Arc<dyn DeviceTarget> {
        match self {
            DeviceChoice::Sim { faults } => Arc::new(SimDeviceTarget { faults: faults.clone() }),
            DeviceChoice::Listen { addr } => Arc::new(ListenTarget::new(*addr)),
            DeviceChoice::Exec { command } => Arc::new(ExecTarget { command: command.clone() }),
        }
    }

    pub fn describe(&self) -> String {
        self.build().describe()
    }
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
    RunConfig { cloud: Some(default_cloud()), device: Some(default_device()), ..RunConfig::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_targets() {
        assert_eq!(DeviceChoice::parse("sim"), Ok(DeviceChoice::Sim { faults: BTreeSet::new() }));
        assert!(matches!(DeviceChoice::parse("listen:127.0.0.1:9000"), Ok(DeviceChoice::Listen { .. })));
        assert_eq!(DeviceChoice::parse("exec:./fw --url {url}"), Ok(DeviceChoice::Exec { command: "./fw --url {url}".into() }));
        assert!(matches!(DeviceChoice::parse("sim:fault=nonsense"), Err(DeviceChoiceError::Fault { .. })));
        assert!(matches!(DeviceChoice::parse("listen:nowhere"), Err(DeviceChoiceError::Addr(_))));
        assert_eq!(DeviceChoice::parse("exec:  "), Err(DeviceChoiceError::EmptyCommand));
        assert!(matches!(DeviceChoice::parse("qemu"), Err(DeviceChoiceError::Unknown(_))));
    }
}
