//! The `no_reply` step: its keys and its parser.

use crate::scenario::model::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

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
