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
use crate::protocol::{obligations, Catalog};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Keys a scenario file may have at the top level.
pub const TOP_KEYS: &[&str] = &[
    "id",
    "title",
    "description",
    "requirements",
    "tags",
    "role",
    "requires",
    "devices",
    "vars",
    "deadline",
    "step_timeout",
    "manual",
    "auto_reply",
    "steps",
];
const CONNECT_KEYS: &[&str] = &["conn", "from", "device", "within"];
const REQUEST_KEYS: &[&str] = &["conn", "cmd", "req_id", "body", "raw", "within", "not_before", "no_reply"];
const SEND_KEYS: &[&str] = &["conn", "json", "text", "binary_hex", "oversized"];
const SEND_FRAMES: &[&str] = &["json", "text", "binary_hex", "oversized"];
const EXPECT_KEYS: &[&str] = &["conn", "frame", "within", "not_before"];
const CONN_KEYS: &[&str] = &["conn"];
const CHANGE_IP_KEYS: &[&str] = &["conn", "to"];
const EXPECT_CLOSED_KEYS: &[&str] = &["conn", "within", "not_before"];
const EXPECT_SILENCE_KEYS: &[&str] = &["conn", "for", "cmd"];
const REPEAT_KEYS: &[&str] = &["times", "steps"];
const CONTROL_KEYS: &[&str] = &["bind", "unbind", "swallow_reply", "delay_replies", "close_link"];
const ACCEPT_KEYS: &[&str] = &["conn", "within"];
const RECEIVE_KEYS: &[&str] = &["conn", "cmd", "within", "not_before"];
/// The keys of a reply in `auto_reply`.
const REPLY_SPEC_KEYS: &[&str] = &["errcode", "errmsg", "body", "suggestion", "interval", "no_advice", "binary"];
/// The keys of a `reply` step: a reply, plus which connection and request it answers.
const REPLY_KEYS: &[&str] = &["conn", "to", "errcode", "errmsg", "body", "suggestion", "interval", "no_advice", "binary"];
const PUSH_KEYS: &[&str] = &["conn", "cmd", "body", "req_id"];
const CLOSE_KEYS: &[&str] = &["conn", "code", "reason"];
const EXPECT_RECONNECT_KEYS: &[&str] = &["conn", "within", "not_before"];
const TIMING_KEYS: &[&str] = &["cmd", "conn", "since", "gaps", "jitter", "min_count", "max_per", "none"];
const GAPS_KEYS: &[&str] = &["min", "max"];
const MAX_PER_KEYS: &[&str] = &["count", "per"];
const DEVICE_CONTROL_KEYS: &[&str] = &["checkin"];
const CHECKIN_KEYS: &[&str] = &["userid", "pass_type", "pass_method"];
const SUGGESTIONS: &[&str] = &["retry", "reconnect"];
const ROLES: &[&str] = &["device", "cloud"];
const CAPABILITIES: &[&str] = &["control", "device_control", "seed"];
/// Step kinds only the device role has (the harness plays a device, the target is a cloud).
const DEVICE_STEPS: &[&str] = &["connect", "request", "send", "expect", "change_ip", "control"];
/// Step kinds only the cloud role has (the harness plays the cloud, the target is a device).
const CLOUD_STEPS: &[&str] =
    &["accept", "receive", "reply", "no_reply", "push", "close", "delay", "expect_reconnect", "mark", "timing", "device_control"];
/// Names the engine defines; a `vars` entry or capture of that name would be shadowed.
const RUN_VARIABLES: &[&str] = &[
    "now",
    "iteration",
    "sn",
    "heartbeat_timeout",
    "subscribe_window",
    "subscribe_limit",
    "last_req_id",
    "req_id",
    "last_push_req_id",
    "env",
];
/// Upper bound on `repeat.times`: enough for rate limits, small enough to finish.
pub const MAX_REPEAT: i64 = 1000;
/// Upper bound on `send.oversized`, so a typo cannot allocate gigabytes.
pub const MAX_OVERSIZED: i64 = 64 << 20;
/// Upper bound on the request counts of `timing` (`min_count`, `max_per.count`).
pub const MAX_COUNT: i64 = 100_000;
/// Close codes RFC 6455 reserves for reporting: they are never sent in a close frame.
const UNSENDABLE_CLOSE_CODES: &[i64] = &[1004, 1005, 1006, 1015];
/// A close frame's payload is at most 125 bytes, two of them the code.
const MAX_CLOSE_REASON: usize = 123;
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
fn reject_duplicate_ids(scenarios: Vec<Scenario>, diagnostics: &mut Vec<Diagnostic>, sources: &mut Vec<Arc<Source>>) -> Vec<Scenario> {
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
    /// The scenario's role, once read; `None` when missing or invalid (no role checks then).
    role: Option<Role>,
    /// `requires: [control]` was given, so `control` steps are allowed.
    control: bool,
    /// `requires: [device_control]` was given, so `device_control` steps are allowed.
    device_control: bool,
    devices: Vec<String>,
    /// `mark` steps read so far, in file order.
    marks: Vec<(String, Span)>,
    /// `since` references to a mark not set earlier: (name, place, marks set before it).
    /// Resolved once every step is read, to say whether the mark comes later.
    unresolved_since: Vec<(String, Span, usize)>,
    /// Whether a `receive` step was read yet (a `reply`/`no_reply` without `to` needs one).
    received: bool,
}

impl<'a> Loader<'a> {
    fn new(path: &'a Path) -> Self {
        Loader {
            path,
            diags: Vec::new(),
            role: None,
            control: false,
            device_control: false,
            devices: vec![DEFAULT_DEVICE.to_string()],
            marks: Vec::new(),
            unresolved_since: Vec::new(),
            received: false,
        }
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
        self.role = role;
        let requires = self.requires(&top);
        self.devices = self.devices(&top);
        let vars = top.get("vars").map(|n| self.vars(n)).unwrap_or_default();
        let deadline = top.get("deadline").and_then(|n| self.fixed_duration(n, "deadline"));
        let step_timeout = top.get("step_timeout").and_then(|n| self.fixed_duration(n, "step_timeout"));
        let manual = top.get("manual").and_then(|n| self.manual(n));
        let auto_reply = self.auto_reply(&top);
        let steps = if top.get("manual").is_some() { self.manual_steps(&top) } else { self.top_steps(&top) };
        self.resolve_since();
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
            manual,
            auto_reply,
            steps,
            source,
        })
    }

    fn top_level<'n>(&mut self, root: &'n Node) -> Option<Args<'n>> {
        if root.as_mapping().is_none() {
            let d = self.diag(root.span, "a scenario file must be a mapping").expected(format!(
                "a mapping with keys {}, found {}",
                required_keys(),
                root.describe()
            ));
            self.push(d);
            return None;
        }
        let args = self.args(root, "a scenario", TOP_KEYS, "scenario")?;
        for key in ["id", "title", "requirements", "role", "steps"] {
            // A manual scenario is not run, so it needs no steps.
            if key == "steps" && args.get("manual").is_some() {
                continue;
            }
            self.required(&args, key, "a scenario");
        }
        Some(args)
    }

    fn missing(&mut self, args: &Args<'_>, key: &str, what: &str) {
        if !args.misspells(key) {
            self.error(args.node.span, format!("missing required key `{key}` in {what}"));
        }
    }

    /// The value of a required key; when it is absent, reports it as missing in `what`
    /// (unless an unknown key looks like its typo) and returns `None`.
    fn required<'n>(&mut self, args: &Args<'n>, key: &str, what: &str) -> Option<&'n Node> {
        let node = args.get(key);
        if node.is_none() {
            self.missing(args, key, what);
        }
        node
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
            let capability = match self.string(item, "requires").as_deref() {
                Some("control") => Capability::Control,
                Some("device_control") => Capability::DeviceControl,
                Some("seed") => Capability::Seed,
                Some(other) => {
                    self.unknown_word(item, other, "capability", CAPABILITIES);
                    continue;
                }
                None => continue,
            };
            // `control` drives the mock cloud, `device_control` the reference device: each
            // only means something when that is the target.
            let owner = match capability {
                Capability::Control => Some(Role::Device),
                Capability::DeviceControl => Some(Role::Cloud),
                Capability::Seed => None,
            };
            match (self.role, owner) {
                (Some(role), Some(owner)) if role != owner => {
                    let what = match owner {
                        Role::Device => "it controls the mock cloud, the target of a device-role scenario",
                        Role::Cloud => "it makes the reference device act, the target of a cloud-role scenario",
                    };
                    let name = item.key_text();
                    let d = self
                        .diag(
                            item.span,
                            format!(
                                "capability `{name}` belongs to the {} role; this scenario has `role: {}`",
                                owner.as_str(),
                                role.as_str()
                            ),
                        )
                        .note(what);
                    self.push(d);
                }
                _ if !out.contains(&capability) => out.push(capability),
                _ => {}
            }
        }
        self.control = out.contains(&Capability::Control);
        self.device_control = out.contains(&Capability::DeviceControl);
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
        let valid =
            chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            let d =
                self.diag(node.span, format!("invalid {what} name `{text}`")).expected("letters, digits and `_`, starting with a letter");
            self.push(d);
            return None;
        }
        Some(text)
    }

    fn top_steps(&mut self, top: &Args<'_>) -> Vec<Step> {
        let Some(node) = top.get("steps") else { return Vec::new() };
        self.steps(node, "steps")
    }

    /// `manual`: instructions for the lab, for an obligation the wire cannot show.
    fn manual(&mut self, node: &Node) -> Option<String> {
        let text = self.string(node, "manual")?;
        if text.trim().is_empty() {
            let d = self.diag(node.span, "`manual` is empty").expected("instructions for the lab: what to do and what to look for");
            self.push(d);
            return None;
        }
        Some(text)
    }

    /// A manual scenario is not run: `steps` may be left out or empty, nothing else.
    fn manual_steps(&mut self, top: &Args<'_>) -> Vec<Step> {
        let Some((key, value)) = top.pairs.iter().find(|(k, _)| k.key_text() == "steps") else { return Vec::new() };
        if !(value.is_null() || value.as_sequence().is_some_and(<[Node]>::is_empty)) {
            let d = self
                .diag(key.span, "a manual scenario has no steps")
                .note("a scenario with `manual` is not run; the lab follows its instructions")
                .help("remove `steps`, or remove `manual` to run the steps");
            self.push(d);
        }
        Vec::new()
    }

    /// `auto_reply` (cloud role): cmd → reply, or `off` to remove a default.
    fn auto_reply(&mut self, top: &Args<'_>) -> Option<BTreeMap<String, AutoReply>> {
        let (key, node) = top.pairs.iter().find(|(k, _)| k.key_text() == "auto_reply")?;
        if let Some(role @ Role::Device) = self.role {
            let d = self
                .diag(key.span, format!("`auto_reply` belongs to the cloud role; this scenario has `role: {}`", role.as_str()))
                .note("with `role: device` the harness plays a device and the cloud under test answers its requests");
            self.push(d);
            return None;
        }
        let Some(pairs) = node.as_mapping() else {
            self.wrong_type(node, "auto_reply", "a mapping of cmds to replies, like `{ ping: off, get_perm_version: { body: {...} } }`");
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, v) in pairs {
            let cmd = k.key_text();
            if cmd.trim().is_empty() {
                let d = self.diag(k.span, "empty cmd in `auto_reply`").expected("a cmd name like ping");
                self.push(d);
                continue;
            }
            let reply = match (v.as_str(), v.as_mapping()) {
                (Some("off"), _) => Some(AutoReply::Off),
                (_, Some(_)) => {
                    let what = format!("the `auto_reply` of `{cmd}`");
                    let args = self.args(v, &what, REPLY_SPEC_KEYS, cmd);
                    args.map(|a| AutoReply::Reply(self.reply_spec(Some(&a))))
                }
                _ => {
                    let d = self
                        .diag(v.span, format!("wrong type for the `auto_reply` of `{cmd}`"))
                        .expected(format!("a reply mapping (keys {}) or `off`, found {}", REPLY_SPEC_KEYS.join(", "), v.describe()))
                        .help(format!("`{cmd}: {{}}` answers with success, `{cmd}: off` removes a default"));
                    self.push(d);
                    None
                }
            };
            if let Some(reply) = reply {
                out.insert(cmd.to_string(), reply);
            }
        }
        Some(out)
    }

    /// Reports every `timing: { since: NAME }` whose mark is not set by an earlier step.
    fn resolve_since(&mut self) {
        for (name, span, earlier) in std::mem::take(&mut self.unresolved_since) {
            let before: Vec<&str> = self.marks[..earlier].iter().map(|(m, _)| m.as_str()).collect();
            let later = self.marks[earlier..].iter().find(|(m, _)| *m == name).map(|(_, at)| *at);
            let mut d = self.diag(span, format!("`since` names mark `{name}`, which no earlier step sets"));
            d = match later {
                Some(at) => d
                    .note(format!("`mark: {name}` comes later, at line {}:{}", at.line, at.col))
                    .help("a `timing` step looks back: move the `mark` before it"),
                None if before.is_empty() => {
                    d.expected("the name of a `mark` step before this one").help(format!("add `- mark: {name}` where the window starts"))
                }
                None => d.expected(format!("one of the marks set earlier: {}", before.join(", "))).maybe_help(did_you_mean(&name, &before)),
            };
            self.push(d);
        }
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
            "accept" => StepKind::Accept(self.accept(value)),
            "receive" => StepKind::Receive(self.receive(value, node)),
            "reply" => StepKind::Reply(self.reply(kind_key, value)),
            "no_reply" => StepKind::NoReply(self.no_reply(kind_key, value)),
            "push" => StepKind::Push(self.push_step(value)),
            "close" => StepKind::Close(self.close(value)),
            "delay" => StepKind::Delay(self.duration(value, "delay").unwrap_or(DurationExpr::Fixed(Duration::ZERO))),
            "expect_reconnect" => StepKind::ExpectReconnect(self.expect_reconnect(value)),
            "mark" => StepKind::Mark(self.mark(value)?),
            "timing" => StepKind::Timing(self.timing(value)),
            "device_control" => StepKind::DeviceControl(self.device_control(kind_key, value)?),
            other => unreachable!("step_kind returned `{other}`"),
        };
        self.clean_since(mark).then_some(Step { kind, span: node.span })
    }

    /// The step kinds the scenario's role may use (every kind when the role is unknown).
    fn role_kinds(&self) -> Vec<&'static str> {
        let other = match self.role {
            Some(Role::Device) => CLOUD_STEPS,
            Some(Role::Cloud) => DEVICE_STEPS,
            None => &[],
        };
        STEP_KINDS.iter().copied().filter(|k| !other.contains(k)).collect()
    }

    /// A step of the other role is an error that says whose it is and what to use instead.
    fn role_allows(&mut self, kind_key: &Node) -> bool {
        let kind = kind_key.key_text();
        let owner = if DEVICE_STEPS.contains(&kind) {
            Role::Device
        } else if CLOUD_STEPS.contains(&kind) {
            Role::Cloud
        } else {
            return true;
        };
        let Some(role) = self.role.filter(|r| *r != owner) else { return true };
        let d = self
            .diag(
                kind_key.span,
                format!("{} belongs to the {} role; this scenario has `role: {}`", step_what(kind), owner.as_str(), role.as_str()),
            )
            .note(match role {
                Role::Cloud => "with `role: cloud` the harness plays the cloud and the target is a device",
                Role::Device => "with `role: device` the harness plays a device and the target is a cloud",
            })
            .maybe_help(counterpart(kind).map(str::to_string));
        self.push(d);
        false
    }

    /// Finds the one key naming the step kind and checks the keys beside it.
    fn step_kind<'n>(&mut self, node: &'n Node, pairs: &'n [(Node, Node)]) -> Option<(&'n Node, &'n Node)> {
        let kinds: Vec<&(Node, Node)> = pairs.iter().filter(|(k, _)| STEP_KINDS.contains(&k.key_text())).collect();
        // A kind word that belongs beside another kind key (`expect` beside `request`, or
        // `no_reply` written beside `request` instead of inside it) is not a second kind:
        // `check_siblings` accepts or explains it.
        let attached = |key: &str| kinds.iter().any(|(k, _)| k.key_text() != key && belongs_beside(k.key_text(), key));
        let main: Vec<&(Node, Node)> = kinds.iter().copied().filter(|(k, _)| !attached(k.key_text())).collect();
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
                    .diag(second.span, format!("a step has exactly one kind; found `{}` and `{}`", first.key_text(), second.key_text()))
                    .help("start a new list item (`- `) for the second step");
                self.push(d);
                None
            }
        }
    }

    fn unknown_step_kind(&mut self, node: &Node, pairs: &[(Node, Node)]) {
        let kinds = self.role_kinds();
        let expected = format!("one of: {}", kinds.join(", "));
        let Some((key, _)) = pairs.first() else {
            let d = self.diag(node.span, "empty step").expected(expected);
            return self.push(d);
        };
        let found = key.key_text();
        let help = match found {
            "capture" => Some("`capture` goes beside a `request`, `expect` or `receive` step".to_string()),
            "check" => Some("`check` goes beside a `receive` step".to_string()),
            _ => did_you_mean(found, &kinds).or_else(|| did_you_mean(found, STEP_KINDS)),
        };
        let d = self.diag(key.span, format!("unknown step kind `{found}`")).expected(expected).maybe_help(help);
        self.push(d);
    }

    /// Only `expect` and `capture` (beside `request`), `capture` (beside `expect`) and `check`
    /// and `capture` (beside `receive`) may sit next to the kind key.
    fn check_siblings(&mut self, kind: &str, pairs: &[(Node, Node)]) {
        let siblings = siblings_of(kind);
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
            self.required(a, "frame", "an `expect` step");
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
        let to = args.as_ref().and_then(|a| self.required(a, "to", "a `change_ip` step")).and_then(|n| self.loopback(n, "to"));
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
        let duration =
            args.as_ref().and_then(|a| self.required(a, "for", "an `expect_silence` step")).and_then(|n| self.duration(n, "for"));
        let cmd = args.as_ref().and_then(|a| a.get("cmd").map(|n| (a, n)));
        let cmd = match (cmd, self.role) {
            (Some((a, _)), Some(role @ Role::Device)) => {
                let key = key_of(a, "cmd");
                let d = self
                    .diag(
                        key.span,
                        format!("`cmd` of `expect_silence` belongs to the cloud role; this scenario has `role: {}`", role.as_str()),
                    )
                    .note("with `role: device` nothing at all may arrive during the silence");
                self.push(d);
                None
            }
            (Some((_, n)), _) => self.string(n, "cmd"),
            (None, _) => None,
        };
        ExpectSilence { conn, duration: duration.unwrap_or(DurationExpr::Fixed(Duration::ZERO)), cmd }
    }

    fn repeat(&mut self, value: &Node) -> Repeat {
        let Some(args) = self.step_args(value, "repeat", REPEAT_KEYS) else { return Repeat { times: 0, steps: Vec::new() } };
        let times = self.required(&args, "times", "a `repeat` step").and_then(|n| self.integer_in(n, "times", 1, MAX_REPEAT)).unwrap_or(0);
        let steps = self.required(&args, "steps", "a `repeat` step").map(|n| self.steps(n, "steps")).unwrap_or_default();
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
                let d =
                    self.diag(value.span, "a `control` step needs an operation").expected(format!("one of: {}", CONTROL_KEYS.join(", ")));
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

    // ---- cloud-role steps ----

    /// The arguments of a step written as a mapping, or as nothing for every default.
    fn mapping_or_nothing<'n>(&mut self, value: &'n Node, kind: &str, allowed: &'static [&'static str]) -> Option<Args<'n>> {
        if value.is_null() {
            return None;
        }
        if value.as_mapping().is_none() {
            let mut d = self.diag(value.span, format!("wrong type for `{kind}`")).expected(format!(
                "a mapping with keys {}, found {}",
                allowed.join(", "),
                value.describe()
            ));
            if let (Some(word), true) = (value.as_str(), kind == "receive") {
                d = d.help(format!("to take a request of one cmd, write `receive: {{ cmd: {word} }}`"));
            }
            self.push(d);
            return None;
        }
        self.step_args(value, kind, allowed)
    }

    fn accept(&mut self, value: &Node) -> Accept {
        let (conn, args) = self.conn_only(value, "accept", ACCEPT_KEYS);
        Accept { conn, within: args.and_then(|a| a.get("within")).and_then(|n| self.duration(n, "within")) }
    }

    fn receive(&mut self, value: &Node, step: &Node) -> Receive {
        let args = self.mapping_or_nothing(value, "receive", RECEIVE_KEYS);
        let a = args.as_ref();
        let get = |key| a.and_then(|a| a.get(key));
        let receive = Receive {
            conn: a.map_or_else(|| DEFAULT_CONN.to_string(), |a| self.conn(a)),
            cmd: get("cmd").and_then(|n| self.string(n, "cmd")),
            within: get("within").and_then(|n| self.duration(n, "within")),
            not_before: get("not_before").and_then(|n| self.duration(n, "not_before")),
            check: step.get("check").map(|n| self.spanned_matcher(n)),
            capture: step.get("capture").map(|n| self.capture(n)).unwrap_or_default(),
        };
        self.check_window(receive.within.as_ref(), receive.not_before.as_ref(), get("not_before"));
        self.received = true;
        receive
    }

    fn reply(&mut self, kind_key: &Node, value: &Node) -> Reply {
        let args = self.mapping_or_nothing(value, "reply", REPLY_KEYS);
        let a = args.as_ref();
        let to = a.and_then(|a| a.get("to")).and_then(|n| self.text(n, "to", "a req_id (a string or a number)"));
        if to.is_none() && a.and_then(|a| a.get("to")).is_none() {
            self.needs_received(kind_key, "reply");
        }
        Reply { conn: a.map_or_else(|| DEFAULT_CONN.to_string(), |a| self.conn(a)), to, spec: self.reply_spec(a) }
    }

    fn no_reply(&mut self, kind_key: &Node, value: &Node) -> ConnRef {
        let conn = self.conn_only(value, "no_reply", CONN_KEYS).0;
        self.needs_received(kind_key, "no_reply");
        ConnRef { conn }
    }

    /// `reply` (without `to`) and `no_reply` act on the last received request: some
    /// `receive` must come before them.
    fn needs_received(&mut self, kind_key: &Node, kind: &str) {
        if !self.received {
            let d = self
                .diag(kind_key.span, format!("`{kind}` acts on the last received request, but no `receive` step comes before it"))
                .help("add a `receive` step before it (requests answered by `auto_reply` are never received)");
            self.push(d);
        }
    }

    /// A reply as `reply` steps and `auto_reply` entries write it.
    fn reply_spec(&mut self, args: Option<&Args<'_>>) -> ReplySpec {
        let get = |key| args.and_then(|a| a.get(key));
        let spec = ReplySpec {
            errcode: get("errcode").and_then(|n| self.integer(n, "errcode")).unwrap_or(0),
            errmsg: get("errmsg").and_then(|n| self.string(n, "errmsg")),
            body: get("body").map(to_json),
            suggestion: get("suggestion").and_then(|n| self.suggestion(n)),
            interval: get("interval").and_then(|n| self.interval(n)),
            binary: get("binary").and_then(|n| self.string(n, "binary")),
            no_advice: get("no_advice").and_then(|n| self.boolean(n, "no_advice")).unwrap_or(false),
        };
        if let (true, Some(args)) = (spec.no_advice, args) {
            for key in ["suggestion", "interval"] {
                if args.get(key).is_some() {
                    let at = key_of(args, key).span;
                    self.error(at, format!("`{key}` cannot be used with `no_advice: true`"));
                }
            }
        }
        spec
    }

    fn suggestion(&mut self, node: &Node) -> Option<String> {
        let word = self.string(node, "suggestion")?;
        if SUGGESTIONS.contains(&word.as_str()) {
            return Some(word);
        }
        self.unknown_word(node, &word, "suggestion", SUGGESTIONS);
        None
    }

    /// Seconds before the device may retry; -1 means never.
    fn interval(&mut self, node: &Node) -> Option<i64> {
        match node.as_scalar().map(|s| &s.value) {
            Some(ScalarValue::Int(n)) if *n >= -1 => Some(*n),
            Some(ScalarValue::Int(_)) => {
                let d = self.diag(node.span, "`interval` is out of range").expected("seconds (an integer ≥ 0), or -1 for never");
                self.push(d);
                None
            }
            _ => {
                self.wrong_type(node, "interval", "seconds (an integer ≥ 0), or -1 for never");
                None
            }
        }
    }

    fn push_step(&mut self, value: &Node) -> Push {
        let args = self.step_args(value, "push", PUSH_KEYS);
        let a = args.as_ref();
        let get = |key| a.and_then(|a| a.get(key));
        let cmd = a.and_then(|a| self.required_string(a, "cmd", "a `push` step"));
        if let (Some(cmd), Some(node)) = (cmd.as_deref(), get("cmd")) {
            self.check_push_cmd(cmd, node);
        }
        Push {
            conn: a.map(|a| self.conn(a)).unwrap_or_default(),
            cmd: cmd.unwrap_or_default(),
            body: get("body").map(to_json),
            req_id: get("req_id").and_then(|n| self.text(n, "req_id", "a string")),
        }
    }

    /// Pushes are told from requests by their cmd (`push_*`, C2).
    fn check_push_cmd(&mut self, cmd: &str, node: &Node) {
        if cmd.starts_with("push_") {
            return;
        }
        let pushes: Vec<&str> = Catalog::get().commands.iter().map(|c| c.name.as_str()).filter(|n| n.starts_with("push_")).collect();
        let prefixed = format!("push_{cmd}");
        let help =
            if pushes.contains(&prefixed.as_str()) { Some(format!("did you mean `{prefixed}`?")) } else { did_you_mean(cmd, &pushes) };
        let d = self
            .diag(node.span, format!("the `cmd` of a push must start with `push_`, found `{cmd}`"))
            .expected("a push cmd like push_bind_corp")
            .maybe_help(help);
        self.push(d);
    }

    fn close(&mut self, value: &Node) -> Close {
        let (conn, args) = self.conn_only(value, "close", CLOSE_KEYS);
        let get = |key| args.as_ref().and_then(|a| a.get(key));
        let code = get("code").and_then(|n| {
            let code = self.integer_in(n, "code", 1000, 4999)?;
            if UNSENDABLE_CLOSE_CODES.contains(&code) {
                let d = self
                    .diag(n.span, format!("close code {code} cannot be sent"))
                    .expected("a close code from 1000 to 4999 other than 1004, 1005, 1006 and 1015 (RFC 6455 reserves them)");
                self.push(d);
                return None;
            }
            Some(code as u16)
        });
        let reason = get("reason").and_then(|n| {
            let reason = self.string(n, "reason")?;
            if reason.len() > MAX_CLOSE_REASON {
                let d = self
                    .diag(n.span, format!("close reason is {} bytes long", reason.len()))
                    .expected(format!("at most {MAX_CLOSE_REASON} bytes (a close frame holds 125, two of them the code)"));
                self.push(d);
                return None;
            }
            Some(reason)
        });
        Close { conn, code, reason }
    }

    fn expect_reconnect(&mut self, value: &Node) -> ExpectReconnect {
        let (conn, args) = self.conn_only(value, "expect_reconnect", EXPECT_RECONNECT_KEYS);
        let get = |key| args.as_ref().and_then(|a| a.get(key));
        let reconnect = ExpectReconnect {
            conn,
            within: get("within").and_then(|n| self.duration(n, "within")),
            not_before: get("not_before").and_then(|n| self.duration(n, "not_before")),
        };
        self.check_window(reconnect.within.as_ref(), reconnect.not_before.as_ref(), get("not_before"));
        reconnect
    }

    fn mark(&mut self, value: &Node) -> Option<String> {
        let name = self.name(value, "mark")?;
        self.marks.push((name.clone(), value.span));
        Some(name)
    }

    fn timing(&mut self, value: &Node) -> Timing {
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
        let given =
            |key: &str| a.get(key).is_some_and(|n| !matches!(key, "jitter" | "none") || n.as_scalar().map(|s| &s.value) != Some(&off));
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
    fn since(&mut self, node: &Node) -> Option<String> {
        let name = self.name(node, "mark")?;
        if !self.marks.iter().any(|(m, _)| *m == name) {
            self.unresolved_since.push((name.clone(), node.span, self.marks.len()));
        }
        Some(name)
    }

    fn gaps(&mut self, node: &Node) -> Option<DurationRange> {
        let args = self.args(node, "`gaps`", GAPS_KEYS, "gaps")?;
        let range = DurationRange {
            min: args.get("min").and_then(|n| self.duration(n, "min")),
            max: args.get("max").and_then(|n| self.duration(n, "max")),
        };
        if args.get("min").is_none() && args.get("max").is_none() && !args.misspells("min") && !args.misspells("max") {
            let d = self.diag(node.span, "`gaps` needs a bound").expected("`min`, `max` or both, like `{ min: 25s, max: 35s }`");
            self.push(d);
        }
        if let (Some(DurationExpr::Fixed(min)), Some(DurationExpr::Fixed(max)), Some(at)) = (&range.min, &range.max, args.get("max")) {
            if min > max {
                self.error(at.span, format!("`gaps.max` ({max:?}) is less than `gaps.min` ({min:?})"));
            }
        }
        Some(range)
    }

    fn max_per(&mut self, node: &Node) -> Option<(u32, DurationExpr)> {
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

    fn device_control(&mut self, kind_key: &Node, value: &Node) -> Option<DeviceControl> {
        if !self.device_control {
            let d = self
                .diag(kind_key.span, "a `device_control` step needs a device target the harness can make act")
                .help("add `requires: [device_control]` at the top level (the scenario then runs only against the reference device)");
            self.push(d);
        }
        let args = self.step_args(value, "device_control", DEVICE_CONTROL_KEYS)?;
        let (key, node) = match args.pairs {
            [(k, v)] => (k.key_text(), v),
            [] => {
                let d = self
                    .diag(value.span, "a `device_control` step needs an action")
                    .expected(format!("one of: {}", DEVICE_CONTROL_KEYS.join(", ")));
                self.push(d);
                return None;
            }
            [(first, _), (second, _), ..] => {
                let msg = format!("a `device_control` step does one thing; found `{}` and `{}`", first.key_text(), second.key_text());
                self.error(second.span, msg);
                return None;
            }
        };
        match key {
            "checkin" => self.checkin(node),
            _ => None, // an unknown key, already reported by `args`
        }
    }

    fn checkin(&mut self, node: &Node) -> Option<DeviceControl> {
        let args = self.args(node, "a `checkin`", CHECKIN_KEYS, "checkin")?;
        let userid = self.required(&args, "userid", "a `checkin`").and_then(|n| {
            self.text(n, "userid", "a user id (a string)").filter(|u| {
                let empty = u.trim().is_empty();
                if empty {
                    self.error(n.span, "`userid` is empty");
                }
                !empty
            })
        });
        // The catalog's values: pass_type 1 in, 2 out, 3 unknown; pass_method 1 face, 2 QR,
        // 3 remote, 4 fingerprint, 5 WeCom scans the device's QR, 6 the device scans a phone's.
        let pass_type = args.get("pass_type").and_then(|n| self.integer_in(n, "pass_type", 1, 3)).map(|n| n as u32);
        let pass_method = args.get("pass_method").and_then(|n| self.integer_in(n, "pass_method", 1, 6)).map(|n| n as u32);
        Some(DeviceControl::Checkin { userid: userid?, pass_type, pass_method })
    }

    // ---- values ----

    /// Any integer (`errcode`).
    fn integer(&mut self, node: &Node, key: &str) -> Option<i64> {
        match node.as_scalar().map(|s| &s.value) {
            Some(ScalarValue::Int(n)) => Some(*n),
            _ => {
                self.wrong_type(node, key, "an integer");
                None
            }
        }
    }

    fn required_string(&mut self, args: &Args<'_>, key: &str, what: &str) -> Option<String> {
        self.required(args, key, what).and_then(|n| self.string(n, key))
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

    /// An IPv4 address in 127.0.0.0/16: the harness binds its sockets to loopback addresses,
    /// and over real sockets gives the second octet to the scenario's slot (so scenarios run
    /// side by side never share an address), which leaves the last two octets to the file.
    fn loopback(&mut self, node: &Node, key: &str) -> Option<String> {
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
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} `{kind}` step")
}

/// The key node of `key` in checked arguments (present: the caller found its value).
fn key_of<'n>(args: &Args<'n>, key: &str) -> &'n Node {
    args.pairs.iter().find(|(k, _)| k.key_text() == key).map_or(args.node, |(k, _)| k)
}

/// The keys that may sit beside a step's kind key.
fn siblings_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "request" => &["expect", "capture"],
        "expect" => &["capture"],
        "receive" => &["check", "capture"],
        _ => &[],
    }
}

/// Whether `key` (itself a kind word) written beside the kind key `owner` belongs to that
/// step (a sibling, an argument put beside it, or `expect` beside `receive`) rather than
/// starting a second step.
fn belongs_beside(owner: &str, key: &str) -> bool {
    siblings_of(owner).contains(&key) || arguments_of(owner).contains(&key) || (owner == "receive" && key == "expect")
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
        "accept" => ACCEPT_KEYS,
        "receive" => RECEIVE_KEYS,
        "reply" => REPLY_KEYS,
        "no_reply" => CONN_KEYS,
        "push" => PUSH_KEYS,
        "close" => CLOSE_KEYS,
        "expect_reconnect" => EXPECT_RECONNECT_KEYS,
        "timing" => TIMING_KEYS,
        "device_control" => DEVICE_CONTROL_KEYS,
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
        assert!(
            matches!(&s[3].kind, StepKind::ExpectClosed(c) if c.conn == "a" && c.within == Some(DurationExpr::Fixed(Duration::from_secs(5))))
        );
        assert!(matches!(&s[4].kind, StepKind::Wait(DurationExpr::Fixed(d)) if d.as_secs() == 90));
    }

    #[test]
    fn send_frames() {
        let s = steps(
            "  - send: { binary_hex: \"0a ff\" }\n  - send: { oversized: 70000 }\n  - send: { json: [1] }\n  - send: { text: \"{\" }\n",
        );
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
    fn step_names_and_attachments() {
        assert_eq!(step_what("accept"), "an `accept` step");
        assert_eq!(step_what("reply"), "a `reply` step");
        assert!(belongs_beside("request", "expect") && belongs_beside("request", "no_reply"));
        assert!(belongs_beside("receive", "expect") && !belongs_beside("connect", "send"));
        for kind in STEP_KINDS {
            assert!(!(DEVICE_STEPS.contains(kind) && CLOUD_STEPS.contains(kind)), "{kind}");
        }
        for kind in DEVICE_STEPS.iter().chain(CLOUD_STEPS) {
            assert!(STEP_KINDS.contains(kind), "{kind}");
        }
    }

    #[test]
    fn role_kinds_leave_out_the_other_role() {
        let mut loader = Loader::new(Path::new("t.yaml"));
        assert_eq!(loader.role_kinds().len(), STEP_KINDS.len());
        loader.role = Some(Role::Cloud);
        assert!(loader.role_kinds().contains(&"receive") && !loader.role_kinds().contains(&"request"));
    }

    #[test]
    fn cloud_scenarios_load() {
        let s = load("id: t.c\ntitle: t\nrequirements: [D12]\nrole: cloud\nsteps:\n  - accept:\n  - receive: { cmd: ping }\n  - reply:\n")
            .unwrap();
        assert!(matches!(&s.steps[2].kind, StepKind::Reply(r) if r.spec.errcode == 0 && r.to.is_none()));
    }

    #[test]
    fn templates() {
        assert!(check_template("${a}+10s").is_ok());
        assert!(check_template("${a").is_err());
        assert!(check_template("${a}x").is_err());
    }
}
