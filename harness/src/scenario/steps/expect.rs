//! The `expect` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::matcher::Matcher;
use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use std::collections::BTreeMap;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "expect";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = &["conn", "frame", "within", "not_before", "from", "cmd", "reply_to"];
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &["capture"];

#[derive(Clone, Debug)]
pub struct Expect {
    pub conn: ConnName,
    pub matcher: Spanned<Matcher>,
    pub capture: BTreeMap<String, String>,
    pub within: Option<DurationExpr>,
    pub not_before: Option<DurationExpr>,
    /// Observer role: which party's frame, and which of its frames, the step takes.
    pub observed: Option<Observed>,
}

/// The party an observer scenario watches in an `expect` step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObservedParty {
    Device,
    Cloud,
}

impl ObservedParty {
    pub fn as_str(self) -> &'static str {
        match self {
            ObservedParty::Device => "device",
            ObservedParty::Cloud => "cloud",
        }
    }
}

/// An observer's `expect`: the first frame `from` sends that the selectors take (a request or
/// push of `cmd`, a reply to a request of `reply_to`; any frame when neither) is what the
/// step's `frame` matcher judges. Frames the selectors do not take pass by.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub from: ObservedParty,
    pub cmd: Option<String>,
    pub reply_to: Option<String>,
}

pub(in crate::scenario) const EXPECT_KEYS: &[&str] = &["conn", "frame", "within", "not_before"];
/// An observer's `expect` names a party instead of a connection.
const OBSERVER_KEYS: &[&str] = &["from", "cmd", "reply_to", "frame", "within", "not_before"];

impl Loader<'_> {
    pub(in crate::scenario) fn expect(&mut self, value: &Node, step: &Node) -> Expect {
        let observer = self.role == Some(Role::Observer);
        let args = self.step_args(value, "expect", if observer { OBSERVER_KEYS } else { EXPECT_KEYS });
        let a = args.as_ref();
        let get = |key| a.and_then(|a| a.get(key));
        let observed = match a {
            Some(a) if observer => self.observed(a),
            _ => None,
        };
        if let Some(a) = a {
            // An observer's step may take a frame by its selectors alone.
            let selects = observer && (a.get("cmd").is_some() || a.get("reply_to").is_some());
            if !selects {
                self.required(a, "frame", "an `expect` step");
            }
        }
        if observer && step.get("capture").is_some() {
            let span = step.get("capture").map_or(value.span, |n| n.span);
            self.error(span, "`capture` is not taken by an observer's `expect`; match the value in `frame` instead");
        }
        let expect = Expect {
            observed,
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

impl Loader<'_> {
    /// `from` (required), `cmd` or `reply_to` (at most one).
    fn observed(&mut self, a: &Args<'_>) -> Option<Observed> {
        self.required(a, "from", "an observer's `expect` step");
        let from = match a.get("from").and_then(|n| self.string(n, "from").map(|t| (n, t))) {
            Some((_, t)) if t == "device" => Some(ObservedParty::Device),
            Some((_, t)) if t == "cloud" => Some(ObservedParty::Cloud),
            Some((n, t)) => {
                self.unknown_word(n, &t, "party", &["device", "cloud"]);
                None
            }
            None => None,
        };
        let cmd = a.get("cmd").and_then(|n| self.string(n, "cmd"));
        let reply_to = a.get("reply_to").and_then(|n| self.string(n, "reply_to"));
        if cmd.is_some() && reply_to.is_some() {
            self.error(key_of(a, "reply_to").span, "an observer's `expect` takes `cmd` or `reply_to`, not both");
            return None;
        }
        Some(Observed { from: from?, cmd, reply_to })
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, step: &Node) -> Option<Expect> {
    Some(l.expect(value, step))
}

pub fn to_yaml(e: &Expect, indent: usize) -> Vec<String> {
    let args = match &e.observed {
        None => Out::new().conn(&e.conn),
        Some(o) => Out::new()
            .set("from", o.from.as_str())
            .opt("cmd", o.cmd.clone())
            .opt("reply_to", o.reply_to.clone()),
    };
    let args = args
        .set("frame", e.matcher.value.to_value())
        .dur("within", e.within.as_ref())
        .dur("not_before", e.not_before.as_ref());
    render::item(indent, NAME, &args.value(), &render::capture(&e.capture))
}
