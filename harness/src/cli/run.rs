//! `hwconform run`: loads and selects scenarios, builds the targets and the run
//! configuration, runs them with the reporters and maps the outcome to the exit codes.

use super::exit::{EXIT_FAILED, EXIT_OK};
use super::list::{load, selected};
use super::report_error::{self, usage};
use super::{fleet, RunArgs};
use crate::engine::runner::{RunConfig, RunError, Runner};
use crate::profile::CloudTimings;
use crate::profile::Secret;
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
fn expected_of_a_cloud(args: &RunArgs) -> Result<CloudTimings, i32> {
    let mut timings = CloudTimings::FAQ;
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
    }
    if let Some(expiry) = args.heartbeat_timeout {
        timings = timings.with_expiry(expiry);
    }
    timings.subscribe_window = args.subscribe_window.unwrap_or(timings.subscribe_window);
    Ok(timings)
}

pub(super) fn run(args: RunArgs) -> i32 {
    let scenarios = match load(&args.paths) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let scenarios: Vec<Scenario> = scenarios
        .into_iter()
        .filter(|s| selected(s, &args.filter))
        .collect();
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
    // The run's one credential set: every writer below scrubs what it writes with it.
    let credentials = crate::profile::RunCredentials::new(fleet.credentials());
    let argv: Vec<String> = std::env::args().collect();
    let mut meta = super::run_meta::run_meta(&argv, &fleet, &args.cloud, &args.device, &scenarios);
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
    let profile = crate::profile::default_profile();
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
    let timings = match expected_of_a_cloud(&args) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let mut config = RunConfig {
        cloud: cloud.map(|c| c.build(timings)),
        device: device.map(|d| d.build()),
        device_reset: args.device_reset.clone(),
        upper_tester: args.upper_tester.clone(),
        fleet: Arc::new(fleet),
        step_timeout: args.step_timeout,
        deadline: args.deadline,
        wall_budget: args.wall_budget,
        fail_fast: args.fail_fast,
        judges: vec![std::sync::Arc::new(crate::check::golden::GoldenJudge(
            crate::check::golden::GoldenConfig {
                mode: args.golden.map(Into::into).unwrap_or_default(),
                dir: args.golden_dir.clone(),
                explicit: args.golden.is_some(),
            },
        ))],
        profile,
        ics,
        credentials: credentials.clone(),
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
        StatusLine::start(config.live.clone())
    } else {
        None
    };
    if formats.contains(&ReportFormat::Terminal) {
        let terminal = TerminalReporter::new(credentials.fleet.scrub(std::io::stdout()), options)
            .with_manual(manual.clone())
            .with_status(status.clone());
        reporters.push(Box::new(terminal) as Box<dyn Reporter>);
    }
    reporters.push(Box::new(
        FileReports::new(&args.reports, &formats, meta)
            .with_manual(manual)
            .with_credentials(credentials),
    ));
    super::signals::watch(config.interrupt.clone());
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
    if let Some(code) = super::signals::exit_code() {
        return code;
    }
    if summary.ok() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}
