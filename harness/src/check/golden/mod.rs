//! Golden transcripts. (Being written.)

use crate::engine::ScenarioResult;
use std::path::PathBuf;

/// What a run does with golden transcripts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum GoldenMode {
    /// Compare with `golden/<id>.snap` where one exists; a changed conversation fails.
    #[default]
    Check,
    /// Write `golden/<id>.snap.new` for every new or changed conversation, for review.
    Update,
    /// No golden comparison.
    Off,
}

#[derive(Clone, Debug)]
pub struct GoldenConfig {
    pub mode: GoldenMode,
    pub dir: PathBuf,
    /// The mode was asked for on the command line (so `check` applies to real targets too).
    pub explicit: bool,
}

/// After a scenario ran: compares (and may turn a pass into a fail) or writes a pending
/// snapshot. `in_process`: the scenario ran on the virtual clock.
pub fn apply(_config: &GoldenConfig, _result: &mut ScenarioResult, _in_process: bool) {}

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
        #[arg(long, default_value = "golden")]
        dir: PathBuf,
    },
    /// Accept pending snapshots (all, or the given scenario ids).
    Accept {
        ids: Vec<String>,
        #[arg(long, default_value = "golden")]
        dir: PathBuf,
    },
}

pub fn cli_golden(_args: GoldenArgs) -> i32 {
    eprintln!("error: not implemented yet");
    2
}

/// `hwconform diff RUN_A RUN_B`.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// A JSON run report (reports/run.json).
    pub run_a: PathBuf,
    pub run_b: PathBuf,
}

pub fn cli_diff(_args: DiffArgs) -> i32 {
    eprintln!("error: not implemented yet");
    2
}
