//! Effects out: the lifecycle's decision carried out on the registry (register, kick,
//! activate, issue secrets, serve business commands), the reply built, the SN's faults applied.

use super::classify::str_field;
use super::conn::{Conn, Response};
use super::reply::BINARY_REPLY;
use super::super::config::MockRule;
use super::super::lifecycle::{self, Effect, Outcome, Request};
use super::super::registry::{LinkCommand, LiveLink};
use super::super::{MockCloud, Shared, CLOSE_KICKED, CORP_NAME};
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
                        let _ = old.tx.try_send(LinkCommand::Close { code: CLOSE_KICKED.0, reason: CLOSE_KICKED.1 });
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
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
