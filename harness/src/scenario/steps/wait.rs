//! The `wait` step: let scenario time pass (both roles). `wait: 5s`, or
//! `wait: { for: 61s, keepalive: true }` when the link is to stay alive meanwhile (the device
//! role: the harness sends the profile's keepalive request at its interval, as a device would).

use crate::scenario::parse::*;
use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::yaml::Node;
use std::time::Duration;

pub const NAME: &str = "wait";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = &["for", "keepalive"];
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

#[derive(Clone, Debug, PartialEq)]
pub struct Wait {
    pub duration: DurationExpr,
    /// Device role: every open connection sends the profile's keepalive request at its
    /// interval while the time passes (silence is then not the point of the wait).
    pub keepalive: bool,
}

impl From<DurationExpr> for Wait {
    fn from(duration: DurationExpr) -> Wait {
        Wait { duration, keepalive: false }
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<Wait> {
    if value.as_mapping().is_none() {
        return Some(duration_of(l, value, NAME).into());
    }
    let args = l.step_args(value, NAME, KEYS)?;
    let duration = l.required(&args, "for", "a `wait` step").and_then(|n| l.duration(n, "for"));
    let keepalive = args.get("keepalive").and_then(|n| l.boolean(n, "keepalive")).unwrap_or(false);
    if let Some(role) = l.role.filter(|r| keepalive && *r != Role::Device) {
        let d = l
            .diag(key_of(&args, "keepalive").span, format!("`keepalive` belongs to the device role; this scenario has `role: {}`", role.as_str()))
            .note(format!("with `role: {}` the device under test keeps its own link alive", role.as_str()));
        l.push(d);
    }
    Some(Wait { duration: duration.unwrap_or(DurationExpr::Fixed(Duration::ZERO)), keepalive })
}

pub fn to_yaml(w: &Wait, indent: usize) -> Vec<String> {
    if !w.keepalive {
        return duration_item(NAME, &w.duration, indent);
    }
    let args = Out::new().set("for", render::duration(&w.duration)).flag("keepalive", true);
    render::item(indent, NAME, &args.value(), &[])
}

/// A step whose whole argument is a duration (`wait`, `delay`); a bad one is reported and
/// reads as zero so loading goes on to find the next error.
pub(in crate::scenario) fn duration_of(l: &mut Loader<'_>, value: &Node, kind: &str) -> DurationExpr {
    l.duration(value, kind).unwrap_or(DurationExpr::Fixed(Duration::ZERO))
}

/// `- KIND: DURATION`.
pub(in crate::scenario) fn duration_item(kind: &str, d: &DurationExpr, indent: usize) -> Vec<String> {
    render::item(indent, kind, &render::duration(d), &[])
}
