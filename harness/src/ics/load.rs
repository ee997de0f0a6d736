//! Reads an ICS file. The TOML tree (with spans) is walked by hand rather than through serde
//! so that every error names the file, line and column, says what was expected there and,
//! for a misspelt key, which one was meant — as the scenario loader does, with the same
//! [`Diagnostic`]s.

use super::{Ics, Identity, Lab, Provisioning};
use crate::profile::{feature, Feature};
use crate::scenario::diagnostic::{did_you_mean, Diagnostic};
use crate::scenario::expr::parse_duration;
use crate::scenario::Span;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Keys of the top level, `[identity]` and `[lab]`.
pub const TOP_KEYS: &[&str] = &["provisioning", "identity", "features", "lab"];
pub const IDENTITY_KEYS: &[&str] = &["vendor", "model", "firmware_version"];
pub const LAB_KEYS: &[&str] = &["boot_time", "keeps_secret_across_reset"];

/// Every problem of one ICS file, with its text so each can show its line.
#[derive(thiserror::Error)]
#[error("{}", .diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct IcsError {
    pub diagnostics: Vec<Diagnostic>,
    text: String,
}

/// Debug shows the rendered diagnostics, so a failed `unwrap()` reads like the CLI.
impl fmt::Debug for IcsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IcsError:\n{}", self.render())
    }
}

impl IcsError {
    /// The problems of a statement file whose text is `text` (sorted by place).
    pub(super) fn new(mut diagnostics: Vec<Diagnostic>, text: &str) -> IcsError {
        diagnostics.sort_by_key(|d| d.span);
        IcsError {
            diagnostics,
            text: text.to_string(),
        }
    }

    /// Every diagnostic with its source line and caret.
    pub fn render(&self) -> String {
        self.diagnostics
            .iter()
            .map(|d| d.render(&self.text))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Reads and loads an ICS file; `features` are the keys `[features]` may hold.
pub fn load_file(path: &Path, features: &[Feature]) -> Result<Ics, IcsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(path, &text, features),
        Err(e) => Err(IcsError {
            diagnostics: vec![Diagnostic::new(
                path,
                Span::default(),
                format!("cannot read ICS file: {e}"),
            )],
            text: String::new(),
        }),
    }
}

/// Loads an ICS from its text; `path` names it in diagnostics and in [`Ics::path`].
pub fn load_str(path: &Path, text: &str, features: &[Feature]) -> Result<Ics, IcsError> {
    let mut reader = Reader {
        path: path.to_path_buf(),
        text,
        diags: Vec::new(),
        features,
    };
    let ics = match DeTable::parse(text) {
        Ok(root) => reader.ics(&root),
        Err(e) => {
            let span = e.span().map(|r| reader.span(&r)).unwrap_or(START);
            reader.diags.push(Diagnostic::new(
                path,
                span,
                format!("invalid TOML: {}", e.message().trim()),
            ));
            None
        }
    };
    match ics {
        Some(ics) if reader.diags.is_empty() => Ok(ics),
        _ => {
            let mut diagnostics = reader.diags;
            diagnostics.sort_by_key(|d| d.span);
            Err(IcsError {
                diagnostics,
                text: text.to_string(),
            })
        }
    }
}

const START: Span = Span { line: 1, col: 1 };

struct Reader<'a> {
    path: PathBuf,
    text: &'a str,
    diags: Vec<Diagnostic>,
    features: &'a [Feature],
}

type Value<'i> = Spanned<DeValue<'i>>;

impl Reader<'_> {
    /// The 1-based line and character column of a byte offset.
    fn span(&self, range: &Range<usize>) -> Span {
        let at = range.start.min(self.text.len());
        let before = &self.text[..at];
        let line = before.matches('\n').count() as u32 + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
        Span { line, col }
    }

    fn diag(&self, range: &Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.path, self.span(range), message)
    }

    fn ics(&mut self, root: &Spanned<DeTable<'_>>) -> Option<Ics> {
        let top = root.get_ref();
        self.unknown_keys(top, TOP_KEYS, "at the top level");
        let provisioning = top.get("provisioning").and_then(|v| {
            let word = self.string(v, "provisioning", "\"per-device\" or \"seed\"")?;
            let p = Provisioning::parse(&word);
            if p.is_none() {
                let d = self
                    .diag(&v.span(), format!("unknown provisioning `{word}`"))
                    .expected("one of: \"per-device\" (flashed with its own SecretNo), \"seed\" (starts with get_secret_no)")
                    .maybe_help(did_you_mean(&word, Provisioning::WORDS));
                self.diags.push(d);
            }
            p
        });
        let identity = self.identity(top);
        let features = match self.table(top, "features") {
            Some(t) => self.features(t),
            None => BTreeMap::new(),
        };
        let lab = match self.table(top, "lab") {
            Some(t) => self.lab(t),
            None => Lab::default(),
        };
        Some(Ics {
            path: self.path.clone(),
            provisioning,
            identity: identity?,
            features,
            lab,
        })
    }

    /// `[name]` as a table, if present and a table (a diagnostic if not a table).
    fn table<'t, 'i>(&mut self, parent: &'t DeTable<'i>, name: &str) -> Option<&'t DeTable<'i>> {
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

    fn identity(&mut self, top: &DeTable<'_>) -> Option<Identity> {
        let Some(t) = self.table(top, "identity") else {
            if top.get("identity").is_none() {
                let d = Diagnostic::new(&self.path, START, "the ICS has no `[identity]` section")
                    .expected("[identity] with vendor, model and firmware_version")
                    .help("every report names the device under test: add `[identity]`");
                self.diags.push(d);
            }
            return None;
        };
        self.unknown_keys(t, IDENTITY_KEYS, "in [identity]");
        let header = top.get("identity").map(|v| v.span()).unwrap_or(0..0);
        let mut field = |key: &str| match t.get(key) {
            Some(v) => self.string(v, &format!("identity.{key}"), "a string"),
            None => {
                let d = self
                    .diag(&header, format!("[identity] has no `{key}`"))
                    .expected(format!("{key} = \"...\""));
                self.diags.push(d);
                None
            }
        };
        let (vendor, model, firmware_version) =
            (field("vendor"), field("model"), field("firmware_version"));
        Some(Identity {
            vendor: vendor?,
            model: model?,
            firmware_version: firmware_version?,
        })
    }

    fn features(&mut self, t: &DeTable<'_>) -> BTreeMap<String, bool> {
        let known = feature::names(self.features);
        self.unknown_keys(t, &known, "in [features]");
        let mut out = BTreeMap::new();
        for (k, v) in t.iter() {
            let name = k.get_ref().as_ref();
            if !known.contains(&name) {
                continue;
            }
            if let Some(b) = self.boolean(v, &format!("features.{name}")) {
                out.insert(name.to_string(), b);
            }
        }
        out
    }

    fn lab(&mut self, t: &DeTable<'_>) -> Lab {
        self.unknown_keys(t, LAB_KEYS, "in [lab]");
        let mut lab = Lab::default();
        if let Some(v) = t.get("boot_time") {
            if let Some(text) = self.string(v, "lab.boot_time", "a duration like \"10s\" or \"2m\"")
            {
                match parse_duration(&text) {
                    Ok(d) => lab.boot_time = d,
                    Err(e) => {
                        let d = self
                            .diag(&v.span(), format!("lab.boot_time: {e}"))
                            .expected("a duration like \"10s\" or \"2m\"");
                        self.diags.push(d);
                    }
                }
            }
        }
        if let Some(v) = t.get("keeps_secret_across_reset") {
            lab.keeps_secret_across_reset = self
                .boolean(v, "lab.keeps_secret_across_reset")
                .unwrap_or(true);
        }
        lab
    }

    /// One diagnostic per key of `t` not in `known`, at the key, with a "did you mean".
    fn unknown_keys(&mut self, t: &DeTable<'_>, known: &[&str], place: &str) {
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

    fn string(&mut self, v: &Value<'_>, key: &str, expected: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.wrong_type(v, key, other.type_str(), expected);
                None
            }
        }
    }

    fn boolean(&mut self, v: &Value<'_>, key: &str) -> Option<bool> {
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

    fn wrong_type(&mut self, v: &Value<'_>, key: &str, found: &str, expected: &str) {
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
fn a(type_name: &str) -> String {
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {type_name}")
}
