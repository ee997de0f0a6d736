//! Loads scenario files into the typed model, checking everything that can be checked before a
//! run: keys, types, step kinds, matchers, requirement ids, addresses, names and durations.
//!
//! The tree is converted by hand rather than through serde so that every error can name the
//! exact key or value at fault, list what was expected there and suggest a likely fix. The
//! loader keeps going after an error, so one run reports every problem of every file.

use super::diagnostic::{closest, did_you_mean, Diagnostic};
use super::expr::{duration_expr, parse_duration};
use super::matcher::{Matcher, Op, OP_NAMES};
use super::model::*;
use super::yaml::{self, to_json, Node, ScalarValue};
use crate::protocol::obligations;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Keys a scenario file may have at the top level.
pub const TOP_KEYS: &[&str] =
    &["id", "title", "description", "requirements", "tags", "role", "requires", "devices", "vars", "deadline", "step_timeout", "steps"];
const CONNECT_KEYS: &[&str] = &["conn", "from", "device", "within"];
const REQUEST_KEYS: &[&str] = &["conn", "cmd", "req_id", "body", "raw", "within", "not_before", "no_reply"];
const SEND_KEYS: &[&str] = &["conn", "json", "text", "binary_hex", "oversized"];
const SEND_FRAMES: &[&str] = &["json", "text", "binary_hex", "oversized"];
const EXPECT_KEYS: &[&str] = &["conn", "frame", "within", "not_before"];
const CONN_KEYS: &[&str] = &["conn"];
const CHANGE_IP_KEYS: &[&str] = &["conn", "to"];
const EXPECT_CLOSED_KEYS: &[&str] = &["conn", "within", "not_before"];
const EXPECT_SILENCE_KEYS: &[&str] = &["conn", "for"];
const REPEAT_KEYS: &[&str] = &["times", "steps"];
const CONTROL_KEYS: &[&str] = &["bind", "unbind", "swallow_reply", "delay_replies", "close_link"];
const ROLES: &[&str] = &["device", "cloud"];
const CAPABILITIES: &[&str] = &["control"];
/// Names the engine defines; a `vars` entry or capture of that name would be shadowed.
const RUN_VARIABLES: &[&str] =
    &["now", "iteration", "sn", "heartbeat_timeout", "subscribe_window", "subscribe_limit", "last_req_id", "env"];
/// Upper bound on `repeat.times`: enough for rate limits, small enough to finish.
pub const MAX_REPEAT: i64 = 1000;
/// Upper bound on `send.oversized`, so a typo cannot allocate gigabytes.
pub const MAX_OVERSIZED: i64 = 64 << 20;
const DEFAULT_CONN: &str = "a";
const DEFAULT_DEVICE: &str = "dev";

/// Every diagnostic of a load, with the file texts needed to show their lines.
#[derive(thiserror::Error)]
#[error("{}", one_per_line(.diagnostics))]
pub struct LoadError {
    diagnostics: Vec<Diagnostic>,
    sources: Vec<Arc<Source>>,
}

fn one_per_line(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// Debug shows the rendered diagnostics, so a failed `unwrap()` in a test reads like the CLI.
impl fmt::Debug for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LoadError:\n{}", self.render())
    }
}

impl LoadError {
    fn new(diagnostics: Vec<Diagnostic>, sources: Vec<Arc<Source>>) -> Self {
        LoadError { diagnostics, sources }
    }

    /// The diagnostics, in file order and then position order.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// How many distinct files have errors.
    pub fn file_count(&self) -> usize {
        let mut paths: Vec<&Path> = self.diagnostics.iter().map(|d| d.path.as_path()).collect();
        paths.sort();
        paths.dedup();
        paths.len()
    }

    /// Every diagnostic with its source line, separated by blank lines.
    pub fn render(&self) -> String {
        let rendered: Vec<String> = self.diagnostics.iter().map(|d| d.render(self.text_of(&d.path))).collect();
        rendered.join("\n")
    }

    fn text_of(&self, path: &Path) -> &str {
        self.sources.iter().find(|s| s.path == path).map_or("", |s| s.text.as_str())
    }
}

/// Loads one scenario from its text; `path` is used for diagnostics and `Scenario.source`.
pub fn load_str(path: &Path, text: &str) -> Result<Scenario, LoadError> {
    let source = Arc::new(Source { path: path.to_path_buf(), text: text.to_string() });
    let mut loader = Loader::new(path);
    let scenario = match yaml::parse(text) {
        Ok(Some(root)) => loader.scenario(&root, source.clone()),
        Ok(None) => {
            loader.push(loader.diag(START, "empty scenario file").expected(format!("a mapping with keys {}", required_keys())));
            None
        }
        Err(e) => {
            loader.push(loader.diag(e.span, e.message));
            None
        }
    };
    match scenario {
        Some(s) if loader.diags.is_empty() => Ok(s),
        _ => Err(LoadError::new(sorted(loader.diags), vec![source])),
    }
}

/// Reads and loads one file; an unreadable file is a diagnostic without a position.
pub fn load_file(path: &Path) -> Result<Scenario, LoadError> {
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(path, &text),
        Err(e) => Err(LoadError::new(vec![io_diag(path, "cannot read scenario file", &e)], Vec::new())),
    }
}

/// Loads every scenario under `paths` (files, or directories searched recursively for `*.yaml`
/// and `*.yml`), in path order. Fails with the diagnostics of every file, not just the first,
/// and also when two files share an `id`.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<Scenario>, LoadError> {
    let loaded = load_all(paths);
    match loaded.error {
        None => Ok(loaded.scenarios),
        Some(e) => Err(e),
    }
}

/// For `hwconform validate`: how many files loaded cleanly, and the errors of the others.
pub fn validate_paths(paths: &[PathBuf]) -> (usize, Option<LoadError>) {
    let loaded = load_all(paths);
    (loaded.scenarios.len(), loaded.error)
}

/// The outcome of loading many files: the good ones and the errors of the rest.
struct Loaded {
    scenarios: Vec<Scenario>,
    error: Option<LoadError>,
}

fn load_all(paths: &[PathBuf]) -> Loaded {
    let (files, mut diagnostics) = scenario_files(paths);
    let mut sources = Vec::new();
    let mut scenarios = Vec::new();
    for file in &files {
        match load_file(file) {
            Ok(s) => scenarios.push(s),
            Err(e) => {
                diagnostics.extend(e.diagnostics);
                sources.extend(e.sources);
            }
        }
    }
    let scenarios = reject_duplicate_ids(scenarios, &mut diagnostics, &mut sources);
    let error = (!diagnostics.is_empty()).then(|| LoadError::new(sorted(diagnostics), sources));
    Loaded { scenarios, error }
}

/// Keeps the first scenario of each id; each later one becomes a diagnostic at its `id`.
fn reject_duplicate_ids(
    scenarios: Vec<Scenario>,
    diagnostics: &mut Vec<Diagnostic>,
    sources: &mut Vec<Arc<Source>>,
) -> Vec<Scenario> {
    let mut first: HashMap<String, (PathBuf, Span)> = HashMap::new();
    let mut kept = Vec::new();
    for s in scenarios {
        if let Some((path, span)) = first.get(&s.id.value) {
            let d = Diagnostic::new(&s.source.path, s.id.span, format!("duplicate scenario id `{}`", s.id.value))
                .note(format!("first defined at {}:{}:{}", path.display(), span.line, span.col))
                .help("scenario ids must be unique across the library; rename one");
            diagnostics.push(d);
            sources.push(s.source.clone());
        } else {
            first.insert(s.id.value.clone(), (s.source.path.clone(), s.id.span));
            kept.push(s);
        }
    }
    kept
}

/// Expands directories into their scenario files, sorted and without repeats.
fn scenario_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => walk(path, &mut files, &mut diagnostics),
            Ok(_) => files.push(path.clone()),
            Err(e) => diagnostics.push(io_diag(path, "cannot read scenario path", &e)),
        }
    }
    files.sort();
    files.dedup();
    (files, diagnostics)
}

/// Collects `*.yaml` / `*.yml` below `dir`. Hidden entries are skipped, and symlinked
/// directories are not followed so a link cycle cannot loop.
fn walk(dir: &Path, files: &mut Vec<PathBuf>, diagnostics: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return diagnostics.push(io_diag(dir, "cannot read scenario directory", &e)),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, files, diagnostics),
            Ok(_) if is_scenario_file(&path) && path.is_file() => files.push(path),
            _ => {}
        }
    }
}

fn is_scenario_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

fn io_diag(path: &Path, what: &str, e: &std::io::Error) -> Diagnostic {
    Diagnostic::new(path, Span::default(), format!("{what}: {e}"))
}

/// Orders diagnostics by file and position, so output is stable and reads top to bottom.
fn sorted(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by(|a, b| (&a.path, a.span).cmp(&(&b.path, b.span)));
    diagnostics
}

fn required_keys() -> String {
    "id, title, requirements, role and steps".to_string()
}

const START: Span = Span { line: 1, col: 1 };

/// A mapping whose keys were checked against the ones its place accepts.
struct Args<'n> {
    node: &'n Node,
    pairs: &'n [(Node, Node)],
    allowed: &'static [&'static str],
}

impl<'n> Args<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.pairs.iter().find(|(k, _)| k.key_text() == key).map(|(_, v)| v)
    }

    /// Whether an unknown key looks like a typo of `key` (then it is reported, not `key`).
    fn misspells(&self, key: &str) -> bool {
        self.pairs.iter().map(|(k, _)| k.key_text()).any(|k| !self.allowed.contains(&k) && closest(k, &[key]).is_some())
    }
}

/// Converts one file's tree, collecting diagnostics instead of stopping at the first.
struct Loader<'a> {
    path: &'a Path,
    diags: Vec<Diagnostic>,
    /// `requires: [control]` was given, so `control` steps are allowed.
    control: bool,
    devices: Vec<String>,
}

impl<'a> Loader<'a> {
    fn new(path: &'a Path) -> Self {
        Loader { path, diags: Vec::new(), control: false, devices: vec![DEFAULT_DEVICE.to_string()] }
    }

    fn diag(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.path, span, message)
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.push(self.diag(span, message));
    }

    /// Reports a value of the wrong shape: "wrong type for `within`: expected ..., found a list".
    fn wrong_type(&mut self, node: &Node, key: &str, expected: &str) {
        let d = self.diag(node.span, format!("wrong type for `{key}`")).expected(format!("{expected}, found {}", node.describe()));
        self.push(d);
    }

    /// Whether no diagnostic was added since `mark`.
    fn clean_since(&self, mark: usize) -> bool {
        self.diags.len() == mark
    }

    // ---- the scenario ----

    fn scenario(&mut self, root: &Node, source: Arc<Source>) -> Option<Scenario> {
        let top = self.top_level(root)?;
        let id = self.id(&top);
        let title = top.get("title").and_then(|n| self.text(n, "title", "a string")).unwrap_or_default();
        let description = top.get("description").and_then(|n| self.text(n, "description", "a string"));
        let requirements = self.requirements(&top);
        let tags = top.get("tags").map(|n| self.string_list(n, "tags")).unwrap_or_default();
        let role = self.role(&top);
        let requires = self.requires(&top);
        self.devices = self.devices(&top);
        let vars = top.get("vars").map(|n| self.vars(n)).unwrap_or_default();
        let deadline = top.get("deadline").and_then(|n| self.fixed_duration(n, "deadline"));
        let step_timeout = top.get("step_timeout").and_then(|n| self.fixed_duration(n, "step_timeout"));
        let steps = self.top_steps(&top);
        if !self.diags.is_empty() {
            return None;
        }
        Some(Scenario {
            id: id?,
            title,
            description,
            requirements,
            tags,
            role: role?,
            requires,
            devices: self.devices.clone(),
            vars,
            deadline,
            step_timeout,
            steps,
            source,
        })
    }

    fn top_level<'n>(&mut self, root: &'n Node) -> Option<Args<'n>> {
        if root.as_mapping().is_none() {
            let d = self
                .diag(root.span, "a scenario file must be a mapping")
                .expected(format!("a mapping with keys {}, found {}", required_keys(), root.describe()));
            self.push(d);
            return None;
        }
        let args = self.args(root, "a scenario", TOP_KEYS, "scenario")?;
        for key in ["id", "title", "requirements", "role", "steps"] {
            if args.get(key).is_none() {
                self.missing(&args, key, "a scenario");
            }
        }
        Some(args)
    }

    fn missing(&mut self, args: &Args<'_>, key: &str, what: &str) {
        if !args.misspells(key) {
            self.error(args.node.span, format!("missing required key `{key}` in {what}"));
        }
    }

    fn id(&mut self, top: &Args<'_>) -> Option<Spanned<String>> {
        let node = top.get("id")?;
        let id = self.string(node, "id")?;
        let valid = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            let d = self.diag(node.span, format!("invalid scenario id `{id}`")).expected("letters, digits, `.`, `_` and `-` only");
            self.push(d);
            return None;
        }
        Some(Spanned::new(id, node.span))
    }

    fn requirements(&mut self, top: &Args<'_>) -> Vec<Spanned<String>> {
        let Some(node) = top.get("requirements") else { return Vec::new() };
        let Some(items) = node.as_sequence() else {
            self.wrong_type(node, "requirements", "a list of obligation ids like [C9, D12]");
            return Vec::new();
        };
        if items.is_empty() {
            let d = self.diag(node.span, "a scenario must cite at least one requirement").expected("obligation ids like [C9, D12]");
            self.push(d);
        }
        let mut out: Vec<Spanned<String>> = Vec::new();
        for item in items {
            let Some(id) = self.string(item, "requirements") else { continue };
            if !obligations::is_known(&id) {
                let d = self
                    .diag(item.span, format!("unknown requirement id `{id}`"))
                    .expected("D1..D42 or C1..C24")
                    .maybe_help(did_you_mean(&id, &obligations::all()));
                self.push(d);
            } else if out.iter().any(|r| r.value == id) {
                self.error(item.span, format!("requirement `{id}` is listed twice"));
            } else {
                out.push(Spanned::new(id, item.span));
            }
        }
        out
    }

    fn role(&mut self, top: &Args<'_>) -> Option<Role> {
        let node = top.get("role")?;
        match self.string(node, "role")?.as_str() {
            "device" => Some(Role::Device),
            "cloud" => Some(Role::Cloud),
            other => {
                self.unknown_word(node, other, "role", ROLES);
                None
            }
        }
    }

    /// "unknown role `clud`", expected one of the options, maybe a suggestion.
    fn unknown_word(&mut self, node: &Node, found: &str, what: &str, options: &[&str]) {
        let d = self
            .diag(node.span, format!("unknown {what} `{found}`"))
            .expected(format!("one of: {}", options.join(", ")))
            .maybe_help(did_you_mean(found, options));
        self.push(d);
    }

    fn requires(&mut self, top: &Args<'_>) -> Vec<Capability> {
        let Some(node) = top.get("requires") else { return Vec::new() };
        let Some(items) = node.as_sequence() else {
            self.wrong_type(node, "requires", "a list of capabilities like [control]");
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            match self.string(item, "requires").as_deref() {
                Some("control") => out.push(Capability::Control),
                Some(other) => self.unknown_word(item, other, "capability", CAPABILITIES),
                None => {}
            }
        }
        out.dedup();
        self.control = out.contains(&Capability::Control);
        out
    }

    fn devices(&mut self, top: &Args<'_>) -> Vec<String> {
        let Some(node) = top.get("devices") else { return vec![DEFAULT_DEVICE.to_string()] };
        let Some(items) = node.as_sequence() else {
            self.wrong_type(node, "devices", "a list of device names like [dev, other]");
            return Vec::new();
        };
        if items.is_empty() {
            self.error(node.span, "`devices` must name at least one device");
        }
        let mut out: Vec<String> = Vec::new();
        for item in items {
            let Some(name) = self.name(item, "device") else { continue };
            if out.contains(&name) {
                self.error(item.span, format!("device `{name}` is listed twice"));
            } else {
                out.push(name);
            }
        }
        out
    }

    fn vars(&mut self, node: &Node) -> BTreeMap<String, Value> {
        let Some(pairs) = node.as_mapping() else {
            self.wrong_type(node, "vars", "a mapping of names to values");
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for (k, v) in pairs {
            if let Some(name) = self.variable_name(k, "variable") {
                out.insert(name, to_json(v));
            }
        }
        out
    }

    /// A name usable in `${...}`: not a run variable, and an identifier (a `-` would read as
    /// an offset in `${name-1}`).
    fn variable_name(&mut self, node: &Node, what: &str) -> Option<String> {
        let name = self.name(node, what)?;
        if RUN_VARIABLES.contains(&name.as_str()) {
            self.error(node.span, format!("`{name}` is a run variable; choose another {what} name"));
            return None;
        }
        Some(name)
    }

    /// An identifier: ASCII letters, digits and `_`, not starting with a digit.
    fn name(&mut self, node: &Node, what: &str) -> Option<String> {
        let text = match node.as_scalar() {
            Some(s) if !matches!(s.value, ScalarValue::Null) => s.text.clone(),
            _ => {
                self.wrong_type(node, what, &format!("a {what} name"));
                return None;
            }
        };
        let mut chars = text.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            let d = self.diag(node.span, format!("invalid {what} name `{text}`")).expected("letters, digits and `_`, starting with a letter");
            self.push(d);
            return None;
        }
        Some(text)
    }

    fn top_steps(&mut self, top: &Args<'_>) -> Vec<Step> {
        let Some(node) = top.get("steps") else { return Vec::new() };
        self.steps(node, "steps")
    }

    // ---- steps ----

    fn steps(&mut self, node: &Node, key: &str) -> Vec<Step> {
        let Some(items) = node.as_sequence() else {
            self.wrong_type(node, key, "a list of steps");
            return Vec::new();
        };
        if items.is_empty() {
            self.error(node.span, format!("`{key}` must hold at least one step"));
        }
        items.iter().filter_map(|item| self.step(item)).collect()
    }

    fn step(&mut self, node: &Node) -> Option<Step> {
        let mark = self.diags.len();
        let Some(pairs) = node.as_mapping() else {
            let mut d = self.diag(node.span, "a step must be a mapping with one kind key").expected(format!(
                "one of: {}, found {}",
                STEP_KINDS.join(", "),
                node.describe()
            ));
            if let Some(kind) = node.as_str().filter(|s| STEP_KINDS.contains(s)) {
                d = d.help(format!("write `{kind}:` followed by its arguments"));
            }
            self.push(d);
            return None;
        };
        let (kind_key, value) = self.step_kind(node, pairs)?;
        let kind = match kind_key.key_text() {
            "connect" => StepKind::Connect(self.connect(value)),
            "request" => StepKind::Request(self.request(value, node)),
            "send" => StepKind::Send(self.send(value)),
            "expect" => StepKind::Expect(self.expect(value, node)),
            "wait" => StepKind::Wait(self.duration(value, "wait").unwrap_or(DurationExpr::Fixed(Duration::ZERO))),
            "disconnect" => StepKind::Disconnect(ConnRef { conn: self.conn_only(value, "disconnect", CONN_KEYS).0 }),
            "change_ip" => StepKind::ChangeIp(self.change_ip(value)),
            "expect_closed" => StepKind::ExpectClosed(self.expect_closed(value)),
            "expect_silence" => StepKind::ExpectSilence(self.expect_silence(value)),
            "repeat" => StepKind::Repeat(self.repeat(value)),
            "control" => StepKind::Control(self.control(kind_key, value)?),
            other => unreachable!("step_kind returned `{other}`"),
        };
        self.clean_since(mark).then_some(Step { kind, span: node.span })
    }

    /// Finds the one key naming the step kind and checks the keys beside it.
    fn step_kind<'n>(&mut self, node: &'n Node, pairs: &'n [(Node, Node)]) -> Option<(&'n Node, &'n Node)> {
        let is_kind = |k: &Node| STEP_KINDS.contains(&k.key_text());
        // `expect` beside `request` is the request's expectation, not a second step kind.
        let kinds: Vec<&(Node, Node)> = match pairs.iter().find(|(k, _)| k.key_text() == "request") {
            Some(request) => std::iter::once(request)
                .chain(pairs.iter().filter(|(k, _)| is_kind(k) && !matches!(k.key_text(), "request" | "expect")))
                .collect(),
            None => pairs.iter().filter(|(k, _)| is_kind(k)).collect(),
        };
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
                    .diag(second.span, format!("a step has exactly one kind; found `{}` and `{}`", first.key_text(), second.key_text()))
                    .help("start a new list item (`- `) for the second step");
                self.push(d);
                None
            }
        }
    }

    fn unknown_step_kind(&mut self, node: &Node, pairs: &[(Node, Node)]) {
        let expected = format!("one of: {}", STEP_KINDS.join(", "));
        let Some((key, _)) = pairs.first() else {
            let d = self.diag(node.span, "empty step").expected(expected);
            return self.push(d);
        };
        let found = key.key_text();
        let help = if found == "capture" {
            Some("`capture` goes beside a `request` or `expect` step".to_string())
        } else {
            did_you_mean(found, STEP_KINDS)
        };
        let d = self.diag(key.span, format!("unknown step kind `{found}`")).expected(expected).maybe_help(help);
        self.push(d);
    }

    /// Only `expect` and `capture` (beside `request`) and `capture` (beside `expect`) may sit
    /// next to the kind key.
    fn check_siblings(&mut self, kind: &str, pairs: &[(Node, Node)]) {
        let siblings: &[&str] = match kind {
            "request" => &["expect", "capture"],
            "expect" => &["capture"],
            _ => &[],
        };
        for (key, _) in pairs {
            let found = key.key_text();
            if found == kind || siblings.contains(&found) {
                continue;
            }
            let mut d = self.diag(key.span, format!("unknown key `{found}` beside `{kind}`"));
            if !siblings.is_empty() {
                d = d.expected(format!("one of: {}", siblings.join(", "))).maybe_help(did_you_mean(found, siblings));
            }
            if arguments_of(kind).contains(&found) {
                d = d.help(format!("`{found}` is an argument of `{kind}`; write `{kind}: {{ {found}: ... }}`"));
            }
            self.push(d);
        }
    }

    /// Checks a mapping's keys against those its place accepts. `what` names the place in
    /// messages ("a `request` step"); `key` names it in type errors.
    fn args<'n>(&mut self, node: &'n Node, what: &str, allowed: &'static [&'static str], key: &str) -> Option<Args<'n>> {
        let Some(pairs) = node.as_mapping() else {
            self.wrong_type(node, key, &format!("a mapping with keys {}", allowed.join(", ")));
            return None;
        };
        for (k, _) in pairs {
            let found = k.key_text();
            if !allowed.contains(&found) {
                let d = self
                    .diag(k.span, format!("unknown key `{found}` in {what}"))
                    .expected(format!("one of: {}", allowed.join(", ")))
                    .maybe_help(did_you_mean(found, allowed));
                self.push(d);
            }
        }
        Some(Args { node, pairs, allowed })
    }

    /// The arguments of a step that takes a connection, allowing the `kind: b` shorthand and
    /// `kind:` with nothing for all defaults.
    fn conn_only<'n>(&mut self, value: &'n Node, kind: &str, allowed: &'static [&'static str]) -> (ConnName, Option<Args<'n>>) {
        if value.is_null() {
            return (DEFAULT_CONN.to_string(), None);
        }
        if value.as_str().is_some() {
            return (self.name(value, "connection").unwrap_or_default(), None);
        }
        if value.as_mapping().is_none() {
            let expected = format!("a connection name or a mapping with keys {}", allowed.join(", "));
            self.wrong_type(value, kind, &expected);
            return (String::new(), None);
        }
        let args = self.args(value, &step_what(kind), allowed, kind);
        let conn = args.as_ref().map(|a| self.conn(a)).unwrap_or_default();
        (conn, args)
    }

    /// The arguments of a step that needs a mapping.
    fn step_args<'n>(&mut self, value: &'n Node, kind: &str, allowed: &'static [&'static str]) -> Option<Args<'n>> {
        self.args(value, &step_what(kind), allowed, kind)
    }

    fn conn(&mut self, args: &Args<'_>) -> ConnName {
        match args.get("conn") {
            None => DEFAULT_CONN.to_string(),
            Some(n) => self.name(n, "connection").unwrap_or_default(),
        }
    }

    fn connect(&mut self, value: &Node) -> Connect {
        let (conn, args) = self.conn_only(value, "connect", CONNECT_KEYS);
        let Some(args) = args else { return Connect { conn, from: None, device: None, within: None } };
        Connect {
            conn,
            from: args.get("from").and_then(|n| self.loopback(n, "from")),
            device: args.get("device").and_then(|n| self.device(n, "device")),
            within: args.get("within").and_then(|n| self.duration(n, "within")),
        }
    }

    fn request(&mut self, value: &Node, step: &Node) -> Request {
        let args = self.step_args(value, "request", REQUEST_KEYS);
        let a = args.as_ref();
        let get = |key| a.and_then(|a| a.get(key));
        let request = Request {
            conn: a.map(|a| self.conn(a)).unwrap_or_default(),
            cmd: a.and_then(|a| self.required_string(a, "cmd", "a `request` step")).unwrap_or_default(),
            req_id: get("req_id").and_then(|n| self.text(n, "req_id", "a string")),
            body: get("body").map(to_json),
            raw_body: get("raw").and_then(|n| self.boolean(n, "raw")).unwrap_or(false),
            expect: step.get("expect").map(|n| self.spanned_matcher(n)),
            capture: step.get("capture").map(|n| self.capture(n)).unwrap_or_default(),
            within: get("within").and_then(|n| self.duration(n, "within")),
            not_before: get("not_before").and_then(|n| self.duration(n, "not_before")),
            no_reply: get("no_reply").and_then(|n| self.boolean(n, "no_reply")).unwrap_or(false),
        };
        self.check_window(request.within.as_ref(), request.not_before.as_ref(), get("not_before"));
        if request.no_reply {
            for sibling in ["expect", "capture"] {
                if let Some(key) = step.as_mapping().and_then(|p| p.iter().find(|(k, _)| k.key_text() == sibling)) {
                    self.error(key.0.span, format!("`{sibling}` cannot be used with `no_reply: true`"));
                }
            }
        }
        request
    }

    /// `not_before` after `within` can never hold.
    fn check_window(&mut self, within: Option<&DurationExpr>, not_before: Option<&DurationExpr>, at: Option<&Node>) {
        if let (Some(DurationExpr::Fixed(w)), Some(DurationExpr::Fixed(nb)), Some(at)) = (within, not_before, at) {
            if nb > w {
                self.error(at.span, format!("`not_before` ({nb:?}) is later than `within` ({w:?})"));
            }
        }
    }

    fn send(&mut self, value: &Node) -> Send {
        let args = self.step_args(value, "send", SEND_KEYS);
        let conn = args.as_ref().map(|a| self.conn(a)).unwrap_or_default();
        let frame = args.as_ref().and_then(|a| self.send_frame(a)).unwrap_or(SendFrame::Text(String::new()));
        Send { conn, frame }
    }

    fn send_frame(&mut self, args: &Args<'_>) -> Option<SendFrame> {
        let given: Vec<&Node> = args.pairs.iter().map(|(k, _)| k).filter(|k| SEND_FRAMES.contains(&k.key_text())).collect();
        let key = match given.as_slice() {
            [one] => one.key_text(),
            [] => {
                let d = self.diag(args.node.span, "a `send` step needs a frame").expected(format!("one of: {}", SEND_FRAMES.join(", ")));
                self.push(d);
                return None;
            }
            [first, second, ..] => {
                let msg = format!("a `send` step sends one frame; found `{}` and `{}`", first.key_text(), second.key_text());
                self.error(second.span, msg);
                return None;
            }
        };
        let node = args.get(key)?;
        match key {
            "json" => Some(SendFrame::Json(to_json(node))),
            "text" => self.string(node, "text").map(SendFrame::Text),
            "binary_hex" => self.hex(node).map(SendFrame::Binary),
            _ => self.integer_in(node, "oversized", 1, MAX_OVERSIZED).map(|n| SendFrame::Oversized(n as usize)),
        }
    }

    fn hex(&mut self, node: &Node) -> Option<Vec<u8>> {
        let text = self.string(node, "binary_hex")?;
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        match hex::decode(&compact) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                let d = self.diag(node.span, format!("invalid `binary_hex`: {e}")).expected("pairs of hex digits, e.g. \"0a1b ff\"");
                self.push(d);
                None
            }
        }
    }

    fn expect(&mut self, value: &Node, step: &Node) -> Expect {
        let args = self.step_args(value, "expect", EXPECT_KEYS);
        let a = args.as_ref();
        let get = |key| a.and_then(|a| a.get(key));
        if let Some(a) = a {
            if a.get("frame").is_none() {
                self.missing(a, "frame", "an `expect` step");
            }
        }
        let expect = Expect {
            conn: a.map(|a| self.conn(a)).unwrap_or_default(),
            matcher: get("frame").map_or_else(|| Spanned::new(Matcher::Object(Vec::new()), value.span), |n| self.spanned_matcher(n)),
            capture: step.get("capture").map(|n| self.capture(n)).unwrap_or_default(),
            within: get("within").and_then(|n| self.duration(n, "within")),
            not_before: get("not_before").and_then(|n| self.duration(n, "not_before")),
        };
        self.check_window(expect.within.as_ref(), expect.not_before.as_ref(), get("not_before"));
        expect
    }

    fn change_ip(&mut self, value: &Node) -> ChangeIp {
        let args = self.step_args(value, "change_ip", CHANGE_IP_KEYS);
        let conn = args.as_ref().map(|a| self.conn(a)).unwrap_or_default();
        let to = match args.as_ref() {
            Some(a) => match a.get("to") {
                Some(n) => self.loopback(n, "to"),
                None => {
                    self.missing(a, "to", "a `change_ip` step");
                    None
                }
            },
            None => None,
        };
        ChangeIp { conn, to: to.unwrap_or_default() }
    }

    fn expect_closed(&mut self, value: &Node) -> ExpectClosed {
        let (conn, args) = self.conn_only(value, "expect_closed", EXPECT_CLOSED_KEYS);
        let get = |key| args.as_ref().and_then(|a| a.get(key));
        let closed = ExpectClosed {
            conn,
            within: get("within").and_then(|n| self.duration(n, "within")),
            not_before: get("not_before").and_then(|n| self.duration(n, "not_before")),
        };
        self.check_window(closed.within.as_ref(), closed.not_before.as_ref(), get("not_before"));
        closed
    }

    fn expect_silence(&mut self, value: &Node) -> ExpectSilence {
        let args = self.step_args(value, "expect_silence", EXPECT_SILENCE_KEYS);
        let conn = args.as_ref().map(|a| self.conn(a)).unwrap_or_default();
        let duration = match args.as_ref() {
            Some(a) => match a.get("for") {
                Some(n) => self.duration(n, "for"),
                None => {
                    self.missing(a, "for", "an `expect_silence` step");
                    None
                }
            },
            None => None,
        };
        ExpectSilence { conn, duration: duration.unwrap_or(DurationExpr::Fixed(Duration::ZERO)) }
    }

    fn repeat(&mut self, value: &Node) -> Repeat {
        let Some(args) = self.step_args(value, "repeat", REPEAT_KEYS) else { return Repeat { times: 0, steps: Vec::new() } };
        let times = match args.get("times") {
            Some(n) => self.integer_in(n, "times", 1, MAX_REPEAT).unwrap_or(0),
            None => {
                self.missing(&args, "times", "a `repeat` step");
                0
            }
        };
        let steps = match args.get("steps") {
            Some(n) => self.steps(n, "steps"),
            None => {
                self.missing(&args, "steps", "a `repeat` step");
                Vec::new()
            }
        };
        Repeat { times: times as u32, steps }
    }

    fn control(&mut self, kind_key: &Node, value: &Node) -> Option<Control> {
        if !self.control {
            let d = self
                .diag(kind_key.span, "a `control` step needs a target that accepts harness control")
                .help("add `requires: [control]` at the top level (the scenario then runs only against the mock)");
            self.push(d);
        }
        let args = self.step_args(value, "control", CONTROL_KEYS)?;
        let (key, node) = match args.pairs {
            [(k, v)] => (k.key_text(), v),
            [] => {
                let d = self.diag(value.span, "a `control` step needs an operation").expected(format!("one of: {}", CONTROL_KEYS.join(", ")));
                self.push(d);
                return None;
            }
            [(first, _), (second, _), ..] => {
                let msg = format!("a `control` step does one thing; found `{}` and `{}`", first.key_text(), second.key_text());
                self.error(second.span, msg);
                return None;
            }
        };
        let device = |this: &mut Self| if node.is_null() { Some(None) } else { this.device(node, key).map(Some) };
        match key {
            "bind" => device(self).map(|device| Control::Bind { device }),
            "unbind" => device(self).map(|device| Control::Unbind { device }),
            "close_link" => device(self).map(|device| Control::CloseLink { device }),
            "swallow_reply" => self.string(node, key).map(|cmd| Control::SwallowReply { cmd }),
            "delay_replies" => self.duration(node, key).map(Control::DelayReplies),
            _ => None, // an unknown key, already reported by `args`
        }
    }

    // ---- values ----

    fn required_string(&mut self, args: &Args<'_>, key: &str, what: &str) -> Option<String> {
        match args.get(key) {
            Some(n) => self.string(n, key),
            None => {
                self.missing(args, key, what);
                None
            }
        }
    }

    fn string(&mut self, node: &Node, key: &str) -> Option<String> {
        match node.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.wrong_type(node, key, "a string");
                None
            }
        }
    }

    /// A string, or a number taken as its text (`req_id: 7`, `title: 2024`).
    fn text(&mut self, node: &Node, key: &str, expected: &str) -> Option<String> {
        match node.as_scalar() {
            Some(s) if !matches!(s.value, ScalarValue::Null | ScalarValue::Bool(_)) => Some(s.text.clone()),
            _ => {
                self.wrong_type(node, key, expected);
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, key: &str) -> Option<bool> {
        match node.as_scalar().map(|s| &s.value) {
            Some(ScalarValue::Bool(b)) => Some(*b),
            _ => {
                self.wrong_type(node, key, "true or false");
                None
            }
        }
    }

    fn integer_in(&mut self, node: &Node, key: &str, min: i64, max: i64) -> Option<i64> {
        match node.as_scalar().map(|s| &s.value) {
            Some(ScalarValue::Int(n)) if (min..=max).contains(n) => Some(*n),
            Some(ScalarValue::Int(_) | ScalarValue::UInt(_)) => {
                let d = self.diag(node.span, format!("`{key}` is out of range")).expected(format!("an integer from {min} to {max}"));
                self.push(d);
                None
            }
            _ => {
                self.wrong_type(node, key, &format!("an integer from {min} to {max}"));
                None
            }
        }
    }

    fn string_list(&mut self, node: &Node, key: &str) -> Vec<String> {
        match node.as_sequence() {
            Some(items) => items.iter().filter_map(|i| self.string(i, key)).collect(),
            None => {
                self.wrong_type(node, key, "a list of strings");
                Vec::new()
            }
        }
    }

    /// One of the scenario's `devices`.
    fn device(&mut self, node: &Node, key: &str) -> Option<String> {
        let name = self.string(node, key)?;
        if self.devices.contains(&name) {
            return Some(name);
        }
        let d = self
            .diag(node.span, format!("unknown device `{name}`"))
            .expected(format!("one of the scenario's devices: {}", self.devices.join(", ")))
            .maybe_help(did_you_mean(&name, &self.devices))
            .note("devices are declared at the top level: `devices: [dev, other]` (default [dev])");
        self.push(d);
        None
    }

    /// An IPv4 address in 127.0.0.0/8: the harness binds its sockets to loopback addresses.
    fn loopback(&mut self, node: &Node, key: &str) -> Option<String> {
        let text = self.string(node, key)?;
        match text.parse::<Ipv4Addr>() {
            Ok(ip) if ip.is_loopback() => Some(text),
            _ => {
                let d = self.diag(node.span, format!("invalid address `{text}` for `{key}`")).expected("an IPv4 address in 127.0.0.0/8, e.g. 127.0.0.2");
                self.push(d);
                None
            }
        }
    }

    /// A duration: `10s`, `1.5s`, `500ms`, a sum, a bare number of seconds, or an expression
    /// over run variables.
    fn duration(&mut self, node: &Node, key: &str) -> Option<DurationExpr> {
        let text = self.text(node, key, "a duration like 10s")?;
        let parsed = duration_expr(&text).map_err(|e| e.to_string()).and_then(|d| check_template(&text).map(|()| d));
        match parsed {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(node.span, e);
                None
            }
        }
    }

    /// A duration known when the file loads (no `${...}`).
    fn fixed_duration(&mut self, node: &Node, key: &str) -> Option<Duration> {
        match self.duration(node, key)? {
            DurationExpr::Fixed(d) => Some(d),
            DurationExpr::Expr(_) => {
                let d = self.diag(node.span, format!("`{key}` must be a fixed duration")).expected("a duration like 10m, without `${...}`");
                self.push(d);
                None
            }
        }
    }

    fn capture(&mut self, node: &Node) -> BTreeMap<String, String> {
        let Some(pairs) = node.as_mapping() else {
            self.wrong_type(node, "capture", "a mapping of names to paths like `code: body.active_code`");
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for (k, v) in pairs {
            let name = self.variable_name(k, "capture");
            let path = self.string(v, "capture");
            if let Some(p) = path.as_deref().filter(|p| p.is_empty() || p.split('.').any(str::is_empty)) {
                let d = self.diag(v.span, format!("invalid capture path `{p}`")).expected("a dotted path like body.active_code");
                self.push(d);
            }
            if let (Some(name), Some(path)) = (name, path) {
                out.insert(name, path);
            }
        }
        out
    }

    // ---- matchers ----

    fn spanned_matcher(&mut self, node: &Node) -> Spanned<Matcher> {
        Spanned::new(self.matcher(node), node.span)
    }

    fn matcher(&mut self, node: &Node) -> Matcher {
        match &node.kind {
            yaml::NodeKind::Sequence(items) => Matcher::Array(items.iter().map(|i| self.matcher(i)).collect()),
            yaml::NodeKind::Scalar(_) => Matcher::Literal(to_json(node)),
            yaml::NodeKind::Mapping(pairs) => {
                let is_op = |k: &Node| k.key_text().starts_with('$');
                if pairs.iter().any(|(k, _)| is_op(k)) {
                    self.check_unmixed(pairs);
                    Matcher::Ops(pairs.iter().filter(|(k, _)| is_op(k)).filter_map(|(k, v)| self.op(k, v)).collect())
                } else {
                    Matcher::Object(pairs.iter().map(|(k, v)| (k.key_text().to_string(), self.matcher(v))).collect())
                }
            }
        }
    }

    /// A matcher map is either operators or keys: `{ $type: string, foo: 1 }` is ambiguous.
    fn check_unmixed(&mut self, pairs: &[(Node, Node)]) {
        let first_op = pairs.iter().find(|(k, _)| k.key_text().starts_with('$'));
        let first_key = pairs.iter().find(|(k, _)| !k.key_text().starts_with('$'));
        if let (Some((op, _)), Some((key, _))) = (first_op, first_key) {
            let later = if op.span > key.span { op } else { key };
            let d = self
                .diag(later.span, format!("a matcher mixes operators (`{}`) with keys (`{}`)", op.key_text(), key.key_text()))
                .help(format!("to test a key, nest the operators under it: `{}: {{ {}: ... }}`", key.key_text(), op.key_text()));
            self.push(d);
        }
    }

    fn op(&mut self, key: &Node, value: &Node) -> Option<Op> {
        let name = key.key_text();
        if !OP_NAMES.contains(&name) {
            let d = self
                .diag(key.span, format!("unknown matcher operator `{name}`"))
                .expected(format!("one of: {}", OP_NAMES.join(", ")))
                .maybe_help(did_you_mean(name, OP_NAMES));
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

/// `a `request` step`, `an `expect` step`.
fn step_what(kind: &str) -> String {
    let article = if kind.starts_with('e') { "an" } else { "a" };
    format!("{article} `{kind}` step")
}

/// The argument keys of a step kind, to explain arguments written beside it.
fn arguments_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "connect" => CONNECT_KEYS,
        "request" => REQUEST_KEYS,
        "send" => SEND_KEYS,
        "expect" => EXPECT_KEYS,
        "disconnect" => CONN_KEYS,
        "change_ip" => CHANGE_IP_KEYS,
        "expect_closed" => EXPECT_CLOSED_KEYS,
        "expect_silence" => EXPECT_SILENCE_KEYS,
        "repeat" => REPEAT_KEYS,
        "control" => CONTROL_KEYS,
        _ => &[],
    }
}

/// The last line of a regex error is the reason; the lines above repeat the pattern.
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(&text);
    last.trim().trim_start_matches("error: ").to_string()
}

/// Checks a duration that uses `${...}`: with every expression taken as zero, the rest must
/// still be a duration (`${heartbeat_timeout}+10s` → `0+10s`).
fn check_template(text: &str) -> Result<(), String> {
    if !text.contains("${") {
        return Ok(());
    }
    let mut rest = text;
    let mut zeroed = String::new();
    while let Some(start) = rest.find("${") {
        zeroed.push_str(&rest[..start]);
        let end = rest[start..].find('}').ok_or_else(|| format!("unclosed `${{` in duration {text:?}"))?;
        zeroed.push('0');
        rest = &rest[start + end + 1..];
    }
    zeroed.push_str(rest);
    parse_duration(&zeroed).map(|_| ()).map_err(|_| {
        format!("invalid duration {text:?}: expected a number with a unit (ms, s, m, h), e.g. 10s, or a sum like ${{heartbeat_timeout}}+5s")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Scenario, LoadError> {
        load_str(Path::new("t.yaml"), text)
    }

    const HEAD: &str = "id: t.x\ntitle: t\nrequirements: [C9]\nrole: device\n";

    fn steps(body: &str) -> Vec<Step> {
        load(&format!("{HEAD}steps:\n{body}")).unwrap().steps
    }

    fn first_error(text: &str) -> Diagnostic {
        load(text).unwrap_err().diagnostics()[0].clone()
    }

    #[test]
    fn loads_the_spec_example() {
        let text = format!(
            "{HEAD}description: |\n  x\ntags: [a]\nrequires: [control]\ndevices: [dev, other]\nvars: {{ fw: \"1.2.3\" }}\n\
             deadline: 10m\nstep_timeout: 10s\nsteps:\n\
             \x20 - connect: {{ conn: a, from: 127.0.0.2 }}\n\
             \x20 - request: {{ conn: a, cmd: register }}\n\
             \x20   expect: {{ errcode: 0, body: {{ active_code: {{ $type: string }} }} }}\n\
             \x20   capture: {{ code: body.active_code }}\n\
             \x20 - control: {{ bind: other }}\n"
        );
        let s = load(&text).unwrap();
        assert_eq!(s.id.value, "t.x");
        assert_eq!(s.devices, ["dev", "other"]);
        assert_eq!(s.deadline, Some(Duration::from_secs(600)));
        assert_eq!(s.vars["fw"], Value::String("1.2.3".into()));
        let StepKind::Request(r) = &s.steps[1].kind else { panic!() };
        assert_eq!(r.capture["code"], "body.active_code");
        assert_eq!(s.steps[1].span, Span { line: 15, col: 5 });
        assert!(matches!(&s.steps[2].kind, StepKind::Control(Control::Bind { device: Some(d) }) if d == "other"));
        assert_eq!(s.source.text, text);
    }

    #[test]
    fn shorthands_and_defaults() {
        let s = steps("  - connect: b\n  - connect:\n  - disconnect: b\n  - expect_closed: { within: 5s }\n  - wait: 90\n");
        assert!(matches!(&s[0].kind, StepKind::Connect(c) if c.conn == "b"));
        assert!(matches!(&s[1].kind, StepKind::Connect(c) if c.conn == "a"));
        assert!(matches!(&s[2].kind, StepKind::Disconnect(c) if c.conn == "b"));
        assert!(matches!(&s[3].kind, StepKind::ExpectClosed(c) if c.conn == "a" && c.within == Some(DurationExpr::Fixed(Duration::from_secs(5)))));
        assert!(matches!(&s[4].kind, StepKind::Wait(DurationExpr::Fixed(d)) if d.as_secs() == 90));
    }

    #[test]
    fn send_frames() {
        let s = steps("  - send: { binary_hex: \"0a ff\" }\n  - send: { oversized: 70000 }\n  - send: { json: [1] }\n  - send: { text: \"{\" }\n");
        assert!(matches!(&s[0].kind, StepKind::Send(Send { frame: SendFrame::Binary(b), .. }) if b == &[10, 255]));
        assert!(matches!(&s[1].kind, StepKind::Send(Send { frame: SendFrame::Oversized(70000), .. })));
        assert!(matches!(&s[2].kind, StepKind::Send(Send { frame: SendFrame::Json(_), .. })));
        assert!(matches!(&s[3].kind, StepKind::Send(Send { frame: SendFrame::Text(t), .. }) if t == "{"));
    }

    #[test]
    fn matchers_compile_with_operators() {
        let s = steps("  - expect: { frame: { cmd: x, n: { $gte: 1, $lte: 3 }, l: [1, \"2\"] } }\n");
        let StepKind::Expect(e) = &s[0].kind else { panic!() };
        let Matcher::Object(fields) = &e.matcher.value else { panic!() };
        assert_eq!(fields[0], ("cmd".to_string(), Matcher::Literal(Value::String("x".into()))));
        assert_eq!(fields[1].1, Matcher::Ops(vec![Op::Gte(1.into()), Op::Lte(3.into())]));
        assert_eq!(fields[2].1, Matcher::Array(vec![Matcher::Literal(1.into()), Matcher::Literal("2".into())]));
    }

    #[test]
    fn expression_durations_are_kept_and_checked() {
        let s = steps("  - expect_silence: { for: \"${heartbeat_timeout}+10s\" }\n");
        assert!(matches!(&s[0].kind, StepKind::ExpectSilence(e) if e.duration == DurationExpr::Expr("${heartbeat_timeout}+10s".into())));
        let d = first_error(&format!("{HEAD}steps:\n  - wait: \"${{x}}+5 parsecs\"\n"));
        assert!(d.message.contains("invalid duration"), "{d}");
        let d = first_error(&format!("{HEAD}deadline: \"${{x}}\"\nsteps:\n  - wait: 1s\n"));
        assert!(d.message.contains("fixed duration"), "{d}");
    }

    #[test]
    fn every_error_of_a_file_is_reported() {
        let e = load(&format!("{HEAD}steps:\n  - wait: []\n  - connect: {{ from: 10.0.0.1 }}\n  - bogus: 1\n")).unwrap_err();
        let lines: Vec<u32> = e.diagnostics().iter().map(|d| d.span.line).collect();
        assert_eq!(lines, [6, 7, 8], "{e:?}");
    }

    #[test]
    fn arguments_beside_the_kind_get_a_hint() {
        let d = first_error(&format!("{HEAD}steps:\n  - expect_closed: a\n    within: 5s\n"));
        assert_eq!(d.help.as_deref(), Some("`within` is an argument of `expect_closed`; write `expect_closed: { within: ... }`"));
    }

    #[test]
    fn regex_errors_are_one_line() {
        let d = first_error(&format!("{HEAD}steps:\n  - expect: {{ frame: {{ x: {{ $regex: \"(a\" }} }} }}\n"));
        assert!(!d.message.contains('\n') && d.message.starts_with("invalid $regex"), "{d}");
    }

    #[test]
    fn templates() {
        assert!(check_template("${a}+10s").is_ok());
        assert!(check_template("${a").is_err());
        assert!(check_template("${a}x").is_err());
    }
}
