//! The `connect` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "connect";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = CONNECT_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

#[derive(Clone, Debug)]
pub struct Connect {
    pub conn: ConnName,
    /// Source address (127.0.0.0/8 over real sockets); default 127.0.0.1.
    pub from: Option<String>,
    /// Which of the scenario's `devices` this connection speaks for; default the first.
    pub device: Option<String>,
    pub within: Option<DurationExpr>,
}

pub(in crate::scenario) const CONNECT_KEYS: &[&str] = &["conn", "from", "device", "within"];

impl Loader<'_> {
    pub(in crate::scenario) fn connect(&mut self, value: &Node) -> Connect {
        let (conn, args) = self.conn_only(value, "connect", CONNECT_KEYS);
        let Some(args) = args else {
            return Connect { conn, from: None, device: None, within: None };
        };
        Connect {
            conn,
            from: args.get("from").and_then(|n| self.loopback(n, "from")),
            device: args.get("device").and_then(|n| self.device(n, "device")),
            within: args.get("within").and_then(|n| self.duration(n, "within")),
        }
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<Connect> {
    Some(l.connect(value))
}

pub fn to_yaml(c: &Connect, indent: usize) -> Vec<String> {
    let args = Out::new().conn(&c.conn).opt("from", c.from.clone()).opt("device", c.device.clone()).dur("within", c.within.as_ref());
    render::item(indent, NAME, &args.value(), &[])
}
