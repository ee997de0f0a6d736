//! The layering rules of the design guide, read from the source so they cannot creep back:
//! no import cycle between the crate's top-level modules, none between the modules of
//! `scenario/`, and no WeCom command name, error code or obligation id inside `engine/`
//! (the engine knows the protocol only through the profile seam).
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

/// The module paths a file refers to: `crate::a::b`, `crate::{a::b, c}`, `super::x`.
fn references(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let ident = Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*").unwrap();
    let mut out = Vec::new();
    let path_of = |rest: &str| -> Vec<String> {
        let mut parts = Vec::new();
        let mut r = rest;
        while let Some(m) = ident.find(r) {
            parts.push(m.as_str().to_string());
            r = &r[m.end()..];
            if let Some(next) = r.strip_prefix("::") {
                r = next;
            } else {
                break;
            }
        }
        parts
    };
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
        if let Some(group) = after.strip_prefix('{') {
            // One level of grouping is what the crate writes; nested groups name their head.
            let mut depth = 1;
            let mut item = String::new();
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (ch == ',' && depth == 1) {
                    let p = path_of(item.trim());
                    if !p.is_empty() {
                        out.push(base.iter().cloned().chain(p).collect());
                    }
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else if depth == 1 {
                    item.push(ch);
                }
            }
        } else {
            let p = path_of(after);
            if !p.is_empty() {
                out.push(base.iter().cloned().chain(p).collect());
            }
        }
        i += rest.len() - after.len();
    }
    out
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

#[test]
fn top_level_modules_form_no_cycle() {
    let g = graph(&[]);
    for expected in [
        "engine", "profile", "scenario", "report", "wire", "targets", "check", "cli",
    ] {
        assert!(
            g.contains_key(expected),
            "module {expected} not found; graph:\n{}",
            render(&g)
        );
    }
    if let Some(cycle) = find_cycle(&g) {
        panic!(
            "import cycle between top-level modules: {}\ngraph:\n{}",
            cycle.join(" → "),
            render(&g)
        );
    }
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
fn the_engine_reaches_the_protocol_only_through_the_profile_seam() {
    let mut found = Vec::new();
    for (path, module) in sources(Path::new(SRC)) {
        if module.first().map(String::as_str) == Some("engine") {
            for r in references(
                &production_code(&std::fs::read_to_string(&path).unwrap()),
                &module,
            ) {
                if r.first().map(String::as_str) == Some("profile")
                    && r.get(1).is_some_and(|m| m == "wecom")
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
