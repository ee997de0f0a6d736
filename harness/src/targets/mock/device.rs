//! One inbound device frame in, the frames to answer with out: parsing, the facts the
//! lifecycle needs, the effects it asks for, and reply shaping (including the test knobs
//! that break replies). No I/O: the server sends what this returns.

use super::config::MockRule;
use super::lifecycle::{self, Effect, Outcome, Phase, Request, Signed};
use super::registry::{LinkCommand, LiveLink};
use super::{MockCloud, Shared, CLOSE_KICKED, CORP_NAME};
use crate::profile::wecom::catalog::{Catalog, MALFORMED_REQUEST, NOT_IMPLEMENTED};
use crate::profile::wecom::{binary, envelope, signature};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// The undocumented cmd of the push that echoes `selfhelp_notify.body.data` (C23, §1.5).
pub const SELFHELP_PUSH: &str = "push_selfhelp_notify";

/// Business commands the mock answers; other catalog commands get 600905 once logged in.
const IMPLEMENTED: &[&str] = &["get_corp_info", "get_perm_version", "selfhelp_notify", "gen_login_qrcode"];

/// Marks a reply the server sends as a binary frame (§1.2, C3): `{BINARY_REPLY: {req_id, data}}`.
pub(super) const BINARY_REPLY: &str = "$binary_reply";

/// The bytes of a binary reply, when `frame` is one.
pub(super) fn binary_reply(frame: &Value) -> Option<Vec<u8>> {
    let b = frame.get(BINARY_REPLY)?;
    let req_id = b.get("req_id").and_then(Value::as_str).unwrap_or_default();
    let data = b.get("data").and_then(Value::as_str).unwrap_or_default();
    Some(binary::encode_reply(req_id, data.as_bytes()))
}

/// How many recent push req_ids a connection remembers to accept acknowledgements.
const REMEMBERED_PUSHES: usize = 64;

/// One device connection as the cloud sees it.
#[derive(Debug)]
pub(super) struct Conn {
    pub id: u64,
    pub ip: IpAddr,
    pub phase: Phase,
    /// The SN this connection registered (None before `register`).
    pub sn: Option<String>,
    /// Where the registry reaches this connection (pushes, kicks).
    pub tx: UnboundedSender<LinkCommand>,
    pushes: VecDeque<String>,
}

impl Conn {
    pub fn new(id: u64, ip: IpAddr, tx: UnboundedSender<LinkCommand>) -> Conn {
        Conn { id, ip, phase: Phase::Opened, sn: None, tx, pushes: VecDeque::new() }
    }

    /// Remembers a push sent on this connection, so its acknowledgement is not malformed.
    pub fn sent_push(&mut self, frame: &Value) {
        if let Some(id) = frame.pointer("/headers/req_id").and_then(Value::as_str) {
            if self.pushes.len() == REMEMBERED_PUSHES {
                self.pushes.pop_front();
            }
            self.pushes.push_back(id.to_string());
        }
    }
}

/// What to send for one inbound frame: reply (unless swallowed or silenced) then pushes,
/// all after `delay`.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Response {
    pub frames: Vec<Value>,
    pub delay: Duration,
}

fn str_field<'a>(body: Option<&'a Map<String, Value>>, key: &str) -> Option<&'a str> {
    body?.get(key)?.as_str()
}

/// The fields of a signed body (`register`, `get_secret_no`): numbers must be JSON numbers.
struct SignedBody<'a> {
    sn: &'a str,
    timestamp: u64,
    nonce: String,
    signature: &'a str,
}

fn signed_body(body: Option<&Map<String, Value>>) -> Option<SignedBody<'_>> {
    let b = body?;
    let timestamp = b.get("timestamp")?.as_u64()?;
    let nonce = b.get("nonce").filter(|v| v.is_u64())?;
    Some(SignedBody {
        sn: b.get("sn")?.as_str()?,
        timestamp,
        nonce: signature::value_text(nonce)?,
        signature: b.get("device_signature")?.as_str()?,
    })
}

impl MockCloud {
    /// A text frame from a device.
    pub(super) fn on_text(&self, conn: &mut Conn, text: &str) -> Response {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => return self.malformed(conn, None, "frame is not JSON"),
        };
        tracing::debug!(conn = conn.id, frame = %crate::profile::wecom::volatile::redact_secrets(&value), "device frame");
        let req_id = value.pointer("/headers/req_id").and_then(Value::as_str).map(str::to_string);
        let Some(obj) = value.as_object() else {
            return self.malformed(conn, None, "frame is not a JSON object");
        };
        if !obj.contains_key("cmd") {
            if obj.contains_key("errcode") && req_id.as_ref().is_some_and(|id| conn.pushes.contains(id)) {
                // An optional acknowledgement of one of our pushes (§1.5): accepted quietly.
                return Response::default();
            }
            return self.malformed(conn, req_id.as_deref(), "field `cmd` is missing");
        }
        match envelope::Envelope::from_value(&value) {
            Ok(envelope::Envelope::Request { cmd, req_id, body }) | Ok(envelope::Envelope::Push { cmd, req_id, body }) => {
                let body = body.as_ref().and_then(Value::as_object);
                self.on_request(conn, &cmd, &req_id, body)
            }
            Ok(envelope::Envelope::Reply { .. }) => self.malformed(conn, req_id.as_deref(), "frame is not a request"),
            Err(e) => self.malformed(conn, req_id.as_deref(), &e.to_string()),
        }
    }

    /// A binary frame from a device: only `upload_log` is one (§1.2).
    pub(super) fn on_binary(&self, conn: &mut Conn, bytes: &[u8]) -> Response {
        match binary::decode_upload_log(bytes) {
            Ok(up) => {
                tracing::debug!(conn = conn.id, req_id = %up.req_id, bytes = up.data.len(), "upload_log");
                let req = Request::Business { malformed: false, implemented: true };
                let mut guard = self.shared();
                let sn = conn.sn.clone();
                self.finish(conn, &mut guard, "upload_log", &up.req_id, sn, req, |_, _, _, _| (None, Vec::new()))
            }
            Err(e) => {
                tracing::debug!(conn = conn.id, bytes = bytes.len(), error = %e, "binary frame is not upload_log");
                self.malformed(conn, None, &format!("binary frame is not a valid upload_log: {e}"))
            }
        }
    }

    fn malformed(&self, conn: &Conn, req_id: Option<&str>, hint: &str) -> Response {
        let delay = conn.sn.as_deref().map(|sn| self.shared().faults.delay(sn)).unwrap_or_default();
        Response { frames: self.error_frame(req_id, None, MALFORMED_REQUEST, None, hint).into_iter().collect(), delay }
    }

    fn on_request(&self, conn: &mut Conn, cmd: &str, req_id: &str, body: Option<&Map<String, Value>>) -> Response {
        // One lock for the whole decision, so two connections never decide on stale facts.
        let mut guard = self.shared();
        let shared = &mut *guard;
        let (req, sn) = self.classify(conn, shared, cmd, body);
        let about = sn.clone();
        self.finish(conn, shared, cmd, req_id, sn, req, move |cloud, conn, shared, effect| {
            cloud.apply(conn, shared, cmd, body, about.as_deref(), effect)
        })
    }

    /// Classifies a request and looks up the facts its decision needs; also returns the SN
    /// the request is about (the connection's, or the one the body names).
    fn classify(&self, conn: &Conn, shared: &mut Shared, cmd: &str, body: Option<&Map<String, Value>>) -> (Request, Option<String>) {
        let now_unix = self.now_unix();
        let tolerance = self.config.timestamp_tolerance.as_secs();
        let ordered = self.config.enforces(MockRule::NoOrderCheck);
        let Shared { registry, rate, .. } = shared;
        let mut sn: Option<String> = conn.sn.clone();
        let signed_facts = |sb: &Option<SignedBody<'_>>, ok: &dyn Fn(&SignedBody<'_>) -> bool| match sb {
            None => Signed { malformed: true, known: false, fresh: false, signature_ok: false },
            Some(b) => Signed {
                malformed: false,
                known: registry.knows(b.sn),
                fresh: b.timestamp.abs_diff(now_unix) <= tolerance,
                signature_ok: ok(b),
            },
        };
        let req = match cmd {
            "register" => {
                let sb = signed_body(body);
                let signed = signed_facts(&sb, &|b| {
                    registry.register_signature_ok(b.sn, &b.timestamp.to_string(), &b.nonce, b.signature)
                });
                let conflict = match &sb {
                    Some(b) => registry.conflict(b.sn, conn.id, conn.ip),
                    None => lifecycle::Conflict::None,
                };
                if sn.is_none() {
                    sn = sb.as_ref().map(|b| b.sn.to_string());
                }
                Request::Register { signed, conflict }
            }
            "get_secret_no" => {
                let sb = signed_body(body);
                let signed = signed_facts(&sb, &|b| {
                    registry.secret_no_signature_ok(b.sn, &b.timestamp.to_string(), &b.nonce, b.signature)
                });
                let about = sb.as_ref().map(|b| b.sn.to_string());
                let registered_ever = about.as_deref().is_some_and(|s| registry.registered_ever(s));
                sn = about.or(sn);
                Request::GetSecretNo { signed, registered_ever }
            }
            "active" => {
                let code = str_field(body, "active_code");
                if sn.is_none() && !ordered {
                    sn = code.and_then(|c| registry.sn_by_active_code(c));
                }
                let s = sn.as_deref().unwrap_or_default();
                Request::Active {
                    malformed: code.is_none(),
                    code_matches: code.is_some_and(|c| registry.active_code_matches(s, c)),
                    bound: registry.is_bound(s),
                }
            }
            "subscribe_corp" => {
                let secret = str_field(body, "secret");
                let malformed = secret.is_none() || str_field(body, "firmware_version").is_none();
                let rate_limited = rate
                    .admit(conn.ip, tokio::time::Instant::now(), self.config.timings.subscribe_window, self.config.timings.subscribe_limit)
                    .err();
                if sn.is_none() && !ordered {
                    sn = secret.and_then(|s| registry.sn_by_secret(s));
                }
                let s = sn.as_deref().unwrap_or_default();
                Request::SubscribeCorp {
                    rate_limited,
                    malformed,
                    ever_activated: registry.ever_activated(s),
                    secret_matches: secret.is_some_and(|secret| registry.secret_matches(s, secret)),
                    bound: registry.is_bound(s),
                }
            }
            "ping" => Request::Ping,
            "get_timestamp" => Request::GetTimestamp,
            // upload_log is a binary frame (§1.2); as text it is malformed.
            "upload_log" => Request::Business { malformed: true, implemented: true },
            "selfhelp_notify" => Request::Business { malformed: str_field(body, "data").is_none(), implemented: true },
            "gen_login_qrcode" => {
                let version_ok = body.and_then(|b| b.get("format_version")).and_then(Value::as_u64) == Some(1);
                Request::Business { malformed: str_field(body, "state").is_none() || !version_ok, implemented: true }
            }
            c if Catalog::get().is_device_command(c) => Request::Business { malformed: false, implemented: IMPLEMENTED.contains(&c) },
            _ => Request::Unknown,
        };
        (req, sn)
    }

    /// Runs the lifecycle, carries out its effect, builds the reply and applies the faults
    /// of the SN the request is about.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        conn: &mut Conn,
        shared: &mut Shared,
        cmd: &str,
        req_id: &str,
        sn: Option<String>,
        req: Request,
        apply: impl FnOnce(&MockCloud, &mut Conn, &mut Shared, Effect) -> (Option<Value>, Vec<Value>),
    ) -> Response {
        let (next, outcome) = lifecycle::on_request(conn.phase, &req, &self.config.disabled_rules);
        conn.phase = next;
        let (reply, pushes) = match outcome {
            Outcome::Ok(effect) => {
                let (body, pushes) = apply(self, conn, shared, effect);
                let reply = match (cmd, body) {
                    // The static login QR comes back as a binary frame echoing the req_id (C3).
                    ("gen_login_qrcode", Some(qr)) => {
                        let shaped = self.shape(envelope::reply_ok(req_id, None), None);
                        let echoed = shaped.pointer("/headers/req_id").cloned().unwrap_or_default();
                        Some(json!({BINARY_REPLY: {"req_id": echoed, "data": qr["qr"]}}))
                    }
                    (_, body) => self.ok_frame(req_id, cmd, body),
                };
                (reply, pushes)
            }
            Outcome::Error { code, interval, hint } => {
                let hint = if code == NOT_IMPLEMENTED {
                    format!("command {:?} is not implemented by the mock cloud", truncate(cmd, 64))
                } else {
                    hint.to_string()
                };
                (self.error_frame(Some(req_id), Some(cmd), code, interval, &hint), Vec::new())
            }
        };
        // After a register the connection's SN is the one the faults are scoped by.
        let sn = conn.sn.clone().or(sn);
        let (swallow, delay) = match sn.as_deref() {
            Some(sn) => (shared.faults.take_swallow(sn, cmd), shared.faults.delay(sn)),
            None => (false, Duration::ZERO),
        };
        if swallow {
            tracing::info!(conn = conn.id, cmd, "reply swallowed (fault injection)");
        }
        let frames = reply.filter(|_| !swallow).into_iter().chain(pushes).collect();
        Response { frames, delay }
    }

    /// Carries out a successful request; returns the reply body and any pushes.
    fn apply(
        &self,
        conn: &mut Conn,
        shared: &mut Shared,
        cmd: &str,
        body: Option<&Map<String, Value>>,
        sn: Option<&str>,
        effect: Effect,
    ) -> (Option<Value>, Vec<Value>) {
        let registry = &mut shared.registry;
        match effect {
            Effect::Register { kick } => {
                let Some(sn) = str_field(body, "sn") else { return (None, Vec::new()) };
                if let Some(prev) = conn.sn.as_deref().filter(|p| *p != sn) {
                    registry.release(prev, conn.id);
                }
                let link = LiveLink { conn_id: conn.id, ip: conn.ip, tx: conn.tx.clone() };
                let Some((code, old)) = registry.register(sn, link) else { return (None, Vec::new()) };
                conn.sn = Some(sn.to_string());
                if let Some(old) = old {
                    if kick {
                        tracing::info!(conn = conn.id, old = old.conn_id, sn, "kicking the older link of this sn");
                        let _ = old.tx.send(LinkCommand::Close { code: CLOSE_KICKED.0, reason: CLOSE_KICKED.1 });
                    } else {
                        tracing::info!(conn = conn.id, old = old.conn_id, sn, "sn taken over without a kick (rule off)");
                    }
                }
                (Some(json!({"active_code": code.expose()})), Vec::new())
            }
            Effect::Activate => {
                let secret = sn.and_then(|sn| registry.activate(sn));
                (secret.map(|s| json!({"secret": s.expose()})), Vec::new())
            }
            Effect::Subscribe => (None, Vec::new()),
            Effect::IssueSecretNo => {
                let s = sn.and_then(|sn| registry.issue_secret_no(sn));
                (s.map(|s| json!({"secret_no": s.expose()})), Vec::new())
            }
            Effect::Serve => match cmd {
                "get_timestamp" => (Some(json!({"timestamp": self.now_unix()})), Vec::new()),
                "get_corp_info" => (Some(json!({"corp_name": CORP_NAME})), Vec::new()),
                "get_perm_version" => (Some(json!({"perm_version": 0})), Vec::new()),
                "gen_login_qrcode" => {
                    let url = format!(
                        "https://open.work.weixin.qq.com/connect/hardware?sn={}&state={}&type=static_login",
                        sn.unwrap_or_default(),
                        str_field(body, "state").unwrap_or_default()
                    );
                    (Some(json!({"qr": url})), Vec::new())
                }
                "selfhelp_notify" => {
                    let pushes = match str_field(body, "data") {
                        Some(data) if self.config.enforces(MockRule::NoSelfhelpEcho) => {
                            vec![envelope::push(SELFHELP_PUSH, &self.push_req_id(), Some(json!({"data": data})))]
                        }
                        _ => Vec::new(),
                    };
                    (None, pushes)
                }
                _ => (None, Vec::new()),
            },
        }
    }

    /// A success reply, bent by the reply knobs.
    fn ok_frame(&self, req_id: &str, cmd: &str, body: Option<Value>) -> Option<Value> {
        Some(self.shape(envelope::reply_ok(req_id, body), Some(cmd)))
    }

    /// An error reply with the catalog's advice (C12), or `None` when a knob silences it.
    pub(super) fn error_frame(&self, req_id: Option<&str>, cmd: Option<&str>, code: i64, interval: Option<i64>, hint: &str) -> Option<Value> {
        if code == MALFORMED_REQUEST && !self.config.enforces(MockRule::SilentOnMalformed) {
            return None;
        }
        if code == NOT_IMPLEMENTED && !self.config.enforces(MockRule::NotImplementedSilent) {
            return None;
        }
        let (meaning, suggestion, default_interval) = match Catalog::get().error(code) {
            Some(e) => (e.meaning.as_str(), e.suggestion, e.interval),
            None => ("error", crate::profile::wecom::Suggestion::Retry, -1),
        };
        let errmsg = format!("{meaning}, hint: {hint}");
        let mut frame = envelope::reply_error(req_id, code, &errmsg, suggestion, interval.unwrap_or(default_interval));
        if !self.config.enforces(MockRule::NoErrorAdvice) {
            if let Some(obj) = frame.as_object_mut() {
                obj.remove("suggestion");
                obj.remove("interval");
            }
        }
        Some(self.shape(frame, cmd))
    }

    /// Applies the knobs that break every reply: wrong req_id (C1), `cmd` in replies (C2).
    fn shape(&self, mut frame: Value, cmd: Option<&str>) -> Value {
        if !self.config.enforces(MockRule::NoReqIdEcho) {
            if let Some(id) = frame.pointer_mut("/headers/req_id") {
                *id = json!(format!("{}-not-echoed", id.as_str().unwrap_or_default()));
            }
        }
        if let (false, Some(cmd)) = (self.config.enforces(MockRule::CmdInReply), cmd) {
            frame["cmd"] = json!(cmd);
        }
        frame
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::wecom::catalog::{INVALID_SIGNATURE, SECRET_NO_AFTER_REGISTER, STALE_TIMESTAMP, UNKNOWN_DEVICE};
    use crate::profile::fleet::{Fleet, FleetDevice};
    use crate::profile::identity::{DeviceIdentity, Secret};
    use crate::targets::mock::MockConfig;
    use rstest::rstest;
    use std::collections::BTreeSet;
    use std::sync::Arc;

    const START: u64 = 1_700_000_000;

    fn cloud(disabled: &[MockRule]) -> Arc<MockCloud> {
        let fleet = Fleet {
            devices: vec![
                FleetDevice { identity: DeviceIdentity::new("SN1", "sec1"), bound: true },
                FleetDevice { identity: DeviceIdentity::new("SN2", "sec2"), bound: false },
            ],
            seed_secret_no: Some(Secret::new("seed")),
        };
        MockCloud::new(MockConfig {
            fleet,
            start_unix: START,
            disabled_rules: disabled.iter().copied().collect::<BTreeSet<_>>(),
            ..MockConfig::default()
        })
    }

    fn conn(ip: &str) -> Conn {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        std::mem::forget(rx); // keep the channel open for the test's lifetime
        Conn::new(rand::random(), ip.parse().unwrap(), tx)
    }

    fn send(c: &MockCloud, conn: &mut Conn, frame: Value) -> Vec<Value> {
        c.on_text(conn, &frame.to_string()).frames
    }

    fn one(c: &MockCloud, conn: &mut Conn, frame: Value) -> Value {
        let mut frames = send(c, conn, frame);
        assert_eq!(frames.len(), 1, "{frames:?}");
        frames.remove(0)
    }

    fn register_body(sn: &str, secret_no: &str, ts: u64) -> Value {
        json!({"sn": sn, "timestamp": ts, "nonce": 42, "device_signature": signature::register(sn, secret_no, &ts.to_string(), "42")})
    }

    fn req(cmd: &str, body: Option<Value>) -> Value {
        envelope::request(cmd, &format!("r-{cmd}"), body)
    }

    fn errcode(v: &Value) -> i64 {
        v["errcode"].as_i64().unwrap()
    }

    /// Drives one connection to `phase` for SN1; returns (active_code, secret).
    fn login(c: &MockCloud, conn: &mut Conn, phase: Phase) -> (String, String) {
        let r = one(c, conn, req("register", Some(register_body("SN1", "sec1", START))));
        assert_eq!(errcode(&r), 0, "{r}");
        let code = r["body"]["active_code"].as_str().unwrap().to_string();
        if phase == Phase::Registered {
            return (code, String::new());
        }
        let r = one(c, conn, req("active", Some(json!({"active_code": code}))));
        let secret = r["body"]["secret"].as_str().unwrap().to_string();
        if phase == Phase::Activated {
            return (code, secret);
        }
        let r = one(c, conn, req("subscribe_corp", Some(json!({"secret": secret, "firmware_version": "1"}))));
        assert_eq!(errcode(&r), 0, "{r}");
        (code, secret)
    }

    /// C1/C2/C12: replies echo req_id, never carry cmd, errors carry advice.
    fn assert_well_formed(frame: &Value, req_id: &str) {
        let v = crate::profile::wecom::monitors::rules::check_reply(frame, req_id, true);
        assert!(v.is_empty(), "{frame}: {v:?}");
    }

    #[rstest]
    // C4: register error paths.
    #[case::c4_timestamp_string(json!({"sn":"SN1","timestamp":"1700000000","nonce":42,"device_signature":"x"}), MALFORMED_REQUEST)]
    #[case::c4_nonce_string(json!({"sn":"SN1","timestamp":START,"nonce":"42","device_signature":"x"}), MALFORMED_REQUEST)]
    #[case::c4_sn_missing(json!({"timestamp":START,"nonce":42,"device_signature":"x"}), MALFORMED_REQUEST)]
    #[case::c4_unknown(register_body("NOPE", "sec1", START), UNKNOWN_DEVICE)]
    #[case::c4_stale(register_body("SN1", "sec1", START - 301), STALE_TIMESTAMP)]
    #[case::c4_future(register_body("SN1", "sec1", START + 301), STALE_TIMESTAMP)]
    #[case::c4_signature(register_body("SN1", "wrong", START), INVALID_SIGNATURE)]
    #[case::c4_edge_of_tolerance(register_body("SN1", "sec1", START - 300), 0)]
    fn register_paths(#[case] body: Value, #[case] expected: i64) {
        let c = cloud(&[]);
        let mut k = conn("10.0.0.1");
        let r = one(&c, &mut k, req("register", Some(body)));
        assert_eq!(errcode(&r), expected, "{r}");
        assert_well_formed(&r, "r-register");
        if expected == 0 {
            assert!(r["body"]["active_code"].is_string());
        }
    }

    #[test]
    fn c9_resent_register_active_subscribe() {
        let c = cloud(&[]);
        let mut k = conn("10.0.0.1");
        let (code, secret) = login(&c, &mut k, Phase::Registered);
        assert_eq!(errcode(&one(&c, &mut k, req("register", Some(register_body("SN1", "sec1", START))))), 600012);
        let r = one(&c, &mut k, req("active", Some(json!({"active_code": code}))));
        let secret2 = r["body"]["secret"].as_str().unwrap().to_string();
        assert!(secret.is_empty());
        assert_eq!(errcode(&one(&c, &mut k, req("register", None))), 600053);
        assert_eq!(errcode(&one(&c, &mut k, req("active", Some(json!({"active_code": code}))))), 600053);
        let r = one(&c, &mut k, req("subscribe_corp", Some(json!({"secret": secret2, "firmware_version": "1"}))));
        assert_eq!(errcode(&r), 0);
        assert!(r.get("body").is_none(), "subscribe_corp replies without a body");
        for cmd in ["register", "active", "subscribe_corp"] {
            let r = one(&c, &mut k, req(cmd, Some(json!({"secret": secret2, "firmware_version": "1"}))));
            assert_eq!(errcode(&r), 600054, "{cmd}: {r}");
            assert_well_formed(&r, &format!("r-{cmd}"));
        }
        assert_eq!(k.phase, Phase::Subscribed);
    }

    #[test]
    fn c6_active_paths() {
        let c = cloud(&[]);
        let mut fresh = conn("10.0.0.1");
        assert_eq!(errcode(&one(&c, &mut fresh, req("active", Some(json!({"active_code": "x"}))))), 600014);
        let mut k = conn("10.0.0.1");
        login(&c, &mut k, Phase::Registered);
        assert_eq!(errcode(&one(&c, &mut k, req("active", None))), MALFORMED_REQUEST);
        assert_eq!(errcode(&one(&c, &mut k, req("active", Some(json!({"active_code": "wrong"}))))), 600003);
        // SN2 is unbound: 600004 until bound (FAQ "激活设备一直报错 600004").
        let mut u = conn("10.0.0.2");
        let r = one(&c, &mut u, req("register", Some(register_body("SN2", "sec2", START))));
        let code = r["body"]["active_code"].as_str().unwrap().to_string();
        let r = one(&c, &mut u, req("active", Some(json!({"active_code": code}))));
        assert_eq!(errcode(&r), 600004);
        assert_well_formed(&r, "r-active");
        c.shared().registry.set_bound("SN2", true);
        let r = one(&c, &mut u, req("active", Some(json!({"active_code": code}))));
        assert!(r["body"]["secret"].is_string(), "{r}");
    }

    #[test]
    fn subscribe_paths() {
        let c = cloud(&[]);
        let sub = |s: &str| req("subscribe_corp", Some(json!({"secret": s, "firmware_version": "1"})));
        let mut fresh = conn("10.0.0.1");
        assert_eq!(errcode(&one(&c, &mut fresh, sub("x"))), 600014);
        let mut k = conn("10.0.0.2");
        login(&c, &mut k, Phase::Registered);
        assert_eq!(errcode(&one(&c, &mut k, req("subscribe_corp", Some(json!({"secret": "x"}))))), MALFORMED_REQUEST);
        assert_eq!(errcode(&one(&c, &mut k, sub("x"))), 600016, "never activated");
        let mut k2 = conn("10.0.0.2");
        let (_, secret) = login(&c, &mut k2, Phase::Activated);
        let mut k3 = conn("10.0.0.2");
        assert_eq!(errcode(&one(&c, &mut k3, req("register", Some(register_body("SN1", "sec1", START))))), 0);
        assert_eq!(errcode(&one(&c, &mut k3, sub("wrong"))), 600004);
        // D10: with a cached secret a registered connection subscribes without `active`.
        assert_eq!(errcode(&one(&c, &mut k3, sub(&secret))), 0);
        c.shared().registry.set_bound("SN1", false);
        let mut k4 = conn("10.0.0.2");
        one(&c, &mut k4, req("register", Some(register_body("SN1", "sec1", START))));
        assert_eq!(errcode(&one(&c, &mut k4, sub(&secret))), 600004, "unbound: secret revoked");
    }

    #[test]
    fn c5_get_secret_no() {
        let c = cloud(&[]);
        let mut k = conn("10.0.0.1");
        let body = |sn: &str, seed: &str, ts: u64| {
            json!({"sn": sn, "timestamp": ts, "nonce": 7, "device_signature": signature::get_secret_no(sn, seed, &ts.to_string(), "7")})
        };
        assert_eq!(errcode(&one(&c, &mut k, req("get_secret_no", Some(body("SN1", "nope", START))))), INVALID_SIGNATURE);
        assert_eq!(errcode(&one(&c, &mut k, req("get_secret_no", Some(body("SN1", "seed", START - 1000))))), STALE_TIMESTAMP);
        assert_eq!(errcode(&one(&c, &mut k, req("get_secret_no", Some(body("ZZ", "seed", START))))), UNKNOWN_DEVICE);
        assert_eq!(errcode(&one(&c, &mut k, req("get_secret_no", Some(json!({"sn": "SN1"}))))), MALFORMED_REQUEST);
        let r = one(&c, &mut k, req("get_secret_no", Some(body("SN1", "seed", START))));
        let per_device = r["body"]["secret_no"].as_str().unwrap().to_string();
        // register accepts the per-device SecretNo.
        let r = one(&c, &mut k, req("register", Some(register_body("SN1", &per_device, START))));
        assert_eq!(errcode(&r), 0, "{r}");
        let mut k2 = conn("10.0.0.9");
        let r = one(&c, &mut k2, req("get_secret_no", Some(body("SN1", "seed", START))));
        assert_eq!(errcode(&r), SECRET_NO_AFTER_REGISTER);
        assert_eq!(r["interval"], -1);
    }

    #[rstest]
    #[case::get_corp_info("get_corp_info", None)]
    #[case::get_perm_version("get_perm_version", None)]
    #[case::checkin("checkin", Some(json!({"checkin_data": []})))]
    #[case::get_userinfo_by_page("get_userinfo_by_page", Some(json!({"offset": 0, "limit": 10})))]
    #[case::get_firmware_info("get_firmware_info", None)]
    #[case::selfhelp_notify("selfhelp_notify", Some(json!({"data": "x"})))]
    fn c14_business_needs_login(#[case] cmd: &str, #[case] body: Option<Value>) {
        let c = cloud(&[]);
        let mut k = conn("10.0.0.1");
        assert_eq!(errcode(&one(&c, &mut k, req(cmd, body.clone()))), 600014);
        login(&c, &mut k, Phase::Registered);
        assert_eq!(errcode(&one(&c, &mut k, req(cmd, body.clone()))), 600020);
        let mut k2 = conn("10.0.0.1");
        login(&c, &mut k2, Phase::Activated);
        let r = one(&c, &mut k2, req(cmd, body.clone()));
        assert_eq!(errcode(&r), 600020);
        assert_well_formed(&r, &format!("r-{cmd}"));
    }

    #[test]
    fn business_after_login() {
        let c = cloud(&[]);
        let mut k = conn("10.0.0.1");
        login(&c, &mut k, Phase::Subscribed);
        assert_eq!(one(&c, &mut k, req("get_corp_info", None))["body"]["corp_name"], CORP_NAME);
        assert_eq!(one(&c, &mut k, req("get_perm_version", None))["body"]["perm_version"], 0);
        let r = one(&c, &mut k, req("checkin", Some(json!({}))));
        assert_eq!(errcode(&r), NOT_IMPLEMENTED);
        assert!(r["errmsg"].as_str().unwrap().contains("\"checkin\""), "{r}");
        let r = one(&c, &mut k, req("no_such_cmd", None));
        assert_eq!(errcode(&r), NOT_IMPLEMENTED);
        assert_well_formed(&r, "r-no_such_cmd");
        // C23: selfhelp_notify replies ok, then pushes the same data back.
        let frames = send(&c, &mut k, req("selfhelp_notify", Some(json!({"data": "{\"a\":1}"}))));
        assert_eq!(frames.len(), 2);
        assert_well_formed(&frames[0], "r-selfhelp_notify");
        assert_eq!(frames[1]["cmd"], SELFHELP_PUSH);
        assert_eq!(frames[1]["body"]["data"], "{\"a\":1}");
        assert!(crate::profile::wecom::monitors::rules::check_push(&frames[1]).is_empty());
        assert_eq!(errcode(&one(&c, &mut k, req("selfhelp_notify", Some(json!({"data": {"a": 1}}))))), MALFORMED_REQUEST);
    }

    #[test]
    fn ping_and_timestamp_any_time() {
        let c = cloud(&[]);
        let mut k = conn("10.0.0.1");
        let r = one(&c, &mut k, req("ping", None));
        assert_eq!(errcode(&r), 0);
        assert!(r.get("body").is_none());
        assert_eq!(one(&c, &mut k, req("get_timestamp", None))["body"]["timestamp"], START);
    }

    #[rstest]
    #[case::not_json("{not json", false)]
    #[case::not_object("[1,2]", false)]
    #[case::no_cmd(r#"{"headers":{"req_id":"q1"}}"#, true)]
    #[case::cmd_number(r#"{"cmd":5,"headers":{"req_id":"q1"}}"#, true)]
    #[case::no_headers(r#"{"cmd":"ping"}"#, false)]
    #[case::req_id_number(r#"{"cmd":"ping","headers":{"req_id":5}}"#, false)]
    #[case::body_string(r#"{"cmd":"ping","headers":{"req_id":"q1"},"body":"x"}"#, true)]
    #[case::stray_reply(r#"{"headers":{"req_id":"q1"},"errcode":0,"errmsg":"ok"}"#, true)]
    #[case::text_upload_log(r#"{"cmd":"upload_log","headers":{"req_id":"q1"}}"#, true)]
    fn malformed_frames_get_600904(#[case] text: &str, #[case] has_req_id: bool) {
        let c = cloud(&[]);
        let mut k = conn("10.0.0.1");
        login(&c, &mut k, Phase::Subscribed);
        let frames = c.on_text(&mut k, text).frames;
        assert_eq!(frames.len(), 1, "{text}");
        let r = &frames[0];
        assert_eq!(errcode(r), MALFORMED_REQUEST);
        assert!(r.get("cmd").is_none());
        assert!(r["suggestion"].is_string() && r["interval"].is_i64(), "{r}");
        assert_eq!(r.pointer("/headers/req_id").is_some(), has_req_id, "{r}");
    }

    #[test]
    fn push_acknowledgements_are_accepted() {
        let c = cloud(&[]);
        let mut k = conn("10.0.0.1");
        k.sent_push(&envelope::push("push_bind_corp", "p-1", None));
        assert!(c.on_text(&mut k, r#"{"headers":{"req_id":"p-1"},"errcode":0,"errmsg":"ok"}"#).frames.is_empty());
    }

    #[test]
    fn binary_frames() {
        let c = cloud(&[]);
        let mut k = conn("10.0.0.1");
        let up = binary::encode_upload_log("u1", b"log line");
        assert_eq!(errcode(&c.on_binary(&mut k, &up).frames[0]), 600014);
        login(&c, &mut k, Phase::Subscribed);
        let r = &c.on_binary(&mut k, &up).frames[0];
        assert_eq!(errcode(r), 0);
        assert_well_formed(r, "u1");
        let r = &c.on_binary(&mut k, b"\x01\x00garbage").frames[0];
        assert_eq!(errcode(r), MALFORMED_REQUEST);
        assert!(r.get("headers").is_none());
    }

    #[test]
    fn c10_c13_sn_binding() {
        let c = cloud(&[]);
        let mut a = conn("10.0.0.1");
        login(&c, &mut a, Phase::Registered);
        let mut b = conn("10.0.0.2");
        let r = one(&c, &mut b, req("register", Some(register_body("SN1", "sec1", START))));
        assert_eq!(errcode(&r), 600002);
        assert_eq!((r["suggestion"].as_str(), r["interval"].as_i64()), (Some("reconnect"), Some(90)));
        // Same IP: the new link wins.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        a.tx = tx.clone();
        c.shared().registry.take_live("SN1");
        c.shared().registry.register("SN1", LiveLink { conn_id: a.id, ip: a.ip, tx });
        let mut same = conn("10.0.0.1");
        assert_eq!(errcode(&one(&c, &mut same, req("register", Some(register_body("SN1", "sec1", START))))), 0);
        assert_eq!(rx.try_recv().unwrap(), LinkCommand::Close { code: 4001, reason: CLOSE_KICKED.1 });
        assert_eq!(c.shared().registry.live("SN1").unwrap().conn_id, same.id);
    }

    #[test]
    fn c11_rate_limit_counts_every_attempt() {
        let c = cloud(&[]);
        let mut k = conn("10.0.0.1");
        for i in 0..5 {
            let r = one(&c, &mut k, req("subscribe_corp", Some(json!({"secret": "x", "firmware_version": "1"}))));
            assert_eq!(errcode(&r), 600014, "attempt {i}");
        }
        let r = one(&c, &mut k, req("subscribe_corp", Some(json!({"secret": "x", "firmware_version": "1"}))));
        assert_eq!(errcode(&r), 600045);
        assert_eq!((r["suggestion"].as_str(), r["interval"].as_i64()), (Some("retry"), Some(60)));
    }

    /// Every reply knob breaks the check it exists for, and nothing else panics.
    #[rstest]
    #[case(MockRule::NoReqIdEcho, "C1")]
    #[case(MockRule::CmdInReply, "C2")]
    #[case(MockRule::NoErrorAdvice, "C12")]
    fn reply_knobs(#[case] rule: MockRule, #[case] broken: &str) {
        let c = cloud(&[rule]);
        let mut k = conn("10.0.0.1");
        let r = one(&c, &mut k, req("get_corp_info", None));
        let v = crate::profile::wecom::monitors::rules::check_reply(&r, "r-get_corp_info", true);
        assert!(v.iter().any(|v| v.rule == broken), "{r}: {v:?}");
    }

    #[rstest]
    #[case(MockRule::SilentOnMalformed, "{oops")]
    #[case(MockRule::NotImplementedSilent, r#"{"cmd":"frobnicate","headers":{"req_id":"x"}}"#)]
    fn silence_knobs(#[case] rule: MockRule, #[case] text: &str) {
        assert_eq!(cloud(&[]).on_text(&mut conn("10.0.0.1"), text).frames.len(), 1);
        assert!(cloud(&[rule]).on_text(&mut conn("10.0.0.1"), text).frames.is_empty());
    }

    #[test]
    fn behaviour_knobs() {
        // no-selfhelp-echo
        let c = cloud(&[MockRule::NoSelfhelpEcho]);
        let mut k = conn("10.0.0.1");
        login(&c, &mut k, Phase::Subscribed);
        assert_eq!(send(&c, &mut k, req("selfhelp_notify", Some(json!({"data": "d"})))).len(), 1);
        // no-order-check: active on a fresh connection with a code issued elsewhere.
        let c = cloud(&[MockRule::NoOrderCheck]);
        let mut k = conn("10.0.0.1");
        let (code, _) = login(&c, &mut k, Phase::Registered);
        let mut fresh = conn("10.0.0.1");
        assert!(one(&c, &mut fresh, req("active", Some(json!({"active_code": code}))))["body"]["secret"].is_string());
        assert_eq!(errcode(&one(&c, &mut fresh, req("get_corp_info", None))), 0);
        // no-sn-binding: another IP registers the live SN.
        let c = cloud(&[MockRule::NoSnBinding]);
        let mut a = conn("10.0.0.1");
        login(&c, &mut a, Phase::Registered);
        let mut b = conn("10.0.0.2");
        assert_eq!(errcode(&one(&c, &mut b, req("register", Some(register_body("SN1", "sec1", START))))), 0);
        // secret-no-after-register
        let c = cloud(&[MockRule::SecretNoAfterRegister]);
        let mut k = conn("10.0.0.1");
        login(&c, &mut k, Phase::Registered);
        let body = json!({"sn": "SN1", "timestamp": START, "nonce": 7,
                          "device_signature": signature::get_secret_no("SN1", "seed", &START.to_string(), "7")});
        assert_eq!(errcode(&one(&c, &mut k, req("get_secret_no", Some(body)))), 0);
        // unbound-active-succeeds
        let c = cloud(&[MockRule::UnboundActiveSucceeds]);
        let mut u = conn("10.0.0.2");
        let r = one(&c, &mut u, req("register", Some(register_body("SN2", "sec2", START))));
        let r = one(&c, &mut u, req("active", Some(json!({"active_code": r["body"]["active_code"]}))));
        assert!(r["body"]["secret"].is_string(), "{r}");
    }

    #[test]
    fn swallow_and_delay_are_per_sn() {
        let c = cloud(&[]);
        c.shared().faults.swallow_next("SN1", "register");
        c.shared().faults.set_delay("SN1", Duration::from_millis(250));
        let mut other = conn("10.0.0.2");
        let r = c.on_text(&mut other, &req("register", Some(register_body("SN2", "sec2", START))).to_string());
        assert_eq!((r.frames.len(), r.delay), (1, Duration::ZERO), "other SNs unaffected");
        let mut k = conn("10.0.0.1");
        let r = c.on_text(&mut k, &req("register", Some(register_body("SN1", "sec1", START))).to_string());
        assert!(r.frames.is_empty(), "swallowed");
        assert_eq!(k.phase, Phase::Registered, "but took effect");
        let r = c.on_text(&mut k, &req("register", None).to_string());
        assert_eq!(errcode(&r.frames[0]), 600012);
        assert_eq!(r.delay, Duration::from_millis(250));
    }

    /// With any single knob off, or all of them, a canned session never panics.
    #[test]
    fn every_knob_keeps_the_mock_alive() {
        let sets: Vec<Vec<MockRule>> =
            MockRule::ALL.iter().map(|r| vec![*r]).chain(std::iter::once(MockRule::ALL.to_vec())).collect();
        for set in sets {
            let c = cloud(&set);
            let mut k = conn("10.0.0.1");
            let frames = [
                req("register", Some(register_body("SN1", "sec1", START))),
                req("register", Some(register_body("SN1", "bad", 1))),
                req("active", Some(json!({"active_code": "nope"}))),
                req("subscribe_corp", Some(json!({"secret": "nope", "firmware_version": "1"}))),
                req("get_secret_no", Some(json!({"sn": "SN1", "timestamp": START, "nonce": 1, "device_signature": "x"}))),
                req("selfhelp_notify", Some(json!({"data": "d"}))),
                req("checkin", None),
                req("zzz", None),
                json!([1]),
            ];
            for f in frames {
                let _ = c.on_text(&mut k, &f.to_string());
            }
            let _ = c.on_text(&mut k, "{bad");
            let _ = c.on_binary(&mut k, b"");
            let _ = c.control(crate::targets::mock::ControlRequest::Unbind { sn: "SN1".into() });
        }
    }

    proptest::proptest! {
        /// Whatever text arrives, the mock answers (never silence) and never panics.
        #[test]
        fn any_text_gets_an_answer(text in "\\PC{0,80}", cmd in "[a-z_]{0,20}", rid in proptest::option::of("[a-z0-9]{1,8}")) {
            let c = cloud(&[]);
            let mut k = conn("10.0.0.1");
            proptest::prop_assert!(!c.on_text(&mut k, &text).frames.is_empty());
            let mut v = json!({"cmd": cmd});
            if let Some(rid) = &rid {
                v["headers"] = json!({"req_id": rid});
            }
            let frames = c.on_text(&mut k, &v.to_string()).frames;
            proptest::prop_assert!(!frames.is_empty());
            if let Some(rid) = rid {
                proptest::prop_assert_eq!(frames[0].pointer("/headers/req_id").and_then(Value::as_str), Some(rid.as_str()));
            }
        }

        #[test]
        fn any_bytes_get_an_answer(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let c = cloud(&[]);
            proptest::prop_assert_eq!(c.on_binary(&mut conn("10.0.0.1"), &bytes).frames.len(), 1);
        }
    }
}
