//! `hwconform golden review|accept`: the explicit, reviewable act of changing a golden.

use super::exit::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::check::golden::snapfile::{accepted_path, pending_ids, pending_path, SnapFile};
use crate::check::golden::{linediff, GoldenConfig, GoldenMode};
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

/// The default golden directory, relative to the current directory like every path flag.
pub const DEFAULT_DIR: &str = "golden";

/// The golden configuration of a run from `--golden` and `--golden-dir`, checked before any
/// scenario runs, so that a wrong directory is never a silent "nothing to compare":
/// - `check` asked for (`--golden check` or `--golden-dir` given): the directory must exist
///   and hold at least one golden (`*.snap`), else an error;
/// - `check` by default: without goldens there, the note returned says they are not checked
///   (when `in_process`: only in-process targets are compared by default);
/// - `update`: writes into an existing directory; creates a missing one only when it was
///   named with `--golden-dir`, never the default one (a run from the wrong directory).
pub fn config(
    mode: Option<GoldenModeArg>,
    dir: Option<&Path>,
    in_process: bool,
) -> Result<(GoldenConfig, Option<String>), String> {
    let asked = mode.is_some() || dir.is_some();
    let path = dir.map_or_else(|| PathBuf::from(DEFAULT_DIR), Path::to_path_buf);
    let config = GoldenConfig {
        mode: mode.map(Into::into).unwrap_or_default(),
        dir: path.clone(),
        explicit: mode.is_some(),
    };
    let here = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "?".into());
    let where_ = if path.is_relative() {
        format!(" (relative to the current directory, {here})")
    } else {
        String::new()
    };
    let flag = if dir.is_some() {
        "--golden-dir "
    } else {
        "the golden directory "
    };
    match config.mode {
        GoldenMode::Off => Ok((config, None)),
        GoldenMode::Check => {
            let problem = if !path.is_dir() {
                "does not exist"
            } else if !holds_goldens(&path) {
                "holds no golden transcript (*.snap)"
            } else {
                return Ok((config, None));
            };
            let what = format!("{flag}{} {problem}{where_}", path.display());
            if asked {
                Err(format!(
                    "{what}: give the directory of the goldens with --golden-dir, or --golden off"
                ))
            } else if !in_process {
                Ok((config, None))
            } else {
                Ok((
                    config,
                    Some(format!(
                        "{what}: golden transcripts are not checked (--golden-dir DIR to check them, --golden off to say so)"
                    )),
                ))
            }
        }
        GoldenMode::Update => {
            if path.is_dir() {
                return Ok((config, None));
            }
            if dir.is_none() {
                return Err(format!(
                    "--golden update: there is no golden directory {} here ({here}); run from the directory that holds it, or name it with --golden-dir (created if missing)",
                    path.display()
                ));
            }
            std::fs::create_dir_all(&path)
                .map_err(|e| format!("--golden-dir {}: cannot create it: {e}", path.display()))?;
            Ok((
                config,
                Some(format!("created the golden directory {}", path.display())),
            ))
        }
    }
}

/// Whether `dir` holds at least one accepted golden.
fn holds_goldens(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(crate::check::golden::snapfile::ACCEPTED))
        })
    })
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
