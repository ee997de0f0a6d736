//! The `reply` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use serde_json::Value;
use crate::scenario::parse::*;
use crate::scenario::yaml::{to_json, Node, ScalarValue};

pub const NAME: &str = "reply";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = REPLY_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

#[derive(Clone, Debug)]
pub struct Reply {
    pub conn: ConnName,
    /// The req_id to answer (a template, e.g. `${first_req}`); default the last received.
    pub to: Option<String>,
    pub spec: ReplySpec,
}

/// How the harness-as-cloud answers a request.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplySpec {
    /// Default 0.
    pub errcode: i64,
    /// Default "ok" for 0, the catalog's meaning otherwise.
    pub errmsg: Option<String>,
    /// Body template (`${...}` expanded).
    pub body: Option<Value>,
    /// `retry` or `reconnect`; error replies get the catalog's default when left out.
    pub suggestion: Option<String>,
    /// Seconds; -1 = never. Error replies get the catalog's default when left out.
    pub interval: Option<i64>,
    /// When set, the reply is a binary frame (§1.2) carrying these bytes (UTF-8 of the text).
    pub binary: Option<String>,
    /// Leave `suggestion` and `interval` out of an error reply entirely (a cloud that gives
    /// no advice: the device must then wait a random 1–3 s).
    pub no_advice: bool,
}

/// The keys of a reply in `auto_reply`.
pub(in crate::scenario) const REPLY_SPEC_KEYS: &[&str] =
    &["errcode", "errmsg", "body", "suggestion", "interval", "no_advice", "binary"];
/// The keys of a `reply` step: a reply, plus which connection and request it answers.
pub(in crate::scenario) const REPLY_KEYS: &[&str] =
    &["conn", "to", "errcode", "errmsg", "body", "suggestion", "interval", "no_advice", "binary"];
pub(in crate::scenario) const SUGGESTIONS: &[&str] = &["retry", "reconnect"];

impl Loader<'_> {
    pub(in crate::scenario) fn reply(&mut self, kind_key: &Node, value: &Node) -> Reply {
        let args = self.mapping_or_nothing(value, "reply", REPLY_KEYS);
        let a = args.as_ref();
        let to = a.and_then(|a| a.get("to")).and_then(|n| self.text(n, "to", "a req_id (a string or a number)"));
        if to.is_none() && a.and_then(|a| a.get("to")).is_none() {
            self.needs_received(kind_key, "reply");
        }
        Reply { conn: a.map_or_else(|| DEFAULT_CONN.to_string(), |a| self.conn(a)), to, spec: self.reply_spec(a) }
    }

    /// A reply as `reply` steps and `auto_reply` entries write it.
    pub(in crate::scenario) fn reply_spec(&mut self, args: Option<&Args<'_>>) -> ReplySpec {
        let get = |key| args.and_then(|a| a.get(key));
        let spec = ReplySpec {
            errcode: get("errcode").and_then(|n| self.integer(n, "errcode")).unwrap_or(0),
            errmsg: get("errmsg").and_then(|n| self.string(n, "errmsg")),
            body: get("body").map(to_json),
            suggestion: get("suggestion").and_then(|n| self.suggestion(n)),
            interval: get("interval").and_then(|n| self.interval(n)),
            binary: get("binary").and_then(|n| self.string(n, "binary")),
            no_advice: get("no_advice").and_then(|n| self.boolean(n, "no_advice")).unwrap_or(false),
        };
        if let (true, Some(args)) = (spec.no_advice, args) {
            for key in ["suggestion", "interval"] {
                if args.get(key).is_some() {
                    let at = key_of(args, key).span;
                    self.error(at, format!("`{key}` cannot be used with `no_advice: true`"));
                }
            }
        }
        spec
    }

    pub(in crate::scenario) fn suggestion(&mut self, node: &Node) -> Option<String> {
        let word = self.string(node, "suggestion")?;
        if SUGGESTIONS.contains(&word.as_str()) {
            return Some(word);
        }
        self.unknown_word(node, &word, "suggestion", SUGGESTIONS);
        None
    }

    /// Seconds before the device may retry; -1 means never.
    pub(in crate::scenario) fn interval(&mut self, node: &Node) -> Option<i64> {
        match node.as_scalar().map(|s| &s.value) {
            Some(ScalarValue::Int(n)) if *n >= -1 => Some(*n),
            Some(ScalarValue::Int(_)) => {
                let d = self.diag(node.span, "`interval` is out of range").expected("seconds (an integer ≥ 0), or -1 for never");
                self.push(d);
                None
            }
            _ => {
                self.wrong_type(node, "interval", "seconds (an integer ≥ 0), or -1 for never");
                None
            }
        }
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, key: &Node, value: &Node, _step: &Node) -> Option<Reply> {
    Some(l.reply(key, value))
}

impl ReplySpec {
    /// The reply's keys as a file writes them (a `reply` step's or an `auto_reply` entry's),
    /// after `head` (the `reply` step's `conn` and `to`).
    pub fn to_args(&self, head: Out) -> Out {
        let errcode = (self.errcode != 0).then_some(self.errcode);
        head.opt("errcode", errcode)
            .opt("errmsg", self.errmsg.clone())
            .opt("body", self.body.clone())
            .opt("suggestion", self.suggestion.clone())
            .opt("interval", self.interval)
            .opt("binary", self.binary.clone())
            .flag("no_advice", self.no_advice)
    }

    /// The reply in flow style, as an `auto_reply` entry writes it.
    pub fn to_value(&self) -> Value {
        self.to_args(Out::new()).value()
    }
}

pub fn to_yaml(r: &Reply, indent: usize) -> Vec<String> {
    let args = r.spec.to_args(Out::new().conn(&r.conn).opt("to", r.to.clone()));
    render::item(indent, NAME, &args.value(), &[])
}
