//! Which reports a run writes, and the one place that renders the file formats from the
//! finished [`RunReport`]: `run` and `report` both go through [`write_reports`], so a rebuilt
//! report is the same file.

use super::json::{write_json, Collector, RunMeta, RunReport};
use super::junit::write_junit;
use super::sink::{ReportError, Reporter};
use crate::engine::RunEvent;
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
    pub const ALL: [ReportFormat; 5] = [ReportFormat::Terminal, ReportFormat::Junit, ReportFormat::Json, ReportFormat::Csv, ReportFormat::Html];

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
pub fn write_reports(report: &RunReport, dir: &Path, formats: &[ReportFormat]) -> Result<(), ReportError> {
    let mut first = None;
    for &format in formats {
        let Some(name) = format.file_name() else { continue };
        let path = dir.join(name);
        let result = match format {
            ReportFormat::Terminal => Ok(()),
            ReportFormat::Junit => write_junit(report, &path),
            ReportFormat::Json => write_json(report, &path),
            ReportFormat::Csv => match super::matrix::to_csv(&report.requirements) {
                Ok(text) => super::sink::write_file(&path, text.as_bytes()),
                Err(source) => Err(ReportError::Csv { path: path.clone(), source }),
            },
            ReportFormat::Html => super::html::write_html(report, &path),
        };
        if let Err(e) = result {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// Checks before a run that `dir` can be created and written, so an unwritable reports
/// directory is a usage error up front and not a lost run.
pub fn check_writable(dir: &Path) -> Result<(), ReportError> {
    let io_err = |source| ReportError::Io { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let probe = dir.join(format!(".hwconform-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(io_err)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The file reports of a run: collects the events into one [`RunReport`] and writes the
/// chosen formats from it when the run finishes.
pub struct FileReports {
    dir: PathBuf,
    formats: Vec<ReportFormat>,
    collector: Collector,
}

impl FileReports {
    pub fn new(dir: impl Into<PathBuf>, formats: &[ReportFormat], meta: RunMeta) -> FileReports {
        FileReports { dir: dir.into(), formats: formats.to_vec(), collector: Collector::new(meta) }
    }

    /// Puts these manual verdicts in the matrix.
    pub fn with_manual(mut self, records: Vec<super::matrix::ManualRecord>) -> FileReports {
        self.collector = self.collector.with_manual(records);
        self
    }
}

impl Reporter for FileReports {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ReportError> {
        match self.collector.on_event(event) {
            Some(report) => write_reports(&report, &self.dir, &self.formats),
            None => Ok(()),
        }
    }
}
