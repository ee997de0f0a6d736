//! The cloud a device-role session talks to: the in-process mock (a fresh one per scenario,
//! on the scenario's paused clock) or a real endpoint over TCP/TLS.

use crate::wire::transport::{self, BoxIo, Endpoint, TransportError, WsStream};
use crate::profile::fleet::Fleet;
use crate::profile::CloudTimings;
use crate::targets::mock::{ControlRequest, MockCloud, MockConfig, MockRule, CONTROL_PATH};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;

/// The mock as a target: how each scenario's fresh instance is configured.
#[derive(Clone, Debug)]
pub struct MockTarget {
    pub timings: CloudTimings,
    /// Test-only: rules switched off, to show the scenarios for them fail.
    pub disabled_rules: BTreeSet<MockRule>,
}

impl Default for MockTarget {
    fn default() -> Self {
        MockTarget { timings: CloudTimings::MOCK, disabled_rules: BTreeSet::new() }
    }
}

/// A real endpoint (a cloud, a staging proxy, the standalone mock).
pub struct RemoteCloud {
    pub endpoint: Endpoint,
    pub addr: SocketAddr,
    pub connector: Option<Connector>,
    /// Whether the endpoint answered the harness control protocol (it is the standalone mock).
    pub control: bool,
    pub settings: CloudTimings,
}

impl RemoteCloud {
    /// Resolves the endpoint and asks once whether it accepts harness control; a mock
    /// answers with its settings, a real cloud does not, and the run goes on without control.
    pub async fn probe(url: &str, insecure: bool, fallback: CloudTimings) -> Result<RemoteCloud, TransportError> {
        let endpoint = Endpoint::parse(url)?;
        let addr = endpoint.resolve().await?;
        let connector = insecure.then(transport::insecure_connector);
        let mut remote = RemoteCloud { endpoint, addr, connector, control: false, settings: fallback };
        if let Ok(hello) = remote.control(&ControlRequest::Hello).await {
            remote.control = true;
            let secs = |k: &str| hello.get(k).and_then(Value::as_u64).map(Duration::from_secs);
            remote.settings = CloudTimings {
                heartbeat_timeout: secs("heartbeat_timeout_s").unwrap_or(fallback.heartbeat_timeout),
                subscribe_window: secs("subscribe_window_s").unwrap_or(fallback.subscribe_window),
                subscribe_limit: hello.get("subscribe_limit").and_then(Value::as_u64).map(|n| n as usize).unwrap_or(fallback.subscribe_limit),
            };
        }
        Ok(remote)
    }

    fn loopback(&self) -> bool {
        self.addr.ip().is_loopback()
    }

    async fn open(&self, url: &str, local: Option<IpAddr>) -> Result<WsStream, TransportError> {
        let tcp = transport::tcp(self.addr, local).await?;
        let io: BoxIo = Box::new(tcp);
        transport::handshake(url, io, self.connector.clone()).await
    }

    /// One control request over its own short-lived connection, bounded by 5 s.
    pub async fn control(&self, req: &ControlRequest) -> Result<Value, String> {
        let base = self.endpoint.url.trim_end_matches('/');
        let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
        let authority_end = base[scheme_end..].find('/').map(|i| i + scheme_end).unwrap_or(base.len());
        let url = format!("{}{}", &base[..authority_end], CONTROL_PATH);
        let attempt = async {
            let mut ws = self.open(&url, None).await.map_err(|e| e.to_string())?;
            let text = serde_json::to_string(req).map_err(|e| e.to_string())?;
            ws.send(Message::text(text)).await.map_err(|e| e.to_string())?;
            let answer = loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => break t.to_string(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => return Err(format!("no control answer ({other:?})")),
                }
            };
            let _ = ws.close(None).await;
            let v: Value = serde_json::from_str(&answer).map_err(|e| format!("control answer is not JSON: {e}"))?;
            if v.get("ok") == Some(&Value::Bool(true)) {
                Ok(v)
            } else {
                Err(v.get("error").and_then(Value::as_str).unwrap_or("control refused").to_string())
            }
        };
        tokio::time::timeout(Duration::from_secs(5), attempt).await.map_err(|_| "control request timed out".to_string())?
    }
}

/// The cloud of one session.
pub enum TargetCloud {
    InProcess { mock: Arc<MockCloud>, settings: CloudTimings, next_port: u16 },
    Remote { remote: Arc<RemoteCloud>, slot: u8 },
}

impl TargetCloud {
    /// A fresh in-process mock knowing `fleet`, on the current (paused) clock.
    pub fn in_process(target: &MockTarget, fleet: Fleet, start_unix: u64) -> TargetCloud {
        let config = MockConfig { fleet, timings: target.timings, start_unix, disabled_rules: target.disabled_rules.clone(), ..MockConfig::default() };
        TargetCloud::InProcess { mock: MockCloud::new(config), settings: target.timings, next_port: 40000 }
    }

    pub fn settings(&self) -> CloudTimings {
        match self {
            TargetCloud::InProcess { settings, .. } => *settings,
            TargetCloud::Remote { remote, .. } => remote.settings,
        }
    }

    /// Whether error codes outside the catalog break the profile's reply rules: true for the mock, which defines
    /// every code it uses; a real cloud may use undocumented ones.
    pub fn strict_codes(&self) -> bool {
        self.has_control()
    }

    pub fn has_control(&self) -> bool {
        match self {
            TargetCloud::InProcess { .. } => true,
            TargetCloud::Remote { remote, .. } => remote.control,
        }
    }

    /// Whether scenarios can choose their source address (in-process, or a loopback target).
    pub fn source_addresses(&self) -> bool {
        match self {
            TargetCloud::InProcess { .. } => true,
            TargetCloud::Remote { remote, .. } => remote.loopback(),
        }
    }

    /// The address the target will see for a scenario's `from`. Over real sockets the second
    /// octet becomes the scenario's slot, so scenarios running side by side never share one.
    pub fn source_ip(&self, from: Ipv4Addr) -> Ipv4Addr {
        match self {
            TargetCloud::InProcess { .. } => from,
            TargetCloud::Remote { slot, .. } => {
                let o = from.octets();
                Ipv4Addr::new(127, *slot, o[2], o[3])
            }
        }
    }

    /// Opens a WebSocket from `from`; returns it and the local address as the target sees it.
    pub async fn connect(&mut self, from: Ipv4Addr) -> Result<(WsStream, String), TransportError> {
        let ip = self.source_ip(from);
        match self {
            TargetCloud::InProcess { mock, next_port, .. } => {
                let (client, server) = tokio::io::duplex(256 * 1024);
                let peer = SocketAddr::new(IpAddr::V4(ip), *next_port);
                *next_port = next_port.wrapping_add(1).max(40000);
                tokio::spawn(mock.clone().serve_connection(server, peer));
                let io: BoxIo = Box::new(client);
                let ws = transport::handshake("ws://mock.hwconform.invalid/", io, None).await?;
                Ok((ws, peer.to_string()))
            }
            TargetCloud::Remote { remote, .. } => {
                let local = remote.loopback().then_some(IpAddr::V4(ip));
                let ws = remote.open(&remote.endpoint.url, local).await?;
                let shown = local.map(|l| l.to_string()).unwrap_or_else(|| "the default route".into());
                Ok((ws, shown))
            }
        }
    }

    pub async fn control(&self, req: ControlRequest) -> Result<Value, String> {
        match self {
            TargetCloud::InProcess { mock, .. } => mock.control(req).map_err(|e| e.to_string()),
            TargetCloud::Remote { remote, .. } => {
                if !remote.control {
                    return Err("the target does not accept harness control".into());
                }
                remote.control(&req).await
            }
        }
    }
}
