//! One device connection through the observer: the device's handshake (TLS when the
//! observer has a certificate), the link to the upstream cloud, the two pumps and the
//! link's timers until it ends, and how each side is then let go.

use super::fault::Asked;
use super::link::{lock, Ctx, End, Link, Peer, View};
use super::pump::{pump, stopping, ticker, Sink, Source};
use super::results::results;
use crate::engine::clock::{wall_unix, ScenarioClock};
use crate::engine::monitor::Monitor;
use crate::engine::recorder::Recorder;
use crate::engine::transcript::{Party, TranscriptEvent};
use crate::engine::verdict::ScenarioResult;
use crate::wire::transport::{self, WsStream};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

/// Bound on the device's handshakes (TLS, WebSocket) and on dialling the upstream cloud.
pub(super) const HANDSHAKE_BOUND: Duration = Duration::from_secs(10);
/// Bound on each side's close handshake at the end.
const CLOSE_BOUND: Duration = Duration::from_secs(1);

/// Sends a close frame (bounded) and waits (bounded) for the echo.
async fn close(tx: &mut Sink, rx: &mut Source, frame: Option<CloseFrame>) {
    if let Some(frame) = frame {
        if tokio::time::timeout(CLOSE_BOUND, tx.send(Message::Close(Some(frame))))
            .await
            .is_err()
        {
            return;
        }
    }
    // A close received is answered by the WebSocket layer; flushing sends the answer.
    let _ = tokio::time::timeout(CLOSE_BOUND, tx.flush()).await;
    let _ = tokio::time::timeout(CLOSE_BOUND, async {
        while let Some(Ok(m)) = rx.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Drops a link with a TCP reset, as a broken network ends it.
fn reset(tx: Sink, rx: Source) {
    if let Ok(ws) = rx.reunite(tx) {
        if !transport::reset_on_drop(ws.get_ref()) {
            super::tls::reset_on_drop(ws.get_ref());
        }
    }
}

/// Serves one device connection until it ends or the observer stops; its two results.
pub(super) async fn relay(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    n: usize,
    ctx: Arc<Ctx>,
    stop: watch::Receiver<bool>,
) -> Vec<ScenarioResult> {
    let _ = tcp.set_nodelay(true);
    let local = tcp.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let wall = Instant::now();
    let handshake = async {
        let io: transport::BoxIo = match &ctx.tls {
            Some(tls) => tls.accept(tcp).await.map_err(|e| format!("TLS: {e}"))?,
            None => Box::new(tcp),
        };
        tokio_tungstenite::accept_async_with_config(
            MaybeTlsStream::Plain(io),
            Some(transport::ws_config()),
        )
        .await
        .map_err(|e| e.to_string())
    };
    let device_ws = match tokio::time::timeout(HANDSHAKE_BOUND, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            tracing::warn!(%peer, "a connection that is no WebSocket handshake: {e}");
            return Vec::new();
        }
        Err(_) => {
            tracing::warn!(%peer, "no WebSocket handshake within {HANDSHAKE_BOUND:?}");
            return Vec::new();
        }
    };
    relay_ws(device_ws, peer.to_string(), local, n, ctx, stop, wall).await
}

/// [`relay`] for a device whose WebSocket handshake is done (an observer scenario takes its
/// device's connections from a device target).
pub(super) async fn relay_ws(
    device_ws: WsStream,
    peer: String,
    local: String,
    n: usize,
    ctx: Arc<Ctx>,
    stop: watch::Receiver<bool>,
    wall: Instant,
) -> Vec<ScenarioResult> {
    let clock = ScenarioClock::start(wall_unix());
    let view = |judged: Peer| View {
        judged,
        rec: Recorder::new(clock, Vec::new(), ctx.profile.clone()).with_cap(ctx.transcript_cap),
        monitor: Mutex::new(match judged {
            // A real cloud may use codes the profile does not list.
            Peer::Cloud => Monitor::for_cloud(&*ctx.profile, false),
            Peer::Device => Monitor::for_device(&*ctx.profile, None),
        }),
        findings: Mutex::new(Vec::new()),
        swept: AtomicUsize::new(0),
        spoke: AtomicBool::new(false),
        judged_here: Mutex::new(Vec::new()),
    };
    let (end, _) = watch::channel(None);
    let moved = ctx.upstream.moved();
    let link = Link {
        n,
        conn: format!("link{n}"),
        ctx: ctx.clone(),
        device: view(Peer::Device),
        cloud: view(Peer::Cloud),
        sn: Mutex::new(None),
        asked_by_device: Mutex::new(Asked::default()),
        asked_by_cloud: Mutex::new(Asked::default()),
        faults: Mutex::new(ctx.faults.arm()),
        moved,
        open: AtomicBool::new(true),
        end,
        by_sn: std::sync::OnceLock::new(),
        capped: std::sync::OnceLock::new(),
    };
    link.device.rec.record(TranscriptEvent::Opened {
        waited: None,
        conn: link.conn.clone(),
        local,
    });
    link.note(&format!("device connected from {peer}"));
    let cloud_ws = match tokio::time::timeout(HANDSHAKE_BOUND, ctx.upstream.dial()).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(why)) => return unreachable_upstream(link, device_ws, why, wall).await,
        Err(_) => {
            let why = format!("no answer within {} s", HANDSHAKE_BOUND.as_secs());
            return unreachable_upstream(link, device_ws, why, wall).await;
        }
    };
    let upstream_local = match cloud_ws.get_ref() {
        MaybeTlsStream::Plain(io) => io
            .as_any()
            .downcast_ref::<tokio::net::TcpStream>()
            .and_then(|t| t.local_addr().ok()),
        MaybeTlsStream::Rustls(tls) => tls
            .get_ref()
            .0
            .as_any()
            .downcast_ref::<tokio::net::TcpStream>()
            .and_then(|t| t.local_addr().ok()),
        _ => None,
    };
    link.cloud.rec.record(TranscriptEvent::Opened {
        waited: None,
        conn: link.conn.clone(),
        local: upstream_local.map(|a| a.to_string()).unwrap_or_default(),
    });
    let (mut dtx, mut drx) = device_ws.split();
    let (mut ctx_, mut crx) = cloud_ws.split();
    tokio::join!(
        pump(&link, Peer::Device, &mut drx, &mut ctx_),
        pump(&link, Peer::Cloud, &mut crx, &mut dtx),
        ticker(&link),
        stopping(&link, stop),
    );
    let how = link.end.borrow().clone().unwrap_or(End::Shutdown);
    match how {
        End::Shutdown => {
            let reason = "observe stopping";
            for p in [Peer::Device, Peer::Cloud] {
                link.record_closed(p, Party::Harness, Some(1001), reason);
            }
            let frame = || {
                Some(CloseFrame {
                    code: CloseCode::Away,
                    reason: reason.into(),
                })
            };
            tokio::join!(
                close(&mut dtx, &mut drx, frame()),
                close(&mut ctx_, &mut crx, frame())
            );
        }
        End::Closed => {
            tokio::join!(
                close(&mut dtx, &mut drx, None),
                close(&mut ctx_, &mut crx, None)
            );
        }
        End::Broken(p, why) => {
            link.record_closed(p, Party::Target, None, &why);
            link.record_closed(
                p.other(),
                Party::Harness,
                None,
                &format!("observe reset this link: the {} {why}", p.name()),
            );
            reset(dtx, drx);
            reset(ctx_, crx);
        }
        End::NewAddress(spec) => {
            link.record_closed(
                Peer::Device,
                Party::Harness,
                None,
                &format!("observe fault {spec}: the device's network went away (reset)"),
            );
            link.note(&format!(
                "observe fault {spec}: the link to the cloud is kept open and silent"
            ));
            reset(dtx, drx);
            let sn = lock(&link.sn).clone();
            if let Ok(ws) = crx.reunite(ctx_) {
                ctx.upstream.hold(ws, sn);
            }
        }
        End::Reset(spec) => {
            for p in [Peer::Device, Peer::Cloud] {
                link.record_closed(
                    p,
                    Party::Harness,
                    None,
                    &format!("observe fault {spec}: reset"),
                );
            }
            reset(dtx, drx);
            reset(ctx_, crx);
        }
    }
    link.open.store(false, Ordering::SeqCst);
    results(&link, wall, None)
}

/// The upstream cloud could not be reached: the device is told (1011) and neither party is
/// judged — a link the observer could not make proves nothing about either.
async fn unreachable_upstream(
    link: Link,
    device_ws: WsStream,
    why: String,
    wall: Instant,
) -> Vec<ScenarioResult> {
    let why = format!(
        "cannot reach the upstream cloud {}: {why}",
        link.ctx.upstream.endpoint.url
    );
    tracing::warn!("{why}");
    link.note(&why);
    link.record_closed(
        Peer::Device,
        Party::Harness,
        Some(1011),
        "upstream unreachable",
    );
    let (mut tx, mut rx) = device_ws.split();
    close(
        &mut tx,
        &mut rx,
        Some(CloseFrame {
            code: CloseCode::Error,
            reason: "upstream unreachable".into(),
        }),
    )
    .await;
    link.open.store(false, Ordering::SeqCst);
    results(&link, wall, Some(why))
}
