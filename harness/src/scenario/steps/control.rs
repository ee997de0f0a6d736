//! The `control` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "control";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = CONTROL_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

/// Control operations on a target that accepts them (the mock).
#[derive(Clone, Debug, PartialEq)]
pub enum Control {
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
}

pub(in crate::scenario) const CONTROL_KEYS: &[&str] = &["bind", "unbind", "swallow_reply", "delay_replies", "close_link"];

impl Loader<'_> {
    pub(in crate::scenario) fn control(&mut self, kind_key: &Node, value: &Node) -> Option<Control> {
        if !self.control {
            let d = self
                .diag(kind_key.span, "a `control` step needs a target that accepts harness control")
                .help("add `requires: [control]` at the top level (the scenario then runs only against the mock)");
            self.push(d);
        }
        let args = self.step_args(value, "control", CONTROL_KEYS)?;
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
            "swallow_reply" => self.string(node, key).map(|cmd| Control::SwallowReply { cmd }),
            "delay_replies" => self.duration(node, key).map(Control::DelayReplies),
            _ => None, // an unknown key, already reported by `args`
        }
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, key: &Node, value: &Node, _step: &Node) -> Option<Control> {
    l.control(key, value)
}

pub fn to_yaml(c: &Control, indent: usize) -> Vec<String> {
    let device = |d: &Option<String>| d.clone().map_or(serde_json::Value::Null, serde_json::Value::from);
    let args = match c {
        Control::Bind { device: d } => Out::new().set("bind", device(d)),
        Control::Unbind { device: d } => Out::new().set("unbind", device(d)),
        Control::CloseLink { device: d } => Out::new().set("close_link", device(d)),
        Control::SwallowReply { cmd } => Out::new().set("swallow_reply", cmd.as_str()),
        Control::DelayReplies(d) => Out::new().set("delay_replies", render::duration(d)),
    };
    render::item(indent, NAME, &args.value(), &[])
}
