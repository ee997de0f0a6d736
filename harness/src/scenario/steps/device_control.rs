//! The `device_control` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "device_control";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = DEVICE_CONTROL_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

/// Stimuli for the reference device: things a person would do at a real one.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceControl {
    /// A user checks in (or passes the door): the device records and uploads it.
    Checkin { userid: String, pass_type: Option<u32>, pass_method: Option<u32> },
}

pub(in crate::scenario) const DEVICE_CONTROL_KEYS: &[&str] = &["checkin"];
pub(in crate::scenario) const CHECKIN_KEYS: &[&str] = &["userid", "pass_type", "pass_method"];

impl Loader<'_> {
    pub(in crate::scenario) fn device_control(&mut self, kind_key: &Node, value: &Node) -> Option<DeviceControl> {
        if !self.device_control {
            let d = self.diag(kind_key.span, "a `device_control` step needs a device target the harness can make act").help(
                "add `requires: [device_control]` at the top level (the scenario then runs only against the reference device)",
            );
            self.push(d);
        }
        let args = self.step_args(value, "device_control", DEVICE_CONTROL_KEYS)?;
        let (key, node) = match args.pairs {
            [(k, v)] => (k.key_text(), v),
            [] => {
                let d = self
                    .diag(value.span, "a `device_control` step needs an action")
                    .expected(format!("one of: {}", DEVICE_CONTROL_KEYS.join(", ")));
                self.push(d);
                return None;
            }
            [(first, _), (second, _), ..] => {
                let msg =
                    format!("a `device_control` step does one thing; found `{}` and `{}`", first.key_text(), second.key_text());
                self.error(second.span, msg);
                return None;
            }
        };
        match key {
            "checkin" => self.checkin(node),
            _ => None, // an unknown key, already reported by `args`
        }
    }

    pub(in crate::scenario) fn checkin(&mut self, node: &Node) -> Option<DeviceControl> {
        let args = self.args(node, "a `checkin`", CHECKIN_KEYS, "checkin")?;
        let userid = self.required(&args, "userid", "a `checkin`").and_then(|n| {
            self.text(n, "userid", "a user id (a string)").filter(|u| {
                let empty = u.trim().is_empty();
                if empty {
                    self.error(n.span, "`userid` is empty");
                }
                !empty
            })
        });
        // The catalog's values: pass_type 1 in, 2 out, 3 unknown; pass_method 1 face, 2 QR,
        // 3 remote, 4 fingerprint, 5 WeCom scans the device's QR, 6 the device scans a phone's.
        let pass_type = args.get("pass_type").and_then(|n| self.integer_in(n, "pass_type", 1, 3)).map(|n| n as u32);
        let pass_method = args.get("pass_method").and_then(|n| self.integer_in(n, "pass_method", 1, 6)).map(|n| n as u32);
        Some(DeviceControl::Checkin { userid: userid?, pass_type, pass_method })
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, key: &Node, value: &Node, _step: &Node) -> Option<DeviceControl> {
    l.device_control(key, value)
}

pub fn to_yaml(c: &DeviceControl, indent: usize) -> Vec<String> {
    let DeviceControl::Checkin { userid, pass_type, pass_method } = c;
    let checkin = Out::new().set("userid", userid.as_str()).opt("pass_type", *pass_type).opt("pass_method", *pass_method);
    render::item(indent, NAME, &Out::new().set("checkin", checkin.value()).value(), &[])
}
