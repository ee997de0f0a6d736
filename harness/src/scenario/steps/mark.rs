//! The `mark` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::parse::*;
use crate::scenario::render;
use crate::scenario::yaml::Node;

pub const NAME: &str = "mark";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = &[];
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

impl Loader<'_> {
    pub(in crate::scenario) fn mark(&mut self, value: &Node) -> Option<String> {
        let name = self.name(value, "mark")?;
        self.marks.push((name.clone(), value.span));
        Some(name)
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<String> {
    l.mark(value)
}

pub fn to_yaml(name: &str, indent: usize) -> Vec<String> {
    render::item(indent, NAME, &serde_json::Value::from(name), &[])
}
