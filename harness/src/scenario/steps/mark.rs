//! The `mark` step: its keys and its parser.

use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

impl Loader<'_> {
    pub(in crate::scenario) fn mark(&mut self, value: &Node) -> Option<String> {
        let name = self.name(value, "mark")?;
        self.marks.push((name.clone(), value.span));
        Some(name)
    }
}
