//! `hwconform manual record ID --verdict pass|fail --note …` signs a manual check into a
//! verdicts file; `hwconform manual list` shows what is signed. `run --manual FILE` and
//! `report RUN.json --manual FILE` put them in the requirement matrix.

use super::exit::EXIT_OK;
use super::report_error::{usage, usage_error};
use crate::report::manual::{ManualError, ManualFile};
use crate::report::matrix::{DeviceRef, ManualRecord};
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
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// List the recorded manual verdicts, oldest first.
    List {
        /// The verdicts file.
        #[arg(long, default_value = DEFAULT_FILE, value_name = "FILE")]
        file: PathBuf,
    },
}

/// The unit the check was made on: a record holds for it alone.
#[derive(clap::Args, Debug)]
pub struct DeviceArgs {
    /// The run.json of the device checked: its ICS identity, ICS hash and SNs.
    #[arg(long, value_name = "RUN.json", conflicts_with_all = ["ics", "sn"])]
    pub run: Option<PathBuf>,
    /// The device's ICS file (with --sn), when there is no run to name.
    #[arg(long, value_name = "FILE", requires = "sn")]
    pub ics: Option<PathBuf>,
    /// The SN of the unit checked (with --ics); repeatable.
    #[arg(long, value_name = "SN")]
    pub sn: Vec<String>,
}

impl DeviceArgs {
    /// The device named, or the usage error's exit code (printed).
    fn device(&self) -> Result<DeviceRef, i32> {
        if let Some(path) = &self.run {
            return super::report::load(path)
                .map(|r| DeviceRef::of_run(&r))
                .map_err(|e| usage_error(&e));
        }
        let Some(path) = &self.ics else {
            return Err(usage(
                "say which device was checked: --run RUN.json (a run of it) or --ics FILE --sn SN",
            ));
        };
        let profile = super::profile();
        let ics = super::ics::load(path, &*profile)?;
        let file = crate::report::json::HashedFile::read(path)
            .map_err(|e| usage(format!("--ics {}: {e}", path.display())))?;
        Ok(DeviceRef::new(
            Some(&ics.summary()),
            Some(&file),
            self.sn.clone(),
        ))
    }
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
            device,
        } => {
            let profile = super::profile();
            let statements = profile.statements();
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
            let device = match device.device() {
                Ok(d) => d,
                Err(code) => return code,
            };
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
                device: Some(device),
            };
            match crate::report::manual::append(&file, record.clone(), &*profile) {
                Ok(_) => {}
                Err(
                    e @ (ManualError::Io { .. }
                    | ManualError::Write(_)
                    | ManualError::Locked { .. }),
                ) => return super::report_error::error(&e),
                Err(e) => return usage_error(&e),
            }
            println!(
                "recorded {} {} by {} at {} for {} in {}",
                record.id,
                record.verdict,
                record.by,
                record.at,
                record
                    .device
                    .as_ref()
                    .map(DeviceRef::name)
                    .unwrap_or_default(),
                file.display()
            );
            EXIT_OK
        }
        ManualCommand::List { file } => match ManualFile::load(&file, &*super::profile()) {
            Err(e) => usage_error(&e),
            Ok(v) => {
                for r in &v.records {
                    let on = r
                        .device
                        .as_ref()
                        .map_or("no device".to_string(), DeviceRef::name);
                    println!(
                        "{:<4} {:<4} {} by {} on {on}: {}",
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
        Some(path) => ManualFile::load(path, &*super::profile())
            .map(|f| f.records)
            .map_err(|e| usage_error(&e)),
    }
}

/// Refuses (exit 2, with the reason) records of `--manual FILE` made on another device than
/// `run`.
pub fn check_device(
    file: Option<&std::path::Path>,
    records: &[ManualRecord],
    run: &DeviceRef,
) -> Result<(), i32> {
    match file {
        None => Ok(()),
        Some(path) => {
            crate::report::manual::check_device(path, records, run).map_err(|e| usage_error(&e))
        }
    }
}
