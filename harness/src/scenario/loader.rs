//! Loads scenario files into the typed model, checking everything that can be checked before a
//! run: keys, types, step kinds, matchers, requirement ids, addresses, names and durations.
//!
//! The tree is converted by hand rather than through serde so that every error can name the
//! exact key or value at fault, list what was expected there and suggest a likely fix. The
//! loader keeps going after an error, so one run reports every problem of every file.

use super::diagnostic::{did_you_mean, Diagnostic};
use super::model::*;
use super::parse::*;
use super::steps::reply::REPLY_SPEC_KEYS;
use super::yaml::{self, to_json, Node};
use crate::profile::{feature, BodyField, Profile};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    "assumption",
    "auto_reply",
    "steps",
];
const ROLES: &[&str] = &["device", "cloud", "observer"];
/// Steps one scenario may write out (nested ones included): far above any real scenario,
/// low enough that a generated file cannot take the loader's memory.
pub const MAX_STEPS: usize = 20_000;
const CAPABILITIES: &[&str] = &[
    "control",
    "device_control",
    "cloud_control",
    "seed",
    "unbound",
    "frame_limit",
    "visitor_list",
];
/// Every diagnostic of a load, with the file texts needed to show their lines.
#[derive(thiserror::Error)]
#[error("{}", one_per_line(self))]
pub struct LoadError {
    diagnostics: Vec<Diagnostic>,
    sources: Vec<Arc<Source>>,
    /// Per file, the diagnostics beyond the [`SHOWN_PER_FILE`] kept.
    omitted: BTreeMap<PathBuf, usize>,
}

fn one_per_line(e: &LoadError) -> String {
    let mut lines: Vec<String> = e.diagnostics.iter().map(ToString::to_string).collect();
    lines.extend(e.omitted.iter().map(|(path, n)| omitted_line(path, *n)));
    lines.join("\n")
}

/// "and 19,950 more errors in x.yaml", for what a file's cap left out.
fn omitted_line(path: &Path, n: usize) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(d);
    }
    let s = if n == 1 { "" } else { "s" };
    format!(
        "{}: and {grouped} more error{s} (only the first {SHOWN_PER_FILE} of a file are shown)",
        path.display()
    )
}

/// Debug shows the rendered diagnostics, so a failed `unwrap()` in a test reads like the CLI.
impl fmt::Debug for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LoadError:\n{}", self.render())
    }
}

impl LoadError {
    /// Sorts the diagnostics and keeps the first [`SHOWN_PER_FILE`] of each file; `more`
    /// counts, per file, those dropped already while loading.
    fn new(
        diagnostics: Vec<Diagnostic>,
        sources: Vec<Arc<Source>>,
        more: impl IntoIterator<Item = (PathBuf, usize)>,
    ) -> Self {
        let mut omitted: BTreeMap<PathBuf, usize> = BTreeMap::new();
        for (path, n) in more.into_iter().filter(|(_, n)| *n > 0) {
            *omitted.entry(path).or_default() += n;
        }
        let mut kept: Vec<Diagnostic> = Vec::with_capacity(diagnostics.len());
        let mut in_file = 0;
        for d in sorted(diagnostics) {
            if kept.last().is_none_or(|last| last.path != d.path) {
                in_file = 0;
            }
            in_file += 1;
            if in_file > SHOWN_PER_FILE {
                *omitted.entry(d.path.clone()).or_default() += 1;
            } else {
                kept.push(d);
            }
        }
        LoadError {
            diagnostics: kept,
            sources,
            omitted,
        }
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

    /// How many diagnostics of `path` are not shown, past its first [`SHOWN_PER_FILE`].
    pub fn omitted(&self, path: &Path) -> usize {
        self.omitted.get(path).copied().unwrap_or(0)
    }

    /// Every diagnostic shown with its source line, separated by blank lines; after a file's,
    /// how many more it has.
    pub fn render(&self) -> String {
        let mut rendered: Vec<String> = Vec::new();
        for (i, d) in self.diagnostics.iter().enumerate() {
            rendered.push(d.render(self.text_of(&d.path)));
            let last_of_file = self.diagnostics.get(i + 1).is_none_or(|n| n.path != d.path);
            if last_of_file && self.omitted(&d.path) > 0 {
                rendered.push(format!(
                    "error: {}\n",
                    omitted_line(&d.path, self.omitted(&d.path))
                ));
            }
        }
        rendered.join("\n")
    }

    fn text_of(&self, path: &Path) -> &str {
        self.sources
            .iter()
            .find(|s| s.path == path)
            .map_or("", |s| s.text.as_str())
    }
}

/// Loads one scenario from its text; `path` is used for diagnostics and `Scenario.source`.
/// With the default profile: for tests and tools; the CLI passes the run's profile to
/// [`load_str_with`].
pub fn load_str(path: &Path, text: &str) -> Result<Scenario, LoadError> {
    load_str_with(&*crate::profile::default_profile(), path, text)
}

/// [`load_str`] for the scenarios of `profile`.
pub fn load_str_with(
    profile: &dyn Profile,
    path: &Path,
    text: &str,
) -> Result<Scenario, LoadError> {
    let source = Arc::new(Source {
        path: path.to_path_buf(),
        text: text.to_string(),
    });
    let mut loader = Loader::new(path, profile);
    let scenario = match yaml::parse(text) {
        Ok(Some(root)) => loader.scenario(&root, source.clone()),
        Ok(None) => {
            loader.push(
                loader
                    .diag(START, "empty scenario file")
                    .expected(format!("a mapping with keys {}", required_keys())),
            );
            None
        }
        Err(e) => {
            loader.push(loader.diag(e.span, e.message));
            None
        }
    };
    match scenario {
        Some(s) if loader.diags.is_empty() => Ok(s),
        _ => Err(LoadError::new(
            loader.diags,
            vec![source],
            [(path.to_path_buf(), loader.more)],
        )),
    }
}

/// Reads and loads one file; an unreadable file is a diagnostic without a position.
pub fn load_file(path: &Path) -> Result<Scenario, LoadError> {
    load_file_with(&*crate::profile::default_profile(), path)
}

/// [`load_file`] for the scenarios of `profile`.
pub fn load_file_with(profile: &dyn Profile, path: &Path) -> Result<Scenario, LoadError> {
    match std::fs::read_to_string(path) {
        Ok(text) => load_str_with(profile, path, &text),
        Err(e) => Err(LoadError::new(
            vec![io_diag(path, "cannot read scenario file", &e)],
            Vec::new(),
            [],
        )),
    }
}

/// Loads every scenario under `paths` (files, or directories searched recursively for `*.yaml`
/// and `*.yml`), in path order. Fails with the diagnostics of every file, not just the first,
/// and also when two files share an `id`.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<Scenario>, LoadError> {
    load_paths_with(&*crate::profile::default_profile(), paths)
}

/// [`load_paths`] for the scenarios of `profile`.
pub fn load_paths_with(
    profile: &dyn Profile,
    paths: &[PathBuf],
) -> Result<Vec<Scenario>, LoadError> {
    let loaded = load_all(profile, paths);
    match loaded.error {
        None => Ok(loaded.scenarios),
        Some(e) => Err(e),
    }
}

/// For `hwconform validate`: how many files loaded cleanly, and the errors of the others.
pub fn validate_paths(paths: &[PathBuf]) -> (usize, Option<LoadError>) {
    validate_paths_with(&*crate::profile::default_profile(), paths)
}

/// [`validate_paths`] for the scenarios of `profile`.
pub fn validate_paths_with(profile: &dyn Profile, paths: &[PathBuf]) -> (usize, Option<LoadError>) {
    let loaded = load_all(profile, paths);
    (loaded.scenarios.len(), loaded.error)
}

/// The outcome of loading many files: the good ones and the errors of the rest.
struct Loaded {
    scenarios: Vec<Scenario>,
    error: Option<LoadError>,
}

fn load_all(profile: &dyn Profile, paths: &[PathBuf]) -> Loaded {
    let (files, mut diagnostics) = scenario_files(paths);
    let mut sources = Vec::new();
    let mut scenarios = Vec::new();
    let mut omitted = Vec::new();
    for file in &files {
        match load_file_with(profile, file) {
            Ok(s) => scenarios.push(s),
            Err(e) => {
                diagnostics.extend(e.diagnostics);
                sources.extend(e.sources);
                omitted.extend(e.omitted);
            }
        }
    }
    let scenarios = reject_duplicate_ids(scenarios, &mut diagnostics, &mut sources);
    let error = (!diagnostics.is_empty()).then(|| LoadError::new(diagnostics, sources, omitted));
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
            let d = Diagnostic::new(
                &s.source.path,
                s.id.span,
                format!("duplicate scenario id `{}`", s.id.value),
            )
            .note(format!(
                "first defined at {}:{}:{}",
                path.display(),
                span.line,
                span.col
            ))
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
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
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

impl<'a> Loader<'a> {
    pub(in crate::scenario) fn scenario(
        &mut self,
        root: &Node,
        source: Arc<Source>,
    ) -> Option<Scenario> {
        let top = self.top_level(root)?;
        let id = self.id(&top);
        let title = top
            .get("title")
            .and_then(|n| self.text(n, "title", "a string"))
            .unwrap_or_default();
        let description = top
            .get("description")
            .and_then(|n| self.text(n, "description", "a string"));
        let requirements = self.requirements(&top);
        let tags = top
            .get("tags")
            .map(|n| self.string_list(n, "tags"))
            .unwrap_or_default();
        let role = self.role(&top);
        self.role = role;
        let (requires, features) = self.requires(&top);
        self.devices = self.devices(&top);
        let vars = top.get("vars").map(|n| self.vars(n)).unwrap_or_default();
        let deadline = top
            .get("deadline")
            .and_then(|n| self.fixed_duration(n, "deadline"));
        let step_timeout = top
            .get("step_timeout")
            .and_then(|n| self.fixed_duration(n, "step_timeout"));
        let manual = top.get("manual").and_then(|n| self.manual(n));
        let assumption = top.get("assumption").and_then(|n| {
            self.text(
                n,
                "assumption",
                "a sentence naming the undocumented reading the check rests on",
            )
        });
        let auto_reply = self.auto_reply(&top);
        let steps = if top.get("manual").is_some() {
            self.manual_steps(&top)
        } else {
            self.top_steps(&top)
        };
        if role == Some(Role::Cloud) {
            self.check_receives_reachable(&steps, auto_reply.as_ref());
            self.check_features_used(&steps, &features);
            self.check_own_frames(&steps, &mut None);
            for (cmd, entry) in auto_reply.iter().flatten() {
                if let AutoReply::Reply(spec) = entry {
                    let span = top.get("auto_reply").map(|n| n.span).unwrap_or_default();
                    self.check_reply_shape(cmd, spec, span);
                }
            }
        }
        self.resolve_since();
        self.check_judged(&requirements);
        for key in ["steps", "vars", "auto_reply"] {
            if let Some(node) = top.get(key) {
                self.check_expressions(node);
            }
        }
        if self.diags.is_empty() {
            let mut known: Vec<String> = super::expr::ENGINE_VARIABLES
                .iter()
                .map(|s| s.to_string())
                .collect();
            // The target's settings answer only where the target is a cloud.
            if role == Some(Role::Device) {
                known.extend(
                    self.profile
                        .run_variable_names()
                        .iter()
                        .map(|s| s.to_string()),
                );
            }
            // The protocol's timing windows answer in both roles.
            known.extend(
                self.profile
                    .timing_constants()
                    .iter()
                    .map(|c| c.name.to_string()),
            );
            known.extend(vars.keys().cloned());
            known.extend(self.devices.iter().map(|d| format!("{d}.sn")));
            if let Some(node) = top.get("steps") {
                captured_names(node, &mut known);
            }
            for key in ["steps", "vars", "auto_reply"] {
                if let Some(node) = top.get(key) {
                    self.check_names(node, &known);
                }
            }
        }
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
            features,
            devices: self.devices.clone(),
            vars,
            deadline,
            step_timeout,
            manual,
            assumption,
            auto_reply,
            steps,
            source,
        })
    }

    /// Every `${...}` where the run expands them (steps, vars, auto replies; prose such as a
    /// description is never expanded) has a form `run` can evaluate (names are looked up when
    /// the step runs; what they may be depends on captures and the target).
    fn check_expressions(&mut self, node: &Node) {
        match (node.as_mapping(), node.as_sequence(), node.as_str()) {
            (Some(pairs), _, _) => pairs.iter().for_each(|(_, v)| self.check_expressions(v)),
            (_, Some(items), _) => items.iter().for_each(|i| self.check_expressions(i)),
            (_, _, Some(text)) if text.contains("${") => {
                if let Err(e) = super::expr::check_syntax(text) {
                    if !self.diags.iter().any(|d| d.span == node.span) {
                        let d = self.diag(node.span, format!("invalid expression: {e}")).expected("`${name}`, `${name+N}`, `${name-N}`, `${name*N}` or `${name/N}` with N a non-zero integer");
                        self.push(d);
                    }
                }
            }
            _ => {}
        }
    }

    /// Every `${name}` names something the run will have: a run variable, a `vars` entry,
    /// a capture somewhere in the steps or a device's `.sn` (a capture's order is the run's
    /// business: a use before the capture still fails there, with the step).
    fn check_names(&mut self, node: &Node, known: &[String]) {
        match (node.as_mapping(), node.as_sequence(), node.as_str()) {
            (Some(pairs), _, _) => pairs.iter().for_each(|(_, v)| self.check_names(v, known)),
            (_, Some(items), _) => items.iter().for_each(|i| self.check_names(i, known)),
            (_, _, Some(text)) if text.contains("${") => {
                for name in super::expr::names(text) {
                    if known.iter().any(|k| k == name) {
                        continue;
                    }
                    let mut d = self
                        .diag(node.span, format!("unknown variable `{name}`"))
                        .expected("a run variable (`now`, `sn`, `heartbeat_timeout`, …), a `vars` name, a `capture` name or `DEVICE.sn`");
                    if let Some(hint) = super::diagnostic::did_you_mean(name, known) {
                        d = d.help(hint);
                    }
                    self.push(d);
                }
            }
            _ => {}
        }
    }

    pub(in crate::scenario) fn top_level<'n>(&mut self, root: &'n Node) -> Option<Args<'n>> {
        if root.as_mapping().is_none() {
            let d = self
                .diag(root.span, "a scenario file must be a mapping")
                .expected(format!(
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

    pub(in crate::scenario) fn id(&mut self, top: &Args<'_>) -> Option<Spanned<String>> {
        let node = top.get("id")?;
        let id = self.string(node, "id")?;
        let valid = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            let d = self
                .diag(node.span, format!("invalid scenario id `{id}`"))
                .expected("letters, digits, `.`, `_` and `-` only");
            self.push(d);
            return None;
        }
        Some(Spanned::new(id, node.span))
    }

    pub(in crate::scenario) fn requirements(&mut self, top: &Args<'_>) -> Vec<Spanned<String>> {
        let Some(node) = top.get("requirements") else {
            return Vec::new();
        };
        let Some(items) = node.as_sequence() else {
            self.wrong_type(
                node,
                "requirements",
                "a list of obligation ids like [C9, D12]",
            );
            return Vec::new();
        };
        if items.is_empty() {
            let d = self
                .diag(node.span, "a scenario must cite at least one requirement")
                .expected("obligation ids like [C9, D12]");
            self.push(d);
        }
        let mut out: Vec<Spanned<String>> = Vec::new();
        let known: Vec<String> = self
            .profile
            .statements()
            .iter()
            .map(|s| s.id.clone())
            .collect();
        for item in items {
            let Some(id) = self.string(item, "requirements") else {
                continue;
            };
            if !self.profile.is_obligation(&id) {
                let d = self
                    .diag(item.span, format!("unknown requirement id `{id}`"))
                    .expected(self.profile.obligation_ids_hint())
                    .maybe_help(self.suggest(&id, &known));
                self.push(d);
            } else if out.iter().any(|r| r.value == id) {
                self.error(item.span, format!("requirement `{id}` is listed twice"));
            } else {
                out.push(Spanned::new(id, item.span));
            }
        }
        out
    }

    pub(in crate::scenario) fn role(&mut self, top: &Args<'_>) -> Option<Role> {
        let node = top.get("role")?;
        match self.string(node, "role")?.as_str() {
            "device" => Some(Role::Device),
            "cloud" => Some(Role::Cloud),
            "observer" => Some(Role::Observer),
            other => {
                self.unknown_word(node, other, "role", ROLES);
                None
            }
        }
    }

    /// "unknown role `clud`", expected one of the options, maybe a suggestion.
    pub(in crate::scenario) fn unknown_word(
        &mut self,
        node: &Node,
        found: &str,
        what: &str,
        options: &[&str],
    ) {
        let d = self
            .diag(node.span, format!("unknown {what} `{found}`"))
            .expected(format!("one of: {}", options.join(", ")))
            .maybe_help(did_you_mean(found, options));
        self.push(d);
    }

    /// `requires:`: capabilities of the target (`control`, `device_control`, `seed`) and
    /// features of the device under test, as the profile names them (`door`, `face`).
    pub(in crate::scenario) fn requires(
        &mut self,
        top: &Args<'_>,
    ) -> (Vec<Capability>, Vec<String>) {
        let Some(node) = top.get("requires") else {
            return (Vec::new(), Vec::new());
        };
        let Some(items) = node.as_sequence() else {
            self.wrong_type(
                node,
                "requires",
                "a list of capabilities or features like [control] or [door]",
            );
            return (Vec::new(), Vec::new());
        };
        let features = feature::names(self.profile.ics_features());
        let mut out = Vec::new();
        let mut needs = Vec::new();
        for item in items {
            let capability = match self.string(item, "requires").as_deref() {
                Some("control") => Capability::Control,
                Some("device_control") => Capability::DeviceControl,
                Some("cloud_control") => Capability::CloudControl,
                Some("seed") => Capability::Seed,
                Some("unbound") => Capability::Unbound,
                Some("frame_limit") => Capability::FrameLimit,
                Some("visitor_list") => Capability::VisitorList,
                Some(other) if features.contains(&other) => {
                    self.feature(item, other, &mut needs);
                    continue;
                }
                Some(other) => {
                    let known: Vec<&str> = CAPABILITIES
                        .iter()
                        .copied()
                        .chain(features.iter().copied())
                        .collect();
                    let d = self
                        .diag(
                            item.span,
                            format!("unknown capability or feature `{other}`"),
                        )
                        .expected(format!(
                            "a capability ({}) or a feature of the device ({})",
                            CAPABILITIES.join(", "),
                            features.join(", ")
                        ))
                        .maybe_help(did_you_mean(other, &known));
                    self.push(d);
                    continue;
                }
                None => continue,
            };
            // `control` drives the mock cloud, `device_control` the reference device: each
            // only means something when that is the target.
            let owner = match capability {
                Capability::Control
                | Capability::CloudControl
                | Capability::Unbound
                | Capability::FrameLimit
                | Capability::VisitorList => Some(Role::Device),
                Capability::DeviceControl => Some(Role::Cloud),
                Capability::Seed => None,
            };
            match (self.role, owner) {
                (Some(role), Some(owner)) if role != owner => {
                    let what = match owner {
                        Role::Device if capability == Capability::Control => {
                            "it controls the mock cloud, the target of a device-role scenario"
                        }
                        Role::Device => {
                            "it is about the cloud under test and its fleet, the target of a device-role scenario"
                        }
                        Role::Cloud => {
                            "it makes the reference device act, the target of a cloud-role scenario"
                        }
                        Role::Observer => "",
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
        self.cloud_control = out.contains(&Capability::CloudControl);
        self.device_control = out.contains(&Capability::DeviceControl);
        (out, needs)
    }

    /// A feature in `requires:`: only a device under test (a cloud-role scenario) has an
    /// implementation conformance statement that can say whether it implements one.
    fn feature(&mut self, item: &Node, name: &str, needs: &mut Vec<String>) {
        if self.role == Some(Role::Device) {
            let d = self
                .diag(item.span, format!("feature `{name}` describes a device under test; this scenario has `role: device`"))
                .note("features come from the device's implementation conformance statement (--ics), which only cloud-role scenarios consult");
            self.push(d);
        } else if needs.iter().any(|n| n == name) {
            self.error(item.span, format!("feature `{name}` is listed twice"));
        } else {
            needs.push(name.to_string());
        }
    }

    pub(in crate::scenario) fn devices(&mut self, top: &Args<'_>) -> Vec<String> {
        let Some(node) = top.get("devices") else {
            return vec![DEFAULT_DEVICE.to_string()];
        };
        let Some(items) = node.as_sequence() else {
            self.wrong_type(node, "devices", "a list of device names like [dev, other]");
            return Vec::new();
        };
        if items.is_empty() {
            self.error(node.span, "`devices` must name at least one device");
        }
        let mut out: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for item in items {
            let Some(name) = self.name(item, "device") else {
                continue;
            };
            if seen.insert(name.clone()) {
                out.push(name);
            } else {
                self.error(item.span, format!("device `{name}` is listed twice"));
            }
        }
        out
    }

    pub(in crate::scenario) fn vars(&mut self, node: &Node) -> BTreeMap<String, Value> {
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

    pub(in crate::scenario) fn top_steps(&mut self, top: &Args<'_>) -> Vec<Step> {
        let Some(node) = top.get("steps") else {
            return Vec::new();
        };
        let steps = self.steps(node, "steps");
        self.check_purpose(&steps);
        steps
    }

    /// A `receive` of a cmd the harness answers by itself (the profile's default auto replies,
    /// or the scenario's own) can never match: said at load, with the way out.
    fn check_receives_reachable(
        &mut self,
        steps: &[Step],
        auto: Option<&BTreeMap<String, AutoReply>>,
    ) {
        let mut answered: Vec<String> = self
            .profile
            .default_auto_replies()
            .iter()
            .map(|d| d.cmd.to_string())
            .collect();
        for (cmd, entry) in auto.into_iter().flatten() {
            match entry {
                AutoReply::Off => answered.retain(|c| c != cmd),
                AutoReply::Reply(_) => answered.push(cmd.clone()),
            }
        }
        for step in steps {
            match &step.kind {
                StepKind::Receive(r) if r.cmd.as_ref().is_some_and(|c| answered.contains(c)) => {
                    let cmd = r.cmd.clone().unwrap_or_default();
                    let d = self
                        .diag(step.span, format!("`{cmd}` is answered automatically (`auto_reply`), so no `receive` ever sees it"))
                        .expected(format!("a cmd the harness does not answer by itself; to take `{cmd}` here, add `auto_reply: {{ {cmd}: off }}` at the top level"));
                    self.push(d);
                }
                StepKind::Repeat(r) => self.check_receives_reachable(&r.steps, auto),
                StepKind::OneOf(o) => o
                    .branches
                    .iter()
                    .for_each(|b| self.check_receives_reachable(&b.steps, auto)),
                _ => {}
            }
        }
    }

    /// A scenario that waits for a command only a device with some feature sends, or pushes
    /// one only such a device handles, needs that feature (`requires:`): otherwise a device
    /// that says it lacks the feature is failed where the scenario is not applicable to it.
    fn check_features_used(&mut self, steps: &[Step], required: &[String]) {
        for step in steps {
            let (verb, cmd) = match &step.kind {
                StepKind::Receive(r) => ("waits for", r.cmd.as_deref()),
                StepKind::Push(p) => ("pushes", Some(p.cmd.as_str())),
                StepKind::Repeat(r) => {
                    self.check_features_used(&r.steps, required);
                    continue;
                }
                StepKind::OneOf(o) => {
                    o.branches
                        .iter()
                        .for_each(|b| self.check_features_used(&b.steps, required));
                    continue;
                }
                _ => continue,
            };
            let Some(cmd) = cmd else { continue };
            let owners = self.profile.feature_owners(cmd);
            if owners.is_empty() || owners.iter().any(|o| required.iter().any(|r| r == o)) {
                continue;
            }
            let d = self
                .diag(step.span, format!("the step {verb} `{cmd}`, which only a device with {} implements", owners.iter().map(|o| format!("the `{o}` feature")).collect::<Vec<_>>().join(" or ")))
                .expected(format!("`requires:` naming {}", owners.join(" or ")))
                .help(format!("add `{}` to `requires`, so a device whose statement says it lacks it is not applicable", owners[0]));
            self.push(d);
        }
    }

    /// The harness's own frames as a cloud sends them conform to the catalog: a scripted push
    /// or success reply carries every field the documented example carries, each of its
    /// type. A device that dereferences a documented field must not crash on our omission
    /// and be failed for it. A step marked `deliberate` breaks the shape on purpose.
    /// `received` is the cmd the next `reply` answers (the last `receive` of a known cmd).
    fn check_own_frames(&mut self, steps: &[Step], received: &mut Option<String>) {
        for step in steps {
            match &step.kind {
                StepKind::Receive(r) => *received = r.cmd.clone().filter(|c| !c.contains("${")),
                StepKind::Reply(r) if step.deliberate.is_none() && r.to.is_none() => {
                    if let Some(cmd) = received.clone() {
                        self.check_reply_shape(&cmd, &r.spec, step.span);
                    }
                }
                StepKind::Push(p) if step.deliberate.is_none() => {
                    let fields = self.profile.documented_fields(&p.cmd, false);
                    self.check_body_shape(
                        &format!("the push `{}`", p.cmd),
                        &fields,
                        p.body.as_ref(),
                        step.span,
                    );
                }
                StepKind::Repeat(r) => self.check_own_frames(&r.steps, received),
                StepKind::OneOf(o) => {
                    for b in &o.branches {
                        let mut branch = received.clone();
                        self.check_own_frames(&b.steps, &mut branch);
                    }
                }
                _ => {}
            }
        }
    }

    /// A success reply to `cmd` with a body: the documented reply's fields.
    fn check_reply_shape(&mut self, cmd: &str, spec: &ReplySpec, span: Span) {
        if spec.errcode != 0 || spec.binary.is_some() || spec.body.is_none() {
            return;
        }
        let fields = self.profile.documented_fields(cmd, true);
        self.check_body_shape(
            &format!("the reply to `{cmd}`"),
            &fields,
            spec.body.as_ref(),
            span,
        );
    }

    fn check_body_shape(
        &mut self,
        what: &str,
        fields: &[BodyField],
        body: Option<&Value>,
        span: Span,
    ) {
        if fields.is_empty() {
            return;
        }
        let Some(Value::Object(body)) = body else {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            let d = self
                .diag(span, format!("{what} has no body, and the documented one carries {}", names.join(", ")))
                .expected("the documented fields (protocol/catalog.json), or `deliberate: \"why\"` beside the step for a frame broken on purpose");
            return self.push(d);
        };
        let mut missing = Vec::new();
        for f in fields.iter().filter(|f| f.required) {
            match body.get(&f.name) {
                None => missing.push(f.name.as_str()),
                Some(v) if !self.profile.type_admits(&f.ty, v) => {
                    let d = self
                        .diag(span, format!("{what} carries `{}` as {}, and the documented type is {}", f.name, json_kind(v), f.ty))
                        .expected("the documented type (protocol/catalog.json), or `deliberate: \"why\"` beside the step");
                    self.push(d);
                }
                Some(_) => {}
            }
        }
        if !missing.is_empty() {
            let d = self
                .diag(span, format!("{what} leaves out {}, which the documented one carries", missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")))
                .expected("every documented field (a device may read it), or `deliberate: \"why\"` beside the step for a frame broken on purpose");
            self.push(d);
        }
    }

    /// What a step or matcher judges is one of the ids the scenario cites: a failure is charged
    /// to it, and the requirement matrix lists only cited ids against the scenario.
    fn check_judged(&mut self, requirements: &[Spanned<String>]) {
        for id in std::mem::take(&mut self.judged) {
            if requirements.iter().any(|r| r.value == id.value) {
                continue;
            }
            let cited: Vec<&str> = requirements.iter().map(|r| r.value.as_str()).collect();
            let d = self
                .diag(
                    id.span,
                    format!(
                        "`{}` is judged here but the scenario does not cite it",
                        id.value
                    ),
                )
                .expected(format!(
                    "one of the scenario's requirements: {}",
                    cited.join(", ")
                ))
                .help(format!(
                    "add `{}` to `requirements`, or name the obligation this check judges",
                    id.value
                ));
            self.push(d);
        }
    }

    /// One `purpose`, at the top level: the test body is one stretch of the scenario.
    fn check_purpose(&mut self, steps: &[Step]) {
        let top: Vec<Span> = steps
            .iter()
            .filter(|s| matches!(s.kind, StepKind::Purpose(_)))
            .map(|s| s.span)
            .collect();
        let purposes = std::mem::take(&mut self.purposes);
        for (i, span) in purposes.iter().enumerate() {
            if i > 0 {
                let first = purposes[0].line;
                let d = self
                    .diag(*span, "a second `purpose` step")
                    .expected(format!(
                        "one `purpose` per scenario; the test body already starts at line {first}"
                    ));
                self.push(d);
            }
        }
        if purposes.len() > top.len() {
            let nested = purposes
                .iter()
                .find(|p| !top.iter().any(|t| t.line == p.line))
                .copied()
                .unwrap_or(purposes[0]);
            let d = self
                .diag(nested, "`purpose` inside a nested block")
                .expected("`purpose` at the top level of `steps`, where the test body starts");
            self.push(d);
        }
    }

    /// `manual`: instructions for the lab, for an obligation the wire cannot show.
    pub(in crate::scenario) fn manual(&mut self, node: &Node) -> Option<String> {
        let text = self.string(node, "manual")?;
        if text.trim().is_empty() {
            let d = self
                .diag(node.span, "`manual` is empty")
                .expected("instructions for the lab: what to do and what to look for");
            self.push(d);
            return None;
        }
        Some(text)
    }

    /// A manual scenario is not run: `steps` may be left out or empty, nothing else.
    pub(in crate::scenario) fn manual_steps(&mut self, top: &Args<'_>) -> Vec<Step> {
        let Some((key, value)) = top.pairs.iter().find(|(k, _)| k.key_text() == "steps") else {
            return Vec::new();
        };
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
    pub(in crate::scenario) fn auto_reply(
        &mut self,
        top: &Args<'_>,
    ) -> Option<BTreeMap<String, AutoReply>> {
        let (key, node) = top
            .pairs
            .iter()
            .find(|(k, _)| k.key_text() == "auto_reply")?;
        if let Some(role @ Role::Device) = self.role {
            let d = self
                .diag(key.span, format!("`auto_reply` belongs to the cloud role; this scenario has `role: {}`", role.as_str()))
                .note("with `role: device` the harness plays a device and the cloud under test answers its requests");
            self.push(d);
            return None;
        }
        let Some(pairs) = node.as_mapping() else {
            self.wrong_type(
                node,
                "auto_reply",
                "a mapping of cmds to replies, like `{ ping: off, get_perm_version: { body: {...} } }`",
            );
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, v) in pairs {
            let cmd = k.key_text();
            if cmd.trim().is_empty() {
                let d = self
                    .diag(k.span, "empty cmd in `auto_reply`")
                    .expected("a cmd name like ping");
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
                        .diag(
                            v.span,
                            format!("wrong type for the `auto_reply` of `{cmd}`"),
                        )
                        .expected(format!(
                            "a reply mapping (keys {}) or `off`, found {}",
                            REPLY_SPEC_KEYS.join(", "),
                            v.describe()
                        ))
                        .help(format!(
                            "`{cmd}: {{}}` answers with success, `{cmd}: off` removes a default"
                        ));
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
    pub(in crate::scenario) fn resolve_since(&mut self) {
        for (name, span, earlier) in std::mem::take(&mut self.unresolved_since) {
            let before: Vec<&str> = self.marks[..earlier]
                .iter()
                .map(|(m, _)| m.as_str())
                .collect();
            let later = self.marks[earlier..]
                .iter()
                .find(|(m, _)| *m == name)
                .map(|(_, at)| *at);
            let mut d = self.diag(
                span,
                format!("`since` names mark `{name}`, which no earlier step sets"),
            );
            d = match later {
                Some(at) => d
                    .note(format!(
                        "`mark: {name}` comes later, at line {}:{}",
                        at.line, at.col
                    ))
                    .help("a `timing` step looks back: move the `mark` before it"),
                None if before.is_empty() => d
                    .expected("the name of a `mark` step before this one")
                    .help(format!("add `- mark: {name}` where the window starts")),
                None => d
                    .expected(format!(
                        "one of the marks set earlier: {}",
                        before.join(", ")
                    ))
                    .maybe_help(did_you_mean(&name, &before)),
            };
            self.push(d);
        }
    }
}

mod step_list;
#[cfg(test)]
use step_list::belongs_beside;

#[cfg(test)]
mod tests;

/// The names every `capture:` mapping under `node` stores.
fn captured_names(node: &Node, out: &mut Vec<String>) {
    if let Some(pairs) = node.as_mapping() {
        for (k, v) in pairs {
            if k.as_str() == Some("capture") {
                if let Some(names) = v.as_mapping() {
                    out.extend(
                        names
                            .iter()
                            .filter_map(|(n, _)| n.as_str().map(str::to_string)),
                    );
                }
            }
            captured_names(v, out);
        }
    } else if let Some(items) = node.as_sequence() {
        items.iter().for_each(|i| captured_names(i, out));
    }
}

/// A JSON value's kind, for messages.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
