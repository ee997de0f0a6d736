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

/// A report format (`--report`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ReportFormat {
    /// Progress and results on stdout (only while running).
    Terminal,
    /// DIR/junit.xml.
    Junit,
    /// DIR/run.json.
    Json,
    /// DIR/requirements.csv: the requirement matrix for spreadsheets.
    Csv,
    /// DIR/report.html: one self-contained page (summary, matrix, evidence, wire logs).
    Html,
}

impl ReportFormat {
    /// Every format: the default.
    pub const ALL: [ReportFormat; 5] = [
        ReportFormat::Terminal,
        ReportFormat::Junit,
        ReportFormat::Json,
        ReportFormat::Csv,
        ReportFormat::Html,
    ];

    /// The file this format writes under the reports directory (none for the terminal).
    pub fn file_name(self) -> Option<&'static str> {
        match self {
            ReportFormat::Terminal => None,
            ReportFormat::Junit => Some("junit.xml"),
            ReportFormat::Json => Some("run.json"),
            ReportFormat::Csv => Some("requirements.csv"),
            ReportFormat::Html => Some("report.html"),
        }
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
    let write_file_with = |path: &Path, fill: &dyn Fn(&mut Out) -> Result<(), ReportError>| {
        write_scrubbed(path, scrub, fill)
    };
    let mut first = None;
    for &format in formats {
        let Some(name) = format.file_name() else {
            continue;
        };
        let path = dir.join(name);
        let result = match format {
            ReportFormat::Terminal => Ok(()),
            ReportFormat::Junit => write_file_with(&path, &|out| {
                super::junit::write_document(head, scenarios, out)
            }),
            ReportFormat::Json => write_file_with(&path, &|out| {
                super::json::write_document(head, scenarios, out)
            }),
            ReportFormat::Csv => match super::matrix::to_csv(&head.requirements) {
                Ok(text) => write_file_with(&path, &|out| out.put(text.as_bytes())),
                Err(source) => Err(ReportError::Csv {
                    path: path.clone(),
                    source,
                }),
            },
            ReportFormat::Html => write_file_with(&path, &|out| {
                super::html::write_document(head, scenarios, out)
            }),
        };
        if let Err(e) = result {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// A scenario's own part of a document: its run.json entry, its JUnit test case, its HTML
/// article. Each is rendered from the result alone, so it can be rendered as the scenario
/// finishes and put in its place when the document is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Json,
    Junit,
    Html,
}

impl Part {
    pub(crate) const ALL: [Part; 3] = [Part::Json, Part::Junit, Part::Html];

    /// The part `format`'s document has of each scenario (none for the terminal and CSV).
    fn of(format: ReportFormat) -> Option<Part> {
        match format {
            ReportFormat::Json => Some(Part::Json),
            ReportFormat::Junit => Some(Part::Junit),
            ReportFormat::Html => Some(Part::Html),
            ReportFormat::Terminal | ReportFormat::Csv => None,
        }
    }

    fn format(self) -> ReportFormat {
        match self {
            Part::Json => ReportFormat::Json,
            Part::Junit => ReportFormat::Junit,
            Part::Html => ReportFormat::Html,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The part of `r`; a failure names `path`, the document it is for.
    pub(crate) fn render(self, r: &ScenarioResult, path: &Path) -> Result<Vec<u8>, ReportError> {
        match self {
            Part::Json => super::json::entry(r).map_err(|source| ReportError::Json {
                path: path.to_path_buf(),
                source,
            }),
            Part::Junit => super::junit::test_case_xml(r).map_err(|source| ReportError::Xml {
                path: path.to_path_buf(),
                source,
            }),
            Part::Html => Ok(super::html::article(r).into_bytes()),
        }
    }
}

/// The scenarios of a run in the order the reports list them, each part given on demand.
pub(crate) trait Scenarios {
    /// Every scenario, in report order.
    fn briefs(&self) -> &[Brief];
    /// Appends scenario `i`'s `part` to `out`.
    fn put(&self, i: usize, part: Part, out: &mut Out) -> Result<(), ReportError>;
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

    fn put(&self, i: usize, part: Part, out: &mut Out) -> Result<(), ReportError> {
        let bytes = part.render(&self.results[i], out.path)?;
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
    /// The parts the formats need of each scenario.
    parts: Vec<Part>,
    head: RunHead,
    spill: Option<Spill>,
    /// The run's credentials: no byte of a report holds one.
    credentials: RunCredentials,
}

impl FileReports {
    pub fn new(dir: impl Into<PathBuf>, formats: &[ReportFormat], meta: RunMeta) -> FileReports {
        let parts = Part::ALL
            .into_iter()
            .filter(|p| formats.iter().any(|f| Part::of(*f) == Some(*p)))
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
                for &part in &self.parts {
                    let path = self.dir.join(part.format().file_name().unwrap_or_default());
                    parts.push((part, part.render(result, &path)?));
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
