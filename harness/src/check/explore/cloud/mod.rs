//! Exploring a cloud (the harness plays a device): a small model of the documented cloud
//! behaviour turns a sequence of [`CloudAction`]s into device-role steps, each request with
//! the reply the model predicts as its `expect`.
//!
//! The model is written from the protocol reference (§2, §4, §5, §6.2) and the mock's
//! documented interpretations (the guide's "The mock cloud"), not from the mock's code, so that the
//! two can disagree:
//! * per connection a phase: opened → registered → activated → subscribed; a re-sent
//!   `register` answers 600012 / 600053 / 600054 by the phase (C9); `active` and
//!   `subscribe_corp` before `register` answer 600014, business commands before login 600020
//!   (600014 before register) (C14); a subscribe for a device never activated 600016;
//! * one live link per SN: `register` from another IP while it is live → 600002 (C10); from
//!   the same IP the new link wins and the old one is closed (C13, the mock's reading);
//! * a link with no inbound frame for the heartbeat timeout is closed and frees the SN (C8);
//! * more than `limit` subscribes from one IP inside the window → 600045 (C11);
//! * `active` returns a secret only while the device is bound (C6); unbinding revokes it and
//!   binding/unbinding pushes to the live link (C7); `get_secret_no` is refused once the SN
//!   has registered (C5);
//! * every error carries advice (C12) and every reply echoes its req_id (C1): the engine's
//!   always-on cloud monitor checks those on every frame;
//! * with harness control, the corp (`corp.rs`): versions, pushes, history, pages, check-ins,
//!   log requests, dynamic QRs, late remote opens and algorithm priority (C15–C22, C24).
//!
//! Where the reference documents no code (bad signature, stale timestamp, a malformed
//! request, get_secret_no after register) the prediction is `$ne: 0`. Where the outcome
//! rests on an interpretation only the mock makes (re-sent `active`/`subscribe_corp`, the
//! same-IP kick, precedence of the rate limit), it is predicted exactly against the mock and
//! as `$ne: 0` — or not generated — against other clouds.
//!
//! Time is modelled in whole seconds. The model stretches any wait that would end within 2 s
//! of a heartbeat expiry or of a rate-limit window edge, so predictions never hang on a
//! race, in-process or over real sockets.

pub mod actions;
mod corp;

use super::writer::{self, expect, expect_closed, matcher, request, request_expecting, s, Steps};
use crate::scenario::{ChangeIp, ConnRef, Connect, Control, Request, Send, SendFrame, StepKind};
use actions::{Capabilities, CloudAction, Req};
use serde_json::{json, Value};

/// Connection names by index.
pub const NAMES: [&str; 3] = ["a", "b", "c"];
/// Source addresses by index (over sockets the runner maps 127.0.x.y into the scenario's slot).
pub const IPS: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
/// No wait ends this close (seconds) to a timer edge of the cloud.
const MARGIN: u64 = 2;

pub use actions::action;

/// What the model knows of the target.
#[derive(Clone, Copy, Debug)]
pub struct CloudSetup {
    pub caps: Capabilities,
    /// The heartbeat expiry: exact for the mock, a range for a cloud that only promises
    /// "about 1–2 minutes" (FAQ).
    pub heartbeat: (u64, u64),
    pub window: u64,
    pub limit: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Opened,
    Registered,
    Activated,
    Subscribed,
}

/// A link as the cloud sees it. `name: None` is a link the harness abandoned (IP change):
/// still open at the cloud, no longer driven.
#[derive(Clone, Debug)]
struct Link {
    id: u32,
    name: Option<usize>,
    ip: usize,
    phase: Phase,
    last_in: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Predict {
    Ok,
    Code(i64),
    NonZero,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Effect {
    None,
    Register { kick: Option<u32> },
    Activate,
    Subscribe,
    Selfhelp,
}

struct Decision {
    predict: Predict,
    effect: Effect,
    /// Whether the attempt counts for the per-IP subscribe window.
    admitted: bool,
    reqs: &'static [&'static str],
}

fn decision(predict: Predict, effect: Effect, reqs: &'static [&'static str]) -> Option<Decision> {
    Some(Decision {
        predict,
        effect,
        admitted: false,
        reqs,
    })
}

/// A generated device-role scenario body.
pub struct Generated {
    pub steps: Steps,
    pub requires: Vec<&'static str>,
    /// Scenario time the steps take, in seconds (for the deadline).
    pub duration_s: u64,
}

pub struct CloudModel {
    setup: CloudSetup,
    now: u64,
    links: Vec<Link>,
    next_id: u32,
    /// The SN's live link.
    live: Option<u32>,
    bound: bool,
    registered_ever: bool,
    ever_activated: bool,
    /// The harness learned the active code (from a register reply it received).
    code_known: bool,
    /// Secrets by issue number: the cloud's current one and the one the harness holds.
    cloud_secret: Option<u32>,
    harness_secret: Option<u32>,
    issued: u32,
    /// Per address: when admitted subscribe attempts were made.
    rate: [Vec<u64>; 3],
    steps: Steps,
    uses_control: bool,
    uses_seed: bool,
    counter: u32,
    corp: corp::CorpState,
}

impl CloudModel {
    /// Turns `actions` into steps against a target described by `setup`.
    pub fn generate(setup: CloudSetup, actions: &[CloudAction]) -> Generated {
        let mut m = CloudModel {
            setup,
            now: 0,
            links: Vec::new(),
            next_id: 1,
            live: None,
            bound: true,
            registered_ever: false,
            ever_activated: false,
            code_known: false,
            cloud_secret: None,
            harness_secret: None,
            issued: 0,
            rate: Default::default(),
            steps: Steps::default(),
            uses_control: false,
            uses_seed: false,
            counter: 0,
            corp: Default::default(),
        };
        for a in actions {
            m.apply(a);
        }
        m.finish();
        let mut requires = Vec::new();
        if m.uses_control {
            requires.push("control");
        }
        if m.uses_seed {
            requires.push("seed");
        }
        Generated {
            steps: m.steps,
            requires,
            duration_s: m.now,
        }
    }

    fn apply(&mut self, a: &CloudAction) {
        let caps = self.setup.caps;
        match *a {
            CloudAction::Connect { conn, ip } => self.open(conn as usize % 3, ip as usize % 3),
            CloudAction::Disconnect { conn } => self.disconnect(conn as usize % 3),
            CloudAction::ChangeIp { conn, ip } if caps.addresses => {
                self.change_ip(conn as usize % 3, ip as usize % 3)
            }
            CloudAction::Request { conn, req } => self.request(conn as usize % 3, req, false),
            CloudAction::Repeat { conn, req, times } => {
                for _ in 0..times.clamp(1, 10) {
                    self.request(conn as usize % 3, req, false);
                }
            }
            CloudAction::LostReply { conn, req } if caps.control => {
                self.request(conn as usize % 3, req, true)
            }
            CloudAction::Malformed { conn, kind } if caps.strict => {
                self.malformed(conn as usize % 3, kind)
            }
            CloudAction::Wait { secs } => self.advance(self.scaled(secs)),
            CloudAction::KeepAlive { secs } => self.keep_alive(self.scaled(secs)),
            CloudAction::Bind if caps.control => self.bind(true),
            CloudAction::Unbind if caps.control => self.bind(false),
            CloudAction::CloseLink if caps.control => self.close_link(),
            CloudAction::Login { conn } => self.login(conn as usize % 3),
            CloudAction::Corp { op, n } if caps.control => self.corp(op, n),
            // Actions the target cannot take part in are left out.
            _ => {}
        }
    }

    /// Waits are drawn for the mock's 90 s heartbeat; a cloud that expires links sooner (a
    /// standalone mock started with `--heartbeat-timeout 10s`) gets them scaled down, so
    /// exploring it over real sockets takes seconds, not minutes.
    fn scaled(&self, secs: u16) -> u64 {
        let lo = self.setup.heartbeat.0;
        if lo >= 90 {
            u64::from(secs)
        } else {
            (u64::from(secs) * lo / 90).max(1)
        }
    }

    // ---- connections ----

    fn link_of(&self, conn: usize) -> Option<usize> {
        self.links.iter().position(|l| l.name == Some(conn))
    }

    fn index_of(&self, id: u32) -> Option<usize> {
        self.links.iter().position(|l| l.id == id)
    }

    fn open(&mut self, conn: usize, ip: usize) {
        if self.link_of(conn).is_some() {
            self.disconnect(conn);
        }
        let ip = if self.setup.caps.addresses { ip } else { 0 };
        let from = self.setup.caps.addresses.then(|| IPS[ip].to_string());
        self.steps.add(
            StepKind::Connect(Connect {
                conn: NAMES[conn].into(),
                from,
                device: None,
                within: None,
            }),
            &[],
        );
        self.links.push(Link {
            id: self.next_id,
            name: Some(conn),
            ip,
            phase: Phase::Opened,
            last_in: self.now,
        });
        self.next_id += 1;
    }

    fn ensure(&mut self, conn: usize) -> usize {
        match self.link_of(conn) {
            Some(i) => i,
            None => {
                self.open(conn, 0);
                self.links.len() - 1
            }
        }
    }

    fn drop_link(&mut self, i: usize) -> Link {
        let l = self.links.remove(i);
        if self.live == Some(l.id) {
            self.live = None;
        }
        l
    }

    /// A clean close by the harness; the cloud frees the SN once it sees the close, so a
    /// second passes before anything depends on it.
    fn disconnect(&mut self, conn: usize) {
        let Some(i) = self.link_of(conn) else { return };
        self.steps.add(
            StepKind::Disconnect(ConnRef {
                conn: NAMES[conn].into(),
            }),
            &[],
        );
        self.drop_link(i);
        self.advance(1);
    }

    fn change_ip(&mut self, conn: usize, ip: usize) {
        let Some(i) = self.link_of(conn) else {
            return self.open(conn, ip);
        };
        let old_ip = self.links[i].ip;
        let to = if ip == old_ip { (ip + 1) % 3 } else { ip };
        self.links[i].name = None;
        self.steps.add(
            StepKind::ChangeIp(ChangeIp {
                conn: NAMES[conn].into(),
                to: IPS[to].into(),
            }),
            &[],
        );
        self.links.push(Link {
            id: self.next_id,
            name: Some(conn),
            ip: to,
            phase: Phase::Opened,
            last_in: self.now,
        });
        self.next_id += 1;
    }

    // ---- time ----

    /// Whether the cloud's state at `t` could go either way: a link's idle time or a rate
    /// window edge within the margin.
    fn ambiguous(&self, t: u64) -> bool {
        let (lo, hi) = self.setup.heartbeat;
        let w = self.setup.window;
        let hb = self.links.iter().any(|l| {
            let idle = t - l.last_in;
            idle + MARGIN >= lo && idle <= hi + MARGIN
        });
        let rate = self.rate.iter().flatten().any(|&a| {
            let age = t - a;
            age + MARGIN >= w && age <= w + MARGIN
        });
        hb || rate
    }

    /// The shortest duration ≥ `want` that ends at an unambiguous moment.
    fn settle(&self, want: u64) -> u64 {
        let mut d = want;
        while d < want + 1200 && self.ambiguous(self.now + d) {
            d += 1;
        }
        d
    }

    /// Lets `want` seconds (stretched by [`Self::settle`]) pass with a `wait`.
    fn advance(&mut self, want: u64) {
        let d = self.settle(want);
        if d > 0 {
            self.steps.add(StepKind::Wait(s(d).into()), &[]);
        }
        self.pass(d);
    }

    /// Moves the clock; links past their heartbeat expiry are closed by the cloud (C8) and
    /// the harness expects the close on the ones it drives.
    fn pass(&mut self, d: u64) {
        self.now += d;
        let hi = self.setup.heartbeat.1;
        let now = self.now;
        while let Some(i) = self
            .links
            .iter()
            .position(|l| now - l.last_in > hi + MARGIN)
        {
            let l = self.drop_link(i);
            if let Some(name) = l.name {
                self.steps.add(expect_closed(NAMES[name], s(1)), &["C8"]);
            }
        }
        let w = self.setup.window;
        for attempts in &mut self.rate {
            attempts.retain(|&a| now - a < w);
        }
    }

    /// Time passes while every link the harness drives pings every period.
    fn keep_alive(&mut self, total: u64) {
        let visible: Vec<usize> = self.links.iter().filter_map(|l| l.name).collect();
        let period = ((self.setup.heartbeat.0.saturating_sub(MARGIN)) / 2).clamp(1, 30);
        let times = (total / period).clamp(1, 20);
        if visible.is_empty() {
            return self.advance(times * period);
        }
        let mut inner = Steps::default();
        for &name in &visible {
            inner.add(
                request_expecting(NAMES[name], "ping", None, json!({"errcode": 0})),
                &["C8"],
            );
        }
        inner.add(StepKind::Wait(s(period).into()), &[]);
        self.steps.repeat(times as u32, inner);
        for _ in 0..times {
            let now = self.now;
            for l in self.links.iter_mut().filter(|l| l.name.is_some()) {
                l.last_in = now;
            }
            self.pass(period);
        }
        self.advance(0);
    }

    // ---- requests ----

    fn attempts(&self, ip: usize) -> usize {
        self.rate[ip]
            .iter()
            .filter(|&&a| self.now - a < self.setup.window)
            .count()
    }

    /// The cloud's answer to `req` on link `i`, or `None` when the target's answer is not
    /// predictable (the request is then not sent).
    fn decide(&self, i: usize, req: Req) -> Option<Decision> {
        use Predict::*;
        let strict = self.setup.caps.strict;
        let assumed = |c: i64| if strict { Code(c) } else { NonZero };
        let l = &self.links[i];
        let live = self
            .live
            .and_then(|id| self.index_of(id))
            .map(|j| &self.links[j]);
        let resend = |p: Phase| match p {
            Phase::Registered => 600012,
            Phase::Activated => 600053,
            _ => 600054,
        };
        match req {
            Req::Register => {
                if l.phase >= Phase::Registered {
                    return decision(Code(resend(l.phase)), Effect::None, &["C9"]);
                }
                match live {
                    Some(o) if o.id != l.id && o.ip != l.ip => {
                        decision(Code(600002), Effect::None, &["C10", "C12"])
                    }
                    Some(o) if o.id != l.id => strict.then_some(Decision {
                        predict: Ok,
                        effect: Effect::Register { kick: Some(o.id) },
                        admitted: false,
                        reqs: &["C13"],
                    }),
                    _ => decision(Ok, Effect::Register { kick: None }, &["C4"]),
                }
            }
            Req::RegisterBadSignature | Req::RegisterStale => {
                decision(NonZero, Effect::None, &["C4", "C12"])
            }
            Req::Active => match l.phase {
                Phase::Opened => decision(Code(600014), Effect::None, &["C14", "C12"]),
                Phase::Activated => decision(assumed(600053), Effect::None, &["C9"]),
                Phase::Subscribed => decision(assumed(600054), Effect::None, &["C9"]),
                Phase::Registered if !self.code_known => decision(NonZero, Effect::None, &["C12"]),
                Phase::Registered if !self.bound => decision(Code(600004), Effect::None, &["C6"]),
                Phase::Registered => decision(Ok, Effect::Activate, &["C6"]),
            },
            Req::Subscribe | Req::SubscribeGuessed => {
                let attempts = self.attempts(l.ip);
                if attempts >= self.setup.limit {
                    return strict.then_some(Decision {
                        predict: Code(600045),
                        effect: Effect::None,
                        admitted: false,
                        reqs: &["C11", "C12"],
                    });
                }
                if !strict && attempts + 1 >= self.setup.limit {
                    return None;
                }
                let d = |predict, effect, reqs| {
                    Some(Decision {
                        predict,
                        effect,
                        admitted: true,
                        reqs,
                    })
                };
                let guessed = req == Req::SubscribeGuessed;
                match l.phase {
                    Phase::Opened => d(Code(600014), Effect::None, &["C14", "C12"]),
                    Phase::Subscribed => d(assumed(600054), Effect::None, &["C9"]),
                    _ if guessed && !self.ever_activated => d(Code(600016), Effect::None, &["C14"]),
                    _ if guessed => d(assumed(600004), Effect::None, &["C6"]),
                    _ if self.harness_secret.is_none() => d(NonZero, Effect::None, &["C12"]),
                    _ if !self.bound => d(assumed(600004), Effect::None, &["C6", "C7"]),
                    _ if self.harness_secret != self.cloud_secret => {
                        d(assumed(600004), Effect::None, &["C6", "C7"])
                    }
                    _ => d(Ok, Effect::Subscribe, &["C14", "C9"]),
                }
            }
            Req::GetSecretNo if self.registered_ever => decision(NonZero, Effect::None, &["C5"]),
            Req::GetSecretNo => decision(Ok, Effect::None, &["C5"]),
            Req::Ping | Req::GetTimestamp => decision(Ok, Effect::None, &["C1"]),
            Req::GetCorpInfo | Req::GetPermVersion | Req::Selfhelp | Req::LoginQr => {
                match l.phase {
                    Phase::Opened => decision(Code(600014), Effect::None, &["C14", "C12"]),
                    Phase::Registered | Phase::Activated => {
                        decision(Code(600020), Effect::None, &["C14", "C12"])
                    }
                    Phase::Subscribed if !self.bound && !strict => None,
                    Phase::Subscribed => match req {
                        Req::Selfhelp => decision(Ok, Effect::Selfhelp, &["C23"]),
                        Req::LoginQr => decision(Ok, Effect::None, &["C3"]),
                        _ => decision(Ok, Effect::None, &["C14"]),
                    },
                }
            }
            Req::Unknown => decision(NonZero, Effect::None, &["C12", "C1"]),
        }
    }

    /// The body a request carries beyond the profile's defaults.
    fn body(&mut self, req: Req) -> Option<Value> {
        match req {
            Req::RegisterBadSignature => {
                Some(json!({"device_signature": "0000000000000000000000000000000000000000"}))
            }
            Req::RegisterStale => Some(json!({"timestamp": "${now-400}"})),
            Req::SubscribeGuessed => Some(json!({"secret": "guessed-secret"})),
            // Every login announces an algorithm priority (C21, `corp.rs`).
            Req::Subscribe => Some(json!({"ext_args": corp::EXT_ARGS.clone()})),
            Req::Selfhelp => {
                self.counter += 1;
                Some(json!({"data": format!("{{\"explore\":{}}}", self.counter)}))
            }
            Req::LoginQr => Some(json!({"state": "door1", "format_version": 1})),
            _ => None,
        }
    }

    fn expectation(req: Req, predict: Predict) -> Value {
        match predict {
            Predict::Code(c) => json!({"errcode": c}),
            Predict::NonZero => json!({"errcode": {"$ne": 0}}),
            Predict::Ok => {
                let string = json!({"$type": "string"});
                match req {
                    Req::Register => json!({"errcode": 0, "body": {"active_code": string}}),
                    Req::Active => json!({"errcode": 0, "body": {"secret": string}}),
                    Req::GetSecretNo => json!({"errcode": 0, "body": {"secret_no": string}}),
                    Req::GetTimestamp => {
                        json!({"errcode": 0, "body": {"timestamp": {"$type": "integer"}}})
                    }
                    Req::GetCorpInfo => json!({"errcode": 0, "body": {"corp_name": string}}),
                    Req::GetPermVersion => {
                        json!({"errcode": 0, "body": {"perm_version": {"$type": "integer"}}})
                    }
                    Req::LoginQr => {
                        json!({"binary": {"format_version": 1, "req_id": "${last_req_id}"}})
                    }
                    _ => json!({"errcode": 0}),
                }
            }
        }
    }

    /// Sends `req` on `conn` (opening it if needed) with the predicted reply as `expect`, or
    /// with its reply lost when `lost` (the mock swallows it; the request still takes effect).
    fn request(&mut self, conn: usize, req: Req, lost: bool) {
        let i = self.ensure(conn);
        let Some(d) = self.decide(i, req) else {
            // Not predictable on this target: a ping keeps the sequence's shape.
            return self.request(conn, Req::Ping, false);
        };
        if req == Req::GetSecretNo {
            self.uses_seed = true;
        }
        // The mock loses the reply of the next request of a cmd about the SN: a register
        // names it, other requests only once their link has registered.
        let lost = lost
            && (matches!(
                req,
                Req::Register | Req::RegisterBadSignature | Req::RegisterStale | Req::GetSecretNo
            ) || self.links[i].phase >= Phase::Registered);
        let args = request(NAMES[conn], req.cmd(), self.body(req));
        let mut wait = 0;
        if lost {
            self.uses_control = true;
            self.steps.add(
                StepKind::Control(Control::SwallowReply {
                    cmd: req.cmd().into(),
                }),
                &["C9"],
            );
            wait = self.settle(1);
            self.steps.add(
                StepKind::Request(Request {
                    no_reply: true,
                    within: Some(s(wait)),
                    ..args
                }),
                d.reqs,
            );
        } else {
            let expect = Some(matcher(Self::expectation(req, d.predict)));
            self.steps
                .add(StepKind::Request(Request { expect, ..args }), d.reqs);
        }
        let ip = self.links[i].ip;
        self.links[i].last_in = self.now;
        if d.admitted {
            let now = self.now;
            self.rate[ip].push(now);
        }
        match d.effect {
            Effect::None => {}
            Effect::Register { kick } => {
                self.links[i].phase = Phase::Registered;
                self.registered_ever = true;
                self.code_known |= !lost;
                self.live = Some(self.links[i].id);
                if let Some(j) = kick.and_then(|id| self.index_of(id)) {
                    let old = self.links.remove(j);
                    if let Some(name) = old.name {
                        self.steps.add(expect_closed(NAMES[name], s(5)), &["C13"]);
                    }
                }
            }
            Effect::Activate => {
                if self.cloud_secret.is_none() {
                    self.issued += 1;
                    self.cloud_secret = Some(self.issued);
                }
                if !lost {
                    self.harness_secret = self.cloud_secret;
                }
                self.ever_activated = true;
                self.links[i].phase = Phase::Activated;
            }
            Effect::Subscribe => self.links[i].phase = Phase::Subscribed,
            Effect::Selfhelp => {
                let data = format!("{{\"explore\":{}}}", self.counter);
                let frame = json!({"cmd": {"$regex": "^push_"}, "body": {"data": data}});
                self.steps
                    .add(expect(NAMES[conn], frame, s(5)), &["C23", "C2"]);
            }
        }
        if lost {
            self.pass(wait);
        }
    }

    /// Register → active (unless a valid secret is cached) → subscribe_corp, as a device
    /// logs in; stops where the cloud says no.
    fn login(&mut self, conn: usize) {
        self.ensure(conn);
        for _ in 0..3 {
            let Some(i) = self.link_of(conn) else { return };
            let before = self.links[i].phase;
            let next = match before {
                Phase::Opened => Req::Register,
                Phase::Registered
                    if self.harness_secret.is_some()
                        && self.harness_secret == self.cloud_secret
                        && self.bound =>
                {
                    Req::Subscribe
                }
                Phase::Registered => Req::Active,
                Phase::Activated => Req::Subscribe,
                Phase::Subscribed => return,
            };
            self.request(conn, next, false);
            if self.link_of(conn).map(|i| self.links[i].phase) == Some(before) {
                return;
            }
        }
    }

    fn malformed(&mut self, conn: usize, kind: u8) {
        let i = self.ensure(conn);
        self.counter += 1;
        let (send, expected) = match kind % 4 {
            0 => (
                SendFrame::Text("{this is not json".into()),
                json!({"errcode": {"$ne": 0}}),
            ),
            1 => (
                SendFrame::Json(json!([1, 2, 3])),
                json!({"errcode": {"$ne": 0}}),
            ),
            2 => {
                let id = format!("bad-cmd-{}", self.counter);
                (
                    SendFrame::Json(json!({"cmd": 42, "headers": {"req_id": id}})),
                    json!({"errcode": {"$ne": 0}, "headers": {"req_id": id}}),
                )
            }
            _ => (
                SendFrame::Binary(vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33]),
                json!({"errcode": {"$ne": 0}}),
            ),
        };
        self.steps.add(
            StepKind::Send(Send {
                conn: NAMES[conn].into(),
                frame: send,
            }),
            &[],
        );
        self.steps
            .add(writer::expect(NAMES[conn], expected, s(5)), &["C12", "C1"]);
        self.links[i].last_in = self.now;
    }

    // ---- harness control ----

    fn live_visible(&self) -> Option<usize> {
        self.live
            .and_then(|id| self.index_of(id))
            .and_then(|i| self.links[i].name)
    }

    fn bind(&mut self, bound: bool) {
        self.uses_control = true;
        let device = Some("dev".to_string());
        let (op, push) = if bound {
            (Control::Bind { device }, "push_bind_corp")
        } else {
            (Control::Unbind { device }, "push_unbind_corp")
        };
        self.steps.add(StepKind::Control(op), &[]);
        self.bound = bound;
        if !bound {
            self.cloud_secret = None;
        }
        if let Some(name) = self.live_visible() {
            let frame = json!({"cmd": push, "headers": {"req_id": {"$type": "string"}}});
            self.steps
                .add(expect(NAMES[name], frame, s(5)), &["C7", "C2"]);
        }
    }

    fn close_link(&mut self) {
        self.uses_control = true;
        self.steps.add(
            StepKind::Control(Control::CloseLink {
                device: Some("dev".into()),
            }),
            &[],
        );
        if let Some(i) = self.live.and_then(|id| self.index_of(id)) {
            let l = self.drop_link(i);
            if let Some(name) = l.name {
                self.steps.add(expect_closed(NAMES[name], s(5)), &[]);
            }
        }
    }

    /// Every link the harness still drives is still served (a close would fail the ping),
    /// and so is a fresh connection.
    fn finish(&mut self) {
        let visible: Vec<usize> = self.links.iter().filter_map(|l| l.name).collect();
        for name in visible {
            self.steps.add(
                request_expecting(NAMES[name], "ping", None, json!({"errcode": 0})),
                &["C8", "C1"],
            );
        }
        let from = self.setup.caps.addresses.then(|| "127.0.0.9".to_string());
        self.steps.add(
            StepKind::Connect(Connect {
                conn: "z".into(),
                from,
                device: None,
                within: None,
            }),
            &[],
        );
        self.steps.add(
            request_expecting("z", "ping", None, json!({"errcode": 0})),
            &["C1"],
        );
    }
}
