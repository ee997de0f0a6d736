//! Line diffs between two texts, as people read them in failures and reviews: unified,
//! `-` old / `+` new, three lines of context (the `similar` crate, which insta uses too).

use similar::{ChangeTag, TextDiff};

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// A unified diff of `old` against `new`, with `---`/`+++` headers naming them; empty when
/// the texts are equal (trailing whitespace aside).
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let (old, new) = (terminated(old), terminated(new));
    if old == new {
        return String::new();
    }
    TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(CONTEXT)
        .header(old_name, new_name)
        .to_string()
}

/// How many lines were removed and added.
pub fn counts(old: &str, new: &str) -> (usize, usize) {
    let (old, new) = (terminated(old), terminated(new));
    let diff = TextDiff::from_lines(&old, &new);
    let mut removed = 0;
    let mut added = 0;
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Delete => removed += 1,
            ChangeTag::Insert => added += 1,
            ChangeTag::Equal => {}
        }
    }
    (removed, added)
}

/// The text without trailing whitespace, ending in one newline (so neither side reports a
/// missing final newline).
fn terminated(s: &str) -> String {
    let t = s.trim_end();
    if t.is_empty() {
        String::new()
    } else {
        format!("{t}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_changed_line_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh";
        let d = unified(old, new, "golden/x.snap", "this run");
        assert!(
            d.starts_with("--- golden/x.snap\n+++ this run\n@@ -2,7 +2,7 @@\n"),
            "{d}"
        );
        assert!(d.contains("\n-e\n+E\n"), "{d}");
        assert!(!d.contains(" a\n"), "only three lines of context: {d}");
        assert_eq!(counts(old, new), (1, 1));
        assert_eq!(unified("x\n", "x", "a", "b"), "");
    }
}
