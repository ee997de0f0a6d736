//! The `connect` step: its keys and its parser.

use crate::scenario::model::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

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
