//! The `request` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::matcher::Matcher;
use serde_json::Value;
use std::collections::BTreeMap;
use crate::scenario::parse::*;
use crate::scenario::yaml::{to_json, Node};

pub const NAME: &str = "request";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = REQUEST_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &["expect", "capture"];

#[derive(Clone, Debug)]
pub struct Request {
    pub conn: ConnName,
    pub cmd: String,
    /// Explicit req_id (a template); default a fresh unique one.
    pub req_id: Option<String>,
    /// Body template; the profile fills defaults (see `protocol::defaults`).
    pub body: Option<Value>,
    /// When true, send `body` exactly as given, without defaults or signature.
    pub raw_body: bool,
    /// Matcher on the whole reply frame.
    pub expect: Option<Spanned<Matcher>>,
    /// name → dotted path into the reply (`body.active_code`).
    pub capture: BTreeMap<String, String>,
    /// The reply must arrive within this bound (default: the step timeout).
    pub within: Option<DurationExpr>,
    /// The reply must not arrive before this.
    pub not_before: Option<DurationExpr>,
    /// Expect no reply at all within `within` (e.g. the mock swallowed it).
    pub no_reply: bool,
}

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

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, step: &Node) -> Option<Request> {
    Some(l.request(value, step))
}

pub fn to_yaml(r: &Request, indent: usize) -> Vec<String> {
    let args = Out::new()
        .conn(&r.conn)
        .set("cmd", r.cmd.as_str())
        .opt("req_id", r.req_id.clone())
        .opt("body", r.body.clone())
        .flag("raw", r.raw_body)
        .dur("not_before", r.not_before.as_ref())
        .dur("within", r.within.as_ref())
        .flag("no_reply", r.no_reply);
    let mut siblings = Vec::new();
    if let Some(expect) = &r.expect {
        siblings.push(("expect", expect.value.to_value()));
    }
    siblings.extend(render::capture(&r.capture));
    render::item(indent, NAME, &args.value(), &siblings)
}
