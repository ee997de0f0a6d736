//! `hwconform list` and `hwconform validate`, plus the scenario loading and selection that
//! `run` shares.

use super::exit::{EXIT_OK, EXIT_USAGE};
use super::FilterArgs;
use crate::scenario::{load_paths, Scenario};
use std::path::PathBuf;

pub(super) fn load(paths: &[PathBuf]) -> Result<Vec<Scenario>, i32> {
    load_paths(paths).map_err(|e| {
        eprintln!("{}", e.render());
        EXIT_USAGE
    })
}

/// Whether a scenario is selected: no filters, or any filter names its id (with `*`
/// wildcards), one of its tags or one of its requirement ids.
pub fn selected(sc: &Scenario, filters: &[String]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| glob(f, &sc.id.value) || sc.tags.iter().any(|t| t == f) || sc.requirements.iter().any(|r| &r.value == f))
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
    match load(paths) {
        // As `run` would: nothing to check is a usage error, not a success.
        Ok(s) if s.is_empty() => {
            eprintln!("error: no scenario files (*.yaml, *.yml) in {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
            EXIT_USAGE
        }
        Ok(s) => {
            println!("{} scenario(s) valid", s.len());
            EXIT_OK
        }
        Err(code) => code,
    }
}

pub(super) fn list(paths: &[PathBuf], filter: &FilterArgs) -> i32 {
    let scenarios = match load(paths) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let chosen: Vec<_> = scenarios.iter().filter(|s| selected(s, &filter.filters)).collect();
    if chosen.is_empty() {
        eprintln!("error: no scenario matches (filters {:?})", filter.filters);
        return EXIT_USAGE;
    }
    for sc in chosen {
        let reqs: Vec<&str> = sc.requirements.iter().map(|r| r.value.as_str()).collect();
        // What is under test: the harness plays the other side.
        let under_test = match sc.role {
            crate::scenario::Role::Cloud => "device",
            crate::scenario::Role::Device => "cloud",
        };
        println!("{:<56} {:<6} [{}] {{{}}}  {}", sc.id.value, under_test, reqs.join(","), sc.tags.join(","), sc.title);
    }
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::glob;

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
