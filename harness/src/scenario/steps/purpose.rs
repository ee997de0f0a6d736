//! The `purpose` step: where the test body starts (ISO 9646's preamble / test body split).
//! The steps before it only bring the target to the state the test purpose needs; a target
//! that does not get there (or gets there by another conformant path) proves nothing either
//! way, so a failure before this step is `inconclusive`, not a `fail` of the scenario's ids.

use crate::scenario::parse::*;
use crate::scenario::render;
use crate::scenario::yaml::Node;

pub const NAME: &str = "purpose";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = &[];
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

/// The test purpose, in the words of the obligation it checks.
#[derive(Clone, Debug, PartialEq)]
pub struct Purpose {
    pub text: String,
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<Purpose> {
    let text = l.text(value, NAME, "a sentence saying what the test body checks")?;
    if text.trim().is_empty() {
        l.error(value.span, "`purpose` needs a sentence saying what the test body checks");
        return None;
    }
    l.purposes.push(value.span);
    Some(Purpose { text })
}

pub fn to_yaml(p: &Purpose, indent: usize) -> Vec<String> {
    render::item(indent, NAME, &serde_json::Value::from(p.text.as_str()), &[])
}
