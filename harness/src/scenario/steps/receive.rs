//! The `receive` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::matcher::Matcher;
use std::collections::BTreeMap;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "receive";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = RECEIVE_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &["check", "capture"];

#[derive(Clone, Debug)]
pub struct Receive {
    pub conn: ConnName,
    /// `None`: the next request whatever its cmd.
    pub cmd: Option<String>,
    /// Bound measured from the start of the step (default: the step timeout).
    pub within: Option<DurationExpr>,
    /// The request must not have arrived earlier than this after the start of the step.
    pub not_before: Option<DurationExpr>,
    /// Matcher on the whole request frame (`$signature` available).
    pub check: Option<Spanned<Matcher>>,
    pub capture: BTreeMap<String, String>,
}

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

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, step: &Node) -> Option<Receive> {
    Some(l.receive(value, step))
}

pub fn to_yaml(r: &Receive, indent: usize) -> Vec<String> {
    let args = Out::new()
        .conn(&r.conn)
        .opt("cmd", r.cmd.clone())
        .dur("not_before", r.not_before.as_ref())
        .dur("within", r.within.as_ref());
    let mut siblings = Vec::new();
    if let Some(check) = &r.check {
        siblings.push(("check", check.value.to_value()));
    }
    siblings.extend(render::capture(&r.capture));
    render::item(indent, NAME, &args.value(), &siblings)
}
