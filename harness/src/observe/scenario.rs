//! Observer scenarios (`role: observer`): the harness relays a device it starts (through a
//! device target: the reference device, a process, or one that connects) to an upstream
//! cloud, arms the scenario's `fault` steps on the live link, and judges its `expect` steps
//! on what the two parties say to each other. The relay and both parties' monitors are the
//! observe mode's own; each link gives its two monitor results beside the scenario's.
//!
//! An observer `expect` takes the first frame `from` sends that its selectors take (`cmd`,
//! `reply_to`), in the order the relay saw them, and judges it with its `frame` matcher; its
//! window runs from the frame the previous `expect` took (or the scenario's start, or the end
//! of a `wait`) and is measured on the times the relay saw the frames.

use super::fault::{Action, LinkFault, Pattern, Toward};
use super::link::{Ctx, OnFinding, Peer, Seen, Tap};
use super::relay;
use crate::engine::clock::{wall_unix, ScenarioClock};
use crate::engine::recorder::Recorder;
use crate::engine::target::{DeviceLink, DeviceStart, DeviceTarget};
use crate::engine::transcript::TranscriptEvent;
use crate::engine::verdict::{Failure, Judged, ScenarioResult, Verdict};
use crate::profile::{DeviceIdentity, Profile};
use crate::scenario::expr::{format_duration, resolve_duration};
use crate::scenario::{
    DurationExpr, Expect, FaultAction, FaultMatch, LinkDirection, LinkFaultKind, ObservedParty,
    Role, Scenario, Step, StepKind,
};
use crate::wire::transport::Endpoint;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Frames an observer scenario may fall behind by before it stops judging.
const TAP_CAPACITY: usize = 10_000;
/// An `expect` without `within`, in a scenario without `step_timeout`.
const DEFAULT_WITHIN: Duration = Duration::from_secs(10);
/// A scenario without `deadline`.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);
/// Device connections one observer scenario relays.
const MAX_LINKS: usize = 64;
/// Bound on the links' closing once the steps are done.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(25);

/// What an observer scenario runs against.
pub struct ScenarioSetup {
    /// The cloud the device is relayed to.
    pub upstream: Endpoint,
    pub insecure: bool,
    /// The device under test, started for each scenario; it connects to the harness.
    pub device: Arc<dyn DeviceTarget>,
    /// Its identity: the upstream cloud must know it.
    pub identity: DeviceIdentity,
    pub profile: Arc<dyn Profile>,
    pub on_finding: OnFinding,
    /// The processes the device target starts: killed with the run.
    pub children: Arc<crate::engine::children::Children>,
}

/// Runs one observer scenario: its own result first, then each link's two monitor results.
pub async fn run(sc: &Scenario, setup: &ScenarioSetup) -> Vec<ScenarioResult> {
    let wall = Instant::now();
    let clock = ScenarioClock::start(wall_unix());
    let secrets = vec![setup.identity.secret_no.expose().to_string()];
    let rec = Recorder::new(clock, secrets, setup.profile.clone());
    let (tx, rx) = mpsc::channel(TAP_CAPACITY);
    let overflowed = Arc::new(AtomicBool::new(false));
    let ctx = Arc::new(Ctx {
        by_sn: super::by_sn::BySn::new(),
        tap: Some(Tap {
            tx,
            overflowed: overflowed.clone(),
        }),
        profile: setup.profile.clone(),
        upstream: super::upstream::Upstream::new(
            setup.upstream.clone(),
            setup.insecure,
            Vec::new(),
        ),
        tls: None,
        faults: super::fault::Faults::new(Vec::new()),
        on_finding: setup.on_finding.clone(),
        forwarded: AtomicU64::new(0),
        transcript_cap: crate::engine::recorder::MAX_ENTRIES,
    });
    let deadline = sc.deadline.unwrap_or(DEFAULT_DEADLINE);
    let start = DeviceStart {
        identity: setup.identity.clone(),
        seed_secret_no: None,
        start_unix: wall_unix(),
        rng_seed: 0,
        log: rec.clone(),
        children: setup.children.clone(),
    };
    let (verdict, links) = match setup.device.start(start).await {
        Err(e) => (
            Verdict::Error(Failure::new(format!("cannot start the device: {e}"))),
            Vec::new(),
        ),
        Ok(mut device) => {
            let (stop_tx, stop_rx) = watch::channel(false);
            let mut steps = Steps {
                sc,
                profile: &*setup.profile,
                rec: &rec,
                rx,
                overflowed,
                ctx: &ctx,
                anchor: Instant::now(),
                in_body: false,
            };
            let judged = async {
                let v = match tokio::time::timeout(deadline, steps.run()).await {
                    Ok(v) => v,
                    Err(_) => Verdict::Error(Failure::new(format!(
                        "the scenario did not finish within its deadline of {}",
                        format_duration(deadline)
                    ))),
                };
                let _ = stop_tx.send(true);
                v
            };
            let (verdict, links) =
                tokio::join!(judged, serve(&mut *device, &ctx, stop_rx, deadline));
            device.stop().await;
            let mut links = links;
            links.extend(ctx.by_sn.results());
            (verdict, links)
        }
    };
    let mut result = ScenarioResult {
        id: sc.id.value.clone(),
        title: sc.title.clone(),
        file: sc.source.path.clone(),
        role: Role::Observer,
        requirements: sc.requirements.iter().map(|r| r.value.clone()).collect(),
        tags: sc.tags.clone(),
        verdict,
        findings: Vec::new(),
        obligations: BTreeMap::new(),
        not_reached: BTreeMap::new(),
        wall_time: wall.elapsed(),
        scenario_time: rec.now(),
        transcript: rec.take(),
        judged: Some(Judged {
            steps: None,
            in_process: false,
            reference: false,
            strict_codes: false,
            swept: None,
            seeded: None,
        }),
    };
    let profile = &setup.profile;
    result.conclude(&|id| profile.binding(id));
    let mut out = vec![result];
    out.extend(links.into_iter().map(|mut r| {
        r.id = format!("{}.{}", sc.id.value, r.id);
        r
    }));
    out
}

/// Relays each connection the device makes until the steps are done.
async fn serve(
    device: &mut dyn DeviceLink,
    ctx: &Arc<Ctx>,
    stop: watch::Receiver<bool>,
    deadline: Duration,
) -> Vec<ScenarioResult> {
    let mut stopped = stop.clone();
    let mut links = tokio::task::JoinSet::new();
    let mut results = Vec::new();
    let mut n = 0;
    let until = tokio::time::Instant::now() + deadline;
    loop {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            got = device.accept(until) => match got {
                Some(Ok((ws, peer, _))) if links.len() < MAX_LINKS => {
                    n += 1;
                    links.spawn(relay::relay_ws(ws, peer, String::new(), n, ctx.clone(), stop.clone(), Instant::now()));
                }
                Some(Ok(_)) => tracing::warn!("{MAX_LINKS} device links already relayed: refused"),
                Some(Err(e)) => {
                    tracing::warn!("the device's connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // Past the deadline: the steps end too.
                None => break,
            },
            Some(done) = links.join_next(), if !links.is_empty() => {
                results.extend(done.unwrap_or_default());
            }
        }
    }
    let closing = tokio::time::timeout(SHUTDOWN_BOUND, async {
        while let Some(done) = links.join_next().await {
            results.extend(done.unwrap_or_default());
        }
    })
    .await;
    if closing.is_err() {
        links.abort_all();
    }
    results.sort_by(|a, b| a.id.cmp(&b.id));
    results
}

/// An expectation's matcher looks names up as the steps do, under the run's profile (what
/// `$signature` signs with and what a mismatch redacts), not the default one.
impl crate::scenario::expr::Vars for Steps<'_> {
    fn get(&self, name: &str) -> Option<Value> {
        self.var(name)
    }

    fn profile(&self) -> Option<&dyn Profile> {
        Some(self.profile)
    }
}

/// How a step ends when it does not pass.
enum Stop {
    Fail(Box<Failure>),
    Error(Box<Failure>),
}

struct Steps<'a> {
    sc: &'a Scenario,
    profile: &'a dyn Profile,
    rec: &'a Recorder,
    rx: mpsc::Receiver<Seen>,
    overflowed: Arc<AtomicBool>,
    ctx: &'a Ctx,
    /// Where the next `expect`'s window starts.
    anchor: Instant,
    /// After `purpose`: a failure judges the scenario's obligations.
    in_body: bool,
}

impl Steps<'_> {
    async fn run(&mut self) -> Verdict {
        for (i, step) in self.sc.steps.iter().enumerate() {
            let index = (i + 1).to_string();
            let outcome = self.step(step).await;
            let (stop, mut f) = match outcome {
                Ok(()) => continue,
                Err(Stop::Fail(f)) => (true, *f),
                Err(Stop::Error(f)) => (false, *f),
            };
            f.step = Some(index);
            f.step_kind = Some(step.kind.name().to_string());
            f.line.get_or_insert(step.span.line);
            f.col.get_or_insert(step.span.col);
            f.judges.extend(step.judges.iter().map(|j| j.value.clone()));
            f.message = self.rec.redact(&f.message);
            if let Some(a) = f.actual.take() {
                f.actual = Some(self.rec.redact(&a));
            }
            self.rec.record(TranscriptEvent::Note {
                text: format!("step {}: {}", f.step.as_deref().unwrap_or(""), f.message),
            });
            return match (stop, self.in_body && !step.judges_nothing) {
                (false, _) => Verdict::Error(f),
                (true, false) => Verdict::Inconclusive(f),
                (true, true) => Verdict::Fail(f),
            };
        }
        Verdict::Pass
    }

    fn note(&self, text: String) {
        self.rec.record(TranscriptEvent::Note { text });
    }

    async fn step(&mut self, step: &Step) -> Result<(), Stop> {
        match &step.kind {
            StepKind::Purpose(p) => {
                self.in_body = true;
                self.note(format!("purpose: {}", p.text));
                Ok(())
            }
            StepKind::Wait(w) => {
                let d = self.duration(&w.duration)?;
                tokio::time::sleep(d).await;
                self.anchor = Instant::now();
                Ok(())
            }
            StepKind::Fault(f) => match &f.action {
                FaultAction::Link { toward, what, only } => {
                    let fault = self.link_fault(*toward, what, only)?;
                    self.note(format!("observe fault {} armed", fault.spec));
                    self.ctx.faults.arm_live(fault);
                    Ok(())
                }
                _ => Err(error(
                    "a fault of the device or cloud role in an observer scenario",
                )),
            },
            StepKind::Expect(e) => self.expect(e).await,
            other => Err(error(format!(
                "a `{}` step in an observer scenario",
                other.name()
            ))),
        }
    }

    fn duration(&self, d: &DurationExpr) -> Result<Duration, Stop> {
        resolve_duration(d, &|name: &str| self.var(name))
            .map_err(|e| error(format!("cannot resolve the duration: {e}")))
    }

    /// Scenario variables, then the profile's timing windows.
    fn var(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.sc.vars.get(name) {
            return Some(v.clone());
        }
        self.profile
            .timing_constants()
            .iter()
            .find(|c| c.name == name)
            .map(|c| json!(format_duration(c.value)))
    }

    fn link_fault(
        &self,
        toward: LinkDirection,
        what: &LinkFaultKind,
        only: &Option<FaultMatch>,
    ) -> Result<LinkFault, Stop> {
        let (action, word) = match what {
            LinkFaultKind::Drop => (Action::Drop, "drop".to_string()),
            LinkFaultKind::Duplicate => (Action::Dup, "dup".to_string()),
            LinkFaultKind::Reset => (Action::Reset, "reset".to_string()),
            LinkFaultKind::Delay(d) => (Action::Delay(self.duration(d)?), "delay".to_string()),
        };
        let toward = match toward {
            LinkDirection::ToCloud => Toward::Cloud,
            LinkDirection::ToDevice => Toward::Device,
        };
        let (pattern, pattern_text) = match only {
            None => (Pattern::Any, "any".to_string()),
            Some(FaultMatch::Cmd(c)) => (Pattern::Cmd(c.clone()), format!("cmd={c}")),
            Some(FaultMatch::ReplyTo(c)) => (Pattern::Reply(c.clone()), format!("reply={c}")),
        };
        let mut spec = format!("{word}:{}:{pattern_text}", toward.name());
        if let Action::Delay(d) = action {
            spec.push_str(&format!(":{}", format_duration(d)));
        }
        Ok(LinkFault {
            action,
            toward,
            pattern,
            times: super::fault::Times::Count(1),
            spec,
        })
    }

    async fn expect(&mut self, e: &Expect) -> Result<(), Stop> {
        let Some(o) = &e.observed else {
            return Err(error("an `expect` without `from` in an observer scenario"));
        };
        let from = match o.from {
            ObservedParty::Device => Peer::Device,
            ObservedParty::Cloud => Peer::Cloud,
        };
        let within = match &e.within {
            Some(d) => self.duration(d)?,
            None => self.sc.step_timeout.unwrap_or(DEFAULT_WITHIN),
        };
        let not_before = e
            .not_before
            .as_ref()
            .map(|d| self.duration(d))
            .transpose()?;
        // Without an article: "no {what}", "the {what} came".
        let what = match (&o.cmd, &o.reply_to) {
            (Some(c), _) => format!("`{c}` frame from the {}", from.name()),
            (_, Some(c)) => format!("reply to `{c}` from the {}", from.name()),
            _ => format!("frame from the {}", from.name()),
        };
        let deadline = self.anchor + within;
        let seen = loop {
            if self.overflowed.load(Ordering::SeqCst) {
                return Err(error(format!(
                    "the scenario fell {TAP_CAPACITY} frames behind the link; it cannot judge a partial conversation"
                )));
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            let got = match tokio::time::timeout(wait, self.rx.recv()).await {
                Ok(Some(s)) => s,
                Ok(None) => return Err(error("the relay stopped")),
                Err(_) => {
                    return Err(fail(format!(
                        "no {what} within {}",
                        format_duration(within)
                    )))
                }
            };
            let taken = got.from == from
                && got.frame.is_some()
                && o.cmd.as_ref().is_none_or(|c| got.cmd.as_ref() == Some(c))
                && o.reply_to
                    .as_ref()
                    .is_none_or(|c| got.reply_to.as_ref() == Some(c));
            if taken {
                break got;
            }
        };
        let after = seen.at.saturating_duration_since(self.anchor);
        self.anchor = seen.at;
        if after > within {
            return Err(fail(format!(
                "the {what} came {} after the window's start, later than {}",
                format_duration(after),
                format_duration(within)
            )));
        }
        if let Some(nb) = not_before.filter(|nb| after < *nb) {
            let mut f = Failure::new(format!(
                "the {what} came {} after the window's start, earlier than {}",
                format_duration(after),
                format_duration(nb)
            ));
            f.early = true;
            return Err(Stop::Fail(Box::new(f)));
        }
        let frame = seen.frame.as_deref();
        if let Err(m) = e.matcher.value.check(frame, &*self) {
            let mut f = Failure::new(format!("the {what} did not match: {m}"));
            f.line = Some(e.matcher.span.line);
            f.expected = Some(m.expected);
            f.actual = Some(m.actual);
            f.judges.extend(m.rule);
            return Err(Stop::Fail(Box::new(f)));
        }
        self.note(format!(
            "observed the {what} on link {} after {}",
            seen.link,
            format_duration(after)
        ));
        Ok(())
    }
}

fn fail(message: impl Into<String>) -> Stop {
    Stop::Fail(Box::new(Failure::new(message)))
}

fn error(message: impl Into<String>) -> Stop {
    Stop::Error(Box::new(Failure::new(message)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const HEAD: &str =
        "id: t.observer\ntitle: t\nrequirements: [D13, C9]\nrole: observer\nsteps:\n";
    const LOST_REPLY: &str = concat!(
        "  - expect: { from: device, cmd: register, within: 30s }\n",
        "  - purpose: re-send\n",
        "  - expect: { from: device, cmd: register, not_before: \"${resend_earliest}\", within: \"${resend_latest}\" }\n",
        "    judges: [D13]\n",
        "  - expect: { from: cloud, reply_to: register, within: 10s, frame: { errcode: { $in: [0, 600012] } } }\n",
        "    judges: [C9]\n",
    );

    /// A frame seen `ms` after the scenario started.
    fn seen(
        from: Peer,
        cmd: Option<&str>,
        reply_to: Option<&str>,
        frame: Value,
        ms: u64,
        t0: Instant,
    ) -> Seen {
        Seen {
            link: 1,
            from,
            cmd: cmd.map(str::to_string),
            reply_to: reply_to.map(str::to_string),
            frame: Some(Arc::new(frame)),
            at: t0 + Duration::from_millis(ms),
        }
    }

    fn register(ms: u64, t0: Instant) -> Seen {
        seen(
            Peer::Device,
            Some("register"),
            None,
            json!({"cmd": "register"}),
            ms,
            t0,
        )
    }

    fn answer(code: i64, ms: u64, t0: Instant) -> Seen {
        seen(
            Peer::Cloud,
            None,
            Some("register"),
            json!({"errcode": code}),
            ms,
            t0,
        )
    }

    /// A relay context with nothing armed, never dialled.
    fn test_ctx(profile: &Arc<dyn Profile>) -> Ctx {
        Ctx {
            by_sn: super::super::by_sn::BySn::new(),
            tap: None,
            profile: profile.clone(),
            upstream: super::super::upstream::Upstream::new(
                Endpoint::parse("ws://127.0.0.1:9").unwrap(),
                false,
                Vec::new(),
            ),
            tls: None,
            faults: super::super::fault::Faults::new(Vec::new()),
            on_finding: super::super::link::OnFinding::ignored(),
            forwarded: AtomicU64::new(0),
            transcript_cap: crate::engine::recorder::MAX_ENTRIES,
        }
    }

    /// The verdict of `steps` on the frames `frames` gives (all queued at once; time is
    /// paused, so a window that waits for more closes at once).
    async fn judge(steps: &str, frames: impl FnOnce(Instant) -> Vec<Seen>) -> Verdict {
        let sc =
            crate::scenario::load_str(std::path::Path::new("t.yaml"), &format!("{HEAD}{steps}"))
                .unwrap_or_else(|e| panic!("{}", e.render()));
        let profile = crate::profile::default_profile();
        let (tx, rx) = mpsc::channel(16);
        let ctx = test_ctx(&profile);
        let rec = Recorder::new(ScenarioClock::start(0), Vec::new(), profile.clone());
        let t0 = Instant::now();
        for s in frames(t0) {
            tx.send(s).await.unwrap();
        }
        let mut steps = Steps {
            sc: &sc,
            profile: &*profile,
            rec: &rec,
            rx,
            overflowed: Arc::new(AtomicBool::new(false)),
            ctx: &ctx,
            anchor: t0,
            in_body: false,
        };
        steps.run().await
    }

    #[rstest]
    #[case::resent_in_the_window(6_000, 0, "pass", &[])]
    #[case::resent_at_the_latest(13_900, 600012, "pass", &[])]
    #[case::resent_too_soon(1_000, 600012, "fail", &["D13"])]
    #[case::resent_too_late(15_000, 600012, "fail", &["D13"])]
    #[case::answered_with_another_code(6_000, 600054, "fail", &["C9"])]
    #[tokio::test(start_paused = true)]
    async fn a_lost_reply_is_judged_on_the_frames_seen(
        #[case] resent_ms: u64,
        #[case] code: i64,
        #[case] verdict: &str,
        #[case] judges: &[&str],
    ) {
        let v = judge(LOST_REPLY, |t0| {
            vec![
                register(100, t0),
                answer(0, 110, t0),
                // Another party's frames and other commands pass by.
                seen(
                    Peer::Device,
                    Some("ping"),
                    None,
                    json!({"cmd": "ping"}),
                    3_000,
                    t0,
                ),
                register(100 + resent_ms, t0),
                answer(code, 120 + resent_ms, t0),
            ]
        })
        .await;
        assert_eq!(v.name(), verdict, "{v:#?}");
        let got: Vec<&str> = v.failure().map_or(Vec::new(), |f| {
            f.judges.iter().map(String::as_str).collect()
        });
        assert_eq!(got, judges, "{v:#?}");
    }

    proptest::proptest! {
        /// Whenever the re-send comes, the step passes exactly when it falls inside
        /// `not_before..=within` from the frame before, and otherwise fails D13 alone.
        #[test]
        fn the_window_holds_for_every_re_send_time(resent_ms in 0u64..20_000) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            let v = rt.block_on(judge(LOST_REPLY, |t0| {
                vec![register(0, t0), register(resent_ms, t0), answer(0, resent_ms + 1, t0)]
            }));
            // `${resend_earliest}` and `${resend_latest}`, in ms.
            let (earliest, latest) = (4_750, 14_000);
            let inside = (earliest..=latest).contains(&resent_ms);
            proptest::prop_assert_eq!(v.name(), if inside { "pass" } else { "fail" });
            if !inside {
                proptest::prop_assert_eq!(&v.failure().unwrap().judges, &vec!["D13".to_string()]);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_re_send_fails_when_the_window_closes() {
        let v = judge(LOST_REPLY, |t0| vec![register(100, t0), answer(0, 110, t0)]).await;
        let f = v.failure().expect("a failure");
        assert_eq!(v.name(), "fail");
        assert_eq!(f.judges, ["D13"]);
        assert_eq!(f.step.as_deref(), Some("3"));
        assert!(
            f.message
                .contains("no `register` frame from the device within 14s"),
            "{}",
            f.message
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_before_purpose_proves_nothing() {
        let v = judge(LOST_REPLY, |_| Vec::new()).await;
        assert_eq!(v.name(), "inconclusive", "{v:#?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fault_step_arms_the_link_fault_it_describes() {
        let steps = "  - fault: { delay: to_device, by: \"${retry_jitter_max}\", match: { reply_to: register } }\n  - purpose: armed\n";
        let sc =
            crate::scenario::load_str(std::path::Path::new("t.yaml"), &format!("{HEAD}{steps}"))
                .unwrap();
        let StepKind::Fault(f) = &sc.steps[0].kind else {
            panic!()
        };
        let FaultAction::Link { toward, what, only } = &f.action else {
            panic!()
        };
        let profile = crate::profile::default_profile();
        let rec = Recorder::new(ScenarioClock::start(0), Vec::new(), profile.clone());
        let (_tx, rx) = mpsc::channel(1);
        let ctx = test_ctx(&profile);
        let steps = Steps {
            sc: &sc,
            profile: &*profile,
            rec: &rec,
            rx,
            overflowed: Arc::new(AtomicBool::new(false)),
            ctx: &ctx,
            anchor: Instant::now(),
            in_body: false,
        };
        let Ok(fault) = steps.link_fault(*toward, what, only) else {
            panic!()
        };
        assert_eq!(fault.spec, "delay:to-device:reply=register:3s");
        assert_eq!(
            fault.spec.parse::<LinkFault>().unwrap(),
            fault,
            "the command line's own form"
        );
    }
}
