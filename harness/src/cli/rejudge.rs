//! `hwconform rejudge RUN.json`: the recorded run judged again by this harness's always-on
//! monitors and goldens, without the target. Lists every scenario whose verdict (or set of
//! broken rules) changed; with `--reports DIR` writes the rejudged run's reports.

use super::exit::{EXIT_FAILED, EXIT_OK};
use super::golden::GoldenModeArg;
use super::report::{load, ReportFiles};
use super::report_error::{usage, usage_error};
use crate::check::golden::{GoldenConfig, GoldenJudge};
use crate::engine::rejudge::{changed, rejudge};
use crate::engine::{Judge, Outcome};
use crate::report::json::now_rfc3339;
use crate::report::RunMeta;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct RejudgeArgs {
    /// The run.json of the run to judge again.
    pub run: PathBuf,
    /// Golden transcripts: `check` (default: compared with today's goldens in --golden-dir
    /// as a run with the default `--golden` compares them, i.e. for in-process targets) or
    /// `off`. The run's own `--golden` choice is not recorded.
    #[arg(long, value_enum, default_value = "check")]
    pub golden: RejudgeGolden,
    /// Where golden transcripts live (default `golden`, relative to the current directory);
    /// given, it must hold goldens.
    #[arg(long, value_name = "DIR")]
    pub golden_dir: Option<PathBuf>,
    /// Write the rejudged run's reports here (by default nothing is written; give another
    /// directory than the run's own to keep both).
    #[arg(long, value_name = "DIR")]
    pub reports: Option<PathBuf>,
    /// The reports to write, comma-separated (default: every file format).
    #[arg(
        long = "report",
        value_enum,
        value_delimiter = ',',
        value_name = "FORMAT[,FORMAT...]"
    )]
    pub report: Vec<crate::report::ReportFormat>,
}

/// `--golden` of `rejudge`: it compares or not, and records nothing, so `run`'s `update` is
/// not offered (help that offers a value which then fails misleads).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RejudgeGolden {
    /// Compare with today's goldens.
    Check,
    /// No golden comparison.
    Off,
}

impl From<RejudgeGolden> for crate::check::golden::GoldenMode {
    fn from(arg: RejudgeGolden) -> Self {
        match arg {
            RejudgeGolden::Check => Self::Check,
            RejudgeGolden::Off => Self::Off,
        }
    }
}

pub fn cli_rejudge(args: RejudgeArgs) -> i32 {
    let mut report = match load(&args.run) {
        Ok(r) => r,
        Err(e) => return usage_error(&e),
    };
    // `--golden` has a default here: only a named directory counts as asked for.
    let golden = match super::golden::config(
        (args.golden == RejudgeGolden::Off).then_some(GoldenModeArg::Off),
        args.golden_dir.as_deref(),
        true,
    ) {
        Ok((g, note)) => {
            if let Some(note) = note {
                eprintln!("note: {note}");
            }
            g
        }
        Err(e) => return usage(e),
    };
    let profile = super::profile();
    let judges: Vec<Arc<dyn Judge>> = vec![Arc::new(GoldenJudge {
        config: GoldenConfig {
            explicit: false,
            ..golden
        },
        profile: profile.clone(),
    })];
    let (mut rejudged, mut kept, mut moved) = (0, 0, Vec::new());
    for r in &mut report.scenarios {
        let Some(new) = rejudge(r, &*profile, &judges) else {
            kept += 1;
            continue;
        };
        rejudged += 1;
        if changed(r, &new) {
            let why = new
                .verdict
                .failure()
                .map(|f| format!(": {}", f.message.lines().next().unwrap_or("")))
                .unwrap_or_default();
            moved.push(format!(
                "  {}  {} -> {}{why}",
                r.id,
                Outcome::of(&r.verdict).name(),
                Outcome::of(&new.verdict).name()
            ));
        }
        *r = new;
    }
    report.recount();
    report.rebuild_matrix();
    let this = RunMeta::for_profile(&*profile);
    report.meta.rejudged = Some(crate::report::json::Rejudged {
        at: now_rfc3339(),
        harness_version: this.harness_version,
        git_commit: this.git_commit,
    });
    println!(
        "rejudged {rejudged} of {} scenarios from {}: {} changed; {kept} kept as recorded (skipped, manual, or recorded without judging evidence)",
        report.scenarios.len(),
        args.run.display(),
        moved.len()
    );
    for line in &moved {
        println!("{line}");
    }
    let s = &report.summary;
    println!(
        "summary: {} passed, {} failed, {} skipped",
        s.passed, s.failed, s.skipped
    );
    println!(
        "{} inconclusive, {} warned, {} errored, {} manual",
        s.inconclusive, s.warned, s.errored, s.manual
    );
    if let Some(statement) = &report.statement {
        print!("{}", crate::report::terminal::statement_line(statement));
    }
    if let Some(reports) = args.reports {
        let code = super::report::write(
            &report,
            &ReportFiles {
                reports,
                report: args.report,
            },
        );
        if code != EXIT_OK {
            return code;
        }
    }
    if report.summary.ok() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}
