//! The `delay` step: let scenario time pass before the next step (cloud role).

use super::wait::{duration_item, duration_of};
use crate::scenario::parse::*;
use crate::scenario::span::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "delay";
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
