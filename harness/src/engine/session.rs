//! A session runs one scenario's steps against its target, playing the device.
//!
//! A failed check is data: the session ends with a [`Verdict`] carrying the evidence. Every
//! wait is bounded by the step's `within`, the default step timeout or the scenario deadline.

use super::clock::ScenarioClock;
use super::connection::{record, Connection, Inbound, Shared, SharedState};
use super::monitor::CloudMonitor;
use super::target::SessionTarget;
use super::transcript::{Transcript, TranscriptEvent};
use super::verdict::{Failure, Verdict};
use crate::protocol::defaults::{fill_body, DefaultContext};
use crate::protocol::rules::{self, Violation};
use crate::protocol::{envelope, DeviceIdentity, Secret};
use crate::scenario::expr::{self, format_duration};
use crate::scenario::matcher::{lookup_path, Matcher, Mismatch};
use crate::scenario::model::*;
use crate::targets::mock::ControlRequest;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// What a session needs besides the scenario and the target.
pub struct SessionSetup {
    /// The identity of each of the scenario's devices, by the scenario's name for it.
    pub identities: Vec<(String, DeviceIdentity)>,
    pub seed_secret_no: Option<Secret>,
    pub start_unix: u64,
    pub step_timeout: Duration,
    pub deadline: Duration,
}

/// What a session ends with.
pub struct SessionOutcome {
    pub verdict: Verdict,
    pub transcript: Transcript,
    pub scenario_time: Duration,
}

/// Why the steps stopped.
enum Stop {
    Fail(Failure),
    Error(Failure),
    Skip(String),
}

type StepResult = Result<(), Stop>;

/// Per-device state the profile's defaults draw on.
struct Device {
    identity: DeviceIdentity,
    active_code: Option<Value>,
    secret: Option<Value>,
}

/// Where a step is, for failure messages.
#[derive(Clone)]
struct At {
    index: String,
    kind: &'static str,
    span: Span,
}

impl At {
    fn failure(&self, message: impl Into<String>) -> Failure {
        let mut f = Failure::new(message);
        f.step = Some(self.index.clone());
        f.step_kind = Some(self.kind.to_string());
        f.line = Some(self.span.line);
        f.col = Some(self.span.col);
        f
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
        Stop::Fail(f)
    }
}

struct Session<'a> {
    sc: &'a Scenario,
    target: SessionTarget,
    devices: BTreeMap<String, Device>,
    seed: Option<Secret>,
    conns: BTreeMap<String, Connection>,
    abandoned: Vec<Connection>,
    vars: BTreeMap<String, Value>,
    shared: SharedState,
    clock: ScenarioClock,
    monitor: CloudMonitor,
    req_counter: u64,
    step_timeout: Duration,
}

/// Runs `scenario` to a verdict. Never panics on target behaviour; every wait is bounded.
pub async fn run(scenario: &Scenario, target: SessionTarget, setup: SessionSetup) -> SessionOutcome {
    let clock = ScenarioClock::start(setup.start_unix);
    let shared: SharedState = Arc::new(Mutex::new(Shared { transcript: Transcript::default(), secrets: Vec::new() }));
    let devices = setup
        .identities
        .into_iter()
        .map(|(name, identity)| (name, Device { identity, active_code: None, secret: None }))
        .collect();
    let mut session = Session {
        sc: scenario,
        target,
        devices,
        seed: setup.seed_secret_no,
        conns: BTreeMap::new(),
        abandoned: Vec::new(),
        vars: scenario.vars.clone().into_iter().collect(),
        shared: shared.clone(),
        clock,
        monitor: CloudMonitor::default(),
        req_counter: 0,
        step_timeout: scenario.step_timeout.unwrap_or(setup.step_timeout),
    };
    let deadline = scenario.deadline.unwrap_or(setup.deadline);
    let result = match session.applicable() {
        Err(reason) => Err(Stop::Skip(reason)),
        Ok(()) => match tokio::time::timeout(deadline, session.run_steps(&scenario.steps, "")).await {
            Ok(r) => r,
            Err(_) => Err(Stop::Error(Failure::new(format!(
                "the scenario deadline of {} passed before the last step finished",
                format_duration(deadline)
            )))),
        },
    };
    let result = result.and_then(|()| session.sweep(None));
    let scenario_time = session.clock.elapsed();
    session.shutdown().await;
    let transcript = std::mem::take(&mut shared.lock().unwrap_or_else(|p| p.into_inner()).transcript);
    let verdict = match result {
        Ok(()) => Verdict::Pass,
        Err(Stop::Fail(f)) => Verdict::Fail(f),
        Err(Stop::Error(f)) => Verdict::Error(f),
        Err(Stop::Skip(reason)) => Verdict::Skip { reason },
    };
    SessionOutcome { verdict, transcript, scenario_time }
}

/// Whether any step (at any depth) satisfies `pred`.
fn any_step(steps: &[Step], pred: &dyn Fn(&StepKind) -> bool) -> bool {
    steps.iter().any(|s| pred(&s.kind) || matches!(&s.kind, StepKind::Repeat(r) if any_step(&r.steps, pred)))
}

impl<'a> Session<'a> {
    /// A scenario the target cannot serve is skipped with the reason, before anything runs.
    fn applicable(&self) -> Result<(), String> {
        if self.sc.role != Role::Device {
            return Err("the harness plays the cloud in this scenario; it needs a device target (`--device`), which this run does not have".into());
        }
        if self.sc.requires.contains(&Capability::Control) && !self.target.has_control() {
            return Err("needs harness control of the cloud (bind/unbind, fault injection), which only the mock accepts".into());
        }
        let uses_addresses = any_step(&self.sc.steps, &|k| {
            matches!(k, StepKind::ChangeIp(_)) || matches!(k, StepKind::Connect(c) if c.from.is_some())
        });
        if uses_addresses && !self.target.source_addresses() {
            return Err("needs distinct source addresses, available only against in-process or loopback targets".into());
        }
        Ok(())
    }

    fn now(&self) -> Duration {
        self.clock.elapsed()
    }

    fn note(&self, text: String) {
        record(&self.shared, &self.clock, TranscriptEvent::Note { text });
    }

    /// Looks a `${name}` up: session values first, then devices and the target's settings.
    fn var(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.vars.get(name) {
            return Some(v.clone());
        }
        let settings = self.target.settings();
        let first = self.sc.devices.first().and_then(|d| self.devices.get(d));
        match name {
            "now" => Some(json!(self.clock.now_unix())),
            "sn" => first.map(|d| json!(d.identity.sn)),
            "heartbeat_timeout" => Some(json!(format_duration(settings.heartbeat_timeout))),
            "heartbeat_timeout_s" => Some(json!(settings.heartbeat_timeout.as_secs())),
            "subscribe_window" => Some(json!(format_duration(settings.subscribe_window))),
            "subscribe_window_s" => Some(json!(settings.subscribe_window.as_secs())),
            "subscribe_limit" => Some(json!(settings.subscribe_limit)),
            _ => {
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
        expr::resolve_duration(d, &|n: &str| self.var(n)).map_err(|e| at.error(e.to_string()))
    }

    fn expand(&self, v: &Value, at: &At) -> Result<Value, Stop> {
        expr::expand_value(v, &|n: &str| self.var(n)).map_err(|e| at.error(e.to_string()))
    }

    /// Checks what the cloud sent since the last sweep; a violation fails the step.
    fn sweep(&mut self, at: Option<&At>) -> StepResult {
        let violations = {
            let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
            self.monitor.sweep(&shared.transcript)
        };
        match violations.into_iter().next() {
            None => Ok(()),
            Some(v) => Err(Stop::Fail(violation_failure(v, at))),
        }
    }

    fn run_steps<'s>(&'s mut self, steps: &'s [Step], prefix: &'s str) -> futures_util::future::BoxFuture<'s, StepResult> {
        Box::pin(async move {
            for (i, step) in steps.iter().enumerate() {
                let index = if prefix.is_empty() { format!("{}", i + 1) } else { format!("{prefix}.{}", i + 1) };
                let at = At { index: index.clone(), kind: step.kind.name(), span: step.span };
                record(&self.shared, &self.clock, TranscriptEvent::Step { index: index.clone(), kind: at.kind.to_string(), line: step.span.line });
                let result = self.step(&step.kind, &at).await;
                // A broken always-on rule explains a failure better than its symptom (a
                // reply that never came because it echoed the wrong req_id).
                match (self.sweep(Some(&at)), result) {
                    (Err(Stop::Fail(mut v)), Err(Stop::Fail(f))) => {
                        v.message = format!("{}; then: {}", v.message, f.message);
                        return Err(Stop::Fail(v));
                    }
                    (_, Err(stop)) => return Err(stop),
                    (Err(stop), Ok(())) => return Err(stop),
                    (Ok(()), Ok(())) => {}
                }
            }
            Ok(())
        })
    }

    async fn step(&mut self, kind: &StepKind, at: &At) -> StepResult {
        match kind {
            StepKind::Connect(c) => self.connect(c, at).await,
            StepKind::Request(r) => self.request(r, at).await,
            StepKind::Send(s) => self.send(s, at).await,
            StepKind::Expect(e) => self.expect(e, at).await,
            StepKind::Wait(d) => {
                let d = self.resolve(d, at)?;
                tokio::time::sleep(d).await;
                Ok(())
            }
            StepKind::Disconnect(c) => {
                let conn = self.conns.remove(&c.conn).ok_or_else(|| at.error(format!("no open connection `{}`", c.conn)))?;
                conn.close().await;
                Ok(())
            }
            StepKind::ChangeIp(c) => self.change_ip(c, at).await,
            StepKind::ExpectClosed(e) => self.expect_closed(e, at).await,
            StepKind::ExpectSilence(e) => self.expect_silence(e, at).await,
            StepKind::Repeat(r) => {
                for n in 1..=r.times {
                    self.vars.insert("iteration".into(), json!(n));
                    let prefix = format!("{}[{n}]", at.index);
                    self.run_steps(&r.steps, &prefix).await?;
                }
                self.vars.remove("iteration");
                Ok(())
            }
            StepKind::Control(c) => self.control(c, at).await,
        }
    }

    fn device_name(&self, device: &Option<String>) -> String {
        device.clone().unwrap_or_else(|| self.sc.devices.first().cloned().unwrap_or_else(|| "dev".into()))
    }

    fn device_sn(&self, device: &Option<String>, at: &At) -> Result<String, Stop> {
        let name = self.device_name(device);
        self.devices.get(&name).map(|d| d.identity.sn.clone()).ok_or_else(|| at.error(format!("no device `{name}` in this scenario")))
    }

    async fn open(&mut self, conn: &str, device: String, from: Ipv4Addr, within: Duration, at: &At) -> StepResult {
        let attempt = tokio::time::timeout(within, self.target.connect(from)).await;
        let (ws, local) = match attempt {
            Ok(Ok(ok)) => ok,
            Ok(Err(e)) => return Err(at.error(format!("could not connect: {e}"))),
            Err(_) => return Err(at.error(format!("could not connect within {}", format_duration(within)))),
        };
        let c = Connection::open(conn, &device, local, ws, self.shared.clone(), self.clock);
        if let Some(old) = self.conns.insert(conn.to_string(), c) {
            old.close().await;
        }
        Ok(())
    }

    async fn connect(&mut self, c: &Connect, at: &At) -> StepResult {
        let from = parse_ip(c.from.as_deref(), at)?;
        let within = self.duration(&c.within, at)?;
        let device = self.device_name(&c.device);
        self.open(&c.conn, device, from, within, at).await
    }

    async fn change_ip(&mut self, c: &ChangeIp, at: &At) -> StepResult {
        let old = self.conns.remove(&c.conn).ok_or_else(|| at.error(format!("no open connection `{}`", c.conn)))?;
        let device = old.device.clone();
        record(&self.shared, &self.clock, TranscriptEvent::Abandoned { conn: c.conn.clone() });
        self.abandoned.push(old);
        let to = parse_ip(Some(&c.to), at)?;
        let within = self.step_timeout;
        self.open(&c.conn, device, to, within, at).await
    }

    fn conn(&mut self, name: &str, at: &At) -> Result<&mut Connection, Stop> {
        self.conns.get_mut(name).ok_or_else(|| at.error(format!("no open connection `{name}` (connect it first)")))
    }

    fn next_req_id(&mut self) -> String {
        self.req_counter += 1;
        format!("hwc-{}", self.req_counter)
    }

    async fn request(&mut self, r: &Request, at: &At) -> StepResult {
        let req_id = match &r.req_id {
            Some(t) => match self.expand(&json!(t), at)? {
                Value::String(s) => s,
                other => other.to_string(),
            },
            None => self.next_req_id(),
        };
        let given = r.body.as_ref().map(|b| self.expand(b, at)).transpose()?;
        let conn_device = self.conns.get(&r.conn).map(|c| c.device.clone());
        let body = if r.raw_body {
            given
        } else {
            let device_name = conn_device.clone().unwrap_or_else(|| self.device_name(&None));
            let device = self.devices.get(&device_name).ok_or_else(|| at.error(format!("no device `{device_name}`")))?;
            let lookup = |k: &str| match k {
                "active_code" => device.active_code.clone(),
                "secret" => device.secret.clone(),
                _ => None,
            };
            let ctx = DefaultContext {
                identity: &device.identity,
                seed_secret_no: self.seed.as_ref().map(Secret::expose),
                now: self.clock.now_unix(),
                nonce: rand::random::<u32>() as u64,
                lookup: &lookup,
            };
            fill_body(&r.cmd, given, &ctx)
        };
        let frame = envelope::request(&r.cmd, &req_id, body);
        self.vars.insert("last_req_id".into(), json!(req_id));
        let within = self.duration(&r.within, at)?;
        let not_before = r.not_before.as_ref().map(|d| self.resolve(d, at)).transpose()?;
        let sent_at = self.now();
        let conn = self.conn(&r.conn, at)?;
        if let Err(e) = conn.send(Message::text(frame.to_string())).await {
            return Err(at.fail(match conn.ended() {
                Some(why) => format!("[{}] the cloud had closed the connection ({why}) before `{}` could be sent", r.conn, r.cmd),
                None => format!("[{}] cannot send `{}`: {e}", r.conn, r.cmd),
            }));
        }
        let deadline = Instant::now() + within;
        let reply = wait_reply(conn, &req_id, deadline).await;
        if r.no_reply {
            return match reply {
                Waited::Reply(v) | Waited::Binary(v) => Err(at.fail(format!("expected no reply to `{}` within {}, got {}", r.cmd, format_duration(within), redacted(&v)))),
                Waited::Closed { .. } | Waited::Timeout => Ok(()),
            };
        }
        let (reply, binary) = match reply {
            Waited::Reply(v) => (v, false),
            Waited::Binary(v) => (v, true),
            Waited::Closed { code, reason } => {
                return Err(at.fail(format!("[{}] the cloud closed the connection before replying to `{}` (req_id {req_id}){}", r.conn, r.cmd, close_text(code, &reason))))
            }
            Waited::Timeout => {
                return Err(at.fail(format!("no reply to `{}` (req_id {req_id}) within {}", r.cmd, format_duration(within))))
            }
        };
        let waited = self.now().saturating_sub(sent_at);
        if let Some(nb) = not_before {
            if waited < nb {
                return Err(at.fail(format!("the reply came after {}, before the earliest allowed {}", format_duration(waited), format_duration(nb))));
            }
        }
        if !binary {
            if let Some(v) = rules::check_reply(&reply, &req_id).into_iter().next() {
                return Err(Stop::Fail(violation_failure(v, Some(at))));
            }
        }
        self.learn(&r.cmd, &reply, conn_device);
        if let Some(m) = &r.expect {
            self.check(&m.value, &reply).map_err(|mm| at.mismatch("the reply", mm, m.span))?;
        }
        self.capture(&r.capture, &reply, at)
    }

    /// Remembers what later defaults need: the active code, the secret, a new SecretNo.
    fn learn(&mut self, cmd: &str, reply: &Value, device: Option<String>) {
        if reply.get("errcode").and_then(Value::as_i64) != Some(0) {
            return;
        }
        let name = device.unwrap_or_else(|| self.device_name(&None));
        let Some(dev) = self.devices.get_mut(&name) else { return };
        let field = |k: &str| reply.pointer(&format!("/body/{k}")).cloned();
        match cmd {
            "register" => dev.active_code = field("active_code").or(dev.active_code.take()),
            "active" => dev.secret = field("secret").or(dev.secret.take()),
            "get_secret_no" => {
                if let Some(Value::String(s)) = field("secret_no") {
                    dev.identity.secret_no = Secret::new(s);
                }
            }
            _ => {}
        }
    }

    fn check(&self, m: &Matcher, frame: &Value) -> Result<(), Mismatch> {
        m.check(Some(frame), &|n: &str| self.var(n))
    }

    fn capture(&mut self, capture: &BTreeMap<String, String>, frame: &Value, at: &At) -> StepResult {
        for (name, path) in capture {
            let v = lookup_path(frame, path).ok_or_else(|| at.fail(format!("cannot capture `{name}`: the frame has no `{path}`")))?;
            self.vars.insert(name.clone(), v.clone());
        }
        Ok(())
    }

    async fn send(&mut self, s: &Send, at: &At) -> StepResult {
        let msg = match &s.frame {
            SendFrame::Json(v) => Message::text(self.expand(v, at)?.to_string()),
            SendFrame::Text(t) => Message::text(t.clone()),
            SendFrame::Binary(b) => Message::binary(b.clone()),
            SendFrame::Oversized(n) => Message::text(format!("{{\"pad\":\"{}\"}}", "x".repeat(n.saturating_sub(10)))),
        };
        let conn = self.conn(&s.conn, at)?;
        // A target may close the link while a frame is on its way (an oversized frame); that
        // is its answer, judged by the steps that follow, not a failure to send.
        if let Err(e) = conn.send(msg).await {
            self.note(format!("[{}] {e}", s.conn));
        }
        Ok(())
    }

    async fn expect(&mut self, e: &Expect, at: &At) -> StepResult {
        let within = self.duration(&e.within, at)?;
        let not_before = e.not_before.as_ref().map(|d| self.resolve(d, at)).transpose()?;
        let started = self.now();
        let conn = self.conn(&e.conn, at)?;
        let item = conn.next(Instant::now() + within).await;
        let frame = match item {
            Some(Inbound::Text(t)) => match serde_json::from_str::<Value>(&t) {
                Ok(v) => v,
                Err(_) => return Err(at.fail(format!("[{}] expected a JSON frame, got text that is not JSON", e.conn))),
            },
            Some(Inbound::Binary(b)) => return Err(at.fail(format!("[{}] expected a JSON frame, got a binary frame of {} bytes", e.conn, b.len()))),
            Some(Inbound::Closed { code, reason }) => {
                return Err(at.fail(format!("[{}] expected a frame, but the cloud closed the connection{}", e.conn, close_text(code, &reason))))
            }
            None => return Err(at.fail(format!("[{}] no frame within {}", e.conn, format_duration(within)))),
        };
        let waited = self.now().saturating_sub(started);
        if let Some(nb) = not_before {
            if waited < nb {
                return Err(at.fail(format!("the frame came after {}, before the earliest allowed {}", format_duration(waited), format_duration(nb))));
            }
        }
        self.check(&e.matcher.value, &frame).map_err(|mm| at.mismatch("the frame", mm, e.matcher.span))?;
        self.capture(&e.capture, &frame, at)
    }

    async fn expect_closed(&mut self, e: &ExpectClosed, at: &At) -> StepResult {
        let within = self.duration(&e.within, at)?;
        let not_before = e.not_before.as_ref().map(|d| self.resolve(d, at)).transpose()?;
        let started = self.now();
        let deadline = Instant::now() + within;
        let conn = self.conn(&e.conn, at)?;
        loop {
            match conn.next(deadline).await {
                Some(Inbound::Closed { .. }) => break,
                Some(_) => continue,
                None if conn.closed => break,
                None => return Err(at.fail(format!("[{}] the connection is still open after {}", e.conn, format_duration(within)))),
            }
        }
        let waited = self.now().saturating_sub(started);
        self.conns.remove(&e.conn);
        if let Some(nb) = not_before {
            if waited < nb {
                return Err(at.fail(format!("[{}] the cloud closed the connection after {}, before the earliest allowed {}", e.conn, format_duration(waited), format_duration(nb))));
            }
        }
        Ok(())
    }

    async fn expect_silence(&mut self, e: &ExpectSilence, at: &At) -> StepResult {
        let duration = self.resolve(&e.duration, at)?;
        let conn = self.conn(&e.conn, at)?;
        match conn.next(Instant::now() + duration).await {
            None if !conn.closed => Ok(()),
            None => Err(at.fail(format!("[{}] expected silence, but the connection is closed", e.conn))),
            Some(Inbound::Closed { code, reason }) => Err(at.fail(format!("[{}] expected silence for {}, but the cloud closed the connection{}", e.conn, format_duration(duration), close_text(code, &reason)))),
            Some(Inbound::Text(t)) => Err(at.fail(format!("[{}] expected silence for {}, got {}", e.conn, format_duration(duration), redacted_text(&t)))),
            Some(Inbound::Binary(b)) => Err(at.fail(format!("[{}] expected silence, got a binary frame of {} bytes", e.conn, b.len()))),
        }
    }

    async fn control(&mut self, c: &Control, at: &At) -> StepResult {
        let req = match c {
            Control::Bind { device } => ControlRequest::Bind { sn: self.device_sn(device, at)? },
            Control::Unbind { device } => ControlRequest::Unbind { sn: self.device_sn(device, at)? },
            Control::CloseLink { device } => ControlRequest::CloseLink { sn: self.device_sn(device, at)? },
            Control::SwallowReply { cmd } => ControlRequest::SwallowReply { sn: self.device_sn(&None, at)?, cmd: cmd.clone() },
            Control::DelayReplies(d) => {
                let ms = self.resolve(d, at)?.as_millis() as u64;
                ControlRequest::DelayReplies { sn: self.device_sn(&None, at)?, ms }
            }
        };
        self.note(format!("control: {}", serde_json::to_string(&req).unwrap_or_default()));
        self.target.control(req).await.map(|_| ()).map_err(|e| at.error(format!("control refused: {e}")))
    }

    /// Closes what is open, cleanly and within a bound, and lets abandoned links go.
    async fn shutdown(&mut self) {
        for (_, conn) in std::mem::take(&mut self.conns) {
            conn.close().await;
        }
        self.abandoned.clear();
    }
}

enum Waited {
    Reply(Value),
    /// A binary reply (§1.2), shown to matchers as `{binary: {format_version, req_id, data_len, data}}`.
    Binary(Value),
    Closed { code: Option<u16>, reason: String },
    Timeout,
}

/// Waits for the reply echoing `req_id`; whatever else arrives meanwhile stays queued, in
/// order, for later steps.
async fn wait_reply(conn: &mut Connection, req_id: &str, deadline: Instant) -> Waited {
    let mut others = VecDeque::new();
    let result = loop {
        match conn.next(deadline).await {
            None => break Waited::Timeout,
            Some(Inbound::Closed { code, reason }) => {
                others.push_back(Inbound::Closed { code, reason: reason.clone() });
                break Waited::Closed { code, reason };
            }
            Some(Inbound::Text(t)) => {
                if let Ok(v) = serde_json::from_str::<Value>(&t) {
                    let is_ours = v.get("cmd").is_none() && v.pointer("/headers/req_id").and_then(Value::as_str) == Some(req_id);
                    if is_ours {
                        break Waited::Reply(v);
                    }
                }
                others.push_back(Inbound::Text(t));
            }
            Some(Inbound::Binary(b)) => match crate::protocol::binary::decode_reply(&b) {
                Ok(r) if r.req_id == req_id => {
                    let data = String::from_utf8_lossy(&r.data[..r.data.len().min(256)]).to_string();
                    break Waited::Binary(json!({"binary": {"format_version": r.format_version, "req_id": r.req_id, "data_len": r.data.len(), "data": data}}));
                }
                _ => others.push_back(Inbound::Binary(b)),
            },
        }
    };
    while let Some(item) = others.pop_back() {
        conn.pending.push_front(item);
    }
    result
}

fn violation_failure(v: Violation, at: Option<&At>) -> Failure {
    let mut f = match at {
        Some(at) => at.failure(format!("{}: {}", v.rule, v.message)),
        None => Failure::new(format!("{}: {}", v.rule, v.message)),
    };
    f.rule = Some(v.rule.to_string());
    f
}

fn parse_ip(from: Option<&str>, at: &At) -> Result<Ipv4Addr, Stop> {
    match from {
        None => Ok(Ipv4Addr::LOCALHOST),
        Some(s) => s.parse().map_err(|_| at.error(format!("`{s}` is not an IPv4 address"))),
    }
}

fn close_text(code: Option<u16>, reason: &str) -> String {
    match (code, reason.is_empty()) {
        (Some(c), true) => format!(" (close code {c})"),
        (Some(c), false) => format!(" (close code {c}: {reason})"),
        (None, _) if !reason.is_empty() => format!(" ({reason})"),
        (None, _) => String::new(),
    }
}

fn redacted(v: &Value) -> String {
    crate::protocol::volatile::redact_secrets(v).to_string()
}

fn redacted_text(t: &str) -> String {
    match serde_json::from_str::<Value>(t) {
        Ok(v) => redacted(&v),
        Err(_) => format!("{:?}", &t[..t.floor_char_boundary(80)]),
    }
}
