//! `hwconform golden review|accept`: the explicit, reviewable act of changing a golden.

use super::exit::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::check::golden::linediff;
use crate::check::golden::snapfile::{accepted_path, pending_ids, pending_path, SnapFile};
use std::path::{Path, PathBuf};

/// `--golden` of `hwconform run`: what the run does with golden transcripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GoldenModeArg {
    /// Compare with `golden/<id>.snap` where one exists; a changed conversation fails.
    Check,
    /// Write `golden/<id>.snap.new` for every new or changed conversation, for review.
    Update,
    /// No golden comparison.
    Off,
}

impl From<GoldenModeArg> for crate::check::golden::GoldenMode {
    fn from(arg: GoldenModeArg) -> Self {
        use crate::check::golden::GoldenMode;
        match arg {
            GoldenModeArg::Check => GoldenMode::Check,
            GoldenModeArg::Update => GoldenMode::Update,
            GoldenModeArg::Off => GoldenMode::Off,
        }
    }
}

/// `hwconform golden review|accept`.
#[derive(clap::Args, Debug)]
pub struct GoldenArgs {
    #[command(subcommand)]
    pub action: GoldenAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum GoldenAction {
    /// Show the pending (.snap.new) snapshots as diffs against the accepted ones.
    Review {
        /// Where the goldens and the pending `.snap.new` files are.
        #[arg(long, default_value = "golden")]
        dir: PathBuf,
    },
    /// Accept pending snapshots (all, or the given scenario ids).
    Accept {
        /// Scenario ids whose pending snapshot to accept (none: every pending one).
        ids: Vec<String>,
        /// Where the goldens and the pending `.snap.new` files are.
        #[arg(long, default_value = "golden")]
        dir: PathBuf,
    },
}

pub fn cli_golden(args: GoldenArgs) -> i32 {
    let mut out = String::new();
    let code = match args.action {
        GoldenAction::Review { dir } => review(&dir, &mut out),
        GoldenAction::Accept { ids, dir } => accept(&dir, &ids, &mut out),
    };
    print!("{out}");
    code
}

/// Every pending snapshot as a diff against its accepted one (or the whole of a new one).
pub fn review(dir: &Path, out: &mut String) -> i32 {
    if !dir.is_dir() {
        eprintln!("error: no golden directory {}", dir.display());
        return EXIT_USAGE;
    }
    let ids = match pending_ids(dir) {
        Ok(ids) => ids,
        Err(e) => return error(format!("cannot read {}: {e}", dir.display())),
    };
    if ids.is_empty() {
        out.push_str(&format!("no pending snapshots in {}\n", dir.display()));
        return EXIT_OK;
    }
    let mut code = EXIT_OK;
    for id in &ids {
        let (pending, accepted) = (pending_path(dir, id), accepted_path(dir, id));
        let new = match SnapFile::read(&pending) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(e) => {
                super::report_error::print_in(&format!("cannot read {}", pending.display()), &e);
                code = EXIT_FAILED;
                continue;
            }
        };
        match SnapFile::read(&accepted) {
            Ok(Some(old)) => {
                let (removed, added) = linediff::counts(&old.content, &new.content);
                out.push_str(&format!(
                    "{id}: changed ({removed} line(s) gone, {added} new)\n"
                ));
                let diff = linediff::unified(
                    &old.content,
                    &new.content,
                    &accepted.display().to_string(),
                    &pending.display().to_string(),
                );
                if diff.is_empty() {
                    out.push_str(
                        "  (the same conversation; accepting only refreshes the header)\n",
                    );
                }
                for line in diff.lines() {
                    out.push_str(&format!("  {line}\n"));
                }
            }
            Ok(None) => {
                out.push_str(&format!("{id}: new snapshot {}\n", pending.display()));
                for line in new.content.lines() {
                    out.push_str(&format!("  +{line}\n"));
                }
            }
            Err(e) => {
                super::report_error::print_in(&format!("cannot read {}", accepted.display()), &e);
                code = EXIT_FAILED;
            }
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "{} pending snapshot(s); accept them with `hwconform golden accept [IDS...] --dir {}`\n",
        ids.len(),
        dir.display()
    ));
    code
}

/// Renames pending snapshots over the accepted ones: all of them, or those of `ids`.
pub fn accept(dir: &Path, ids: &[String], out: &mut String) -> i32 {
    let pending = match pending_ids(dir) {
        Ok(p) => p,
        Err(e) => return error(format!("cannot read {}: {e}", dir.display())),
    };
    let unknown: Vec<&String> = ids.iter().filter(|id| !pending.contains(id)).collect();
    if !unknown.is_empty() {
        let list = unknown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        eprintln!("error: no pending snapshot in {} for {list}", dir.display());
        return EXIT_USAGE;
    }
    let chosen: Vec<&String> = if ids.is_empty() {
        pending.iter().collect()
    } else {
        pending.iter().filter(|p| ids.contains(p)).collect()
    };
    if chosen.is_empty() {
        out.push_str(&format!("no pending snapshots in {}\n", dir.display()));
        return EXIT_OK;
    }
    let mut code = EXIT_OK;
    let mut count = 0;
    for id in chosen {
        let (from, to) = (pending_path(dir, id), accepted_path(dir, id));
        // Only a well-formed snapshot replaces an accepted one.
        if let Err(e) = SnapFile::read(&from) {
            super::report_error::print_in(&format!("{} is not a snapshot", from.display()), &e);
            code = EXIT_FAILED;
            continue;
        }
        let existed = to.exists();
        match std::fs::rename(&from, &to) {
            Ok(()) => {
                count += 1;
                out.push_str(&format!(
                    "accepted {} ({})\n",
                    to.display(),
                    if existed { "updated" } else { "new" }
                ));
            }
            Err(e) => {
                eprintln!(
                    "error: cannot rename {} to {}: {e}",
                    from.display(),
                    to.display()
                );
                code = EXIT_FAILED;
            }
        }
    }
    out.push_str(&format!("{count} snapshot(s) accepted\n"));
    code
}

fn error(message: String) -> i32 {
    eprintln!("error: {message}");
    EXIT_FAILED
}
