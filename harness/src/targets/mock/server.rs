//! WebSocket serving: the handshake, routing to the device or control protocol, the
//! per-connection loop (heartbeat expiry, kicks, pushes, delayed replies) and [`listen`].
//!
//! Every wait is bounded by tokio time (handshake, writes, heartbeat), so a paused test
//! clock makes a 90 s expiry instantaneous and deterministic.

use super::config::{MockConfig, MockRule};
use super::device::{Conn, Response};
use super::registry::LinkCommand;
use super::{MockCloud, CLOSE_HEARTBEAT, CONTROL_PATH, CONTROL_REFUSED_HEADER};
use crate::profile::identity::Secret;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as HttpRequest, Response as HttpResponse,
};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// Longest wait for a client to finish the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for one frame to be written (a client that stops reading is dropped).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Close code for frames above `max_frame_bytes` (RFC 6455 "message too big").
const CLOSE_TOO_BIG: u16 = 1009;
/// Close code for a text frame that is not UTF-8 (RFC 6455 "invalid frame payload data").
const CLOSE_NOT_UTF8: u16 = 1007;
/// Close code for a WebSocket protocol violation.
const CLOSE_PROTOCOL: u16 = 1002;
/// Close code when a link holds back more replies than [`MAX_HELD_FRAMES`] (RFC 6455: policy).
const CLOSE_POLICY: u16 = 1008;
/// Replies one link may hold back under `delay_replies` before it is closed.
pub const MAX_HELD_FRAMES: usize = 256;

/// `t + d`, saturating far in the future instead of panicking on absurd durations.
pub(super) fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .unwrap_or_else(|| t + Duration::from_secs(30 * 365 * 86_400))
}

impl MockCloud {
    /// Serves one raw byte stream (TCP or `tokio::io::duplex`): does the WebSocket server
    /// handshake, routes [`CONTROL_PATH`] to the control protocol and every other path to
    /// the device protocol. `peer` is the device's address as the cloud sees it. Returns
    /// when the connection is over. Never panics on any input.
    pub async fn serve_connection<S>(self: Arc<Self>, stream: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let max = self.config.max_frame_bytes;
        // A reply can echo a request's req_id, so it is at most about as large as a request.
        let ws_config = crate::wire::transport::ws_config_for(max, 2 * max);
        let mut path = String::new();
        let control = self.config.control;
        let token = self.config.control_token.clone();
        // The handshake's own error type is tungstenite's, large or not.
        #[allow(clippy::result_large_err)]
        let callback =
            |req: &HttpRequest, resp: HttpResponse| -> Result<HttpResponse, ErrorResponse> {
                path = req.uri().path().to_string();
                if path == CONTROL_PATH {
                    control_allowed(req, control, token.as_ref())?;
                }
                Ok(resp)
            };
        let handshake =
            tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config));
        let ws = match timeout(HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                tracing::info!(%peer, error = %e, "websocket handshake failed");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, "websocket handshake timed out");
                return;
            }
        };
        if path == CONTROL_PATH {
            self.serve_control(ws, peer).await;
        } else {
            self.serve_device(ws, peer).await;
        }
    }

    /// Binds `addr` and serves every accepted socket with this cloud; see [`listen`].
    pub async fn listen(
        self: &Arc<Self>,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        self.listen_shared(addr, false).await
    }

    /// [`MockCloud::listen`], sharing the port with other processes when `shared`
    /// (`SO_REUSEPORT`: `mock --workers N`).
    pub async fn listen_shared(
        self: &Arc<Self>,
        addr: SocketAddr,
        shared: bool,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = crate::wire::transport::listen_tcp_shared(addr, shared)?;
        let local = listener.local_addr()?;
        tracing::debug!(addr = %local, "mock cloud listening");
        let cloud = Arc::clone(self);
        let handle = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((sock, peer)) => {
                        let _ = sock.set_nodelay(true);
                        // Each connection in its own task: one misbehaving never stops the others.
                        tokio::spawn(Arc::clone(&cloud).serve_connection(sock, peer));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        Ok((local, handle))
    }

    async fn serve_device<S>(self: Arc<Self>, mut ws: WebSocketStream<S>, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (tx, mut rx) = tokio::sync::mpsc::channel(super::LINK_COMMANDS);
        let mut conn = Conn::new(self.conn_id(), peer.ip(), tx);
        tracing::info!(conn = conn.id, %peer, "device connected");
        let heartbeat = self.config.timings.heartbeat_timeout;
        let expires = self.config.enforces(MockRule::NoHeartbeatExpiry);
        let mut last_inbound = Instant::now();
        // Replies waiting for their (fault-injected) delay, in send order.
        let mut queue: VecDeque<(Instant, Value)> = VecDeque::new();
        let reason: String = loop {
            let deadline = later(last_inbound, heartbeat);
            let next_due = queue.front().map(|(due, _)| *due);
            tokio::select! {
                biased;
                cmd = rx.recv() => match cmd {
                    Some(LinkCommand::Push(frame)) => {
                        conn.sent_push(&frame);
                        if let Err(e) = send(&mut ws, conn.id, &self, &frame).await {
                            break e.to_string();
                        }
                    }
                    Some(LinkCommand::Close { code, reason }) => {
                        close(&mut ws, code, reason).await;
                        break format!("closed by the cloud: {reason}");
                    }
                    None => break "link channel closed".into(),
                },
                _ = sleep_until(next_due.unwrap_or(deadline)), if next_due.is_some() => {
                    let now = Instant::now();
                    let mut failed = None;
                    while queue.front().is_some_and(|(due, _)| *due <= now) {
                        let Some((_, frame)) = queue.pop_front() else { break };
                        if let Err(e) = send(&mut ws, conn.id, &self, &frame).await {
                            failed = Some(e.to_string());
                            break;
                        }
                    }
                    if let Some(e) = failed {
                        break e;
                    }
                }
                msg = ws.next() => match msg {
                    None => break "device closed the connection".into(),
                    Some(Err(WsError::Capacity(e))) => {
                        close(&mut ws, CLOSE_TOO_BIG, "message too big").await;
                        break format!("frame too big: {e}");
                    }
                    Some(Err(WsError::Utf8(e))) => {
                        close(&mut ws, CLOSE_NOT_UTF8, "text frame is not utf-8").await;
                        break format!("text frame is not UTF-8: {e}");
                    }
                    Some(Err(WsError::Protocol(e))) => {
                        close(&mut ws, CLOSE_PROTOCOL, "websocket protocol error").await;
                        break format!("websocket protocol error: {e}");
                    }
                    Some(Err(e)) => break format!("websocket error: {e}"),
                    Some(Ok(msg)) => {
                        // Any inbound frame is traffic (C8), pings and pongs included.
                        last_inbound = Instant::now();
                        let response = match msg {
                            Message::Text(text) => self.on_text(&mut conn, text.as_str()),
                            Message::Binary(bytes) => self.on_binary(&mut conn, &bytes),
                            _ => Response::default(),
                        };
                        let Response { mut frames, delay } = response;
                        if !self.config.enforces(MockRule::OneReplyPerRequest) {
                            frames = frames.into_iter().flat_map(|f| if f.get("cmd").is_none() { vec![f.clone(), f] } else { vec![f] }).collect();
                        }
                        let mut failed = None;
                        for frame in frames {
                            if frame.get("cmd").and_then(Value::as_str).is_some_and(|c| c.starts_with("push_")) {
                                conn.sent_push(&frame);
                            }
                            if delay.is_zero() && queue.is_empty() {
                                if let Err(e) = send(&mut ws, conn.id, &self, &frame).await {
                                    failed = Some(e.to_string());
                                    break;
                                }
                            } else if queue.len() >= MAX_HELD_FRAMES {
                                // Held replies are bounded in time (the delay is at most the
                                // heartbeat timeout) and in number: past this the link goes.
                                close(&mut ws, CLOSE_POLICY, "too many replies held back").await;
                                failed = Some(format!("more than {MAX_HELD_FRAMES} replies held back by delay_replies"));
                                break;
                            } else {
                                let due = later(last_inbound, delay).max(queue.back().map_or(last_inbound, |(d, _)| *d));
                                queue.push_back((due, frame));
                            }
                        }
                        if let Some(e) = failed {
                            break e;
                        }
                    }
                },
                _ = sleep_until(deadline), if expires => {
                    close(&mut ws, CLOSE_HEARTBEAT.0, CLOSE_HEARTBEAT.1).await;
                    break format!("no inbound frame for {}s", heartbeat.as_secs());
                }
            }
        };
        if let Some(sn) = &conn.sn {
            self.shared().registry.release(sn, conn.id);
        }
        tracing::info!(conn = conn.id, %peer, sn = conn.sn.as_deref().unwrap_or("-"), %reason, "device connection over");
    }

    async fn serve_control<S>(self: Arc<Self>, mut ws: WebSocketStream<S>, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        tracing::info!(%peer, "control connected");
        while let Some(msg) = ws.next().await {
            let answer = match msg {
                Ok(Message::Text(text)) => self.control_text(text.as_str()),
                Ok(Message::Binary(_)) => {
                    json!({"ok": false, "error": "control frames are JSON text"})
                }
                Ok(_) => continue,
                Err(WsError::Capacity(_)) => {
                    close(&mut ws, CLOSE_TOO_BIG, "message too big").await;
                    break;
                }
                Err(e) => {
                    tracing::info!(%peer, error = %e, "control connection error");
                    break;
                }
            };
            if send(&mut ws, 0, &self, &answer).await.is_err() {
                break;
            }
        }
        tracing::info!(%peer, "control connection over");
    }
}

/// Whether a handshake on the control path may proceed: the control plane is on, the request
/// does not come from a web page (any `Origin`: a browser on this host must not steer the
/// mock), and it presents the token.
#[allow(clippy::result_large_err)]
fn control_allowed(
    req: &HttpRequest,
    control: bool,
    token: Option<&Secret>,
) -> Result<(), ErrorResponse> {
    use tokio_tungstenite::tungstenite::http::StatusCode;
    let refuse = |status: StatusCode, why: &'static str| {
        let mut refused = ErrorResponse::new(Some(why.into()));
        *refused.status_mut() = status;
        if let Ok(v) = why.parse() {
            refused.headers_mut().insert(CONTROL_REFUSED_HEADER, v);
        }
        Err(refused)
    };
    if !control {
        return refuse(StatusCode::NOT_FOUND, "no control plane on this cloud");
    }
    if req.headers().contains_key("origin") {
        return refuse(StatusCode::FORBIDDEN, "control from a web page is refused");
    }
    let presented = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token {
        Some(t) if presented != Some(t.expose()) => {
            let mut refused = refuse(StatusCode::UNAUTHORIZED, "control needs the mock's token");
            // Proves to the harness that this is the mock holding its token, so that it may
            // send the token (it sends it nowhere else).
            let challenge = req
                .headers()
                .get(super::CONTROL_CHALLENGE_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|c| !c.is_empty() && c.len() <= super::MAX_CHALLENGE);
            if let (Some(c), Err(r)) = (challenge, refused.as_mut()) {
                if let Ok(v) = super::control_proof(t.expose(), c).parse() {
                    r.headers_mut().insert(super::CONTROL_PROOF_HEADER, v);
                }
            }
            refused
        }
        _ => Ok(()),
    }
}

/// Binds TCP on `addr` and serves each accepted socket with a new mock cloud
/// ([`MockCloud::serve_connection`], `peer` = the socket's real peer address). Keeps
/// serving if one connection misbehaves. Returns the bound address and the accept loop.
pub async fn listen(
    config: MockConfig,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    MockCloud::new(config).listen(addr).await
}

/// Why a frame could not be written. Its text is the connection's end reason, so it keeps the
/// cause in its own message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("write failed: {0}")]
    Write(#[source] WsError),
    #[error("write timed out")]
    TimedOut,
}

/// Sends `frame`; the debug log shows `shown` (the frame with every credential redacted).
async fn send<S>(
    ws: &mut WebSocketStream<S>,
    conn: u64,
    cloud: &MockCloud,
    frame: &Value,
) -> Result<(), SendError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Redacting costs a scan per known credential: only when the line is shown.
    tracing::debug!(conn, frame = %cloud.loggable(frame), "cloud frame");
    let msg = match super::device::binary_reply(frame) {
        Some(bytes) => Message::binary(bytes),
        None => Message::text(frame.to_string()),
    };
    match timeout(WRITE_TIMEOUT, ws.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SendError::Write(e)),
        Err(_) => Err(SendError::TimedOut),
    }
}

/// Sends a close frame (bounded); the caller then drops the connection.
async fn close<S>(ws: &mut WebSocketStream<S>, code: u16, reason: &'static str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let _ = timeout(WRITE_TIMEOUT, ws.send(Message::Close(Some(frame)))).await;
}
