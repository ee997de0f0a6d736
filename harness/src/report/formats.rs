//! Which reports a run writes, and the one place that assembles the file formats: `run`
//! streams them ([`FileReports`]: each scenario's parts rendered as it finishes, spilled, and
//! put in place when the run ends) and `report` renders them from a [`RunReport`] held whole
//! ([`write_reports`]); both go through the same document writers, so a rebuilt report is the
//! same file.

use super::brief::Brief;
use super::json::{RunHead, RunMeta, RunReport};
use super::sink::{write_scrubbed, Out, ReportError, Reporter};
use super::spill::Spill;
use crate::engine::event::Event;
use crate::engine::{RunEvent, ScenarioResult};
use crate::profile::{Credentials, RunCredentials};
use std::path::{Path, PathBuf};

/// One report format: a view of the report model ([`RunReport`]: results, findings,
/// obligations, metadata) for people or tools. Each format is one file implementing this
/// trait (`terminal.rs`, `junit.rs`, `json.rs`, `spreadsheet.rs` for the CSV, `html.rs`) and is
/// registered by one line in [`ReportFormat::ALL`]; `--report`, the default set, the
/// streamed run and `hwconform report` all go through that list.
pub(crate) trait Format: Sync {
    /// Its `--report` name.
    fn name(&self) -> &'static str;
    /// What it writes, for `--help`.
    fn help(&self) -> &'static str;
    /// The file it writes under the reports directory; none for the terminal, which the run
    /// streams to stdout as it goes ([`TerminalReporter`](super::TerminalReporter)).
    fn file_name(&self) -> Option<&'static str> {
        None
    }
    /// Whether its document has a part of each scenario ([`Format::part`]).
    fn has_parts(&self) -> bool {
        false
    }
    /// Its part of one scenario (a run.json entry, a JUnit test case, an HTML article),
    /// rendered from the result alone as the scenario finishes, so a run holds no transcript
    /// until its documents are written; `path` names the document in errors.
    fn part(&self, _r: &ScenarioResult, _path: &Path) -> Result<Vec<u8>, ReportError> {
        Ok(Vec::new())
    }
    /// Writes its document: `head` (the model without its scenarios) and each scenario's part,
    /// put in its place by `scenarios` (`scenarios.put(i, <this format>, out)`).
    fn write(
        &self,
        _head: &RunReport,
        _scenarios: &dyn Scenarios,
        _out: &mut Out,
    ) -> Result<(), ReportError> {
        Ok(())
    }
}

/// A report format (`--report`): one of [`ReportFormat::ALL`].
#[derive(Clone, Copy)]
pub struct ReportFormat(pub(crate) &'static dyn Format);

impl ReportFormat {
    /// Every format, in `--report`'s order; the default set. A new format is one file
    /// implementing [`Format`] and one line here.
    pub const ALL: &'static [ReportFormat] = &[
        ReportFormat::Terminal,
        ReportFormat::Junit,
        ReportFormat::Json,
        ReportFormat::Csv,
        ReportFormat::Html,
    ];

    /// Its `--report` name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The file this format writes under the reports directory (none for the terminal).
    pub fn file_name(self) -> Option<&'static str> {
        self.0.file_name()
    }

    /// Its place in [`ReportFormat::ALL`] (where the spill keeps its parts).
    pub(crate) fn index(self) -> usize {
        ReportFormat::ALL
            .iter()
            .position(|f| *f == self)
            .unwrap_or_default()
    }
}

impl PartialEq for ReportFormat {
    fn eq(&self, other: &ReportFormat) -> bool {
        self.name() == other.name()
    }
}

impl Eq for ReportFormat {}

impl std::hash::Hash for ReportFormat {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state)
    }
}

impl std::fmt::Debug for ReportFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl clap::ValueEnum for ReportFormat {
    fn value_variants<'a>() -> &'a [ReportFormat] {
        ReportFormat::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.0.help()))
    }
}

/// Writes the file formats among `formats` into `dir`. The first error is returned after
/// every format has been tried.
pub fn write_reports(
    report: &RunReport,
    dir: &Path,
    formats: &[ReportFormat],
) -> Result<(), ReportError> {
    write_documents(
        &report.head(),
        &InMemory::new(&report.scenarios),
        dir,
        formats,
        &Credentials::default(),
    )
}

/// [`write_reports`] for a document's head (its scenarios empty) and its scenarios apart,
/// wherever they are kept; every byte scrubbed of the credentials `scrub`.
fn write_documents(
    head: &RunReport,
    scenarios: &dyn Scenarios,
    dir: &Path,
    formats: &[ReportFormat],
    scrub: &Credentials,
) -> Result<(), ReportError> {
    let mut first = None;
    for &format in formats {
        let Some(name) = format.file_name() else {
            continue;
        };
        let written = write_scrubbed(&dir.join(name), scrub, |out| {
            format.0.write(head, scenarios, out)
        });
        if let Err(e) = written {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// The scenarios of a run in the order the reports list them, each part given on demand.
pub(crate) trait Scenarios {
    /// Every scenario, in report order.
    fn briefs(&self) -> &[Brief];
    /// Appends scenario `i`'s part of `format`'s document ([`Format::part`]) to `out`.
    fn put(&self, i: usize, format: ReportFormat, out: &mut Out) -> Result<(), ReportError>;
}

/// Scenarios held whole (a run.json read back): each part rendered as it is written.
pub(crate) struct InMemory<'a> {
    results: &'a [ScenarioResult],
    briefs: Vec<Brief>,
}

impl InMemory<'_> {
    pub(crate) fn new(results: &[ScenarioResult]) -> InMemory<'_> {
        InMemory {
            results,
            briefs: results.iter().map(Brief::of).collect(),
        }
    }
}

impl Scenarios for InMemory<'_> {
    fn briefs(&self) -> &[Brief] {
        &self.briefs
    }

    fn put(&self, i: usize, format: ReportFormat, out: &mut Out) -> Result<(), ReportError> {
        let bytes = format.0.part(&self.results[i], out.path)?;
        out.put(&bytes)
    }
}

/// Checks before a run that `dir` can be created and written, so an unwritable reports
/// directory is a usage error up front and not a lost run.
pub fn check_writable(dir: &Path) -> Result<(), ReportError> {
    let io_err = |source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let probe = dir.join(format!(".hwconform-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(io_err)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The file reports of a run, streamed: as each scenario finishes, its parts of the chosen
/// documents are rendered and spilled to a file beside the reports ([`Spill`]) and only its
/// [`Brief`] is kept; when the run finishes, each document is written with the parts read
/// back in report order. Memory stays that of one scenario's evidence, however long the run.
pub struct FileReports {
    dir: PathBuf,
    formats: Vec<ReportFormat>,
    /// The formats whose documents have a part of each scenario.
    parts: Vec<ReportFormat>,
    head: RunHead,
    spill: Option<Spill>,
    /// The run's credentials: no byte of a report holds one.
    credentials: RunCredentials,
}

impl FileReports {
    pub fn new(dir: impl Into<PathBuf>, formats: &[ReportFormat], meta: RunMeta) -> FileReports {
        let parts = ReportFormat::ALL
            .iter()
            .copied()
            .filter(|p| p.0.has_parts() && formats.contains(p))
            .collect();
        FileReports {
            dir: dir.into(),
            formats: formats.to_vec(),
            parts,
            head: RunHead::new(meta, Vec::new()),
            spill: None,
            credentials: RunCredentials::default(),
        }
    }

    /// Scrubs every report of the run's credentials (those it knows when it is written).
    pub fn with_credentials(mut self, credentials: RunCredentials) -> FileReports {
        self.credentials = credentials;
        self
    }

    /// Puts these manual verdicts in the matrix.
    pub fn with_manual(mut self, records: Vec<super::matrix::ManualRecord>) -> FileReports {
        self.head.set_manual(records);
        self
    }

    /// Whether any chosen format is a file: a terminal-only run keeps nothing.
    fn writes_files(&self) -> bool {
        self.formats.iter().any(|f| f.file_name().is_some())
    }

    fn spill(&mut self) -> &mut Spill {
        self.spill.get_or_insert_with(|| Spill::new(&self.dir))
    }
}

impl Reporter for FileReports {
    fn on_event(&mut self, event: &Event) -> Result<(), ReportError> {
        if !self.writes_files() {
            return Ok(());
        }
        match &event.kind {
            RunEvent::RunStarted {
                scenarios,
                target,
                ics,
            } => {
                self.head.started(target, ics);
                self.spill().reserve(*scenarios);
                Ok(())
            }
            RunEvent::Notice { .. }
            | RunEvent::ScenarioStarted { .. }
            | RunEvent::Step { .. }
            | RunEvent::Finding { .. }
            | RunEvent::Slow { .. }
            | RunEvent::Interrupted { .. } => Ok(()),
            RunEvent::ScenarioFinished { result, .. } => {
                let mut parts = Vec::with_capacity(self.parts.len());
                for &format in &self.parts {
                    let path = self.dir.join(format.file_name().unwrap_or_default());
                    parts.push((format, format.0.part(result, &path)?));
                }
                self.spill().push(Brief::of(result), &parts)
            }
            RunEvent::RunFinished(summary) => {
                let spilled = self.spill().finish()?;
                let head = self.head.finish(summary, spilled.briefs());
                let scrub = self.credentials.all();
                write_documents(&head, &spilled, &self.dir, &self.formats, &scrub)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_format_is_registered_once_and_named_by_its_value() {
        use clap::ValueEnum;
        let all = ReportFormat::ALL;
        for (i, f) in all.iter().enumerate() {
            assert_eq!(f.index(), i, "{f:?}");
            assert_eq!(ReportFormat::from_str(f.name(), false), Ok(*f));
            // A format with parts writes a document to put them in.
            assert!(!f.0.has_parts() || f.file_name().is_some(), "{f:?}");
        }
        let names: BTreeSet<_> = all.iter().map(|f| f.name()).collect();
        let files: BTreeSet<_> = all.iter().filter_map(|f| f.file_name()).collect();
        assert_eq!(names.len(), all.len(), "one name each");
        assert_eq!(
            files.len(),
            all.iter().filter(|f| f.file_name().is_some()).count(),
            "one file each"
        );
        assert!(ReportFormat::from_str("pdf", false).is_err());
    }
}
