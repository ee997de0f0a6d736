//! `hwconform report RUN.json`: rebuilds every report of a run from its run.json (the same
//! bytes the run wrote); `hwconform report merge A.json B.json …`: one run from the shards of
//! a partitioned run.

use super::exit::EXIT_OK;
use super::report_error::{self, usage_error};
use crate::report::merge::merge;
use crate::report::{write_reports, ReportFormat, RunReport};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: Option<ReportCommand>,
    /// The run.json to rebuild the reports from.
    pub run: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutArgs,
}

#[derive(clap::Subcommand, Debug)]
pub enum ReportCommand {
    /// Merge the run.json files of a partitioned run (`run --partition`) and write its reports.
    Merge {
        /// The shards' run.json files.
        #[arg(required = true, num_args = 2..)]
        runs: Vec<PathBuf>,
        /// Merge even when shards are missing (each shard records its `K/N`): the report
        /// then names the missing shards (`meta.missing_shards`) and says it is partial.
        #[arg(long)]
        allow_partial: bool,
        #[command(flatten)]
        out: OutArgs,
    },
}

#[derive(clap::Args, Debug)]
pub struct OutArgs {
    #[command(flatten)]
    pub files: ReportFiles,
    /// Manual verdicts to add to the requirement matrix (`hwconform manual record` writes them).
    #[arg(long, value_name = "FILE")]
    pub manual: Option<PathBuf>,
    #[command(flatten)]
    pub signer: super::SignerArgs,
}

/// Which report files a command writes, and where: one definition for every command that
/// writes a run's reports from its results (`report`, `observe`).
#[derive(clap::Args, Debug, Clone)]
pub struct ReportFiles {
    /// Where the reports go: run.json, report.html, junit.xml, requirements.csv.
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub reports: PathBuf,
    /// The reports to write, comma-separated (default: every file format).
    #[arg(
        long = "report",
        value_enum,
        value_delimiter = ',',
        value_name = "FORMAT[,FORMAT...]"
    )]
    pub report: Vec<ReportFormat>,
}

/// Why a run.json cannot be used: the one check every reader of run.json shares.
pub use crate::report::RunFileError as LoadError;

/// A run.json read back and checked (version, unique ids, known verdicts, judged with the
/// profile the CLI chose); its matrix is rebuilt with that profile's obligations.
pub fn load(path: &Path) -> Result<RunReport, LoadError> {
    RunReport::load_for(path, &*super::profile())
}

pub fn cli_report(args: ReportArgs) -> i32 {
    let (report, out) = match args.command {
        Some(ReportCommand::Merge {
            runs,
            allow_partial,
            out,
        }) => {
            let mut shards = Vec::with_capacity(runs.len());
            let mut recorded = Vec::with_capacity(runs.len());
            for path in &runs {
                match load(path) {
                    Ok(r) => {
                        recorded.push((path.clone(), super::partition::recorded(&r.meta)));
                        shards.push(r);
                    }
                    Err(e) => return usage_error(&e),
                }
            }
            let mut merged = match merge(shards) {
                Ok(r) => r,
                Err(e) => return usage_error(&e),
            };
            let missing = match super::partition::missing_shards(&recorded, allow_partial) {
                Ok(m) => m,
                Err(e) => return usage_error(&e),
            };
            if !missing.is_empty() {
                eprintln!(
                    "warning: a partial merge (--allow-partial): missing shard(s) {}; the report covers only the shards given",
                    missing.join(", ")
                );
            }
            merged.meta.partition = None;
            merged.meta.missing_shards = missing;
            (merged, out)
        }
        None => {
            let Some(path) = args.run else {
                return report_error::usage(
                    "give a run.json to rebuild the reports from, or `merge`",
                );
            };
            match load(&path) {
                Ok(r) => (r, args.out),
                Err(e) => return usage_error(&e),
            }
        }
    };
    let records = match super::manual::load_records(out.manual.as_deref()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let device = crate::report::matrix::DeviceRef::of_run(&report);
    if let Err(code) = super::manual::check_device(out.manual.as_deref(), &records, &device) {
        return code;
    }
    let mut report = if records.is_empty() {
        report
    } else {
        report.with_manual(&records)
    };
    if let Some(path) = &out.manual {
        match crate::report::json::HashedFile::read(path) {
            Ok(f) => report.meta.manual_file = Some(f),
            Err(e) => return report_error::usage(format!("--manual {}: {e}", path.display())),
        }
    }
    out.signer.apply(&mut report.meta);
    write(&report, &out.files)
}

/// Writes the chosen file reports (every one by default); exit 0, or 1 when writing failed.
pub(super) fn write(report: &RunReport, out: &ReportFiles) -> i32 {
    let formats = if out.report.is_empty() {
        ReportFormat::ALL.to_vec()
    } else {
        out.report.clone()
    };
    if let Err(e) = write_reports(report, &out.reports, &formats) {
        report_error::print_in("writing reports", &e);
        return super::exit::EXIT_FAILED;
    }
    super::output::print_written(&super::output::report_files(&out.reports, &formats));
    EXIT_OK
}
