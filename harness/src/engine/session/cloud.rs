//! Cloud-role steps: the harness plays the cloud and the target is a device.

use super::{At, Session, Stop, Target};
use crate::engine::target::DeviceLink;
use crate::profile::{Profile, ReplyParts};
use crate::scenario::expr::{self, format_duration};
use crate::scenario::model::*;
use crate::wire::connection::{AutoResponder, Connection};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// A connection taken later than this after the device opened it says so in the
/// transcript; one taken at once (the usual case) reads as before.
const WAITED_NOTED: Duration = Duration::from_millis(100);

impl<'a> Session<'a> {
    pub(super) fn device_target(&mut self, at: &At) -> Result<&mut Box<dyn DeviceLink>, Stop> {
        match &mut self.target {
            Target::Device(d) => Ok(d),
            Target::Cloud(_) => Err(at.error(format!(
                "`{}` is a cloud-role step; this scenario has the harness play a device",
                at.kind
            ))),
        }
    }

    /// Builds a reply frame to `req_id` from a spec, with the catalog's advice for errors.
    pub(super) fn reply_frame(
        &self,
        req_id: &str,
        spec: &ReplySpec,
        at: &At,
    ) -> Result<Message, Stop> {
        if let Some(data) = &spec.binary {
            let data = self.expand_text(data, at)?;
            return Ok(Message::binary(
                self.profile.binary_reply(req_id, data.as_bytes()),
            ));
        }
        let body = spec.body.as_ref().map(|b| self.expand(b, at)).transpose()?;
        let errmsg = spec
            .errmsg
            .as_ref()
            .map(|m| self.expand_text(m, at))
            .transpose()?;
        Ok(Message::text(
            build_reply(&*self.profile, req_id, spec, body, errmsg).to_string(),
        ))
    }

    /// The auto-responder for this scenario's connections: `auto_reply` over the profile's
    /// defaults.
    pub(super) fn auto_responder(&self) -> AutoResponder {
        let mut table: BTreeMap<String, ReplySpec> = BTreeMap::new();
        let ok = ReplySpec {
            errcode: 0,
            errmsg: None,
            body: None,
            suggestion: None,
            interval: None,
            binary: None,
            no_advice: false,
        };
        for default in self.profile.default_auto_replies() {
            table.insert(
                default.cmd.to_string(),
                ReplySpec {
                    body: default.body,
                    ..ok.clone()
                },
            );
        }
        for (cmd, entry) in self.sc.auto_reply.iter().flatten() {
            match entry {
                AutoReply::Off => table.remove(cmd),
                AutoReply::Reply(spec) => table.insert(cmd.clone(), spec.clone()),
            };
        }
        let clock = self.rec.clock;
        let sn = self
            .sc
            .devices
            .first()
            .and_then(|d| self.devices.get(d))
            .map(|d| d.identity.sn.clone())
            .unwrap_or_default();
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
            let body = match spec
                .body
                .as_ref()
                .map(|b| expr::expand_value(b, &vars))
                .transpose()
            {
                Ok(body) => body,
                Err(e) => {
                    // Answered all the same (silence would be blamed on the device), and said.
                    rec.record(crate::engine::TranscriptEvent::Note {
                        text: format!("auto_reply for `{cmd}`: {e}; the body was sent as written"),
                    });
                    spec.body.clone()
                }
            };
            Some(Message::text(
                build_reply(&*profile, req_id, spec, body, spec.errmsg.clone()).to_string(),
            ))
        })
    }

    pub(super) async fn take_connection(
        &mut self,
        conn: &str,
        within: Duration,
        at: &At,
    ) -> Result<Duration, Stop> {
        let deadline = Instant::now() + within;
        let device = self.device_target(at)?;
        let (ws, peer, handshaken) = match device.accept(deadline).await {
            Some(Ok(x)) => x,
            Some(Err(e)) => return Err(at.error(e.to_string())),
            None => {
                let failed = device.failed_handshakes();
                let why = if failed.is_empty() {
                    String::new()
                } else {
                    format!(" ({failed})")
                };
                return Err(at.fail(format!(
                    "the device did not connect within {}{why}",
                    format_duration(within)
                )));
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
        // A connection that waited for this step was opened that much earlier: a monitor
        // judges it beside the links open then, not only those open now.
        let waited = Some(Instant::now().saturating_duration_since(handshaken))
            .filter(|w| *w >= WAITED_NOTED);
        let c =
            Connection::open_waited(conn, "dev", peer, ws, self.rec.clone(), Some(auto), waited);
        self.conns.insert(conn.to_string(), c);
        Ok(arrived)
    }
}

/// A JSON reply: success with `body`, or an error with `suggestion`/`interval` (given, the
/// profile's default, or left out with `no_advice`).
pub(super) fn build_reply(
    profile: &dyn Profile,
    req_id: &str,
    spec: &ReplySpec,
    body: Option<Value>,
    errmsg: Option<String>,
) -> Value {
    let parts = ReplyParts {
        errcode: spec.errcode,
        body,
        errmsg,
        suggestion: spec.suggestion.clone(),
        interval: spec.interval,
        no_advice: spec.no_advice,
    };
    profile.reply_frame(req_id, &parts)
}
