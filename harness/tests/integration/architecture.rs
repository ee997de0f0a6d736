//! The layering rules of the design guide, read from the source so they cannot creep back:
//! the crate's top-level modules import only modules below them in the declared order
//! ([`LAYERS`], docs/src/internals/layout.md), none between the modules of `scenario/` form
//! a cycle, only `profile/`, `targets/` and the composition root (`cli/`, `main.rs`) name the
//! WeCom profile, none but those and a few listed wrappers calls `default_profile()` (the
//! profile is chosen once, at the composition root), and no WeCom command name, error code or obligation id sits inside
//! `engine/` (the engine knows the protocol only through the profile seam).
//!
//! Test-only code (`#[cfg(test)]` modules and `tests/` folders under `src/`) is left out of
//! the import graph: a test may reach up to build what it checks.

use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Every `.rs` file under `dir`, with its module path (`engine/session/mod.rs` → engine, session).
fn sources(dir: &Path) -> Vec<(PathBuf, Vec<String>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(dir).unwrap();
                let mut module: Vec<String> = rel
                    .iter()
                    .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
                    .collect();
                if module
                    .last()
                    .is_some_and(|m| m == "mod" || m == "lib" || m == "main")
                {
                    module.pop();
                }
                out.push((path, module));
            }
        }
    }
    out.sort();
    out
}

/// The file's text without its `#[cfg(test)]` items and without comments.
fn production_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            // Skip the item that follows: up to its closing brace at the same depth.
            let mut depth = 0i32;
            let mut opened = false;
            for l in lines.by_ref() {
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                opened |= l.contains('{');
                if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        let code = line.split("//").next().unwrap_or("");
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn is_test_file(module: &[String]) -> bool {
    module.iter().any(|m| m == "tests")
}

/// The module paths a file refers to: `crate::a::b`, `crate::{a::b, c::{d, e}}`,
/// `super::x`.
fn references(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut i = 0;
    let bytes = code.as_bytes();
    while i < code.len() {
        let rest = &code[i..];
        let (base, after) = if let Some(r) = rest.strip_prefix("crate::") {
            (Vec::new(), r)
        } else if rest.starts_with("super::")
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
        {
            // `super` of `a/b.rs` and of `a/b/mod.rs` alike is `a`.
            let mut base = module.to_vec();
            let mut r = rest;
            while let Some(next) = r.strip_prefix("super::") {
                base.pop();
                r = next;
            }
            (base, r)
        } else {
            i += rest.chars().next().map(char::len_utf8).unwrap_or(1);
            continue;
        };
        use_tree(&base, after, &mut out);
        i += rest.len() - after.len();
    }
    out
}

/// The paths of a use tree at the start of `text` (`a::b`, `a::{b, c::{d, e}}`), each
/// after `base`.
fn use_tree(base: &[String], text: &str, out: &mut Vec<Vec<String>>) {
    static IDENT: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*").unwrap());
    let ident = &*IDENT;
    let mut path = base.to_vec();
    let mut r = text.trim_start();
    while let Some(m) = ident.find(r) {
        path.push(m.as_str().to_string());
        r = &r[m.end()..];
        match r.strip_prefix("::") {
            Some(next) => r = next,
            None => break,
        }
    }
    let Some(group) = r.strip_prefix('{') else {
        if path.len() > base.len() {
            out.push(path);
        }
        return;
    };
    let mut depth = 1;
    let mut start = 0;
    for (at, ch) in group.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if depth == 0 || (ch == ',' && depth == 1) {
            use_tree(&path, &group[start..at], out);
            start = at + 1;
            if depth == 0 {
                break;
            }
        }
    }
}

/// The import graph at one depth below `prefix`: module name → modules it refers to.
fn graph(prefix: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let depth = prefix.len();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, module) in sources(Path::new(SRC)) {
        if module.len() <= depth
            || !module.iter().zip(prefix).all(|(a, b)| a == b)
            || is_test_file(&module)
        {
            continue;
        }
        let from = module[depth].clone();
        let text = std::fs::read_to_string(&path).unwrap();
        let entry = g.entry(from.clone()).or_default();
        for r in references(&production_code(&text), &module) {
            if r.len() > depth && r.iter().zip(prefix).all(|(a, b)| a == b) && r[depth] != from {
                entry.insert(r[depth].clone());
            }
        }
    }
    // Only edges between modules that exist at this level.
    let names: BTreeSet<String> = g.keys().cloned().collect();
    for deps in g.values_mut() {
        deps.retain(|d| names.contains(d));
    }
    g
}

/// Some cycle of `g`, as a path `a → b → … → a`, if there is one.
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = stack.iter().position(|s| s == n) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(n, g, &mut Vec::new(), &mut done))
}

fn render(g: &BTreeMap<String, BTreeSet<String>>) -> String {
    g.iter()
        .map(|(k, v)| {
            format!(
                "  {k} → {}",
                v.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules in the declared order, lowest first: data flows file → scenario →
/// session → transcript → verdicts → reports, and a module imports only the ones before it.
const LAYERS: &[&str] = &[
    "wire", "profile", "scenario", "ics", "engine", "targets", "check", "report", "fleet",
    "observe", "cli",
];

/// Every import of a module at or above its own layer, as `from → to` lines.
fn against_the_order(g: &BTreeMap<String, BTreeSet<String>>, layers: &[&str]) -> Vec<String> {
    let rank = |m: &str| layers.iter().position(|l| *l == m);
    let mut found = Vec::new();
    for (from, deps) in g {
        for to in deps {
            match (rank(from), rank(to)) {
                (Some(a), Some(b)) if b < a => {}
                _ => found.push(format!("{from} → {to}")),
            }
        }
    }
    found
}

#[test]
fn top_level_modules_import_only_the_layers_below_them() {
    let g = graph(&[]);
    let names: BTreeSet<&str> = g.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        LAYERS.iter().copied().collect(),
        "a top-level module is missing from the declared order (or the order names one that is gone); graph:\n{}",
        render(&g)
    );
    let found = against_the_order(&g, LAYERS);
    assert!(
        found.is_empty(),
        "imports against the declared order {}:\n  {}\ngraph:\n{}",
        LAYERS.join(" ← "),
        found.join("\n  "),
        render(&g)
    );
    assert_eq!(find_cycle(&g), None, "graph:\n{}", render(&g));
}

#[test]
fn the_order_check_fails_on_an_upward_import_and_passes_a_downward_one() {
    let g = |from: &str, to: &str| {
        BTreeMap::from([
            (from.to_string(), BTreeSet::from([to.to_string()])),
            (to.to_string(), BTreeSet::new()),
        ])
    };
    assert_eq!(
        against_the_order(&g("check", "report"), LAYERS),
        vec!["check → report".to_string()]
    );
    assert!(against_the_order(&g("report", "check"), LAYERS).is_empty());
    assert_eq!(
        against_the_order(&g("engine", "nowhere"), LAYERS),
        vec!["engine → nowhere".to_string()]
    );
}

/// Where a module may name the WeCom profile: the profile itself, the targets that speak
/// it, and the composition root that chooses it.
fn may_name_wecom(module: &[String]) -> bool {
    matches!(
        module.first().map(String::as_str),
        None | Some("profile" | "targets" | "cli" | "main")
    )
}

/// Every production reference to `profile::wecom` from a module that may not name it.
fn wecom_references(files: &[(PathBuf, Vec<String>, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, module, text) in files {
        if may_name_wecom(module) || is_test_file(module) {
            continue;
        }
        for r in references(&production_code(text), module) {
            if r.first().map(String::as_str) == Some("profile")
                && r.get(1).is_some_and(|m| m == "wecom")
            {
                found.push(format!("{}: crate::{}", path.display(), r.join("::")));
            }
        }
    }
    found
}

/// Every source file of the crate: its path under `src/`, its module path and its text.
fn crate_files() -> Vec<SourceFile> {
    sources(Path::new(SRC))
        .into_iter()
        .map(|(path, module)| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path.strip_prefix(SRC).unwrap().to_path_buf(), module, text)
        })
        .collect()
}

/// A made-up source file, for showing a check able to fail and able to pass.
fn fake_file(path: &str, module: &[&str], text: &str) -> SourceFile {
    (
        PathBuf::from(path),
        module.iter().map(|m| m.to_string()).collect(),
        text.to_string(),
    )
}

/// A source file as the checks read it: its path under `src/`, its module path, its text.
type SourceFile = (PathBuf, Vec<String>, String);

#[test]
fn only_the_profile_the_targets_and_the_composition_root_name_wecom() {
    let files = crate_files();
    let found = wecom_references(&files);
    assert!(
        found.is_empty(),
        "these name the WeCom profile; take the profile passed down from the CLI instead (`&dyn Profile`):\n{}",
        found.join("\n")
    );
    // The check sees grouped and direct imports, and leaves the allowed places and tests alone.
    let mutants = [
        fake_file(
            "report/x.rs",
            &["report", "x"],
            "use crate::profile::wecom::obligations;",
        ),
        fake_file(
            "check/y.rs",
            &["check", "y"],
            "use crate::profile::{Profile, wecom::Catalog};",
        ),
    ];
    assert_eq!(wecom_references(&mutants).len(), 2);
    let allowed = [
        fake_file(
            "cli/run.rs",
            &["cli", "run"],
            "use crate::profile::wecom::WeComProfile;",
        ),
        fake_file("main.rs", &[], "use crate::profile::wecom::WeComProfile;"),
        fake_file(
            "targets/m.rs",
            &["targets", "m"],
            "use crate::profile::wecom::Catalog;",
        ),
        fake_file(
            "report/z.rs",
            &["report", "z"],
            "#[cfg(test)]\nmod tests {\n    use crate::profile::wecom::Catalog;\n}\n",
        ),
    ];
    assert!(wecom_references(&allowed).is_empty());
}

#[test]
fn the_wire_imports_nothing_above_it() {
    let g = graph(&[]);
    assert_eq!(
        g.get("wire").cloned().unwrap_or_default(),
        BTreeSet::new(),
        "graph:\n{}",
        render(&g)
    );
}

#[test]
fn the_engine_reaches_the_protocol_only_through_the_profile_seam_too() {
    let mut found = Vec::new();
    for (path, module) in sources(Path::new(SRC)) {
        if module.first().map(String::as_str) == Some("engine") {
            for r in references(
                &production_code(&std::fs::read_to_string(&path).unwrap()),
                &module,
            ) {
                // WeCom's cloud timers reach the engine only as `CloudSettings`, which the
                // profile reads.
                if r.first().map(String::as_str) == Some("profile")
                    && r.get(1)
                        .is_some_and(|m| m == "wecom" || m == "CloudTimings")
                {
                    found.push(format!(
                        "{}: crate::{}",
                        path.strip_prefix(SRC).unwrap().display(),
                        r.join("::")
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "engine/ reaches past the profile trait into the WeCom profile:\n{}",
        found.join("\n")
    );
}

#[test]
fn scenario_modules_form_no_cycle() {
    let g = graph(&["scenario"]);
    if let Some(cycle) = find_cycle(&g) {
        panic!(
            "import cycle inside scenario/: {}\ngraph:\n{}",
            cycle.join(" → "),
            render(&g)
        );
    }
}

#[test]
fn the_graph_reader_sees_grouped_and_relative_imports() {
    let refs = references(
        "use crate::{engine::x, scenario::{a, b}};\nuse super::super::report::Y;",
        &["check".into(), "golden".into(), "apply".into()],
    );
    assert!(
        refs.contains(&vec!["engine".to_string(), "x".to_string()]),
        "{refs:?}"
    );
    assert!(refs.iter().any(|r| r[0] == "scenario"), "{refs:?}");
    let nested = references(
        "use crate::profile::{Profile, wecom::{Catalog, features}};",
        &["report".into()],
    );
    assert!(
        nested.contains(&vec![
            "profile".to_string(),
            "wecom".to_string(),
            "features".to_string()
        ]),
        "{nested:?}"
    );
    assert!(
        refs.iter().any(|r| r[0] == "check" && r[1] == "report"),
        "{refs:?}"
    );
    let g = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".to_string(), "b".to_string(), "a".to_string()])
    );
}

/// The catalog's command names, wherever the profile keeps its copy.
fn catalog_commands() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = [
        "protocol/catalog.json",
        "src/profile/wecom/catalog.json",
        "profile/catalog.json",
    ]
    .iter()
    .map(|p| root.join(p))
    .find(|p| p.exists())
    .expect("catalog.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["commands"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn the_engine_names_no_wecom_command_code_or_obligation() {
    let cmds = catalog_commands();
    assert!(cmds.len() > 30 && cmds.iter().any(|c| c == "register"));
    let named_cmd = Regex::new(r#"["`]([a-z_]+)["`]"#).unwrap();
    let code = Regex::new(r"\b60\d{4}\b").unwrap();
    let obligation =
        Regex::new(r"\b(D(?:[1-9]|[1-3][0-9]|4[0-2])|C(?:[1-9]|1[0-9]|2[0-4]))\b").unwrap();
    let mut found = Vec::new();
    for (path, module) in sources(Path::new(SRC)) {
        if module.first().map(String::as_str) != Some("engine") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let rel = path.strip_prefix(SRC).unwrap().display().to_string();
        for (n, line) in text.lines().enumerate() {
            for c in named_cmd.captures_iter(line) {
                if cmds.iter().any(|k| k == &c[1]) {
                    found.push(format!("src/{rel}:{}: command {}", n + 1, &c[0]));
                }
            }
            for m in code.find_iter(line).chain(obligation.find_iter(line)) {
                found.push(format!("src/{rel}:{}: {}", n + 1, m.as_str()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "engine/ names WeCom specifics (move them behind the profile):\n{}",
        found.join("\n")
    );
}

/// The production calls of `default_profile()` outside `profile/` and the composition root
/// that remain, per file: thin wrappers that keep a public signature for the many callers
/// that mean the default (each has a `_with`/`_by`/`for_profile` variant the CLI uses), and
/// the few places not yet given the profile. A new call anywhere else fails the check below.
const DEFAULT_PROFILE_LEFT: &[(&str, usize)] = &[
    // `RunConfig::default()`: the CLI and the explorer set `profile`.
    ("engine/runner.rs", 1),
    // `Obligations::list` of a document made without a profile; `RunMeta::of_this_harness`.
    ("report/json.rs", 2),
    // `Vars` without a profile (the tests' plain closures; the session and the observer's
    // scenarios give theirs) redact and sign as the default does, never less.
    ("scenario/matcher.rs", 1),
    // `load_str`, `load_file`, `load_paths`, `validate_paths` over their `_with` forms.
    ("scenario/loader.rs", 4),
    // `normalize_with` over `normalize_by`; `apply` over `apply_by`.
    ("check/golden/normalize.rs", 1),
    ("check/golden/apply.rs", 1),
];

/// Every production file outside `profile/` and the composition root whose `default_profile()`
/// calls exceed what [`DEFAULT_PROFILE_LEFT`] allows it.
fn default_profile_calls(files: &[(PathBuf, Vec<String>, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, module, text) in files {
        if is_test_file(module)
            || matches!(
                module.first().map(String::as_str),
                None | Some("profile" | "cli" | "main")
            )
        {
            continue;
        }
        let calls = production_code(text).matches("default_profile(").count();
        let rel = path.display().to_string();
        let allowed = DEFAULT_PROFILE_LEFT
            .iter()
            .find(|(p, _)| *p == rel)
            .map_or(0, |(_, n)| *n);
        if calls > allowed {
            found.push(format!("{rel}: {calls} call(s), {allowed} allowed"));
        }
    }
    found
}

#[test]
fn the_profile_is_chosen_once_at_the_composition_root() {
    let files = crate_files();
    let found = default_profile_calls(&files);
    assert!(
        found.is_empty(),
        "these call `default_profile()`; take the profile passed down from the CLI (`cli::profile()`) instead:\n{}",
        found.join("\n")
    );
    // Mutants: a new call in a new place, one more in a file that has its allowance, and one
    // through a `use` of the function.
    let mutants = [
        fake_file(
            "report/x.rs",
            &["report", "x"],
            "fn f() { crate::profile::default_profile(); }",
        ),
        fake_file(
            "engine/runner.rs",
            &["engine", "runner"],
            "fn a() { crate::profile::default_profile(); }\nfn b() { crate::profile::default_profile(); }",
        ),
        fake_file(
            "fleet/slo.rs",
            &["fleet", "slo"],
            "use crate::profile::default_profile;\nfn f() { default_profile().name(); }",
        ),
    ];
    assert_eq!(default_profile_calls(&mutants).len(), 3);
    // Variants: the composition root, the profile itself, tests, comments, the allowance.
    let allowed = [
        fake_file(
            "cli/mod.rs",
            &["cli"],
            "fn p() { crate::profile::default_profile(); }",
        ),
        fake_file(
            "profile/mod.rs",
            &["profile"],
            "pub fn default_profile() -> Arc<dyn Profile> { todo!() }",
        ),
        fake_file(
            "report/y.rs",
            &["report", "y"],
            "// not default_profile() here\n#[cfg(test)]\nmod tests {\n    fn t() { crate::profile::default_profile(); }\n}\n",
        ),
        fake_file(
            "engine/runner.rs",
            &["engine", "runner"],
            "fn a() { crate::profile::default_profile(); }",
        ),
    ];
    assert!(default_profile_calls(&allowed).is_empty());
}
