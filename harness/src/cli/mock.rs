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

/// Set in a worker process `mock --workers N` started: the address it shares.
const WORKER_ENV: &str = "HWCONFORM_MOCK_WORKER_OF";
/// The issue key every worker derives credentials from (not on the command line, which the
/// process list shows).
const ISSUE_KEY_ENV: &str = "HWCONFORM_MOCK_ISSUE_KEY";

/// The worker processes of `mock --workers N`, stopped with the first.
struct Workers(Vec<std::process::Child>);

impl Workers {
    /// Starts `n` more processes of this command line, each listening on `addr` (shared).
    fn start(
        n: usize,
        addr: std::net::SocketAddr,
        key: &str,
        token: &str,
    ) -> std::io::Result<Self> {
        use std::os::unix::process::CommandExt;
        let mut workers = Workers(Vec::new());
        for _ in 0..n {
            let mut cmd = std::process::Command::new(std::env::current_exe()?);
            cmd.args(std::env::args_os().skip(1))
                .env(WORKER_ENV, addr.to_string())
                .env(ISSUE_KEY_ENV, key)
                .env("HWCONFORM_CONTROL_TOKEN", token)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null());
            // SAFETY: prctl only sets this child's parent-death signal, before it execs:
            // a worker never outlives the process that started it.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
            workers.0.push(cmd.spawn()?);
        }
        Ok(workers)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
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
    // A worker listens where its first process does; the first, with workers, shares its port.
    let worker_of: Option<std::net::SocketAddr> =
        std::env::var(WORKER_ENV).ok().and_then(|a| a.parse().ok());
    let workers = if worker_of.is_some() {
        1
    } else {
        args.workers.max(1)
    };
    let shared = worker_of.is_some() || workers > 1;
    let issue_key = shared.then(|| {
        std::env::var(ISSUE_KEY_ENV).unwrap_or_else(|_| format!("{:032x}", rand::random::<u128>()))
    });
    let config = MockConfig {
        fleet,
        timings,
        control: !args.no_control,
        control_token: Some(Secret::new(token.clone())),
        corp,
        issue_key: issue_key.clone().map(Secret::new),
        ..MockConfig::default()
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let listen = worker_of.unwrap_or(args.listen);
        let (addr, handle) = match mock::MockCloud::new(config)
            .listen_shared(listen, shared)
            .await
        {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error: cannot listen on {listen}: {e}");
                return EXIT_FAILED;
            }
        };
        if worker_of.is_some() {
            let _ = handle.await;
            return EXIT_FAILED;
        }
        let _workers = match issue_key.as_deref().filter(|_| workers > 1) {
            Some(key) => match Workers::start(workers - 1, addr, key, &token) {
                Ok(w) => Some(w),
                Err(e) => {
                    eprintln!("error: cannot start the mock's worker processes: {e}");
                    return EXIT_FAILED;
                }
            },
            None => None,
        };
        println!("ws://{addr}");
        // The one line a person backgrounding the mock needs on stderr (stdout may be a file
        // a script reads the URL from).
        if workers > 1 {
            eprintln!("hwconform mock: listening on ws://{addr} ({workers} worker processes)");
        } else {
            eprintln!("hwconform mock: listening on ws://{addr}");
        }
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
