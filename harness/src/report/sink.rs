//! The reporter seam: the [`Reporter`] trait every report format implements, its error type,
//! and [`MultiReporter`], which fans one event stream out to several reporters.

use crate::engine::event::Event;
#[cfg(test)]
use crate::engine::RunEvent;
use crate::profile::Credentials;
use std::io;
use std::path::{Path, PathBuf};

/// A consumer of the run's event stream. Implementations match every
/// [`RunEvent`](crate::engine::RunEvent) variant by name, so a new event does not compile
/// until every report has decided what to do with it.
pub trait Reporter {
    /// Handles one event; events arrive in the order of their times.
    fn on_event(&mut self, event: &Event) -> Result<(), ReportError>;
}

/// Why a report could not be written. A failed scenario is never a `ReportError`: that is a
/// verdict, and reports show it.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Writing a report file (or creating its directory) failed.
    #[error("cannot write report {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Writing to the terminal (or whatever stream the terminal reporter was given) failed.
    #[error("cannot write terminal output")]
    Terminal(#[source] io::Error),
    /// The JUnit XML could not be encoded.
    #[error("cannot encode JUnit XML for {}", path.display())]
    Xml {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The requirement matrix could not be encoded as CSV.
    #[error("cannot encode the requirements CSV for {}", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    /// The JSON report could not be encoded.
    #[error("cannot encode JSON report for {}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Writes `bytes` to `path`, creating its parent directories first. The file is written
/// beside its final name and then renamed, so a reader never sees half a report.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    write_file_with(path, |out| out.put(bytes))
}

/// [`write_file`] for a document written piece by piece by `fill`, so the whole file is
/// never held in memory.
pub(crate) fn write_file_with(
    path: &Path,
    fill: impl FnOnce(&mut Out) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    write_scrubbed(path, &Credentials::default(), fill)
}

/// [`write_file_with`], every byte scrubbed of the credentials `scrub` on its way to the file.
pub(crate) fn write_scrubbed(
    path: &Path,
    scrub: &Credentials,
    fill: impl FnOnce(&mut Out) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let io_err = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let written = std::fs::File::create(&tmp)
        .map_err(io_err)
        .and_then(|file| {
            let mut w = io::BufWriter::with_capacity(1 << 16, file);
            let mut scrubbed = scrub.scrub(&mut w);
            fill(&mut Out {
                path,
                w: &mut scrubbed,
            })?;
            io::Write::flush(&mut scrubbed).map_err(io_err)?;
            drop(scrubbed);
            w.into_inner().map(drop).map_err(|e| io_err(e.into_error()))
        });
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path).map_err(io_err));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

/// Where a document is being written: its bytes go to `w`, and a failure names `path`.
pub(crate) struct Out<'a> {
    pub path: &'a Path,
    pub w: &'a mut dyn io::Write,
}

impl Out<'_> {
    /// Appends `bytes` to the document.
    pub fn put(&mut self, bytes: &[u8]) -> Result<(), ReportError> {
        self.w.write_all(bytes).map_err(|source| ReportError::Io {
            path: self.path.to_path_buf(),
            source,
        })
    }
}

/// Forwards every event to each of its reporters, in order.
///
/// Every reporter sees every event even when an earlier one fails, so one broken report
/// (a read-only `reports/`) does not also lose the terminal output; the first error is
/// returned.
#[derive(Default)]
pub struct MultiReporter {
    reporters: Vec<Box<dyn Reporter>>,
}

impl MultiReporter {
    pub fn new(reporters: Vec<Box<dyn Reporter>>) -> MultiReporter {
        MultiReporter { reporters }
    }

    pub fn push(&mut self, reporter: Box<dyn Reporter>) {
        self.reporters.push(reporter);
    }

    pub fn len(&self) -> usize {
        self.reporters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reporters.is_empty()
    }
}

impl Reporter for MultiReporter {
    fn on_event(&mut self, event: &Event) -> Result<(), ReportError> {
        // Forwarding needs no per-variant decision; each reporter matches the variants itself.
        let mut first = None;
        for r in &mut self.reporters {
            if let Err(e) = r.on_event(event) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl<R: Reporter + ?Sized> Reporter for &mut R {
    fn on_event(&mut self, event: &Event) -> Result<(), ReportError> {
        (**self).on_event(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RunSummary;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Records the events it sees; fails on `RunFinished` when asked to.
    struct Recorder {
        seen: Rc<RefCell<Vec<String>>>,
        fail: bool,
    }

    impl Reporter for Recorder {
        fn on_event(&mut self, event: &Event) -> Result<(), ReportError> {
            let name = match &event.kind {
                RunEvent::RunStarted { .. } => "run_started",
                RunEvent::Notice { .. } => "notice",
                RunEvent::ScenarioStarted { .. } => "scenario_started",
                RunEvent::Step { .. } => "step",
                RunEvent::Finding { .. } => "finding",
                RunEvent::Slow { .. } => "slow",
                RunEvent::ScenarioFinished { .. } => "scenario_finished",
                RunEvent::Interrupted { .. } => "interrupted",
                RunEvent::RunFinished(_) => "run_finished",
            };
            self.seen.borrow_mut().push(name.to_string());
            if self.fail {
                return Err(ReportError::Terminal(io::Error::other("boom")));
            }
            Ok(())
        }
    }

    #[test]
    fn multi_reporter_forwards_every_event_to_every_reporter_despite_errors() {
        let a = Rc::new(RefCell::new(Vec::new()));
        let b = Rc::new(RefCell::new(Vec::new()));
        let mut multi = MultiReporter::new(vec![
            Box::new(Recorder {
                seen: a.clone(),
                fail: true,
            }),
            Box::new(Recorder {
                seen: b.clone(),
                fail: false,
            }),
        ]);
        assert_eq!(multi.len(), 2);
        let clock = crate::engine::event::RunClock::start();
        let events = [
            RunEvent::RunStarted {
                scenarios: 0,
                target: "mock".into(),
                ics: None,
            },
            RunEvent::ScenarioStarted {
                index: 0,
                id: "x".into(),
                bound: std::time::Duration::ZERO,
            },
            RunEvent::RunFinished(RunSummary::default()),
        ];
        for kind in events {
            let e = Event {
                stamp: clock.now(),
                kind,
            };
            assert!(multi.on_event(&e).is_err());
        }
        assert_eq!(
            *a.borrow(),
            ["run_started", "scenario_started", "run_finished"]
        );
        assert_eq!(*a.borrow(), *b.borrow());
    }

    #[test]
    fn write_file_creates_parent_dirs_and_reports_the_path() {
        let dir = std::env::temp_dir().join(format!("hwconform-sink-{}", std::process::id()));
        let path = dir.join("a/b/out.txt");
        write_file(&path, b"hi").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hi");
        // A directory where the file should be: the error names the path.
        let err = write_file(&dir.join("a"), b"x").unwrap_err();
        assert!(
            err.to_string()
                .contains(&dir.join("a").display().to_string()),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
