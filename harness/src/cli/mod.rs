//! The command line: parses arguments, renders errors for people and maps outcomes to the
//! documented exit codes. Everything below it returns typed errors.

use crate::profile::fleet::{Fleet, FleetError};
use crate::scenario::expr::parse_duration;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The composition root's one choice of protocol profile: every layer that knows the
/// protocol (loader, matchers, engine, goldens, reports) gets it from here, passed down. The
/// only place besides `profile/` and `targets/` that names a particular profile.
pub fn profile() -> std::sync::Arc<dyn crate::profile::Profile> {
    std::sync::Arc::new(crate::profile::wecom::WeComProfile)
}

pub mod device_sim;
pub mod diff;
/// Exit codes (documented in docs/src/reference/exit-codes.md).
pub mod exit;
pub mod explore;
pub mod fleet;
pub mod golden;
pub mod ics;
pub mod list;
pub mod manual;
pub mod mock;
pub mod observe;
pub mod output;
pub mod partition;
pub mod rejudge;
pub mod report;
pub mod report_error;
pub mod run;
pub mod run_meta;
pub mod schema;
mod signals;

pub use exit::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
pub use list::selected;

/// The end of `hwconform --help`: what a new user types first, and where the guide is.
const AFTER_HELP: &str = "\
Examples:
  # the whole suite against the built-in mock cloud and reference device
  hwconform run scenarios
  # a cloud under test, with identities it knows
  hwconform run scenarios/cloud --cloud wss://staging.example/ws \\
    --devices-file devices.json
  # a real device that connects to the harness, with its conformance statement
  hwconform run scenarios/device --device listen:0.0.0.0:9000 --ics dut.toml
  # what the library holds for D1 and D10-D19
  hwconform list --filter 'D1*'

Each command has its own help: hwconform run --help. The guide is in the source
tree: README.md, then docs/ (`mdbook build docs` makes it a book); every command
and option is in docs/src/reference/cli.md.";

#[derive(Parser, Debug)]
#[command(
    name = "hwconform",
    version,
    about = "Conformance harness for the WeCom smart-hardware long-connection protocol",
    after_help = AFTER_HELP,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run scenarios against their targets and write reports.
    Run(Box<RunArgs>),
    /// Check scenario files without running them.
    Validate {
        /// Files or directories (searched for *.yaml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List scenarios with their ids, roles, requirements and tags.
    List {
        /// Files or directories (searched for *.yaml).
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
        /// `text` (aligned lines) or `json` (an array for tools).
        #[arg(long, value_enum, default_value_t = list::ListFormat::Text)]
        format: list::ListFormat,
    },
    /// Run the mock cloud as a standalone server.
    Mock(MockArgs),
    /// Run the reference device against a cloud (or the harness playing one).
    DeviceSim(DeviceSimArgs),
    /// Many reference devices against one cloud, with load figures (`fleet merge`: shards).
    Fleet(fleet::FleetCliArgs),
    /// Review or accept pending golden transcripts.
    Golden(golden::GoldenArgs),
    /// What changed between two runs (two JSON run reports).
    Diff(diff::DiffArgs),
    /// Explore random protocol sequences against a cloud or a device.
    Explore(explore::ExploreArgs),
    /// Implementation conformance statements: print the template, check a file.
    Ics(ics::IcsArgs),
    /// Rebuild reports from a run.json, or merge the run.json files of a partitioned run.
    Report(report::ReportArgs),
    /// Print the JSON Schema of a document: `run` (run.json) or `scenario`.
    Schema(schema::SchemaArgs),
    /// Judge a recorded run (run.json) again with this harness's monitors and goldens.
    Rejudge(rejudge::RejudgeArgs),
    /// Stand between devices and a cloud: forward every frame, judge both live, inject faults.
    Observe(observe::ObserveArgs),
    /// Sign the verdicts of manual checks (what the wire cannot show), for the matrix.
    Manual(manual::ManualArgs),
}

#[derive(Args, Debug, Clone)]
pub struct FilterArgs {
    /// Select scenarios by id, tag or requirement id (`*` wildcards: `D1*`, `cloud.*`);
    /// repeatable (any matches). `!PATTERN` excludes instead.
    #[arg(long = "filter", value_name = "ID|TAG|REQ", allow_hyphen_values = true)]
    pub filters: Vec<String>,
    /// Leave out scenarios whose id, tag or requirement id matches (`*` wildcards); repeatable.
    /// Applied after --filter.
    #[arg(long = "exclude", value_name = "ID|TAG|REQ")]
    pub excludes: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct FleetArgs {
    /// A JSON devices file: {"seed_secret_no": "...", "devices": [{"sn": "...", "secret_no": "...", "bound": true}]}.
    #[arg(
        long = "devices-file",
        env = "HWCONFORM_DEVICES_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
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
    /// The device for cloud-role scenarios: `sim`, `sim:fault=NAME[,NAME...]`,
    /// `sim:variant=NAME[,NAME...][;fault=NAME[,NAME...]]`, `listen:ADDR`,
    /// `exec:CMD` (with {url}, {sn}, {secret_no}, {seed_secret_no}) or `none`.
    #[arg(long, default_value = "sim", value_name = "TARGET")]
    pub device: String,
    /// The device's implementation conformance statement (TOML; `hwconform ics template`):
    /// scenarios needing what it says `false` are skipped as not applicable, one needing
    /// what it leaves out stops the run (exit 2). Default for `--device sim`: every feature.
    #[arg(long, value_name = "FILE")]
    pub ics: Option<PathBuf>,
    /// A command run before each cloud-role scenario (power-cycle relay, factory reset).
    #[arg(long, value_name = "CMD")]
    pub device_reset: Option<String>,
    /// The lab's upper tester: a command that makes a real device act (a member checks in),
    /// given the action as JSON on stdin and in HWCONFORM_ACTION; exit 0 when done.
    #[arg(long, value_name = "CMD")]
    pub upper_tester: Option<String>,
    /// The lab's cloud upper tester: a command that makes a cloud with no control plane act
    /// as a corp or a person would (bind, unbind, remote_open_door, fetch_log, scan_qr), given
    /// the action as JSON on stdin and in HWCONFORM_ACTION; exit 0 when done.
    #[arg(long, value_name = "CMD")]
    pub cloud_upper_tester: Option<String>,
    /// Accept any TLS certificate from a wss:// cloud.
    #[arg(long)]
    pub insecure: bool,
    /// The standalone mock's control token (it prints one at start); prefer the environment
    /// variable, which the process list does not show.
    #[arg(
        long,
        env = "HWCONFORM_CONTROL_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub control_token: Option<String>,
    /// Scenarios run at once (at least 1). [default: the number of CPU cores]
    #[arg(long, short = 'j', value_parser = positive, value_name = "N")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Start no further scenario after the first that fails or errors; those not started
    /// are reported as skipped ("not run"), and the exit code is 1.
    #[arg(long)]
    pub fail_fast: bool,
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
    /// The cloud's conformance statement (TOML): its heartbeat expiry, subscribe window,
    /// frame limit, capabilities and the actions its upper tester performs, narrowing the FAQ's ranges the windows are composed
    /// from (docs/src/reference/cloud-statement.md). For a URL target only.
    #[arg(long, value_name = "FILE")]
    pub cloud_statement: Option<PathBuf>,
    /// The corp the in-process mock serves (as `hwconform mock --corp`); goldens are then not
    /// checked, the conversation being about another corp.
    #[arg(long, value_name = "FILE")]
    pub corp: Option<PathBuf>,
    /// Default bound of each waiting step.
    #[arg(long, value_parser = duration_arg, default_value = "10s", value_name = "DURATION")]
    pub step_timeout: Duration,
    /// Bound on each whole scenario, on the scenario clock (virtual for in-process targets).
    #[arg(long, value_parser = duration_arg, default_value = "10m", value_name = "DURATION")]
    pub deadline: Duration,
    /// Bound on each in-process scenario in wall time, whatever its (virtual) scenario clock
    /// says; against a real target at least the deadline plus 30 s.
    #[arg(long, value_parser = duration_arg, default_value = "60s", value_name = "DURATION")]
    pub wall_budget: Duration,
    /// Where reports go: DIR/report.html, junit.xml, run.json, requirements.csv (checked
    /// writable before the run).
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub reports: PathBuf,
    /// The reports to write, comma-separated (default: all).
    #[arg(
        long = "report",
        value_enum,
        value_delimiter = ',',
        value_name = "FORMAT[,FORMAT...]"
    )]
    pub report: Vec<crate::report::ReportFormat>,
    /// Run one shard of the selected scenarios: `count:K/N` (every N-th in id order, from the
    /// K-th) or `hash:K/N` (by a stable hash of the id); merge the shards' run.json files
    /// with `hwconform report merge`.
    #[arg(long, value_name = "count:K/N|hash:K/N")]
    pub partition: Option<partition::Partition>,
    /// Print every scenario's transcript, not only failures'.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Print the requirement table (obligation id → verdicts) after the summary.
    #[arg(long)]
    pub requirements: bool,
    /// Manual verdicts to put in the requirement matrix (`hwconform manual record` writes them).
    #[arg(long, value_name = "FILE")]
    pub manual: Option<PathBuf>,
    #[command(flatten)]
    pub signer: SignerArgs,
    /// Golden transcripts: `check` (default; only for in-process targets unless given
    /// explicitly), `update` (write .snap.new for review) or `off`.
    #[arg(long, value_enum)]
    pub golden: Option<golden::GoldenModeArg>,
    /// Where golden transcripts live (default `golden`, relative to the current directory).
    /// Given, it must hold goldens for `check`; `update` creates it if missing.
    #[arg(long, value_name = "DIR")]
    pub golden_dir: Option<PathBuf>,
}

/// Who signs the report's cover (shown on it and recorded in run.json's `meta`).
#[derive(Args, Debug, Clone, Default)]
pub struct SignerArgs {
    /// The lab that ran the tests and signs the report.
    #[arg(long, env = "HWCONFORM_LAB", value_name = "NAME")]
    pub lab: Option<String>,
    /// The person who ran them.
    #[arg(long, env = "HWCONFORM_OPERATOR", value_name = "NAME")]
    pub operator: Option<String>,
}

impl SignerArgs {
    /// Puts what was given in `meta` (what was not given stays as recorded).
    pub fn apply(&self, meta: &mut crate::report::RunMeta) {
        if let Some(lab) = &self.lab {
            meta.lab = lab.clone();
        }
        if let Some(operator) = &self.operator {
            meta.operator = operator.clone();
        }
    }
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
    /// A link with no traffic for this long is closed with 4000 and its SN freed (C8).
    #[arg(long, value_parser = duration_arg, default_value = "90s", value_name = "DURATION")]
    pub heartbeat_timeout: Duration,
    /// The window of the per-IP subscribe_corp rate limit: the sixth inside it gets 600045 (C11).
    #[arg(long, value_parser = duration_arg, default_value = "60s", value_name = "DURATION")]
    pub subscribe_window: Duration,
    /// Refuse harness control (`/_hwconform/control`), as a real cloud would: scenarios that
    /// need it (binding) are skipped.
    #[arg(long)]
    pub no_control: bool,
    /// The token every control request must present; without it the mock makes one up and
    /// prints it at start. Prefer the environment variable, which the process list does not
    /// show.
    #[arg(
        long,
        env = "HWCONFORM_CONTROL_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub control_token: Option<String>,
    /// The corp the mock serves (directory, visitors, admins, firmware; YAML or JSON, see the
    /// guide's "The mock as a corp"); without it, a small default corp.
    #[arg(long, value_name = "FILE")]
    pub corp: Option<std::path::PathBuf>,
    /// Know N devices by the default test fleet's rule (HWC-TEST-0001 … with their SecretNo
    /// and the default seed), e.g. for `hwconform fleet --devices N` over sockets.
    #[arg(long, value_name = "N", conflicts_with_all = ["devices", "devices_file"])]
    pub fleet_size: Option<usize>,
    /// What the mock logs on stderr: `warn` (default: its startup line and what goes wrong),
    /// `info` (every connection and control operation), `debug` (every frame, secrets
    /// redacted), `trace`, or `error` only. Overrides HWCONFORM_LOG.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub log_level: Option<mock::LogLevel>,
    /// Serve from N processes sharing the port (SO_REUSEPORT), each with its own open-file
    /// limit: one fleet past one process's limit. Credentials any worker issued are accepted
    /// by all; other state (live links, control, rate limits) is each worker's own.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub workers: usize,
}

#[derive(Args, Debug)]
pub struct DeviceSimArgs {
    /// The cloud to dial: ws:// or wss://.
    #[arg(long)]
    pub url: String,
    /// The device's serial number (SN), as the cloud knows it.
    #[arg(long)]
    pub sn: String,
    /// The device's SecretNo; prefer HWCONFORM_SECRET_NO (the process list shows arguments).
    #[arg(
        long = "secret-no",
        env = "HWCONFORM_SECRET_NO",
        hide_env_values = true
    )]
    pub secret_no: String,
    /// Start seed-provisioned with this seed SecretNo (calls get_secret_no first).
    #[arg(
        long = "seed-secret-no",
        env = "HWCONFORM_SEED_SECRET_NO",
        hide_env_values = true
    )]
    pub seed_secret_no: Option<String>,
    /// Break one obligation on purpose; repeatable.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<String>,
    /// Make another conformant choice (see `--device sim:variant=`); repeatable.
    #[arg(long = "variant", value_name = "NAME")]
    pub variants: Vec<String>,
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
    // The standalone mock runs beside a person's other output (often backgrounded): by
    // default it says only what needs their attention.
    let (default_log, forced) = match &cli.command {
        Command::Mock(m) => m.log_level.map_or(("warn", false), |l| (l.as_str(), true)),
        Command::DeviceSim(_) | Command::Observe(_) => ("info", false),
        _ => ("warn", false),
    };
    // stderr, shared by the log, a run's status line and the signal watcher.
    let stderr = crate::report::status::Stderr::default();
    init_tracing(default_log, forced, &stderr);
    match cli.command {
        Command::Run(args) => run::run(*args, stderr),
        Command::Validate { paths } => list::validate(&paths),
        Command::List {
            paths,
            filter,
            format,
        } => list::list(&paths, &filter, format),
        Command::Mock(args) => mock::serve_mock(args),
        Command::DeviceSim(args) => device_sim::device_sim(args),
        Command::Fleet(args) => fleet::cli_fleet(args),
        Command::Golden(args) => golden::cli_golden(args),
        Command::Diff(args) => diff::cli_diff(args),
        Command::Explore(args) => explore::cli_explore(args),
        Command::Ics(args) => ics::cli_ics(args),
        Command::Report(args) => report::cli_report(args),
        Command::Schema(args) => schema::cli_schema(args),
        Command::Manual(args) => manual::cli_manual(args),
        Command::Rejudge(args) => rejudge::cli_rejudge(args),
        Command::Observe(args) => observe::cli_observe(args),
    }
}

/// Logs go to stderr. The WebSocket crates log raw frames (credentials included) at debug
/// and below, so they stay at warn whatever `HWCONFORM_LOG` asks.
/// Whether to colour what goes to `stream`: only a terminal, and never when `NO_COLOR` is set
/// to anything (https://no-color.org).
pub(crate) fn colour(stream: &impl std::io::IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `forced`: a `--log-level` flag chose `default`, over HWCONFORM_LOG.
fn init_tracing(default: &str, forced: bool, stderr: &crate::report::status::Stderr) {
    let wanted = match std::env::var("HWCONFORM_LOG") {
        Ok(env) if !forced => env,
        _ => default.to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{wanted},tungstenite=warn,tokio_tungstenite=warn"
    ))
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a person at a terminal: `mock 2>err.txt` gets plain text.
    let ansi = colour(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer({
            let stderr = stderr.clone();
            move || stderr.writer()
        })
        .with_ansi(ansi)
        .try_init();
}

/// The identities: a devices file, or `SN=SECRET_NO` pairs (flags, then the environment), or
/// the documented default test fleet.
/// The identities of a run or an exploration: the devices file, or `--identity` pairs (plus
/// HWCONFORM_SN/HWCONFORM_SECRET_NO), or the default fleet. The one fleet loader.
/// A count of at least one (`-j 0` would run nothing and say nothing).
fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

pub(crate) fn fleet(file: &FleetArgs, pairs: &[String]) -> Result<Fleet, FleetError> {
    if let Some(file) = &file.devices_file {
        return Fleet::from_file(file);
    }
    if !pairs.is_empty() {
        eprintln!(
            "warning: a SecretNo given on the command line is visible to every user of this host (the process list); \
             prefer --devices-file or HWCONFORM_SN + HWCONFORM_SECRET_NO"
        );
    }
    let mut pairs = pairs.to_vec();
    if let (Ok(sn), Ok(secret)) = (
        std::env::var("HWCONFORM_SN"),
        std::env::var("HWCONFORM_SECRET_NO"),
    ) {
        pairs.push(format!("{sn}={secret}"));
    }
    if pairs.is_empty() {
        Ok(Fleet::default_fleet())
    } else {
        Fleet::from_pairs(&pairs)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, i32> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start a runtime: {e}");
            EXIT_FAILED
        })
}
