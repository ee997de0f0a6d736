//! `hwconform diff RUN_A RUN_B`: what changed between two runs (see
//! [`crate::report::rundiff`]). Exit 0 when nothing changed, 1 when something did, 2
//! when a file cannot be read or is not a run report.

use super::exit::{EXIT_FAILED, EXIT_OK};
use crate::check::golden::normalize::NormalizeOptions;
use crate::report::diff_report::{DiffReport, Limits};
use crate::report::rundiff::{compare, RunFile};
use std::path::{Path, PathBuf};

/// `hwconform diff RUN_A RUN_B`.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The earlier JSON run report (reports/run.json of that run).
    pub run_a: PathBuf,
    /// The later JSON run report, compared against the earlier.
    pub run_b: PathBuf,
    /// Compare the times of frames too (meaningful when both runs were in-process, on the
    /// virtual clock).
    #[arg(long)]
    pub times: bool,
    /// `text` for people (obligations, then scenarios, then frames), `json` for tools (the
    /// shape is documented in the guide, `diff_version` 1).
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Show every changed frame (by default at most 10 scenarios, 24 lines each, then "and N
    /// more").
    #[arg(long)]
    pub full: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffFormat {
    Text,
    Json,
}

pub fn cli_diff(args: DiffArgs) -> i32 {
    let profile = super::profile();
    let load = |p: &Path| {
        RunFile::load_for(p, &*profile).map_err(|e| super::report_error::usage_error(&e))
    };
    let (a, b) = match (load(&args.run_a), load(&args.run_b)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let changes = compare(&a, &b, NormalizeOptions { times: args.times });
    let limits = if args.full {
        Limits::NONE
    } else {
        Limits::DEFAULT
    };
    let report = DiffReport::new((&args.run_a, &a), (&args.run_b, &b), changes, limits);
    match args.format {
        DiffFormat::Text => print!("{}", report.to_text()),
        DiffFormat::Json => print!("{}", report.to_json()),
    }
    if report.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}
