//! Reads an ICS file. The TOML tree (with spans) is walked by hand rather than through serde
//! so that every error names the file, line and column, says what was expected there and,
//! for a misspelt key, which one was meant — as the scenario loader does, with the same
//! [`Diagnostic`]s.

use super::toml_reader::TomlReader;
use super::{Ics, Identity, Lab, Provisioning};
use crate::profile::{feature, Feature};
use crate::scenario::diagnostic::{did_you_mean, Diagnostic};
use crate::scenario::expr::parse_duration;
use crate::scenario::Span;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use toml::de::DeTable;
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
        toml: TomlReader::new(path, text),
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
            let mut diagnostics = reader.toml.diags;
            diagnostics.sort_by_key(|d| d.span);
            Err(IcsError {
                diagnostics,
                text: text.to_string(),
            })
        }
    }
}

const START: Span = Span { line: 1, col: 1 };

/// The device ICS's reader: the TOML reading shared with the cloud statement, and the
/// profile's features to check `[features]` against.
struct Reader<'a> {
    toml: TomlReader<'a>,
    features: &'a [Feature],
}

impl<'a> std::ops::Deref for Reader<'a> {
    type Target = TomlReader<'a>;
    fn deref(&self) -> &TomlReader<'a> {
        &self.toml
    }
}

impl std::ops::DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.toml
    }
}

impl Reader<'_> {
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
}
