//! The guide (docs/, an mdBook) and the README stay true: the pages generated from the binary's
//! own definitions (the CLI reference, the obligations) are current, every relative link
//! resolves inside the clone, every `console` example runs and prints what it shows, and
//! `--help` reads well in a terminal. `UPDATE_DOCS=1 cargo test --test integration docs::` rewrites the
//! generated pages.

use crate::common::repo;
use clap::CommandFactory;
use hwconform::cli::Cli;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Compares a generated page with its committed copy; `UPDATE_DOCS=1` writes it instead.
fn check_generated(rel: &str, generated: &str) {
    let path = repo().join(rel);
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| !v.is_empty()) {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let diff = similar::TextDiff::from_lines(committed.as_str(), generated)
            .unified_diff()
            .header(rel, "generated")
            .to_string();
        panic!("{rel} is stale: run `UPDATE_DOCS=1 cargo test --test integration docs::` and commit it\n{diff}");
    }
}

/// Every subcommand's long help, at a fixed width, one section each (`help` left out).
fn cli_reference() -> String {
    let mut cmd = Cli::command().term_width(100);
    cmd.build();
    let mut out = String::from(
        "# CLI reference\n\n\
         <!-- Generated from the clap definitions by harness/tests/integration/docs.rs: do not edit; \
         `UPDATE_DOCS=1 cargo test --test integration docs::` rewrites it. -->\n\n\
         Every command's `--help`, as the binary prints it. Options that need more words (what \
         each `--device` form does, the default test fleet) are on [`run` options](run-options.md); \
         exit codes on [Exit codes](exit-codes.md).\n",
    );
    fn walk(cmd: &clap::Command, path: &str, out: &mut String) {
        out.push_str(&format!(
            "\n## `{path}`\n\n```text\n{}```\n",
            cmd.clone()
                .render_long_help()
                .to_string()
                .trim_end()
                .to_owned()
                + "\n"
        ));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }
    walk(&cmd, "hwconform", &mut out);
    out
}

#[test]
fn the_cli_reference_page_is_generated_from_the_clap_definitions() {
    let page = cli_reference();
    for sub in [
        "hwconform run",
        "hwconform report merge",
        "hwconform fleet merge",
    ] {
        assert!(page.contains(&format!("## `{sub}`")), "{sub} missing");
    }
    check_generated("docs/src/reference/cli.md", &page);
}

/// The obligations as the binary ships them (harness/protocol/obligations.json), so the guide
/// never sends a reader outside the clone for the protocol's statements.
fn obligations_page() -> String {
    let text = std::fs::read_to_string(repo().join("harness/protocol/obligations.json")).unwrap();
    let all: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let mut out = String::from(
        "# Obligations\n\n\
         <!-- Generated from harness/protocol/obligations.json by harness/tests/integration/docs.rs: do not \
         edit; `UPDATE_DOCS=1 cargo test --test integration docs::` rewrites it. -->\n\n\
         The numbered statements of the protocol reference (its §6) that scenarios cite and \
         reports judge: device obligations D1–D42 and cloud behaviours C1–C24. The numbering is \
         stable: new statements are added at the end, never inserted. The binary carries the \
         same text, shown beside each id in the requirement matrix.\n\n\
         - **strength**: `must`, or `may` where the statement allows other conformant choices (a \
         `may` never fails; a check resting on a documented example at most warns).\n\
         - **source**: where the rule comes from. `D n` is the official documentation page n \
         (developer.work.weixin.qq.com/document/path/n; `D every page` the common envelope), `M` \
         the apifox mirror of the same docs, `F` the WeCom FAQ (智慧硬件常见问题).\n\
         - **markers**: `I` a part seen in implementations (informative only) and `UNDOC` a part \
         no retrieved text documents; neither is ever grounds for a `fail`.\n\n\
         How a verdict is reached for each: [Obligations](../concepts/obligations.md).\n",
    );
    for (prefix, title) in [
        ('D', "Device obligations (D1–D42)"),
        ('C', "Cloud behaviours (C1–C24)"),
    ] {
        out.push_str(&format!(
            "\n## {title}\n\n| id | strength | source | markers | statement |\n|---|---|---|---|---|\n"
        ));
        for o in all
            .iter()
            .filter(|o| o["id"].as_str().is_some_and(|id| id.starts_with(prefix)))
        {
            let cell = |k: &str| o[k].as_str().unwrap_or("").replace('|', "\\|");
            let markers: Vec<&str> = o["markers"]
                .as_array()
                .map(|m| m.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                cell("id"),
                cell("strength"),
                cell("source"),
                markers.join(", "),
                cell("text").replace('\n', " ")
            ));
        }
    }
    out
}

#[test]
fn the_obligations_page_is_generated_from_the_shipped_statements() {
    let page = obligations_page();
    for id in ["| D1 |", "| D42 |", "| C1 |", "| C24 |"] {
        assert!(page.contains(id), "{id} missing");
    }
    check_generated("docs/src/reference/obligations.md", &page);
}

/// The Markdown files a reader follows links in: the README and every page of the guide.
fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut files = vec![repo().join("README.md")];
    walk(&repo().join("docs/src"), &mut files);
    files.sort();
    files
}

/// The link targets of inline Markdown links and images (`[text](target)`), outside code.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Inline code spans hold no links (`[..](..)` in a code span is an example).
        let plain: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = plain.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].split_whitespace().next().unwrap_or("");
            found.push(target.to_string());
            rest = &after[end..];
        }
    }
    found
}

/// The anchors mdBook (and GitHub) give a page's headings: lower case, spaces to `-`, other
/// punctuation dropped.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_fence = false;
    let mut ids = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if in_fence || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#').trim();
        let id: String = heading
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        ids.insert(id);
    }
    ids
}

/// Resolves `a/../b` without touching the file system (the target may not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Every relative link of the README and the guide resolves: the file exists, inside the
/// clone (inside the book for its pages, which mdBook publishes alone), and so does the
/// heading an anchor names.
#[test]
fn every_relative_link_of_the_readme_and_the_guide_resolves() {
    let book = repo().join("docs/src");
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let rel = file.strip_prefix(repo()).unwrap().display().to_string();
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                normalize(&file.parent().unwrap().join(path))
            };
            let root = if file.starts_with(&book) {
                &book
            } else {
                &repo()
            };
            if !resolved.starts_with(root) {
                broken.push(format!("{rel}: `{target}` leaves {}", root.display()));
                continue;
            }
            if !resolved.exists() {
                broken.push(format!("{rel}: `{target}` does not exist"));
                continue;
            }
            if let Some(anchor) = anchor {
                if resolved.extension().is_some_and(|e| e == "md") {
                    let there = std::fs::read_to_string(&resolved).unwrap();
                    if !anchors(&there).contains(anchor) {
                        broken.push(format!("{rel}: `{target}`: no heading with that anchor"));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Every page of the guide is in SUMMARY.md (mdBook publishes nothing else) and every page
/// SUMMARY.md lists exists (`create-missing = false` makes mdBook refuse a missing one too).
#[test]
fn every_page_of_the_guide_is_in_the_summary() {
    let book = repo().join("docs/src");
    let summary = std::fs::read_to_string(book.join("SUMMARY.md")).unwrap();
    let listed: BTreeSet<PathBuf> = links(&summary)
        .into_iter()
        .map(|l| normalize(&book.join(l)))
        .collect();
    for page in &listed {
        assert!(
            page.exists(),
            "SUMMARY.md lists {} which does not exist",
            page.display()
        );
    }
    let unlisted: Vec<_> = markdown_files()
        .into_iter()
        .filter(|f| f.starts_with(&book) && !f.ends_with("SUMMARY.md") && !listed.contains(f))
        .collect();
    assert!(unlisted.is_empty(), "pages not in SUMMARY.md: {unlisted:?}");
}

#[test]
fn the_link_checker_finds_what_is_broken() {
    let text =
        "# A title, here\nsee [x](missing.md) and `[y](code.md)`\n```text\n[z](fence.md)\n```\n";
    assert_eq!(links(text), ["missing.md"]);
    assert!(anchors(text).contains("a-title-here"));
    assert_eq!(
        normalize(Path::new("/a/b/../c/./d.md")),
        PathBuf::from("/a/c/d.md")
    );
}

/// Every ```console example of the README and the guide runs and prints what it shows
/// (trycmd: `[..]` elides part of a line, `...` whole lines). Examples that need a target
/// outside this machine are in ```sh blocks and sample output in ```text blocks, neither run.
#[test]
fn the_readme_and_guide_examples_run() {
    // Examples are written as a user types them at the clone's root.
    std::env::set_current_dir(repo()).unwrap();
    // The examples write under /tmp/hwc-*, as a user's would; each run starts from none of
    // it, or an example that appends (`manual record`) would see the last run's records.
    for dir in example_scratch_dirs() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    trycmd::TestCases::new()
        .register_bin("hwconform", Path::new(env!("CARGO_BIN_EXE_hwconform")))
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .case("README.md")
        .case("docs/src/**/*.md")
        // Its examples are scenario files, not commands; the loader tests load them.
        .skip("docs/src/reference/scenario-format.md");
}

/// The `/tmp/hwc-NAME` folders the README's and the guide's examples name.
fn example_scratch_dirs() -> BTreeSet<PathBuf> {
    let scratch = regex::Regex::new(r"/tmp/hwc-[A-Za-z0-9_-]+").unwrap();
    markdown_files()
        .iter()
        .flat_map(|page| {
            let text = std::fs::read_to_string(page).unwrap();
            scratch
                .find_iter(&text)
                .map(|m| PathBuf::from(m.as_str()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Runs the binary with `args` at a fixed terminal width; its stdout.
fn help(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .args(args)
        .env("COLUMNS", "80")
        .env_remove("HWCONFORM_DEVICES_FILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_main_help_is_wrapped_and_ends_with_examples_and_the_guide() {
    let text = help(&["--help"]);
    insta::assert_snapshot!(text);
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
}

#[test]
fn run_help_fits_the_terminal_shows_defaults_and_no_unset_variable() {
    let text = help(&["run", "--help"]);
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    assert!(
        text.contains("[default: the number of CPU cores]"),
        "{text}"
    );
    assert!(text.contains("[env: HWCONFORM_DEVICES_FILE]"), "{text}");
    assert!(
        !text.contains("_FILE=") && !text.contains("_TOKEN="),
        "an environment variable shown with a value: {text}"
    );
}

#[test]
fn help_is_never_wider_than_100_columns() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .args(["run", "--help"])
        .env("COLUMNS", "250")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    assert!(
        text.lines().any(|l| l.chars().count() > 80),
        "not wrapped at 100: {text}"
    );
}

#[test]
fn rejudge_help_offers_only_the_golden_modes_it_takes() {
    let text = help(&["rejudge", "--help"]);
    assert!(text.contains("check") && text.contains("off"), "{text}");
    assert!(!text.contains("update"), "{text}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .args(["rejudge", "x.json", "--golden", "update"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("possible values: check, off"), "{err}");
}
