//! The `disconnect` step: close a connection cleanly (both roles).

use super::ConnRef;
use crate::scenario::parse::*;
use crate::scenario::render::{self, Args as Out};
use crate::scenario::yaml::Node;

pub const NAME: &str = "disconnect";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = CONN_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<ConnRef> {
    Some(ConnRef { conn: l.conn_only(value, NAME, CONN_KEYS).0 })
}

pub fn to_yaml(c: &ConnRef, indent: usize) -> Vec<String> {
    render::item(indent, NAME, &Out::new().conn(&c.conn).value(), &[])
}
