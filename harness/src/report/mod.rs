//! Reports: views of the run for people (terminal, HTML) and machines (JUnit XML, JSON, CSV).
//!
//! Each report is a [`Reporter`] fed the engine's [`RunEvent`](crate::engine::RunEvent)s; the
//! result model ([`RunReport`]) knows nothing of formats, and each format converts from it.
//! A format is one file implementing `formats::Format`, registered by one line in
//! [`ReportFormat::ALL`].

pub mod brief;
pub mod chart;
pub mod cover;
pub mod diff_report;
pub mod evidence;
pub mod formats;
pub mod html;
pub mod json;
pub mod junit;
pub mod manual;
pub mod markdown;
pub mod matrix;
pub mod merge;
pub mod rundiff;
pub mod sink;
pub mod slow;
mod spill;
mod spreadsheet;
pub mod status;
pub mod terminal;

pub use brief::{Brief, Cites};
pub use formats::{check_writable, write_reports, FileReports, ReportFormat};
pub use json::{parse_run, Collector, RunFileError, RunMeta, RunReport, JSON_FORMAT_VERSION};
pub use junit::suite_name;
pub use sink::{MultiReporter, ReportError, Reporter};
pub use terminal::{
    render_matrix, requirement_table, requirement_table_with, TerminalOptions, TerminalReporter,
};
