//! The transcript: every connection event and frame of a scenario, in order, with its time
//! on the scenario clock. Reports, goldens and failure messages are views of it.
//!
//! Frames are stored with secrets already redacted, so no view can leak one.

use crate::protocol::volatile::redact_secrets;
pub use crate::wire::{close_text, Party};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Frames longer than this are recorded by length only, so a flood cannot bloat transcripts
/// and reports.
const MAX_RECORDED_TEXT: usize = 16 * 1024;

/// A frame as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    /// A text frame that parsed as JSON (secrets redacted).
    Json { json: serde_json::Value },
    /// A text frame that is not JSON (cut to 512 bytes).
    Text { text: String, len: usize },
    /// A text frame too large to record whole: its length and, when it is a JSON envelope,
    /// what the monitors need of it — `cmd`, `headers.req_id`, `errcode` and a digest of the
    /// body without its volatile fields — never the body itself.
    Large {
        len: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        envelope: Option<serde_json::Value>,
    },
    /// A binary frame: its length, the first bytes in hex, and which layout of §1.2 it has
    /// (`upload_log`, `reply`), if any.
    Binary {
        len: usize,
        head: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        layout: Option<String>,
    },
}

/// Body fields that differ between two sends of the same request (a re-send is signed anew).
pub const RESEND_VOLATILE: &[&str] = &["timestamp", "nonce", "device_signature", "signature"];

/// A request body with the fields a re-send changes removed: two sends of the same request
/// compare equal, two different requests do not.
pub fn resend_body(frame: &serde_json::Value) -> serde_json::Value {
    let mut body = frame.get("body").cloned().unwrap_or(serde_json::Value::Null);
    if let Some(o) = body.as_object_mut() {
        o.retain(|k, _| !RESEND_VOLATILE.contains(&k.as_str()));
    }
    body
}

impl Frame {
    pub fn text(text: &str) -> Frame {
        if text.len() > MAX_RECORDED_TEXT {
            let envelope = serde_json::from_str::<serde_json::Value>(text).ok().filter(|v| v.is_object()).map(|v| {
                use sha1::Digest;
                let digest = hex::encode(sha1::Sha1::digest(resend_body(&v).to_string().as_bytes()));
                let mut e = serde_json::json!({"body_digest": digest});
                for key in ["cmd", "headers", "errcode"] {
                    if let Some(x) = v.get(key) {
                        e[key] = x.clone();
                    }
                }
                redact_secrets(&e)
            });
            return Frame::Large { len: text.len(), envelope };
        }
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => Frame::Json { json: redact_secrets(&v) },
            Err(_) => {
                let cut = &text[..text.floor_char_boundary(512)];
                Frame::Text { text: cut.to_string(), len: text.len() }
            }
        }
    }

    pub fn binary(bytes: &[u8]) -> Frame {
        use crate::protocol::binary;
        let layout = if binary::decode_upload_log(bytes).is_ok() {
            Some("upload_log".to_string())
        } else if binary::decode_reply(bytes).is_ok() {
            Some("reply".to_string())
        } else {
            None
        };
        Frame::Binary { len: bytes.len(), head: hex::encode(&bytes[..bytes.len().min(32)]), layout }
    }

    /// One line for terminal output.
    pub fn summary(&self) -> String {
        match self {
            Frame::Json { json } => {
                let s = json.to_string();
                if s.len() > 300 { format!("{}…", &s[..s.floor_char_boundary(300)]) } else { s }
            }
            Frame::Text { text, len } => format!("text({len} bytes) {:?}", &text[..text.floor_char_boundary(80)]),
            Frame::Large { len, .. } => format!("text({len} bytes, too large to record)"),
            Frame::Binary { len, head, .. } => format!("binary({len} bytes) {head}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TranscriptEvent {
    /// A connection opened (`local` is the harness side's address as the target sees it).
    Opened { conn: String, local: String },
    /// A connection closed, by whom, with the close code if there was one.
    Closed { conn: String, by: Party, code: Option<u16>, reason: String },
    /// The harness abandoned a connection without closing it (an IP change).
    Abandoned { conn: String },
    Sent { conn: String, frame: Frame },
    Received { conn: String, frame: Frame },
    /// A step began (its kind and line in the scenario file).
    Step { index: String, kind: String, line: u32 },
    /// A note from the harness (a control operation, a rule violation).
    Note { text: String },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TranscriptEntry {
    /// Time since the scenario started, on the scenario clock.
    #[serde(serialize_with = "super::verdict::ser_secs")]
    pub at: Duration,
    #[serde(flatten)]
    pub event: TranscriptEvent,
}


#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Transcript {
    pub entries: Vec<TranscriptEntry>,
}

impl Transcript {
    pub fn push(&mut self, at: Duration, event: TranscriptEvent) {
        self.entries.push(TranscriptEntry { at, event });
    }

    /// The last `n` frames sent or received, for failure reports.
    pub fn last_frames(&self, n: usize) -> Vec<&TranscriptEntry> {
        let frames: Vec<&TranscriptEntry> = self
            .entries
            .iter()
            .filter(|e| matches!(e.event, TranscriptEvent::Sent { .. } | TranscriptEvent::Received { .. }))
            .collect();
        frames[frames.len().saturating_sub(n)..].to_vec()
    }
}

/// One line per entry, for terminal output and logs.
pub fn render_entry(e: &TranscriptEntry) -> String {
    let t = format!("{:>9.3}s", e.at.as_secs_f64());
    match &e.event {
        TranscriptEvent::Opened { conn, local } => format!("{t} [{conn}] opened from {local}"),
        TranscriptEvent::Closed { conn, by, code, reason } => {
            let who = match by { Party::Harness => "harness", Party::Target => "target" };
            format!("{t} [{conn}] closed by {who}{}", close_text(*code, reason))
        }
        TranscriptEvent::Abandoned { conn } => format!("{t} [{conn}] abandoned (no close)"),
        TranscriptEvent::Sent { conn, frame } => format!("{t} [{conn}] → {}", frame.summary()),
        TranscriptEvent::Received { conn, frame } => format!("{t} [{conn}] ← {}", frame.summary()),
        TranscriptEvent::Step { index, kind, line } => format!("{t} step {index} {kind} (line {line})"),
        TranscriptEvent::Note { text } => format!("{t} note: {text}"),
    }
}
