//! The runner: schedules scenarios over worker threads, gives each its target — the cloud for
//! device-role scenarios, the device for cloud-role ones — its identities and source-address
//! slot, a paused clock when its target is in-process, and emits events in scenario order.

use super::clock::wall_unix;
use super::event::{Event, RunClock, RunEvent, Stamp};
use super::interrupt::Interrupt;
use super::judge::{Judge, JudgeContext};
use super::session::{self, SessionSetup, Target};
use super::target::{self, CloudLink, CloudTarget, DeviceStart, DeviceTarget, TargetError};
use super::verdict::{Failure, Judged, RunSummary, ScenarioResult, Verdict};
use crate::ics::{Applicability, Ics};
use crate::profile::fleet::{Fleet, FleetDevice};
use crate::profile::Profile;
use crate::scenario::{visit_steps, Capability, Role, Scenario, StepKind};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Why `run` leaves an observer-role scenario: it needs a real link between a device and an
/// upstream cloud, which `hwconform observe --scenario` makes.
pub const OBSERVER_SKIP: &str =
    "an observer-role scenario runs with `hwconform observe --scenario FILE --device D --upstream URL`";

/// How a run is set up. The default has no targets: `targets::defaults()` gives the
/// in-process mock and the reference device.
#[derive(Clone)]
pub struct RunConfig {
    /// `None`: device-role scenarios are skipped.
    pub cloud: Option<Arc<dyn CloudTarget>>,
    /// `None`: cloud-role scenarios are skipped.
    pub device: Option<Arc<dyn DeviceTarget>>,
    /// A command run before each cloud-role scenario (power-cycle relay, factory reset).
    pub device_reset: Option<String>,
    /// The lab's upper tester: a command that makes a real device act (`device_control`).
    pub upper_tester: Option<String>,
    /// The lab's cloud upper tester: a command that makes a cloud without a control plane act
    /// as a corp or a person would (`control` actions of `requires: [cloud_control]`).
    pub cloud_upper_tester: Option<String>,
    /// What the cloud statement says its upper tester can do (`[upper_tester] actions`);
    /// `None`: every action.
    pub cloud_upper_tester_actions: Option<Vec<String>>,
    /// Identities: the harness signs with them as a device, checks them as the cloud, and
    /// in-process mocks and the reference device know the same.
    pub fleet: Arc<Fleet>,
    pub jobs: usize,
    pub step_timeout: Duration,
    /// Bound on each scenario on its own clock (virtual in-process).
    pub deadline: Duration,
    /// Bound on each in-process scenario in wall time: on the virtual clock a scenario of a
    /// million steps takes no scenario time at all, yet it must end. Against a real target
    /// it is at least the deadline (plus 30 s), which bounds the same wall time.
    pub wall_budget: Duration,
    /// Applied in order to every finished scenario before it is emitted (none by default in
    /// the library; the CLI adds the golden comparison).
    pub judges: Vec<Arc<dyn Judge>>,
    /// The protocol the sessions speak: every WeCom rule the engine applies comes from here.
    pub profile: Arc<dyn Profile>,
    /// What the device under test implements. A cloud-role scenario that needs something it
    /// says `false` is skipped as not applicable; one that needs something it does not
    /// mention stops the run before it starts ([`RunError::IcsIncomplete`]). `None`: every
    /// feature is assumed, and the seed follows the fleet.
    pub ics: Option<Arc<Ics>>,
    /// Start no further scenario once one has failed or errored; those not started are
    /// reported as skipped (not run), never as passed.
    pub fail_fast: bool,
    /// Raised from outside (a signal): no scenario starts after it, the running ones end as
    /// errors that say they were interrupted, and the run reports what it has.
    pub interrupt: Arc<Interrupt>,
    /// What is running now, for a live status line (see [`super::live`]), fed from the
    /// run's events.
    pub live: Arc<super::live::LiveBoard>,
    /// A `Slow` event for each scenario still running at every multiple of this.
    pub slow_period: Duration,
    /// The processes the run starts (an `exec:` device, the reset and upper-tester commands):
    /// the handle a second signal kills them all through.
    pub children: Arc<super::children::Children>,
    /// The run's one credential set, shared with every writer of its outputs: the fleet's
    /// (filled from `fleet` when left empty) and what the scenarios learn on the wire.
    pub credentials: crate::profile::RunCredentials,
    /// What skip and inconclusive reasons tell a person to give, in the front end's words.
    pub remedies: Arc<super::target::Remedies>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            cloud: None,
            device: None,
            device_reset: None,
            upper_tester: None,
            cloud_upper_tester: None,
            cloud_upper_tester_actions: None,
            fleet: Arc::new(Fleet::default_fleet()),
            jobs: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            step_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(600),
            wall_budget: Duration::from_secs(60),
            judges: Vec::new(),
            profile: crate::profile::default_profile(),
            ics: None,
            fail_fast: false,
            interrupt: Arc::new(Interrupt::default()),
            live: Arc::default(),
            slow_period: Duration::from_secs(60),
            children: Arc::default(),
            credentials: Default::default(),
            remedies: Arc::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the cloud target {target} is unusable")]
    Target {
        target: String,
        #[source]
        source: TargetError,
    },
    #[error("the device fleet is empty: give at least one identity")]
    EmptyFleet,
    /// Against a shared cloud every device-role scenario gets identities no other scenario
    /// of the run used, so what one scenario left behind (an activation, a binding to an
    /// address) never decides another's verdict.
    #[error(
        "the device-role scenarios need {needed} device identities against a shared cloud (each scenario gets devices no other scenario of the run used), and the fleet has {have} bound to a corp (its `\"bound\": false` devices serve only scenarios that need one): give more identities (--devices-file), or run fewer scenarios at once (--filter, --partition)"
    )]
    FleetTooSmall { needed: usize, have: usize },
    /// Fail-closed: a selected scenario needs something the ICS does not say either way.
    #[error("the ICS {} does not say `{key}`, which scenario {scenario} ({}) needs: {}", .ics.display(), .file.display(), Ics::how_to_state(.key))]
    IcsIncomplete {
        key: String,
        ics: PathBuf,
        scenario: String,
        file: PathBuf,
    },
}

pub struct Runner {
    config: RunConfig,
}

impl Runner {
    pub fn new(config: RunConfig) -> Runner {
        Runner { config }
    }

    /// The run's credentials: for a writer of an output the runner does not write itself.
    pub fn credentials(&self) -> &crate::profile::RunCredentials {
        &self.config.credentials
    }

    pub fn describe(&self) -> String {
        self.describe_for(&[Role::Device, Role::Cloud])
    }

    /// The targets the scenarios of `roles` run against (the banner names only those).
    fn describe_for(&self, roles: &[Role]) -> String {
        let cloud = roles.contains(&Role::Device).then(|| {
            self.config
                .cloud
                .as_ref()
                .map(|c| c.describe())
                .unwrap_or_else(|| "no cloud".into())
        });
        let device = roles.contains(&Role::Cloud).then(|| {
            self.config
                .device
                .as_ref()
                .map(|d| d.describe())
                .unwrap_or_else(|| "no device".into())
        });
        cloud
            .into_iter()
            .chain(device)
            .collect::<Vec<_>>()
            .join(" and ")
    }

    /// Runs every scenario; `on_event` sees every event as it happens, in the order of
    /// their times (see [`Event`]).
    pub fn run(
        &self,
        scenarios: &[Scenario],
        on_event: impl FnMut(Event),
    ) -> Result<RunSummary, RunError> {
        let clock = RunClock::start();
        let mut stream = Stream {
            clock,
            last: clock.now(),
            live: &self.config.live,
            on_event,
        };
        if self.config.fleet.devices.is_empty() {
            return Err(RunError::EmptyFleet);
        }
        if self.config.credentials.fleet.is_empty() {
            self.config
                .credentials
                .fleet
                .extend_from(&self.config.fleet.credentials());
        }
        self.check_ics(scenarios)?;
        let has = |role: Role| {
            scenarios
                .iter()
                .any(|s| s.role == role && s.manual.is_none())
        };
        let shared_cloud = match &self.config.cloud {
            Some(cloud) if has(Role::Device) => {
                prepare(&**cloud)?;
                cloud.capabilities().shared
            }
            _ => false,
        };
        let mut notice = None;
        let single_device = match &self.config.device {
            Some(device) if has(Role::Cloud) => {
                notice = device.prepare();
                device.capabilities().single
            }
            _ => false,
        };
        let mut jobs = self.config.jobs.clamp(1, 64).min(scenarios.len().max(1));
        if single_device {
            // One real device: its scenarios take its connections one at a time.
            jobs = 1;
        }
        // Against a shared cloud each scenario has devices of its own, whatever `-j` is: the
        // same verdicts at any parallelism.
        let identities = if shared_cloud {
            self.fresh_identities(scenarios)?
        } else {
            self.fixed_identities(scenarios)
        };
        let roles: Vec<Role> = [Role::Device, Role::Cloud]
            .into_iter()
            .filter(|r| scenarios.iter().any(|s| s.role == *r))
            .collect();
        // The device under test is named only when a scenario tests a device.
        let ics = self
            .config
            .ics
            .as_ref()
            .filter(|_| self.config.device.is_some() && roles.contains(&Role::Cloud))
            .map(|i| i.summary());
        stream.emit(RunEvent::RunStarted {
            scenarios: scenarios.len(),
            // A device command may spell a SecretNo out.
            target: self
                .config
                .credentials
                .fleet
                .redact_text(&self.describe_for(&roles)),
            ics,
        });
        if let Some(text) = notice {
            stream.emit(RunEvent::Notice { text });
        }
        let real_target = roles.iter().any(|r| match r {
            Role::Device => self
                .config
                .cloud
                .as_ref()
                .is_some_and(|c| !c.capabilities().in_process),
            Role::Cloud => self
                .config
                .device
                .as_ref()
                .is_some_and(|d| !d.capabilities().in_process),
            // Observer scenarios are run by `hwconform observe`, never here.
            Role::Observer => false,
        });
        // Against a real target a scenario's deadline bounds it (its own, or the run's);
        // in-process, the wall budget does.
        let bound = |sc: &Scenario| {
            if real_target {
                sc.deadline.unwrap_or(self.config.deadline)
            } else {
                self.config.wall_budget
            }
        };
        self.config.live.begin(
            clock,
            scenarios.len(),
            jobs,
            scenarios.iter().map(bound).max().unwrap_or_default(),
        );
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        // Bounded: a worker far ahead of the reporters waits for them rather than queueing
        // without end (a scenario of a million steps).
        let (tx, rx) = mpsc::sync_channel::<Event>(EVENT_QUEUE);
        let mut summary = RunSummary::default();
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                let tx = tx.clone();
                let (next, identities, stop) = (&next, &identities, &stop);
                scope.spawn(move || loop {
                    // Read before the check: a start is stamped before any stop that did
                    // not keep it from starting.
                    let stamp = clock.now();
                    if stop.load(Ordering::SeqCst) || self.config.interrupt.is_raised() {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(sc) = scenarios.get(i) else { break };
                    let started = RunEvent::ScenarioStarted {
                        index: i,
                        id: sc.id.value.clone(),
                        bound: bound(sc),
                    };
                    if tx
                        .send(Event {
                            stamp,
                            kind: started,
                        })
                        .is_err()
                    {
                        break;
                    }
                    let slot = super::live::LiveSlot {
                        events: tx.clone(),
                        clock,
                        index: i,
                        id: sc.id.value.as_str().into(),
                    };
                    let result = self.run_one(sc, &slot, identities[i].clone());
                    // Before the next pick, so that with one job nothing starts after it.
                    if self.config.fail_fast && result.verdict.is_bad() {
                        stop.store(true, Ordering::SeqCst);
                    }
                    let finished = RunEvent::ScenarioFinished {
                        index: i,
                        result: Arc::new(result),
                    };
                    let stamp = clock.now();
                    if tx
                        .send(Event {
                            stamp,
                            kind: finished,
                        })
                        .is_err()
                    {
                        break;
                    }
                });
            }
            drop(tx);
            // Events go out as they happen, so a long run shows progress; reports that need
            // an order sort by id.
            let mut done = vec![false; scenarios.len()];
            let mut first_bad: Option<String> = None;
            let mut interrupted = false;
            let mut slow_said = std::collections::BTreeMap::new();
            let poll = (self.config.slow_period / 4)
                .clamp(Duration::from_millis(10), Duration::from_secs(1));
            let mut next_look = Instant::now() + poll;
            loop {
                let received = rx.recv_timeout(poll);
                // Said at its time: after what happened before it, before what came after.
                let raised = self.config.interrupt.raised_at();
                if let (false, Some(at)) = (interrupted, raised) {
                    let before = matches!(&received, Ok(e) if clock.instant(&e.stamp) < at);
                    if !before {
                        interrupted = true;
                        stream.forward(Event {
                            stamp: clock.stamp_at(at),
                            kind: RunEvent::Interrupted {
                                why: self.config.interrupt.why(),
                            },
                        });
                    }
                }
                if Instant::now() >= next_look {
                    next_look = Instant::now() + poll;
                    let board = self.config.live.snapshot();
                    for due in
                        super::live::slow_due(&board, self.config.slow_period, &mut slow_said)
                    {
                        stream.emit(RunEvent::Slow {
                            index: due.index,
                            id: due.id,
                            after: due.after,
                            step: due.step,
                        });
                    }
                }
                let event = match received {
                    Ok(event) => event,
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                };
                if let RunEvent::ScenarioFinished { index, result } = &event.kind {
                    if self.config.fail_fast && result.verdict.is_bad() && first_bad.is_none() {
                        first_bad = Some(format!("`{}` ({})", result.id, result.verdict.name()));
                    }
                    done[*index] = true;
                    summary.add(&result.verdict);
                }
                stream.forward(event);
            }
            if let (false, Some(at)) = (interrupted, self.config.interrupt.raised_at()) {
                stream.forward(Event {
                    stamp: clock.stamp_at(at),
                    kind: RunEvent::Interrupted {
                        why: self.config.interrupt.why(),
                    },
                });
            }
            // Stopped early: what never started says so.
            for (i, (sc, _)) in scenarios
                .iter()
                .zip(&done)
                .enumerate()
                .filter(|(_, (_, d))| !**d)
            {
                let reason = match &first_bad {
                    Some(why) => format!("not run: fail-fast stopped the run after {why}"),
                    None => format!(
                        "not run: the run was interrupted ({})",
                        self.config.interrupt.why()
                    ),
                };
                let result = not_run(sc, reason);
                summary.add(&result.verdict);
                stream.emit(RunEvent::ScenarioFinished {
                    index: i,
                    result: Arc::new(result),
                });
            }
        });
        summary.wall_time = clock.now().at;
        stream.emit(RunEvent::RunFinished(summary.clone()));
        Ok(summary)
    }

    /// Every selected cloud-role scenario's needs are stated by the ICS, true or false
    /// (nothing is assumed of the device where the statement is silent).
    pub fn check_ics(&self, scenarios: &[Scenario]) -> Result<(), RunError> {
        let (Some(ics), Some(_)) = (&self.config.ics, &self.config.device) else {
            return Ok(());
        };
        for sc in scenarios.iter().filter(|s| s.role == Role::Cloud) {
            if let Applicability::Unknown { key } =
                ics.applicability(&sc.features, sc.requires.contains(&Capability::Seed))
            {
                return Err(RunError::IcsIncomplete {
                    key,
                    ics: ics.path.clone(),
                    scenario: sc.id.value.clone(),
                    file: sc.source.path.clone(),
                });
            }
        }
        Ok(())
    }

    /// Whether the role's target is the default one the goldens record.
    fn reference_target(&self, role: Role) -> bool {
        match role {
            Role::Device => self.config.cloud.as_ref().is_some_and(|c| c.reference()),
            Role::Cloud => self.config.device.as_ref().is_some_and(|d| d.reference()),
            Role::Observer => false,
        }
    }

    /// In-process identities: each scenario has its own mock (or device), so its devices are
    /// simply the fleet's first ones — the same whatever else the run selected, which keeps
    /// transcripts (and goldens) stable.
    ///
    /// A scenario that needs its first device unbound (`requires: [unbound]`) gets it so:
    /// its own in-process cloud is told so by the fleet it is given; another cloud is not, and
    /// needs one of the fleet's `"bound": false` devices.
    fn fixed_identities(&self, scenarios: &[Scenario]) -> Vec<Vec<(String, FleetDevice)>> {
        let fleet = &self.config.fleet.devices;
        let in_process = self
            .config
            .cloud
            .as_ref()
            .is_some_and(|c| c.capabilities().in_process);
        scenarios
            .iter()
            .map(|sc| {
                let mut devices: Vec<(String, FleetDevice)> = sc
                    .devices
                    .iter()
                    .enumerate()
                    .map(|(j, name)| (name.clone(), fleet[j % fleet.len()].clone()))
                    .collect();
                if needs_unbound(sc) {
                    let unbound = fleet.iter().find(|d| !d.bound).cloned();
                    if let Some((_, first)) = devices.first_mut() {
                        match (in_process, unbound) {
                            (true, _) => first.bound = false,
                            (false, Some(d)) => *first = d,
                            (false, None) => {}
                        }
                    }
                }
                devices
            })
            .collect()
    }

    /// Against a shared remote cloud: every device-role scenario takes the next fleet devices
    /// no scenario of the run used before (in the order given, so the same at any `-j`);
    /// a cloud-role scenario's device under test is the fleet's first.
    fn fresh_identities(
        &self,
        scenarios: &[Scenario],
    ) -> Result<Vec<Vec<(String, FleetDevice)>>, RunError> {
        let fleet = &self.config.fleet.devices;
        let mut bound_left = fleet
            .iter()
            .filter(|d| d.bound)
            .collect::<Vec<_>>()
            .into_iter();
        let mut unbound_left = fleet
            .iter()
            .filter(|d| !d.bound)
            .collect::<Vec<_>>()
            .into_iter();
        let mut needed = 0;
        let mut out = Vec::with_capacity(scenarios.len());
        for sc in scenarios {
            if sc.role == Role::Cloud || sc.manual.is_some() {
                out.push(
                    sc.devices
                        .iter()
                        .take(1)
                        .map(|name| (name.clone(), fleet[0].clone()))
                        .collect(),
                );
                continue;
            }
            // The first device of a scenario that needs it unbound is the next unbound one of
            // the fleet (none left: the scenario is skipped with the reason); every other
            // device the next bound one.
            let mut devices = Vec::with_capacity(sc.devices.len());
            for (j, name) in sc.devices.iter().enumerate() {
                let unbound = j == 0 && needs_unbound(sc);
                let pool = if unbound {
                    &mut unbound_left
                } else {
                    &mut bound_left
                };
                match pool.next() {
                    Some(d) => devices.push((name.clone(), d.clone())),
                    None if unbound => {}
                    // Counted below: the run stops before any scenario runs.
                    None => devices.push((name.clone(), fleet[0].clone())),
                }
                if !unbound {
                    needed += 1;
                }
            }
            out.push(devices);
        }
        let bound = fleet.iter().filter(|d| d.bound).count();
        if needed > bound {
            return Err(RunError::FleetTooSmall {
                needed,
                have: bound,
            });
        }
        Ok(out)
    }

    /// Runs `sc`, which says its steps in the run's stream through `slot`.
    fn run_one(
        &self,
        sc: &Scenario,
        slot: &super::live::LiveSlot,
        identities: Vec<(String, FleetDevice)>,
    ) -> ScenarioResult {
        let mut result = self.run_and_judge(sc, slot, identities);
        result.conclude(&|id| self.config.profile.binding(id));
        // The steps' verdict is kept only where judging changed it.
        if let Some(j) = &mut result.judged {
            if j.steps.as_ref() == Some(&result.verdict) {
                j.steps = None;
            }
        }
        result
    }

    /// One real device serves every scenario in turn and keeps what it learned (a cached
    /// secret, a contacts version): a preamble that fails after an earlier scenario may be
    /// that state, not the device's fault, and the reason says how to rule it out.
    fn hint_carried_state(&self, sc: &Scenario, index: usize, result: &mut ScenarioResult) {
        let single = self
            .config
            .device
            .as_ref()
            .is_some_and(|d| d.capabilities().single);
        if sc.role != Role::Cloud || !single || index == 0 || self.config.device_reset.is_some() {
            return;
        }
        if let Verdict::Inconclusive(f) = &mut result.verdict {
            f.message.push('\n');
            f.message.push_str(&self.config.remedies.not_reset);
        }
    }

    /// The steps' verdict after every judge, with the findings not yet folded in.
    fn run_and_judge(
        &self,
        sc: &Scenario,
        slot: &super::live::LiveSlot,
        identities: Vec<(String, FleetDevice)>,
    ) -> ScenarioResult {
        let index = slot.index;
        let started = Instant::now();
        let result = |verdict, findings, transcript, scenario_time| ScenarioResult {
            verdict,
            findings,
            wall_time: started.elapsed(),
            scenario_time,
            transcript,
            judged: None,
            ..not_run(sc, String::new())
        };
        // What the device does not implement is not applicable, manual checks included.
        if let (Role::Cloud, Some(ics)) = (sc.role, &self.config.ics) {
            match ics.applicability(&sc.features, sc.requires.contains(&Capability::Seed)) {
                Applicability::Applicable => {}
                Applicability::NotApplicable { reason } => {
                    return result(
                        Verdict::Skip { reason },
                        Vec::new(),
                        Default::default(),
                        Duration::ZERO,
                    )
                }
                Applicability::Unknown { key } => {
                    let reason = format!("the ICS {} does not say `{key}`", ics.path.display());
                    return result(
                        Verdict::Error(Failure::new(reason)),
                        Vec::new(),
                        Default::default(),
                        Duration::ZERO,
                    );
                }
            }
        }
        if let Some(instructions) = &sc.manual {
            return result(
                Verdict::Manual {
                    instructions: instructions.clone(),
                },
                Vec::new(),
                Default::default(),
                Duration::ZERO,
            );
        }
        if needs_unbound(sc)
            && !identities
                .first()
                .is_some_and(|(name, d)| Some(name) == sc.devices.first() && !d.bound)
        {
            let reason = self.config.remedies.needs_unbound.clone();
            return result(
                Verdict::Skip { reason },
                Vec::new(),
                Default::default(),
                Duration::ZERO,
            );
        }
        let fleet = self.config.fleet.devices.len();
        if sc.devices.len() > fleet {
            let reason = format!(
                "needs {} distinct devices and the fleet has {fleet}: give more identities",
                sc.devices.len()
            );
            return result(
                Verdict::Skip { reason },
                Vec::new(),
                Default::default(),
                Duration::ZERO,
            );
        }
        // Decided before the device is reset or started: a skipped scenario touches nothing.
        if sc.role == Role::Cloud
            && sc.requires.contains(&Capability::DeviceControl)
            && self.config.upper_tester.is_none()
            && self
                .config
                .device
                .as_ref()
                .is_some_and(|d| !d.capabilities().control)
        {
            let reason = self.config.remedies.needs_upper_tester.clone();
            return result(
                Verdict::Skip { reason },
                Vec::new(),
                Default::default(),
                Duration::ZERO,
            );
        }
        let in_process = match sc.role {
            Role::Device => match &self.config.cloud {
                None => {
                    return result(
                        Verdict::Skip {
                            reason: self.config.remedies.no_cloud.clone(),
                        },
                        Vec::new(),
                        Default::default(),
                        Duration::ZERO,
                    )
                }
                Some(c) => c.capabilities().in_process,
            },
            Role::Cloud => match &self.config.device {
                None => {
                    return result(
                        Verdict::Skip {
                            reason: self.config.remedies.no_device.clone(),
                        },
                        Vec::new(),
                        Default::default(),
                        Duration::ZERO,
                    )
                }
                Some(d) => d.capabilities().in_process,
            },
            Role::Observer => {
                return result(
                    Verdict::Skip {
                        reason: OBSERVER_SKIP.into(),
                    },
                    Vec::new(),
                    Default::default(),
                    Duration::ZERO,
                )
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(in_process)
            .build();
        let outcome = match runtime {
            Err(e) => Err((
                TargetError::io("cannot start a runtime", e),
                Default::default(),
                Duration::ZERO,
            )),
            Ok(rt) => rt.block_on(async {
                let start_unix = wall_unix();
                let named: Vec<_> = identities
                    .iter()
                    .map(|(n, d)| (n.clone(), d.identity.clone()))
                    .collect();
                let rec = session::recorder(
                    &named,
                    self.config.fleet.seed_secret_no.as_ref(),
                    self.config.credentials.clone(),
                    start_unix,
                    self.config.profile.clone(),
                );
                let interrupt = &self.config.interrupt;
                let outcome = tokio::select! {
                    outcome = self.session(sc, slot, identities, in_process, rec.clone(), start_unix) => outcome,
                    // Dropping the session closes its links and stops a started device.
                    () = interrupt.raised() => Err(TargetError::failed(format!("interrupted ({}) before the scenario finished", interrupt.why()))),
                };
                // A scenario that did not end by itself (interrupted, its device or reset
                // would not start) keeps what it recorded up to there.
                outcome.map_err(|e| {
                    rec.record(crate::engine::TranscriptEvent::Note {
                        text: e.to_string(),
                    });
                    (e, rec.take(), rec.now())
                })
            }),
        };
        let swept = outcome.as_ref().ok().map(|o| o.swept);
        let seeded = outcome.as_ref().ok().and_then(|o| o.device_seeded);
        let mut finished = match outcome {
            Ok(o) => result(o.verdict, o.findings, o.transcript, o.scenario_time),
            Err((e, transcript, scenario_time)) => result(
                Verdict::Error(Failure::new(e.to_string())),
                Vec::new(),
                transcript,
                scenario_time,
            ),
        };
        self.hint_carried_state(sc, index, &mut finished);
        let context = JudgeContext {
            in_process,
            reference: self.reference_target(sc.role),
        };
        let strict_codes = sc.role == Role::Device
            && self
                .config
                .cloud
                .as_ref()
                .is_some_and(|c| c.capabilities().strict_codes);
        finished.judged = Some(Judged {
            steps: Some(finished.verdict.clone()),
            in_process,
            reference: context.reference,
            strict_codes,
            swept,
            seeded,
        });
        for judge in &self.config.judges {
            judge.judge(&mut finished, context);
        }
        finished
    }

    async fn session(
        &self,
        sc: &Scenario,
        slot: &super::live::LiveSlot,
        identities: Vec<(String, FleetDevice)>,
        in_process: bool,
        recorder: super::recorder::Recorder,
        start_unix: u64,
    ) -> Result<session::SessionOutcome, TargetError> {
        let index = slot.index;
        let seed = self.config.fleet.seed_secret_no.clone();
        let mut device_seeded = false;
        let target = match sc.role {
            Role::Device => {
                Target::Cloud(self.cloud_for(sc, index, &identities, start_unix).await?)
            }
            Role::Observer => return Err(TargetError::failed(OBSERVER_SKIP)),
            Role::Cloud => {
                let dut = &identities[0].1.identity;
                if let Some(cmd) = &self.config.device_reset {
                    target::reset(&self.config.children, cmd, &recorder).await?;
                }
                let Some(device) = &self.config.device else {
                    return Err(TargetError::failed("no device target"));
                };
                // The device starts seed-provisioned only where the scenario asks for it.
                let start = DeviceStart {
                    identity: dut.clone(),
                    seed_secret_no: seed
                        .clone()
                        .filter(|_| sc.requires.contains(&Capability::Seed)),
                    start_unix,
                    rng_seed: stable_hash(&sc.id.value),
                    log: recorder.clone(),
                    children: self.config.children.clone(),
                };
                // A device that connects by itself is provisioned as its statement says; one
                // the harness starts, as the harness starts it.
                device_seeded = if device.capabilities().single {
                    self.config.ics.as_ref().and_then(|i| i.provisioning)
                        == Some(crate::ics::Provisioning::Seed)
                } else {
                    start.seed_secret_no.is_some()
                };
                Target::Device(device.start(start).await?)
            }
        };
        let setup = SessionSetup {
            identities: identities
                .iter()
                .map(|(n, d)| (n.clone(), d.identity.clone()))
                .collect(),
            seed_secret_no: seed,
            recorder,
            step_timeout: self.config.step_timeout,
            deadline: self.config.deadline,
            // Against a real target the scenario clock is the wall clock and the deadline
            // bounds it; the budget then only catches what the deadline cannot.
            wall_budget: if in_process {
                self.config.wall_budget
            } else {
                self.config
                    .wall_budget
                    .max(self.config.deadline + Duration::from_secs(30))
            },
            profile: self.config.profile.clone(),
            boot_time: match (
                sc.role,
                &self.config.ics,
                self.config
                    .device
                    .as_ref()
                    .map(|d| d.capabilities().in_process),
            ) {
                // The reference device boots at once on the virtual clock.
                (Role::Cloud, Some(ics), Some(false)) => ics.lab.boot_time,
                _ => Duration::ZERO,
            },
            live: Some(slot.clone()),
            device_seeded,
            upper_tester: self.config.upper_tester.clone(),
            cloud_upper_tester: self.config.cloud_upper_tester.clone(),
            cloud_upper_tester_actions: self.config.cloud_upper_tester_actions.clone(),
            children: self.config.children.clone(),
            credentials: self.config.credentials.clone(),
            remedies: self.config.remedies.clone(),
        };
        Ok(session::run(sc, target, setup).await)
    }

    async fn cloud_for(
        &self,
        sc: &Scenario,
        index: usize,
        identities: &[(String, FleetDevice)],
        start_unix: u64,
    ) -> Result<Box<dyn CloudLink>, TargetError> {
        let Some(cloud) = &self.config.cloud else {
            return Err(TargetError::failed("no cloud target"));
        };
        // The scenario's cloud knows exactly the scenario's devices, as the fleet says.
        let fleet = Fleet {
            devices: identities.iter().map(|(_, d)| d.clone()).collect(),
            seed_secret_no: self.config.fleet.seed_secret_no.clone(),
        };
        let sources = source_ips(sc);
        cloud
            .open(1 + (index % 250) as u8, fleet, start_unix, &sources)
            .await
    }
}

/// A device-role scenario whose first device must start unbound.
fn needs_unbound(sc: &Scenario) -> bool {
    sc.role == Role::Device && sc.requires.contains(&Capability::Unbound)
}

/// Every source address a scenario may use (its `from`s, `to`s and the default).
fn source_ips(sc: &Scenario) -> Vec<Ipv4Addr> {
    let mut out = vec![Ipv4Addr::LOCALHOST];
    visit_steps(&sc.steps, &mut |k| match k {
        StepKind::Connect(c) => {
            out.extend(c.from.as_deref().and_then(|f| f.parse::<Ipv4Addr>().ok()))
        }
        StepKind::ChangeIp(c) => out.extend(c.to.parse::<Ipv4Addr>().ok()),
        _ => {}
    });
    out.sort();
    out.dedup();
    out
}

/// A hash that is the same on every run and machine (unlike `DefaultHasher`'s seed).
fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Sets the cloud target up for the run, on a runtime of its own.
fn prepare(cloud: &dyn CloudTarget) -> Result<(), RunError> {
    let err = |source: TargetError| RunError::Target {
        target: cloud.describe(),
        source,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| err(TargetError::io("cannot start a runtime", e)))?;
    rt.block_on(cloud.prepare()).map_err(err)
}

/// A scenario the run did not start, as a skip with `reason`.
/// How many events the workers may be ahead of the reporters.
const EVENT_QUEUE: usize = 1024;

/// The run's event stream as its consumer sees it: every event goes to the live board, then
/// to `on_event`, in the order of their times.
struct Stream<'a, F: FnMut(Event)> {
    clock: RunClock,
    /// The time of the last event out.
    last: Stamp,
    live: &'a super::live::LiveBoard,
    on_event: F,
}

impl<F: FnMut(Event)> Stream<'_, F> {
    /// An event happening now.
    fn emit(&mut self, kind: RunEvent) {
        let stamp = self.clock.now();
        self.forward(Event { stamp, kind });
    }

    /// An event a worker stamped. Workers race to the queue, so one may arrive after a later
    /// one: it goes out at the time of the last, and the stream's times never go back. The
    /// shift is the queue's latency (a worker's own events stay in their order and times).
    fn forward(&mut self, mut event: Event) {
        if event.stamp.at < self.last.at {
            event.stamp = self.last;
        }
        self.last = event.stamp;
        self.live.on_event(&event);
        (self.on_event)(event);
    }
}

fn not_run(sc: &Scenario, reason: String) -> ScenarioResult {
    ScenarioResult {
        id: sc.id.value.clone(),
        title: sc.title.clone(),
        file: sc.source.path.clone(),
        role: sc.role,
        requirements: sc.requirements.iter().map(|r| r.value.clone()).collect(),
        tags: sc.tags.clone(),
        verdict: Verdict::Skip { reason },
        findings: Vec::new(),
        obligations: Default::default(),
        not_reached: Default::default(),
        wall_time: Duration::ZERO,
        scenario_time: Duration::ZERO,
        transcript: Default::default(),
        judged: None,
    }
}
