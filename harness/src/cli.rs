//! The command line: parses arguments, renders errors for people and maps outcomes to the
//! documented exit codes. Everything below it returns typed errors.

use crate::engine::runner::{CloudTarget, RunConfig, Runner};
use crate::engine::target::{MockTarget, TargetSettings};
use crate::protocol::fleet::Fleet;
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
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

#[derive(Parser, Debug)]
#[command(name = "hwconform", version, about = "Conformance harness for the WeCom smart-hardware long-connection protocol")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run scenarios against a target and write reports.
    Run(RunArgs),
    /// Check scenario files without running them.
    Validate {
        /// Files or directories (searched for *.yaml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List scenarios with their ids, requirements and tags.
    List {
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Run the mock cloud as a standalone server.
    Mock(MockArgs),
}

#[derive(Args, Debug, Clone)]
pub struct FilterArgs {
    /// Select scenarios by id (`*` wildcards), tag or requirement id; repeatable (any matches).
    #[arg(long = "filter", value_name = "ID|TAG|REQ")]
    pub filters: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct IdentityArgs {
    /// A device identity `SN=SECRET_NO`; repeatable.
    #[arg(long = "device", value_name = "SN=SECRET_NO")]
    pub devices: Vec<String>,
    /// A JSON devices file: {"seed_secret_no": "...", "devices": [{"sn": "...", "secret_no": "...", "bound": true}]}.
    #[arg(long = "devices-file", env = "HWCONFORM_DEVICES_FILE", value_name = "FILE")]
    pub devices_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario files or directories.
    #[arg(default_value = "scenarios")]
    pub paths: Vec<PathBuf>,
    /// The cloud: `mock` (in-process, the default) or a ws:// / wss:// URL.
    #[arg(long, default_value = "mock", value_name = "mock|URL")]
    pub cloud: String,
    /// Accept any TLS certificate from a wss:// cloud.
    #[arg(long)]
    pub insecure: bool,
    /// Scenarios run at once.
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// The cloud's heartbeat expiry (`${heartbeat_timeout}`): the mock's setting in-process;
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
}

#[derive(Args, Debug)]
pub struct MockArgs {
    /// Address to listen on; port 0 picks a free one. The URL is the first line on stdout.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[arg(long, value_parser = duration_arg, default_value = "90s", value_name = "DURATION")]
    pub heartbeat_timeout: Duration,
    #[arg(long, value_parser = duration_arg, default_value = "60s", value_name = "DURATION")]
    pub subscribe_window: Duration,
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
    init_tracing();
    match cli.command {
        Command::Run(args) => run(args),
        Command::Validate { paths } => validate(&paths),
        Command::List { paths, filter } => list(&paths, &filter),
        Command::Mock(args) => serve_mock(args),
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HWCONFORM_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn fleet(identity: &IdentityArgs) -> Result<Fleet, String> {
    let from_env = match (std::env::var("HWCONFORM_SN"), std::env::var("HWCONFORM_SECRET_NO")) {
        (Ok(sn), Ok(secret)) => vec![format!("{sn}={secret}")],
        _ => Vec::new(),
    };
    if let Some(file) = &identity.devices_file {
        return Fleet::from_file(file).map_err(|e| e.to_string());
    }
    let pairs: Vec<String> = identity.devices.iter().cloned().chain(from_env).collect();
    if pairs.is_empty() {
        Ok(Fleet::default_fleet())
    } else {
        Fleet::from_pairs(&pairs).map_err(|e| e.to_string())
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
        || filters.iter().any(|f| {
            glob(f, &sc.id.value) || sc.tags.iter().any(|t| t == f) || sc.requirements.iter().any(|r| &r.value == f)
        })
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(after) = text.strip_prefix(head) else { return false };
            (0..=after.len()).filter(|i| after.is_char_boundary(*i)).any(|i| glob(rest, &after[i..]))
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
        eprintln!("error: no scenario matches (paths {:?}, filters {:?})", args.paths, args.filter.filters);
        return EXIT_USAGE;
    }
    let fleet = match fleet(&args.identity) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let mut settings = TargetSettings::default();
    if let Some(h) = args.heartbeat_timeout {
        settings.heartbeat_timeout = h;
    }
    if let Some(w) = args.subscribe_window {
        settings.subscribe_window = w;
    }
    let cloud = if args.cloud == "mock" {
        let mut mock = MockTarget::default();
        if let Some(h) = args.heartbeat_timeout {
            mock.heartbeat_timeout = h;
        }
        if let Some(w) = args.subscribe_window {
            mock.subscribe_window = w;
        }
        CloudTarget::Mock(mock)
    } else if args.cloud.starts_with("ws://") || args.cloud.starts_with("wss://") {
        CloudTarget::Url { url: args.cloud.clone(), insecure: args.insecure }
    } else {
        eprintln!("error: --cloud takes `mock` or a ws:// / wss:// URL, not {:?}", args.cloud);
        return EXIT_USAGE;
    };
    let mut config = RunConfig { cloud, fleet: Arc::new(fleet), step_timeout: args.step_timeout, deadline: args.deadline, settings, ..RunConfig::default() };
    if let Some(j) = args.jobs {
        config.jobs = j.max(1);
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut reporters = MultiReporter::new(vec![
        Box::new(TerminalReporter::new(std::io::stdout(), TerminalOptions { verbose: args.verbose, color, requirements: args.requirements })) as Box<dyn Reporter>,
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
        println!("{:<52} {:<6} [{}] {{{}}}  {}", sc.id.value, sc.role.as_str(), reqs.join(","), sc.tags.join(","), sc.title);
    }
    EXIT_OK
}

fn serve_mock(args: MockArgs) -> i32 {
    let fleet = match fleet(&args.identity) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let config = MockConfig { fleet, heartbeat_timeout: args.heartbeat_timeout, subscribe_window: args.subscribe_window, ..MockConfig::default() };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start a runtime: {e}");
            return EXIT_FAILED;
        }
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

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("cloud.*", "cloud.lifecycle.register"));
        assert!(glob("*register*", "cloud.lifecycle.register-twice"));
        assert!(!glob("cloud.*.x", "cloud.a.y"));
        assert!(glob("exact", "exact"));
    }
}
