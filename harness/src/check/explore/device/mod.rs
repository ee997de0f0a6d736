//! Exploring a device (the harness plays the cloud): a model of what a conformant device is
//! obliged to do next turns a sequence of [`DeviceAction`]s into cloud-role steps. The cloud
//! answers each request the model expects — with success bodies the lifecycle needs, errors
//! with every kind of advice, lost replies, closes, protocol codes — and in between pushes,
//! waits and (reference device only) makes members check in. Each expectation is a
//! `receive` with the bounds the obligations set:
//! * a new link starts with a signed `register` (D4, D5, D7); with a cached secret it goes on
//!   to `subscribe_corp` (D10), else to `active`; 600004 drops the secret and data (D23) and
//!   `active` is polled no faster than every 5 s (D8), at once after `push_bind_corp` (D9);
//! * a lost reply is re-sent after 5–10 s (D13); an error is retried no earlier than its
//!   `interval`, or after a random 1–3 s without one (D14, judged for jitter over six
//!   attempts); never after `interval: -1` (D15); `reconnect` closes and re-opens no earlier
//!   than the interval (D16); 600002 backs off 1–2 minutes (D20); re-sent `register`
//!   answered 600012 / 600053 / 600054 continues instead of looping (D17–D19); at most five
//!   subscribes a minute (D21, also checked by the monitor);
//! * after each login `get_perm_version`, and a full pull from offset 0 with limit ≤ 200 and
//!   contiguous offsets when the versions differ (D24, D25), restarted when the version
//!   changes between pages (D26), with members still recognised meanwhile (D27); a pushed
//!   change one version ahead is fetched with `get_userinfo_by_ids` (D28), two or more ahead
//!   with a full pull (D29); visitors keep their `/agentid` (D30, D31); check-ins are kept
//!   until the cloud took them (D32, D33); a remote open is reported within 3 s with its
//!   oper_id (D34, D35); enrolments upload templates, not images (D36, D37); firmware and log
//!   pushes are followed (D40, D41, D3).
//!
//! The always-on device monitor (D1, D2, D12, D13, D21, D22) runs beside every step.
//!
//! Concurrency is kept tractable: before login only the lifecycle talks; after login every
//! request the device sends at the same moment is answered at once (all but one with plain
//! success), so no request waits long enough to be re-sent behind the model's back.

pub mod actions;

use super::writer::{millis, secs, Steps};
pub use actions::action;
use actions::{Advice, Answer, DeviceAction, Idle, RECONNECT_INTERVALS, RETRY_INTERVALS};
use serde_json::{json, Value};

/// What the explorer may use of the device target.
#[derive(Clone, Copy, Debug)]
pub struct DeviceSetup {
    /// The device can be made to act (`device_control`: the reference device).
    pub device_control: bool,
}

/// A generated cloud-role scenario body.
pub struct Generated {
    pub steps: Steps,
    pub requires: Vec<&'static str>,
    pub extra: Vec<String>,
    pub duration_s: u64,
}

/// The active code the cloud hands out (long-term, DOC 91370).
const CODE: &str = "ac-explore";
/// Base64 that does not start with the JPEG (/9j/) or PNG (iVBOR) magic bytes (D37).
const NOT_IMAGE: &str = "^(?:[A-Za-hj-z0-9+]|/[A-Za-z0-8+/]|/9[A-Za-ik-z0-9+/]|i[A-UW-Za-z0-9+/]|iV[AC-Za-z0-9+/]|iVB[A-NP-Za-z0-9+/]|iVBO[A-QS-Za-z0-9+/])[A-Za-z0-9+/]*={0,2}$";
/// Every log line carries a date and a time to the second (D41).
const TIMESTAMPED: &str = "^(?:[^\n]*[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}[^\n]*(?:\n|$))+$";
/// A subscribe may wait this long for the device's five-a-minute budget (D21), beyond the
/// retry delay itself.
const BUDGET_MS: u64 = 62_000;
/// Guard on the conversation's length (receives), whatever the actions.
const MAX_SERVES: u32 = 160;

/// A check-in record the device holds.
#[derive(Clone, Debug)]
struct Rec {
    seq: u32,
    userid: String,
    pass_type: u32,
    pass_method: u32,
    captured: bool,
}

/// What an expected request is for.
#[derive(Clone, Debug)]
enum Kind {
    /// `first`: the link's first request, checked in full (D4, D5, D7).
    Register { first: bool },
    Active { polling: bool },
    Subscribe,
    PermVersion,
    /// A full-pull page: the offset the device must ask for, the version the pages of this
    /// pass report, whether it is the pass's first page, the users staged so far.
    Page { offset: u64, version: u64, first: bool, staged: Vec<String>, pages: u32 },
    Ids { ids: Vec<String>, version: u64 },
    Visitors { ids: Vec<String> },
    Report { scan: bool, oper: String, userid: Option<String> },
    Upload { oper: String, userid: String, fp: bool },
    Firmware,
    Log,
    Checkin { batch: Vec<u32> },
    /// Not a request: no request of `cmd` may arrive for a while (D15).
    Silence { cmd: &'static str },
}

impl Kind {
    fn cmd(&self) -> &'static str {
        match self {
            Kind::Register { .. } => "register",
            Kind::Active { .. } => "active",
            Kind::Subscribe => "subscribe_corp",
            Kind::PermVersion => "get_perm_version",
            Kind::Page { .. } => "get_userinfo_by_page",
            Kind::Ids { .. } => "get_userinfo_by_ids",
            Kind::Visitors { .. } => "get_visitor_by_ids",
            Kind::Report { .. } => "report_remote_open_door",
            Kind::Upload { .. } => "upload_userinfo",
            Kind::Firmware => "get_firmware_info",
            Kind::Log => "upload_log",
            Kind::Checkin { .. } => "checkin",
            Kind::Silence { cmd } => cmd,
        }
    }

    /// The same request sent again: a register that is no longer the link's first, an
    /// `active` that is a retry rather than a poll.
    fn again(self) -> Kind {
        match self {
            Kind::Register { .. } => Kind::Register { first: false },
            Kind::Active { .. } => Kind::Active { polling: false },
            k => k,
        }
    }

    /// Lower serves first among requests that arrive together.
    fn priority(&self) -> u8 {
        match self {
            Kind::Register { .. } | Kind::Active { .. } | Kind::Subscribe => 0,
            Kind::PermVersion | Kind::Page { .. } | Kind::Ids { .. } => 1,
            Kind::Checkin { .. } => 3,
            Kind::Silence { .. } => 9,
            _ => 2,
        }
    }
}

/// A request the model expects, with its arrival bounds (ms from the step's start).
#[derive(Clone, Debug)]
struct Exp {
    kind: Kind,
    not_before: u64,
    within: u64,
    /// The previous attempt got no reply (re-send codes are then the FAQ's answer).
    lost_before: bool,
    /// Answer this re-send with the FAQ's code for "it took effect" (600012 / 600054).
    recover: bool,
    reqs: Vec<&'static str>,
}

fn exp(kind: Kind, not_before: u64, within: u64, reqs: &[&'static str]) -> Exp {
    let within = if matches!(kind, Kind::Subscribe) { within + BUDGET_MS } else { within };
    let mut reqs = reqs.to_vec();
    // What every expectation of the kind checks besides the reason it is expected.
    let always: &[&'static str] = match kind {
        Kind::Page { .. } => &["D25"],
        _ => &[],
    };
    for r in always {
        if !reqs.contains(r) {
            reqs.push(r);
        }
    }
    Exp { kind, not_before, within, lost_before: false, recover: false, reqs }
}

/// A run of identical error answers to one cmd.
struct Run {
    cmd: &'static str,
    remaining: u8,
    advice: Advice,
    /// The mark set after the first error, when the run is long enough to judge jitter.
    mark: Option<String>,
}

pub struct DeviceModel {
    setup: DeviceSetup,
    steps: Steps,
    actions: Vec<DeviceAction>,
    next: usize,
    winding: bool,
    // What the device holds.
    has_code: bool,
    secret: Option<u32>,
    issued: u32,
    version: u64,
    users: Vec<String>,
    recs: Vec<Rec>,
    // The link.
    logged_in: bool,
    /// The lifecycle gave up on this link (interval -1): nothing more comes until a close.
    dead: bool,
    uploader: bool,
    pending: Vec<Exp>,
    run: Option<Run>,
    /// The next reply answers this req_id (a captured variable) instead of the last received.
    reply_to: Option<String>,
    last_received: Option<&'static str>,
    // Bookkeeping.
    counter: u32,
    serves: u32,
    budget_ms: u64,
    fw: bool,
    subscribes: u32,
    device_control: bool,
}

impl DeviceModel {
    pub fn generate(setup: DeviceSetup, actions: &[DeviceAction]) -> Generated {
        let mut m = DeviceModel {
            setup,
            steps: Steps::default(),
            actions: actions.to_vec(),
            next: 0,
            winding: false,
            has_code: false,
            secret: None,
            issued: 0,
            version: 0,
            users: Vec::new(),
            recs: Vec::new(),
            logged_in: false,
            dead: false,
            uploader: false,
            pending: Vec::new(),
            run: None,
            reply_to: None,
            last_received: None,
            counter: 0,
            serves: 0,
            budget_ms: 0,
            fw: false,
            subscribes: 0,
            device_control: false,
        };
        m.steps.push("accept", json!({"within": "30s"}), &[], &[]);
        m.budget_ms += 30_000;
        m.new_link();
        loop {
            if m.serves >= MAX_SERVES {
                m.winding = true;
            }
            if !m.pending.is_empty() {
                m.step_pending();
                continue;
            }
            if m.winding || m.next >= m.actions.len() {
                break;
            }
            let a = m.actions[m.next];
            m.next += 1;
            if let DeviceAction::Idle(i) = a {
                m.idle(i);
            }
        }
        if m.subscribes > 0 {
            m.steps.push("timing", json!({"cmd": "subscribe_corp", "max_per": {"count": 5, "per": "60s"}}), &[], &["D21"]);
        }
        let requires = if m.device_control { vec!["device_control"] } else { Vec::new() };
        Generated { steps: m.steps, requires, extra: Vec::new(), duration_s: m.budget_ms.div_ceil(1000) }
    }

    fn peek(&self) -> Option<DeviceAction> {
        if self.winding { None } else { self.actions.get(self.next).copied() }
    }

    /// The answer for the request under test: the next action when it is one, else success.
    fn take_answer(&mut self) -> Answer {
        match self.peek() {
            Some(DeviceAction::Answer(a)) => {
                self.next += 1;
                a
            }
            _ => Answer::Ok(0),
        }
    }

    fn fresh(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    // ---- the link ----

    fn new_link(&mut self) {
        self.logged_in = false;
        self.dead = false;
        self.uploader = false;
        self.run = None;
        self.pending.clear();
        self.pending.push(exp(Kind::Register { first: true }, 0, 15_000, &["D7", "D4", "D5"]));
    }

    /// The cloud closes the link; the device dials again after 1–3 s.
    fn close_link(&mut self) {
        self.settle();
        self.steps.push("close", json!({"code": 1001, "reason": "going away"}), &[], &[]);
        self.reconnect(None, 10_000, &["D22"]);
    }

    /// A second before anything that ends the link, so the device has taken in the replies
    /// already sent: a close right behind a last page, or a reconnect advice right behind the
    /// reply to a check-in, could otherwise overtake them (the device would rightly act as if
    /// they never came).
    fn settle(&mut self) {
        self.steps.scalar("delay", "1s", &[]);
        self.budget_ms += 1000;
    }

    /// The device's link ends and it opens a new one within the bounds.
    fn reconnect(&mut self, not_before: Option<u64>, within: u64, reqs: &[&'static str]) {
        let mut args = json!({});
        if let Some(nb) = not_before {
            args["not_before"] = json!(millis(nb));
        }
        args["within"] = json!(millis(within));
        self.steps.push("expect_reconnect", args, &[], reqs);
        self.budget_ms += within;
        self.new_link();
    }

    fn login(&mut self, reqs: &[&'static str]) {
        self.logged_in = true;
        self.uploader = true;
        let mut r = vec!["D24"];
        r.extend_from_slice(reqs);
        self.pending.push(Exp { kind: Kind::PermVersion, not_before: 0, within: 15_000, lost_before: false, recover: false, reqs: r });
        if !self.recs.is_empty() {
            let batch = self.recs.iter().map(|r| r.seq).collect();
            self.pending.push(exp(Kind::Checkin { batch }, 0, 10_000, &["D33", "D32"]));
        }
    }

    /// "Corp not authorized" (600004): the device drops its secret and local data (D23).
    fn deauthorize(&mut self) {
        self.secret = None;
        self.version = 0;
        self.users.clear();
        self.recs.clear();
    }

    // ---- serving requests ----

    fn step_pending(&mut self) {
        self.pending.sort_by_key(|e| e.kind.priority());
        let requests = self.pending.iter().filter(|e| !matches!(e.kind, Kind::Silence { .. })).count();
        if requests > 1 {
            // Requests that came together: all but the first get plain success, first.
            let e = self.pending.remove(requests - 1);
            return self.serve(e, Answer::Ok(0), true);
        }
        let mut e = self.pending.remove(0);
        if let Kind::Silence { cmd } = e.kind {
            let shown = if self.last_received == Some(cmd) { "${last_cmd}" } else { cmd };
            self.steps.push("expect_silence", json!({"cmd": shown, "for": "20s"}), &[], &["D15"]);
            self.budget_ms += 20_000;
            return;
        }
        if let (Kind::Active { polling: true }, Some(DeviceAction::Idle(_))) = (&e.kind, self.peek()) {
            // While the device polls unbound, what happens in the world is that the corp binds
            // it: a second into the poll wait comes `push_bind_corp`, and `active` at once (D9).
            self.next += 1;
            self.steps.scalar("delay", "1s", &[]);
            self.steps.push("push", json!({"cmd": "push_bind_corp"}), &[], &[]);
            e.not_before = 0;
            e.within = 2_000;
            e.reqs = vec!["D9"];
        }
        let cmd = e.kind.cmd();
        let (answer, judge) = match self.run.as_mut() {
            Some(run) if run.cmd == cmd && run.remaining > 0 && !self.winding => {
                run.remaining -= 1;
                (Answer::Error(run.advice), None)
            }
            Some(run) if run.cmd == cmd => {
                // The first request after a run of errors: its retries can now be judged.
                let mark = if run.remaining == 0 { run.mark.take() } else { None };
                self.run = None;
                (self.take_answer(), mark)
            }
            _ if e.recover && !self.winding => (Answer::Protocol(0), None),
            _ => (self.take_answer(), None),
        };
        let winding = self.winding;
        self.serve_judged(e, answer, winding, judge);
    }

    /// Receives the expected request, then answers it.
    fn serve(&mut self, e: Exp, answer: Answer, forced: bool) {
        self.serve_judged(e, answer, forced, None)
    }

    /// [`Self::serve`], judging the spacing of a run's retries (`since` its mark) once the
    /// request after the run has arrived (D14: a random 1–3 s, not a fixed delay).
    fn serve_judged(&mut self, e: Exp, answer: Answer, forced: bool, since: Option<String>) {
        self.serves += 1;
        let cmd = e.kind.cmd();
        self.receive(&e);
        if let Some(mark) = since {
            let args = json!({"cmd": cmd, "since": mark, "jitter": true, "gaps": {"min": "1s", "max": "3500ms"}});
            self.steps.push("timing", args, &[], &["D14"]);
        }
        if let (Kind::Page { .. }, false) = (&e.kind, forced) {
            self.checkin_during_pull();
        }
        let answer = match (&e.kind, answer) {
            // A report's outcome decides whether the device records a pass; only answers that
            // leave the job running to its end are used (D34 does not say more).
            (Kind::Report { .. }, Answer::Close | Answer::Error(Advice::Never | Advice::Reconnect(_))) => Answer::Ok(0),
            (Kind::Report { .. }, Answer::Reject { advice: Advice::Never | Advice::Reconnect(_), .. }) => Answer::Ok(0),
            (_, a) => a,
        };
        match answer {
            Answer::Ok(v) => self.ok(e, v, forced),
            Answer::Protocol(p) => self.protocol(e, p),
            Answer::Error(advice) => self.error(e, advice),
            Answer::Reject { times, advice } => {
                let judge = advice == Advice::None && times >= 6 && matches!(e.kind, Kind::Register { .. } | Kind::Active { polling: false });
                let retries = matches!(advice, Advice::None | Advice::Retry(_));
                self.error(e, advice);
                if retries {
                    let mark = judge.then(|| format!("run{}", self.fresh()));
                    if let Some(m) = &mark {
                        self.steps.scalar("mark", m, &[]);
                    }
                    self.run = Some(Run { cmd, remaining: times - 1, advice, mark });
                }
            }
            Answer::Lost { recover } => self.lost(e, recover),
            Answer::Close => self.close_link(),
        }
        self.reply_to = None;
    }

    fn receive(&mut self, e: &Exp) {
        let cmd = e.kind.cmd();
        let mut args = json!({});
        let pre = !self.logged_in;
        if !pre {
            args["cmd"] = json!(cmd);
        }
        if e.not_before > 0 {
            args["not_before"] = json!(millis(e.not_before));
        }
        args["within"] = json!(millis(e.within));
        self.budget_ms += e.within;
        let mut check = self.check(&e.kind);
        if pre {
            let mut with_cmd = serde_json::Map::new();
            with_cmd.insert("cmd".into(), json!(cmd));
            if let Value::Object(m) = check {
                with_cmd.extend(m);
            }
            check = Value::Object(with_cmd);
        }
        let mut siblings = Vec::new();
        if check.as_object().is_some_and(|m| !m.is_empty()) {
            siblings.push(("check", check));
        }
        let capture = self.capture(&e.kind);
        if !capture.as_object().is_some_and(|m| m.is_empty()) {
            siblings.push(("capture", capture));
        }
        self.steps.push("receive", args, &siblings, &e.reqs);
        self.last_received = Some(cmd);
    }

    /// The matcher on the expected request (without `cmd`).
    fn check(&self, kind: &Kind) -> Value {
        match kind {
            Kind::Register { first: false } => json!({"body": {"device_signature": {"$signature": "register"}}}),
            Kind::Register { first: true } => json!({"body": {
                "sn": "${sn}",
                "device_signature": {"$regex": "^[0-9a-f]{40}$", "$signature": "register"},
                "timestamp": {"$type": "integer", "$gte": "${now-300}", "$lte": "${now+300}"},
                "nonce": {"$type": "integer"},
            }}),
            Kind::Active { .. } => json!({"body": {"active_code": CODE}}),
            Kind::Subscribe => {
                let secret = self.secret.map(|n| format!("sk-explore-{n}")).unwrap_or_default();
                json!({"body": {"secret": secret, "firmware_version": {"$type": "string"}}})
            }
            Kind::Page { offset, .. } => json!({"body": {"offset": offset, "limit": {"$type": "integer", "$gte": 1, "$lte": 200}}}),
            Kind::Ids { ids, .. } | Kind::Visitors { ids } => json!({"body": {"userids": ids}}),
            Kind::Report { scan, oper, .. } => {
                let t = if *scan { "scan_qrcode_open" } else { "remote_open_door" };
                json!({"body": {"type": t, "oper_id": oper, "status": {"$in": [0, 1]}}})
            }
            Kind::Upload { oper, userid, fp } => {
                let template = json!([{"id": {"$type": "integer", "$gte": 0, "$lte": 11}, "data": {"$type": "string", "$regex": NOT_IMAGE}}]);
                let key = if *fp { "fp" } else { "fa_list" };
                json!({"body": {"oper_id": oper, "userinfo": [{"userid": userid, key: template}]}})
            }
            Kind::Log => json!({"binary": {"data_len": {"$gte": 1}, "data": {"$regex": TIMESTAMPED}}}),
            Kind::Checkin { batch } => {
                let records: Vec<Value> = batch
                    .iter()
                    .filter_map(|seq| self.recs.iter().find(|r| r.seq == *seq))
                    .map(|r| {
                        let mut m = json!({"userid": r.userid, "pass_type": r.pass_type, "pass_method": r.pass_method});
                        if r.captured {
                            m["timestamp"] = json!(format!("${{t{}}}", r.seq));
                        }
                        m
                    })
                    .collect();
                json!({"body": {"checkin_data": records}})
            }
            Kind::PermVersion | Kind::Firmware | Kind::Silence { .. } => json!({}),
        }
    }

    fn capture(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Subscribe => {
                self.fw = true;
                json!({"fw": "body.firmware_version"})
            }
            Kind::Checkin { batch } => {
                let mut m = serde_json::Map::new();
                for (i, seq) in batch.iter().enumerate() {
                    if let Some(r) = self.recs.iter_mut().find(|r| r.seq == *seq && !r.captured) {
                        r.captured = true;
                        m.insert(format!("t{seq}"), json!(format!("body.checkin_data.{i}.timestamp")));
                    }
                }
                Value::Object(m)
            }
            _ => json!({}),
        }
    }

    fn reply(&mut self, mut args: Value) {
        if let Some(to) = self.reply_to.take() {
            args["to"] = json!(to);
        }
        self.steps.push("reply", args, &[], &[]);
    }

    /// D27: while a page is outstanding, a member of the old data set checks in; the device
    /// must still recognise them and upload the record at once.
    fn checkin_during_pull(&mut self) {
        let Some(DeviceAction::Idle(Idle::Checkin { user })) = self.peek() else { return };
        if !self.setup.device_control || !self.uploader || self.users.is_empty() {
            return;
        }
        self.next += 1;
        let page = format!("page{}", self.fresh());
        // Capture the page's req_id on the receive just emitted: re-emit it with a capture.
        self.steps.sibling_last("capture", json!({page.clone(): "headers.req_id"}));
        let userid = self.users[user as usize % self.users.len()].clone();
        self.device_checkin(&userid, 1);
        if let Some(seq) = self.recs.last().map(|r| r.seq) {
            let batch = self.recs.iter().map(|r| r.seq).filter(|s| *s <= seq).collect();
            let e = exp(Kind::Checkin { batch }, 0, 5_000, &["D27", "D32"]);
            self.serve(e, Answer::Ok(0), true);
        }
        self.reply_to = Some(format!("${{{page}}}"));
    }

    fn device_checkin(&mut self, userid: &str, pass_type: u32) {
        self.device_control = true;
        let args = json!({"checkin": {"userid": userid, "pass_type": pass_type, "pass_method": 1}});
        self.steps.push("device_control", args, &[], &["D32"]);
        self.record(userid, pass_type, 1);
    }

    fn record(&mut self, userid: &str, pass_type: u32, pass_method: u32) {
        let seq = self.fresh();
        self.recs.push(Rec { seq, userid: userid.to_string(), pass_type, pass_method, captured: false });
    }

    /// Success, with the body the request needs.
    fn ok(&mut self, e: Exp, v: u8, forced: bool) {
        match e.kind {
            Kind::Register { .. } => {
                self.reply(json!({"body": {"active_code": CODE}}));
                self.has_code = true;
                self.after_register(&["D10"]);
            }
            Kind::Active { .. } => {
                self.issued += 1;
                self.secret = Some(self.issued);
                self.reply(json!({"body": {"secret": format!("sk-explore-{}", self.issued)}}));
                self.pending.push(exp(Kind::Subscribe, 0, 10_000, &["D11"]));
            }
            Kind::Subscribe => {
                self.subscribes += 1;
                self.reply(json!({}));
                self.login(&[]);
            }
            Kind::PermVersion => {
                let cloud = match (forced, v % 3) {
                    (true, _) | (_, 0) => self.version,
                    (_, 1) => self.version + 1,
                    _ => self.version + 4,
                };
                self.reply(json!({"body": {"perm_version": cloud}}));
                if cloud != self.version {
                    let page = Kind::Page { offset: 0, version: cloud, first: true, staged: Vec::new(), pages: 0 };
                    self.pending.push(exp(page, 0, 10_000, &["D24", "D25"]));
                }
            }
            Kind::Page { offset, version, staged, pages, .. } => {
                let last = forced || v.is_multiple_of(3) || pages >= 2;
                self.page(offset, version, version, staged, pages, 1 + u64::from(v % 2), last);
            }
            Kind::Ids { ids, version } => {
                let users: Vec<Value> = ids.iter().map(|u| json!({"userid": u, "user_type": 0, "name": u})).collect();
                self.reply(json!({"body": {"userinfo": users}}));
                for id in ids {
                    if !self.users.contains(&id) {
                        self.users.push(id);
                    }
                }
                self.version = version;
            }
            Kind::Visitors { ids } => {
                let users: Vec<Value> = ids.iter().map(|u| json!({"userid": u, "user_type": 1, "name": u, "pass_rule_list": []})).collect();
                self.reply(json!({"body": {"userinfo": users}}));
            }
            Kind::Report { userid, .. } => {
                self.reply(json!({}));
                if let Some(u) = userid {
                    self.record(&u, 1, 3);
                    if self.uploader {
                        let batch = self.recs.iter().map(|r| r.seq).collect();
                        self.pending.push(exp(Kind::Checkin { batch }, 0, 10_000, &["D34", "D32"]));
                    }
                }
            }
            Kind::Upload { .. } | Kind::Log => self.reply(json!({})),
            Kind::Firmware => self.reply(json!({"body": {
                "firmware_version": "${fw}",
                "md5sum": "d41d8cd98f00b204e9800998ecf8427e",
                "size": 0,
                "download_url": "http://127.0.0.1:9/firmware/current.bin",
            }})),
            Kind::Checkin { batch } => {
                if !forced && v % 3 == 1 {
                    let fails: Vec<Value> = batch
                        .iter()
                        .filter_map(|seq| self.recs.iter().find(|r| r.seq == *seq))
                        .map(|r| json!({"userid": r.userid, "user_type": 0, "timestamp": format!("${{t{}}}", r.seq)}))
                        .collect();
                    self.reply(json!({"body": {"fail_list": fails}}));
                    self.pending.push(exp(Kind::Checkin { batch }, 0, 20_000, &["D33"]));
                } else {
                    self.reply(json!({"body": {"fail_list": []}}));
                    self.recs.retain(|r| !batch.contains(&r.seq));
                }
            }
            Kind::Silence { .. } => {}
        }
    }

    /// Answers one page; `reported` is the perm_version the page carries.
    #[allow(clippy::too_many_arguments)]
    fn page(&mut self, offset: u64, version: u64, reported: u64, mut staged: Vec<String>, pages: u32, count: u64, last: bool) {
        let mut users = Vec::new();
        for _ in 0..count {
            let id = format!("m{}", self.fresh());
            users.push(json!({"userid": id, "user_type": 0, "name": id}));
            staged.push(id);
        }
        self.reply(json!({"body": {"is_last": last, "perm_version": reported, "userinfo": users}}));
        if reported != version {
            // The contacts changed between pages: the pull starts over (D26).
            let page = Kind::Page { offset: 0, version: reported, first: true, staged: Vec::new(), pages: 0 };
            self.pending.push(exp(page, 0, 10_000, &["D26"]));
        } else if last {
            self.version = version;
            self.users = staged;
        } else {
            let page = Kind::Page { offset: offset + count, version, first: false, staged, pages: pages + 1 };
            self.pending.push(exp(page, 0, 10_000, &["D25"]));
        }
    }

    fn after_register(&mut self, reqs: &[&'static str]) {
        if self.secret.is_some() {
            self.pending.push(exp(Kind::Subscribe, 0, 10_000, reqs));
        } else {
            self.pending.push(exp(Kind::Active { polling: false }, 0, 10_000, &["D7"]));
        }
    }

    /// A protocol code that fits the request; requests without one get success.
    fn protocol(&mut self, e: Exp, p: u8) {
        match &e.kind {
            Kind::Register { .. } => {
                let mut resend: Vec<i64> = Vec::new();
                if e.lost_before && self.has_code {
                    resend.push(600012);
                }
                if e.lost_before && self.secret.is_some() {
                    resend.extend([600053, 600054]);
                }
                if !resend.is_empty() {
                    // A re-send after a lost register reply: the link has registered (600012).
                    let code = if e.recover { resend[0] } else { resend[p as usize % resend.len()] };
                    self.reply(json!({"errcode": code}));
                    match code {
                        600012 => self.after_register(&["D17"]),
                        600053 => self.pending.push(exp(Kind::Subscribe, 0, 10_000, &["D18"])),
                        _ => self.login(&["D19"]),
                    }
                    return;
                }
                // 600002: another link holds the SN; back off 1–2 minutes (D20).
                let (args, interval) = match p % 3 {
                    0 => (json!({"errcode": 600002}), 90),
                    1 => (json!({"errcode": 600002, "no_advice": true}), 0),
                    _ => (json!({"errcode": 600002, "suggestion": "retry", "interval": 30}), 30),
                };
                self.settle();
                self.reply(args);
                let not_before = 60_000u64.max(interval * 1000);
                self.reconnect(Some(not_before), 90_000u64.max(interval * 1000 + 1000) + 20_000, &["D20"]);
            }
            Kind::Active { .. } => {
                if p % 3 != 2 {
                    // Not bound yet: the device drops what it had and polls every 5 s (D8, D23).
                    self.reply(json!({"errcode": 600004}));
                    self.deauthorize();
                    self.pending.push(exp(Kind::Active { polling: true }, 4_500, 12_000, &["D8"]));
                } else {
                    self.reply(json!({"errcode": 600014}));
                    self.pending.push(exp(Kind::Register { first: false }, 0, 10_000, &["D7"]));
                }
            }
            Kind::Subscribe => {
                let mut codes = vec![600004, 600045, 600014];
                if e.lost_before {
                    codes.push(600054);
                }
                let code = if e.recover { 600054 } else { codes[p as usize % codes.len()] };
                match code {
                    600004 => {
                        self.reply(json!({"errcode": 600004}));
                        self.deauthorize();
                        self.pending.push(exp(Kind::Active { polling: false }, 0, 10_000, &["D23"]));
                    }
                    600045 => {
                        self.reply(json!({"errcode": 600045}));
                        self.pending.push(exp(Kind::Subscribe, 60_000, 65_000, &["D21", "D14"]));
                    }
                    600014 => {
                        self.reply(json!({"errcode": 600014}));
                        self.pending.push(exp(Kind::Register { first: false }, 0, 10_000, &["D7"]));
                    }
                    _ => {
                        self.subscribes += 1;
                        self.reply(json!({"errcode": 600054}));
                        self.login(&["D19"]);
                    }
                }
            }
            Kind::Page { offset, version, first: false, staged, pages } => {
                let (offset, version, staged, pages) = (*offset, *version, staged.clone(), *pages);
                self.page(offset, version, version + 1, staged, pages, 1 + u64::from(p % 2), false);
            }
            _ => self.ok(e, p, false),
        }
    }

    /// An error reply with `advice`, and what the device must do next.
    fn error(&mut self, e: Exp, advice: Advice) {
        if matches!(advice, Advice::Reconnect(_)) {
            self.settle();
        }
        let reply = match advice {
            Advice::None => json!({"errcode": -1, "errmsg": "system busy", "no_advice": true}),
            Advice::Retry(i) => json!({"errcode": -1, "errmsg": "system busy", "suggestion": "retry", "interval": RETRY_INTERVALS[i as usize % RETRY_INTERVALS.len()]}),
            Advice::Never => json!({"errcode": -1, "errmsg": "system error, do not retry", "suggestion": "retry", "interval": -1}),
            Advice::Reconnect(i) => json!({"errcode": -1, "errmsg": "system busy, reconnect", "suggestion": "reconnect", "interval": RECONNECT_INTERVALS[i as usize % RECONNECT_INTERVALS.len()]}),
        };
        self.reply(reply);
        // A retry is a retry: while the device waits out an interval the cloud gave, it need
        // not act on push_bind_corp (D14 against D9), so it no longer counts as polling.
        let again = |kind: Kind, nb: u64, within: u64, reqs: &[&'static str]| {
            let mut e = exp(kind.again(), nb, within, reqs);
            if matches!(e.kind, Kind::Checkin { .. }) {
                // Records of a failed upload are kept and sent again (D33).
                e.reqs.push("D33");
            }
            e
        };
        match advice {
            Advice::None => self.pending.push(again(e.kind, 1_000, 3_500, &["D14"])),
            Advice::Retry(i) => {
                let n = RETRY_INTERVALS[i as usize % RETRY_INTERVALS.len()] * 1000;
                self.pending.push(again(e.kind, n, n + 5_000, &["D14"]));
            }
            Advice::Never => {
                match e.kind {
                    Kind::Register { .. } | Kind::Active { .. } | Kind::Subscribe => self.dead = true,
                    Kind::Checkin { .. } => self.uploader = false,
                    _ => {}
                }
                self.pending.push(Exp { kind: Kind::Silence { cmd: e.kind.cmd() }, not_before: 0, within: 0, lost_before: false, recover: false, reqs: vec!["D15"] });
            }
            Advice::Reconnect(i) => {
                let n = RECONNECT_INTERVALS[i as usize % RECONNECT_INTERVALS.len()] * 1000;
                self.reconnect(Some(n), n + 6_000, &["D16", "D14"]);
            }
        }
    }

    /// No reply: the device re-sends after its 5–10 s timeout (D13). With `recover`, the
    /// request took effect (the FAQ's "succeeded, but the reply timed out") and the re-send
    /// of a register or subscribe is answered with the code that says so (D17, D19).
    fn lost(&mut self, e: Exp, recover: bool) {
        self.steps.push("no_reply", json!({}), &[], &[]);
        // The check-in uploader also waits 5–10 s after a timeout before it sends again.
        let within = if matches!(e.kind, Kind::Checkin { .. }) { 25_000 } else { 12_000 };
        let kind = e.kind.again();
        let recover = recover && match kind {
            Kind::Register { .. } => self.has_code,
            Kind::Subscribe => true,
            _ => false,
        };
        let reqs: &[&'static str] = match (&kind, recover) {
            (_, true) => &["D13", "D17", "D19"],
            (Kind::Checkin { .. }, _) => &["D13", "D33"],
            _ => &["D13"],
        };
        let mut again = exp(kind, 5_000, within, reqs);
        again.lost_before = true;
        again.recover = recover;
        self.pending.push(again);
    }

    // ---- idle ----

    fn idle(&mut self, i: Idle) {
        if self.dead {
            match i {
                Idle::Delay(s) => {
                    self.steps.scalar("delay", &secs(u64::from(s)), &[]);
                    self.budget_ms += u64::from(s) * 1000;
                }
                Idle::Close => self.close_link(),
                _ => {}
            }
            return;
        }
        if !self.logged_in {
            return;
        }
        let n = self.fresh();
        match i {
            Idle::Delay(s) => {
                self.steps.scalar("delay", &secs(u64::from(s)), &["D12"]);
                self.budget_ms += u64::from(s) * 1000;
            }
            Idle::Close => self.close_link(),
            Idle::ChangeContact { gap, created, delete } => {
                let gap = u64::from(gap.clamp(1, 3));
                let pushed = self.version + gap;
                let created: Vec<String> = (0..created.min(2)).map(|k| format!("c{n}x{k}")).collect();
                let deleted: Vec<String> = if delete { self.users.first().cloned().into_iter().collect() } else { Vec::new() };
                let list = |ids: &[String]| ids.iter().map(|u| json!({"userid": u, "user_type": 0})).collect::<Vec<_>>();
                let body = json!({"timestamp": "${now}", "perm_version": pushed, "create_user": list(&created), "update_user": [], "delete_user": list(&deleted)});
                self.steps.push("push", json!({"cmd": "push_change_contact", "body": body}), &[], &[]);
                if gap >= 2 {
                    let page = Kind::Page { offset: 0, version: pushed, first: true, staged: Vec::new(), pages: 0 };
                    self.pending.push(exp(page, 0, 10_000, &["D29"]));
                } else {
                    self.users.retain(|u| !deleted.contains(u));
                    if created.is_empty() {
                        // Nothing to fetch: the device stores the version silently. A second
                        // lets it do so before anything else happens (a close right after a push
                        // may otherwise overtake it).
                        self.steps.scalar("delay", "1s", &[]);
                        self.budget_ms += 1000;
                        self.version = pushed;
                    } else {
                        self.pending.push(exp(Kind::Ids { ids: created, version: pushed }, 0, 10_000, &["D28"]));
                    }
                }
            }
            Idle::Visitors { n: count } => {
                let ids: Vec<String> = (0..count.clamp(1, 2)).map(|k| format!("v{n}x{k}/1000006")).collect();
                let list: Vec<Value> = ids.iter().map(|u| json!({"userid": u})).collect();
                let body = json!({"timestamp": "${now}", "visitor_version": n, "create_visitor": list, "update_visitor": [], "delete_visitor": []});
                self.steps.push("push", json!({"cmd": "push_visitor_list_change", "body": body}), &[], &[]);
                self.pending.push(exp(Kind::Visitors { ids }, 0, 10_000, &["D30", "D31"]));
            }
            Idle::RemoteOpen => {
                let (oper, userid) = (format!("op-remote-{n}"), format!("admin{n}"));
                self.steps.push("push", json!({"cmd": "push_remote_open_door", "body": {"userid": userid, "oper_id": oper}}), &[], &[]);
                self.pending.push(exp(Kind::Report { scan: false, oper, userid: Some(userid) }, 0, 3_000, &["D34"]));
            }
            Idle::Scan => {
                let oper = format!("op-scan-{n}");
                let body = json!({"userid": "member1", "op_type": "scan_qrcode_open", "oper_id": oper, "state": "door1", "user_type": 0});
                self.steps.push("push", json!({"cmd": "push_user_scan", "body": body}), &[], &[]);
                self.pending.push(exp(Kind::Report { scan: true, oper, userid: None }, 0, 3_000, &["D35"]));
            }
            Idle::EnterPage { fp } => {
                let (oper, userid) = (format!("op-enrol-{n}"), format!("enrol{n}"));
                let body = json!({"page_type": if fp { "fp" } else { "fa" }, "oper_id": oper, "userid": userid, "user_type": 0});
                self.steps.push("push", json!({"cmd": "push_enter_page", "body": body}), &[], &[]);
                self.pending.push(exp(Kind::Upload { oper, userid, fp }, 0, 10_000, &["D36", "D37"]));
            }
            Idle::Firmware if self.fw => {
                self.steps.push("push", json!({"cmd": "push_update_firmware"}), &[], &[]);
                self.pending.push(exp(Kind::Firmware, 0, 10_000, &["D40"]));
            }
            Idle::FetchLog => {
                self.steps.push("push", json!({"cmd": "push_fetch_log", "body": {"hint": "main"}}), &[], &[]);
                self.pending.push(exp(Kind::Log, 0, 10_000, &["D41", "D3"]));
            }
            Idle::Checkin { user } if self.setup.device_control && !self.users.is_empty() => {
                let userid = self.users[user as usize % self.users.len()].clone();
                self.device_checkin(&userid, 1 + u32::from(user % 2));
                if self.uploader {
                    let batch = self.recs.iter().map(|r| r.seq).collect();
                    self.pending.push(exp(Kind::Checkin { batch }, 0, 10_000, &["D32"]));
                }
            }
            _ => {}
        }
    }
}
