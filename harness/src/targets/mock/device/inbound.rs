//! Frames in: text and binary frames parsed into requests (or answered as malformed),
//! each request decided under one lock.

use super::super::lifecycle::Request;
use super::super::MockCloud;
use super::conn::{Conn, Response};
use crate::profile::wecom::catalog::MALFORMED_REQUEST;
use crate::profile::wecom::{binary, envelope};
use serde_json::{Map, Value};

impl MockCloud {
    /// A text frame from a device.
    pub(crate) fn on_text(&self, conn: &mut Conn, text: &str) -> Response {
        let mut value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => return self.malformed(conn, None, "frame is not JSON"),
        };
        // `"body": null` on a parameterless request, as shipped firmware sends it: the real
        // cloud evidently takes it as no body, and so does the mock.
        if let Some(obj) = value
            .as_object_mut()
            .filter(|o| o.get("body").is_some_and(Value::is_null))
        {
            obj.remove("body");
        }
        tracing::debug!(conn = conn.id, frame = %self.loggable(&value), "device frame");
        let req_id = value
            .pointer("/headers/req_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let Some(obj) = value.as_object() else {
            return self.malformed(conn, None, "frame is not a JSON object");
        };
        if !obj.contains_key("cmd") {
            if obj.contains_key("errcode")
                && req_id.as_ref().is_some_and(|id| conn.pushes.contains(id))
            {
                // An optional acknowledgement of one of our pushes (§1.5): accepted quietly.
                return Response::default();
            }
            return self.malformed(conn, req_id.as_deref(), "field `cmd` is missing");
        }
        match envelope::Envelope::from_value(&value) {
            Ok(envelope::Envelope::Request { cmd, req_id, body })
            | Ok(envelope::Envelope::Push { cmd, req_id, body }) => {
                let body = body.as_ref().and_then(Value::as_object);
                self.on_request(conn, &cmd, &req_id, body)
            }
            Ok(envelope::Envelope::Reply { .. }) => {
                self.malformed(conn, req_id.as_deref(), "frame is not a request")
            }
            Err(e) => self.malformed(conn, req_id.as_deref(), &e.to_string()),
        }
    }

    /// A binary frame from a device: only `upload_log` is one (§1.2).
    pub(crate) fn on_binary(&self, conn: &mut Conn, bytes: &[u8]) -> Response {
        match binary::decode_upload_log(bytes) {
            Ok(up) => {
                tracing::debug!(conn = conn.id, req_id = %up.req_id, bytes = up.data.len(), "upload_log");
                let req = Request::Business {
                    malformed: false,
                    implemented: true,
                };
                let mut guard = self.shared();
                let sn = conn.sn.clone();
                let bytes = up.data.len();
                let preview: String =
                    String::from_utf8_lossy(&up.data[..bytes.min(200)]).into_owned();
                self.finish(conn, &mut guard, "upload_log", &up.req_id, sn.clone(), req, move |cloud, _, shared, _| {
                    let at = cloud.now_unix();
                    shared.corps.of(sn.as_deref()).keep(|r| &mut r.logs, serde_json::json!({"sn": sn, "at": at, "bytes": bytes, "start": preview}));
                    (None, Vec::new())
                })
            }
            Err(e) => {
                tracing::debug!(conn = conn.id, bytes = bytes.len(), error = %e, "binary frame is not upload_log");
                self.malformed(
                    conn,
                    None,
                    &format!("binary frame is not a valid upload_log: {e}"),
                )
            }
        }
    }

    pub(super) fn malformed(&self, conn: &Conn, req_id: Option<&str>, hint: &str) -> Response {
        let delay = conn
            .sn
            .as_deref()
            .map(|sn| self.shared().faults.delay(sn))
            .unwrap_or_default();
        Response {
            frames: self
                .error_frame(req_id, None, MALFORMED_REQUEST, None, hint)
                .into_iter()
                .collect(),
            delay,
        }
    }

    pub(super) fn on_request(
        &self,
        conn: &mut Conn,
        cmd: &str,
        req_id: &str,
        body: Option<&Map<String, Value>>,
    ) -> Response {
        // One lock for the whole decision, so two connections never decide on stale facts.
        let mut guard = self.shared();
        let shared = &mut *guard;
        let (req, sn) = self.classify(conn, shared, cmd, body);
        let about = sn.clone();
        self.finish(
            conn,
            shared,
            cmd,
            req_id,
            sn,
            req,
            move |cloud, conn, shared, effect| {
                cloud.apply(conn, shared, cmd, body, about.as_deref(), effect)
            },
        )
    }
}
