//! `hwconform manual record ID --verdict pass|fail --note …` signs a manual check into a
//! verdicts file; `hwconform manual list` shows what is signed. `run --manual FILE` and
//! `report RUN.json --manual FILE` put them in the requirement matrix.

use super::exit::EXIT_OK;
use super::report_error::{usage, usage_error};
use crate::report::manual::{ManualError, ManualFile};
use crate::report::matrix::ManualRecord;
use std::path::PathBuf;

/// The verdicts file `manual` reads and writes unless told otherwise.
pub const DEFAULT_FILE: &str = "manual-verdicts.json";

#[derive(clap::Args, Debug)]
pub struct ManualArgs {
    #[command(subcommand)]
    pub command: ManualCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ManualCommand {
    /// Record the verdict of a manual check (appended; a later record of an id supersedes).
    Record {
        /// The obligation checked by hand (`D38`).
        id: String,
        /// What was seen.
        #[arg(long, value_enum)]
        verdict: ManualVerdict,
        /// What was done and seen, for the report (shown verbatim: write no credential here).
        #[arg(long)]
        note: String,
        /// Who signs (default: $USER).
        #[arg(long, env = "HWCONFORM_SIGNER")]
        by: Option<String>,
        /// The verdicts file.
        #[arg(long, default_value = DEFAULT_FILE, value_name = "FILE")]
        file: PathBuf,
    },
    /// List the recorded manual verdicts, oldest first.
    List {
        /// The verdicts file.
        #[arg(long, default_value = DEFAULT_FILE, value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ManualVerdict {
    Pass,
    Fail,
}

pub fn cli_manual(args: ManualArgs) -> i32 {
    match args.command {
        ManualCommand::Record {
            id,
            verdict,
            note,
            by,
            file,
        } => {
            let statements = crate::profile::wecom::obligations::statements();
            let Some(statement) = statements.iter().find(|s| s.id.eq_ignore_ascii_case(&id)) else {
                return usage(format!(
                    "`{id}` is not an obligation of this protocol (D1–D42, C1–C24)"
                ));
            };
            let Some(by) = by
                .or_else(|| std::env::var("USER").ok())
                .or_else(|| std::env::var("LOGNAME").ok())
                .filter(|b| !b.trim().is_empty())
            else {
                return usage("say who signs: --by NAME (or HWCONFORM_SIGNER)");
            };
            if note.trim().is_empty() {
                return usage("--note says what was done and seen; it cannot be empty");
            }
            let verdict = match verdict {
                ManualVerdict::Pass => "pass",
                ManualVerdict::Fail => "fail",
            };
            let record = ManualRecord {
                id: statement.id.clone(),
                verdict: verdict.into(),
                by,
                at: crate::report::json::now_rfc3339(),
                note,
            };
            match crate::report::manual::append(&file, record.clone()) {
                Ok(_) => {}
                Err(
                    e @ (ManualError::Io { .. }
                    | ManualError::Write(_)
                    | ManualError::Locked { .. }),
                ) => return super::report_error::error(&e),
                Err(e) => return usage_error(&e),
            }
            println!(
                "recorded {} {} by {} at {} in {}",
                record.id,
                record.verdict,
                record.by,
                record.at,
                file.display()
            );
            EXIT_OK
        }
        ManualCommand::List { file } => match ManualFile::load(&file) {
            Err(e) => usage_error(&e),
            Ok(v) => {
                for r in &v.records {
                    println!(
                        "{:<4} {:<4} {} by {}: {}",
                        r.id, r.verdict, r.at, r.by, r.note
                    );
                }
                EXIT_OK
            }
        },
    }
}

/// The records of `--manual FILE`, if given; a named file must exist and be valid.
pub fn load_records(file: Option<&std::path::Path>) -> Result<Vec<ManualRecord>, i32> {
    match file {
        None => Ok(vec![]),
        Some(path) => ManualFile::load(path)
            .map(|f| f.records)
            .map_err(|e| usage_error(&e)),
    }
}
