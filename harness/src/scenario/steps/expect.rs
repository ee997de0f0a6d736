//! The `expect` step: its keys and its parser.

use crate::scenario::matcher::Matcher;
use crate::scenario::model::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub(in crate::scenario) const EXPECT_KEYS: &[&str] = &["conn", "frame", "within", "not_before"];

impl Loader<'_> {
    pub(in crate::scenario) fn expect(&mut self, value: &Node, step: &Node) -> Expect {
        let args = self.step_args(value, "expect", EXPECT_KEYS);
        let a = args.as_ref();
        let get = |key| a.and_then(|a| a.get(key));
        if let Some(a) = a {
            self.required(a, "frame", "an `expect` step");
        }
        let expect = Expect {
            conn: a.map(|a| self.conn(a)).unwrap_or_default(),
            matcher: get("frame")
                .map_or_else(|| Spanned::new(Matcher::Object(Vec::new()), value.span), |n| self.spanned_matcher(n)),
            capture: step.get("capture").map(|n| self.capture(n)).unwrap_or_default(),
            within: get("within").and_then(|n| self.duration(n, "within")),
            not_before: get("not_before").and_then(|n| self.duration(n, "not_before")),
        };
        self.check_window(expect.within.as_ref(), expect.not_before.as_ref(), get("not_before"));
        expect
    }
}
