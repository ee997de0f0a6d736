//! The `logged_in` step: the device shows it is logged in by its first request that only a
//! logged-in device sends (the profile says which: a heartbeat, a business call). A scenario
//! that waited for one particular command instead would fail every device that does not
//! implement it, or sends another first.

use crate::scenario::parse::*;
use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "logged_in";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = LOGGED_IN_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

#[derive(Clone, Debug)]
pub struct LoggedIn {
    pub conn: ConnName,
    /// Default: the profile's bound on the first post-login request.
    pub within: Option<DurationExpr>,
}

pub(in crate::scenario) const LOGGED_IN_KEYS: &[&str] = &["conn", "within"];

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<LoggedIn> {
    let (conn, args) = l.conn_only(value, NAME, LOGGED_IN_KEYS);
    Some(LoggedIn { conn, within: args.and_then(|a| a.get("within")).and_then(|n| l.duration(n, "within")) })
}

pub fn to_yaml(s: &LoggedIn, indent: usize) -> Vec<String> {
    render::item(indent, NAME, &Out::new().conn(&s.conn).dur("within", s.within.as_ref()).value(), &[])
}
