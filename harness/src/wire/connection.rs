//! One WebSocket connection of a session: a write half the steps drive and a reader task
//! that logs every frame as it arrives, answers what the auto-responder answers (the cloud
//! role's pings), and queues the rest, with its arrival time, for the steps.

use super::fault::{Direction, FaultState, FrameAction, FrameFault};
use super::transport::{reset_on_drop, WsStream};
use super::{close_text, Party};
use futures_util::stream::{SplitSink, SplitStream, StreamExt};
use futures_util::SinkExt;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// How many received frames may wait in the channel before the reader stops reading
/// (back-pressure on a target that floods).
const INBOX_CAPACITY: usize = 64;

/// How many received frames may wait unconsumed before the session calls it a flood.
pub const MAX_PENDING: usize = 4096;

/// How many bytes of received frames may wait unconsumed before the session calls it a flood.
pub const MAX_PENDING_BYTES: usize = 64 << 20;

/// Bound on sending the harness's close, and then on waiting for its echo.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Bound on one write: a target that stops reading cannot stall a step.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What happens on a connection, raw (text and bytes as they crossed), as whoever records it
/// needs to know. The recorder turns it into a transcript entry; monitors read those through
/// the profile's `WireEvent`, which holds recorded (redacted) frames.
#[derive(Debug)]
pub enum LinkEvent<'a> {
    /// The connection opened (`local` is the harness side's address as the target sees it).
    Opened { conn: &'a str, local: &'a str },
    /// A text frame, with its JSON when the reader parsed it (received frames are parsed
    /// once, here, for everyone: the recorder, the auto-answers and the session).
    Text { conn: &'a str, text: &'a str, json: Option<&'a Value>, sent: bool },
    Binary { conn: &'a str, bytes: &'a [u8], sent: bool },
    Closed { conn: &'a str, by: Party, code: Option<u16>, reason: &'a str },
    /// The harness walked away without a close (an IP change).
    Abandoned { conn: &'a str },
    /// The harness applied one of its own faults (`wire::fault`): what it did, in words.
    Fault { conn: &'a str, text: &'a str },
}

/// Where a connection reports what happens on it, and the clock its arrivals are stamped
/// with: the engine's recorder (the wire itself keeps no transcript).
pub trait WireLog: Send + Sync {
    fn log(&self, event: LinkEvent<'_>);
    fn now(&self) -> Duration;
}

/// What the reader hands the session.
#[derive(Clone, Debug)]
pub enum Item {
    /// A text frame and its JSON, if it is JSON (parsed once by the reader).
    Text(String, Option<Value>),
    Binary(Vec<u8>),
    /// The peer closed the connection (with a close frame, or by ending the stream).
    Closed { code: Option<u16>, reason: String },
    /// The connection broke: a protocol error, an oversized frame, a reset.
    Broken { reason: String },
}

/// A received item and when it arrived on the scenario clock.
#[derive(Clone, Debug)]
pub struct Inbound {
    pub at: Duration,
    pub item: Item,
}

impl Inbound {
    pub fn is_end(&self) -> bool {
        matches!(self.item, Item::Closed { .. } | Item::Broken { .. })
    }

    /// How the link ended, for messages.
    pub fn end_text(&self) -> Option<String> {
        match &self.item {
            Item::Closed { code, reason } => Some(format!("closed{}", close_text(*code, reason))),
            Item::Broken { reason } => Some(format!("broken: {reason}")),
            _ => None,
        }
    }
}

/// Answers a request frame by itself, or declines (`None`).
pub type AutoResponder = Arc<dyn Fn(&Value) -> Option<Message> + Send + Sync>;

/// The write half; `None` once the link has ended and the harness let go of the socket.
type Sink = Arc<tokio::sync::Mutex<Option<SplitSink<WsStream, Message>>>>;

/// Bound on flushing the close echo before the socket is let go.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(1);

/// A live connection.
pub struct Connection {
    name: Arc<Mutex<String>>,
    /// Which of the scenario's devices speaks on it (device role).
    pub device: String,
    pub local: String,
    sink: Sink,
    inbox: mpsc::Receiver<Inbound>,
    /// Frames received but not yet consumed by a step, in arrival order.
    pub pending: VecDeque<Inbound>,
    /// Set once the reader's end was consumed from the inbox.
    pub closed: bool,
    log: Arc<dyn WireLog>,
    /// The reader task; it hands its half of the stream back when asked to (a reset).
    reader: tokio::task::JoinHandle<Option<SplitStream<WsStream>>>,
    /// Set when the harness starts a close, so the peer's echo is not recorded as its own.
    closing: Arc<AtomicBool>,
    /// The harness's own faults armed on this link.
    faults: FaultState,
    /// Wakes the reader to stop reading (half-open).
    stop_reading: Arc<tokio::sync::Notify>,
    /// Wakes the reader to end and hand back its half of the stream (reset).
    give_back: Arc<tokio::sync::Notify>,
    /// The harness went half-open: it reads nothing more, so a close waits for no echo.
    half_open: bool,
    /// The harness reset the link: the socket is gone, there is nothing left to close.
    reset: bool,
}

async fn write(sink: &Sink, msg: Message) -> Result<(), String> {
    let send = async {
        match sink.lock().await.as_mut() {
            Some(s) => s.send(msg).await.map_err(|e| e.to_string()),
            None => Err("the connection has ended".to_string()),
        }
    };
    match tokio::time::timeout(WRITE_TIMEOUT, send).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("send failed: {e}")),
        Err(_) => Err(format!("send did not complete within {}s (the target stopped reading)", WRITE_TIMEOUT.as_secs())),
    }
}

/// After the link ended (the peer's close, a break, the end of the stream): flushes the close
/// echo the WebSocket layer queued and lets go of the socket, so the peer sees the TCP close
/// at once. RFC 6455 §7.1.1 has the server close TCP first, and many clients wait for that
/// before they reconnect; holding the socket until the session ends would delay them.
async fn release(sink: &Sink) {
    let _ = tokio::time::timeout(RELEASE_TIMEOUT, async {
        if let Some(mut s) = sink.lock().await.take() {
            let _ = s.close().await;
        }
    })
    .await;
}

fn record_msg(log: &dyn WireLog, conn: &str, msg: &Message, sent: bool) {
    match msg {
        Message::Text(t) => log.log(LinkEvent::Text { conn, text: t, json: None, sent }),
        Message::Binary(b) => log.log(LinkEvent::Binary { conn, bytes: b, sent }),
        _ => {}
    }
}

impl Connection {
    pub fn open(name: &str, device: &str, local: String, ws: WsStream, log: impl WireLog + 'static, auto: Option<AutoResponder>) -> Connection {
        let log: Arc<dyn WireLog> = Arc::new(log);
        log.log(LinkEvent::Opened { conn: name, local: &local });
        let (sink, mut stream) = ws.split();
        let sink: Sink = Arc::new(tokio::sync::Mutex::new(Some(sink)));
        let (tx, inbox) = mpsc::channel(INBOX_CAPACITY);
        let name = Arc::new(Mutex::new(name.to_string()));
        let closing = Arc::new(AtomicBool::new(false));
        let faults = FaultState::default();
        let stop_reading = Arc::new(tokio::sync::Notify::new());
        let give_back = Arc::new(tokio::sync::Notify::new());
        let (rname, rrec, rclosing, rsink) = (name.clone(), log.clone(), closing.clone(), sink.clone());
        let (rfaults, rstop, rgive) = (faults.clone(), stop_reading.clone(), give_back.clone());
        let reader = tokio::spawn(async move {
            let conn = || rname.lock().unwrap_or_else(|p| p.into_inner()).clone();
            loop {
                let next = tokio::select! {
                    biased;
                    () = rgive.notified() => return Some(stream),
                    () = rstop.notified() => {
                        rrec.log(LinkEvent::Fault { conn: &conn(), text: "harness fault: half-open: the harness stops reading; the socket stays open" });
                        // Holding the stream keeps the socket open; the task ends when the
                        // connection is dropped, closed or reset.
                        rgive.notified().await;
                        return Some(stream);
                    }
                    next = stream.next() => next,
                };
                let mut copies = 1;
                if let Some(Ok(msg)) = &next {
                    if let Some(applied) = rfaults.apply(Direction::Inbound, msg) {
                        let note = applied.describe(Direction::Inbound);
                        if applied.action == FrameAction::Drop {
                            // It did arrive: the transcript shows it, then what became of it.
                            record_msg(&*rrec, &conn(), msg, false);
                        }
                        rrec.log(LinkEvent::Fault { conn: &conn(), text: &note });
                        match applied.action {
                            FrameAction::Drop => continue,
                            FrameAction::Delay(d) => tokio::time::sleep(d).await,
                            FrameAction::Duplicate => copies = 2,
                        }
                    }
                }
                let item = match next {
                    Some(Ok(Message::Text(t))) => {
                        let json = serde_json::from_str::<Value>(&t).ok();
                        rrec.log(LinkEvent::Text { conn: &conn(), text: &t, json: json.as_ref(), sent: false });
                        if let Some(answer) = auto.as_ref().and_then(|a| json.as_ref().and_then(|v| a(v))) {
                            record_msg(&*rrec, &conn(), &answer, true);
                            match write(&rsink, answer).await {
                                Ok(()) => continue,
                                Err(e) => {
                                    // The link is gone: say so, as for any other broken link.
                                    rrec.log(LinkEvent::Closed { conn: &conn(), by: Party::Target, code: None, reason: &format!("broken: {e}") });
                                    release(&rsink).await;
                                    let _ = tx.send(Inbound { at: rrec.now(), item: Item::Broken { reason: e } }).await;
                                    break;
                                }
                            }
                        }
                        Item::Text(t.to_string(), json)
                    }
                    Some(Ok(Message::Binary(b))) => {
                        rrec.log(LinkEvent::Binary { conn: &conn(), bytes: &b, sent: false });
                        Item::Binary(b.to_vec())
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(frame))) => {
                        let (code, reason) = frame.map(|f| (Some(u16::from(f.code)), f.reason.to_string())).unwrap_or((None, String::new()));
                        if !rclosing.load(Ordering::SeqCst) {
                            rrec.log(LinkEvent::Closed { conn: &conn(), by: Party::Target, code, reason: &reason });
                        }
                        Item::Closed { code, reason }
                    }
                    Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(e))) => {
                        // RFC 6455 §7.4.1: a message too big to process closes with 1009, so
                        // the peer learns why instead of seeing a reset.
                        let reason = format!("the target sent a frame over the {} MiB limit ({e})", super::transport::MAX_FRAME_BYTES >> 20);
                        rclosing.store(true, Ordering::SeqCst);
                        let _ = write(&rsink, Message::Close(Some(CloseFrame { code: CloseCode::Size, reason: "message too big".into() }))).await;
                        rrec.log(LinkEvent::Closed { conn: &conn(), by: Party::Harness, code: Some(1009), reason: &reason });
                        release(&rsink).await;
                        Item::Broken { reason }
                    }
                    Some(Err(e)) => {
                        let reason = e.to_string();
                        rrec.log(LinkEvent::Closed { conn: &conn(), by: Party::Target, code: None, reason: &format!("broken: {reason}") });
                        Item::Broken { reason }
                    }
                    None => {
                        let reason = "the stream ended without a close frame".to_string();
                        if !rclosing.load(Ordering::SeqCst) {
                            rrec.log(LinkEvent::Closed { conn: &conn(), by: Party::Target, code: None, reason: &reason });
                        }
                        Item::Closed { code: None, reason }
                    }
                };
                let end = matches!(item, Item::Closed { .. } | Item::Broken { .. });
                if end {
                    release(&rsink).await;
                }
                let inbound = Inbound { at: rrec.now(), item };
                let mut gone = false;
                for _ in 0..copies {
                    gone |= tx.send(inbound.clone()).await.is_err();
                }
                if gone || end {
                    break;
                }
            }
            None
        });
        Connection {
            name,
            device: device.to_string(),
            local,
            sink,
            inbox,
            pending: VecDeque::new(),
            closed: false,
            log,
            reader,
            closing,
            faults,
            stop_reading,
            give_back,
            half_open: false,
            reset: false,
        }
    }

    /// Arms a fault on the harness's own traffic; faults armed earlier take a frame first.
    pub fn arm(&self, fault: FrameFault) {
        self.faults.arm(fault);
    }

    /// The harness stops reading and keeps the socket: the target's writes pile up unread, and
    /// nothing more reaches the steps (what was read before still does).
    pub fn half_open(&mut self) {
        self.half_open = true;
        self.stop_reading.notify_one();
    }

    /// Whether the harness went half-open on this link.
    pub fn is_half_open(&self) -> bool {
        self.half_open
    }

    /// The harness drops the socket without a close frame: over TCP a reset (RST), over an
    /// in-memory pipe the end of the stream. The link counts as ended; frames read before
    /// stay queued.
    pub async fn reset(&mut self) {
        let name = self.name();
        self.closing.store(true, Ordering::SeqCst);
        self.give_back.notify_one();
        // A reader held up (a delayed frame, a full inbox) is aborted instead: its half is
        // then dropped with it and the socket ends without the RST.
        let stream = match tokio::time::timeout(RELEASE_TIMEOUT, &mut self.reader).await {
            Ok(Ok(stream)) => stream,
            _ => {
                self.reader.abort();
                None
            }
        };
        let sink = self.sink.lock().await.take();
        let rst = match (sink, stream) {
            (Some(sink), Some(stream)) => sink.reunite(stream).is_ok_and(|ws| {
                let io = ws.into_inner();
                reset_on_drop(&io)
            }),
            _ => false,
        };
        let how = if rst { "a TCP reset" } else { "the end of the stream" };
        self.log.log(LinkEvent::Fault { conn: &name, text: &format!("harness fault: reset: the harness drops the socket without a close frame ({how})") });
        self.log.log(LinkEvent::Closed { conn: &name, by: Party::Harness, code: None, reason: "reset by the harness" });
        self.drain();
        self.reset = true;
        self.closed = true;
    }

    pub fn name(&self) -> String {
        self.name.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The harness walks away from the link without closing it (an IP change); its later
    /// frames are recorded under `NAME~old` so they are not mistaken for the new link's.
    pub fn abandon(self) -> Connection {
        let old = self.name();
        self.log.log(LinkEvent::Abandoned { conn: &old });
        *self.name.lock().unwrap_or_else(|p| p.into_inner()) = format!("{old}~old");
        self
    }

    /// Sends a frame and records it (the recorded copy has secrets redacted), unless an armed
    /// outbound fault takes it: then the transcript says what the harness did instead.
    pub async fn send(&mut self, msg: Message) -> Result<(), String> {
        let name = self.name();
        if let Some(applied) = self.faults.apply(Direction::Outbound, &msg) {
            self.log.log(LinkEvent::Fault { conn: &name, text: &applied.describe(Direction::Outbound) });
            match applied.action {
                FrameAction::Drop => return Ok(()),
                FrameAction::Delay(d) => tokio::time::sleep(d).await,
                FrameAction::Duplicate => {
                    record_msg(&*self.log, &name, &msg, true);
                    write(&self.sink, msg.clone()).await?;
                }
            }
        }
        record_msg(&*self.log, &name, &msg, true);
        write(&self.sink, msg).await
    }

    /// Moves what the reader has delivered so far into `pending`.
    fn drain(&mut self) {
        while let Ok(item) = self.inbox.try_recv() {
            self.pending.push_back(item);
        }
    }

    /// Whether more frames (or bytes) wait unconsumed than any honest exchange explains.
    pub fn flooded(&mut self) -> bool {
        self.drain();
        self.pending.len() > MAX_PENDING || pending_bytes(&self.pending) > MAX_PENDING_BYTES
    }

    /// The next received item, from the pending queue first, waiting until `deadline`.
    pub async fn next(&mut self, deadline: tokio::time::Instant) -> Option<Inbound> {
        if let Some(item) = self.pending.pop_front() {
            if item.is_end() {
                self.closed = true;
            }
            return Some(item);
        }
        if self.closed {
            return None;
        }
        match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
            Ok(Some(item)) => {
                if item.is_end() {
                    self.closed = true;
                }
                Some(item)
            }
            Ok(None) => {
                self.closed = true;
                None
            }
            Err(_) => None,
        }
    }

    /// How the link ended, if the reader has seen it end; earlier frames stay queued.
    pub fn ended(&mut self) -> Option<String> {
        self.drain();
        if self.closed {
            return Some("closed".into());
        }
        self.pending.iter().find_map(Inbound::end_text)
    }

    /// Closes cleanly: a close frame (default 1000), then a bounded wait for the peer's echo,
    /// so the peer has seen the close before the next step runs.
    pub async fn close(mut self, code: u16, reason: &str) {
        if self.reset {
            return;
        }
        self.log.log(LinkEvent::Closed { conn: &self.name(), by: Party::Harness, code: Some(code), reason });
        if self.ended().is_none() {
            self.closing.store(true, Ordering::SeqCst);
            let frame = CloseFrame { code: CloseCode::from(code), reason: reason.to_string().into() };
            // The close waits no longer than its echo would: a target that floods without
            // reading holds the socket (and the reader's auto-reply) for the whole write bound.
            let sent = tokio::time::timeout(CLOSE_WAIT, write(&self.sink, Message::Close(Some(frame)))).await.is_ok_and(|r| r.is_ok());
            // Half-open, the harness reads nothing: there is no echo to wait for.
            if sent && !self.half_open {
                let _ = tokio::time::timeout(CLOSE_WAIT, async {
                    while let Some(item) = self.inbox.recv().await {
                        if item.is_end() {
                            break;
                        }
                    }
                })
                .await;
            }
        }
        self.reader.abort();
    }
}

/// The bytes the frames in `items` hold.
pub fn pending_bytes<'a>(items: impl IntoIterator<Item = &'a Inbound>) -> usize {
    items
        .into_iter()
        .map(|i| match &i.item {
            Item::Text(t, _) => t.len(),
            Item::Binary(b) => b.len(),
            _ => 0,
        })
        .sum()
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::transport::{self, BoxIo};
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::AsyncReadExt;
    use tokio_tungstenite::MaybeTlsStream;

    struct NoLog;
    impl WireLog for NoLog {
        fn log(&self, _: LinkEvent<'_>) {}
        fn now(&self) -> Duration {
            Duration::ZERO
        }
    }

    /// A link the harness serves on loopback and a raw client socket for it.
    async fn served_link() -> (Connection, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move { tokio::net::TcpStream::connect(addr).await.unwrap() });
        let (server, _) = listener.accept().await.unwrap();
        let io: BoxIo = Box::new(server);
        let mut client = client.await.unwrap();
        // The client side of the handshake, by hand: the test reads raw bytes afterwards.
        let req = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        let accept = tokio_tungstenite::accept_async_with_config(MaybeTlsStream::Plain(io), Some(transport::ws_config()));
        let (ws, ()) = tokio::join!(async { accept.await.unwrap() }, async {
            tokio::io::AsyncWriteExt::write_all(&mut client, req.as_bytes()).await.unwrap();
        });
        let mut head = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), async {
            while !head.ends_with(b"\r\n\r\n") {
                let mut b = [0u8; 1];
                client.read_exact(&mut b).await.unwrap();
                head.push(b[0]);
            }
        })
        .await
        .expect("the handshake answer within 5 s");
        (Connection::open("dut", "dev", addr.to_string(), ws, NoLog, None), client)
    }

    /// A masked client close frame with code 1000.
    const CLOSE_1000: [u8; 8] = [0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2];

    #[tokio::test]
    async fn the_harness_closes_tcp_promptly_after_the_peer_closes() {
        let (conn, mut client) = served_link().await;
        tokio::io::AsyncWriteExt::write_all(&mut client, &CLOSE_1000).await.unwrap();
        let started = std::time::Instant::now();
        let mut echoed = Vec::new();
        let eof = tokio::time::timeout(Duration::from_secs(5), async {
            let mut buf = [0u8; 64];
            loop {
                match client.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => echoed.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        // The session still holds the connection: the socket must be let go all the same.
        assert!(eof.is_ok(), "no EOF within 5 s of the close frame");
        assert!(started.elapsed() < Duration::from_secs(1), "EOF after {:?}", started.elapsed());
        assert_eq!(echoed.first(), Some(&0x88), "the close was echoed before the TCP close: {echoed:?}");
        drop(conn);
    }

    /// Keeps the fault notes a connection logs.
    #[derive(Clone, Default)]
    struct Notes(Arc<Mutex<Vec<String>>>);
    impl WireLog for Notes {
        fn log(&self, e: LinkEvent<'_>) {
            let line = match e {
                LinkEvent::Fault { text, .. } => text.to_string(),
                LinkEvent::Text { text, sent, .. } => format!("{} {text}", if sent { "sent" } else { "received" }),
                LinkEvent::Closed { by, reason, .. } => format!("closed by {by:?}: {reason}"),
                _ => return,
            };
            self.0.lock().unwrap().push(line);
        }
        fn now(&self) -> Duration {
            Duration::ZERO
        }
    }
    impl Notes {
        fn lines(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    type Peer = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

    /// A harness connection (server side, over real TCP) and the target's end of it.
    async fn link_with_peer(notes: &Notes) -> (Connection, Peer) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let peer = tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches('/')).await.unwrap();
            tokio_tungstenite::client_async(url, tcp).await.unwrap().0
        });
        let (server, _) = listener.accept().await.unwrap();
        let io: BoxIo = Box::new(server);
        let ws = tokio_tungstenite::accept_async_with_config(MaybeTlsStream::Plain(io), Some(transport::ws_config())).await.unwrap();
        (Connection::open("a", "dev", String::new(), ws, notes.clone(), None), peer.await.unwrap())
    }

    struct Containing(&'static str);
    impl crate::wire::fault::FrameFilter for Containing {
        fn matches(&self, msg: &Message) -> bool {
            msg.to_text().is_ok_and(|t| t.contains(self.0))
        }
    }

    fn fault(direction: Direction, action: FrameAction, filter: Option<&'static str>) -> FrameFault {
        let filter = filter.map(|f| Arc::new(Containing(f)) as Arc<dyn crate::wire::fault::FrameFilter>);
        FrameFault { direction, action, filter, count: 1, label: "the reply to `x`".into() }
    }

    fn soon() -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_secs(5)
    }

    fn text(i: Option<Inbound>) -> String {
        match i.map(|i| i.item) {
            Some(Item::Text(t, _)) => t,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    async fn peer_text(peer: &mut Peer) -> String {
        match tokio::time::timeout(Duration::from_secs(5), peer.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
            other => panic!("expected a text frame at the peer, got {other:?}"),
        }
    }

    /// A frame over the limit ends the link with the documented 1009 close (the peer learns
    /// why) and the steps see why, not a reset.
    #[tokio::test]
    async fn an_oversized_frame_gets_the_1009_close() {
        let notes = Notes::default();
        let (mut conn, mut peer) = link_with_peer(&notes).await;
        // The peer's own limit must not stop it from sending.
        let big = "x".repeat(transport::MAX_FRAME_BYTES + 1024);
        let _ = peer.send(Message::text(big)).await;
        let end = conn.next(soon()).await.expect("the link ends");
        assert!(matches!(&end.item, Item::Broken { reason } if reason.contains("over the 4 MiB limit")), "{end:?}");
        let close = loop {
            match tokio::time::timeout(Duration::from_secs(5), peer.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => break frame,
                Ok(Some(Ok(_))) => continue,
                other => panic!("expected a close frame at the peer, got {other:?}"),
            }
        };
        assert_eq!(close.map(|f| u16::from(f.code)), Some(1009));
    }

    #[tokio::test]
    async fn a_dropped_inbound_frame_is_recorded_but_never_reaches_the_steps() {
        let notes = Notes::default();
        let (mut conn, mut peer) = link_with_peer(&notes).await;
        conn.arm(fault(Direction::Inbound, FrameAction::Drop, Some("reg")));
        peer.send(Message::text("ping-1")).await.unwrap();
        peer.send(Message::text("reg-reply")).await.unwrap();
        peer.send(Message::text("reg-reply-2")).await.unwrap();
        assert_eq!(text(conn.next(soon()).await), "ping-1", "frames the filter does not take pass");
        assert_eq!(text(conn.next(soon()).await), "reg-reply-2", "one frame taken, then spent");
        let lines = notes.lines();
        let at = lines.iter().position(|l| l == "received reg-reply").expect("the dropped frame is in the transcript");
        assert!(lines[at + 1].contains("dropped the inbound frame (the reply to `x`)"), "{lines:?}");
    }

    #[tokio::test]
    async fn a_dropped_outbound_frame_never_reaches_the_socket() {
        let notes = Notes::default();
        let (mut conn, mut peer) = link_with_peer(&notes).await;
        conn.arm(fault(Direction::Outbound, FrameAction::Drop, None));
        conn.send(Message::text("first")).await.unwrap();
        conn.send(Message::text("second")).await.unwrap();
        assert_eq!(peer_text(&mut peer).await, "second");
        let lines = notes.lines();
        assert!(!lines.contains(&"sent first".to_string()), "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("dropped the outbound frame") && l.contains("never reached the socket")), "{lines:?}");
    }

    #[tokio::test]
    async fn a_delayed_frame_arrives_after_the_delay_in_order() {
        let notes = Notes::default();
        let (mut conn, mut peer) = link_with_peer(&notes).await;
        conn.arm(fault(Direction::Inbound, FrameAction::Delay(Duration::from_millis(300)), None));
        let started = std::time::Instant::now();
        peer.send(Message::text("slow")).await.unwrap();
        peer.send(Message::text("behind")).await.unwrap();
        assert_eq!(text(conn.next(soon()).await), "slow");
        assert!(started.elapsed() >= Duration::from_millis(300), "after {:?}", started.elapsed());
        assert_eq!(text(conn.next(soon()).await), "behind");
        conn.arm(fault(Direction::Outbound, FrameAction::Delay(Duration::from_millis(200)), None));
        let started = std::time::Instant::now();
        conn.send(Message::text("late")).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(peer_text(&mut peer).await, "late");
        assert!(notes.lines().iter().any(|l| l.contains("holding the inbound frame") && l.contains("300ms")));
    }

    #[tokio::test]
    async fn a_duplicated_frame_is_seen_twice_either_way() {
        let notes = Notes::default();
        let (mut conn, mut peer) = link_with_peer(&notes).await;
        conn.arm(fault(Direction::Inbound, FrameAction::Duplicate, None));
        conn.arm(fault(Direction::Outbound, FrameAction::Duplicate, None));
        peer.send(Message::text("once")).await.unwrap();
        peer.send(Message::text("next")).await.unwrap();
        assert_eq!(text(conn.next(soon()).await), "once");
        assert_eq!(text(conn.next(soon()).await), "once");
        assert_eq!(text(conn.next(soon()).await), "next");
        conn.send(Message::text("twice")).await.unwrap();
        conn.send(Message::text("after")).await.unwrap();
        assert_eq!(peer_text(&mut peer).await, "twice");
        assert_eq!(peer_text(&mut peer).await, "twice");
        assert_eq!(peer_text(&mut peer).await, "after");
        assert_eq!(notes.lines().iter().filter(|l| l.as_str() == "sent twice").count(), 2, "both copies are recorded as sent");
    }

    #[tokio::test]
    async fn half_open_stops_reading_but_keeps_the_socket() {
        let notes = Notes::default();
        let (mut conn, mut peer) = link_with_peer(&notes).await;
        conn.half_open();
        tokio::time::sleep(Duration::from_millis(50)).await;
        peer.send(Message::text("unread")).await.unwrap();
        let quiet = tokio::time::Instant::now() + Duration::from_millis(300);
        assert!(conn.next(quiet).await.is_none(), "nothing is read while half-open");
        assert!(conn.ended().is_none(), "the link has not ended");
        // The target sees no close: its end stays open and the harness can still write.
        conn.send(Message::text("still here")).await.unwrap();
        assert_eq!(peer_text(&mut peer).await, "still here");
        assert!(tokio::time::timeout(Duration::from_millis(300), peer.next()).await.is_err(), "no close, no EOF");
        assert!(notes.lines().iter().any(|l| l.contains("half-open")));
        // Closing a half-open link does not wait for an echo it would never read.
        let started = std::time::Instant::now();
        conn.close(1000, "").await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn reset_drops_the_socket_without_a_close_frame() {
        let notes = Notes::default();
        let (mut conn, mut peer) = link_with_peer(&notes).await;
        conn.reset().await;
        let end = tokio::time::timeout(Duration::from_secs(1), peer.next()).await.expect("the target sees the link end within 1 s");
        assert!(
            matches!(&end, Some(Err(tokio_tungstenite::tungstenite::Error::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "over TCP the target sees a reset, no close frame: {end:?}"
        );
        assert!(conn.ended().is_some());
        assert!(conn.send(Message::text("x")).await.is_err());
        let lines = notes.lines();
        assert!(lines.iter().any(|l| l.contains("reset") && l.contains("a TCP reset")), "{lines:?}");
        let closes = lines.iter().filter(|l| l.starts_with("closed by")).count();
        conn.close(1000, "").await;
        assert_eq!(closes, 1, "the reset is the link's one end: {lines:?}");
    }

    #[tokio::test]
    async fn a_half_open_link_can_still_be_reset() {
        let notes = Notes::default();
        let (mut conn, mut peer) = link_with_peer(&notes).await;
        conn.half_open();
        tokio::time::sleep(Duration::from_millis(50)).await;
        conn.reset().await;
        let end = tokio::time::timeout(Duration::from_secs(1), peer.next()).await.expect("the link ends within 1 s");
        assert!(matches!(end, Some(Err(_))), "a reset: {end:?}");
    }

    /// The harness as a WebSocket client (as against a cloud): a server that echoes the close.
    async fn client_link(echo_close: bool, ping_first: bool) -> (Connection, tokio::task::JoinHandle<Vec<Message>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            if ping_first {
                ws.send(Message::Ping(b"hb".to_vec().into())).await.unwrap();
            }
            let mut seen = Vec::new();
            if !echo_close {
                // Reads until the close frame, then holds the socket without answering.
                let mut raw = ws.into_inner();
                let mut buf = [0u8; 256];
                while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf)).await {
                    if n == 0 || buf[..n].contains(&0x88) {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
                return seen;
            }
            while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                let close = msg.is_close();
                seen.push(msg);
                if close {
                    break;
                }
            }
            seen
        });
        let tcp = transport::tcp(addr, None).await.unwrap();
        let ws = transport::handshake(&format!("ws://{addr}/"), Box::new(tcp), None).await.unwrap();
        (Connection::open("a", "dev", String::new(), ws, NoLog, None), server)
    }

    #[tokio::test]
    async fn as_a_client_the_harness_sends_its_close_and_answers_pings() {
        let (conn, server) = client_link(true, true).await;
        // Give the reader time to see the ping (its pong goes out on the next read).
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        conn.close(1000, "bye").await;
        assert!(started.elapsed() < Duration::from_secs(1), "the server's echo ends the wait: {:?}", started.elapsed());
        let seen = tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap();
        assert!(matches!(seen.first(), Some(Message::Pong(p)) if &p[..] == b"hb"), "the ping was answered: {seen:?}");
        match seen.last() {
            Some(Message::Close(Some(f))) => assert_eq!((u16::from(f.code), f.reason.as_str()), (1000, "bye")),
            other => panic!("expected the harness's close frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn as_a_client_the_harness_waits_a_bounded_time_for_a_server_that_never_echoes() {
        let (conn, _server) = client_link(false, false).await;
        let started = std::time::Instant::now();
        conn.close(1000, "").await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "the wait for the echo is bounded: {took:?}");
    }

    #[tokio::test]
    async fn a_send_after_the_link_ended_fails_with_a_reason() {
        let (mut conn, mut client) = served_link().await;
        tokio::io::AsyncWriteExt::write_all(&mut client, &CLOSE_1000).await.unwrap();
        let end = conn.next(tokio::time::Instant::now() + Duration::from_secs(5)).await.expect("the close");
        assert!(end.is_end());
        let err = conn.send(Message::text("{}")).await.unwrap_err();
        assert!(err.starts_with("send failed"), "{err}");
    }
}
