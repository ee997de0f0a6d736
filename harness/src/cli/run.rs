//! `hwconform run`: loads and selects scenarios, builds the targets and the run
//! configuration, runs them with the reporters and maps the outcome to the exit codes.

use super::exit::{EXIT_FAILED, EXIT_OK};
use super::list::{load, selected};
use super::report_error::{self, usage};
use super::{fleet, RunArgs};
use crate::engine::runner::{RunConfig, RunError, Runner};
use crate::profile::CloudTimings;
use crate::profile::Secret;
use crate::report::slow::{SlowLines, PERIOD};
use crate::report::status::StatusLine;
use crate::report::{
    check_writable, FileReports, MultiReporter, ReportFormat, Reporter, TerminalOptions,
    TerminalReporter,
};
use crate::scenario::Scenario;
use crate::targets::mock_cloud::MockCloudTarget;
use crate::targets::{CloudChoice, DeviceChoice};
use crate::wire::transport::Endpoint;
use std::sync::Arc;

fn cloud_target(args: &RunArgs) -> Result<Option<CloudChoice>, String> {
    match args.cloud.as_str() {
        "none" => Ok(None),
        "mock" => {
            let mut timings = CloudTimings::MOCK;
            timings.heartbeat_timeout = args.heartbeat_timeout.unwrap_or(timings.heartbeat_timeout);
            timings.subscribe_window = args.subscribe_window.unwrap_or(timings.subscribe_window);
            let corp = match &args.corp {
                Some(path) => Some(Arc::new(
                    crate::targets::mock::corp::CorpSeed::from_file(path).map_err(|e| {
                        let cause = std::error::Error::source(&e)
                            .map(|c| format!(": {c}"))
                            .unwrap_or_default();
                        format!("--corp: {e}{cause}")
                    })?,
                )),
                None => None,
            };
            Ok(Some(CloudChoice::Mock(MockCloudTarget {
                timings,
                corp,
                ..MockCloudTarget::default()
            })))
        }
        url => {
            Endpoint::parse(url).map_err(|e| {
                format!("--cloud takes `mock`, `none` or a ws:// / wss:// URL: {e}")
            })?;
            Ok(Some(CloudChoice::Url {
                url: url.to_string(),
                insecure: args.insecure,
                control_token: args.control_token.clone().map(Secret::new),
            }))
        }
    }
}

/// What a cloud at a URL is held to: the FAQ's ranges, narrowed by its statement
/// (`--cloud-statement`) or by `--heartbeat-timeout` / `--subscribe-window` (exact values).
/// The statement read, when given, is returned for the report and for what it says the
/// lab's cloud upper tester can do.
fn expected_of_a_cloud(
    args: &RunArgs,
) -> Result<(CloudTimings, Option<crate::ics::cloud::CloudStatement>), i32> {
    let mut timings = CloudTimings::FAQ;
    let mut read = None;
    if let Some(path) = &args.cloud_statement {
        if args.cloud == "mock" {
            return Err(usage(
                "--cloud-statement describes a cloud at a URL; the in-process mock states its own settings (--heartbeat-timeout, --subscribe-window)",
            ));
        }
        let statement = crate::ics::cloud::load_file(path).map_err(|e| {
            eprintln!("{}", e.render());
            super::exit::EXIT_USAGE
        })?;
        if statement.heartbeat_expiry.is_some() && args.heartbeat_timeout.is_some() {
            return Err(usage(format!(
                "the heartbeat expiry is given twice: by --heartbeat-timeout and in {}; give one",
                path.display()
            )));
        }
        if statement.subscribe_window.is_some() && args.subscribe_window.is_some() {
            return Err(usage(format!(
                "the subscribe window is given twice: by --subscribe-window and in {}; give one",
                path.display()
            )));
        }
        timings = statement.timings(timings);
        read = Some(statement);
    }
    if let Some(expiry) = args.heartbeat_timeout {
        timings = timings.with_expiry(expiry);
    }
    timings.subscribe_window = args.subscribe_window.unwrap_or(timings.subscribe_window);
    Ok((timings, read))
}

pub(super) fn run(args: RunArgs, stderr: crate::report::status::Stderr) -> i32 {
    let profile = super::profile();
    let scenarios = match load(&*profile, &args.paths) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (observer, scenarios): (Vec<Scenario>, Vec<Scenario>) = scenarios
        .into_iter()
        .filter(|s| selected(s, &args.filter))
        .partition(|s| s.role == crate::scenario::Role::Observer);
    if !observer.is_empty() {
        eprintln!(
            "left out {} observer scenario(s) (`role: observer`): `hwconform observe --scenario PATH --upstream URL` runs them",
            observer.len()
        );
    }
    if scenarios.is_empty() {
        return usage(format!(
            "no scenario matches (paths {:?}, {})",
            args.paths,
            super::list::describe(&args.filter)
        ));
    }
    let scenarios = match args.partition {
        Some(p) => p.select(scenarios, |s| s.id.value.as_str()),
        None => scenarios,
    };
    let formats = if args.report.is_empty() {
        ReportFormat::ALL.to_vec()
    } else {
        args.report.clone()
    };
    if formats.iter().any(|f| f.file_name().is_some()) {
        if let Err(e) = check_writable(&args.reports) {
            return report_error::usage_error(&e);
        }
    }
    let manual = match super::manual::load_records(args.manual.as_deref()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let fleet = match fleet(&args.fleet, &args.identities) {
        Ok(f) => f,
        Err(e) => return report_error::usage_error(&e),
    };
    let cloud = match cloud_target(&args) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let device = match args.device.as_str() {
        "none" => None,
        text => match DeviceChoice::parse(text) {
            Ok(d) => Some(d),
            Err(e) => return usage(e),
        },
    };
    if let Some(DeviceChoice::Exec { command }) = &device {
        if command.contains("{secret_no}") || command.contains("{seed_secret_no}") {
            eprintln!(
                "warning: `{{secret_no}}` puts the SecretNo on the device command's command line, visible to every user of this host; \
                 the command also gets it in HWCONFORM_SECRET_NO (and the seed in HWCONFORM_SEED_SECRET_NO)"
            );
        }
    }
    // Goldens are compared only for the in-process targets unless asked for.
    let in_process = args.cloud == "mock" || args.device.starts_with("sim");
    let golden = match super::golden::config(args.golden, args.golden_dir.as_deref(), in_process) {
        Ok((g, note)) => {
            if let Some(note) = note {
                eprintln!("note: {note}");
            }
            g
        }
        Err(e) => return usage(e),
    };
    let slow_period = match slow_period() {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    // The run's one credential set: every writer below scrubs what it writes with it.
    let credentials = crate::profile::RunCredentials::new(fleet.credentials());
    let argv: Vec<String> = std::env::args().collect();
    let mut meta = super::run_meta::run_meta(
        &*profile,
        &argv,
        &fleet,
        &args.cloud,
        &args.device,
        &scenarios,
    );
    args.signer.apply(&mut meta);
    for (flag, path, into) in [
        ("--ics", &args.ics, &mut meta.ics_file),
        ("--manual", &args.manual, &mut meta.manual_file),
    ] {
        if let Some(path) = path {
            match crate::report::json::HashedFile::read(path) {
                Ok(f) => *into = Some(f),
                Err(e) => return usage(format!("{flag} {}: {e}", path.display())),
            }
        }
    }
    meta.partition = args.partition.map(|p| p.to_string());
    let ics = match super::ics::for_run(args.ics.as_deref(), device.as_ref(), &fleet, &*profile) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let under_test = crate::report::matrix::DeviceRef::new(
        ics.as_ref().map(|i| i.summary()).as_ref(),
        meta.ics_file.as_ref(),
        fleet
            .devices
            .iter()
            .map(|d| d.identity.sn.clone())
            .collect(),
    );
    if let Err(code) = super::manual::check_device(args.manual.as_deref(), &manual, &under_test) {
        return code;
    }
    let (timings, cloud_upper_tester_actions) = match expected_of_a_cloud(&args) {
        Ok((t, statement)) => {
            let actions = statement
                .as_ref()
                .and_then(|s| s.upper_tester_actions.clone());
            if let (Some(path), Some(statement)) = (&args.cloud_statement, statement) {
                match crate::report::json::HashedFile::read(path) {
                    Ok(f) => meta.cloud_statement_file = Some(f),
                    Err(e) => return usage(format!("--cloud-statement {}: {e}", path.display())),
                }
                meta.cloud_statement = Some(statement.summary());
            }
            (t, actions)
        }
        Err(code) => return code,
    };
    let mut config = RunConfig {
        cloud: cloud.map(|c| c.build(timings)),
        device: device.map(|d| d.build()),
        device_reset: args.device_reset.clone(),
        upper_tester: args.upper_tester.clone(),
        cloud_upper_tester: args.cloud_upper_tester.clone(),
        cloud_upper_tester_actions,
        fleet: Arc::new(fleet),
        step_timeout: args.step_timeout,
        deadline: args.deadline,
        wall_budget: args.wall_budget,
        fail_fast: args.fail_fast,
        judges: vec![std::sync::Arc::new(crate::check::golden::GoldenJudge {
            config: golden,
            profile: profile.clone(),
        })],
        profile,
        ics,
        credentials: credentials.clone(),
        remedies: Arc::new(crate::targets::remedies()),
        ..RunConfig::default()
    };
    if let Some(j) = args.jobs {
        config.jobs = j.max(1);
    }
    let color = super::colour(&std::io::stdout());
    let options = TerminalOptions {
        verbose: args.verbose,
        color,
        requirements: args.requirements,
    };
    let mut reporters = MultiReporter::default();
    let status = if formats.contains(&ReportFormat::Terminal) {
        StatusLine::start(config.live.clone(), &stderr)
    } else {
        None
    };
    if formats.contains(&ReportFormat::Terminal) {
        let terminal =
            TerminalReporter::new(credentials.fleet.scrub(super::output::Stdout), options)
                .with_manual(manual.clone())
                .with_obligations(meta.obligations.clone())
                .with_status(status.clone());
        reporters.push(Box::new(terminal) as Box<dyn Reporter>);
    }
    reporters.push(Box::new(
        FileReports::new(&args.reports, &formats, meta)
            .with_manual(manual)
            .with_credentials(credentials),
    ));
    // Where no status line is drawn (a CI log), a line for each scenario still running now
    // and then, so the log never goes silent for long.
    config.slow_period = slow_period;
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        reporters.push(Box::new(SlowLines::new(std::io::stderr())));
    }
    let interrupt = config.interrupt.clone();
    super::signals::watch(interrupt.clone(), stderr, config.children.clone());
    let mut report_error = None;
    let outcome = Runner::new(config).run(&scenarios, |event| {
        if let Err(e) = reporters.on_event(&event) {
            report_error.get_or_insert(e);
        }
    });
    if let Some(s) = &status {
        s.finish();
    }
    let summary = match outcome {
        Ok(s) => s,
        Err(
            e @ (RunError::IcsIncomplete { .. }
            | RunError::FleetTooSmall { .. }
            | RunError::EmptyFleet),
        ) => return report_error::usage_error(&e),
        Err(e) => return report_error::error(&e),
    };
    if let Some(e) = report_error {
        report_error::print_in("writing reports", &e);
        return EXIT_FAILED;
    }
    super::output::print_written(&super::output::report_files(&args.reports, &formats));
    if let Some(code) = super::signals::exit_code(&interrupt) {
        return code;
    }
    if summary.ok() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// The SLOW lines' period: HWCONFORM_SLOW_PERIOD (a duration, e.g. `30s`) or a minute.
fn slow_period() -> Result<std::time::Duration, String> {
    match std::env::var("HWCONFORM_SLOW_PERIOD") {
        Ok(text) => match super::duration_arg(&text) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => Err("HWCONFORM_SLOW_PERIOD must be longer than 0".into()),
            Err(e) => Err(format!("HWCONFORM_SLOW_PERIOD={text:?}: {e}")),
        },
        Err(_) => Ok(PERIOD),
    }
}
