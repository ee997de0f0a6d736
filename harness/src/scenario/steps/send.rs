//! The `send` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use serde_json::Value;
use crate::scenario::parse::*;
use crate::scenario::yaml::{to_json, Node};

pub const NAME: &str = "send";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = SEND_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

/// What `send` puts on the wire.
#[derive(Clone, Debug)]
pub enum SendFrame {
    /// A JSON value, serialized (after `${}` expansion).
    Json(Value),
    /// A text frame as-is (malformed JSON allowed).
    Text(String),
    /// A binary frame from hex.
    Binary(Vec<u8>),
    /// A text frame of `size` bytes of filler (oversized-frame tests).
    Oversized(usize),
}

#[derive(Clone, Debug)]
pub struct Send {
    pub conn: ConnName,
    pub frame: SendFrame,
}

pub(in crate::scenario) const SEND_KEYS: &[&str] = &["conn", "json", "text", "binary_hex", "oversized"];
pub(in crate::scenario) const SEND_FRAMES: &[&str] = &["json", "text", "binary_hex", "oversized"];
/// Upper bound on `send.oversized`, so a typo cannot allocate gigabytes.
pub const MAX_OVERSIZED: i64 = crate::wire::transport::MAX_SENT_FRAME_BYTES as i64;

impl Loader<'_> {
    pub(in crate::scenario) fn send(&mut self, value: &Node) -> Send {
        let args = self.step_args(value, "send", SEND_KEYS);
        let conn = args.as_ref().map(|a| self.conn(a)).unwrap_or_default();
        let frame = args.as_ref().and_then(|a| self.send_frame(a)).unwrap_or(SendFrame::Text(String::new()));
        Send { conn, frame }
    }

    pub(in crate::scenario) fn send_frame(&mut self, args: &Args<'_>) -> Option<SendFrame> {
        let given: Vec<&Node> = args.pairs.iter().map(|(k, _)| k).filter(|k| SEND_FRAMES.contains(&k.key_text())).collect();
        let key = match given.as_slice() {
            [one] => one.key_text(),
            [] => {
                let d = self
                    .diag(args.node.span, "a `send` step needs a frame")
                    .expected(format!("one of: {}", SEND_FRAMES.join(", ")));
                self.push(d);
                return None;
            }
            [first, second, ..] => {
                let msg = format!("a `send` step sends one frame; found `{}` and `{}`", first.key_text(), second.key_text());
                self.error(second.span, msg);
                return None;
            }
        };
        let node = args.get(key)?;
        match key {
            "json" => Some(SendFrame::Json(to_json(node))),
            "text" => self.string(node, "text").map(SendFrame::Text),
            "binary_hex" => self.hex(node).map(SendFrame::Binary),
            _ => self.integer_in(node, "oversized", 1, MAX_OVERSIZED).map(|n| SendFrame::Oversized(n as usize)),
        }
    }

    pub(in crate::scenario) fn hex(&mut self, node: &Node) -> Option<Vec<u8>> {
        let text = self.string(node, "binary_hex")?;
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        match hex::decode(&compact) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                let d =
                    self.diag(node.span, format!("invalid `binary_hex`: {e}")).expected("pairs of hex digits, e.g. \"0a1b ff\"");
                self.push(d);
                None
            }
        }
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<Send> {
    Some(l.send(value))
}

pub fn to_yaml(s: &Send, indent: usize) -> Vec<String> {
    let args = Out::new().conn(&s.conn);
    let args = match &s.frame {
        SendFrame::Json(v) => args.set("json", v.clone()),
        SendFrame::Text(t) => args.set("text", t.as_str()),
        SendFrame::Binary(b) => args.set("binary_hex", hex::encode(b)),
        SendFrame::Oversized(n) => args.set("oversized", *n),
    };
    render::item(indent, NAME, &args.value(), &[])
}
