//! A session runs one scenario's steps against its target: as a device against a cloud
//! (`device.rs`), or as the cloud against a device (`cloud.rs`). This module holds what both
//! share: the steps' bookkeeping, variables, time bounds, the always-on monitor and the end.
//!
//! A failed check is data: the session ends with a [`Verdict`] carrying the evidence. Every
//! wait is bounded by the step's `within`, the default step timeout or the scenario deadline.

mod cloud;
mod device;
mod steps;

use super::clock::ScenarioClock;
use super::monitor::Monitor;
use super::recorder::Recorder;
use super::target::{CloudLink, DeviceLink};
use super::transcript::{Transcript, TranscriptEvent};
use super::verdict::{Failure, Finding, Verdict};
use crate::profile::{
    DeviceIdentity, Learned, Profile, RunCredentials, RunValue, Secret, Severity, Violation,
};
use crate::scenario::expr::{self, format_duration, Vars};
use crate::scenario::matcher::{lookup_path, Matcher, Mismatch};
use crate::scenario::model::*;
use crate::wire::connection::Connection;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What a session needs besides the scenario and the target.
pub struct SessionSetup {
    /// The identity of each of the scenario's devices, by the scenario's name for it.
    pub identities: Vec<(String, DeviceIdentity)>,
    pub seed_secret_no: Option<Secret>,
    /// Where the scenario's transcript is recorded, on its clock: made by [`recorder`]
    /// before the device is reset or started, so their output is in it, and kept by the
    /// runner, so an interrupted scenario keeps what it recorded.
    pub recorder: Recorder,
    pub step_timeout: Duration,
    pub deadline: Duration,
    /// See [`crate::engine::RunConfig::wall_budget`].
    pub wall_budget: Duration,
    pub profile: Arc<dyn Profile>,
    /// Cloud role: the first `accept` waits at least this long (how long the device under
    /// test says it takes to start and connect); zero for none.
    pub boot_time: Duration,
    /// Where the session says which step it is in, for a live status line.
    pub live: Option<crate::engine::live::LiveSlot>,
    /// Cloud role: the device under test started seed-provisioned (its monitors judge the
    /// seed exchange by it).
    pub device_seeded: bool,
    /// Cloud role: the lab's upper tester, for a device the harness cannot make act itself.
    pub upper_tester: Option<String>,
    /// Device role: the lab's cloud upper tester, for a cloud the harness cannot make act
    /// through a control plane (a corp binds the device, a person opens the door remotely).
    pub cloud_upper_tester: Option<String>,
    /// The actions the cloud's statement says its upper tester can perform; `None`: all.
    pub cloud_upper_tester_actions: Option<Vec<String>>,
    /// The run's processes, the upper tester's among them.
    pub children: std::sync::Arc<crate::engine::children::Children>,
    /// The run's credentials: scrubbed from the transcript, and told what the wire teaches.
    pub credentials: crate::profile::RunCredentials,
    /// What a skip reason tells a person to give ([`crate::engine::RunConfig::remedies`]).
    pub remedies: Arc<crate::engine::target::Remedies>,
}

/// What the session talks to.
pub enum Target {
    /// The harness plays a device; this is the cloud.
    Cloud(Box<dyn CloudLink>),
    /// The harness plays the cloud; this is the device.
    Device(Box<dyn DeviceLink>),
}

/// What a session ends with: the steps' verdict on the cited ids, and what the always-on
/// rules found (the runner folds the two together, after the judges).
pub struct SessionOutcome {
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    pub transcript: Transcript,
    pub scenario_time: Duration,
    /// Transcript entries the monitors had seen at their last sweep (the rest were recorded
    /// while the links were shut down, which no rule judges).
    pub swept: usize,
    /// Cloud role: whether the device started seed-provisioned.
    pub device_seeded: Option<bool>,
}

/// Why the steps stopped (boxed: a failure carries its evidence).
pub(crate) enum Stop {
    Fail(Box<Failure>),
    /// A failure before the test body: the target never reached the state it needs.
    Inconclusive(Box<Failure>),
    Error(Box<Failure>),
    Skip(String),
}

type StepResult = Result<(), Stop>;

/// Per-device state: the identity and what the profile's defaults draw on.
struct Device {
    identity: DeviceIdentity,
    /// What replies taught (the profile names the values and reads them back).
    learned: BTreeMap<String, Value>,
}

impl Device {
    fn apply(&mut self, learned: Vec<Learned>) {
        for l in learned {
            match l {
                Learned::Value { name, value } => {
                    self.learned.insert(name.to_string(), value);
                }
                Learned::SigningSecret(s) => self.identity.secret_no = s,
            }
        }
    }
}

/// Where a step is, for failure messages.
#[derive(Clone)]
struct At {
    index: String,
    kind: &'static str,
    span: Span,
}

impl At {
    fn failure(&self, message: impl Into<String>) -> Box<Failure> {
        let mut f = Failure::new(message);
        f.step = Some(self.index.clone());
        f.step_kind = Some(self.kind.to_string());
        f.line = Some(self.span.line);
        f.col = Some(self.span.col);
        Box::new(f)
    }
    fn fail(&self, message: impl Into<String>) -> Stop {
        Stop::Fail(self.failure(message))
    }
    fn error(&self, message: impl Into<String>) -> Stop {
        Stop::Error(self.failure(message))
    }
    fn mismatch(&self, what: &str, m: Mismatch, span: Span) -> Stop {
        let mut f = self.failure(format!("{what} did not match: {m}"));
        f.line = Some(span.line);
        f.col = Some(span.col);
        f.expected = Some(m.expected);
        f.actual = Some(m.actual);
        f.judges.extend(m.rule);
        Stop::Fail(f)
    }
    /// Fails when something came `waited` after the step started, earlier than allowed.
    fn not_before(&self, what: &str, waited: Duration, bound: Option<Duration>) -> StepResult {
        match bound {
            Some(nb) if waited < nb => {
                let mut f = self.failure(format!(
                    "{what} came after {}, before the earliest allowed {}",
                    format_duration(waited),
                    format_duration(nb)
                ));
                f.early = true;
                Err(Stop::Fail(f))
            }
            _ => Ok(()),
        }
    }
}

struct Session<'a> {
    sc: &'a Scenario,
    target: Target,
    devices: BTreeMap<String, Device>,
    seed: Option<Secret>,
    conns: BTreeMap<String, Connection>,
    /// The names of `conns`, as the monitors' `tick` takes them.
    open: Vec<String>,
    abandoned: Vec<Connection>,
    vars: BTreeMap<String, Value>,
    rec: Recorder,
    /// The protocol profile: the engine's only source of protocol knowledge.
    profile: Arc<dyn Profile>,
    monitor: Monitor,
    counter: u64,
    step_timeout: Duration,
    /// Cloud role: the last request received per connection (req_id, cmd).
    last_received: BTreeMap<String, (String, String)>,
    /// Cloud role: the cmd of every request a step received, by req_id (for `reply: {to}`).
    received_cmds: BTreeMap<String, String>,
    /// Cloud role: since when a second connection of the device has been waiting while a
    /// link was open (the profile's one-link rule).
    second_link_since: Option<Duration>,
    /// Cloud role: named moments for `timing`, as transcript positions (many frames can share
    /// one instant on the virtual clock, so time alone cannot say what came after).
    marks: BTreeMap<String, usize>,
    /// What the always-on rules saw so far (at most [`MAX_FINDINGS`](super::verdict::MAX_FINDINGS)).
    findings: Vec<Finding>,
    /// The test body has started (a scenario without a `purpose` step is all body).
    in_body: bool,
    /// When the scenario must end in wall time.
    wall_deadline: std::time::Instant,
    wall_budget: Duration,
    /// Set by `one_of` for the first step of the branch it took: that step's window opened
    /// when `one_of` began.
    window_start: Option<Duration>,
    /// Cloud role: when the last push went out on each connection. A `receive` after it
    /// takes only requests that arrived since: a reaction comes after its cause.
    pushed_at: BTreeMap<String, Duration>,
    /// The lower bound of the first `accept`'s wait, until that accept runs.
    boot_time: Option<Duration>,
    live: Option<crate::engine::live::LiveSlot>,
    upper_tester: Option<String>,
    cloud_upper_tester: Option<String>,
    cloud_upper_tester_actions: Option<Vec<String>>,
    remedies: Arc<crate::engine::target::Remedies>,
    children: std::sync::Arc<crate::engine::children::Children>,
}

/// A scenario's recorder, its clock started now, knowing the credentials of its devices,
/// the seed and the run's, so nothing that enters the transcript shows them.
pub fn recorder(
    identities: &[(String, DeviceIdentity)],
    seed_secret_no: Option<&Secret>,
    run: RunCredentials,
    start_unix: u64,
    profile: Arc<dyn Profile>,
) -> Recorder {
    let mut known: Vec<String> = identities
        .iter()
        .map(|(_, d)| d.secret_no.expose().to_string())
        .collect();
    known.extend(seed_secret_no.map(|s| s.expose().to_string()));
    Recorder::for_run(ScenarioClock::start(start_unix), known, run, profile)
}

/// Runs `scenario` to a verdict. Never panics on target behaviour; every wait is bounded.
pub async fn run(scenario: &Scenario, target: Target, setup: SessionSetup) -> SessionOutcome {
    let profile = setup.profile.clone();
    let device_seeded = matches!(target, Target::Device(_)).then_some(setup.device_seeded);
    let rec = setup.recorder;
    let monitor = match &target {
        Target::Cloud(cloud) => Monitor::for_cloud(&*profile, cloud.capabilities().strict_codes),
        Target::Device(_) => Monitor::for_device(&*profile, Some(setup.device_seeded)),
    };
    let devices = setup
        .identities
        .into_iter()
        .map(|(name, identity)| {
            (
                name,
                Device {
                    identity,
                    learned: BTreeMap::new(),
                },
            )
        })
        .collect();
    let mut session = Session {
        sc: scenario,
        target,
        devices,
        seed: setup.seed_secret_no,
        conns: BTreeMap::new(),
        open: Vec::new(),
        abandoned: Vec::new(),
        vars: scenario.vars.clone().into_iter().collect(),
        rec: rec.clone(),
        profile,
        monitor,
        counter: 0,
        step_timeout: scenario.step_timeout.unwrap_or(setup.step_timeout),
        last_received: BTreeMap::new(),
        received_cmds: BTreeMap::new(),
        second_link_since: None,
        marks: BTreeMap::new(),
        findings: Vec::new(),
        in_body: !scenario
            .steps
            .iter()
            .any(|s| matches!(s.kind, StepKind::Purpose(_))),
        window_start: None,
        pushed_at: BTreeMap::new(),
        wall_deadline: std::time::Instant::now() + setup.wall_budget,
        wall_budget: setup.wall_budget,
        boot_time: Some(setup.boot_time).filter(|d| !d.is_zero()),
        live: setup.live,
        upper_tester: setup.upper_tester,
        cloud_upper_tester: setup.cloud_upper_tester,
        cloud_upper_tester_actions: setup.cloud_upper_tester_actions,
        remedies: setup.remedies,
        children: setup.children,
    };
    let deadline = scenario.deadline.unwrap_or(setup.deadline);
    let result = match session.applicable() {
        Err(stop) => Err(stop),
        Ok(()) => {
            match tokio::time::timeout(deadline, session.run_steps(&scenario.steps, "")).await {
                Ok(r) => r,
                Err(_) => Err(Stop::Error(Box::new(Failure::new(format!(
                    "the scenario deadline of {} passed before the last step finished",
                    format_duration(deadline)
                ))))),
            }
        }
    };
    let result = session.crash_told_once(result).await;
    // The monitor judges what arrived whatever ended the steps: a device that broke a rule
    // and then made the scenario run out of time failed; it did not merely time out.
    session.sweep(None, true);
    let swept = rec.with_transcript(|t| t.entries.len());
    let ours = match &session.target {
        Target::Cloud(c) => c.capabilities().ours,
        Target::Device(d) => d.capabilities().ours,
    };
    let scenario_time = rec.now();
    session.shutdown().await;
    let redact = |mut f: Box<Failure>| {
        f.message = rec.redact(&f.message);
        f.expected = f.expected.map(|e| rec.redact(&e));
        f.actual = f.actual.map(|a| rec.redact(&a));
        *f
    };
    let verdict = match result {
        Ok(()) => Verdict::Pass,
        Err(Stop::Fail(f)) => match &scenario.assumption {
            // Autobahn's "non-strict": the reading binds the harness's own build only.
            Some(assumed) if !ours => {
                let mut f = redact(f);
                f.message = format!(
                    "{} (the check rests on an assumption, not a documented rule: {assumed})",
                    f.message
                );
                Verdict::Warn(f)
            }
            _ => Verdict::Fail(redact(f)),
        },
        Err(Stop::Inconclusive(f)) => Verdict::Inconclusive(redact(f)),
        Err(Stop::Error(f)) => Verdict::Error(redact(f)),
        Err(Stop::Skip(reason)) => Verdict::Skip { reason },
    };
    let findings = std::mem::take(&mut session.findings)
        .into_iter()
        .map(|mut f| {
            f.message = rec.redact(&f.message);
            f
        });
    SessionOutcome {
        verdict,
        findings: findings.collect(),
        transcript: rec.take(),
        scenario_time,
        swept,
        device_seeded,
    }
}

/// Whether any step (at any depth) satisfies `pred`.
pub fn any_step(steps: &[Step], pred: &dyn Fn(&StepKind) -> bool) -> bool {
    let mut found = false;
    visit_steps(steps, &mut |k| found |= pred(k));
    found
}

/// Lookups for `${...}` and `$signature`: session values, devices, the target's settings.
struct SessionVars<'s, 'a>(&'s Session<'a>);

impl Vars for SessionVars<'_, '_> {
    fn get(&self, name: &str) -> Option<Value> {
        self.0.var(name)
    }

    fn signing_secret(&self, kind: &str, sn: &str) -> Option<String> {
        let device = self.0.devices.values().find(|d| d.identity.sn == sn)?;
        self.0
            .profile
            .signing_secret(kind, &device.identity, self.0.seed.as_ref())
    }

    fn profile(&self) -> Option<&dyn crate::profile::Profile> {
        Some(&*self.0.profile)
    }
}

impl<'a> Session<'a> {
    /// A scenario the target cannot serve is skipped with the reason, before anything runs.
    fn applicable(&self) -> StepResult {
        let skip = |reason: &str| Err(Stop::Skip(reason.to_string()));
        if self.sc.requires.contains(&Capability::Control)
            && !matches!(&self.target, Target::Cloud(c) if c.capabilities().control)
        {
            return skip("needs harness control of the cloud (bind/unbind, fault injection), which only the mock accepts");
        }
        if self.sc.requires.contains(&Capability::DeviceControl)
            && self.upper_tester.is_none()
            && !matches!(&self.target, Target::Device(d) if d.capabilities().control)
        {
            return skip(&self.remedies.needs_upper_tester);
        }
        if self.sc.requires.contains(&Capability::CloudControl)
            && self.cloud_upper_tester.is_none()
            && !matches!(&self.target, Target::Cloud(c) if c.capabilities().control)
        {
            return skip(&self.remedies.needs_cloud_upper_tester);
        }
        if let Some(missing) = self.beyond_the_upper_tester() {
            return Err(Stop::Skip(format!("not tested: the cloud's upper tester cannot perform `{missing}` (the cloud statement's [upper_tester] actions)")));
        }
        if self.sc.requires.contains(&Capability::Seed) && self.seed.is_none() {
            return skip("needs a seed-provisioned fleet (seed_secret_no in the devices file)");
        }
        if let Target::Cloud(cloud) = &self.target {
            self.cloud_states_enough(&cloud.settings())?;
        }
        let uses_addresses = any_step(&self.sc.steps, &|k| {
            matches!(k, StepKind::ChangeIp(_))
                || matches!(k, StepKind::Connect(c) if c.from.is_some())
        });
        if uses_addresses
            && !matches!(&self.target, Target::Cloud(c) if c.capabilities().source_addresses)
        {
            return skip("needs distinct source addresses, available only against in-process or loopback targets");
        }
        Ok(())
    }

    /// The first action of the scenario the lab's cloud upper tester will be asked for and
    /// its statement does not list.
    fn beyond_the_upper_tester(&self) -> Option<&'static str> {
        let declared = self.cloud_upper_tester_actions.as_ref()?;
        let by_lab = self.cloud_upper_tester.is_some()
            && matches!(&self.target, Target::Cloud(c) if !c.capabilities().in_process);
        let mut missing = None;
        visit_steps(&self.sc.steps, &mut |k| {
            if let StepKind::Control(c) = k {
                let name = c.action_name();
                if by_lab
                    && missing.is_none()
                    && name.is_some_and(|n| !declared.iter().any(|d| d == n))
                {
                    missing = name;
                }
            }
        });
        missing
    }

    /// What a device-role scenario needs the cloud to have stated: a frame limit below the
    /// largest frame it sends, the visitor pull it uses (unless said absent).
    fn cloud_states_enough(&self, settings: &crate::profile::CloudSettings) -> StepResult {
        let limits = self.profile.cloud_limits(settings);
        let skip = |reason: String| Err(Stop::Skip(reason));
        if self.sc.requires.contains(&Capability::FrameLimit) {
            let mut largest = 0;
            visit_steps(&self.sc.steps, &mut |k| {
                if let StepKind::Send(s) = k {
                    if let SendFrame::Oversized(n) = s.frame {
                        largest = largest.max(n);
                    }
                }
            });
            match limits.max_frame_bytes {
                Some(limit) if limit < largest => {}
                Some(limit) => return skip(format!("not applicable: the cloud's frame limit ({limit} bytes) is not below the {largest}-byte frame this scenario sends")),
                None => return skip("not applicable: the cloud states no frame limit (a cloud statement's `[limits] max_frame_bytes`); the protocol documents none".into()),
            }
        }
        if self.sc.requires.contains(&Capability::VisitorList) && limits.visitor_list == Some(false)
        {
            return skip("not applicable: the cloud statement says visitor_list = false".into());
        }
        Ok(())
    }

    fn now(&self) -> Duration {
        self.rec.now()
    }

    /// When the running step's window opened: now, or when the `one_of` that chose it began.
    fn step_start(&mut self) -> Duration {
        self.window_start.take().unwrap_or_else(|| self.now())
    }

    fn note(&self, text: String) {
        self.rec.record(TranscriptEvent::Note { text });
    }

    fn vars(&self) -> SessionVars<'_, 'a> {
        SessionVars(self)
    }

    /// Looks a `${name}` up: session values first, then devices and the target's settings.
    fn var(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.vars.get(name) {
            return Some(v.clone());
        }
        let first = self.sc.devices.first().and_then(|d| self.devices.get(d));
        match name {
            "now" => Some(json!(self.rec.clock.now_unix())),
            "sn" => first.map(|d| json!(d.identity.sn)),
            _ => {
                if let Some(c) = self
                    .profile
                    .timing_constants()
                    .iter()
                    .find(|c| c.name == name)
                {
                    return Some(json!(format_duration(c.value)));
                }
                if let Target::Cloud(cloud) = &self.target {
                    match self.profile.run_variable(name, &cloud.settings()) {
                        Some(RunValue::Duration(d)) => return Some(json!(format_duration(d))),
                        Some(RunValue::Json(v)) => return Some(v),
                        None => {}
                    }
                }
                let (dev, field) = name.split_once('.')?;
                (field == "sn").then(|| self.devices.get(dev).map(|d| json!(d.identity.sn)))?
            }
        }
    }

    fn duration(&self, d: &Option<DurationExpr>, at: &At) -> Result<Duration, Stop> {
        match d {
            None => Ok(self.step_timeout),
            Some(d) => self.resolve(d, at),
        }
    }

    fn resolve(&self, d: &DurationExpr, at: &At) -> Result<Duration, Stop> {
        expr::resolve_duration(d, &self.vars()).map_err(|e| at.error(e.to_string()))
    }

    fn resolve_opt(&self, d: &Option<DurationExpr>, at: &At) -> Result<Option<Duration>, Stop> {
        d.as_ref().map(|d| self.resolve(d, at)).transpose()
    }

    fn expand(&self, v: &Value, at: &At) -> Result<Value, Stop> {
        expr::expand_value(v, &self.vars()).map_err(|e| at.error(e.to_string()))
    }

    fn expand_text(&self, t: &str, at: &At) -> Result<String, Stop> {
        Ok(match self.expand(&json!(t), at)? {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }

    fn check(&self, m: &Matcher, frame: &Value) -> Result<(), Mismatch> {
        m.check(Some(frame), &self.vars())
    }

    fn capture(
        &mut self,
        capture: &BTreeMap<String, String>,
        frame: &Value,
        at: &At,
    ) -> StepResult {
        for (name, path) in capture {
            let v = lookup_path(frame, path).ok_or_else(|| {
                at.fail(format!(
                    "cannot capture `{name}`: the frame has no `{path}`"
                ))
            })?;
            self.vars.insert(name.clone(), v.clone());
        }
        Ok(())
    }

    /// Sets the session value `name` (without a new key when it is already set: `repeat`
    /// and `request` set theirs on every step).
    fn set_var(&mut self, name: &str, value: Value) {
        match self.vars.get_mut(name) {
            Some(v) => *v = value,
            None => {
                self.vars.insert(name.to_string(), value);
            }
        }
    }

    fn fresh_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        numbered(prefix, "-", self.counter, "")
    }

    /// Checks what the target sent since the last sweep and records what the rules found;
    /// the conversation goes on, so one deviation does not hide the others.
    fn sweep(&mut self, at: Option<&At>, end: bool) {
        let now = self.now();
        if let Some(v) = self.second_link(now) {
            self.finding(v, at);
        }
        // Rebuilt only when the set of links changed, not on every step.
        if !self.open.iter().eq(self.conns.keys()) {
            self.open = self.conns.keys().cloned().collect();
        }
        let violations = self
            .rec
            .with_transcript(|t| self.monitor.sweep(t, now, &self.open, end));
        for v in violations {
            self.record_finding(v, at, true);
        }
    }

    /// Records a broken rule (each rule once per message: a rule that keeps breaking the
    /// same way says nothing new), noted in the transcript where it was seen.
    fn finding(&mut self, v: Violation, at: Option<&At>) {
        self.record_finding(v, at, false);
    }

    /// [`Self::finding`]; `monitor`: an always-on monitor saw it in the transcript.
    fn record_finding(&mut self, v: Violation, at: Option<&At>, monitor: bool) {
        let word = match v.severity {
            Severity::Fail => "broken",
            Severity::Warning => "warning",
        };
        let note = format!("{} {word}: {}", v.rule, v.message);
        if Finding::push_new(
            &mut self.findings,
            v,
            at.map(|a| (a.index.clone(), a.span.line)),
            monitor,
        ) {
            self.note(note);
            if let (Some(live), Some(f)) = (&self.live, self.findings.last()) {
                live.finding(f);
            }
        }
    }

    /// The profile's one-link rule for connections no step took: a second link that
    /// completed its handshake while one is open, for longer than a close on its way explains.
    fn second_link(&mut self, now: Duration) -> Option<Violation> {
        let Target::Device(device) = &self.target else {
            return None;
        };
        let rule = self.profile.second_link_rule()?;
        let open = self.conns.values_mut().any(|c| c.ended().is_none());
        if !(open && device.waiting() > 0) {
            self.second_link_since = None;
            return None;
        }
        let since = *self.second_link_since.get_or_insert(now);
        let side_by_side = now.saturating_sub(since);
        (side_by_side > rule.grace).then(|| rule.waiting(side_by_side))
    }

    fn run_steps<'s>(
        &'s mut self,
        steps: &'s [Step],
        prefix: &'s str,
    ) -> futures_util::future::BoxFuture<'s, StepResult> {
        Box::pin(async move {
            for (i, step) in steps.iter().enumerate() {
                let index = step_index(prefix, i + 1);
                let at = At {
                    index,
                    kind: step.kind.name(),
                    span: step.span,
                };
                if std::time::Instant::now() >= self.wall_deadline {
                    return Err(at.error(format!(
                        "the scenario used its wall-clock budget of {} before this step (--wall-budget); its scenario clock reads {}",
                        format_duration(self.wall_budget),
                        format_duration(self.now())
                    )));
                }
                self.rec.record(TranscriptEvent::Step {
                    index: at.index.clone(),
                    kind: at.kind.into(),
                    line: step.span.line,
                });
                if let Some(live) = &self.live {
                    live.step(&at.index, at.kind, step.span.line);
                }
                let result = self.step(&step.kind, &at).await;
                self.window_start = None;
                self.sweep(Some(&at), false);
                let result = result.map_err(|stop| self.attribute(step, &at, stop));
                // A postamble (the trailing steps that each judge nothing, after a step that
                // judges) tidies up: its failure changes no verdict the judged steps gave
                // (TTCN-3). It is noted in the transcript and the rest of it is left undone.
                if let Err(Stop::Inconclusive(f)) = &result {
                    let postamble = prefix.is_empty()
                        && steps[i..].iter().all(|s| s.judges_nothing)
                        && steps[..i].iter().any(|s| !s.judges_nothing);
                    if postamble {
                        self.note(format!(
                            "postamble: step {} failed; it judges nothing, so the verdict stands: {}",
                            at.index, f.message
                        ));
                        return Ok(());
                    }
                }
                match result {
                    // Before the test body, the target only failed to reach the state the
                    // purpose needs: nothing is proven either way, unless the check that
                    // failed names the rule it judges.
                    Err(Stop::Fail(mut f)) if !self.in_body && f.judges.is_empty() => {
                        f.message =
                            format!("the preamble did not reach the test purpose: {}", f.message);
                        return Err(Stop::Inconclusive(f));
                    }
                    Err(stop) => return Err(stop),
                    Ok(()) => {}
                }
            }
            Ok(())
        })
    }

    /// What a failed step means for the obligations: a protocol window it missed shows how
    /// the rules compose it; a step that judges nothing (`judges: []`) proves nothing; and a
    /// failure its matchers did not attribute (`$judges`) is charged to what the step names.
    /// A failure of a nested step (`repeat`, `one_of`) was attributed there first.
    fn attribute(&self, step: &Step, at: &At, stop: Stop) -> Stop {
        let Stop::Fail(mut f) = stop else { return stop };
        let own = f.step.as_deref() == Some(at.index.as_str());
        // Only timing messages get the note: a mismatch is no window's doing.
        if own && (f.early || f.message.contains(" within ")) {
            f.message.push_str(&self.windows_note(step));
        }
        if !f.judges.is_empty() {
            return Stop::Fail(f);
        }
        if step.judges_nothing {
            f.message = format!(
                "the target did not reach the state the next check needs: {}",
                f.message
            );
            return Stop::Inconclusive(f);
        }
        let ids = if own && f.early && !step.judges_not_before.is_empty() {
            &step.judges_not_before
        } else {
            &step.judges
        };
        f.judges = ids.iter().map(|j| j.value.clone()).collect();
        Stop::Fail(f)
    }

    /// `; resend_latest = 14s: the longest request timeout ...` for every protocol window the
    /// step names (`${resend_latest}`), or nothing.
    fn windows_note(&self, step: &Step) -> String {
        let text = step.kind.to_yaml(0).join("\n");
        let mut note: String = self
            .profile
            .timing_constants()
            .iter()
            .filter(|c| text.contains(&format!("${{{}}}", c.name)))
            .map(|c| {
                format!(
                    "; {} = {}: {}",
                    c.name,
                    format_duration(c.value),
                    c.composition
                )
            })
            .collect();
        // Windows composed from the cloud's settings (its statement) and the protocol's ranges.
        if let Target::Cloud(cloud) = &self.target {
            let settings = cloud.settings();
            for name in self.profile.run_variable_names() {
                if !text.contains(&format!("${{{name}}}")) {
                    continue;
                }
                let value = self.profile.run_variable(name, &settings);
                let composed = self.profile.run_window_composition(name, &settings);
                if let (Some(RunValue::Duration(d)), Some(how)) = (value, composed) {
                    note.push_str(&format!("; {name} = {}: {how}", format_duration(d)));
                }
            }
        }
        note
    }

    fn conn(&mut self, name: &str, at: &At) -> Result<&mut Connection, Stop> {
        let kind = if matches!(self.target, Target::Device(_)) {
            "accept"
        } else {
            "connect"
        };
        self.conns
            .get_mut(name)
            .ok_or_else(|| at.error(format!("no open connection `{name}` ({kind} it first)")))
    }

    /// A device killed by a signal mid-scenario breaks its link, fails the push under way and
    /// exits with 128+N all at once: whichever the steps saw first, the run reports the
    /// crash, once, at the step that met it. It is an error, not a failure: no obligation
    /// says a device must not crash, and none was judged by the link it lost.
    async fn crash_told_once(&mut self, result: Result<(), Stop>) -> Result<(), Stop> {
        let met = match &result {
            Err(Stop::Fail(f) | Stop::Inconclusive(f) | Stop::Error(f)) => f,
            _ => return result,
        };
        let Target::Device(device) = &mut self.target else {
            return result;
        };
        let Some(why) = device.killed().await else {
            return result;
        };
        let crash = Failure {
            step: met.step.clone(),
            step_kind: met.step_kind.clone(),
            line: met.line,
            col: met.col,
            ..Failure::new(why)
        };
        Err(Stop::Error(Box::new(crash)))
    }

    /// Closes what is open, cleanly and within a bound; lets abandoned links go; stops the
    /// device target.
    async fn shutdown(&mut self) {
        for (_, conn) in std::mem::take(&mut self.conns) {
            conn.close(1000, "").await;
        }
        self.abandoned.clear();
        if let Target::Device(device) = &mut self.target {
            device.stop().await;
        }
    }
}

/// `head`, `sep`, the digits of `n`, `tail`: a step index (`2[5].1`) or a fresh id
/// (`hwc-7`), built without `format!`, whose machinery costs more than the string on every
/// step of a long `repeat`.
fn numbered(head: &str, sep: &str, n: impl itoa::Integer, tail: &str) -> String {
    let mut digits = itoa::Buffer::new();
    let n = digits.format(n);
    let mut s = String::with_capacity(head.len() + sep.len() + n.len() + tail.len());
    for part in [head, sep, n, tail] {
        s.push_str(part);
    }
    s
}

/// A step's index: `3`, or `2[5].3` inside a `repeat`.
fn step_index(prefix: &str, n: usize) -> String {
    numbered(prefix, if prefix.is_empty() { "" } else { "." }, n, "")
}

/// A frame for a message, with what the profile calls secret replaced.
fn redacted(profile: &dyn Profile, v: &Value) -> String {
    profile.redact(v).to_string()
}

fn redacted_text(profile: &dyn Profile, t: &str) -> String {
    match serde_json::from_str::<Value>(t) {
        Ok(v) => redacted(profile, &v),
        Err(_) => format!("{:?}", &t[..t.floor_char_boundary(80)]),
    }
}
