//! The loader's working state and the checks every step kind shares: argument mappings with
//! unknown-key diagnostics, the required-key helper, scalar values, durations, captures and
//! matchers. Step kinds (in `steps/`) and the scenario loader build on it.

use super::diagnostic::{closest, did_you_mean, Diagnostic};
use super::expr::{duration_expr, parse_duration};
use super::matcher::{Matcher, Op, JUDGES_OP, OP_NAMES};
use super::span::*;
use super::yaml::{self, to_json, Node, ScalarValue};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

pub(in crate::scenario) const CONN_KEYS: &[&str] = &["conn"];
/// Names the engine defines; a `vars` entry or capture of that name would be shadowed.
pub(in crate::scenario) const RUN_VARIABLES: &[&str] = &[
    "now",
    "iteration",
    "sn",
    "heartbeat",
    "heartbeat_timeout",
    "subscribe_window",
    "subscribe_limit",
    "last_req_id",
    "req_id",
    "last_push_req_id",
    "env",
];
pub(in crate::scenario) const DEFAULT_CONN: &str = "a";
pub(in crate::scenario) const DEFAULT_DEVICE: &str = "dev";
pub(in crate::scenario) const START: Span = Span { line: 1, col: 1 };

/// A mapping whose keys were checked against the ones its place accepts.
pub(in crate::scenario) struct Args<'n> {
    pub(in crate::scenario) node: &'n Node,
    pub(in crate::scenario) pairs: &'n [(Node, Node)],
    pub(in crate::scenario) allowed: &'static [&'static str],
}

impl<'n> Args<'n> {
    pub(in crate::scenario) fn get(&self, key: &str) -> Option<&'n Node> {
        self.pairs
            .iter()
            .find(|(k, _)| k.key_text() == key)
            .map(|(_, v)| v)
    }

    /// Whether an unknown key looks like a typo of `key` (then it is reported, not `key`).
    pub(in crate::scenario) fn misspells(&self, key: &str) -> bool {
        self.pairs
            .iter()
            .map(|(k, _)| k.key_text())
            .any(|k| !self.allowed.contains(&k) && closest(k, &[key]).is_some())
    }
}

/// Converts one file's tree, collecting diagnostics instead of stopping at the first.
pub(in crate::scenario) struct Loader<'a> {
    pub(in crate::scenario) path: &'a Path,
    /// The protocol the scenario is written for: its obligations, features, commands.
    pub(in crate::scenario) profile: &'a dyn crate::profile::Profile,
    pub(in crate::scenario) diags: Vec<Diagnostic>,
    /// Diagnostics beyond [`KEPT_PER_FILE`], counted rather than kept.
    pub(in crate::scenario) more: usize,
    /// The scenario's role, once read; `None` when missing or invalid (no role checks then).
    pub(in crate::scenario) role: Option<Role>,
    /// `requires: [control]` was given, so `control` steps are allowed.
    pub(in crate::scenario) control: bool,
    /// `requires: [device_control]` was given, so `device_control` steps are allowed.
    pub(in crate::scenario) device_control: bool,
    /// `requires: [cloud_control]` was given, so a `control` step may make the cloud act as
    /// a corp or a person would (bind, remote open, ...) through the mock or an upper tester.
    pub(in crate::scenario) cloud_control: bool,
    pub(in crate::scenario) devices: Vec<String>,
    /// `mark` steps read so far, in file order.
    pub(in crate::scenario) marks: Vec<(String, Span)>,
    /// Where each `purpose` step sits (one is allowed, at the top level).
    pub(in crate::scenario) purposes: Vec<Span>,
    /// Steps seen so far (see `MAX_STEPS`).
    pub(in crate::scenario) step_count: usize,
    /// `since` references to a mark not set earlier: (name, place, marks set before it).
    /// Resolved once every step is read, to say whether the mark comes later.
    pub(in crate::scenario) unresolved_since: Vec<(String, Span, usize)>,
    /// Whether a `receive` step was read yet (a `reply`/`no_reply` without `to` needs one).
    pub(in crate::scenario) received: bool,
    /// Every obligation id a step (`judges`) or matcher (`$judges`) names, checked against the
    /// scenario's `requirements` once the file is read.
    pub(in crate::scenario) judged: Vec<Spanned<String>>,
}

/// Diagnostics of one file kept while loading (the first [`SHOWN_PER_FILE`] by position are
/// shown): enough to sort the first ones out wherever they were found.
pub(in crate::scenario) const KEPT_PER_FILE: usize = 1_000;
/// Diagnostics of one file shown; the rest are counted ("and 19,950 more").
pub const SHOWN_PER_FILE: usize = 50;

impl<'a> Loader<'a> {
    pub(in crate::scenario) fn new(
        path: &'a Path,
        profile: &'a dyn crate::profile::Profile,
    ) -> Self {
        Loader {
            path,
            profile,
            diags: Vec::new(),
            more: 0,
            role: None,
            control: false,
            device_control: false,
            cloud_control: false,
            devices: vec![DEFAULT_DEVICE.to_string()],
            marks: Vec::new(),
            purposes: Vec::new(),
            step_count: 0,
            unresolved_since: Vec::new(),
            received: false,
            judged: Vec::new(),
        }
    }

    pub(in crate::scenario) fn diag(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.path, span, message)
    }

    /// Keeps the diagnostic, or only counts it once the file has [`KEPT_PER_FILE`]: a
    /// generated file may hold millions of the same mistake.
    pub(in crate::scenario) fn push(&mut self, d: Diagnostic) {
        if self.diags.len() < KEPT_PER_FILE {
            self.diags.push(d);
        } else {
            self.more += 1;
        }
    }

    /// "did you mean" for a diagnostic that will be kept: once the file has
    /// [`KEPT_PER_FILE`], the rest are only counted, so no time goes into their suggestions
    /// (50,000 unknown ids would otherwise cost seconds of string distances).
    pub(in crate::scenario) fn suggest<S: AsRef<str>>(
        &self,
        found: &str,
        candidates: &[S],
    ) -> Option<String> {
        (self.diags.len() < KEPT_PER_FILE)
            .then(|| did_you_mean(found, candidates))
            .flatten()
    }

    pub(in crate::scenario) fn error(&mut self, span: Span, message: impl Into<String>) {
        self.push(self.diag(span, message));
    }

    /// Reports a value of the wrong shape: "wrong type for `within`: expected ..., found a list".
    pub(in crate::scenario) fn wrong_type(&mut self, node: &Node, key: &str, expected: &str) {
        let d = self
            .diag(node.span, format!("wrong type for `{key}`"))
            .expected(format!("{expected}, found {}", node.describe()));
        self.push(d);
    }

    /// Whether no diagnostic was added since `mark`.
    pub(in crate::scenario) fn clean_since(&self, mark: usize) -> bool {
        self.diags.len() == mark
    }

    pub(in crate::scenario) fn missing(&mut self, args: &Args<'_>, key: &str, what: &str) {
        if !args.misspells(key) {
            self.error(
                args.node.span,
                format!("missing required key `{key}` in {what}"),
            );
        }
    }

    /// The value of a required key; when it is absent, reports it as missing in `what`
    /// (unless an unknown key looks like its typo) and returns `None`.
    pub(in crate::scenario) fn required<'n>(
        &mut self,
        args: &Args<'n>,
        key: &str,
        what: &str,
    ) -> Option<&'n Node> {
        let node = args.get(key);
        if node.is_none() {
            self.missing(args, key, what);
        }
        node
    }

    /// A name usable in `${...}`: not a run variable, and an identifier (a `-` would read as
    /// an offset in `${name-1}`).
    pub(in crate::scenario) fn variable_name(&mut self, node: &Node, what: &str) -> Option<String> {
        let name = self.name(node, what)?;
        if RUN_VARIABLES.contains(&name.as_str()) {
            self.error(
                node.span,
                format!("`{name}` is a run variable; choose another {what} name"),
            );
            return None;
        }
        Some(name)
    }

    /// An identifier: ASCII letters, digits and `_`, not starting with a digit.
    pub(in crate::scenario) fn name(&mut self, node: &Node, what: &str) -> Option<String> {
        let text = match node.as_scalar() {
            Some(s) if !matches!(s.value, ScalarValue::Null) => s.text.clone(),
            _ => {
                self.wrong_type(node, what, &format!("a {what} name"));
                return None;
            }
        };
        let mut chars = text.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            let d = self
                .diag(node.span, format!("invalid {what} name `{text}`"))
                .expected("letters, digits and `_`, starting with a letter");
            self.push(d);
            return None;
        }
        Some(text)
    }

    /// Checks a mapping's keys against those its place accepts. `what` names the place in
    /// messages ("a `request` step"); `key` names it in type errors.
    pub(in crate::scenario) fn args<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &'static [&'static str],
        key: &str,
    ) -> Option<Args<'n>> {
        let Some(pairs) = node.as_mapping() else {
            self.wrong_type(
                node,
                key,
                &format!("a mapping with keys {}", allowed.join(", ")),
            );
            return None;
        };
        for (k, _) in pairs {
            let found = k.key_text();
            if !allowed.contains(&found) {
                let d = self
                    .diag(k.span, format!("unknown key `{found}` in {what}"))
                    .expected(format!("one of: {}", allowed.join(", ")))
                    .maybe_help(self.suggest(found, allowed));
                self.push(d);
            }
        }
        Some(Args {
            node,
            pairs,
            allowed,
        })
    }

    /// The arguments of a step that takes a connection, allowing the `kind: b` shorthand and
    /// `kind:` with nothing for all defaults.
    pub(in crate::scenario) fn conn_only<'n>(
        &mut self,
        value: &'n Node,
        kind: &str,
        allowed: &'static [&'static str],
    ) -> (ConnName, Option<Args<'n>>) {
        if value.is_null() {
            return (DEFAULT_CONN.to_string(), None);
        }
        if value.as_str().is_some() {
            return (self.name(value, "connection").unwrap_or_default(), None);
        }
        if value.as_mapping().is_none() {
            let expected = format!(
                "a connection name or a mapping with keys {}",
                allowed.join(", ")
            );
            self.wrong_type(value, kind, &expected);
            return (String::new(), None);
        }
        let args = self.args(value, &step_what(kind), allowed, kind);
        let conn = args.as_ref().map(|a| self.conn(a)).unwrap_or_default();
        (conn, args)
    }

    /// The arguments of a step that needs a mapping.
    pub(in crate::scenario) fn step_args<'n>(
        &mut self,
        value: &'n Node,
        kind: &str,
        allowed: &'static [&'static str],
    ) -> Option<Args<'n>> {
        self.args(value, &step_what(kind), allowed, kind)
    }

    pub(in crate::scenario) fn conn(&mut self, args: &Args<'_>) -> ConnName {
        match args.get("conn") {
            None => DEFAULT_CONN.to_string(),
            Some(n) => self.name(n, "connection").unwrap_or_default(),
        }
    }

    /// `not_before` after `within` can never hold.
    pub(in crate::scenario) fn check_window(
        &mut self,
        within: Option<&DurationExpr>,
        not_before: Option<&DurationExpr>,
        at: Option<&Node>,
    ) {
        if let (Some(DurationExpr::Fixed(w)), Some(DurationExpr::Fixed(nb)), Some(at)) =
            (within, not_before, at)
        {
            if nb > w {
                self.error(
                    at.span,
                    format!("`not_before` ({nb:?}) is later than `within` ({w:?})"),
                );
            }
        }
    }

    /// The arguments of a step written as a mapping, or as nothing for every default.
    pub(in crate::scenario) fn mapping_or_nothing<'n>(
        &mut self,
        value: &'n Node,
        kind: &str,
        allowed: &'static [&'static str],
    ) -> Option<Args<'n>> {
        if value.is_null() {
            return None;
        }
        if value.as_mapping().is_none() {
            let mut d = self
                .diag(value.span, format!("wrong type for `{kind}`"))
                .expected(format!(
                    "a mapping with keys {}, found {}",
                    allowed.join(", "),
                    value.describe()
                ));
            if let (Some(word), true) = (value.as_str(), kind == "receive") {
                d = d.help(format!(
                    "to take a request of one cmd, write `receive: {{ cmd: {word} }}`"
                ));
            }
            self.push(d);
            return None;
        }
        self.step_args(value, kind, allowed)
    }

    /// Any integer (`errcode`).
    pub(in crate::scenario) fn integer(&mut self, node: &Node, key: &str) -> Option<i64> {
        match node.as_scalar().map(|s| &s.value) {
            Some(ScalarValue::Int(n)) => Some(*n),
            _ => {
                self.wrong_type(node, key, "an integer");
                None
            }
        }
    }

    pub(in crate::scenario) fn required_string(
        &mut self,
        args: &Args<'_>,
        key: &str,
        what: &str,
    ) -> Option<String> {
        self.required(args, key, what)
            .and_then(|n| self.string(n, key))
    }

    pub(in crate::scenario) fn string(&mut self, node: &Node, key: &str) -> Option<String> {
        match node.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.wrong_type(node, key, "a string");
                None
            }
        }
    }

    /// A string, or a number taken as its text (`req_id: 7`, `title: 2024`).
    pub(in crate::scenario) fn text(
        &mut self,
        node: &Node,
        key: &str,
        expected: &str,
    ) -> Option<String> {
        match node.as_scalar() {
            Some(s) if !matches!(s.value, ScalarValue::Null | ScalarValue::Bool(_)) => {
                Some(s.text.clone())
            }
            _ => {
                self.wrong_type(node, key, expected);
                None
            }
        }
    }

    pub(in crate::scenario) fn boolean(&mut self, node: &Node, key: &str) -> Option<bool> {
        match node.as_scalar().map(|s| &s.value) {
            Some(ScalarValue::Bool(b)) => Some(*b),
            _ => {
                self.wrong_type(node, key, "true or false");
                None
            }
        }
    }

    pub(in crate::scenario) fn integer_in(
        &mut self,
        node: &Node,
        key: &str,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        match node.as_scalar().map(|s| &s.value) {
            Some(ScalarValue::Int(n)) if (min..=max).contains(n) => Some(*n),
            Some(ScalarValue::Int(_) | ScalarValue::UInt(_)) => {
                let d = self
                    .diag(node.span, format!("`{key}` is out of range"))
                    .expected(format!("an integer from {min} to {max}"));
                self.push(d);
                None
            }
            _ => {
                self.wrong_type(node, key, &format!("an integer from {min} to {max}"));
                None
            }
        }
    }

    pub(in crate::scenario) fn string_list(&mut self, node: &Node, key: &str) -> Vec<String> {
        match node.as_sequence() {
            Some(items) => items.iter().filter_map(|i| self.string(i, key)).collect(),
            None => {
                self.wrong_type(node, key, "a list of strings");
                Vec::new()
            }
        }
    }

    /// One of the scenario's `devices`.
    pub(in crate::scenario) fn device(&mut self, node: &Node, key: &str) -> Option<String> {
        let name = self.string(node, key)?;
        if self.devices.contains(&name) {
            return Some(name);
        }
        let d = self
            .diag(node.span, format!("unknown device `{name}`"))
            .expected(format!(
                "one of the scenario's devices: {}",
                self.devices.join(", ")
            ))
            .maybe_help(did_you_mean(&name, &self.devices))
            .note("devices are declared at the top level: `devices: [dev, other]` (default [dev])");
        self.push(d);
        None
    }

    /// An IPv4 address in 127.0.0.0/16: the harness binds its sockets to loopback addresses,
    /// and over real sockets gives the second octet to the scenario's slot (so scenarios run
    /// side by side never share an address), which leaves the last two octets to the file.
    pub(in crate::scenario) fn loopback(&mut self, node: &Node, key: &str) -> Option<String> {
        let text = self.string(node, key)?;
        match text.parse::<Ipv4Addr>() {
            Ok(ip) if ip.octets()[..2] == [127, 0] => Some(text),
            _ => {
                let d = self
                    .diag(node.span, format!("invalid address `{text}` for `{key}`"))
                    .expected("an IPv4 address 127.0.x.y, e.g. 127.0.0.2");
                self.push(d);
                None
            }
        }
    }

    /// A duration: `10s`, `1.5s`, `500ms`, a sum, a bare number of seconds, or an expression
    /// over run variables.
    pub(in crate::scenario) fn duration(&mut self, node: &Node, key: &str) -> Option<DurationExpr> {
        let text = self.text(node, key, "a duration like 10s")?;
        let parsed = duration_expr(&text)
            .map_err(|e| e.to_string())
            .and_then(|d| check_template(&text).map(|()| d).map_err(|e| e.to_string()));
        match parsed {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(node.span, e);
                None
            }
        }
    }

    /// A duration known when the file loads (no `${...}`).
    pub(in crate::scenario) fn fixed_duration(
        &mut self,
        node: &Node,
        key: &str,
    ) -> Option<Duration> {
        match self.duration(node, key)? {
            DurationExpr::Fixed(d) => Some(d),
            DurationExpr::Expr(_) => {
                let d = self
                    .diag(node.span, format!("`{key}` must be a fixed duration"))
                    .expected("a duration like 10m, without `${...}`");
                self.push(d);
                None
            }
        }
    }

    pub(in crate::scenario) fn capture(&mut self, node: &Node) -> BTreeMap<String, String> {
        let Some(pairs) = node.as_mapping() else {
            self.wrong_type(
                node,
                "capture",
                "a mapping of names to paths like `code: body.active_code`",
            );
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for (k, v) in pairs {
            let name = self.variable_name(k, "capture");
            let path = self.string(v, "capture");
            if let Some(p) = path
                .as_deref()
                .filter(|p| p.is_empty() || p.split('.').any(str::is_empty))
            {
                let d = self
                    .diag(v.span, format!("invalid capture path `{p}`"))
                    .expected("a dotted path like body.active_code");
                self.push(d);
            }
            if let (Some(name), Some(path)) = (name, path) {
                out.insert(name, path);
            }
        }
        out
    }

    pub(in crate::scenario) fn spanned_matcher(&mut self, node: &Node) -> Spanned<Matcher> {
        Spanned::new(self.matcher(node), node.span)
    }

    pub(in crate::scenario) fn matcher(&mut self, node: &Node) -> Matcher {
        match &node.kind {
            yaml::NodeKind::Sequence(items) => {
                Matcher::Array(items.iter().map(|i| self.matcher(i)).collect())
            }
            yaml::NodeKind::Scalar(_) => Matcher::Literal(to_json(node)),
            yaml::NodeKind::Mapping(pairs) => {
                // `$judges` names the obligation a mismatch below it breaks; it may sit beside
                // keys or operators alike.
                let judges = pairs
                    .iter()
                    .find(|(k, _)| k.key_text() == JUDGES_OP)
                    .and_then(|(_, v)| self.string(v, JUDGES_OP).map(|s| Spanned::new(s, v.span)));
                let pairs: Vec<(Node, Node)> = pairs
                    .iter()
                    .filter(|(k, _)| k.key_text() != JUDGES_OP)
                    .cloned()
                    .collect();
                let is_op = |k: &Node| k.key_text().starts_with('$');
                let inner = if pairs.iter().any(|(k, _)| is_op(k)) {
                    self.check_unmixed(&pairs);
                    Matcher::Ops(
                        pairs
                            .iter()
                            .filter(|(k, _)| is_op(k))
                            .filter_map(|(k, v)| self.op(k, v))
                            .collect(),
                    )
                } else if pairs.is_empty() && judges.is_some() {
                    Matcher::Ops(Vec::new())
                } else {
                    Matcher::Object(
                        pairs
                            .iter()
                            .map(|(k, v)| (k.key_text().to_string(), self.matcher(v)))
                            .collect(),
                    )
                };
                match judges {
                    Some(id) => {
                        self.judged.push(id.clone());
                        Matcher::Judged(id.value, Box::new(inner))
                    }
                    None => inner,
                }
            }
        }
    }

    /// A matcher map is either operators or keys: `{ $type: string, foo: 1 }` is ambiguous.
    pub(in crate::scenario) fn check_unmixed(&mut self, pairs: &[(Node, Node)]) {
        let first_op = pairs.iter().find(|(k, _)| k.key_text().starts_with('$'));
        let first_key = pairs.iter().find(|(k, _)| !k.key_text().starts_with('$'));
        if let (Some((op, _)), Some((key, _))) = (first_op, first_key) {
            let later = if op.span > key.span { op } else { key };
            let d = self
                .diag(
                    later.span,
                    format!(
                        "a matcher mixes operators (`{}`) with keys (`{}`)",
                        op.key_text(),
                        key.key_text()
                    ),
                )
                .help(format!(
                    "to test a key, nest the operators under it: `{}: {{ {}: ... }}`",
                    key.key_text(),
                    op.key_text()
                ));
            self.push(d);
        }
    }

    pub(in crate::scenario) fn op(&mut self, key: &Node, value: &Node) -> Option<Op> {
        let name = key.key_text();
        if !OP_NAMES.contains(&name) {
            let d = self
                .diag(key.span, format!("unknown matcher operator `{name}`"))
                .expected(format!("one of: {}", OP_NAMES.join(", ")))
                .maybe_help(operator_hint(name).or_else(|| did_you_mean(name, OP_NAMES)));
            self.push(d);
            return None;
        }
        let arg = to_json(value);
        if let (true, Some(pattern)) = (name == "$regex", arg.as_str()) {
            if let Err(e) = regex::Regex::new(pattern) {
                self.error(value.span, format!("invalid $regex: {}", regex_reason(&e)));
                return None;
            }
        }
        match Op::parse(name, &arg) {
            Ok(op) => Some(op),
            Err(e) => {
                self.error(value.span, format!("{e}, found {}", value.describe()));
                None
            }
        }
    }
}

/// What to write instead of an operator other tools have: equality is the plain value.
fn operator_hint(name: &str) -> Option<String> {
    match name {
        "$eq" => Some("equality needs no operator: write the value itself (`errcode: 0`)".into()),
        "$gt" | "$lt" => Some("use `$gte` / `$lte` (inclusive bounds)".into()),
        "$exists" => Some("use `$any: true` for present and `$absent: true` for missing".into()),
        _ => None,
    }
}

/// `a `request` step`, `an `expect` step`.
pub(in crate::scenario) fn step_what(kind: &str) -> String {
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} `{kind}` step")
}

/// The key node of `key` in checked arguments (present: the caller found its value).
pub(in crate::scenario) fn key_of<'n>(args: &Args<'n>, key: &str) -> &'n Node {
    args.pairs
        .iter()
        .find(|(k, _)| k.key_text() == key)
        .map_or(args.node, |(k, _)| k)
}

/// The last line of a regex error is the reason; the lines above repeat the pattern.
pub(in crate::scenario) fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(&text);
    last.trim().trim_start_matches("error: ").to_string()
}

/// Checks a duration that uses `${...}`: with every expression taken as zero, the rest must
/// still be a duration (`${heartbeat_timeout}+10s` → `0+10s`).
/// Why a duration with `${...}` is not one. Names the text, which the scenario author wrote.
#[derive(Debug, thiserror::Error)]
pub(in crate::scenario) enum TemplateError {
    #[error("unclosed `${{` in duration {0:?}")]
    Unclosed(String),
    #[error("invalid duration {0:?}: expected a number with a unit (ms, s, m, h), e.g. 10s, or a sum like ${{heartbeat_timeout}}+5s")]
    NotADuration(String),
}

pub(in crate::scenario) fn check_template(text: &str) -> Result<(), TemplateError> {
    if !text.contains("${") {
        return Ok(());
    }
    let mut rest = text;
    let mut zeroed = String::new();
    while let Some(start) = rest.find("${") {
        zeroed.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| TemplateError::Unclosed(text.to_string()))?;
        zeroed.push('0');
        rest = &rest[start + end + 1..];
    }
    zeroed.push_str(rest);
    parse_duration(&zeroed)
        .map(|_| ())
        .map_err(|_| TemplateError::NotADuration(text.to_string()))
}
