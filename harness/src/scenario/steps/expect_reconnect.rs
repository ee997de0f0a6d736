//! The `expect_reconnect` step: its keys and its parser.

use crate::scenario::model::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub(in crate::scenario) const EXPECT_RECONNECT_KEYS: &[&str] = &["conn", "within", "not_before"];

impl Loader<'_> {
    pub(in crate::scenario) fn expect_reconnect(&mut self, value: &Node) -> ExpectReconnect {
        let (conn, args) = self.conn_only(value, "expect_reconnect", EXPECT_RECONNECT_KEYS);
        let get = |key| args.as_ref().and_then(|a| a.get(key));
        let reconnect = ExpectReconnect {
            conn,
            within: get("within").and_then(|n| self.duration(n, "within")),
            not_before: get("not_before").and_then(|n| self.duration(n, "not_before")),
        };
        self.check_window(reconnect.within.as_ref(), reconnect.not_before.as_ref(), get("not_before"));
        reconnect
    }
}
