//! The `control` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::parse::*;
use crate::scenario::matcher::Matcher;
use crate::scenario::yaml::Node;
use std::collections::BTreeMap;

pub const NAME: &str = "control";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = CONTROL_KEYS;
/// The keys that may sit beside the kind key: a `mock` operation's answer is matched by
/// `expect` and read by `capture`.
pub(in crate::scenario) const SIBLINGS: &[&str] = &["expect", "capture"];

/// Control operations on a target that accepts them (the mock).
#[derive(Clone, Debug, PartialEq)]
pub enum Control {
    /// Any operation of the target's control plane, written as its JSON request (`${}`
    /// expanded); the answer is matched by `expect` and read by `capture`.
    Mock { request: serde_json::Value, expect: Option<Spanned<Matcher>>, capture: BTreeMap<String, String> },
    /// Bind the device to a corp (the mock pushes `push_bind_corp` on a live link).
    Bind { device: Option<String> },
    /// Unbind it (`push_unbind_corp`).
    Unbind { device: Option<String> },
    /// Swallow the reply to the next request of `cmd` (it still takes effect).
    SwallowReply { cmd: String },
    /// Delay every reply by this much until changed (0 to stop).
    DelayReplies(DurationExpr),
    /// Close the device's live link from the cloud side.
    CloseLink { device: Option<String> },
    /// A person opens the door remotely (`push_remote_open_door`, C19).
    RemoteOpenDoor { userid: String },
    /// The vendor asks for the device's logs with a hint (`push_fetch_log`, C22).
    FetchLog { hint: String },
    /// A person scans the device's login QR (`push_user_scan`, C24): the static QR of `state`,
    /// or a dynamic one made at `dynamic_timestamp` (unix seconds, `${}` expanded).
    ScanQr { userid: String, state: String, dynamic_timestamp: Option<String> },
    /// A question, not an act: the cloud shows the remote open `oper_id` as failed (C19).
    RemoteOpenFailed { oper_id: String },
}

impl Control {
    /// An action a corp, a person or the vendor takes on the cloud's side (the TTCN-3 upper
    /// tester's primitives): the mock's control plane or the lab's cloud upper tester
    /// performs it (`requires: [cloud_control]`). The others are the mock's alone.
    pub fn is_action(&self) -> bool {
        self.action_name().is_some()
    }

    /// The action's name, as the upper tester's JSON and a cloud statement write it.
    pub fn action_name(&self) -> Option<&'static str> {
        Some(match self {
            Control::Bind { .. } => "bind",
            Control::Unbind { .. } => "unbind",
            Control::RemoteOpenDoor { .. } => "remote_open_door",
            Control::FetchLog { .. } => "fetch_log",
            Control::ScanQr { .. } => "scan_qr",
            Control::RemoteOpenFailed { .. } => "remote_open_failed",
            Control::Mock { .. } | Control::SwallowReply { .. } | Control::DelayReplies(_) | Control::CloseLink { .. } => return None,
        })
    }
}

pub(in crate::scenario) const CONTROL_KEYS: &[&str] =
    &["bind", "unbind", "remote_open_door", "fetch_log", "scan_qr", "remote_open_failed", "swallow_reply", "delay_replies", "close_link", "mock"];
/// The keys of `control` that are actions a cloud upper tester can perform.
const ACTION_KEYS: &[&str] = &["bind", "unbind", "remote_open_door", "fetch_log", "scan_qr", "remote_open_failed"];
const REMOTE_OPEN_DOOR_KEYS: &[&str] = &["userid"];
const FETCH_LOG_KEYS: &[&str] = &["hint"];
const SCAN_QR_KEYS: &[&str] = &["userid", "state", "dynamic_timestamp"];

impl Loader<'_> {
    pub(in crate::scenario) fn control(&mut self, kind_key: &Node, value: &Node, step: &Node) -> Option<Control> {
        let args = self.step_args(value, "control", CONTROL_KEYS)?;
        let action = args.pairs.first().is_some_and(|(k, _)| ACTION_KEYS.contains(&k.key_text()));
        if action && !(self.control || self.cloud_control) {
            let d = self
                .diag(kind_key.span, "this `control` action needs a cloud that can be made to act")
                .help("add `requires: [cloud_control]` at the top level (the mock's control plane or the lab's `--cloud-upper-tester` performs it)");
            self.push(d);
        } else if !action && !self.control {
            let d = self
                .diag(kind_key.span, "a `control` step needs a target that accepts harness control")
                .help("add `requires: [control]` at the top level (the scenario then runs only against the mock)");
            self.push(d);
        }
        let (key, node) = match args.pairs {
            [(k, v)] => (k.key_text(), v),
            [] => {
                let d = self
                    .diag(value.span, "a `control` step needs an operation")
                    .expected(format!("one of: {}", CONTROL_KEYS.join(", ")));
                self.push(d);
                return None;
            }
            [(first, _), (second, _), ..] => {
                let msg = format!("a `control` step does one thing; found `{}` and `{}`", first.key_text(), second.key_text());
                self.error(second.span, msg);
                return None;
            }
        };
        let device = |this: &mut Self| {
            if node.is_null() {
                Some(None)
            } else {
                this.device(node, key).map(Some)
            }
        };
        match key {
            "bind" => device(self).map(|device| Control::Bind { device }),
            "unbind" => device(self).map(|device| Control::Unbind { device }),
            "close_link" => device(self).map(|device| Control::CloseLink { device }),
            "remote_open_door" => {
                let args = self.args(node, "a `remote_open_door`", REMOTE_OPEN_DOOR_KEYS, key)?;
                self.required_string(&args, "userid", "a `remote_open_door`").map(|userid| Control::RemoteOpenDoor { userid })
            }
            "fetch_log" => {
                let args = self.args(node, "a `fetch_log`", FETCH_LOG_KEYS, key)?;
                self.required_string(&args, "hint", "a `fetch_log`").map(|hint| Control::FetchLog { hint })
            }
            "scan_qr" => {
                let args = self.args(node, "a `scan_qr`", SCAN_QR_KEYS, key)?;
                let userid = self.required_string(&args, "userid", "a `scan_qr`");
                let state = self.required_string(&args, "state", "a `scan_qr`");
                let dynamic_timestamp = args.get("dynamic_timestamp").and_then(|n| self.text(n, "dynamic_timestamp", "unix seconds (`${now-60}`)"));
                Some(Control::ScanQr { userid: userid?, state: state?, dynamic_timestamp })
            }
            "remote_open_failed" => self.text(node, key, "an oper_id (`${captured}`)").map(|oper_id| Control::RemoteOpenFailed { oper_id }),
            "swallow_reply" => self.string(node, key).map(|cmd| Control::SwallowReply { cmd }),
            "delay_replies" => self.duration(node, key).map(Control::DelayReplies),
            "mock" => {
                if node.as_mapping().is_none_or(|m| m.iter().all(|(k, _)| k.key_text() != "op")) {
                    let d = self.diag(node.span, "a `mock` control operation is its JSON request").expected("a mapping with `op` (e.g. `{ op: add_user, user: { userid: u1 } }`)");
                    self.push(d);
                    return None;
                }
                Some(Control::Mock {
                    request: crate::scenario::yaml::to_json(node),
                    expect: step.get("expect").map(|n| self.spanned_matcher(n)),
                    capture: step.get("capture").map(|n| self.capture(n)).unwrap_or_default(),
                })
            }
            _ => None, // an unknown key, already reported by `args`
        }
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, key: &Node, value: &Node, step: &Node) -> Option<Control> {
    let control = l.control(key, value, step)?;
    if !matches!(control, Control::Mock { .. }) {
        for sibling in SIBLINGS.iter().filter_map(|s| step.get(s)) {
            let d = l.diag(sibling.span, "only a `mock` control operation has an answer to match or capture").help("`control: { mock: { op: ... } }`");
            l.push(d);
        }
    }
    Some(control)
}

pub fn to_yaml(c: &Control, indent: usize) -> Vec<String> {
    let (args, expect, capture) = match c {
        Control::Mock { request, expect, capture } => (Out::new().set("mock", request.clone()), expect.as_ref(), Some(capture)),
        other => (plain(other), None, None),
    };
    let mut siblings = Vec::new();
    if let Some(m) = expect {
        siblings.push(("expect", m.value.to_value()));
    }
    siblings.extend(capture.map(render::capture).unwrap_or_default());
    render::item(indent, NAME, &args.value(), &siblings)
}

fn plain(c: &Control) -> Out {
    let device = |d: &Option<String>| d.clone().map_or(serde_json::Value::Null, serde_json::Value::from);
    match c {
        Control::Bind { device: d } => Out::new().set("bind", device(d)),
        Control::Unbind { device: d } => Out::new().set("unbind", device(d)),
        Control::CloseLink { device: d } => Out::new().set("close_link", device(d)),
        Control::SwallowReply { cmd } => Out::new().set("swallow_reply", cmd.as_str()),
        Control::DelayReplies(d) => Out::new().set("delay_replies", render::duration(d)),
        Control::RemoteOpenDoor { userid } => Out::new().set("remote_open_door", Out::new().set("userid", userid.as_str()).value()),
        Control::FetchLog { hint } => Out::new().set("fetch_log", Out::new().set("hint", hint.as_str()).value()),
        Control::ScanQr { userid, state, dynamic_timestamp } => {
            let args = Out::new().set("userid", userid.as_str()).set("state", state.as_str()).opt("dynamic_timestamp", dynamic_timestamp.as_deref());
            Out::new().set("scan_qr", args.value())
        }
        Control::RemoteOpenFailed { oper_id } => Out::new().set("remote_open_failed", oper_id.as_str()),
        Control::Mock { .. } => Out::new(),
    }
}
