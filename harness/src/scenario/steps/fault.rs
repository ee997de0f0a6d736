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
/// The observer's form: one action naming the direction, and what it takes. Each fault takes
/// one frame.
const LINK_KEYS: &[&str] = &["drop", "delay", "duplicate", "reset", "by", "match"];
const LINK_ACTIONS: &[&str] = &["drop", "delay", "duplicate", "reset"];
const LINK_DIRECTIONS: &[&str] = &["to_cloud", "to_device"];

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
    /// Observer role: something done to the next frame one way on the observed link (that
    /// `only` takes, when given), once.
    Link { toward: LinkDirection, what: LinkFaultKind, only: Option<FaultMatch> },
}

/// Which way a frame goes through the observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkDirection {
    ToCloud,
    ToDevice,
}

impl LinkDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkDirection::ToCloud => "to_cloud",
            LinkDirection::ToDevice => "to_device",
        }
    }
}

/// What an observer's fault does to the frame it takes.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkFaultKind {
    Drop,
    Delay(DurationExpr),
    Duplicate,
    /// The frame never arrives and both parties' links are reset.
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
        if self.role == Some(Role::Observer) {
            return self.link_fault(value);
        }
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

    /// The observer's form: `ACTION: to_cloud|to_device`, `by` for a delay, `match`.
    fn link_fault(&mut self, value: &Node) -> Option<Fault> {
        let args = self.step_args(value, NAME, LINK_KEYS)?;
        let given: Vec<&str> = LINK_ACTIONS.iter().copied().filter(|k| args.get(k).is_some()).collect();
        let action = match given.as_slice() {
            [] => {
                if !LINK_ACTIONS.iter().any(|a| args.misspells(a)) {
                    let d = self
                        .diag(args.node.span, "a `fault` step says what the observer does to the link")
                        .expected(format!("one of: {}", LINK_ACTIONS.join(", ")))
                        .note("e.g. `fault: { drop: to_device, match: { reply_to: register } }`");
                    self.push(d);
                }
                return None;
            }
            [one] => *one,
            [first, second, ..] => {
                let d = self
                    .diag(key_of(&args, second).span, format!("a `fault` step does one thing; found `{first}` and `{second}`"))
                    .help("write one `fault` step per fault");
                self.push(d);
                return None;
            }
        };
        let node = args.get(action)?;
        let text = self.string(node, action)?;
        let toward = match text.as_str() {
            "to_cloud" => Some(LinkDirection::ToCloud),
            "to_device" => Some(LinkDirection::ToDevice),
            _ => {
                let d = self
                    .diag(node.span, format!("invalid direction `{text}` for `{action}`"))
                    .expected("to_cloud (frames the device sends) or to_device (frames the cloud sends)")
                    .maybe_help(did_you_mean(&text, LINK_DIRECTIONS));
                self.push(d);
                None
            }
        };
        let what = match (action, args.get("by")) {
            ("delay", Some(n)) => self.duration(n, "by").map(LinkFaultKind::Delay),
            ("delay", None) => {
                self.error(key_of(&args, action).span, "missing required key `by` in a `fault` step that delays (how long, e.g. `by: 3s`)");
                None
            }
            (_, Some(_)) => {
                self.error(key_of(&args, "by").span, format!("`by` applies to `delay`, not to `{action}`"));
                None
            }
            ("drop", None) => Some(LinkFaultKind::Drop),
            ("duplicate", None) => Some(LinkFaultKind::Duplicate),
            _ => Some(LinkFaultKind::Reset),
        };
        let only = args.get("match").and_then(|n| self.fault_match(n));
        Some(Fault { conn: DEFAULT_CONN.to_string(), action: FaultAction::Link { toward: toward?, what: what?, only } })
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

fn match_value(m: &FaultMatch) -> serde_json::Value {
    match m {
        FaultMatch::Cmd(c) => json!({ "cmd": c }),
        FaultMatch::ReplyTo(c) => json!({ "reply_to": c }),
    }
}

pub fn to_yaml(f: &Fault, indent: usize) -> Vec<String> {
    let args = Out::new().conn(&f.conn);
    let args = match &f.action {
        FaultAction::HalfOpen => args.set("half_open", true),
        FaultAction::Reset => args.set("reset", true),
        FaultAction::Link { toward, what, only } => {
            let (key, by) = match what {
                LinkFaultKind::Drop => ("drop", None),
                LinkFaultKind::Delay(d) => ("delay", Some(d)),
                LinkFaultKind::Duplicate => ("duplicate", None),
                LinkFaultKind::Reset => ("reset", None),
            };
            Out::new().set(key, toward.as_str()).dur("by", by).opt("match", only.as_ref().map(match_value))
        }
        FaultAction::Frames { direction, what, only, count } => {
            let (key, by) = match what {
                FrameFaultKind::Drop => ("drop", None),
                FrameFaultKind::Delay(d) => ("delay", Some(d)),
                FrameFaultKind::Duplicate => ("duplicate", None),
            };
            let only = only.as_ref().map(match_value);
            args.set(key, direction.as_str()).dur("by", by).opt("match", only).opt("count", (*count != 1).then_some(*count))
        }
    };
    render::item(indent, NAME, &args.value(), &[])
}
