//! The `request` step: its keys and its parser.

use crate::scenario::model::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::{to_json, Node};

pub(in crate::scenario) const REQUEST_KEYS: &[&str] =
    &["conn", "cmd", "req_id", "body", "raw", "within", "not_before", "no_reply"];

impl Loader<'_> {
    pub(in crate::scenario) fn request(&mut self, value: &Node, step: &Node) -> Request {
        let args = self.step_args(value, "request", REQUEST_KEYS);
        let a = args.as_ref();
        let get = |key| a.and_then(|a| a.get(key));
        let request = Request {
            conn: a.map(|a| self.conn(a)).unwrap_or_default(),
            cmd: a.and_then(|a| self.required_string(a, "cmd", "a `request` step")).unwrap_or_default(),
            req_id: get("req_id").and_then(|n| self.text(n, "req_id", "a string")),
            body: get("body").map(to_json),
            raw_body: get("raw").and_then(|n| self.boolean(n, "raw")).unwrap_or(false),
            expect: step.get("expect").map(|n| self.spanned_matcher(n)),
            capture: step.get("capture").map(|n| self.capture(n)).unwrap_or_default(),
            within: get("within").and_then(|n| self.duration(n, "within")),
            not_before: get("not_before").and_then(|n| self.duration(n, "not_before")),
            no_reply: get("no_reply").and_then(|n| self.boolean(n, "no_reply")).unwrap_or(false),
        };
        self.check_window(request.within.as_ref(), request.not_before.as_ref(), get("not_before"));
        if request.no_reply {
            for sibling in ["expect", "capture"] {
                if let Some(key) = step.as_mapping().and_then(|p| p.iter().find(|(k, _)| k.key_text() == sibling)) {
                    self.error(key.0.span, format!("`{sibling}` cannot be used with `no_reply: true`"));
                }
            }
        }
        request
    }
}
