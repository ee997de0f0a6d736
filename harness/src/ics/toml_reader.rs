//! What reading a conformance statement's TOML takes, whichever statement it is (the device
//! ICS, the cloud statement): positions as file:line:col, sections, unknown keys with a
//! "did you mean", and typed values, each mistake a diagnostic rather than a stop.

use crate::scenario::diagnostic::{did_you_mean, Diagnostic};
use crate::scenario::Span;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

pub(super) type Value<'i> = Spanned<DeValue<'i>>;

pub(super) struct TomlReader<'a> {
    pub(super) path: PathBuf,
    pub(super) text: &'a str,
    pub(super) diags: Vec<Diagnostic>,
}

impl<'a> TomlReader<'a> {
    pub(super) fn new(path: &Path, text: &'a str) -> TomlReader<'a> {
        TomlReader {
            path: path.to_path_buf(),
            text,
            diags: Vec::new(),
        }
    }

    /// The 1-based line and character column of a byte offset.
    pub(super) fn span(&self, range: &Range<usize>) -> Span {
        let at = range.start.min(self.text.len());
        let before = &self.text[..at];
        let line = before.matches('\n').count() as u32 + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
        Span { line, col }
    }

    pub(super) fn diag(&self, range: &Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.path, self.span(range), message)
    }

    /// `[name]` as a table, if present and a table (a diagnostic if not a table).
    pub(super) fn table<'t, 'i>(
        &mut self,
        parent: &'t DeTable<'i>,
        name: &str,
    ) -> Option<&'t DeTable<'i>> {
        let v = parent.get(name)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                let d = self
                    .diag(
                        &v.span(),
                        format!("`{name}` must be a table, found {}", a(other.type_str())),
                    )
                    .expected(format!("a `[{name}]` section"));
                self.diags.push(d);
                None
            }
        }
    }

    /// One diagnostic per key of `t` not in `known`, at the key, with a "did you mean".
    pub(super) fn unknown_keys(&mut self, t: &DeTable<'_>, known: &[&str], place: &str) {
        for (k, _) in t.iter() {
            let name = k.get_ref().as_ref();
            if !known.contains(&name) {
                let d = self
                    .diag(&k.span(), format!("unknown key `{name}` {place}"))
                    .expected(format!("one of: {}", known.join(", ")))
                    .maybe_help(did_you_mean(name, known));
                self.diags.push(d);
            }
        }
    }

    pub(super) fn string(&mut self, v: &Value<'_>, key: &str, expected: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.wrong_type(v, key, other.type_str(), expected);
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, v: &Value<'_>, key: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                let d = self
                    .diag(
                        &v.span(),
                        format!(
                            "`{key}` must be true or false, found {}",
                            a(other.type_str())
                        ),
                    )
                    .expected("true or false");
                let d = match other {
                    DeValue::String(s) if s == "true" || s == "false" => {
                        d.help(format!("write {s} without quotes"))
                    }
                    _ => d,
                };
                self.diags.push(d);
                None
            }
        }
    }

    pub(super) fn wrong_type(&mut self, v: &Value<'_>, key: &str, found: &str, expected: &str) {
        let d = self
            .diag(
                &v.span(),
                format!("`{key}` must be {expected}, found {}", a(found)),
            )
            .expected(expected);
        self.diags.push(d);
    }
}

/// "a string", "an integer".
pub(super) fn a(type_name: &str) -> String {
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {type_name}")
}
