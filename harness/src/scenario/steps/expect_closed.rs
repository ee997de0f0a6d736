//! The `expect_closed` step: its keys and its parser.

use crate::scenario::model::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub(in crate::scenario) const EXPECT_CLOSED_KEYS: &[&str] = &["conn", "within", "not_before"];

impl Loader<'_> {
    pub(in crate::scenario) fn expect_closed(&mut self, value: &Node) -> ExpectClosed {
        let (conn, args) = self.conn_only(value, "expect_closed", EXPECT_CLOSED_KEYS);
        let get = |key| args.as_ref().and_then(|a| a.get(key));
        let closed = ExpectClosed {
            conn,
            within: get("within").and_then(|n| self.duration(n, "within")),
            not_before: get("not_before").and_then(|n| self.duration(n, "not_before")),
        };
        self.check_window(closed.within.as_ref(), closed.not_before.as_ref(), get("not_before"));
        closed
    }
}
