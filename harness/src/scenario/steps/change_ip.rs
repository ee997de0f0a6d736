//! The `change_ip` step: its keys and its parser.

use crate::scenario::model::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub(in crate::scenario) const CHANGE_IP_KEYS: &[&str] = &["conn", "to"];

impl Loader<'_> {
    pub(in crate::scenario) fn change_ip(&mut self, value: &Node) -> ChangeIp {
        let args = self.step_args(value, "change_ip", CHANGE_IP_KEYS);
        let conn = args.as_ref().map(|a| self.conn(a)).unwrap_or_default();
        let to = args.as_ref().and_then(|a| self.required(a, "to", "a `change_ip` step")).and_then(|n| self.loopback(n, "to"));
        ChangeIp { conn, to: to.unwrap_or_default() }
    }
}
