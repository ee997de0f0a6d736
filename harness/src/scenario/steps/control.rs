//! The `control` step: its keys and its parser.

use crate::scenario::model::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

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
