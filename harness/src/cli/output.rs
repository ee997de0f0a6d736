//! stdout for a run that may be piped into a reader that stops early (`hwconform run … |
//! head -1`): once the reader is gone, what would have been printed is dropped, so the run
//! still writes its file reports and ends with its own exit code, without "Broken pipe" or a
//! panic. (Rust ignores SIGPIPE, so a closed pipe is an EPIPE error on the next write.)

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to stdout met a closed pipe: every later write is dropped.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// The process's stdout, quiet once its reader has gone.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stdout;

impl Stdout {
    /// Whether stdout's reader has gone.
    pub fn closed() -> bool {
        CLOSED.load(Ordering::Relaxed)
    }
}

/// `result` of a write to stdout, with a closed pipe turned into "written" (and remembered).
fn quiet<T>(result: io::Result<T>, written: T) -> io::Result<T> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            CLOSED.store(true, Ordering::Relaxed);
            Ok(written)
        }
        other => other,
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if Stdout::closed() {
            return Ok(buf.len());
        }
        quiet(io::stdout().write(buf), buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if Stdout::closed() {
            return Ok(());
        }
        quiet(io::stdout().flush(), ())
    }
}

/// The report files of `formats` in `dir`, in the order the formats were given.
pub fn report_files(dir: &Path, formats: &[crate::report::ReportFormat]) -> Vec<PathBuf> {
    formats
        .iter()
        .filter_map(|f| f.file_name())
        .map(|name| dir.join(name))
        .collect()
}

/// Says where each written report is, one line each (`report: reports/run.json`), so a CI
/// log shows what to upload and a person what to open.
pub fn print_written(files: &[PathBuf]) {
    let mut out = Stdout;
    for f in files {
        let _ = writeln!(out, "report: {}", f.display());
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ReportFormat;

    #[test]
    fn report_files_are_the_file_formats_in_their_directory() {
        assert_eq!(
            report_files(
                Path::new("out"),
                &[
                    ReportFormat::Terminal,
                    ReportFormat::Json,
                    ReportFormat::Html
                ]
            ),
            [Path::new("out/run.json"), Path::new("out/report.html")]
        );
    }

    #[test]
    fn a_closed_pipe_is_written_and_remembered_other_errors_are_not() {
        let other = quiet(Err::<usize, _>(io::Error::other("disk full")), 3);
        assert!(other.is_err());
        assert!(!Stdout::closed());
        let broken = quiet(Err(io::Error::from(io::ErrorKind::BrokenPipe)), 3);
        assert_eq!(broken.unwrap(), 3);
        assert!(Stdout::closed());
        CLOSED.store(false, Ordering::Relaxed);
    }
}
