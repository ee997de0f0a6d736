//! Effects out: the lifecycle's decision carried out on the registry (register, kick,
//! activate, issue secrets, serve business commands), the reply built, the SN's faults applied.

use super::super::config::MockRule;
use super::super::lifecycle::{self, Effect, Outcome, Request};
use super::super::registry::{LinkCommand, LiveLink};
use super::super::{MockCloud, Shared, CLOSE_KICKED};
use super::business::BINARY_DATA;
use super::classify::str_field;
use super::conn::{Conn, Response};
use super::reply::BINARY_REPLY;
use crate::profile::wecom::catalog::NOT_IMPLEMENTED;
use crate::profile::wecom::envelope;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The undocumented cmd of the push that echoes `selfhelp_notify.body.data` (C23, §1.5).
pub const SELFHELP_PUSH: &str = "push_selfhelp_notify";

impl MockCloud {
    /// Runs the lifecycle, carries out its effect, builds the reply and applies the faults
    /// of the SN the request is about.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish(
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
                let reply = match body {
                    // The static login QR and a photo come back as a binary frame echoing the
                    // req_id (C3).
                    Some(b) if b.get(BINARY_DATA).is_some() => {
                        let shaped = self.shape(envelope::reply_ok(req_id, None), None);
                        let echoed = shaped
                            .pointer("/headers/req_id")
                            .cloned()
                            .unwrap_or_default();
                        let big_endian = !self.config.enforces(MockRule::BinaryBigEndian);
                        Some(
                            json!({BINARY_REPLY: {"req_id": echoed, "data": b[BINARY_DATA], "big_endian": big_endian}}),
                        )
                    }
                    body => self.ok_frame(req_id, cmd, body),
                };
                (reply, pushes)
            }
            Outcome::Error {
                code,
                interval,
                hint,
            } => {
                let hint = if code == NOT_IMPLEMENTED {
                    format!(
                        "command {:?} is not implemented by the mock cloud",
                        truncate(cmd, 64)
                    )
                } else {
                    hint.to_string()
                };
                (
                    self.error_frame(Some(req_id), Some(cmd), code, interval, &hint),
                    Vec::new(),
                )
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
        let frames = reply
            .filter(|_| !swallow)
            .into_iter()
            .chain(pushes)
            .collect();
        Response { frames, delay }
    }

    /// Carries out a successful request; returns the reply body and any pushes.
    pub(super) fn apply(
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
                let Some(sn) = str_field(body, "sn") else {
                    return (None, Vec::new());
                };
                if let Some(prev) = conn.sn.as_deref().filter(|p| *p != sn) {
                    registry.release(prev, conn.id);
                }
                let link = LiveLink {
                    conn_id: conn.id,
                    ip: conn.ip,
                    tx: conn.tx.clone(),
                };
                let Some((code, old)) = registry.register(sn, link) else {
                    return (None, Vec::new());
                };
                conn.sn = Some(sn.to_string());
                if let Some(old) = old {
                    if kick {
                        tracing::info!(
                            conn = conn.id,
                            old = old.conn_id,
                            sn,
                            "kicking the older link of this sn"
                        );
                        let _ = old.tx.try_send(LinkCommand::Close {
                            code: CLOSE_KICKED.0,
                            reason: CLOSE_KICKED.1,
                        });
                    } else {
                        tracing::info!(
                            conn = conn.id,
                            old = old.conn_id,
                            sn,
                            "sn taken over without a kick (rule off)"
                        );
                    }
                }
                (Some(json!({"active_code": code.expose()})), Vec::new())
            }
            Effect::Activate => {
                let secret = sn.and_then(|sn| registry.activate(sn));
                (secret.map(|s| json!({"secret": s.expose()})), Vec::new())
            }
            Effect::Subscribe => {
                if let Some(sn) = sn {
                    shared
                        .corps
                        .of(Some(sn))
                        .announce(sn, body.and_then(|b| b.get("ext_args")));
                }
                (None, Vec::new())
            }
            Effect::IssueSecretNo => {
                let s = sn.and_then(|sn| registry.issue_secret_no(sn));
                (s.map(|s| json!({"secret_no": s.expose()})), Vec::new())
            }
            Effect::Serve => self.serve(shared, cmd, body, sn),
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
