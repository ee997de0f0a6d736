//! Always-on checks of every frame a cloud sends (C1, C2, C3, C12).

use super::rules;
use crate::profile::{Frame, RoleMonitor, Violation, WireEvent};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// Reads the wire events and reports rule violations by the cloud.
#[derive(Default)]
pub struct CloudMonitor {
    strict_codes: bool,
    /// req_ids the harness sent, per connection.
    sent: BTreeMap<String, HashSet<String>>,
}

impl CloudMonitor {
    pub fn new(strict_codes: bool) -> CloudMonitor {
        CloudMonitor { strict_codes, ..CloudMonitor::default() }
    }

}

impl RoleMonitor for CloudMonitor {
    fn rules(&self) -> &'static [&'static str] {
        &["C1", "C2", "C3", "C12"]
    }

    fn observe(&mut self, _at: Duration, event: &WireEvent<'_>) -> Vec<Violation> {
        match *event {
            WireEvent::Sent { conn, frame: Frame::Json { json } } => {
                if let Some(id) = json.pointer("/headers/req_id").and_then(Value::as_str) {
                    self.sent.entry(conn.to_string()).or_default().insert(id.to_string());
                }
                Vec::new()
            }
            WireEvent::Received { conn, frame } => self.check(conn, frame),
            _ => Vec::new(),
        }
    }
}

impl CloudMonitor {

    fn check(&self, conn: &str, frame: &Frame) -> Vec<Violation> {
        let json = match frame {
            Frame::Json { json } => json,
            Frame::Text { text, .. } => {
                return vec![Violation::fail("C1", format!("[{conn}] the cloud sent a text frame that is not JSON: {:?}", &text[..text.floor_char_boundary(60)]))]
            }
            // Too large to judge here; the step that receives it judges its content.
            Frame::Large { .. } => return Vec::new(),
            // The step that asked for a binary reply judges its req_id; the header is checked here.
            Frame::Binary { len, head, .. } => {
                let version = hex::decode(head).ok().filter(|b| b.len() >= 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                return match version {
                    Some(1) if *len >= 12 => Vec::new(),
                    _ => vec![Violation::fail("C3", format!("[{conn}] binary frame of {len} bytes does not start with format_version 1 (LE) and its length fields"))],
                };
            }
        };
        if !json.is_object() {
            return vec![Violation::fail("C1", format!("[{conn}] the cloud sent JSON that is not an object: {json}"))];
        }
        if json.get("cmd").is_some() {
            return rules::check_push(json);
        }
        let mut out = Vec::new();
        match json.get("errcode").and_then(Value::as_i64) {
            None => out.push(Violation::fail("C1", format!("[{conn}] reply without an integer errcode: {json}"))),
            Some(0) => {}
            Some(code) => out.extend(rules::check_error_advice(json, code, self.strict_codes)),
        }
        if let Some(id) = json.pointer("/headers/req_id").and_then(Value::as_str) {
            if !self.sent.get(conn).is_some_and(|s| s.contains(id)) {
                out.push(Violation::fail("C1", format!("[{conn}] reply echoes req_id {id:?}, which the harness never sent on this connection")));
            }
        }
        out
    }
}
