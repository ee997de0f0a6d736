//! The loader's step lists: one step out of its mapping (the kind key, the role check, the
//! keys beside it), with the diagnostics a misplaced or misspelt kind gets.

use super::super::diagnostic::did_you_mean;
use super::super::model::*;
use super::super::parse::*;
use super::super::steps::{keys_of, parse_kind, roles_of, siblings_of, DELIBERATE, JUDGES};
use super::super::yaml::Node;
use super::MAX_STEPS;

impl Loader<'_> {
    pub(in crate::scenario) fn steps(&mut self, node: &Node, key: &str) -> Vec<Step> {
        let Some(items) = node.as_sequence() else {
            self.wrong_type(node, key, "a list of steps");
            return Vec::new();
        };
        if items.is_empty() {
            self.error(node.span, format!("`{key}` must hold at least one step"));
        }
        items.iter().filter_map(|item| self.step(item)).collect()
    }

    pub(in crate::scenario) fn step(&mut self, node: &Node) -> Option<Step> {
        self.step_count += 1;
        if self.step_count > MAX_STEPS {
            if self.step_count == MAX_STEPS + 1 {
                let d = self
                    .diag(node.span, format!("more than {MAX_STEPS} steps in one scenario"))
                    .expected("a scenario of at most this many steps: a `repeat` runs steps many times without writing them out");
                self.push(d);
            }
            return None;
        }
        let mark = self.diags.len();
        let Some(pairs) = node.as_mapping() else {
            let mut d = self
                .diag(node.span, "a step must be a mapping with one kind key")
                .expected(format!(
                    "one of: {}, found {}",
                    self.role_kinds().join(", "),
                    node.describe()
                ));
            if let Some(kind) = node.as_str().filter(|s| self.role_kinds().contains(s)) {
                d = d.help(format!("write `{kind}:` followed by its arguments"));
            }
            self.push(d);
            return None;
        };
        let (kind_key, value) = self.step_kind(node, pairs)?;
        if !self.role_allows(kind_key) {
            return None;
        }
        let kind = match parse_kind(self, kind_key, value, node) {
            Some(kind) => kind,
            None if STEP_KINDS.contains(&kind_key.key_text()) => return None,
            None => unreachable!("step_kind returned `{}`", kind_key.key_text()),
        };
        let (judges, judges_not_before) = node
            .get(JUDGES)
            .map(|n| self.step_judges(n))
            .unwrap_or_default();
        let judges_nothing = node
            .get(JUDGES)
            .is_some_and(|n| n.as_sequence().is_some_and(|s| s.is_empty()));
        let deliberate = node.get(DELIBERATE).and_then(|n| {
            self.text(
                n,
                DELIBERATE,
                "a sentence saying why the frame breaks the documented shape",
            )
        });
        self.clean_since(mark).then_some(Step {
            kind,
            span: node.span,
            judges,
            judges_nothing,
            judges_not_before,
            deliberate,
        })
    }

    /// A step's `judges`: ids for the whole step, or `{ not_before: IDS, rest: IDS }` where
    /// coming too early breaks another rule than the rest of the step.
    fn step_judges(&mut self, node: &Node) -> (Vec<Spanned<String>>, Vec<Spanned<String>>) {
        if node.as_mapping().is_none() {
            return (self.judges(node), Vec::new());
        }
        let Some(args) = self.args(node, "`judges`", &["not_before", "rest"], JUDGES) else {
            return Default::default();
        };
        let rest = args.get("rest").map(|n| self.judges(n)).unwrap_or_default();
        let early = args
            .get("not_before")
            .map(|n| self.judges(n))
            .unwrap_or_default();
        (rest, early)
    }

    /// `judges: D13` or `judges: [D13, D2]`: obligation ids, checked against `requirements`
    /// once the whole file is read.
    pub(in crate::scenario) fn judges(&mut self, node: &Node) -> Vec<Spanned<String>> {
        let items: Vec<&Node> = match node.as_sequence() {
            Some(items) => items.iter().collect(),
            None => vec![node],
        };
        let ids: Vec<Spanned<String>> = items
            .iter()
            .filter_map(|n| self.string(n, JUDGES).map(|s| Spanned::new(s, n.span)))
            .collect();
        self.judged.extend(ids.iter().cloned());
        ids
    }

    /// The step kinds the scenario's role may use (every kind when the role is unknown).
    pub(in crate::scenario) fn role_kinds(&self) -> Vec<&'static str> {
        STEP_KINDS
            .iter()
            .copied()
            .filter(|k| {
                self.role
                    .is_none_or(|role| roles_of(k).is_some_and(|r| r.contains(&role)))
            })
            .collect()
    }

    /// A step of the other role is an error that says whose it is and what to use instead.
    pub(in crate::scenario) fn role_allows(&mut self, kind_key: &Node) -> bool {
        let kind = kind_key.key_text();
        let Some(roles) = roles_of(kind) else {
            return true;
        };
        let Some(role) = self.role.filter(|r| !roles.contains(r)) else {
            return true;
        };
        // Named by the roles that play a party, as the other two roles read it; an
        // observer scenario is told every role that has the kind.
        let owners: Vec<&str> = roles
            .iter()
            .filter(|r| role == Role::Observer || **r != Role::Observer)
            .map(|r| r.as_str())
            .collect();
        let owners = match owners.as_slice() {
            [] => "observer role".to_string(),
            [one] => format!("{one} role"),
            many => format!("{} roles", many.join(" and ")),
        };
        let d = self
            .diag(
                kind_key.span,
                format!(
                    "{} belongs to the {owners}; this scenario has `role: {}`",
                    step_what(kind),
                    role.as_str()
                ),
            )
            .note(match role {
                Role::Cloud => {
                    "with `role: cloud` the harness plays the cloud and the target is a device"
                }
                Role::Device => {
                    "with `role: device` the harness plays a device and the target is a cloud"
                }
                Role::Observer => {
                    "with `role: observer` the harness stands between a device and a cloud: it watches (`expect: { from: ... }`), waits and applies faults (`fault: { drop: to_device, ... }`)"
                }
            })
            .maybe_help(
                counterpart(kind)
                    .filter(|_| role != Role::Observer)
                    .map(str::to_string),
            );
        self.push(d);
        false
    }

    /// Finds the one key naming the step kind and checks the keys beside it.
    pub(in crate::scenario) fn step_kind<'n>(
        &mut self,
        node: &'n Node,
        pairs: &'n [(Node, Node)],
    ) -> Option<(&'n Node, &'n Node)> {
        let kinds: Vec<&(Node, Node)> = pairs
            .iter()
            .filter(|(k, _)| STEP_KINDS.contains(&k.key_text()))
            .collect();
        // A kind word that belongs beside another kind key (`expect` beside `request`, or
        // `no_reply` written beside `request` instead of inside it) is not a second kind:
        // `check_siblings` accepts or explains it.
        let attached = |key: &str| {
            kinds
                .iter()
                .any(|(k, _)| k.key_text() != key && belongs_beside(k.key_text(), key))
        };
        let main: Vec<&(Node, Node)> = kinds
            .iter()
            .copied()
            .filter(|(k, _)| !attached(k.key_text()))
            .collect();
        let kinds = if main.is_empty() { kinds } else { main };
        match kinds.as_slice() {
            [] => {
                self.unknown_step_kind(node, pairs);
                None
            }
            [(key, value)] => {
                self.check_siblings(key.key_text(), pairs);
                Some((key, value))
            }
            [(first, _), (second, _), ..] => {
                let d = self
                    .diag(
                        second.span,
                        format!(
                            "a step has exactly one kind; found `{}` and `{}`",
                            first.key_text(),
                            second.key_text()
                        ),
                    )
                    .help("start a new list item (`- `) for the second step");
                self.push(d);
                None
            }
        }
    }

    pub(in crate::scenario) fn unknown_step_kind(&mut self, node: &Node, pairs: &[(Node, Node)]) {
        let kinds = self.role_kinds();
        let expected = format!("one of: {}", kinds.join(", "));
        let Some((key, _)) = pairs.first() else {
            let d = self.diag(node.span, "empty step").expected(expected);
            return self.push(d);
        };
        let found = key.key_text();
        let help = match found {
            "capture" => {
                Some("`capture` goes beside a `request`, `expect` or `receive` step".to_string())
            }
            "check" => Some("`check` goes beside a `receive` step".to_string()),
            _ => did_you_mean(found, &kinds).or_else(|| did_you_mean(found, STEP_KINDS)),
        };
        let d = self
            .diag(key.span, format!("unknown step kind `{found}`"))
            .expected(expected)
            .maybe_help(help);
        self.push(d);
    }

    /// Only `expect` and `capture` (beside `request`), `capture` (beside `expect`) and `check`
    /// and `capture` (beside `receive`) may sit next to the kind key.
    pub(in crate::scenario) fn check_siblings(&mut self, kind: &str, pairs: &[(Node, Node)]) {
        let siblings = siblings_of(kind);
        for (key, _) in pairs {
            let found = key.key_text();
            if found == kind || found == JUDGES || found == DELIBERATE || siblings.contains(&found)
            {
                continue;
            }
            let mut d = self.diag(key.span, format!("unknown key `{found}` beside `{kind}`"));
            if !siblings.is_empty() {
                d = d
                    .expected(format!("one of: {}", siblings.join(", ")))
                    .maybe_help(did_you_mean(found, siblings));
            }
            if keys_of(kind).contains(&found) {
                d = d.help(format!(
                    "`{found}` is an argument of `{kind}`; write `{kind}: {{ {found}: ... }}`"
                ));
            } else if found == "expect" && kind == "receive" {
                d = d.help("a `receive` step checks the request with `check`; `expect` goes beside `request`");
            } else if found == "check" && kind == "request" {
                d = d.help("`check` goes beside `receive`; beside `request` write `expect`");
            } else if found == "check" {
                d = d.help("`check` goes beside `receive`");
            }
            self.push(d);
        }
    }
}

/// Whether `key` (itself a kind word) written beside the kind key `owner` belongs to that
/// step (a sibling, an argument put beside it, or `expect` beside `receive`) rather than
/// starting a second step.
pub(super) fn belongs_beside(owner: &str, key: &str) -> bool {
    siblings_of(owner).contains(&key)
        || keys_of(owner).contains(&key)
        || (owner == "receive" && key == "expect")
}

/// What the other role uses where a scenario names a step of the wrong role.
fn counterpart(kind: &str) -> Option<&'static str> {
    Some(match kind {
        // device-role steps, found in a cloud-role scenario
        "connect" => "the device connects by itself: `accept` waits for its connection",
        "request" => "`receive` takes a request the device sent, `push` sends one to it",
        "send" => "`push` sends a frame to the device, `reply` answers it (`binary` for a binary frame)",
        "expect" => "`receive` takes a request the device sent (match it with `check`)",
        "change_ip" => "`expect_reconnect` waits for the device's new link",
        "control" => "`device_control` makes the reference device act (with `requires: [device_control]`)",
        // cloud-role steps, found in a device-role scenario
        "accept" => "`connect` opens a connection to the cloud",
        "receive" => "`expect` takes the next frame from the cloud",
        "reply" | "no_reply" => "the cloud answers every `request`; `request: { ..., no_reply: true }` expects no answer",
        "push" => "`send` sends a frame to the cloud",
        "close" => "`disconnect` closes the connection",
        "delay" => "`wait` lets scenario time pass",
        "device_control" => "`control` drives the mock cloud (with `requires: [control]`)",
        _ => return None,
    })
}
