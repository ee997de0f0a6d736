//! The `timing` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::{Node, ScalarValue};
use std::time::Duration;

pub const NAME: &str = "timing";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = TIMING_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

/// Bounds on a duration; either may be open.
#[derive(Clone, Debug, Default)]
pub struct DurationRange {
    pub min: Option<DurationExpr>,
    pub max: Option<DurationExpr>,
}

#[derive(Clone, Debug)]
pub struct Timing {
    /// `None`: requests on every connection of the scenario.
    pub conn: Option<ConnName>,
    pub cmd: String,
    /// Only requests after this mark count (default: the whole scenario).
    pub since: Option<String>,
    /// Every gap between consecutive requests lies in this range.
    pub gaps: Option<DurationRange>,
    /// The gaps must vary (a fixed retry delay fails); needs at least 3 gaps.
    pub jitter: bool,
    /// At least this many requests were seen.
    pub min_count: Option<u32>,
    /// At most `count` requests in any window of `per`.
    pub max_per: Option<(u32, DurationExpr)>,
    /// No request at all of `cmd` (after `since`).
    pub none: bool,
}

pub(in crate::scenario) const TIMING_KEYS: &[&str] = &["cmd", "conn", "since", "gaps", "jitter", "min_count", "max_per", "none"];
pub(in crate::scenario) const GAPS_KEYS: &[&str] = &["min", "max"];
pub(in crate::scenario) const MAX_PER_KEYS: &[&str] = &["count", "per"];
/// Upper bound on the request counts of `timing` (`min_count`, `max_per.count`).
pub const MAX_COUNT: i64 = 100_000;

impl Loader<'_> {
    pub(in crate::scenario) fn timing(&mut self, value: &Node) -> Timing {
        let args = self.step_args(value, "timing", TIMING_KEYS);
        let a = args.as_ref();
        let get = |key| a.and_then(|a| a.get(key));
        let timing = Timing {
            conn: get("conn").and_then(|n| self.name(n, "connection")),
            cmd: a.and_then(|a| self.required_string(a, "cmd", "a `timing` step")).unwrap_or_default(),
            since: get("since").and_then(|n| self.since(n)),
            gaps: get("gaps").and_then(|n| self.gaps(n)),
            jitter: get("jitter").and_then(|n| self.boolean(n, "jitter")).unwrap_or(false),
            min_count: get("min_count").and_then(|n| self.integer_in(n, "min_count", 1, MAX_COUNT)).map(|n| n as u32),
            max_per: get("max_per").and_then(|n| self.max_per(n)),
            none: get("none").and_then(|n| self.boolean(n, "none")).unwrap_or(false),
        };
        let Some(a) = a else { return timing };
        // A check is given when its key is there, except `jitter: false` and `none: false`
        // (a wrong value is reported by itself, not as a missing check).
        let off = ScalarValue::Bool(false);
        let given = |key: &str| {
            a.get(key).is_some_and(|n| !matches!(key, "jitter" | "none") || n.as_scalar().map(|s| &s.value) != Some(&off))
        };
        let checks = ["gaps", "jitter", "min_count", "max_per", "none"];
        if !checks.iter().any(|k| given(k)) {
            let d = self
                .diag(value.span, "a `timing` step needs at least one check")
                .expected("one of: gaps, jitter: true, min_count, max_per, none: true");
            self.push(d);
        } else if timing.none {
            for key in checks.into_iter().filter(|k| *k != "none" && given(k)) {
                let at = key_of(a, key).span;
                self.error(at, format!("`{key}` cannot be used with `none: true`"));
            }
        }
        timing
    }

    /// `since`: a mark set by an earlier step (checked once every step is read).
    pub(in crate::scenario) fn since(&mut self, node: &Node) -> Option<String> {
        let name = self.name(node, "mark")?;
        if !self.marks.iter().any(|(m, _)| *m == name) {
            self.unresolved_since.push((name.clone(), node.span, self.marks.len()));
        }
        Some(name)
    }

    pub(in crate::scenario) fn gaps(&mut self, node: &Node) -> Option<DurationRange> {
        let args = self.args(node, "`gaps`", GAPS_KEYS, "gaps")?;
        let range = DurationRange {
            min: args.get("min").and_then(|n| self.duration(n, "min")),
            max: args.get("max").and_then(|n| self.duration(n, "max")),
        };
        if args.get("min").is_none() && args.get("max").is_none() && !args.misspells("min") && !args.misspells("max") {
            let d = self.diag(node.span, "`gaps` needs a bound").expected("`min`, `max` or both, like `{ min: 25s, max: 35s }`");
            self.push(d);
        }
        if let (Some(DurationExpr::Fixed(min)), Some(DurationExpr::Fixed(max)), Some(at)) =
            (&range.min, &range.max, args.get("max"))
        {
            if min > max {
                self.error(at.span, format!("`gaps.max` ({max:?}) is less than `gaps.min` ({min:?})"));
            }
        }
        Some(range)
    }

    pub(in crate::scenario) fn max_per(&mut self, node: &Node) -> Option<(u32, DurationExpr)> {
        let args = self.args(node, "`max_per`", MAX_PER_KEYS, "max_per")?;
        let what = "`max_per` of a `timing` step";
        let count = self.required(&args, "count", what).and_then(|n| self.integer_in(n, "count", 1, MAX_COUNT));
        let per = self.required(&args, "per", what).and_then(|n| {
            self.duration(n, "per").filter(|d| {
                let zero = *d == DurationExpr::Fixed(Duration::ZERO);
                if zero {
                    self.error(n.span, "`per` must be longer than zero");
                }
                !zero
            })
        });
        Some((count? as u32, per?))
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<Timing> {
    Some(l.timing(value))
}

pub fn to_yaml(t: &Timing, indent: usize) -> Vec<String> {
    let gaps = t.gaps.as_ref().map(|g| Out::new().dur("min", g.min.as_ref()).dur("max", g.max.as_ref()).value());
    let max_per = t.max_per.as_ref().map(|(count, per)| Out::new().set("count", *count).set("per", render::duration(per)).value());
    let args = Out::new()
        .opt("conn", t.conn.clone())
        .set("cmd", t.cmd.as_str())
        .opt("since", t.since.clone())
        .flag("jitter", t.jitter)
        .opt("gaps", gaps)
        .opt("min_count", t.min_count)
        .opt("max_per", max_per)
        .flag("none", t.none);
    render::item(indent, NAME, &args.value(), &[])
}
