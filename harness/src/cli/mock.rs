//! `hwconform mock`: the mock cloud as a standalone server.

use super::exit::{EXIT_FAILED, EXIT_OK};
use super::report_error;
use super::{fleet, runtime, MockArgs};
use crate::profile::{CloudTimings, Secret};
use crate::targets::mock::{self, MockConfig};

/// `hwconform mock --log-level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The level as a tracing filter directive.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

pub(super) fn serve_mock(args: MockArgs) -> i32 {
    let fleet = match args.fleet_size {
        Some(n) => crate::fleet::FleetPlan::generated_fleet(n),
        None => match fleet(&args.fleet, &args.devices) {
            Ok(f) => f,
            Err(e) => return report_error::usage_error(&e),
        },
    };
    // A fleet over sockets holds a descriptor per device.
    crate::fleet::raise_open_files_limit();
    let corp = match &args.corp {
        Some(path) => match mock::corp::CorpSeed::from_file(path) {
            Ok(c) => c,
            Err(e) => return report_error::usage_error(&e),
        },
        None => mock::corp::CorpSeed::default_corp(),
    };
    let timings = CloudTimings {
        heartbeat_timeout: args.heartbeat_timeout,
        subscribe_window: args.subscribe_window,
        ..CloudTimings::MOCK
    };
    // A control plane on a socket is reachable by every process on the host: it takes a
    // token, made up here unless given.
    let generated = args.control_token.is_none() && !args.no_control;
    let token = args
        .control_token
        .clone()
        .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
    let config = MockConfig {
        fleet,
        timings,
        control: !args.no_control,
        control_token: Some(Secret::new(token.clone())),
        corp,
        ..MockConfig::default()
    };
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
        // The one line a person backgrounding the mock needs on stderr (stdout may be a file
        // a script reads the URL from).
        eprintln!("hwconform mock: listening on ws://{addr}");
        if generated {
            println!(
                "control token: {token}  (give it to the harness: HWCONFORM_CONTROL_TOKEN={token})"
            );
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tokio::select! {
            _ = handle => EXIT_FAILED,
            _ = tokio::signal::ctrl_c() => EXIT_OK,
        }
    })
}
