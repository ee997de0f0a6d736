//! One device connection through the observer: the device's link and the link to the
//! upstream cloud, two pumps that forward each frame as it comes (one frame in flight per
//! direction: a party that stops reading holds the other back through TCP, nothing piles
//! up here), the faults of the run, and two views of the conversation — what the device
//! said and was told (judged by the device's monitors) and what the cloud said and was
//! told (judged by the cloud's). A frame a fault drops is in neither view as delivered.

use super::fault::{Action, Asked, Faults, FrameView, Toward};
use crate::engine::clock::{wall_unix, ScenarioClock};
use crate::engine::monitor::Monitor;
use crate::engine::recorder::Recorder;
use crate::engine::transcript::{Party, TranscriptEvent};
use crate::engine::verdict::{Failure, Finding, Judged, ScenarioResult, Verdict};
use crate::profile::Profile;
use crate::scenario::Role;
use crate::wire::transport::{self, Endpoint, WsStream};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

/// Bound on the device's WebSocket handshake and on dialling the upstream cloud.
const HANDSHAKE_BOUND: Duration = Duration::from_secs(10);
/// Bound on writing one frame: a party that reads nothing for this long has its link reset.
const WRITE_BOUND: Duration = Duration::from_secs(10);
/// Bound on each side's close handshake at the end.
const CLOSE_BOUND: Duration = Duration::from_secs(1);
/// How often time-based rules (heartbeat gaps, kicks) are looked at between frames.
const TICK: Duration = Duration::from_secs(1);

/// One of the two parties the observer stands between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Device,
    Cloud,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Device => "device",
            Peer::Cloud => "cloud",
        }
    }
    fn other(self) -> Peer {
        match self {
            Peer::Device => Peer::Cloud,
            Peer::Cloud => Peer::Device,
        }
    }
    /// Where a frame from this party goes.
    fn toward(self) -> Toward {
        match self {
            Peer::Device => Toward::Cloud,
            Peer::Cloud => Toward::Device,
        }
    }
}

/// A finding as it happens, for the live printout.
pub struct LiveFinding<'a> {
    /// The device's SN, once a frame has said it.
    pub sn: Option<&'a str>,
    pub link: usize,
    /// The party the finding is about.
    pub judged: Peer,
    pub finding: &'a Finding,
}

/// Where live findings go (the CLI prints them).
pub type OnFinding = Arc<dyn Fn(&LiveFinding<'_>) + Send + Sync>;

/// What every link of a run shares.
pub(super) struct Ctx {
    pub profile: Arc<dyn Profile>,
    pub upstream: Endpoint,
    pub insecure: bool,
    pub faults: Faults,
    pub on_finding: OnFinding,
    /// Frames forwarded, both ways, all links.
    pub forwarded: AtomicU64,
}

/// The conversation as one party had it, with that party's monitors.
struct View {
    judged: Peer,
    rec: Recorder,
    monitor: Mutex<Monitor>,
    findings: Mutex<Vec<Finding>>,
    swept: AtomicUsize,
    /// The party sent at least one frame: there was something to judge.
    spoke: AtomicBool,
}

/// How a link ended.
#[derive(Clone, Debug)]
enum End {
    /// The observer is stopping.
    Shutdown,
    /// A party sent a close frame, which was forwarded.
    Closed,
    /// A party's link ended without a close, or would not take a frame.
    Broken(Peer, String),
    /// A `reset` fault took a frame.
    Reset(String),
}

struct Link {
    n: usize,
    conn: String,
    ctx: Arc<Ctx>,
    device: View,
    cloud: View,
    sn: Mutex<Option<String>>,
    /// Requests each party sent, so the other's replies can be named (`reply=NAME`).
    asked_by_device: Mutex<Asked>,
    asked_by_cloud: Mutex<Asked>,
    open: AtomicBool,
    end: watch::Sender<Option<End>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The device's SN: `register`, `active` and `get_secret_no` carry it in their body.
fn sn_of(frame: &Value) -> Option<&str> {
    frame.get("body")?.get("sn")?.as_str()
}

impl Link {
    fn view(&self, p: Peer) -> &View {
        match p {
            Peer::Device => &self.device,
            Peer::Cloud => &self.cloud,
        }
    }

    /// Ends the link for `why`, unless it already ended.
    fn finish(&self, why: End) {
        self.end.send_if_modified(|e| {
            if e.is_none() {
                *e = Some(why);
                true
            } else {
                false
            }
        });
    }

    fn note(&self, text: &str) {
        for v in [&self.device, &self.cloud] {
            v.rec.record(TranscriptEvent::Note {
                text: text.to_string(),
            });
        }
    }

    /// Feeds the view's monitors what it recorded since the last sweep; new findings go out
    /// at once.
    fn sweep(&self, view: &View, end: bool) {
        let now = view.rec.now();
        let open = if self.open.load(Ordering::SeqCst) {
            vec![self.conn.clone()]
        } else {
            Vec::new()
        };
        let violations = view.rec.with_transcript(|t| {
            let v = lock(&view.monitor).sweep(t, now, &open, end);
            view.swept.store(t.entries.len(), Ordering::SeqCst);
            v
        });
        for mut v in violations {
            v.message = view.rec.redact(&v.message);
            let mut findings = lock(&view.findings);
            if Finding::push_new(&mut findings, v, None, true) {
                let finding = findings.last().expect("just pushed").clone();
                drop(findings);
                let sn = lock(&self.sn).clone();
                (self.ctx.on_finding)(&LiveFinding {
                    sn: sn.as_deref(),
                    link: self.n,
                    judged: view.judged,
                    finding: &finding,
                });
            }
        }
    }

    /// Records a frame in the view of the party it reached (`sent`: the observer delivered
    /// it) or came from.
    fn record(&self, view: &View, msg: &Message, json: &Option<Arc<Value>>, sent: bool) {
        match msg {
            Message::Text(t) => {
                view.rec
                    .parsed_text_frame(&self.conn, t.as_str(), json.clone(), sent)
            }
            Message::Binary(b) => view.rec.binary_frame(&self.conn, b, sent),
            _ => {}
        }
        self.sweep(view, false);
    }

    fn record_closed(&self, p: Peer, by: Party, code: Option<u16>, reason: &str) {
        self.view(p).rec.record(TranscriptEvent::Closed {
            conn: self.conn.clone(),
            by,
            code,
            reason: reason.to_string(),
        });
    }
}

type Sink = SplitSink<WsStream, Message>;
type Source = SplitStream<WsStream>;

/// Forwards what `from` sends until the link ends.
async fn pump(link: &Link, from: Peer, rx: &mut Source, tx: &mut Sink) {
    let mut ended = link.end.subscribe();
    let (own, other) = (link.view(from), link.view(from.other()));
    loop {
        let msg = tokio::select! {
            _ = ended.wait_for(Option::is_some) => return,
            m = rx.next() => m,
        };
        let msg = match msg {
            None => {
                link.finish(End::Broken(from, "ended the link without a close".into()));
                return;
            }
            Some(Err(e)) => {
                link.finish(End::Broken(from, format!("link failed: {e}")));
                return;
            }
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame
                    .as_ref()
                    .map(|f| (Some(u16::from(f.code)), f.reason.to_string()))
                    .unwrap_or((None, String::new()));
                link.record_closed(from, Party::Target, code, &reason);
                // Passed on as it came: the other party sees the same code and reason.
                let _ = tokio::time::timeout(WRITE_BOUND, tx.send(Message::Close(frame))).await;
                link.record_closed(from.other(), Party::Harness, code, &reason);
                link.finish(End::Closed);
                return;
            }
            // Each hop answers its own WebSocket pings (the protocol's heartbeat is a frame).
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(m)) => m,
        };
        let json = match &msg {
            Message::Text(t) => serde_json::from_str::<Value>(t.as_str()).ok().map(Arc::new),
            _ => None,
        };
        own.spoke.store(true, Ordering::SeqCst);
        link.record(own, &msg, &json, false);
        let profile = &*link.ctx.profile;
        let (asked_here, asked_there) = match from {
            Peer::Device => (&link.asked_by_device, &link.asked_by_cloud),
            Peer::Cloud => (&link.asked_by_cloud, &link.asked_by_device),
        };
        let fault = match &json {
            Some(v) => {
                if from == Peer::Device {
                    if let Some(sn) = sn_of(v) {
                        lock(&link.sn).get_or_insert_with(|| sn.to_string());
                    }
                }
                lock(asked_here).note(profile, v);
                let there = lock(asked_there);
                let view = FrameView {
                    cmd: profile.command(v),
                    reply_to: there.answered(profile, v),
                };
                link.ctx.faults.take(from.toward(), &view)
            }
            None => link.ctx.faults.take(
                from.toward(),
                &FrameView {
                    cmd: None,
                    reply_to: None,
                },
            ),
        };
        let copies = match fault {
            None => 1,
            Some(f) => {
                let what = format!("observe fault {}: ", f.spec);
                match f.action {
                    Action::Drop => {
                        link.note(&format!(
                            "{what}dropped the frame going {}",
                            f.toward.name()
                        ));
                        0
                    }
                    Action::Dup => {
                        link.note(&format!(
                            "{what}duplicated the frame going {}",
                            f.toward.name()
                        ));
                        2
                    }
                    Action::Delay(d) => {
                        link.note(&format!(
                            "{what}holding the frame going {} for {} ms",
                            f.toward.name(),
                            d.as_millis()
                        ));
                        tokio::select! {
                            _ = ended.wait_for(Option::is_some) => return,
                            _ = tokio::time::sleep(d) => 1,
                        }
                    }
                    Action::Reset => {
                        link.note(&format!(
                            "{what}reset the link instead of forwarding the frame going {}",
                            f.toward.name()
                        ));
                        link.finish(End::Reset(f.spec));
                        return;
                    }
                }
            }
        };
        for _ in 0..copies {
            let why = match tokio::time::timeout(WRITE_BOUND, tx.send(msg.clone())).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("link failed: {e}")),
                Err(_) => Some(format!("took no frame for {} s", WRITE_BOUND.as_secs())),
            };
            if let Some(why) = why {
                link.finish(End::Broken(from.other(), why));
                return;
            }
            link.ctx.forwarded.fetch_add(1, Ordering::Relaxed);
            link.record(other, &msg, &json, true);
        }
    }
}

/// Rules about time passing, between frames.
async fn ticker(link: &Link) {
    let mut ended = link.end.subscribe();
    loop {
        tokio::select! {
            _ = ended.wait_for(Option::is_some) => return,
            _ = tokio::time::sleep(TICK) => {
                link.sweep(&link.device, false);
                link.sweep(&link.cloud, false);
            }
        }
    }
}

/// The observer stopping ends the link.
async fn stopping(link: &Link, mut stop: watch::Receiver<bool>) {
    let mut ended = link.end.subscribe();
    tokio::select! {
        _ = ended.wait_for(Option::is_some) => {}
        _ = stop.wait_for(|s| *s) => link.finish(End::Shutdown),
    }
}

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
        transport::reset_on_drop(ws.get_ref());
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
    let handshake = tokio_tungstenite::accept_async_with_config(
        MaybeTlsStream::Plain(Box::new(tcp) as transport::BoxIo),
        Some(transport::ws_config()),
    );
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
    let clock = ScenarioClock::start(wall_unix());
    let view = |judged: Peer| View {
        judged,
        rec: Recorder::new(clock, Vec::new(), ctx.profile.clone()),
        monitor: Mutex::new(match judged {
            // A real cloud may use codes the profile does not list.
            Peer::Cloud => Monitor::for_cloud(&*ctx.profile, false),
            Peer::Device => Monitor::for_device(&*ctx.profile, None),
        }),
        findings: Mutex::new(Vec::new()),
        swept: AtomicUsize::new(0),
        spoke: AtomicBool::new(false),
    };
    let (end, _) = watch::channel(None);
    let link = Link {
        n,
        conn: format!("link{n}"),
        ctx: ctx.clone(),
        device: view(Peer::Device),
        cloud: view(Peer::Cloud),
        sn: Mutex::new(None),
        asked_by_device: Mutex::new(Asked::default()),
        asked_by_cloud: Mutex::new(Asked::default()),
        open: AtomicBool::new(true),
        end,
    };
    link.device.rec.record(TranscriptEvent::Opened {
        waited: None,
        conn: link.conn.clone(),
        local,
    });
    link.note(&format!("device connected from {peer}"));
    let cloud_ws = match tokio::time::timeout(HANDSHAKE_BOUND, dial(&ctx)).await {
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

async fn dial(ctx: &Ctx) -> Result<WsStream, String> {
    let addr = ctx.upstream.resolve().await.map_err(|e| e.to_string())?;
    let tcp = transport::tcp(addr, None)
        .await
        .map_err(|e| e.to_string())?;
    let connector = ctx.insecure.then(transport::insecure_connector);
    transport::handshake(&ctx.upstream.url, Box::new(tcp), connector)
        .await
        .map_err(|e| e.to_string())
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
        link.ctx.upstream.url
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

/// An SN as it may stand in a result id.
fn id_safe(sn: &str) -> String {
    sn.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The link's two results: the device judged by its monitors, the cloud by its.
fn results(link: &Link, wall: Instant, error: Option<String>) -> Vec<ScenarioResult> {
    link.sweep(&link.device, true);
    link.sweep(&link.cloud, true);
    let sn = lock(&link.sn).clone();
    let who = sn.as_deref().unwrap_or("unknown");
    let profile = &link.ctx.profile;
    [
        (
            &link.device,
            Role::Cloud,
            format!("the device {who} on link {}", link.n),
        ),
        (
            &link.cloud,
            Role::Device,
            format!(
                "the cloud {} with device {who} on link {}",
                link.ctx.upstream.url, link.n
            ),
        ),
    ]
    .into_iter()
    .map(|(view, role, title)| {
        let spoke = view.spoke.load(Ordering::SeqCst);
        let steps = match (&error, spoke) {
            (Some(why), _) => Verdict::Error(Failure::new(why.clone())),
            (None, true) => Verdict::Pass,
            (None, false) => Verdict::Inconclusive(Failure::new(format!(
                "the {} sent no frame to judge",
                view.judged.name()
            ))),
        };
        let mut requirements: Vec<String> = Vec::new();
        for r in lock(&view.monitor).exercised() {
            if !requirements.iter().any(|x| x == r) {
                requirements.push(r.to_string());
            }
        }
        let mut r = ScenarioResult {
            id: format!(
                "observe.{:03}.{}.{}",
                link.n,
                id_safe(who),
                view.judged.name()
            ),
            title,
            file: std::path::PathBuf::from(format!("observe/{}", link.conn)),
            role,
            requirements,
            tags: vec!["observe".into()],
            verdict: steps.clone(),
            findings: lock(&view.findings).clone(),
            obligations: BTreeMap::new(),
            not_reached: BTreeMap::new(),
            wall_time: wall.elapsed(),
            scenario_time: view.rec.now(),
            transcript: view.rec.take(),
            judged: error.is_none().then(|| Judged {
                steps: None,
                in_process: false,
                reference: false,
                strict_codes: false,
                swept: Some(view.swept.load(Ordering::SeqCst)),
                seeded: None,
            }),
        };
        r.conclude(&|id| profile.binding(id));
        if let Some(j) = &mut r.judged {
            j.steps = Some(steps).filter(|s| *s != r.verdict);
        }
        r
    })
    .collect()
}
