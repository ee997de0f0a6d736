//! The runner: schedules scenarios over `jobs` worker threads, gives each its own device
//! identities, source-address slot and (in-process) its own mock on a paused clock, and emits
//! events in scenario order.

use super::clock::wall_unix;
use super::event::RunEvent;
use super::session::{self, SessionSetup};
use super::target::{MockTarget, RemoteCloud, SessionTarget, TargetSettings};
use super::verdict::{Failure, RunSummary, ScenarioResult, Verdict};
use crate::protocol::fleet::{Fleet, FleetDevice};
use crate::scenario::{Role, Scenario, StepKind};
use crate::targets::mock::ControlRequest;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The cloud a run's device-role scenarios talk to.
#[derive(Clone, Debug)]
pub enum CloudTarget {
    /// The built-in mock, in-process, one fresh instance per scenario on a virtual clock.
    Mock(MockTarget),
    /// A real endpoint: `ws://` or `wss://`.
    Url { url: String, insecure: bool },
}

impl CloudTarget {
    pub fn describe(&self) -> String {
        match self {
            CloudTarget::Mock(m) if m.disabled_rules.is_empty() => "the in-process mock cloud".into(),
            CloudTarget::Mock(m) => format!(
                "the in-process mock cloud with rules off: {}",
                m.disabled_rules.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
            ),
            CloudTarget::Url { url, .. } => url.clone(),
        }
    }
}

/// How a run is set up.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub cloud: CloudTarget,
    /// Identities the harness signs with; in-process mocks know the same fleet.
    pub fleet: Arc<Fleet>,
    pub jobs: usize,
    pub step_timeout: Duration,
    pub deadline: Duration,
    /// Timing settings of a real cloud (the mock reports its own).
    pub settings: TargetSettings,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            cloud: CloudTarget::Mock(MockTarget::default()),
            fleet: Arc::new(Fleet::default_fleet()),
            jobs: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            step_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(600),
            settings: TargetSettings::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the cloud target {url} is unusable: {reason}")]
    Target { url: String, reason: String },
    #[error("the device fleet is empty: give at least one identity")]
    EmptyFleet,
}

pub struct Runner {
    config: RunConfig,
}

/// What each scenario is given, decided before any runs so parallel runs cannot collide.
struct Assignment {
    identities: Vec<(String, FleetDevice)>,
    slot: u8,
}

impl Runner {
    pub fn new(config: RunConfig) -> Runner {
        Runner { config }
    }

    /// Runs every scenario; `on_event` sees every event, in scenario order.
    pub fn run(&self, scenarios: &[Scenario], mut on_event: impl FnMut(RunEvent)) -> Result<RunSummary, RunError> {
        let started = Instant::now();
        if self.config.fleet.devices.is_empty() {
            return Err(RunError::EmptyFleet);
        }
        let remote = match &self.config.cloud {
            CloudTarget::Url { url, insecure } => Some(Arc::new(probe(url, *insecure, self.config.settings)?)),
            CloudTarget::Mock(_) => None,
        };
        on_event(RunEvent::RunStarted { scenarios: scenarios.len(), target: self.config.cloud.describe() });
        let assignments = self.assign(scenarios);
        let next = AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel::<(usize, ScenarioResult)>();
        let jobs = self.config.jobs.clamp(1, 64).min(scenarios.len().max(1));
        let mut summary = RunSummary::default();
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                let tx = tx.clone();
                let (next, assignments, remote) = (&next, &assignments, remote.clone());
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(sc) = scenarios.get(i) else { break };
                    let result = self.run_one(sc, &assignments[i], remote.clone());
                    if tx.send((i, result)).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            // Results arrive in completion order; events go out in scenario order.
            let mut ready: BTreeMap<usize, ScenarioResult> = BTreeMap::new();
            let mut emitted = 0;
            for (i, result) in rx {
                ready.insert(i, result);
                while let Some(result) = ready.remove(&emitted) {
                    on_event(RunEvent::ScenarioStarted { id: result.id.clone() });
                    summary.add(&result.verdict);
                    on_event(RunEvent::ScenarioFinished(Box::new(result)));
                    emitted += 1;
                }
            }
        });
        summary.wall_time = started.elapsed();
        on_event(RunEvent::RunFinished(summary.clone()));
        Ok(summary)
    }

    fn assign(&self, scenarios: &[Scenario]) -> Vec<Assignment> {
        let fleet = &self.config.fleet.devices;
        let mut cursor = 0usize;
        scenarios
            .iter()
            .enumerate()
            .map(|(i, sc)| {
                let identities = sc
                    .devices
                    .iter()
                    .map(|name| {
                        let d = fleet[cursor % fleet.len()].clone();
                        cursor += 1;
                        (name.clone(), d)
                    })
                    .collect();
                Assignment { identities, slot: 1 + (i % 250) as u8 }
            })
            .collect()
    }

    fn run_one(&self, sc: &Scenario, assignment: &Assignment, remote: Option<Arc<RemoteCloud>>) -> ScenarioResult {
        let started = Instant::now();
        let in_process = remote.is_none();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(in_process).build();
        let outcome = match runtime {
            Err(e) => Err(format!("cannot start a runtime: {e}")),
            Ok(rt) => Ok(rt.block_on(self.session(sc, assignment, remote))),
        };
        let (verdict, transcript, scenario_time) = match outcome {
            Ok(o) => (o.verdict, o.transcript, o.scenario_time),
            Err(e) => (Verdict::Error(Failure::new(e)), Default::default(), Duration::ZERO),
        };
        ScenarioResult {
            id: sc.id.value.clone(),
            title: sc.title.clone(),
            file: sc.source.path.clone(),
            role: sc.role,
            requirements: sc.requirements.iter().map(|r| r.value.clone()).collect(),
            tags: sc.tags.clone(),
            verdict,
            wall_time: started.elapsed(),
            scenario_time,
            transcript,
        }
    }

    async fn session(&self, sc: &Scenario, assignment: &Assignment, remote: Option<Arc<RemoteCloud>>) -> session::SessionOutcome {
        let start_unix = wall_unix();
        let target = match (&self.config.cloud, remote) {
            (_, Some(remote)) => SessionTarget::Remote { remote, slot: assignment.slot },
            (CloudTarget::Mock(mock), None) => {
                // The scenario's mock knows exactly the scenario's devices, as the fleet says.
                let fleet = Fleet {
                    devices: assignment.identities.iter().map(|(_, d)| d.clone()).collect(),
                    seed_secret_no: self.config.fleet.seed_secret_no.clone(),
                };
                SessionTarget::in_process(mock, fleet, start_unix)
            }
            (CloudTarget::Url { .. }, None) => unreachable!("a URL target is probed before scenarios run"),
        };
        if sc.role == Role::Device && target.has_control() {
            if let SessionTarget::Remote { .. } = target {
                // A long-lived standalone mock may remember an earlier run: start clean.
                let sns = assignment.identities.iter().map(|(_, d)| d.identity.sn.clone()).collect();
                let ips = source_ips(sc).into_iter().map(|ip| target.source_ip(ip).to_string()).collect();
                let _ = target.control(ControlRequest::Forget { sns, ips }).await;
            }
        }
        let setup = SessionSetup {
            identities: assignment.identities.iter().map(|(n, d)| (n.clone(), d.identity.clone())).collect(),
            seed_secret_no: self.config.fleet.seed_secret_no.clone(),
            start_unix,
            step_timeout: self.config.step_timeout,
            deadline: self.config.deadline,
        };
        session::run(sc, target, setup).await
    }
}

/// Every source address a scenario may use (its `from`s, `to`s and the default).
fn source_ips(sc: &Scenario) -> Vec<std::net::Ipv4Addr> {
    fn walk(steps: &[crate::scenario::Step], out: &mut Vec<std::net::Ipv4Addr>) {
        for s in steps {
            match &s.kind {
                StepKind::Connect(c) => out.extend(c.from.as_deref().and_then(|f| f.parse::<std::net::Ipv4Addr>().ok())),
                StepKind::ChangeIp(c) => out.extend(c.to.parse::<std::net::Ipv4Addr>().ok()),
                StepKind::Repeat(r) => walk(&r.steps, out),
                _ => {}
            }
        }
    }
    let mut out = vec![std::net::Ipv4Addr::LOCALHOST];
    walk(&sc.steps, &mut out);
    out.sort();
    out.dedup();
    out
}

fn probe(url: &str, insecure: bool, settings: TargetSettings) -> Result<RemoteCloud, RunError> {
    let err = |reason: String| RunError::Target { url: url.to_string(), reason };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| err(e.to_string()))?;
    rt.block_on(RemoteCloud::probe(url, insecure, settings)).map_err(|e| err(e.to_string()))
}
