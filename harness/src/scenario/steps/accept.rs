//! The `accept` step: its keys and its parser.

use crate::scenario::model::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub(in crate::scenario) const ACCEPT_KEYS: &[&str] = &["conn", "within"];

impl Loader<'_> {
    pub(in crate::scenario) fn accept(&mut self, value: &Node) -> Accept {
        let (conn, args) = self.conn_only(value, "accept", ACCEPT_KEYS);
        Accept { conn, within: args.and_then(|a| a.get("within")).and_then(|n| self.duration(n, "within")) }
    }
}
