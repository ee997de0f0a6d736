//! The `expect` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::matcher::Matcher;
use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use std::collections::BTreeMap;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "expect";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = EXPECT_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &["capture"];

#[derive(Clone, Debug)]
pub struct Expect {
    pub conn: ConnName,
    pub matcher: Spanned<Matcher>,
    pub capture: BTreeMap<String, String>,
    pub within: Option<DurationExpr>,
    pub not_before: Option<DurationExpr>,
}

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

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, step: &Node) -> Option<Expect> {
    Some(l.expect(value, step))
}

pub fn to_yaml(e: &Expect, indent: usize) -> Vec<String> {
    let args = Out::new()
        .conn(&e.conn)
        .set("frame", e.matcher.value.to_value())
        .dur("within", e.within.as_ref())
        .dur("not_before", e.not_before.as_ref());
    render::item(indent, NAME, &args.value(), &render::capture(&e.capture))
}
