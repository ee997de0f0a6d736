//! Cloud-role steps: the harness plays the cloud and the target is a device.

use super::{At, Session, Stop, StepResult, Target};
use crate::engine::target::{DeviceAction, DeviceLink};
use crate::wire::connection::{pending_bytes, AutoResponder, Connection, Inbound, Item, MAX_PENDING, MAX_PENDING_BYTES};
use crate::profile::{Profile, ReplyParts};
use crate::scenario::expr::{self, format_duration};
use crate::scenario::model::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

impl<'a> Session<'a> {
    fn device_target(&mut self, at: &At) -> Result<&mut Box<dyn DeviceLink>, Stop> {
        match &mut self.target {
            Target::Device(d) => Ok(d),
            Target::Cloud(_) => Err(at.error(format!("`{}` is a cloud-role step; this scenario has the harness play a device", at.kind))),
        }
    }

    /// Builds a reply frame to `req_id` from a spec, with the catalog's advice for errors.
    fn reply_frame(&self, req_id: &str, spec: &ReplySpec, at: &At) -> Result<Message, Stop> {
        if let Some(data) = &spec.binary {
            let data = self.expand_text(data, at)?;
            return Ok(Message::binary(self.profile.binary_reply(req_id, data.as_bytes())));
        }
        let body = spec.body.as_ref().map(|b| self.expand(b, at)).transpose()?;
        let errmsg = spec.errmsg.as_ref().map(|m| self.expand_text(m, at)).transpose()?;
        Ok(Message::text(build_reply(&*self.profile, req_id, spec, body, errmsg).to_string()))
    }

    /// The auto-responder for this scenario's connections: `auto_reply` over the profile's
    /// defaults.
    fn auto_responder(&self) -> AutoResponder {
        let mut table: BTreeMap<String, ReplySpec> = BTreeMap::new();
        let ok = ReplySpec { errcode: 0, errmsg: None, body: None, suggestion: None, interval: None, binary: None, no_advice: false };
        for default in self.profile.default_auto_replies() {
            table.insert(default.cmd.to_string(), ReplySpec { body: default.body, ..ok.clone() });
        }
        for (cmd, entry) in self.sc.auto_reply.iter().flatten() {
            match entry {
                AutoReply::Off => table.remove(cmd),
                AutoReply::Reply(spec) => table.insert(cmd.clone(), spec.clone()),
            };
        }
        let clock = self.rec.clock;
        let sn = self.sc.devices.first().and_then(|d| self.devices.get(d)).map(|d| d.identity.sn.clone()).unwrap_or_default();
        let scenario_vars = self.sc.vars.clone();
        let rec = self.rec.clone();
        let profile = self.profile.clone();
        Arc::new(move |frame: &Value| {
            let cmd = profile.command(frame)?;
            let req_id = profile.req_id(frame)?;
            let spec = table.get(cmd)?;
            let vars = |n: &str| match n {
                "now" => Some(json!(clock.now_unix())),
                "sn" => Some(json!(sn)),
                "req_id" => Some(json!(req_id)),
                _ => scenario_vars.get(n).cloned(),
            };
            let body = match spec.body.as_ref().map(|b| expr::expand_value(b, &vars)).transpose() {
                Ok(body) => body,
                Err(e) => {
                    // Answered all the same (silence would be blamed on the device), and said.
                    rec.record(crate::engine::TranscriptEvent::Note { text: format!("auto_reply for `{cmd}`: {e}; the body was sent as written") });
                    spec.body.clone()
                }
            };
            Some(Message::text(build_reply(&*profile, req_id, spec, body, spec.errmsg.clone()).to_string()))
        })
    }

    async fn take_connection(&mut self, conn: &str, within: Duration, at: &At) -> Result<Duration, Stop> {
        let deadline = Instant::now() + within;
        let device = self.device_target(at)?;
        let (ws, peer) = match device.accept(deadline).await {
            Some(Ok(x)) => x,
            Some(Err(e)) => return Err(at.error(e.to_string())),
            None => {
                let failed = device.failed_handshakes();
                let why = if failed.is_empty() { String::new() } else { format!(" ({})", failed.join("; ")) };
                return Err(at.fail(format!("the device did not connect within {}{why}", format_duration(within))));
            }
        };
        let arrived = self.now();
        // The old link under this name steps aside first, so what the transcript says of
        // `conn` from here on is the new link's.
        if let Some(mut old) = self.conns.remove(conn) {
            if old.ended().is_none() {
                self.abandoned.push(old.abandon());
            }
        }
        let auto = self.auto_responder();
        let c = Connection::open(conn, "dev", peer, ws, self.rec.clone(), Some(auto));
        self.conns.insert(conn.to_string(), c);
        Ok(arrived)
    }

    pub(super) async fn accept(&mut self, a: &Accept, at: &At) -> StepResult {
        let within = self.duration(&a.within, at)?;
        self.take_connection(&a.conn, within, at).await.map(|_| ())
    }

    pub(super) async fn receive(&mut self, r: &Receive, at: &At) -> StepResult {
        let within = self.duration(&r.within, at)?;
        let not_before = self.resolve_opt(&r.not_before, at)?;
        let started = self.now();
        let deadline = Instant::now() + within;
        // `cmd` may name an earlier request's cmd: `${last_cmd}`.
        let want = r.cmd.as_deref().map(|c| self.expand_text(c, at)).transpose()?;
        let what = want.as_deref().map(|c| format!("`{c}`")).unwrap_or_else(|| "a request".into());
        let profile = self.profile.clone();
        let conn = self.conn(&r.conn, at)?;
        let mut others: Vec<Inbound> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        let outcome = loop {
            if others.len() + conn.pending.len() > MAX_PENDING || pending_bytes(others.iter().chain(conn.pending.iter())) > MAX_PENDING_BYTES {
                break Err(format!("the device flooded the link with {} frames while the harness waited for {what}", others.len()));
            }
            let Some(inbound) = conn.next(deadline).await else {
                let also = if seen.is_empty() { String::new() } else { format!(" (it sent: {})", seen.join(", ")) };
                break Err(format!("no {what} from the device within {}{also}", format_duration(within)));
            };
            if let Some(v) = as_request(&*profile, &inbound.item) {
                if let Some(cmd) = profile.command(&v) {
                    if want.as_deref().is_none_or(|c| c == cmd) {
                        break Ok((inbound.at, v));
                    }
                    if seen.len() < 12 {
                        seen.push(cmd.to_string());
                    }
                }
            }
            if inbound.is_end() {
                let why = inbound.end_text().unwrap_or_default();
                others.push(inbound);
                break Err(format!("the link {why} while the harness waited for {what}"));
            }
            others.push(inbound);
        };
        for item in others.into_iter().rev() {
            conn.pending.push_front(item);
        }
        let (arrived, frame) = outcome.map_err(|m| at.fail(format!("[{}] {m}", r.conn)))?;
        at.not_before(&format!("[{}] {what}", r.conn), arrived.saturating_sub(started), not_before)?;
        let req_id = self.profile.req_id(&frame).unwrap_or_default().to_string();
        let cmd = self.profile.command(&frame).unwrap_or_default().to_string();
        self.vars.insert("req_id".into(), json!(req_id));
        self.vars.insert("last_req_id".into(), json!(req_id));
        self.vars.insert("last_cmd".into(), json!(cmd));
        self.received_cmds.insert(req_id.clone(), cmd.clone());
        self.last_received.insert(r.conn.clone(), (req_id, cmd));
        if let Some(m) = &r.check {
            self.check(&m.value, &frame).map_err(|mm| at.mismatch("the request", mm, m.span))?;
        }
        self.capture(&r.capture, &frame, at)
    }

    pub(super) async fn reply(&mut self, r: &Reply, at: &At) -> StepResult {
        let (req_id, cmd) = match &r.to {
            Some(t) => {
                let id = self.expand_text(t, at)?;
                let cmd = self.received_cmds.get(&id).cloned().unwrap_or_default();
                (id, cmd)
            }
            None => self.last_received.get(&r.conn).cloned().ok_or_else(|| at.error(format!("no request received on `{}` to reply to", r.conn)))?,
        };
        let msg = self.reply_frame(&req_id, &r.spec, at)?;
        // What the harness hands out (a new SecretNo) is what the device uses from now on.
        if let Message::Text(text) = &msg {
            if let Ok(sent) = serde_json::from_str::<Value>(text) {
                let learned = self.profile.learn(&cmd, &sent);
                let first = self.sc.devices.first().cloned().unwrap_or_default();
                if let Some(d) = self.devices.get_mut(&first) {
                    d.apply(learned);
                }
            }
        }
        let conn = self.conn(&r.conn, at)?;
        conn.send(msg).await.map_err(|e| at.fail(format!("[{}] cannot reply: {e}", r.conn)))
    }

    pub(super) fn no_reply(&mut self, conn: &str, at: &At) -> StepResult {
        let (req_id, cmd) = self.last_received.get(conn).cloned().ok_or_else(|| at.error(format!("no request received on `{conn}`")))?;
        self.note(format!("[{conn}] `{cmd}` (req_id {req_id}) gets no reply"));
        Ok(())
    }

    pub(super) async fn push(&mut self, p: &Push, at: &At) -> StepResult {
        let req_id = match &p.req_id {
            Some(t) => self.expand_text(t, at)?,
            None => self.fresh_id("cloud-push"),
        };
        let body = p.body.as_ref().map(|b| self.expand(b, at)).transpose()?;
        self.vars.insert("last_push_req_id".into(), json!(req_id));
        let frame = self.profile.push_frame(&p.cmd, &req_id, body);
        let conn = self.conn(&p.conn, at)?;
        conn.send(Message::text(frame.to_string())).await.map_err(|e| at.fail(format!("[{}] cannot push: {e}", p.conn)))
    }

    pub(super) async fn expect_reconnect(&mut self, e: &ExpectReconnect, at: &At) -> StepResult {
        let within = self.duration(&e.within, at)?;
        let not_before = self.resolve_opt(&e.not_before, at)?;
        let started = self.now();
        let arrived = self.take_connection(&e.conn, within, at).await?;
        // The new link replaced the old under `conn`; where the profile has a one-link rule,
        // an old one still open must close now.
        if let Some(rule) = self.profile.second_link_rule() {
            if let Some(mut old) = self.abandoned.pop() {
                if old.ended().is_none() {
                    tokio::time::sleep(rule.grace).await;
                    if old.ended().is_none() {
                        self.abandoned.push(old);
                        return Err(Stop::Fail(super::violation_failure(rule.reopened(&e.conn), Some(at))));
                    }
                }
            }
        }
        at.not_before("the new connection", arrived.saturating_sub(started), not_before)
    }

    pub(super) fn timing(&mut self, t: &Timing, at: &At) -> StepResult {
        let since = match &t.since {
            Some(m) => *self.marks.get(m).ok_or_else(|| at.error(format!("no mark `{m}` was set before this step")))?,
            None => 0,
        };
        let times = self.rec.with_transcript(|tr| request_times(&*self.profile, tr, &t.cmd, t.conn.as_deref(), since));
        let start = self.rec.with_transcript(|tr| tr.entries.get(since).map(|e| e.at)).unwrap_or_else(|| self.now());
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let shown = || if gaps.is_empty() { "no gaps".to_string() } else { gaps.iter().map(|g| format!("{:.2} s", g.as_secs_f64())).collect::<Vec<_>>().join(", ") };
        let cmd = &t.cmd;
        if t.none && !times.is_empty() {
            return Err(at.fail(format!("expected no `{cmd}`, but the device sent {} (first after {:.2} s)", times.len(), times[0].saturating_sub(start).as_secs_f64())));
        }
        if let Some(min) = t.min_count {
            if (times.len() as u32) < min {
                return Err(at.fail(format!("expected at least {min} `{cmd}`, saw {}", times.len())));
            }
        }
        if let Some(range) = &t.gaps {
            let min = self.resolve_opt(&range.min, at)?;
            let max = self.resolve_opt(&range.max, at)?;
            let bad = gaps.iter().any(|g| min.is_some_and(|m| *g < m) || max.is_some_and(|m| *g > m));
            if bad {
                let range = format!("{}–{}", min.map(format_duration).unwrap_or_else(|| "0s".into()), max.map(format_duration).unwrap_or_else(|| "∞".into()));
                return Err(at.fail(format!("`{cmd}` after {}: expected every gap within {range}", shown())));
            }
        }
        if t.jitter {
            if gaps.len() < 3 {
                return Err(at.fail(format!("jitter needs at least 3 gaps between `{cmd}`, saw {} ({})", gaps.len(), shown())));
            }
            let (lo, hi) = (gaps.iter().min().copied().unwrap_or_default(), gaps.iter().max().copied().unwrap_or_default());
            if hi - lo < Duration::from_millis(100) {
                return Err(at.fail(format!("retries after {}: no jitter, expected a random 1–3 s", shown())));
            }
        }
        if let Some((count, per)) = &t.max_per {
            let per = self.resolve(per, at)?;
            for (i, start) in times.iter().enumerate() {
                let n = times[i..].iter().take_while(|x| **x - *start < per).count();
                if n as u32 > *count {
                    return Err(at.fail(format!(
                        "{n} `{cmd}` within {} starting at {:.2} s, expected at most {count}",
                        format_duration(per),
                        start.as_secs_f64()
                    )));
                }
            }
        }
        Ok(())
    }

    pub(super) fn device_control(&mut self, c: &DeviceControl, at: &At) -> StepResult {
        let DeviceControl::Checkin { userid, pass_type, pass_method } = c;
        let userid = self.expand_text(userid, at)?;
        self.note(format!("device_control: checkin {userid}"));
        let device = self.device_target(at)?;
        device
            .control(DeviceAction::Checkin { userid, pass_type: *pass_type, pass_method: *pass_method })
            .map_err(|e| at.error(format!("device_control refused: {e}")))
    }
}

/// A received frame as a request: JSON text, or a binary request as the profile shows it to
/// matchers.
fn as_request(profile: &dyn Profile, item: &Item) -> Option<Value> {
    match item {
        Item::Text(t) => serde_json::from_str(t).ok(),
        Item::Binary(b) => profile.decode_binary_request(b),
        _ => None,
    }
}

/// A JSON reply: success with `body`, or an error with `suggestion`/`interval` (given, the
/// profile's default, or left out with `no_advice`).
fn build_reply(profile: &dyn Profile, req_id: &str, spec: &ReplySpec, body: Option<Value>, errmsg: Option<String>) -> Value {
    let parts = ReplyParts { errcode: spec.errcode, body, errmsg, suggestion: spec.suggestion.clone(), interval: spec.interval, no_advice: spec.no_advice };
    profile.reply_frame(req_id, &parts)
}

/// Arrival times of the device's requests of `cmd` (on `conn`, or any connection) recorded
/// after transcript position `since`.
fn request_times(profile: &dyn Profile, t: &crate::engine::Transcript, cmd: &str, conn: Option<&str>, since: usize) -> Vec<Duration> {
    use crate::engine::transcript::{Frame, TranscriptEvent};
    t.entries
        .iter()
        .skip(since)
        .filter_map(|e| match &e.event {
            TranscriptEvent::Received { conn: c, frame: Frame::Json { json } }
                if conn.is_none_or(|want| c.trim_end_matches("~old") == want)
                    && profile.command(json) == Some(cmd) =>
            {
                Some(e.at)
            }
            _ => None,
        })
        .collect()
}
