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
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

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
    Opened {
        conn: &'a str,
        local: &'a str,
        /// How long the connection waited before the harness took it.
        waited: Option<Duration>,
    },
    /// A text frame, with its JSON when the reader parsed it (received frames are parsed
    /// once, here, for everyone: the recorder, the auto-answers and the session) or the
    /// harness built it (a sent frame's JSON is handed over: nobody else needs it).
    Text {
        conn: &'a str,
        text: &'a str,
        json: Option<Arc<Value>>,
        sent: bool,
    },
    Binary {
        conn: &'a str,
        bytes: &'a [u8],
        sent: bool,
    },
    Closed {
        conn: &'a str,
        by: Party,
        code: Option<u16>,
        reason: &'a str,
    },
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
    /// A text frame (as it was read: no copy) and its JSON, if it is JSON (parsed once by
    /// the reader).
    Text(Utf8Bytes, Option<Arc<Value>>),
    Binary(Vec<u8>),
    /// The peer closed the connection (with a close frame, or by ending the stream).
    Closed {
        code: Option<u16>,
        reason: String,
    },
    /// The connection broke: a protocol error, an oversized frame, a reset.
    Broken {
        reason: String,
        /// The harness ended it, refusing what the target sent (a frame over the limit);
        /// otherwise the target let go (a reset, TCP closed without a close handshake).
        by_harness: bool,
    },
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
            Item::Broken { reason, .. } => Some(format!("broken: {reason}")),
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
    /// Shared with the reader, which names the link in every event it logs: an `Arc<str>`, so
    /// naming it costs no allocation per frame.
    name: Arc<Mutex<Arc<str>>>,
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

/// Why a frame could not be sent (the session words it as the step's failure).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("send failed: the connection has ended")]
    Ended,
    #[error("send failed: {0}")]
    Failed(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    #[error("send did not complete within {}s (the target stopped reading)", WRITE_TIMEOUT.as_secs())]
    Stalled,
}

async fn write(sink: &Sink, msg: Message) -> Result<(), SendError> {
    let send = async {
        match sink.lock().await.as_mut() {
            Some(s) => s
                .send(msg)
                .await
                .map_err(|e| SendError::Failed(Box::new(e))),
            None => Err(SendError::Ended),
        }
    };
    tokio::time::timeout(WRITE_TIMEOUT, send)
        .await
        .unwrap_or(Err(SendError::Stalled))
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

/// Logs a frame; `json` is a text frame's JSON when the caller has it (the recorder parses
/// the text otherwise).
fn record_msg(log: &dyn WireLog, conn: &str, msg: &Message, json: Option<Arc<Value>>, sent: bool) {
    match msg {
        Message::Text(t) => log.log(LinkEvent::Text {
            conn,
            text: t,
            json,
            sent,
        }),
        Message::Binary(b) => log.log(LinkEvent::Binary {
            conn,
            bytes: b,
            sent,
        }),
        _ => {}
    }
}

impl Connection {
    pub fn open(
        name: &str,
        device: &str,
        local: String,
        ws: WsStream,
        log: impl WireLog + 'static,
        auto: Option<AutoResponder>,
    ) -> Connection {
        Connection::open_waited(name, device, local, ws, log, auto, None)
    }

    /// [`Connection::open`] for a connection the device opened `waited` before the harness
    /// took it.
    pub fn open_waited(
        name: &str,
        device: &str,
        local: String,
        ws: WsStream,
        log: impl WireLog + 'static,
        auto: Option<AutoResponder>,
        waited: Option<Duration>,
    ) -> Connection {
        let log: Arc<dyn WireLog> = Arc::new(log);
        log.log(LinkEvent::Opened {
            conn: name,
            local: &local,
            waited,
        });
        let (sink, mut stream) = ws.split();
        let sink: Sink = Arc::new(tokio::sync::Mutex::new(Some(sink)));
        let (tx, inbox) = mpsc::channel(INBOX_CAPACITY);
        let name: Arc<Mutex<Arc<str>>> = Arc::new(Mutex::new(name.into()));
        let closing = Arc::new(AtomicBool::new(false));
        let faults = FaultState::default();
        let stop_reading = Arc::new(tokio::sync::Notify::new());
        let give_back = Arc::new(tokio::sync::Notify::new());
        let (rname, rrec, rclosing, rsink) =
            (name.clone(), log.clone(), closing.clone(), sink.clone());
        let (rfaults, rstop, rgive) = (faults.clone(), stop_reading.clone(), give_back.clone());
        let reader = tokio::spawn(async move {
            let conn = || rname.lock().unwrap_or_else(|p| p.into_inner()).clone();
            // Made once, not per frame: each `Notified` registers with its `Notify` (a lock)
            // when first polled and deregisters when dropped.
            let give = rgive.notified();
            let stop = rstop.notified();
            tokio::pin!(give, stop);
            loop {
                let next = tokio::select! {
                    biased;
                    () = &mut give => return Some(stream),
                    () = &mut stop => {
                        rrec.log(LinkEvent::Fault { conn: &conn(), text: "harness fault: half-open: the harness stops reading; the socket stays open" });
                        // Holding the stream keeps the socket open; the task ends when the
                        // connection is dropped, closed or reset.
                        give.await;
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
                            record_msg(&*rrec, &conn(), msg, None, false);
                        }
                        rrec.log(LinkEvent::Fault {
                            conn: &conn(),
                            text: &note,
                        });
                        match applied.action {
                            FrameAction::Drop => continue,
                            FrameAction::Delay(d) => tokio::time::sleep(d).await,
                            FrameAction::Duplicate => copies = 2,
                        }
                    }
                }
                let item = match next {
                    Some(Ok(Message::Text(t))) => {
                        let json = serde_json::from_str::<Value>(&t).ok().map(Arc::new);
                        rrec.log(LinkEvent::Text {
                            conn: &conn(),
                            text: &t,
                            json: json.clone(),
                            sent: false,
                        });
                        if let Some(answer) =
                            auto.as_ref().and_then(|a| json.as_ref().and_then(|v| a(v)))
                        {
                            record_msg(&*rrec, &conn(), &answer, None, true);
                            match write(&rsink, answer).await {
                                Ok(()) => continue,
                                Err(e) => {
                                    // The link is gone: say so, as for any other broken link.
                                    rrec.log(LinkEvent::Closed {
                                        conn: &conn(),
                                        by: Party::Target,
                                        code: None,
                                        reason: &format!("broken: {e}"),
                                    });
                                    release(&rsink).await;
                                    let _ = tx
                                        .send(Inbound {
                                            at: rrec.now(),
                                            item: Item::Broken {
                                                reason: e.to_string(),
                                                by_harness: false,
                                            },
                                        })
                                        .await;
                                    break;
                                }
                            }
                        }
                        Item::Text(t, json)
                    }
                    Some(Ok(Message::Binary(b))) => {
                        rrec.log(LinkEvent::Binary {
                            conn: &conn(),
                            bytes: &b,
                            sent: false,
                        });
                        Item::Binary(b.to_vec())
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(frame))) => {
                        let (code, reason) = frame
                            .map(|f| (Some(u16::from(f.code)), f.reason.to_string()))
                            .unwrap_or((None, String::new()));
                        if !rclosing.load(Ordering::SeqCst) {
                            rrec.log(LinkEvent::Closed {
                                conn: &conn(),
                                by: Party::Target,
                                code,
                                reason: &reason,
                            });
                        }
                        Item::Closed { code, reason }
                    }
                    Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(e))) => {
                        // RFC 6455 §7.4.1: a message too big to process closes with 1009, so
                        // the peer learns why instead of seeing a reset.
                        let reason = format!(
                            "the target sent a frame over the {} MiB limit ({e})",
                            super::transport::MAX_FRAME_BYTES >> 20
                        );
                        rclosing.store(true, Ordering::SeqCst);
                        let _ = write(
                            &rsink,
                            Message::Close(Some(CloseFrame {
                                code: CloseCode::Size,
                                reason: "message too big".into(),
                            })),
                        )
                        .await;
                        rrec.log(LinkEvent::Closed {
                            conn: &conn(),
                            by: Party::Harness,
                            code: Some(1009),
                            reason: &reason,
                        });
                        release(&rsink).await;
                        Item::Broken {
                            reason,
                            by_harness: true,
                        }
                    }
                    Some(Err(e)) => {
                        let reason = e.to_string();
                        rrec.log(LinkEvent::Closed {
                            conn: &conn(),
                            by: Party::Target,
                            code: None,
                            reason: &format!("broken: {reason}"),
                        });
                        Item::Broken {
                            reason,
                            by_harness: false,
                        }
                    }
                    None => {
                        let reason = "the stream ended without a close frame".to_string();
                        if !rclosing.load(Ordering::SeqCst) {
                            rrec.log(LinkEvent::Closed {
                                conn: &conn(),
                                by: Party::Target,
                                code: None,
                                reason: &reason,
                            });
                        }
                        Item::Closed { code: None, reason }
                    }
                };
                let end = matches!(item, Item::Closed { .. } | Item::Broken { .. });
                if end {
                    release(&rsink).await;
                }
                let inbound = Inbound {
                    at: rrec.now(),
                    item,
                };
                // A copy only for a duplicating fault: the item holds the frame's text and JSON.
                let mut gone = copies > 1 && tx.send(inbound.clone()).await.is_err();
                gone |= tx.send(inbound).await.is_err();
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
        let how = if rst {
            "a TCP reset"
        } else {
            "the end of the stream"
        };
        self.log.log(LinkEvent::Fault {
            conn: &name,
            text: &format!(
                "harness fault: reset: the harness drops the socket without a close frame ({how})"
            ),
        });
        self.log.log(LinkEvent::Closed {
            conn: &name,
            by: Party::Harness,
            code: None,
            reason: "reset by the harness",
        });
        self.drain();
        self.reset = true;
        self.closed = true;
    }

    pub fn name(&self) -> String {
        self.shared_name().to_string()
    }

    fn shared_name(&self) -> Arc<str> {
        self.name.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The harness walks away from the link without closing it (an IP change); its later
    /// frames are recorded under `NAME~old` so they are not mistaken for the new link's.
    pub fn abandon(self) -> Connection {
        let old = self.name();
        self.log.log(LinkEvent::Abandoned { conn: &old });
        *self.name.lock().unwrap_or_else(|p| p.into_inner()) = format!("{old}~old").into();
        self
    }

    /// Sends a frame and records it (the recorded copy has secrets redacted), unless an armed
    /// outbound fault takes it: then the transcript says what the harness did instead.
    pub async fn send(&mut self, msg: Message) -> Result<(), SendError> {
        self.send_recorded(msg, None).await
    }

    /// [`Connection::send`] of a JSON frame the harness built: the transcript records `frame`
    /// itself, so the text just serialized is neither parsed back nor copied.
    pub async fn send_json(&mut self, frame: Value) -> Result<(), SendError> {
        // `to_string` writes straight into bytes; `Display` (`frame.to_string()`) goes
        // through a formatter adapter at several times the cost per frame.
        let text = serde_json::to_string(&frame).unwrap_or_else(|_| frame.to_string());
        self.send_recorded(Message::text(text), Some(Arc::new(frame)))
            .await
    }

    /// Sends `msg`; `json`: its JSON, when it is a text frame the caller built from it.
    async fn send_recorded(
        &mut self,
        msg: Message,
        json: Option<Arc<Value>>,
    ) -> Result<(), SendError> {
        let name = self.shared_name();
        if let Some(applied) = self.faults.apply(Direction::Outbound, &msg) {
            self.log.log(LinkEvent::Fault {
                conn: &name,
                text: &applied.describe(Direction::Outbound),
            });
            match applied.action {
                FrameAction::Drop => return Ok(()),
                FrameAction::Delay(d) => tokio::time::sleep(d).await,
                FrameAction::Duplicate => {
                    record_msg(&*self.log, &name, &msg, json.clone(), true);
                    write(&self.sink, msg.clone()).await?;
                }
            }
        }
        record_msg(&*self.log, &name, &msg, json, true);
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
        self.log.log(LinkEvent::Closed {
            conn: &self.name(),
            by: Party::Harness,
            code: Some(code),
            reason,
        });
        if self.ended().is_none() {
            self.closing.store(true, Ordering::SeqCst);
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: reason.to_string().into(),
            };
            // The close waits no longer than its echo would: a target that floods without
            // reading holds the socket (and the reader's auto-reply) for the whole write bound.
            let sent =
                tokio::time::timeout(CLOSE_WAIT, write(&self.sink, Message::Close(Some(frame))))
                    .await
                    .is_ok_and(|r| r.is_ok());
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
mod tests;
