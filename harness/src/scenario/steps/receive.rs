//! The `receive` step: its keys and its parser.

use crate::scenario::model::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub(in crate::scenario) const RECEIVE_KEYS: &[&str] = &["conn", "cmd", "within", "not_before"];

impl Loader<'_> {
    pub(in crate::scenario) fn receive(&mut self, value: &Node, step: &Node) -> Receive {
        let args = self.mapping_or_nothing(value, "receive", RECEIVE_KEYS);
        let a = args.as_ref();
        let get = |key| a.and_then(|a| a.get(key));
        let receive = Receive {
            conn: a.map_or_else(|| DEFAULT_CONN.to_string(), |a| self.conn(a)),
            cmd: get("cmd").and_then(|n| self.string(n, "cmd")),
            within: get("within").and_then(|n| self.duration(n, "within")),
            not_before: get("not_before").and_then(|n| self.duration(n, "not_before")),
            check: step.get("check").map(|n| self.spanned_matcher(n)),
            capture: step.get("capture").map(|n| self.capture(n)).unwrap_or_default(),
        };
        self.check_window(receive.within.as_ref(), receive.not_before.as_ref(), get("not_before"));
        self.received = true;
        receive
    }
}
