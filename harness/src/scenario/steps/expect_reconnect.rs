//! The `expect_reconnect` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "expect_reconnect";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = EXPECT_RECONNECT_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

#[derive(Clone, Debug)]
pub struct ExpectReconnect {
    pub conn: ConnName,
    /// Bound on the new connection's arrival, from the start of the step.
    pub within: Option<DurationExpr>,
    /// The new connection must not arrive earlier than this after the start of the step.
    pub not_before: Option<DurationExpr>,
}

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

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<ExpectReconnect> {
    Some(l.expect_reconnect(value))
}

pub fn to_yaml(e: &ExpectReconnect, indent: usize) -> Vec<String> {
    let args = Out::new().conn(&e.conn).dur("not_before", e.not_before.as_ref()).dur("within", e.within.as_ref());
    render::item(indent, NAME, &args.value(), &[])
}
