//! The `accept` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "accept";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = ACCEPT_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

#[derive(Clone, Debug)]
pub struct Accept {
    pub conn: ConnName,
    pub within: Option<DurationExpr>,
}

pub(in crate::scenario) const ACCEPT_KEYS: &[&str] = &["conn", "within"];

impl Loader<'_> {
    pub(in crate::scenario) fn accept(&mut self, value: &Node) -> Accept {
        let (conn, args) = self.conn_only(value, "accept", ACCEPT_KEYS);
        Accept { conn, within: args.and_then(|a| a.get("within")).and_then(|n| self.duration(n, "within")) }
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<Accept> {
    Some(l.accept(value))
}

pub fn to_yaml(a: &Accept, indent: usize) -> Vec<String> {
    render::item(indent, NAME, &Out::new().conn(&a.conn).dur("within", a.within.as_ref()).value(), &[])
}
