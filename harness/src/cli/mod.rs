//! The command line: parses arguments, renders errors for people and maps outcomes to the
//! documented exit codes. Everything below it returns typed errors.

use crate::engine::runner::{RunConfig, Runner};
use crate::targets::mock_cloud::MockCloudTarget;
use crate::targets::{CloudChoice, DeviceChoice};
use crate::wire::transport::Endpoint;
use crate::profile::fleet::{Fleet, FleetError};
use crate::profile::CloudTimings;
use crate::report::{JsonReporter, JunitReporter, MultiReporter, Reporter, TerminalOptions, TerminalReporter};
use crate::scenario::expr::parse_duration;
use crate::scenario::{load_paths, Scenario};
use crate::targets::mock::{self, MockConfig};
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Exit codes (documented in the README).
pub mod diff;
pub mod exit;
pub mod explore;
pub mod golden;

pub use exit::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

#[derive(Parser, Debug)]
#[command(name = "hwconform", version, about = "Conformance harness for the WeCom smart-hardware long-connection protocol")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run scenarios against their targets and write reports.
    Run(RunArgs),
    /// Check scenario files without running them.
    Validate {
        /// Files or directories (searched for *.yaml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List scenarios with their ids, roles, requirements and tags.
    List {
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Run the mock cloud as a standalone server.
    Mock(MockArgs),
    /// Run the reference device against a cloud (or the harness playing one).
    DeviceSim(DeviceSimArgs),
    /// Review or accept pending golden transcripts.
    Golden(golden::GoldenArgs),
    /// What changed between two runs (two JSON run reports).
    Diff(diff::DiffArgs),
    /// Explore random protocol sequences against a cloud or a device.
    Explore(explore::ExploreArgs),
}

#[derive(Args, Debug, Clone)]
pub struct FilterArgs {
    /// Select scenarios by id (`*` wildcards), tag or requirement id; repeatable (any matches).
    #[arg(long = "filter", value_name = "ID|TAG|REQ")]
    pub filters: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct FleetArgs {
    /// A JSON devices file: {"seed_secret_no": "...", "devices": [{"sn": "...", "secret_no": "...", "bound": true}]}.
    #[arg(long = "devices-file", env = "HWCONFORM_DEVICES_FILE", value_name = "FILE")]
    pub devices_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario files or directories.
    #[arg(default_value = "scenarios")]
    pub paths: Vec<PathBuf>,
    /// The cloud for device-role scenarios: `mock` (in-process), a ws:// / wss:// URL, or `none`.
    #[arg(long, default_value = "mock", value_name = "mock|URL|none")]
    pub cloud: String,
    /// The device for cloud-role scenarios: `sim`, `sim:fault=NAME[,NAME...]`, `listen:ADDR`,
    /// `exec:CMD` (with {url}, {sn}, {secret_no}) or `none`.
    #[arg(long, default_value = "sim", value_name = "TARGET")]
    pub device: String,
    /// A command run before each cloud-role scenario (power-cycle relay, factory reset).
    #[arg(long, value_name = "CMD")]
    pub device_reset: Option<String>,
    /// Accept any TLS certificate from a wss:// cloud.
    #[arg(long)]
    pub insecure: bool,
    /// Scenarios run at once.
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// A device identity `SN=SECRET_NO`; repeatable (or HWCONFORM_SN + HWCONFORM_SECRET_NO).
    #[arg(long = "identity", value_name = "SN=SECRET_NO")]
    pub identities: Vec<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// The cloud's heartbeat expiry (`${heartbeat_timeout}`): the in-process mock's setting;
    /// for a URL, what the cloud is expected to use (the standalone mock reports its own).
    #[arg(long, value_parser = duration_arg, value_name = "DURATION")]
    pub heartbeat_timeout: Option<Duration>,
    /// The subscribe rate-limit window (`${subscribe_window}`), likewise.
    #[arg(long, value_parser = duration_arg, value_name = "DURATION")]
    pub subscribe_window: Option<Duration>,
    /// Default bound of each waiting step.
    #[arg(long, value_parser = duration_arg, default_value = "10s", value_name = "DURATION")]
    pub step_timeout: Duration,
    /// Bound on each whole scenario.
    #[arg(long, value_parser = duration_arg, default_value = "10m", value_name = "DURATION")]
    pub deadline: Duration,
    /// Where reports go: DIR/junit.xml and DIR/run.json.
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub reports: PathBuf,
    /// Print every scenario's transcript, not only failures'.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Print the requirement table (obligation id → verdicts) after the summary.
    #[arg(long)]
    pub requirements: bool,
    /// Golden transcripts: `check` (default; only for in-process targets unless given
    /// explicitly), `update` (write .snap.new for review) or `off`.
    #[arg(long, value_enum)]
    pub golden: Option<golden::GoldenModeArg>,
    /// Where golden transcripts live.
    #[arg(long, default_value = "golden", value_name = "DIR")]
    pub golden_dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct MockArgs {
    /// Address to listen on; port 0 picks a free one. The URL is the first line on stdout.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// A device the mock knows, `SN=SECRET_NO`; repeatable.
    #[arg(long = "device", value_name = "SN=SECRET_NO")]
    pub devices: Vec<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[arg(long, value_parser = duration_arg, default_value = "90s", value_name = "DURATION")]
    pub heartbeat_timeout: Duration,
    #[arg(long, value_parser = duration_arg, default_value = "60s", value_name = "DURATION")]
    pub subscribe_window: Duration,
}

#[derive(Args, Debug)]
pub struct DeviceSimArgs {
    /// The cloud to dial: ws:// or wss://.
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub sn: String,
    #[arg(long = "secret-no", env = "HWCONFORM_SECRET_NO", hide_env_values = true)]
    pub secret_no: String,
    /// Start seed-provisioned with this seed SecretNo (calls get_secret_no first).
    #[arg(long = "seed-secret-no", env = "HWCONFORM_SEED_SECRET_NO", hide_env_values = true)]
    pub seed_secret_no: Option<String>,
    /// Break one obligation on purpose; repeatable.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<String>,
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    let default_log = match cli.command {
        Command::Mock(_) | Command::DeviceSim(_) => "info",
        _ => "warn",
    };
    init_tracing(default_log);
    match cli.command {
        Command::Run(args) => run(args),
        Command::Validate { paths } => validate(&paths),
        Command::List { paths, filter } => list(&paths, &filter),
        Command::Mock(args) => serve_mock(args),
        Command::DeviceSim(args) => device_sim(args),
        Command::Golden(args) => golden::cli_golden(args),
        Command::Diff(args) => diff::cli_diff(args),
        Command::Explore(args) => explore::cli_explore(args),
    }
}

/// Logs go to stderr. The WebSocket crates log raw frames (credentials included) at debug
/// and below, so they stay at warn whatever `HWCONFORM_LOG` asks.
fn init_tracing(default: &str) {
    let wanted = std::env::var("HWCONFORM_LOG").unwrap_or_else(|_| default.to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{wanted},tungstenite=warn,tokio_tungstenite=warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn usage(message: impl std::fmt::Display) -> i32 {
    eprintln!("error: {message}");
    EXIT_USAGE
}

/// The identities: a devices file, or `SN=SECRET_NO` pairs (flags, then the environment), or
/// the documented default test fleet.
/// The identities of a run or an exploration: the devices file, or `--identity` pairs (plus
/// HWCONFORM_SN/HWCONFORM_SECRET_NO), or the default fleet. The one fleet loader.
pub(crate) fn fleet(file: &FleetArgs, pairs: &[String]) -> Result<Fleet, FleetError> {
    if let Some(file) = &file.devices_file {
        return Fleet::from_file(file);
    }
    let mut pairs = pairs.to_vec();
    if let (Ok(sn), Ok(secret)) = (std::env::var("HWCONFORM_SN"), std::env::var("HWCONFORM_SECRET_NO")) {
        pairs.push(format!("{sn}={secret}"));
    }
    if pairs.is_empty() {
        Ok(Fleet::default_fleet())
    } else {
        Fleet::from_pairs(&pairs)
    }
}

fn load(paths: &[PathBuf]) -> Result<Vec<Scenario>, i32> {
    load_paths(paths).map_err(|e| {
        eprintln!("{}", e.render());
        EXIT_USAGE
    })
}

/// Whether a scenario is selected: no filters, or any filter names its id (with `*`
/// wildcards), one of its tags or one of its requirement ids.
pub fn selected(sc: &Scenario, filters: &[String]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| glob(f, &sc.id.value) || sc.tags.iter().any(|t| t == f) || sc.requirements.iter().any(|r| &r.value == f))
}

/// `*` matches any run of characters. Greedy with one backtrack point: linear in practice,
/// never exponential, whatever the pattern.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn cloud_target(args: &RunArgs) -> Result<Option<CloudChoice>, String> {
    match args.cloud.as_str() {
        "none" => Ok(None),
        "mock" => {
            let mut timings = CloudTimings::MOCK;
            timings.heartbeat_timeout = args.heartbeat_timeout.unwrap_or(timings.heartbeat_timeout);
            timings.subscribe_window = args.subscribe_window.unwrap_or(timings.subscribe_window);
            Ok(Some(CloudChoice::Mock(MockCloudTarget { timings, ..MockCloudTarget::default() })))
        }
        url => {
            Endpoint::parse(url).map_err(|e| format!("--cloud takes `mock`, `none` or a ws:// / wss:// URL: {e}"))?;
            Ok(Some(CloudChoice::Url { url: url.to_string(), insecure: args.insecure }))
        }
    }
}

fn run(args: RunArgs) -> i32 {
    let scenarios = match load(&args.paths) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let scenarios: Vec<Scenario> = scenarios.into_iter().filter(|s| selected(s, &args.filter.filters)).collect();
    if scenarios.is_empty() {
        return usage(format!("no scenario matches (paths {:?}, filters {:?})", args.paths, args.filter.filters));
    }
    let fleet = match fleet(&args.fleet, &args.identities) {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    let cloud = match cloud_target(&args) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let device = match args.device.as_str() {
        "none" => None,
        text => match DeviceChoice::parse(text) {
            Ok(d) => Some(d.build()),
            Err(e) => return usage(e),
        },
    };
    let mut timings = CloudTimings::FAQ;
    timings.heartbeat_timeout = args.heartbeat_timeout.unwrap_or(timings.heartbeat_timeout);
    timings.subscribe_window = args.subscribe_window.unwrap_or(timings.subscribe_window);
    let mut config = RunConfig {
        cloud: cloud.map(|c| c.build(timings)),
        device,
        device_reset: args.device_reset.clone(),
        fleet: Arc::new(fleet),
        step_timeout: args.step_timeout,
        deadline: args.deadline,
        judges: vec![std::sync::Arc::new(crate::check::golden::GoldenJudge(crate::check::golden::GoldenConfig {
            mode: args.golden.map(Into::into).unwrap_or_default(),
            dir: args.golden_dir.clone(),
            explicit: args.golden.is_some(),
        }))],
        ..RunConfig::default()
    };
    if let Some(j) = args.jobs {
        config.jobs = j.max(1);
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let options = TerminalOptions { verbose: args.verbose, color, requirements: args.requirements };
    let mut reporters = MultiReporter::new(vec![
        Box::new(TerminalReporter::new(std::io::stdout(), options)) as Box<dyn Reporter>,
        Box::new(JunitReporter::new(args.reports.join("junit.xml"))),
        Box::new(JsonReporter::new(args.reports.join("run.json"))),
    ]);
    let mut report_error = None;
    let outcome = Runner::new(config).run(&scenarios, |event| {
        if let Err(e) = reporters.on_event(&event) {
            report_error.get_or_insert(e);
        }
    });
    let summary = match outcome {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    };
    if let Some(e) = report_error {
        eprintln!("error: writing reports: {e}");
        return EXIT_FAILED;
    }
    if summary.ok() { EXIT_OK } else { EXIT_FAILED }
}

fn validate(paths: &[PathBuf]) -> i32 {
    match load(paths) {
        Ok(s) => {
            println!("{} scenario(s) valid", s.len());
            EXIT_OK
        }
        Err(code) => code,
    }
}

fn list(paths: &[PathBuf], filter: &FilterArgs) -> i32 {
    let scenarios = match load(paths) {
        Ok(s) => s,
        Err(code) => return code,
    };
    for sc in scenarios.iter().filter(|s| selected(s, &filter.filters)) {
        let reqs: Vec<&str> = sc.requirements.iter().map(|r| r.value.as_str()).collect();
        println!("{:<56} {:<6} [{}] {{{}}}  {}", sc.id.value, sc.role.as_str(), reqs.join(","), sc.tags.join(","), sc.title);
    }
    EXIT_OK
}

fn runtime() -> Result<tokio::runtime::Runtime, i32> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
        eprintln!("error: cannot start a runtime: {e}");
        EXIT_FAILED
    })
}

fn serve_mock(args: MockArgs) -> i32 {
    let fleet = match fleet(&args.fleet, &args.devices) {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    let timings = CloudTimings { heartbeat_timeout: args.heartbeat_timeout, subscribe_window: args.subscribe_window, ..CloudTimings::MOCK };
    let config = MockConfig { fleet, timings, ..MockConfig::default() };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let (addr, handle) = match mock::listen(config, args.listen).await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", args.listen);
                return EXIT_FAILED;
            }
        };
        println!("ws://{addr}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tracing::info!(%addr, "mock cloud listening");
        tokio::select! {
            _ = handle => EXIT_FAILED,
            _ = tokio::signal::ctrl_c() => EXIT_OK,
        }
    })
}

fn device_sim(args: DeviceSimArgs) -> i32 {
    use crate::targets::sim::{self, SimConfig, SimFault};
    if let Err(e) = Endpoint::parse(&args.url) {
        return usage(e);
    }
    let mut config = SimConfig::new(crate::profile::DeviceIdentity::new(args.sn.clone(), args.secret_no.clone()));
    config.seed_secret_no = args.seed_secret_no.clone().map(crate::profile::Secret::new);
    config.start_unix = crate::engine::clock::wall_unix();
    for name in &args.faults {
        match SimFault::parse(name) {
            Some(f) => {
                config.faults.insert(f);
            }
            None => return usage(format!("unknown fault {name:?}; known: {}", SimFault::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "))),
        }
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        tokio::select! {
            r = sim::run_standalone(&args.url, config) => match r {
                Ok(()) => EXIT_OK,
                Err(e) => {
                    eprintln!("error: {e}");
                    EXIT_FAILED
                }
            },
            _ = tokio::signal::ctrl_c() => EXIT_OK,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("cloud.*", "cloud.lifecycle.register"));
        assert!(glob("*register*", "cloud.lifecycle.register-twice"));
        assert!(!glob("cloud.*.x", "cloud.a.y"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
        assert!(glob("**", ""));
        // A pattern that backtracks exponentially in a naive matcher.
        let text = "a".repeat(200);
        assert!(!glob(&format!("{}Z", "*".repeat(40)), &text));
    }
}
