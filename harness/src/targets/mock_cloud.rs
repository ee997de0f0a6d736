//! The built-in mock as a cloud target: a fresh in-process instance per scenario, on the
//! scenario's paused clock, knowing exactly the scenario's devices.

use crate::engine::target::{
    Answer, CloudAction, CloudCapabilities, CloudControl, CloudLink, CloudTarget, TargetError,
};
use crate::profile::fleet::Fleet;
use crate::profile::CloudTimings;
use crate::targets::mock::corp::CorpSeed;
use crate::targets::mock::{
    ControlError, ControlRequest, MockCloud, MockConfig, MockRule, MockVariant,
};
use crate::wire::transport::{self, BoxIo, WsStream};
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The mock as a target: how each scenario's fresh instance is configured.
#[derive(Clone, Debug)]
pub struct MockCloudTarget {
    pub timings: CloudTimings,
    /// Test-only: rules switched off, to show the scenarios for them fail.
    pub disabled_rules: BTreeSet<MockRule>,
    /// Test-only: conformant choices other than the mock's own, to show no scenario fails them.
    pub variants: BTreeSet<MockVariant>,
    /// The corp each scenario's mock starts with (`--corp FILE`); the default corp when `None`.
    pub corp: Option<Arc<CorpSeed>>,
    /// Whether the harness may control it; `false` makes it a cloud as a lab meets one (no
    /// bind, no fault injection), to show what the library judges of such a cloud.
    pub control: bool,
    /// What the run is told of it, when not its exact settings: a cloud that states only the
    /// FAQ's ranges (`CloudTimings::FAQ`), to show windows composed from them hold for every
    /// expiry they allow. `None`: its own settings.
    pub stated: Option<CloudTimings>,
}

impl Default for MockCloudTarget {
    fn default() -> Self {
        MockCloudTarget {
            timings: CloudTimings::MOCK,
            disabled_rules: BTreeSet::new(),
            variants: BTreeSet::new(),
            corp: None,
            control: true,
            stated: None,
        }
    }
}

/// What the mock offers; without its control plane, everything but control.
const fn capabilities(control: bool) -> CloudCapabilities {
    CloudCapabilities {
        control,
        ..CAPABILITIES
    }
}

const CAPABILITIES: CloudCapabilities = CloudCapabilities {
    control: true,
    source_addresses: true,
    strict_codes: true,
    ours: true,
    in_process: true,
    shared: false,
};

/// The mock's control request for a protocol-neutral control operation.
pub(crate) fn request(op: CloudControl) -> Result<ControlRequest, ControlError> {
    Ok(match op {
        CloudControl::Bind { sn } => ControlRequest::Bind { sn },
        CloudControl::Unbind { sn } => ControlRequest::Unbind { sn },
        CloudControl::SwallowReply { sn, cmd } => ControlRequest::SwallowReply { sn, cmd },
        CloudControl::DelayReplies { sn, ms } => ControlRequest::DelayReplies { sn, ms },
        CloudControl::CloseLink { sn } => ControlRequest::CloseLink { sn },
        CloudControl::Request(v) => {
            serde_json::from_value(v).map_err(|e| ControlError::BadRequest(e.to_string()))?
        }
    })
}

impl CloudTarget for MockCloudTarget {
    fn describe(&self) -> String {
        let corp = self
            .corp
            .as_ref()
            .map(|c| format!(" serving corp {:?}", c.name))
            .unwrap_or_default();
        let corp = if self.control {
            corp
        } else {
            format!("{corp} without its control plane")
        };
        if self.disabled_rules.is_empty() {
            format!("the in-process mock cloud{corp}")
        } else {
            format!(
                "the in-process mock cloud{corp} with rules off: {}",
                self.disabled_rules
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }

    fn prepare(&self) -> BoxFuture<'_, Result<(), TargetError>> {
        Box::pin(async { Ok(()) })
    }

    fn capabilities(&self) -> CloudCapabilities {
        capabilities(self.control)
    }

    fn settings(&self) -> crate::profile::CloudSettings {
        crate::profile::CloudSettings::new(self.stated.unwrap_or(self.timings))
    }

    fn reference(&self) -> bool {
        self.disabled_rules.is_empty()
            && self.variants.is_empty()
            && self.timings == CloudTimings::MOCK
            && self.corp.is_none()
            && self.control
            && self.stated.is_none()
    }

    fn open<'a>(
        &'a self,
        _slot: u8,
        fleet: Fleet,
        start_unix: u64,
        _sources: &'a [Ipv4Addr],
    ) -> BoxFuture<'a, Result<Box<dyn CloudLink>, TargetError>> {
        let corp = self
            .corp
            .as_deref()
            .cloned()
            .unwrap_or_else(CorpSeed::default_corp);
        let config = MockConfig {
            fleet,
            timings: self.timings,
            start_unix,
            disabled_rules: self.disabled_rules.clone(),
            variants: self.variants.clone(),
            corp,
            ..MockConfig::default()
        };
        let link = MockLink {
            mock: MockCloud::new(config),
            settings: self.stated.unwrap_or(self.timings),
            next_port: 40000,
            control: self.control,
        };
        Box::pin(async move { Ok(Box::new(link) as Box<dyn CloudLink>) })
    }
}

/// One scenario's mock.
struct MockLink {
    mock: Arc<MockCloud>,
    settings: CloudTimings,
    next_port: u16,
    control: bool,
}

impl CloudLink for MockLink {
    fn capabilities(&self) -> CloudCapabilities {
        capabilities(self.control)
    }

    fn settings(&self) -> crate::profile::CloudSettings {
        crate::profile::CloudSettings::new(self.settings)
    }

    fn connect(
        &mut self,
        from: Ipv4Addr,
    ) -> BoxFuture<'_, Result<(WsStream, String), TargetError>> {
        Box::pin(async move {
            let (client, server) = tokio::io::duplex(256 * 1024);
            let peer = SocketAddr::new(IpAddr::V4(from), self.next_port);
            self.next_port = self.next_port.wrapping_add(1).max(40000);
            tokio::spawn(self.mock.clone().serve_connection(server, peer));
            let io: BoxIo = Box::new(client);
            let ws = transport::handshake("ws://mock.hwconform.invalid/", io, None).await?;
            Ok((ws, peer.to_string()))
        })
    }

    fn control(&self, op: CloudControl) -> BoxFuture<'_, Result<Value, TargetError>> {
        if !self.control {
            return Box::pin(async {
                Err(TargetError::failed(
                    "this mock was started without its control plane",
                ))
            });
        }
        let answer = request(op)
            .and_then(|r| self.mock.control(r))
            .map_err(|e| TargetError::Target(Box::new(e)));
        Box::pin(async move { answer })
    }
    fn act<'a>(
        &'a self,
        action: &'a CloudAction,
        sn: &'a str,
        sent: &mut dyn FnMut(&Value),
    ) -> BoxFuture<'a, Result<Answer, TargetError>> {
        super::mock::act::perform(action, sn, sent, |op| self.control(op))
    }
}
