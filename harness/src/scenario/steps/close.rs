//! The `close` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "close";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = CLOSE_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

#[derive(Clone, Debug)]
pub struct Close {
    pub conn: ConnName,
    /// Default 1000.
    pub code: Option<u16>,
    pub reason: Option<String>,
}

pub(in crate::scenario) const CLOSE_KEYS: &[&str] = &["conn", "code", "reason"];
/// Close codes RFC 6455 reserves for reporting: they are never sent in a close frame.
pub(in crate::scenario) const UNSENDABLE_CLOSE_CODES: &[i64] = &[1004, 1005, 1006, 1015];
/// A close frame's payload is at most 125 bytes, two of them the code.
pub(in crate::scenario) const MAX_CLOSE_REASON: usize = 123;

impl Loader<'_> {
    pub(in crate::scenario) fn close(&mut self, value: &Node) -> Close {
        let (conn, args) = self.conn_only(value, "close", CLOSE_KEYS);
        let get = |key| args.as_ref().and_then(|a| a.get(key));
        let code = get("code").and_then(|n| {
            let code = self.integer_in(n, "code", 1000, 4999)?;
            if UNSENDABLE_CLOSE_CODES.contains(&code) {
                let d = self
                    .diag(n.span, format!("close code {code} cannot be sent"))
                    .expected("a close code from 1000 to 4999 other than 1004, 1005, 1006 and 1015 (RFC 6455 reserves them)");
                self.push(d);
                return None;
            }
            Some(code as u16)
        });
        let reason = get("reason").and_then(|n| {
            let reason = self.string(n, "reason")?;
            if reason.len() > MAX_CLOSE_REASON {
                let d = self
                    .diag(n.span, format!("close reason is {} bytes long", reason.len()))
                    .expected(format!("at most {MAX_CLOSE_REASON} bytes (a close frame holds 125, two of them the code)"));
                self.push(d);
                return None;
            }
            Some(reason)
        });
        Close { conn, code, reason }
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<Close> {
    Some(l.close(value))
}

pub fn to_yaml(c: &Close, indent: usize) -> Vec<String> {
    let args = Out::new().conn(&c.conn).opt("code", c.code).opt("reason", c.reason.clone());
    render::item(indent, NAME, &args.value(), &[])
}
