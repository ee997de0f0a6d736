//! The `wait` step: let scenario time pass (both roles).

use crate::scenario::parse::*;
use crate::scenario::render;
use crate::scenario::span::*;
use crate::scenario::yaml::Node;
use std::time::Duration;

pub const NAME: &str = "wait";
pub const ROLES: &[Role] = super::COMMON;
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = &[];
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<DurationExpr> {
    Some(duration_of(l, value, NAME))
}

pub fn to_yaml(d: &DurationExpr, indent: usize) -> Vec<String> {
    duration_item(NAME, d, indent)
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
