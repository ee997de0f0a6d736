//! The `expect_closed` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "expect_closed";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = EXPECT_CLOSED_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

#[derive(Clone, Debug)]
pub struct ExpectClosed {
    pub conn: ConnName,
    pub within: Option<DurationExpr>,
    /// The close must not come before this (e.g. not before heartbeat expiry).
    pub not_before: Option<DurationExpr>,
}

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

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<ExpectClosed> {
    Some(l.expect_closed(value))
}

pub fn to_yaml(e: &ExpectClosed, indent: usize) -> Vec<String> {
    let args = Out::new().conn(&e.conn).dur("within", e.within.as_ref()).dur("not_before", e.not_before.as_ref());
    render::item(indent, NAME, &args.value(), &[])
}
