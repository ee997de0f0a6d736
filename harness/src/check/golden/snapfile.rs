//! Golden files on disk, in insta's snapshot format, so `cargo insta review` can read them:
//!
//! ```text
//! ---
//! source: scenarios/cloud/register-valid.yaml
//! expression: cloud.register.valid-signature
//! ---
//!     0.000s [a] opened from 127.0.0.1:<port>
//! ```
//!
//! A YAML header between two `---` lines (`source`: the scenario file, `expression`: the
//! scenario id), then the normalized transcript. `golden/<id>.snap` is accepted,
//! `golden/<id>.snap.new` is pending review. Only the content is ever compared: the header
//! may differ (a scenario file moved) without the conversation having changed.

use std::io;
use std::path::{Path, PathBuf};

/// The extension of accepted snapshots.
pub const ACCEPTED: &str = ".snap";
/// The extension of pending snapshots.
pub const PENDING: &str = ".snap.new";

/// One snapshot file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapFile {
    /// The scenario file the transcript came from.
    pub source: Option<String>,
    /// The scenario id.
    pub expression: Option<String>,
    /// The normalized transcript, without trailing whitespace.
    pub content: String,
}

impl SnapFile {
    pub fn new(source: Option<String>, id: &str, content: &str) -> SnapFile {
        SnapFile {
            source,
            expression: Some(id.to_string()),
            content: content.trim_end().to_string(),
        }
    }

    /// Reads the format as insta does: header lines between the first two `---` lines, the
    /// rest is the content (line endings normalized, trailing whitespace dropped).
    pub fn parse(text: &str) -> Result<SnapFile, SnapError> {
        let mut lines = text.lines();
        if lines.next().map(str::trim_end) != Some("---") {
            return Err(SnapError::NoHeader);
        }
        let (mut source, mut expression) = (None, None);
        let mut closed = false;
        for line in lines.by_ref() {
            if line.trim_end() == "---" {
                closed = true;
                break;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = unquote(value.trim())?;
            match key.trim() {
                "source" => source = Some(value),
                "expression" => expression = Some(value),
                _ => {}
            }
        }
        if !closed {
            return Err(SnapError::UnclosedHeader);
        }
        let content = lines.collect::<Vec<_>>().join("\n").trim_end().to_string();
        Ok(SnapFile {
            source,
            expression,
            content,
        })
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut s = String::from("---\n");
        if let Some(source) = &self.source {
            s.push_str(&format!("source: {}\n", yaml_scalar(source)));
        }
        if let Some(expression) = &self.expression {
            s.push_str(&format!("expression: {}\n", yaml_scalar(expression)));
        }
        s.push_str("---\n");
        s.push_str(&self.content);
        s.push('\n');
        s
    }

    /// Reads a snapshot file; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> io::Result<Option<SnapFile>> {
        match std::fs::read_to_string(path) {
            Ok(text) => SnapFile::parse(&text)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the file beside its final name and renames it, so a reader (or a concurrent
    /// run) never sees half a snapshot.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".{}.tmp", std::process::id()));
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, self.render())?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

/// `dir/<id>.snap`.
pub fn accepted_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}{ACCEPTED}"))
}

/// `dir/<id>.snap.new`.
pub fn pending_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}{PENDING}"))
}

/// The ids of the pending snapshots in `dir`, sorted; none when `dir` does not exist.
pub fn pending_ids(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(PENDING)) {
            ids.push(id.to_string());
        }
    }
    ids.sort();
    Ok(ids)
}

/// A path as the snapshot header shows it: relative to the working directory when it is
/// inside it, with `/` separators, so goldens do not depend on where the repository lives.
pub fn source_name(path: &Path) -> String {
    let rel = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf));
    let shown = rel.as_deref().unwrap_or(path);
    if shown.is_absolute() {
        // Outside the working directory: the file name alone says which scenario it was.
        return shown
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    shown
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A YAML scalar: plain when that reads back as the same string, else double-quoted (JSON
/// string escapes are valid in YAML double-quoted scalars).
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/- ".contains(c))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '/' || c == '.')
        && !s.ends_with(' ')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        )
        && s.parse::<f64>().is_err();
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

/// Why a text is not a snapshot file.
#[derive(Debug, thiserror::Error)]
pub enum SnapError {
    #[error("not an insta snapshot: the first line is not `---`")]
    NoHeader,
    #[error("not an insta snapshot: the header has no closing `---`")]
    UnclosedHeader,
    #[error("bad quoted value {value}")]
    BadQuote {
        value: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A header value: plain, single- or double-quoted.
fn unquote(v: &str) -> Result<String, SnapError> {
    if v.starts_with('"') {
        serde_json::from_str::<String>(v).map_err(|source| SnapError::BadQuote {
            value: v.to_string(),
            source,
        })
    } else if let Some(inner) = v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
        Ok(inner.replace("''", "'"))
    } else {
        Ok(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_like_insta() {
        let snap = SnapFile::new(
            Some("scenarios/cloud/x.yaml".into()),
            "cloud.x.y-z",
            "    0.000s [a] → {\"a\":1}\n\n",
        );
        let text = snap.render();
        assert_eq!(text, "---\nsource: scenarios/cloud/x.yaml\nexpression: cloud.x.y-z\n---\n    0.000s [a] → {\"a\":1}\n");
        assert_eq!(SnapFile::parse(&text).unwrap(), snap);
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(SnapFile::parse(&crlf).unwrap(), snap);
        assert!(SnapFile::parse("no header").is_err());
        assert!(SnapFile::parse("---\nsource: x\n").is_err());
    }

    #[test]
    fn header_values_that_need_quotes_get_them() {
        for s in ["a: b", "true", "12", "#x", "", "x\ny", "ünï"] {
            let snap = SnapFile {
                source: Some(s.into()),
                expression: None,
                content: "c".into(),
            };
            assert_eq!(
                SnapFile::parse(&snap.render()).unwrap().source.as_deref(),
                Some(s),
                "{s:?}"
            );
        }
        assert_eq!(
            yaml_scalar("cloud.register.valid-signature"),
            "cloud.register.valid-signature"
        );
        assert_eq!(yaml_scalar("true"), "\"true\"");
    }
}
