//! The `fault` step: a fault the harness applies to its own traffic on one connection (drop,
//! delay or duplicate the next frames one way, go half-open, reset), so fault scenarios run
//! against any target, not only one with a control plane.

use crate::scenario::diagnostic::did_you_mean;
use crate::scenario::parse::*;
use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::yaml::Node;
use serde_json::json;

pub const NAME: &str = "fault";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = &["conn", "drop", "delay", "duplicate", "half_open", "reset", "by", "match", "count"];
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

/// The most frames one fault may take.
pub const MAX_FAULT_COUNT: i64 = 1000;

/// The keys naming what the fault does; a step has exactly one.
const ACTIONS: &[&str] = &["drop", "delay", "duplicate", "half_open", "reset"];
const DIRECTIONS: &[&str] = &["inbound", "outbound"];
const MATCH_KEYS: &[&str] = &["cmd", "reply_to"];

#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub conn: ConnName,
    pub action: FaultAction,
}

/// Which way the frames a fault takes travel, seen from the harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultDirection {
    /// From the target to the harness.
    Inbound,
    /// From the harness to the target.
    Outbound,
}

impl FaultDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultDirection::Inbound => "inbound",
            FaultDirection::Outbound => "outbound",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    /// Something done to the next `count` frames one way (that `only` takes, when given).
    Frames { direction: FaultDirection, what: FrameFaultKind, only: Option<FaultMatch>, count: u32 },
    /// Stop reading, keep the socket.
    HalfOpen,
    /// Drop the socket without a close frame.
    Reset,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FrameFaultKind {
    Drop,
    Delay(DurationExpr),
    Duplicate,
}

/// Which frames a frame fault takes.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultMatch {
    /// Requests (or pushes) of this command.
    Cmd(String),
    /// Replies to a frame of this command sent the other way on the connection.
    ReplyTo(String),
}

impl Loader<'_> {
    fn fault(&mut self, value: &Node) -> Option<Fault> {
        let args = self.step_args(value, NAME, KEYS)?;
        let conn = self.conn(&args);
        let given: Vec<&str> = ACTIONS.iter().copied().filter(|k| args.get(k).is_some()).collect();
        let Some(&action) = given.first() else {
            if !ACTIONS.iter().any(|a| args.misspells(a)) {
                let d = self
                    .diag(args.node.span, "a `fault` step says what the harness does")
                    .expected(format!("one of: {}", ACTIONS.join(", ")))
                    .note("e.g. `fault: { drop: inbound, match: { reply_to: register } }`");
                self.push(d);
            }
            return None;
        };
        if let Some(second) = given.get(1) {
            let d = self
                .diag(key_of(&args, second).span, format!("a `fault` step does one thing; found `{action}` and `{second}`"))
                .help("write one `fault` step per fault");
            self.push(d);
            return None;
        }
        let node = key_of(&args, action);
        let value = args.get(action)?;
        let frames = matches!(action, "drop" | "delay" | "duplicate");
        if !frames {
            for key in ["by", "match", "count"] {
                if args.get(key).is_some() {
                    self.error(key_of(&args, key).span, format!("`{key}` applies to frame faults (drop, delay, duplicate), not to `{action}`"));
                }
            }
            return match self.boolean(value, action)? {
                true => Some(Fault { conn, action: if action == "reset" { FaultAction::Reset } else { FaultAction::HalfOpen } }),
                false => {
                    self.error(value.span, format!("`{action}: false` does nothing; leave the step out"));
                    None
                }
            };
        }
        let direction = self.direction(value, action);
        let by = args.get("by");
        let what = match (action, by) {
            ("delay", Some(n)) => self.duration(n, "by").map(FrameFaultKind::Delay),
            ("delay", None) => {
                self.error(node.span, "missing required key `by` in a `fault` step that delays (how long, e.g. `by: 3s`)");
                None
            }
            (_, Some(_)) => {
                self.error(key_of(&args, "by").span, format!("`by` applies to `delay`, not to `{action}`"));
                None
            }
            ("drop", None) => Some(FrameFaultKind::Drop),
            _ => Some(FrameFaultKind::Duplicate),
        };
        let only = args.get("match").and_then(|n| self.fault_match(n));
        let count = match args.get("count") {
            Some(n) => self.integer_in(n, "count", 1, MAX_FAULT_COUNT).map(|c| c as u32),
            None => Some(1),
        };
        Some(Fault { conn, action: FaultAction::Frames { direction: direction?, what: what?, only, count: count? } })
    }

    fn direction(&mut self, node: &Node, key: &str) -> Option<FaultDirection> {
        let text = self.string(node, key)?;
        match text.as_str() {
            "inbound" => Some(FaultDirection::Inbound),
            "outbound" => Some(FaultDirection::Outbound),
            _ => {
                let d = self
                    .diag(node.span, format!("invalid direction `{text}` for `{key}`"))
                    .expected("inbound (target to harness) or outbound (harness to target)")
                    .maybe_help(did_you_mean(&text, DIRECTIONS));
                self.push(d);
                None
            }
        }
    }

    fn fault_match(&mut self, node: &Node) -> Option<FaultMatch> {
        let args = self.args(node, "a fault's `match`", MATCH_KEYS, "match")?;
        let given: Vec<&str> = MATCH_KEYS.iter().copied().filter(|k| args.get(k).is_some()).collect();
        match given.as_slice() {
            [] => {
                // Unknown keys were reported already; an empty mapping was not.
                if args.pairs.is_empty() {
                    let d = self.diag(node.span, "an empty `match` takes every frame; leave it out").expected("`cmd: NAME` or `reply_to: NAME`");
                    self.push(d);
                }
                None
            }
            [one] => {
                let text = self.string(args.get(one)?, one)?;
                Some(if *one == "cmd" { FaultMatch::Cmd(text) } else { FaultMatch::ReplyTo(text) })
            }
            [_, second, ..] => {
                self.error(key_of(&args, second).span, "a fault's `match` takes `cmd` or `reply_to`, not both");
                None
            }
        }
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<Fault> {
    l.fault(value)
}

pub fn to_yaml(f: &Fault, indent: usize) -> Vec<String> {
    let args = Out::new().conn(&f.conn);
    let args = match &f.action {
        FaultAction::HalfOpen => args.set("half_open", true),
        FaultAction::Reset => args.set("reset", true),
        FaultAction::Frames { direction, what, only, count } => {
            let (key, by) = match what {
                FrameFaultKind::Drop => ("drop", None),
                FrameFaultKind::Delay(d) => ("delay", Some(d)),
                FrameFaultKind::Duplicate => ("duplicate", None),
            };
            let only = only.as_ref().map(|m| match m {
                FaultMatch::Cmd(c) => json!({ "cmd": c }),
                FaultMatch::ReplyTo(c) => json!({ "reply_to": c }),
            });
            args.set(key, direction.as_str()).dur("by", by).opt("match", only).opt("count", (*count != 1).then_some(*count))
        }
    };
    render::item(indent, NAME, &args.value(), &[])
}
