//! The `repeat` step: its keys and its parser.

use crate::scenario::model::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

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
