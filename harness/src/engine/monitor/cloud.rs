//! Always-on checks of every frame a cloud sends (C1, C2, C3, C12).

use crate::engine::transcript::{Frame, Transcript, TranscriptEvent};
use crate::protocol::rules::{self, Violation};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// Reads the transcript incrementally and reports rule violations by the cloud.
#[derive(Default)]
pub struct CloudMonitor {
    strict_codes: bool,
    seen: usize,
    /// req_ids the harness sent, per connection.
    sent: BTreeMap<String, HashSet<String>>,
}

impl CloudMonitor {
    pub fn new(strict_codes: bool) -> CloudMonitor {
        CloudMonitor { strict_codes, ..CloudMonitor::default() }
    }

    /// Checks the entries added since the last call.
    pub fn sweep(&mut self, transcript: &Transcript) -> Vec<Violation> {
        let mut out = Vec::new();
        for entry in &transcript.entries[self.seen.min(transcript.entries.len())..] {
            match &entry.event {
                TranscriptEvent::Sent { conn, frame: Frame::Json { json } } => {
                    if let Some(id) = json.pointer("/headers/req_id").and_then(Value::as_str) {
                        self.sent.entry(conn.clone()).or_default().insert(id.to_string());
                    }
                }
                TranscriptEvent::Received { conn, frame } => out.extend(self.check(conn, frame)),
                _ => {}
            }
        }
        self.seen = transcript.entries.len();
        out
    }

    fn check(&self, conn: &str, frame: &Frame) -> Vec<Violation> {
        let json = match frame {
            Frame::Json { json } => json,
            Frame::Text { text, .. } => {
                return vec![Violation { rule: "C1", message: format!("[{conn}] the cloud sent a text frame that is not JSON: {:?}", &text[..text.floor_char_boundary(60)]) }]
            }
            // Too large to judge here; the step that receives it judges its content.
            Frame::Large { .. } => return Vec::new(),
            // The step that asked for a binary reply judges its req_id; the header is checked here.
            Frame::Binary { len, head, .. } => {
                let version = hex::decode(head).ok().filter(|b| b.len() >= 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                return match version {
                    Some(1) if *len >= 12 => Vec::new(),
                    _ => vec![Violation { rule: "C3", message: format!("[{conn}] binary frame of {len} bytes does not start with format_version 1 (LE) and its length fields") }],
                };
            }
        };
        if !json.is_object() {
            return vec![Violation { rule: "C1", message: format!("[{conn}] the cloud sent JSON that is not an object: {json}") }];
        }
        if json.get("cmd").is_some() {
            return rules::check_push(json);
        }
        let mut out = Vec::new();
        match json.get("errcode").and_then(Value::as_i64) {
            None => out.push(Violation { rule: "C1", message: format!("[{conn}] reply without an integer errcode: {json}") }),
            Some(0) => {}
            Some(code) => out.extend(rules::check_error_advice(json, code, self.strict_codes)),
        }
        if let Some(id) = json.pointer("/headers/req_id").and_then(Value::as_str) {
            if !self.sent.get(conn).is_some_and(|s| s.contains(id)) {
                out.push(Violation { rule: "C1", message: format!("[{conn}] reply echoes req_id {id:?}, which the harness never sent on this connection") });
            }
        }
        out
    }
}
