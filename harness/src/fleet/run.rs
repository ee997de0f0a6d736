//! Running a fleet: this shard's reference devices, many per task in one runtime, switched
//! on at the ramp's pace, doing their business until the run's end, when each is switched
//! off (its link closed with a close handshake). In-process against the mock the runtime's
//! clock is virtual: a five-minute run costs only the work it does.

use super::checks;
use super::dial::{Addresses, CloudLink, FleetDialer};
use super::plan::FleetPlan;
use super::report::{Check, FleetReport, Process, RunInfo, FORMAT};
use super::stats::{DeviceWatch, Snapshot, Stats};
use crate::profile::{CloudTimings, Profile};
use crate::targets::mock::{ControlRequest, MockCloud, MockConfig};
use crate::targets::sim::{self, Probe, SimConfig, SimControl};
use crate::wire::transport::{Endpoint, TransportError};
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

/// Devices driven by one task.
pub const DEVICES_PER_TASK: usize = 256;
/// Log lines a fleet device keeps (its log is only read by `push_fetch_log`).
const LOG_LINES: usize = 16;
/// How long switched-off devices get to close their links.
const POWER_OFF_GRACE: Duration = Duration::from_secs(5);

/// The cloud a fleet runs against.
pub enum FleetCloud {
    /// The in-process mock with these settings (its fleet is set to the plan's).
    Mock(Box<MockConfig>),
    /// A `ws://` or `wss://` endpoint, judged by these timings (the FAQ's, or
    /// `--heartbeat-timeout`); a dial that takes longer than `dial_timeout` fails.
    Url {
        url: String,
        timings: CloudTimings,
        dial_timeout: Duration,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FleetRunError {
    #[error("cannot start a runtime")]
    Runtime(#[source] std::io::Error),
    #[error("invalid cloud url")]
    Url(#[source] TransportError),
    #[error("the fleet has {have} devices; {want} were asked for")]
    TooFewDevices { have: usize, want: usize },
    #[error("contact changes need the in-process mock (the fleet changes its corp)")]
    ContactChangesNeedMock,
    #[error("--ips spreads source addresses over 127.0.0.0/8: the cloud must be on loopback ({0} is not)")]
    SpreadNeedsLoopback(String),
}

/// Runs the plan and reports. `live` is called about once a second of wall time.
pub fn run(
    plan: &FleetPlan,
    cloud: FleetCloud,
    profile: Arc<dyn Profile>,
    live: impl Fn(&Snapshot) + Send + 'static,
) -> Result<FleetReport, FleetRunError> {
    if plan.business.contact_change_every.is_some() && !matches!(cloud, FleetCloud::Mock(_)) {
        return Err(FleetRunError::ContactChangesNeedMock);
    }
    let wall = std::time::Instant::now();
    let (runtime, name, clock) = match &cloud {
        FleetCloud::Mock(_) => (
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build(),
            "mock".to_string(),
            "virtual",
        ),
        FleetCloud::Url { url, .. } => (
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build(),
            url.clone(),
            "wall",
        ),
    };
    let runtime = runtime.map_err(FleetRunError::Runtime)?;
    let figures = runtime.block_on(async {
        let (link, timings, mock, dial_timeout) = match cloud {
            FleetCloud::Mock(config) => {
                let timings = config.timings;
                let mock = MockCloud::new(MockConfig {
                    fleet: plan.fleet.clone(),
                    ..*config
                });
                (
                    CloudLink::InProcess(mock.clone()),
                    timings,
                    Some(mock),
                    sim::DIAL_TIMEOUT,
                )
            }
            FleetCloud::Url {
                url,
                timings,
                dial_timeout,
            } => {
                let endpoint = Endpoint::parse(&url).map_err(FleetRunError::Url)?;
                let on_loopback = endpoint
                    .resolve()
                    .await
                    .map(|a| a.ip().is_loopback())
                    .unwrap_or(false);
                if !on_loopback && plan.ips < plan.fleet.devices.len() {
                    return Err(FleetRunError::SpreadNeedsLoopback(url));
                }
                (
                    CloudLink::Url {
                        endpoint,
                        spread: on_loopback,
                    },
                    timings,
                    None,
                    dial_timeout,
                )
            }
        };
        let stats = Stats::new(profile, timings);
        let printer = LivePrinter::start(stats.clone(), live);
        let figures = drive(plan, link, mock, &stats, dial_timeout).await;
        printer.stop();
        Ok::<_, FleetRunError>(figures)
    })?;
    // Held links and switched-off devices still being watched end with the runtime.
    runtime.shutdown_timeout(Duration::from_secs(1));
    let checks = checks::CHECKS
        .iter()
        .map(|(rule, reading)| Check {
            rule: rule.to_string(),
            reading: reading.to_string(),
        })
        .chain(["C1", "C2", "C3", "C12"].iter().map(|r| Check {
            rule: r.to_string(),
            reading: "always-on monitor of every frame the cloud sends".into(),
        }))
        .collect();
    Ok(FleetReport {
        format: FORMAT,
        run: RunInfo {
            fleet_devices: plan.fleet.devices.len(),
            shards: vec![plan.shard],
            cloud: name,
            clock: clock.to_string(),
            duration_s: plan.duration.as_secs_f64(),
            ramp_per_s: plan.ramp,
            storm: plan.storm,
            source_addresses: plan.ips,
            business: plan.business,
            seed: plan.seed,
            checks,
        },
        figures,
        slo: Vec::new(),
        processes: vec![Process {
            shard: plan.shard,
            wall_s: wall.elapsed().as_secs_f64(),
            peak_rss_mib: peak_rss_mib(),
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: crate::report::json::GIT_COMMIT.to_string(),
            // The command line is the CLI's to say (`cli::fleet`).
            command_line: Vec::new(),
        }],
    })
}

/// Lifts the soft limit on open files to the hard one: a fleet over sockets holds a
/// descriptor per device link in each process, two when the cloud runs beside it.
pub fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The process's peak resident memory (Linux), MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

async fn drive(
    plan: &FleetPlan,
    link: CloudLink,
    mock: Option<Arc<MockCloud>>,
    stats: &Arc<Stats>,
    dial_timeout: Duration,
) -> super::report::Figures {
    let start = Instant::now();
    let clock = tokio::spawn({
        let stats = stats.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                stats.tick();
            }
        }
    });
    let storm_at = plan.storm.map(|s| start + s.at);
    let start_unix = match &mock {
        Some(m) => m.now_unix(),
        None => crate::engine::clock::wall_unix(),
    };
    let places: Vec<usize> = plan.places().collect();
    let mut controls: Vec<UnboundedSender<SimControl>> = Vec::with_capacity(places.len());
    let mut tasks = Vec::new();
    for chunk in places.chunks(DEVICES_PER_TASK) {
        let devices = FuturesUnordered::new();
        for &place in chunk {
            let device = &plan.fleet.devices[place];
            let watch = DeviceWatch::new(
                device.identity.sn.clone(),
                stats.clone(),
                plan.source_of(place, false),
            );
            let dialer = FleetDialer {
                cloud: link.clone(),
                watch: watch.clone(),
                addresses: Addresses {
                    before: plan.source_of(place, false),
                    after: plan.source_of(place, true),
                    storm_at,
                },
                timeout: dial_timeout,
            };
            let config = SimConfig {
                seed_secret_no: plan.fleet.seed_secret_no.clone(),
                rng_seed: plan.seed_of(place),
                start_unix,
                log_lines: LOG_LINES,
                probe: Probe(Some(watch.clone())),
                ..SimConfig::new(device.identity.clone())
            };
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            controls.push(tx.clone());
            let switch_on = start + plan.start_of(place);
            let checkin_every = plan.business.checkin_every;
            // Boxed, so the device's state is held once: the async block below keeps room
            // for what it captures beside what it awaits.
            let device = Box::pin(sim::run(config, Arc::new(dialer), rx));
            let fut = async move {
                tokio::time::sleep_until(switch_on).await;
                watch.switched_on();
                let checkins = async {
                    let Some(every) = checkin_every else {
                        return std::future::pending().await;
                    };
                    loop {
                        tokio::time::sleep(every).await;
                        if tx.send(SimControl::CheckinKnown).is_err() {
                            return;
                        }
                    }
                };
                tokio::select! {
                    () = device => {}
                    () = checkins => {}
                }
            };
            devices.push(fut);
        }
        tasks.push(tokio::spawn(async move {
            let mut devices = devices;
            while devices.next().await.is_some() {}
        }));
    }
    let changes = match (&mock, plan.business.contact_change_every) {
        (Some(mock), Some(every)) => Some(tokio::spawn(change_contacts(mock.clone(), every))),
        _ => None,
    };
    tokio::time::sleep_until(start + plan.duration).await;
    let figures = stats.figures(places.len() as u64, plan.duration);
    clock.abort();
    if let Some(c) = changes {
        c.abort();
    }
    for tx in &controls {
        let _ = tx.send(SimControl::PowerOff);
    }
    // Bounded: a device whose close handshake hangs is dropped with its task.
    let _ = tokio::time::timeout(
        POWER_OFF_GRACE,
        futures_util::future::join_all(tasks.iter_mut()),
    )
    .await;
    for t in &tasks {
        t.abort();
    }
    figures
}

/// Renames a member every `every`, so every device gets `push_change_contact` and pulls.
async fn change_contacts(mock: Arc<MockCloud>, every: Duration) {
    let Some(mut user) = mock.config().corp.users.first().cloned() else {
        return;
    };
    let name = user.name.clone();
    for n in 1u64.. {
        tokio::time::sleep(every).await;
        user.name = format!("{name} ({n})");
        if let Err(e) = mock.control(ControlRequest::UpdateUser {
            user: user.clone(),
            sn: None,
        }) {
            tracing::warn!(error = %e, "fleet: the contact change was refused");
        }
    }
}

/// Calls `live` about once a second of wall time, from its own thread (the fleet's runtime
/// may run on a virtual clock).
struct LivePrinter {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LivePrinter {
    fn start(stats: Arc<Stats>, live: impl Fn(&Snapshot) + Send + 'static) -> LivePrinter {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut last = std::time::Instant::now();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                if last.elapsed() >= Duration::from_secs(1) {
                    last = std::time::Instant::now();
                    live(&stats.snapshot());
                }
            }
        });
        LivePrinter {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
