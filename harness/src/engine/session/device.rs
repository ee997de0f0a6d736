//! Device-role steps: the harness plays a device and the target is a cloud.

use super::{redacted, At, Session, Stop, StepResult, Target};
use crate::engine::target::{CloudControl, CloudLink};
use crate::wire::connection::{pending_bytes, Connection, Inbound, Item, MAX_PENDING, MAX_PENDING_BYTES};
use crate::profile::{DefaultContext, Profile, Secret};
use crate::scenario::expr::format_duration;
use crate::scenario::model::*;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// What waiting for a reply came to.
enum Waited {
    Reply(Value),
    /// A binary reply, shown to matchers as the profile decodes it.
    Binary(Value),
    End(String),
    Flood(usize),
    Timeout,
}

impl<'a> Session<'a> {
    fn cloud(&mut self, at: &At) -> Result<&mut Box<dyn CloudLink>, Stop> {
        match &mut self.target {
            Target::Cloud(c) => Ok(c),
            Target::Device(_) => Err(at.error(format!("`{}` is a device-role step; this scenario has the harness play the cloud", at.kind))),
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
        let cloud = self.cloud(at)?;
        let (ws, local) = match tokio::time::timeout(within, cloud.connect(from)).await {
            Ok(Ok(ok)) => ok,
            Ok(Err(e)) => return Err(at.error(format!("could not connect: {e}"))),
            Err(_) => return Err(at.error(format!("could not connect within {}", format_duration(within)))),
        };
        let c = Connection::open(conn, &device, local, ws, self.rec.clone(), None);
        if let Some(old) = self.conns.insert(conn.to_string(), c) {
            old.close(1000, "").await;
        }
        Ok(())
    }

    pub(super) async fn connect(&mut self, c: &Connect, at: &At) -> StepResult {
        let from = parse_ip(c.from.as_deref(), at)?;
        let within = self.duration(&c.within, at)?;
        let device = self.device_name(&c.device);
        self.open(&c.conn, device, from, within, at).await
    }

    pub(super) async fn change_ip(&mut self, c: &ChangeIp, at: &At) -> StepResult {
        let old = self.conns.remove(&c.conn).ok_or_else(|| at.error(format!("no open connection `{}`", c.conn)))?;
        let device = old.device.clone();
        self.abandoned.push(old.abandon());
        let to = parse_ip(Some(&c.to), at)?;
        let within = self.step_timeout;
        self.open(&c.conn, device, to, within, at).await
    }

    pub(super) async fn request(&mut self, r: &Request, at: &At) -> StepResult {
        let req_id = match &r.req_id {
            Some(t) => self.expand_text(t, at)?,
            None => self.fresh_id("hwc"),
        };
        let given = r.body.as_ref().map(|b| self.expand(b, at)).transpose()?;
        let conn_device = self.conns.get(&r.conn).map(|c| c.device.clone());
        let body = if r.raw_body {
            given
        } else {
            let device_name = conn_device.clone().unwrap_or_else(|| self.device_name(&None));
            let device = self.devices.get(&device_name).ok_or_else(|| at.error(format!("no device `{device_name}`")))?;
            let lookup = |k: &str| device.learned.get(k).cloned();
            let ctx = DefaultContext {
                identity: &device.identity,
                seed_secret_no: self.seed.as_ref().map(Secret::expose),
                now: self.rec.clock.now_unix(),
                nonce: rand::random::<u32>() as u64,
                lookup: &lookup,
            };
            self.profile.default_body(&r.cmd, given, &ctx)
        };
        let frame = self.profile.request_frame(&r.cmd, &req_id, body);
        self.vars.insert("last_req_id".into(), json!(req_id));
        let within = self.duration(&r.within, at)?;
        let not_before = self.resolve_opt(&r.not_before, at)?;
        let sent_at = self.now();
        let profile = self.profile.clone();
        let conn = self.conn(&r.conn, at)?;
        if let Err(e) = conn.send(Message::text(frame.to_string())).await {
            return Err(at.fail(match conn.ended() {
                Some(why) => format!("[{}] the cloud had ended the connection ({why}) before `{}` could be sent", r.conn, r.cmd),
                None => format!("[{}] cannot send `{}`: {e}", r.conn, r.cmd),
            }));
        }
        let waited = wait_reply(&*profile, conn, &req_id, Instant::now() + within).await;
        let cmd = &r.cmd;
        let (reply, binary) = match waited {
            _ if r.no_reply => {
                return match waited {
                    Waited::Reply(v) | Waited::Binary(v) => {
                        Err(at.fail(format!("expected no reply to `{cmd}` within {}, got {}", format_duration(within), redacted(&*profile, &v))))
                    }
                    _ => Ok(()),
                }
            }
            Waited::Reply(v) => (v, false),
            Waited::Binary(v) => (v, true),
            Waited::End(why) => return Err(at.fail(format!("[{}] the cloud ended the connection ({why}) before replying to `{cmd}` (req_id {req_id})", r.conn))),
            Waited::Flood(n) => return Err(at.fail(format!("[{}] the cloud flooded the link with {n} unsolicited frames while `{cmd}` waited for its reply", r.conn))),
            Waited::Timeout => return Err(at.fail(format!("no reply to `{cmd}` (req_id {req_id}) within {}", format_duration(within)))),
        };
        at.not_before("the reply", self.now().saturating_sub(sent_at), not_before)?;
        if !binary {
            let strict = matches!(&self.target, Target::Cloud(c) if c.capabilities().strict_codes);
            if let Some(v) = self.profile.check_reply(&reply, &req_id, strict).into_iter().next() {
                return Err(Stop::Fail(super::violation_failure(v, Some(at))));
            }
        }
        self.learn(cmd, &reply, conn_device);
        if let Some(m) = &r.expect {
            self.check(&m.value, &reply).map_err(|mm| at.mismatch("the reply", mm, m.span))?;
        }
        self.capture(&r.capture, &reply, at)
    }

    /// Remembers what the profile says later defaults need (credentials a reply handed out).
    fn learn(&mut self, cmd: &str, reply: &Value, device: Option<String>) {
        let learned = self.profile.learn(cmd, reply);
        let name = device.unwrap_or_else(|| self.device_name(&None));
        if let Some(dev) = self.devices.get_mut(&name) {
            dev.apply(learned);
        }
    }

    pub(super) async fn send(&mut self, s: &Send, at: &At) -> StepResult {
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

    pub(super) async fn expect(&mut self, e: &Expect, at: &At) -> StepResult {
        let within = self.duration(&e.within, at)?;
        let not_before = self.resolve_opt(&e.not_before, at)?;
        let started = self.now();
        let conn = self.conn(&e.conn, at)?;
        let inbound = conn.next(Instant::now() + within).await;
        let frame = match inbound.as_ref().map(|i| &i.item) {
            Some(Item::Text(t)) => match serde_json::from_str::<Value>(t) {
                Ok(v) => v,
                Err(_) => return Err(at.fail(format!("[{}] expected a JSON frame, got text that is not JSON", e.conn))),
            },
            Some(Item::Binary(b)) => return Err(at.fail(format!("[{}] expected a JSON frame, got a binary frame of {} bytes", e.conn, b.len()))),
            Some(_) => {
                let why = inbound.as_ref().and_then(Inbound::end_text).unwrap_or_default();
                return Err(at.fail(format!("[{}] expected a frame, but the link {why}", e.conn)));
            }
            None => return Err(at.fail(format!("[{}] no frame within {}", e.conn, format_duration(within)))),
        };
        let arrived = inbound.map(|i| i.at).unwrap_or(started);
        at.not_before("the frame", arrived.saturating_sub(started), not_before)?;
        self.check(&e.matcher.value, &frame).map_err(|mm| at.mismatch("the frame", mm, e.matcher.span))?;
        self.capture(&e.capture, &frame, at)
    }

    pub(super) async fn control(&mut self, c: &Control, at: &At) -> StepResult {
        let req = match c {
            Control::Bind { device } => CloudControl::Bind { sn: self.device_sn(device, at)? },
            Control::Unbind { device } => CloudControl::Unbind { sn: self.device_sn(device, at)? },
            Control::CloseLink { device } => CloudControl::CloseLink { sn: self.device_sn(device, at)? },
            Control::SwallowReply { cmd } => CloudControl::SwallowReply { sn: self.device_sn(&None, at)?, cmd: cmd.clone() },
            Control::DelayReplies(d) => {
                let ms = self.resolve(d, at)?.as_millis() as u64;
                CloudControl::DelayReplies { sn: self.device_sn(&None, at)?, ms }
            }
        };
        self.note(format!("control: {}", serde_json::to_string(&req).unwrap_or_default()));
        let cloud = self.cloud(at)?;
        cloud.control(req).await.map(|_| ()).map_err(|e| at.error(format!("control refused: {e}")))
    }
}

/// Waits for the reply echoing `req_id`; whatever else arrives meanwhile stays queued, in
/// order, for later steps — up to a bound, past which the cloud is flooding.
async fn wait_reply(profile: &dyn Profile, conn: &mut Connection, req_id: &str, deadline: Instant) -> Waited {
    let mut others = VecDeque::new();
    let result = loop {
        if others.len() + conn.pending.len() > MAX_PENDING || pending_bytes(others.iter().chain(conn.pending.iter())) > MAX_PENDING_BYTES {
            break Waited::Flood(others.len() + conn.pending.len());
        }
        let Some(inbound) = conn.next(deadline).await else { break Waited::Timeout };
        match &inbound.item {
            Item::Text(t) => {
                if let Ok(v) = serde_json::from_str::<Value>(t) {
                    if profile.is_reply_to(&v, req_id) {
                        break Waited::Reply(v);
                    }
                }
            }
            Item::Binary(b) => {
                if let Some(r) = profile.decode_binary_reply(b) {
                    if r.req_id == req_id {
                        break Waited::Binary(r.view);
                    }
                }
            }
            Item::Closed { .. } | Item::Broken { .. } => {
                let why = inbound.end_text().unwrap_or_default();
                others.push_back(inbound);
                break Waited::End(why);
            }
        }
        others.push_back(inbound);
    };
    while let Some(item) = others.pop_back() {
        conn.pending.push_front(item);
    }
    result
}

fn parse_ip(from: Option<&str>, at: &At) -> Result<Ipv4Addr, Stop> {
    match from {
        None => Ok(Ipv4Addr::LOCALHOST),
        Some(s) => s.parse().map_err(|_| at.error(format!("`{s}` is not an IPv4 address"))),
    }
}
