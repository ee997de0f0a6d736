//! One WebSocket connection of a session: a write half the session drives and a reader task
//! that records every frame in the transcript as it arrives and queues it for the steps.

use super::clock::ScenarioClock;
use super::transcript::{Frame, Party, Transcript, TranscriptEvent};
use super::transport::WsStream;
use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// How many received frames may wait unread before the reader stops reading (back-pressure
/// on a target that floods).
const INBOX_CAPACITY: usize = 1024;

/// What the reader hands the session.
#[derive(Clone, Debug)]
pub enum Inbound {
    Text(String),
    Binary(Vec<u8>),
    /// The connection ended: closed by the target (with code), or broken (error text).
    Closed { code: Option<u16>, reason: String },
}

/// State shared by a session and its connections' readers.
pub struct Shared {
    pub transcript: Transcript,
    /// Texts known to be secret, scrubbed from any free text recorded.
    pub secrets: Vec<String>,
}

pub type SharedState = Arc<Mutex<Shared>>;

pub fn record(shared: &SharedState, clock: &ScenarioClock, event: TranscriptEvent) {
    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
    let at = clock.elapsed();
    s.transcript.push(at, event);
}

/// A live connection.
pub struct Connection {
    pub name: String,
    /// Which of the scenario's devices speaks on it.
    pub device: String,
    pub local: String,
    sink: SplitSink<WsStream, Message>,
    inbox: mpsc::Receiver<Inbound>,
    /// Frames received but not yet consumed by a step, in arrival order.
    pub pending: VecDeque<Inbound>,
    /// Set once the reader saw the end.
    pub closed: bool,
    shared: SharedState,
    clock: ScenarioClock,
    reader: tokio::task::JoinHandle<()>,
    /// Set when the harness starts a close, so the target's echo is not recorded as its own.
    closing: Arc<AtomicBool>,
}

impl Connection {
    pub fn open(name: &str, device: &str, local: String, ws: WsStream, shared: SharedState, clock: ScenarioClock) -> Connection {
        record(&shared, &clock, TranscriptEvent::Opened { conn: name.to_string(), local: local.clone() });
        let (sink, mut stream) = ws.split();
        let (tx, inbox) = mpsc::channel(INBOX_CAPACITY);
        let (conn, rshared) = (name.to_string(), shared.clone());
        let closing = Arc::new(AtomicBool::new(false));
        let rclosing = closing.clone();
        let reader = tokio::spawn(async move {
            loop {
                let item = match stream.next().await {
                    Some(Ok(Message::Text(t))) => {
                        record(&rshared, &clock, TranscriptEvent::Received { conn: conn.clone(), frame: Frame::text(&t) });
                        Inbound::Text(t.to_string())
                    }
                    Some(Ok(Message::Binary(b))) => {
                        record(&rshared, &clock, TranscriptEvent::Received { conn: conn.clone(), frame: Frame::binary(&b) });
                        Inbound::Binary(b.to_vec())
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(frame))) => {
                        let (code, reason) = frame.map(|f| (Some(u16::from(f.code)), f.reason.to_string())).unwrap_or((None, String::new()));
                        if rclosing.load(Ordering::SeqCst) {
                            let _ = tx.send(Inbound::Closed { code, reason }).await;
                            break;
                        }
                        record(&rshared, &clock, TranscriptEvent::Closed { conn: conn.clone(), by: Party::Target, code, reason: reason.clone() });
                        let _ = tx.send(Inbound::Closed { code, reason }).await;
                        break;
                    }
                    Some(Err(e)) => {
                        let reason = format!("connection broken: {e}");
                        record(&rshared, &clock, TranscriptEvent::Closed { conn: conn.clone(), by: Party::Target, code: None, reason: reason.clone() });
                        let _ = tx.send(Inbound::Closed { code: None, reason }).await;
                        break;
                    }
                    None => {
                        let reason = "connection ended without a close frame".to_string();
                        record(&rshared, &clock, TranscriptEvent::Closed { conn: conn.clone(), by: Party::Target, code: None, reason: reason.clone() });
                        let _ = tx.send(Inbound::Closed { code: None, reason }).await;
                        break;
                    }
                };
                if tx.send(item).await.is_err() {
                    break;
                }
            }
        });
        Connection { name: name.to_string(), device: device.to_string(), local, sink, inbox, pending: VecDeque::new(), closed: false, shared, clock, reader, closing }
    }

    /// Sends a frame and records it (the recorded copy has secrets redacted).
    pub async fn send(&mut self, msg: Message) -> Result<(), String> {
        let frame = match &msg {
            Message::Text(t) => Frame::text(t),
            Message::Binary(b) => Frame::binary(b),
            _ => Frame::text(""),
        };
        record(&self.shared, &self.clock, TranscriptEvent::Sent { conn: self.name.clone(), frame });
        // A send can stall only if the target stops reading; bound it like every wait.
        match tokio::time::timeout(Duration::from_secs(10), self.sink.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("send failed: {e}")),
            Err(_) => Err("send did not complete within 10s (the target stopped reading)".into()),
        }
    }

    /// The next received item, from the pending queue first, waiting until `deadline`.
    pub async fn next(&mut self, deadline: tokio::time::Instant) -> Option<Inbound> {
        if let Some(item) = self.pending.pop_front() {
            return Some(item);
        }
        if self.closed {
            return None;
        }
        match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
            Ok(Some(item)) => {
                if matches!(item, Inbound::Closed { .. }) {
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

    /// Why the target ended the link, if the reader has seen it end; frames that arrived
    /// before the end stay queued.
    pub fn ended(&mut self) -> Option<String> {
        while let Ok(item) = self.inbox.try_recv() {
            self.pending.push_back(item);
        }
        self.pending.iter().find_map(|i| match i {
            Inbound::Closed { code, reason } => Some(match code {
                Some(c) if reason.is_empty() => format!("close code {c}"),
                Some(c) => format!("close code {c}: {reason}"),
                None => reason.clone(),
            }),
            _ => None,
        })
    }

    /// Closes cleanly: a close frame (code 1000), then a bounded wait for the target's echo,
    /// so the target has seen the close before the next step runs.
    pub async fn close(mut self) {
        record(&self.shared, &self.clock, TranscriptEvent::Closed { conn: self.name.clone(), by: Party::Harness, code: Some(1000), reason: String::new() });
        if !self.closed && self.ended().is_none() {
            self.closing.store(true, Ordering::SeqCst);
            let frame = CloseFrame { code: CloseCode::Normal, reason: "".into() };
            if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(2), self.sink.send(Message::Close(Some(frame)))).await {
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Some(item) = self.inbox.recv().await {
                        if matches!(item, Inbound::Closed { .. }) {
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

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
