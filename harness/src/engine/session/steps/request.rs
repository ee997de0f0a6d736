//! The `request` step: its execution (its file format is `scenario/steps/request.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn request(&mut self, r: &Request, at: &At) -> StepResult {
        let req_id = match &r.req_id {
            Some(t) => self.expand_text(t, at)?,
            None => self.fresh_id("hwc"),
        };
        let given = r.body.as_ref().map(|b| self.expand(b, at)).transpose()?;
        let conn_device = self.conns.get(&r.conn).map(|c| c.device.clone());
        let body = if r.raw_body { given } else { self.default_body(&r.cmd, given, conn_device.clone(), at)? };
        let frame = self.profile.request_frame(&r.cmd, &req_id, body);
        self.set_var("last_req_id", json!(req_id));
        let within = self.duration(&r.within, at)?;
        let not_before = self.resolve_opt(&r.not_before, at)?;
        let sent_at = self.now();
        let profile = self.profile.clone();
        let conn = self.conn(&r.conn, at)?;
        if let Err(e) = conn.send_json(frame).await {
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
            Waited::End(why) => return Err(at.fail(format!("[{}] the link {why} before the reply to `{cmd}` (req_id {req_id}) came", r.conn))),
            Waited::Flood(n) => return Err(at.fail(format!("[{}] the cloud flooded the link with {n} unsolicited frames while `{cmd}` waited for its reply", r.conn))),
            Waited::Timeout => return Err(at.fail(format!("no reply to `{cmd}` (req_id {req_id}) within {}", format_duration(within)))),
        };
        at.not_before("the reply", self.now().saturating_sub(sent_at), not_before)?;
        if !binary {
            let strict = matches!(&self.target, Target::Cloud(c) if c.capabilities().strict_codes);
            for v in self.profile.check_reply(&reply, &req_id, strict) {
                self.finding(v, Some(at));
            }
        }
        self.learn(cmd, &reply, conn_device);
        if let Some(m) = &r.expect {
            self.check(&m.value, &reply).map_err(|mm| at.mismatch("the reply", mm, m.span))?;
        }
        self.capture(&r.capture, &reply, at)
    }

    /// The body the profile fills in for `cmd` from what the connection's device knows.
    fn default_body(&self, cmd: &str, given: Option<Value>, device: Option<String>, at: &At) -> Result<Option<Value>, Stop> {
        let device_name = device.unwrap_or_else(|| self.device_name(&None));
        let device = self.devices.get(&device_name).ok_or_else(|| at.error(format!("no device `{device_name}`")))?;
        let lookup = |k: &str| device.learned.get(k).cloned();
        let ctx = DefaultContext {
            identity: &device.identity,
            seed_secret_no: self.seed.as_ref().map(Secret::expose),
            now: self.rec.clock.now_unix(),
            nonce: rand::random::<u32>() as u64,
            lookup: &lookup,
        };
        Ok(self.profile.default_body(cmd, given, &ctx))
    }

    /// Sends the profile's keepalive request `cmd` on the connection `name` and takes its
    /// reply (so no later step sees it), within the step timeout. Other frames stay queued.
    pub(in crate::engine::session) async fn keepalive_request(&mut self, name: &str, cmd: &str, at: &At) -> StepResult {
        let req_id = self.fresh_id("hwc-keepalive");
        let device = self.conns.get(name).map(|c| c.device.clone());
        let body = self.default_body(cmd, None, device, at)?;
        let frame = self.profile.request_frame(cmd, &req_id, body);
        let within = self.step_timeout;
        let profile = self.profile.clone();
        let conn = self.conn(name, at)?;
        if let Err(e) = conn.send_json(frame).await {
            return Err(at.fail(format!("[{name}] cannot send the keepalive `{cmd}`: {e}")));
        }
        match wait_reply(&*profile, conn, &req_id, Instant::now() + within).await {
            Waited::Reply(_) | Waited::Binary(_) => Ok(()),
            Waited::End(why) => Err(at.fail(format!("[{name}] the link {why} during a keepalive wait"))),
            Waited::Flood(n) => Err(at.fail(format!("[{name}] the cloud flooded the link with {n} unsolicited frames during a keepalive wait"))),
            Waited::Timeout => Err(at.fail(format!("[{name}] no reply to the keepalive `{cmd}` (req_id {req_id}) within {}", format_duration(within)))),
        }
    }

    /// Remembers what the profile says later defaults need (credentials a reply handed out).
    fn learn(&mut self, cmd: &str, reply: &Value, device: Option<String>) {
        let learned = self.profile.learn(cmd, reply);
        let name = device.unwrap_or_else(|| self.device_name(&None));
        if let Some(dev) = self.devices.get_mut(&name) {
            dev.apply(learned);
        }
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
        let Some(mut inbound) = conn.next(deadline).await else { break Waited::Timeout };
        match &mut inbound.item {
            // The reply is consumed here: its JSON is moved out, not copied.
            Item::Text(_, json) if json.as_ref().is_some_and(|v| profile.is_reply_to(v, req_id)) => {
                if let Some(v) = json.take() {
                    break Waited::Reply(v);
                }
            }
            Item::Text(..) => {}
            Item::Binary(b) => {
                if let Some(r) = profile.decode_binary_reply(b) {
                    if r.req_id == req_id {
                        break Waited::Binary(r.view.into());
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

/// What waiting for a reply came to.
enum Waited {
    /// The reply's JSON, shared with the transcript's record of it.
    Reply(std::sync::Arc<Value>),
    /// A binary reply, shown to matchers as the profile decodes it.
    Binary(std::sync::Arc<Value>),
    End(String),
    Flood(usize),
    Timeout,
}
