//! `hwconform observe`: stands between devices and a cloud, forwards every frame, judges both
//! parties live, and writes the run's reports when stopped (SIGINT, SIGTERM or --duration).

use super::exit::{EXIT_FAILED, EXIT_OK};
use super::report::{write, ReportFiles};
use super::report_error::usage_error;
use super::{duration_arg, runtime};
use crate::engine::event::{Event, RunClock, RunEvent};
use crate::engine::verdict::{RunSummary, ScenarioResult, Severity};
use crate::observe::{LinkFault, ObserveConfig, Observer, OnFinding};
use crate::report::json::now_rfc3339;
use crate::report::{RunMeta, RunReport};
use crate::scenario::Role;
use crate::wire::transport::Endpoint;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct ObserveArgs {
    /// Where devices connect (ws://); port 0 picks a free one. The URL is the first line on
    /// stdout.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The cloud each device is connected to: ws:// or wss:// (the real cloud, a staging
    /// endpoint, or `hwconform mock`).
    #[arg(long, value_name = "URL")]
    pub upstream: String,
    /// Accept any TLS certificate from a wss:// upstream.
    #[arg(long)]
    pub insecure: bool,
    /// Devices connect with TLS (wss://) under this lab certificate chain (PEM); needs
    /// --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A fault on the live link, `ACTION:DIRECTION:PATTERN[:DURATION][@COUNT|@every]`
    /// (drop, delay, dup, reset, half-open, new-address; to-cloud, to-device; any, cmd=NAME,
    /// reply=NAME), e.g. `drop:to-device:reply=register`; takes the first matching frame of
    /// each device connection (the first COUNT, or every one). Repeatable.
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<LinkFault>,
    /// Where a device moved by a `new-address` fault reconnects to the cloud from, in turn
    /// (default on loopback: 127.0.0.2, 127.0.0.3, …). Repeatable.
    #[arg(long = "source-address", value_name = "IP")]
    pub sources: Vec<std::net::IpAddr>,
    /// Stop after this long (default: at SIGINT or SIGTERM).
    #[arg(long, value_parser = duration_arg, value_name = "DURATION")]
    pub duration: Option<Duration>,
    /// Write per device connection a device-certification scenario replaying the cloud's
    /// side of it (`DIR/recorded.NNN.SN.yaml`), ready to edit and run against the device.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Run observer scenarios (`role: observer`, files or directories) instead of serving
    /// devices: each starts --device, relays it to --upstream, applies the scenario's faults
    /// and judges its expectations. Repeatable.
    /// (Its faults are its `fault` steps, and it ends with its steps: not with --fault,
    /// --duration or --record.)
    #[arg(long = "scenario", value_name = "PATH", conflicts_with_all = ["faults", "duration", "record"])]
    pub scenarios: Vec<PathBuf>,
    /// The device of the observer scenarios (with --scenario): sim, sim:fault=NAME,
    /// exec:CMD or listen:ADDR, as for `run --device`; it is the default fleet's first device.
    #[arg(long, default_value = "sim", value_name = "DEVICE")]
    pub device: String,
    #[command(flatten)]
    pub out: ReportFiles,
}

/// A URL as reports show it: without its query, which may carry a credential.
fn shown(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// The observer's event stream as it happens: each finding with the device's SN, and each
/// notice about its own judging (a transcript full).
fn print_event(e: Event) {
    if let RunEvent::Notice { text } = &e.kind {
        println!("{text}");
        let _ = std::io::stdout().flush();
    }
    if let RunEvent::Finding { id, finding, .. } = &e.kind {
        let severity = match finding.severity {
            Severity::Fail => "fail",
            Severity::Warning => "warn",
        };
        println!("{id} {} {severity}: {}", finding.rule, finding.message);
        let _ = std::io::stdout().flush();
    }
}

pub fn cli_observe(args: ObserveArgs) -> i32 {
    let upstream = match Endpoint::parse(&args.upstream) {
        Ok(e) => e,
        Err(e) => return usage_error(&e),
    };
    if let Err(e) = crate::report::check_writable(&args.out.reports) {
        return usage_error(&e);
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    if !args.scenarios.is_empty() {
        return observe_scenarios(&args, upstream, &rt);
    }
    let started_at = now_rfc3339();
    let wall = Instant::now();
    let on_finding = OnFinding::new(RunClock::start(), print_event);
    // A device moved off loopback needs an address of the observer's host to come from.
    let moves = args
        .faults
        .iter()
        .any(|f| f.action == crate::observe::fault::Action::NewAddress);
    let on_loopback = upstream.host == "localhost"
        || upstream
            .host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    if moves && args.sources.is_empty() && !on_loopback {
        return usage_error(&std::io::Error::other(format!(
            "a new-address fault needs --source-address: the upstream {} is not on loopback, where the observer would take 127.0.0.2 and up",
            upstream.host
        )));
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match crate::observe::ListenTls::from_pem(cert, key) {
            Ok(t) => Some(t),
            Err(e) => return usage_error(&e),
        },
        _ => None,
    };
    let config = ObserveConfig {
        upstream,
        insecure: args.insecure,
        sources: args.sources.clone(),
        tls,
        faults: args.faults.clone(),
        on_finding,
    };
    let observed = rt.block_on(async {
        let observer = match Observer::bind(args.listen, config, super::profile()) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", args.listen);
                return None;
            }
        };
        match observer.url() {
            Ok(url) => println!("{url}"),
            Err(e) => {
                eprintln!("error: {e}");
                return None;
            }
        }
        let _ = std::io::stdout().flush();
        let duration = args.duration;
        let stop = async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return std::future::pending().await;
            };
            let timer = async {
                match duration {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            let why = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
                _ = timer => "--duration",
            };
            eprintln!("{why}: closing the links and writing the reports");
        };
        Some(observer.run(stop).await)
    });
    let Some(observed) = observed else {
        return EXIT_FAILED;
    };
    let mut summary = RunSummary {
        wall_time: wall.elapsed(),
        ..RunSummary::default()
    };
    for r in &observed.results {
        summary.add(&r.verdict);
    }
    let target = format!(
        "observe: devices at {} <-> {}",
        args.listen,
        shown(&args.upstream)
    );
    if let Some(dir) = &args.record {
        if let Err(e) = record(dir, &observed.results) {
            eprintln!(
                "error: cannot write the recorded scenarios in {}: {e}",
                dir.display()
            );
            return EXIT_FAILED;
        }
    }
    finish(
        &args,
        target,
        summary,
        observed.results,
        observed.forwarded,
        started_at,
    )
}

/// Writes the run's reports and prints its summary; the exit code.
fn finish(
    args: &ObserveArgs,
    target: String,
    summary: RunSummary,
    results: Vec<ScenarioResult>,
    forwarded: u64,
    started_at: String,
) -> i32 {
    let scenario_mode = !args.scenarios.is_empty();
    let mut report = RunReport::new(target, summary, results);
    let mut meta = RunMeta::for_profile(&*super::profile());
    meta.started_at = started_at;
    meta.finished_at = now_rfc3339();
    meta.command_line = std::env::args().map(|a| shown(&a).to_string()).collect();
    meta.targets
        .insert("cloud".into(), shown(&args.upstream).to_string());
    let device = match scenario_mode {
        true => args.device.clone(),
        false => format!("listen:{}", args.listen),
    };
    meta.targets.insert("device".into(), device);
    report.meta = meta;
    let s = &report.summary;
    // Two results per link (the views across an SN's links are not links).
    let links = report
        .scenarios
        .iter()
        .filter(|r| r.file.to_string_lossy().starts_with("observe/link"))
        .count()
        / 2;
    let what = match scenario_mode {
        true => format!(
            "ran {} observer scenario(s) over {links} device connection(s)",
            report
                .scenarios
                .iter()
                .filter(|r| r.role == Role::Observer)
                .count()
        ),
        false => format!("observed {links} device connection(s), {forwarded} frames forwarded"),
    };
    println!(
        "{what}: {} passed, {} failed, {} inconclusive, {} errored",
        s.passed, s.failed, s.inconclusive, s.errored
    );
    for row in report
        .requirements
        .iter()
        .filter(|r| r.status == crate::report::matrix::Status::Fail)
    {
        println!("  {} fail", row.id);
    }
    let code = write(&report, &args.out);
    if code != EXIT_OK {
        return code;
    }
    println!("reports in {}", args.out.reports.display());
    if report.summary.ok() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// `observe --scenario`: each observer scenario in turn, its device started afresh.
fn observe_scenarios(args: &ObserveArgs, upstream: Endpoint, rt: &tokio::runtime::Runtime) -> i32 {
    let profile = super::profile();
    let scenarios = match crate::scenario::load_paths_with(&*profile, &args.scenarios) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", e.render());
            return super::exit::EXIT_USAGE;
        }
    };
    let (observer, other): (Vec<_>, Vec<_>) = scenarios
        .into_iter()
        .partition(|s| s.role == Role::Observer);
    for s in &other {
        eprintln!(
            "{}: `role: {}`, not an observer scenario: left out (`hwconform run` runs it)",
            s.source.path.display(),
            s.role.as_str()
        );
    }
    if observer.is_empty() {
        return super::report_error::usage(
            "no observer scenario (`role: observer`) among the --scenario paths",
        );
    }
    let device = match crate::targets::DeviceChoice::parse(&args.device) {
        Ok(d) => d.build(),
        Err(e) => return super::report_error::usage(format!("--device {}: {e}", args.device)),
    };
    let started_at = now_rfc3339();
    let wall = Instant::now();
    let setup = crate::observe::scenario::ScenarioSetup {
        upstream,
        insecure: args.insecure,
        device,
        identity: crate::profile::Fleet::default_fleet().devices[0]
            .identity
            .clone(),
        profile,
        on_finding: OnFinding::new(RunClock::start(), print_event),
        children: Arc::default(),
    };
    let mut results = Vec::new();
    for sc in &observer {
        let got = rt.block_on(crate::observe::scenario::run(sc, &setup));
        if let Some(own) = got.first() {
            println!("{}: {}", own.id, own.verdict.name());
        }
        results.extend(got);
    }
    setup.children.kill_all();
    let mut summary = RunSummary {
        wall_time: wall.elapsed(),
        ..RunSummary::default()
    };
    for r in &results {
        summary.add(&r.verdict);
    }
    let target = format!("observe: {} <-> {}", args.device, shown(&args.upstream));
    finish(args, target, summary, results, 0, started_at)
}

/// Writes the recorded scenario of each device connection that said something.
fn record(dir: &std::path::Path, results: &[ScenarioResult]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let profile = super::profile();
    for r in results
        .iter()
        .filter(|r| r.role == Role::Cloud && r.judged.is_some())
    {
        if let Some(text) = crate::observe::record::scenario_yaml(r, &*profile) {
            let name =
                r.id.strip_suffix(".device")
                    .unwrap_or(&r.id)
                    .replacen("observe.", "recorded.", 1);
            let path = dir.join(format!("{name}.yaml"));
            std::fs::write(&path, text)?;
            println!("recorded {}", path.display());
        }
    }
    Ok(())
}
