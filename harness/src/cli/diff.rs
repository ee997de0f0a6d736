//! `hwconform diff RUN_A RUN_B`: what changed between two runs (see
//! [`crate::check::golden::rundiff`]). Exit 0 when nothing changed, 1 when something did, 2
//! when a file cannot be read or is not a run report.

use super::exit::{EXIT_FAILED, EXIT_OK};
use crate::check::golden::normalize::NormalizeOptions;
use crate::check::golden::rundiff::{compare, render, RunFile};
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
}

pub fn cli_diff(args: DiffArgs) -> i32 {
    let load = |p: &Path| RunFile::load(p).map_err(|e| super::report_error::usage_error(&e));
    let (a, b) = match (load(&args.run_a), load(&args.run_b)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let changes = compare(&a, &b, NormalizeOptions { times: args.times });
    print!("{}", render(&args.run_a, &a, &args.run_b, &b, &changes));
    if changes.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}
