//! The `no_reply` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use super::ConnRef;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "no_reply";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = CONN_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

impl Loader<'_> {
    pub(in crate::scenario) fn no_reply(&mut self, kind_key: &Node, value: &Node) -> ConnRef {
        let conn = self.conn_only(value, "no_reply", CONN_KEYS).0;
        self.needs_received(kind_key, "no_reply");
        ConnRef { conn }
    }

    /// `reply` (without `to`) and `no_reply` act on the last received request: some
    /// `receive` must come before them.
    pub(in crate::scenario) fn needs_received(&mut self, kind_key: &Node, kind: &str) {
        if !self.received {
            let d = self
                .diag(kind_key.span, format!("`{kind}` acts on the last received request, but no `receive` step comes before it"))
                .help("add a `receive` step before it (requests answered by `auto_reply` are never received)");
            self.push(d);
        }
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, key: &Node, value: &Node, _step: &Node) -> Option<ConnRef> {
    Some(l.no_reply(key, value))
}

pub fn to_yaml(c: &ConnRef, indent: usize) -> Vec<String> {
    render::item(indent, NAME, &Out::new().conn(&c.conn).value(), &[])
}
