//! `hwconform explore`: parses the target and budget, calls [`crate::check::explore`], prints the
//! seed and the outcome, and maps it to the exit codes (0 nothing found, 1 a failure found,
//! 2 bad usage).

use super::exit::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use super::{fleet, FleetArgs};
use crate::check::explore::{
    ExploreOptions, ExploreOutcome, ExploreTarget, Explorer, DEFAULT_CASES, DEFAULT_SEED,
};
use crate::profile::Secret;
use crate::scenario::expr::parse_duration;
use crate::targets::mock_cloud::MockCloudTarget;
use crate::targets::{CloudChoice, DeviceChoice};
use crate::wire::transport::Endpoint;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `hwconform explore`.
#[derive(clap::Args, Debug)]
pub struct ExploreArgs {
    /// Explore a cloud (the harness plays devices): `mock` (in-process) or a ws:// / wss:// URL.
    #[arg(
        long,
        value_name = "mock|URL",
        conflicts_with = "device",
        required_unless_present = "device"
    )]
    pub cloud: Option<String>,
    /// Explore a device (the harness plays the cloud): `sim`, `sim:fault=NAME[,NAME...]`,
    /// `sim:variant=NAME[,NAME...][;fault=NAME[,NAME...]]`,
    /// `exec:CMD` (with {url}, {sn}, {secret_no}) or `listen:ADDR`.
    #[arg(long, value_name = "TARGET")]
    pub device: Option<String>,
    /// Seeds every random choice: the same seed explores the same cases.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// At most this many cases.
    #[arg(long, default_value_t = DEFAULT_CASES)]
    pub cases: u32,
    /// At most this long drawing cases (shrinking a failure has its own 30 s bound).
    #[arg(long, value_parser = duration_arg, default_value = "60s", value_name = "DURATION")]
    pub time: Duration,
    /// Where the regression scenario of a failure is written.
    #[arg(long, default_value = "scenarios/regressions", value_name = "DIR")]
    pub out: PathBuf,
    /// Accept any TLS certificate from a wss:// cloud.
    #[arg(long)]
    pub insecure: bool,
    /// The standalone mock's control token (see `run --control-token`).
    #[arg(
        long,
        env = "HWCONFORM_CONTROL_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub control_token: Option<String>,
    /// A command run before each case against a device (power-cycle relay, factory reset).
    #[arg(long, value_name = "CMD")]
    pub device_reset: Option<String>,
    /// A device identity `SN=SECRET_NO`; repeatable (or HWCONFORM_SN + HWCONFORM_SECRET_NO).
    #[arg(long = "identity", value_name = "SN=SECRET_NO")]
    pub identities: Vec<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// The device's implementation conformance statement (TOML): only what it says `true`
    /// is exercised (a feature it leaves out is not).
    #[arg(long, value_name = "FILE")]
    pub ics: Option<PathBuf>,
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn target(args: &ExploreArgs) -> Result<ExploreTarget, String> {
    match (&args.cloud, &args.device) {
        (Some(c), None) if c == "mock" => Ok(ExploreTarget::Cloud(CloudChoice::Mock(
            MockCloudTarget::default(),
        ))),
        (Some(url), None) => {
            Endpoint::parse(url)
                .map_err(|e| format!("--cloud takes `mock` or a ws:// / wss:// URL: {e}"))?;
            Ok(ExploreTarget::Cloud(CloudChoice::Url {
                url: url.clone(),
                insecure: args.insecure,
                control_token: args.control_token.clone().map(Secret::new),
            }))
        }
        (None, Some(d)) => DeviceChoice::parse(d)
            .map(ExploreTarget::Device)
            .map_err(|e| e.to_string()),
        _ => Err("give exactly one of --cloud and --device".into()),
    }
}

pub fn cli_explore(args: ExploreArgs) -> i32 {
    let usage = |m: String| {
        eprintln!("error: {m}");
        EXIT_USAGE
    };
    let target = match target(&args) {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    if args.cases == 0 {
        return usage("--cases must be at least 1".into());
    }
    let fleet = match fleet(&args.fleet, &args.identities) {
        Ok(f) => f,
        Err(e) => return super::report_error::usage_error(&e),
    };
    let device = match &target {
        ExploreTarget::Device(d) => Some(d),
        ExploreTarget::Cloud(_) => None,
    };
    let ics = match super::ics::for_run(args.ics.as_deref(), device, &fleet, &*super::profile()) {
        Ok(i) => i,
        Err(code) => return code,
    };
    // A device command may spell a SecretNo out: what is printed is scrubbed of the fleet's.
    let scrub = fleet.credentials();
    let options = ExploreOptions {
        ics,
        seed: args.seed,
        cases: args.cases,
        time: args.time,
        out: args.out.clone(),
        fleet: Arc::new(fleet),
        device_reset: args.device_reset.clone(),
        ..ExploreOptions::for_profile(super::profile())
    };
    println!(
        "exploring {} with seed {} (up to {} cases in {})",
        scrub.redact_text(&target.describe()),
        options.seed,
        options.cases,
        crate::scenario::expr::format_duration(options.time)
    );
    let explorer = match Explorer::new(target.clone(), options) {
        Ok(e) => e,
        Err(e) => return super::report_error::error(&e),
    };
    match explorer.run() {
        Ok(ExploreOutcome::Clean {
            cases,
            elapsed,
            out_of_time,
        }) => {
            let why = if out_of_time {
                " (time bound reached)"
            } else {
                ""
            };
            println!(
                "no failure in {cases} cases ({:.1}s){why}; seed {}",
                elapsed.as_secs_f64(),
                args.seed
            );
            EXIT_OK
        }
        Ok(ExploreOutcome::Found(f)) => {
            println!(
                "FOUND a failure at case {} ({:.1}s), shrunk to {} actions in {:.1}s ({} runs); seed {}",
                f.case,
                f.time_to_find.as_secs_f64(),
                f.actions,
                f.shrink_time.as_secs_f64(),
                f.runs,
                args.seed
            );
            let at = match (f.failure.step.as_ref(), f.failure.line) {
                (Some(s), Some(l)) => format!(" (step {s}, line {l})"),
                _ => String::new(),
            };
            println!(
                "  {} [{}]{at}: {}",
                f.verdict.name(),
                f.requirements.join(", "),
                f.failure.message
            );
            if let (Some(e), Some(a)) = (&f.failure.expected, &f.failure.actual) {
                println!("  expected: {e}\n  actual:   {a}");
            }
            if !f.reproduced {
                println!("  warning: the written file passed when run again: the target is not deterministic");
            }
            println!("regression written: {}", f.path.display());
            println!(
                "re-run: hwconform run {} {}",
                f.path.display(),
                scrub.redact_text(&target.run_options())
            );
            EXIT_FAILED
        }
        Err(e) => super::report_error::error(&e),
    }
}
