//! `hwconform list` and `hwconform validate`, plus the scenario loading and selection that
//! `run` shares.

use super::exit::{EXIT_OK, EXIT_USAGE};
use super::FilterArgs;
use crate::profile::Profile;
use crate::scenario::{load_paths_with, Scenario};
use std::path::PathBuf;

pub(super) fn load(profile: &dyn Profile, paths: &[PathBuf]) -> Result<Vec<Scenario>, i32> {
    load_paths_with(profile, paths).map_err(|e| {
        eprintln!("{}", e.render());
        EXIT_USAGE
    })
}

/// Whether a scenario is selected, nextest-style: the positive filters (none: every
/// scenario) and then no exclusion (`--exclude P` or a `!P` filter) may match. A pattern
/// matches the id, a tag or a requirement id, with `*` wildcards (`D1*`: D1 and D10–D19).
pub fn selected(sc: &Scenario, filter: &FilterArgs) -> bool {
    let matches = |p: &str| {
        glob(p, &sc.id.value)
            || sc.tags.iter().any(|t| glob(p, t))
            || sc.requirements.iter().any(|r| glob(p, &r.value))
    };
    let (excluded, wanted): (Vec<&str>, Vec<&str>) = filter
        .filters
        .iter()
        .map(String::as_str)
        .partition(|f| f.starts_with('!'));
    let excluded = excluded
        .iter()
        .map(|f| &f[1..])
        .chain(filter.excludes.iter().map(String::as_str));
    (wanted.is_empty() || wanted.iter().any(|p| matches(p))) && !excluded.into_iter().any(matches)
}

/// The filters as the user gave them, for a "nothing matches" message.
pub fn describe(filter: &FilterArgs) -> String {
    let mut parts: Vec<String> = filter
        .filters
        .iter()
        .map(|f| format!("--filter {f}"))
        .collect();
    parts.extend(filter.excludes.iter().map(|f| format!("--exclude {f}")));
    if parts.is_empty() {
        "no filters".into()
    } else {
        parts.join(" ")
    }
}

/// `*` matches any run of characters. Greedy with one backtrack point: linear in practice,
/// never exponential, whatever the pattern.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

pub(super) fn validate(paths: &[PathBuf]) -> i32 {
    match load(&*super::profile(), paths) {
        // As `run` would: nothing to check is a usage error, not a success.
        Ok(s) if s.is_empty() => {
            eprintln!(
                "error: no scenario files (*.yaml, *.yml) in {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            EXIT_USAGE
        }
        Ok(s) => {
            println!("{} scenario(s) valid", s.len());
            EXIT_OK
        }
        Err(code) => code,
    }
}

pub(super) fn list(paths: &[PathBuf], filter: &FilterArgs, format: ListFormat) -> i32 {
    let scenarios = match load(&*super::profile(), paths) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let chosen: Vec<_> = scenarios.iter().filter(|s| selected(s, filter)).collect();
    if chosen.is_empty() {
        eprintln!("error: no scenario matches ({})", describe(filter));
        return EXIT_USAGE;
    }
    let mut text = String::new();
    match format {
        ListFormat::Text => {
            for sc in chosen {
                let reqs: Vec<&str> = sc.requirements.iter().map(|r| r.value.as_str()).collect();
                text.push_str(&format!(
                    "{:<56} {:<6} [{}] {{{}}}  {}\n",
                    sc.id.value,
                    under_test(sc),
                    reqs.join(","),
                    sc.tags.join(","),
                    sc.title
                ));
            }
        }
        ListFormat::Json => {
            let rows: Vec<serde_json::Value> = chosen
                .iter()
                .map(|sc| {
                    serde_json::json!({
                        "id": sc.id.value,
                        "title": sc.title,
                        "file": sc.source.path,
                        "under_test": under_test(sc),
                        "requirements": sc.requirements.iter().map(|r| r.value.as_str()).collect::<Vec<_>>(),
                        "tags": sc.tags,
                        "manual": sc.manual.is_some(),
                    })
                })
                .collect();
            text = serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n";
        }
    }
    // A reader that stops early (`| head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    EXIT_OK
}

/// What is under test: the harness plays the other side.
fn under_test(sc: &Scenario) -> &'static str {
    match sc.role {
        crate::scenario::Role::Cloud => "device",
        crate::scenario::Role::Device => "cloud",
        crate::scenario::Role::Observer => "device and cloud",
    }
}

/// How `list` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListFormat {
    /// One aligned line per scenario.
    #[default]
    Text,
    /// A JSON array of {id, title, file, under_test, requirements, tags, manual}.
    Json,
}

#[cfg(test)]
mod tests {
    use super::{glob, selected};
    use crate::cli::FilterArgs;
    use rstest::rstest;

    fn scenario() -> crate::scenario::Scenario {
        let text = "id: cloud.lifecycle.register\ntitle: t\nrequirements: [D1, D12]\ntags: [smoke]\nrole: device\nsteps:\n  - connect: a\n";
        crate::scenario::load_str(std::path::Path::new("x.yaml"), text).expect("loads")
    }

    #[rstest]
    #[case::no_filters(&[], &[], true)]
    #[case::id_glob(&["cloud.*"], &[], true)]
    #[case::other_id(&["device.*"], &[], false)]
    #[case::tag(&["smoke"], &[], true)]
    #[case::requirement(&["D12"], &[], true)]
    #[case::requirement_wildcard(&["D1*"], &[], true)]
    #[case::wildcard_needs_the_prefix(&["C1*"], &[], false)]
    #[case::any_filter_matches(&["device.*", "D1"], &[], true)]
    #[case::negated(&["!smoke"], &[], false)]
    #[case::negated_other(&["!D2*"], &[], true)]
    #[case::negation_alone_keeps_the_rest(&["!device.*"], &[], true)]
    #[case::exclude_wins_over_filter(&["cloud.*"], &["D12"], false)]
    #[case::exclude_other(&["cloud.*"], &["C*"], true)]
    #[case::exclude_id(&[], &["cloud.lifecycle.*"], false)]
    fn filter_grammar(#[case] filters: &[&str], #[case] excludes: &[&str], #[case] expected: bool) {
        let f = FilterArgs {
            filters: filters.iter().map(|s| s.to_string()).collect(),
            excludes: excludes.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(selected(&scenario(), &f), expected);
    }

    #[test]
    fn globs() {
        assert!(glob("cloud.*", "cloud.lifecycle.register"));
        assert!(glob("*register*", "cloud.lifecycle.register-twice"));
        assert!(!glob("cloud.*.x", "cloud.a.y"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
        assert!(glob("**", ""));
        // A pattern that backtracks exponentially in a naive matcher.
        let text = "a".repeat(200);
        assert!(!glob(&format!("{}Z", "*".repeat(40)), &text));
    }
}
