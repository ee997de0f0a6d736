//! A real cloud endpoint (a cloud, a staging proxy, the standalone mock) at a `ws://` or
//! `wss://` URL: probed once per run for harness control, shared by every scenario.

use crate::engine::target::{
    Answer, CloudAction, CloudCapabilities, CloudControl, CloudLink, CloudTarget, TargetError,
};
use crate::profile::fleet::Fleet;
use crate::profile::{CloudTimings, Secret};
use crate::targets::mock::{
    control_proof, ControlRequest, CONTROL_CHALLENGE_HEADER, CONTROL_PATH, CONTROL_PROOF_HEADER,
    CONTROL_REFUSED_HEADER,
};
use crate::wire::transport::{self, BoxIo, Endpoint, TransportError, WsStream};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;

/// How long the once-a-run control probe waits. A real cloud has no control plane and may
/// accept the probe's link and then say nothing; a mock answers at once on loopback or a
/// LAN, so the probe costs a real cloud this much, once.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a control request to a cloud that answered the probe may take.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// A URL as a cloud target; what the probe found is kept for the run.
pub struct RemoteTarget {
    url: String,
    insecure: bool,
    /// The standalone mock's control token, when the run has one.
    control_token: Option<Secret>,
    /// What a real cloud is expected to do (a standalone mock reports its own).
    fallback: CloudTimings,
    probed: Mutex<Option<Arc<RemoteCloud>>>,
}

impl RemoteTarget {
    pub fn new(url: impl Into<String>, insecure: bool, fallback: CloudTimings) -> RemoteTarget {
        RemoteTarget {
            url: url.into(),
            insecure,
            control_token: None,
            fallback,
            probed: Mutex::new(None),
        }
    }

    /// The token to present to a standalone mock's control plane.
    pub fn with_control_token(mut self, token: Option<Secret>) -> RemoteTarget {
        self.control_token = token;
        self
    }

    fn probed(&self) -> Option<Arc<RemoteCloud>> {
        self.probed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl CloudTarget for RemoteTarget {
    fn describe(&self) -> String {
        self.url.clone()
    }

    fn prepare(&self) -> BoxFuture<'_, Result<(), TargetError>> {
        Box::pin(async move {
            let remote = RemoteCloud::probe(
                &self.url,
                self.insecure,
                self.control_token.clone(),
                self.fallback,
            )
            .await?;
            *self.probed.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(remote));
            Ok(())
        })
    }

    fn capabilities(&self) -> CloudCapabilities {
        capabilities(self.probed().as_deref())
    }

    fn settings(&self) -> crate::profile::CloudSettings {
        crate::profile::CloudSettings::new(
            self.probed().map(|r| r.settings).unwrap_or(self.fallback),
        )
    }

    fn reference(&self) -> bool {
        false
    }

    fn open<'a>(
        &'a self,
        slot: u8,
        fleet: Fleet,
        _start_unix: u64,
        sources: &'a [Ipv4Addr],
    ) -> BoxFuture<'a, Result<Box<dyn CloudLink>, TargetError>> {
        Box::pin(async move {
            let remote = self
                .probed()
                .ok_or_else(|| TargetError::failed("the cloud target was not probed"))?;
            let link = RemoteLink { remote, slot };
            if link.remote.control {
                // A long-lived standalone mock may remember an earlier run: start clean,
                // and make sure it knows the identities the harness signs with.
                let sns = fleet
                    .devices
                    .iter()
                    .map(|d| d.identity.sn.clone())
                    .collect();
                let ips = sources
                    .iter()
                    .map(|ip| link.source_ip(*ip).to_string())
                    .collect();
                let answer = link
                    .remote
                    .control(&ControlRequest::Forget { sns, ips })
                    .await
                    .map_err(TargetError::from)?;
                if let Some(unknown) = answer
                    .get("unknown_sns")
                    .and_then(|u| u.as_array())
                    .filter(|u| !u.is_empty())
                {
                    return Err(TargetError::failed(format!(
                        "the mock does not know SN {}: give the mock and the run the same --device/--identity or --devices-file",
                        unknown.iter().filter_map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
            }
            Ok(Box::new(link) as Box<dyn CloudLink>)
        })
    }
}

/// A real endpoint (a cloud, a staging proxy, the standalone mock).
struct RemoteCloud {
    endpoint: Endpoint,
    addr: SocketAddr,
    connector: Option<Connector>,
    /// Whether the endpoint answered the harness control protocol (it is the standalone mock).
    control: bool,
    control_token: Option<Secret>,
    /// The endpoint proved it is a mock holding `control_token` (it answered a challenge with
    /// [`control_proof`]): only then is the token sent. A cloud under test never sees it.
    token_proven: bool,
    settings: CloudTimings,
}

impl RemoteCloud {
    /// Resolves the endpoint and asks once whether it accepts harness control; a mock
    /// answers with its settings, a real cloud does not, and the run goes on without control.
    async fn probe(
        url: &str,
        insecure: bool,
        control_token: Option<Secret>,
        fallback: CloudTimings,
    ) -> Result<RemoteCloud, TargetError> {
        let endpoint = Endpoint::parse(url)?;
        let addr = endpoint.resolve().await?;
        let connector = insecure.then(transport::insecure_connector);
        let mut remote = RemoteCloud {
            endpoint,
            addr,
            connector,
            control: false,
            control_token,
            token_proven: false,
            settings: fallback,
        };
        // First without the token, with a fresh challenge: a mock that needs its token
        // refuses and proves it holds the same one; any other endpoint never gets it.
        let challenge = hex::encode(rand::random::<[u8; 16]>());
        let mut hello = remote
            .control_within(&ControlRequest::Hello, PROBE_TIMEOUT, Some(&challenge))
            .await;
        // A standalone mock that wants its token says so; running on without control would
        // skip every binding scenario for a reason the user can fix in a second.
        if let Err(ControlFailure::Refused {
            status: 401,
            ours: true,
            proof,
        }) = &hello
        {
            let Some(token) = &remote.control_token else {
                return Err(TargetError::failed("the mock's control plane needs its token: give it with HWCONFORM_CONTROL_TOKEN (or --control-token); `hwconform mock` prints it at start"));
            };
            if proof.as_deref() != Some(control_proof(token.expose(), &challenge).as_str()) {
                return Err(TargetError::failed("the endpoint asks for a control token but did not prove it holds this one, so the token was not sent: give the token the mock printed (or was started with)"));
            }
            remote.token_proven = true;
            hello = remote
                .control_within(&ControlRequest::Hello, PROBE_TIMEOUT, None)
                .await;
        }
        if let Ok(hello) = hello {
            remote.control = true;
            let secs = |k: &str| {
                hello
                    .get(k)
                    .and_then(Value::as_u64)
                    .map(Duration::from_secs)
            };
            // The mock knows its own settings exactly.
            let expiry = secs("heartbeat_timeout_s");
            remote.settings = CloudTimings {
                heartbeat_timeout: expiry.unwrap_or(fallback.heartbeat_timeout),
                heartbeat_timeout_min: expiry.map_or(fallback.heartbeat_timeout_min, |_| None),
                subscribe_window: secs("subscribe_window_s").unwrap_or(fallback.subscribe_window),
                subscribe_limit: hello
                    .get("subscribe_limit")
                    .and_then(Value::as_u64)
                    .map(|n| n as usize)
                    .unwrap_or(fallback.subscribe_limit),
                max_frame_bytes: hello
                    .get("max_frame_bytes")
                    .and_then(Value::as_u64)
                    .map(|n| n as usize)
                    .or(fallback.max_frame_bytes),
                visitor_list: Some(true),
            };
        }
        Ok(remote)
    }

    fn loopback(&self) -> bool {
        self.addr.ip().is_loopback()
    }

    async fn open(&self, url: &str, local: Option<IpAddr>) -> Result<WsStream, TransportError> {
        self.open_with(url, local, &[]).await
    }

    async fn open_with(
        &self,
        url: &str,
        local: Option<IpAddr>,
        headers: &[(&'static str, String)],
    ) -> Result<WsStream, TransportError> {
        let tcp = transport::tcp(self.addr, local).await?;
        let io: BoxIo = Box::new(tcp);
        transport::handshake_with_headers(url, headers, io, self.connector.clone()).await
    }

    /// One control request over its own short-lived connection, bounded by
    /// [`CONTROL_TIMEOUT`].
    async fn control(&self, req: &ControlRequest) -> Result<Value, ControlFailure> {
        self.control_within(req, CONTROL_TIMEOUT, None).await
    }

    /// A control request; with the token only when the endpoint proved to be the mock that
    /// holds it, with `challenge` when one is given.
    async fn control_within(
        &self,
        req: &ControlRequest,
        bound: Duration,
        challenge: Option<&str>,
    ) -> Result<Value, ControlFailure> {
        let base = self.endpoint.url.trim_end_matches('/');
        let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
        let authority_end = base[scheme_end..]
            .find('/')
            .map(|i| i + scheme_end)
            .unwrap_or(base.len());
        let url = format!("{}{}", &base[..authority_end], CONTROL_PATH);
        let headers: Vec<(&'static str, String)> = self
            .control_token
            .iter()
            .filter(|_| self.token_proven)
            .map(|t| ("authorization", format!("Bearer {}", t.expose())))
            .chain(challenge.map(|c| (CONTROL_CHALLENGE_HEADER, c.to_string())))
            .collect();
        let attempt = async {
            let mut ws = match self.open_with(&url, None, &headers).await {
                Ok(ws) => ws,
                Err(e) => {
                    return Err(match e.refused(CONTROL_REFUSED_HEADER) {
                        Some((status, ours)) => ControlFailure::Refused {
                            status,
                            ours: ours.is_some(),
                            proof: e.refused(CONTROL_PROOF_HEADER).and_then(|(_, p)| p),
                        },
                        None => ControlFailure::Target(e.into()),
                    })
                }
            };
            let text = serde_json::to_string(req).map_err(|e| TargetError::Target(Box::new(e)))?;
            ws.send(Message::text(text))
                .await
                .map_err(|e| TargetError::Target(Box::new(e)))?;
            let answer = loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => break t.to_string(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => {
                        return Err(
                            TargetError::failed(format!("no control answer ({other:?})")).into(),
                        )
                    }
                }
            };
            let _ = ws.close(None).await;
            let v: Value = serde_json::from_str(&answer)
                .map_err(|e| TargetError::failed(format!("control answer is not JSON: {e}")))?;
            if v.get("ok") == Some(&Value::Bool(true)) {
                Ok(v)
            } else {
                Err(TargetError::failed(
                    v.get("error")
                        .and_then(Value::as_str)
                        .unwrap_or("control refused"),
                )
                .into())
            }
        };
        tokio::time::timeout(bound, attempt).await.map_err(|_| {
            ControlFailure::Target(TargetError::failed(format!(
                "the cloud did not answer the control request within {bound:?}"
            )))
        })?
    }
}

/// Why a control request failed: refused at the handshake (by the mock itself when `ours`,
/// with its `proof` of holding the token when it was challenged), or anything else.
#[derive(Debug)]
enum ControlFailure {
    Refused {
        status: u16,
        ours: bool,
        proof: Option<String>,
    },
    Target(TargetError),
}

impl From<TargetError> for ControlFailure {
    fn from(e: TargetError) -> ControlFailure {
        ControlFailure::Target(e)
    }
}

impl From<ControlFailure> for TargetError {
    fn from(e: ControlFailure) -> TargetError {
        match e {
            ControlFailure::Refused { status, .. } => TargetError::failed(format!(
                "the control plane refused the request (HTTP {status})"
            )),
            ControlFailure::Target(e) => e,
        }
    }
}

fn capabilities(remote: Option<&RemoteCloud>) -> CloudCapabilities {
    let control = remote.is_some_and(|r| r.control);
    CloudCapabilities {
        control,
        source_addresses: remote.is_some_and(|r| r.loopback()),
        strict_codes: control,
        ours: control,
        in_process: false,
        shared: true,
    }
}

/// The remote cloud of one scenario.
struct RemoteLink {
    remote: Arc<RemoteCloud>,
    slot: u8,
}

impl RemoteLink {
    /// The address the target will see for a scenario's `from`: the second octet becomes the
    /// scenario's slot, so scenarios running side by side never share one.
    fn source_ip(&self, from: Ipv4Addr) -> Ipv4Addr {
        let o = from.octets();
        Ipv4Addr::new(127, self.slot, o[2], o[3])
    }
}

impl CloudLink for RemoteLink {
    fn capabilities(&self) -> CloudCapabilities {
        capabilities(Some(&self.remote))
    }

    fn settings(&self) -> crate::profile::CloudSettings {
        crate::profile::CloudSettings::new(self.remote.settings)
    }

    fn connect(
        &mut self,
        from: Ipv4Addr,
    ) -> BoxFuture<'_, Result<(WsStream, String), TargetError>> {
        Box::pin(async move {
            let ip = self.source_ip(from);
            let local = self.remote.loopback().then_some(IpAddr::V4(ip));
            let ws = self.remote.open(&self.remote.endpoint.url, local).await?;
            let shown = local
                .map(|l| l.to_string())
                .unwrap_or_else(|| "the default route".into());
            Ok((ws, shown))
        })
    }

    fn control(&self, op: CloudControl) -> BoxFuture<'_, Result<Value, TargetError>> {
        Box::pin(async move {
            if !self.remote.control {
                return Err(TargetError::failed(
                    "the target does not accept harness control",
                ));
            }
            let req =
                super::mock_cloud::request(op).map_err(|e| TargetError::Target(Box::new(e)))?;
            Ok(self.remote.control(&req).await?)
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

    const TOKEN: &str = "the-control-token-0123456789";

    /// How a fake endpoint on loopback answers a request for the control path.
    #[derive(Clone, Copy, Debug)]
    enum Fake {
        /// A cloud with no such path.
        NotFound,
        /// A server that imitates the mock's refusal but cannot prove it holds the token.
        Imitates401,
        /// A server that accepts any control request and answers `ok` to it.
        AcceptsAnything,
    }

    /// Serves `fake` on loopback; every header of every handshake it sees, as `name: value`.
    async fn fake_endpoint(fake: Fake) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    #[allow(clippy::result_large_err)]
                    let callback = |req: &Request, resp: Response| {
                        let mut log = log.lock().unwrap();
                        for (k, v) in req.headers() {
                            log.push(format!("{k}: {}", v.to_str().unwrap_or("")));
                        }
                        let refuse = |status: u16, ours: bool| {
                            let mut r = ErrorResponse::new(None);
                            *r.status_mut() = status.try_into().unwrap();
                            if ours {
                                r.headers_mut()
                                    .insert(CONTROL_REFUSED_HEADER, "token".parse().unwrap());
                                r.headers_mut()
                                    .insert(CONTROL_PROOF_HEADER, "0".repeat(40).parse().unwrap());
                            }
                            Err(r)
                        };
                        match fake {
                            Fake::NotFound => refuse(404, false),
                            Fake::Imitates401 => refuse(401, true),
                            Fake::AcceptsAnything => Ok(resp),
                        }
                    };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(sock, callback).await
                    else {
                        return;
                    };
                    while let Some(Ok(m)) = ws.next().await {
                        if m.is_text() {
                            let _ = ws.send(Message::text(r#"{"ok":true}"#)).await;
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    /// Whatever a foreign endpoint answers, the run's control token never reaches it: not to
    /// a cloud without the path, not to one that imitates the mock's refusal, not to one
    /// that accepts control (the run then controls it without the token).
    #[tokio::test]
    async fn the_control_token_goes_to_no_endpoint_but_the_mock_holding_it() {
        for fake in [Fake::NotFound, Fake::Imitates401, Fake::AcceptsAnything] {
            let (url, seen) = fake_endpoint(fake).await;
            let probed =
                RemoteCloud::probe(&url, false, Some(Secret::new(TOKEN)), CloudTimings::FAQ).await;
            if let Ok(remote) = &probed {
                // Whatever control the run then asks for goes without the token too.
                let _ = remote
                    .control(&ControlRequest::Forget {
                        sns: vec![],
                        ips: vec![],
                    })
                    .await;
            }
            let seen = seen.lock().unwrap();
            assert!(!seen.is_empty(), "{fake:?}: the probe reached the endpoint");
            assert!(
                seen.iter().all(|h| !h.contains(TOKEN)),
                "{fake:?} received the token: {seen:?}"
            );
            match fake {
                Fake::Imitates401 => assert!(
                    probed
                        .as_ref()
                        .err()
                        .is_some_and(|e| e.to_string().contains("did not prove it holds this one")),
                    "{fake:?}: stops, saying why"
                ),
                _ => assert!(probed.is_ok(), "{fake:?}"),
            }
        }
    }

    /// The mock holding the token proves it and gets control; one holding another token
    /// cannot prove it, and never sees this one.
    #[tokio::test]
    async fn the_mock_holding_the_token_proves_it_and_gets_control() {
        for (mock_token, controls) in [(TOKEN, true), ("another-token-99999999", false)] {
            let config = crate::targets::mock::MockConfig {
                control_token: Some(Secret::new(mock_token)),
                ..Default::default()
            };
            let (addr, server) =
                crate::targets::mock::listen(config, "127.0.0.1:0".parse().unwrap())
                    .await
                    .unwrap();
            let probed = RemoteCloud::probe(
                &format!("ws://{addr}/"),
                false,
                Some(Secret::new(TOKEN)),
                CloudTimings::FAQ,
            )
            .await;
            server.abort();
            assert_eq!(
                probed.map(|r| r.control).ok(),
                controls.then_some(true),
                "mock token {mock_token}"
            );
        }
    }
}
