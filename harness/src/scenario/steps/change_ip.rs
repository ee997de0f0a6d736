//! The `change_ip` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "change_ip";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = CHANGE_IP_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

#[derive(Clone, Debug)]
pub struct ChangeIp {
    pub conn: ConnName,
    pub to: String,
}

pub(in crate::scenario) const CHANGE_IP_KEYS: &[&str] = &["conn", "to"];

impl Loader<'_> {
    pub(in crate::scenario) fn change_ip(&mut self, value: &Node) -> ChangeIp {
        let args = self.step_args(value, "change_ip", CHANGE_IP_KEYS);
        let conn = args.as_ref().map(|a| self.conn(a)).unwrap_or_default();
        let to = args.as_ref().and_then(|a| self.required(a, "to", "a `change_ip` step")).and_then(|n| self.loopback(n, "to"));
        ChangeIp { conn, to: to.unwrap_or_default() }
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<ChangeIp> {
    Some(l.change_ip(value))
}

pub fn to_yaml(c: &ChangeIp, indent: usize) -> Vec<String> {
    render::item(indent, NAME, &Out::new().conn(&c.conn).set("to", c.to.as_str()).value(), &[])
}
