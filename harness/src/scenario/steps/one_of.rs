//! The `one_of` step: where the protocol allows the target several conformant continuations
//! (retry on the same link after the interval, or reconnect after it), the scenario lists
//! them and the target's first move picks one. A scenario that pinned one path would fail
//! every implementation that chose another.

use super::{Step, StepKind};
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;

pub const NAME: &str = "one_of";
/// The keys of its arguments (branch names are the scenario's own).
pub(in crate::scenario) const KEYS: &[&str] = &[];
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];
/// The step kinds a branch may start with: the target's move that picks it.
pub const TRIGGERS: &[&str] = &[super::receive::NAME, super::accept::NAME, super::expect_reconnect::NAME];

#[derive(Clone, Debug)]
pub struct OneOf {
    /// In file order; when two could start at once, the first listed wins.
    pub branches: Vec<Branch>,
}

/// One allowed continuation.
#[derive(Clone, Debug)]
pub struct Branch {
    pub name: String,
    /// Starts with one of [`TRIGGERS`].
    pub steps: Vec<Step>,
}

impl Loader<'_> {
    pub(in crate::scenario) fn one_of(&mut self, value: &Node) -> Option<OneOf> {
        let Some(pairs) = value.as_mapping() else {
            self.wrong_type(value, NAME, "a mapping of branch names to lists of steps");
            return None;
        };
        if pairs.len() < 2 {
            let d = self.diag(value.span, "`one_of` needs at least two branches").expected("one branch per conformant continuation, each a list of steps");
            self.push(d);
        }
        let mut branches = Vec::new();
        for (key, steps) in pairs {
            let name = self.name(key, "a `one_of` branch")?;
            let steps = self.steps(steps, &name);
            if let Some(first) = steps.first() {
                if !is_trigger(&first.kind) {
                    let d = self.diag(first.span, format!("branch `{name}` starts with `{}`", first.kind.name())).expected(format!(
                        "the target's move that picks the branch: one of {}",
                        TRIGGERS.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
                    ));
                    self.push(d);
                }
            }
            branches.push(Branch { name, steps });
        }
        Some(OneOf { branches })
    }
}

fn is_trigger(kind: &StepKind) -> bool {
    matches!(kind, StepKind::Receive(_) | StepKind::Accept(_) | StepKind::ExpectReconnect(_))
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<OneOf> {
    l.one_of(value)
}

/// Block style: one branch name per line, its steps one level deeper.
pub fn to_yaml(o: &OneOf, indent: usize) -> Vec<String> {
    let pad = " ".repeat(indent);
    let mut lines = vec![format!("{pad}- {NAME}:")];
    for b in &o.branches {
        lines.push(format!("{pad}    {}:", b.name));
        lines.extend(super::render_steps(&b.steps, indent + 6));
    }
    lines
}
