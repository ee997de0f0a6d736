//! The `repeat` step: the typed step, its name and role, its keys, its parser and its rendering.

use super::Step;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "repeat";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = REPEAT_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

#[derive(Clone, Debug)]
pub struct Repeat {
    pub times: u32,
    pub steps: Vec<Step>,
}

pub(in crate::scenario) const REPEAT_KEYS: &[&str] = &["times", "steps"];
/// Upper bound on `repeat.times`: enough for rate limits, small enough to finish.
pub const MAX_REPEAT: i64 = 1000;

impl Loader<'_> {
    pub(in crate::scenario) fn repeat(&mut self, value: &Node) -> Repeat {
        let Some(args) = self.step_args(value, "repeat", REPEAT_KEYS) else {
            return Repeat { times: 0, steps: Vec::new() };
        };
        let times = self
            .required(&args, "times", "a `repeat` step")
            .and_then(|n| self.integer_in(n, "times", 1, MAX_REPEAT))
            .unwrap_or(0);
        let steps = self.required(&args, "steps", "a `repeat` step").map(|n| self.steps(n, "steps")).unwrap_or_default();
        Repeat { times: times as u32, steps }
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<Repeat> {
    Some(l.repeat(value))
}

/// Block style: `times` and `steps` on their own lines, the nested steps one level deeper.
pub fn to_yaml(r: &Repeat, indent: usize) -> Vec<String> {
    let pad = " ".repeat(indent);
    let mut lines = vec![format!("{pad}- {NAME}:"), format!("{pad}    times: {}", r.times), format!("{pad}    steps:")];
    lines.extend(super::render_steps(&r.steps, indent + 6));
    lines
}
