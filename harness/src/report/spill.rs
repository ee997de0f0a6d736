//! The spill file: where [`FileReports`](super::FileReports) puts each scenario's rendered
//! parts (its run.json entry, JUnit test case, HTML article) as the scenario finishes, so no
//! report holds transcripts until the run ends. Documents are written at the end with the
//! parts read back one at a time, in report order.
//!
//! The file lives in the reports directory (writable: the run checked it) under a hidden
//! name, and is unlinked as soon as it is open, so it goes with the process however the
//! process ends.

use super::brief::Brief;
use super::formats::{ReportFormat, Scenarios};
use super::sink::{Out, ReportError};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where each part of a scenario is in the file (offset, length), by its format's place in
/// [`ReportFormat::ALL`].
type Places = [Option<(u64, usize)>; ReportFormat::ALL.len()];

/// The spill being written, while the run goes on.
pub(crate) struct Spill {
    path: PathBuf,
    /// Opened with the first part (a CSV-only run needs no file).
    file: Option<(BufWriter<File>, u64)>,
    entries: Vec<(Brief, Places)>,
    /// The first write that failed: no document can be whole after it, so finishing fails.
    broken: Option<(io::ErrorKind, String)>,
}

impl Spill {
    pub(crate) fn new(dir: &Path) -> Spill {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            ".hwconform-spill-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        Spill {
            path: dir.join(name),
            file: None,
            entries: Vec::new(),
            broken: None,
        }
    }

    pub(crate) fn reserve(&mut self, scenarios: usize) {
        self.entries.reserve(scenarios);
    }

    /// Keeps `brief` and appends the scenario's `parts`.
    pub(crate) fn push(
        &mut self,
        brief: Brief,
        parts: &[(ReportFormat, Vec<u8>)],
    ) -> Result<(), ReportError> {
        let mut places = [None; ReportFormat::ALL.len()];
        if !parts.is_empty() && self.broken.is_none() {
            if let Err(source) = self.append(parts, &mut places) {
                self.broken = Some((source.kind(), source.to_string()));
                return Err(ReportError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        }
        self.entries.push((brief, places));
        Ok(())
    }

    fn append(&mut self, parts: &[(ReportFormat, Vec<u8>)], places: &mut Places) -> io::Result<()> {
        if self.file.is_none() {
            let file = match open(&self.path) {
                Ok(file) => file,
                Err(e) => {
                    let elsewhere =
                        std::env::temp_dir().join(self.path.file_name().unwrap_or_default());
                    let file = open(&elsewhere).map_err(|_| e)?;
                    self.path = elsewhere;
                    file
                }
            };
            self.file = Some((BufWriter::with_capacity(1 << 16, file), 0));
        }
        let Some((w, len)) = &mut self.file else {
            unreachable!("opened above")
        };
        for (part, bytes) in parts {
            w.write_all(bytes)?;
            places[part.index()] = Some((*len, bytes.len()));
            *len += bytes.len() as u64;
        }
        Ok(())
    }

    /// The scenarios spilled so far, in report order (by id; equal ids in the order they
    /// finished), ready to be read back.
    pub(crate) fn finish(&mut self) -> Result<Spilled, ReportError> {
        let io_err = |source| ReportError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some((kind, message)) = &self.broken {
            return Err(io_err(io::Error::new(*kind, message.clone())));
        }
        let file = match self.file.take() {
            Some((w, _)) => Some(w.into_inner().map_err(|e| io_err(e.into_error()))?),
            None => None,
        };
        let mut entries = std::mem::take(&mut self.entries);
        entries.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        let (briefs, places) = entries.into_iter().unzip();
        Ok(Spilled {
            path: self.path.clone(),
            file,
            briefs,
            places,
        })
    }
}

/// A new spill file at `path`, already unlinked: the open file stays readable and nothing
/// is left behind.
fn open(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    let _ = std::fs::remove_file(path);
    Ok(file)
}

/// A finished spill: the scenarios in report order, each part read back when asked for.
pub(crate) struct Spilled {
    path: PathBuf,
    file: Option<File>,
    briefs: Vec<Brief>,
    places: Vec<Places>,
}

impl Scenarios for Spilled {
    fn briefs(&self) -> &[Brief] {
        &self.briefs
    }

    fn put(&self, i: usize, part: ReportFormat, out: &mut Out) -> Result<(), ReportError> {
        let io_err = |source| ReportError::Io {
            path: self.path.clone(),
            source,
        };
        let (Some(file), Some((at, len))) = (&self.file, self.places[i][part.index()]) else {
            return Err(io_err(io::Error::other(format!(
                "scenario {} has no {part:?} part in the spill",
                self.briefs[i].id
            ))));
        };
        let mut bytes = vec![0; len];
        file.read_exact_at(&mut bytes, at).map_err(io_err)?;
        out.put(&bytes)
    }
}
