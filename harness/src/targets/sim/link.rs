//! One connection: sending requests with fresh req_ids, matching replies to them by
//! req_id, per-request timeouts, and the frame pump ([`drive`]) that reads the socket and
//! hands pushes on. Anything the cloud sends that is not a reply or push is ignored.

use super::config::SimVariant;
use super::device::Device;
use super::policy::Advice;
use crate::profile::wecom::binary;
use crate::profile::wecom::catalog::Suggestion;
use crate::profile::wecom::envelope::{self, Envelope};
use crate::profile::wecom::volatile::{redact_secrets, redact_text};
use crate::wire::transport::WsStream;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// Pushes waiting for the device to act on them, at most.
pub const MAX_QUEUED_PUSHES: usize = 256;

/// Longest wait for one frame to be written.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A reply to one of the device's requests.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Reply {
    pub errcode: i64,
    pub errmsg: String,
    /// The reply's `body` (an object), or `Null` when it has none.
    pub body: Value,
    pub suggestion: Option<Suggestion>,
    pub interval: Option<i64>,
}

/// How one attempt of a request ended.
#[derive(Debug)]
pub(super) enum Outcome {
    /// `errcode` 0; the body (an empty object when the reply had none).
    Ok(Value),
    Error(Reply),
    /// No reply within the request timeout (D13).
    Timeout,
    /// The connection is gone.
    Down,
}

/// Why a retried request gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// `interval: -1`: never again (D15).
    Never,
    /// `suggestion: reconnect`, after this delay (D16).
    Reconnect(Duration),
    Down,
}

/// A push from the cloud.
#[derive(Clone, Debug)]
pub(super) struct Push {
    pub cmd: String,
    pub body: Value,
}

/// Why the frame pump stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Ended {
    /// The cloud sent a close frame.
    ClosedByCloud,
    /// The stream ended or failed.
    Broken(String),
}

struct Waiter {
    token: u64,
    tx: oneshot::Sender<Reply>,
}

/// The device's side of one connection.
pub(super) struct Link<'d> {
    pub dev: &'d Device,
    /// Boxed, as the push queue's items: a channel allocates room for 32 items up front,
    /// which every idle device of a fleet pays for.
    out: mpsc::Sender<Box<Message>>,
    pending: Mutex<HashMap<String, Waiter>>,
    next_token: AtomicU64,
}

/// Frames a link queues for writing at most: requests in flight at once are few (one per
/// exchange), so the bound is reached only when the socket stops taking writes.
pub const MAX_QUEUED_FRAMES: usize = 64;

/// Removes a request's waiter when its call ends, however it ends.
struct PendingGuard<'a, 'd> {
    link: &'a Link<'d>,
    req_id: String,
    token: u64,
}

impl Drop for PendingGuard<'_, '_> {
    fn drop(&mut self) {
        let mut pending = self.link.pending();
        if pending
            .get(&self.req_id)
            .is_some_and(|w| w.token == self.token)
        {
            pending.remove(&self.req_id);
        }
    }
}

impl<'d> Link<'d> {
    /// A link and the receiver its frames must be written from (by [`drive`]).
    pub fn new(dev: &'d Device) -> (Link<'d>, mpsc::Receiver<Box<Message>>) {
        let (out, rx) = mpsc::channel(MAX_QUEUED_FRAMES);
        (
            Link {
                dev,
                out,
                pending: Mutex::new(HashMap::new()),
                next_token: AtomicU64::new(1),
            },
            rx,
        )
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiter>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One attempt: sends `{cmd, headers.req_id, body?}` with a fresh req_id (D1, D2) and
    /// waits for the reply up to the request timeout.
    /// A parameterless request has no `body`, or `"body": null` (`body-null`).
    pub async fn call(&self, cmd: &str, body: Option<Value>) -> Outcome {
        let body = body.or_else(|| self.dev.is(SimVariant::BodyNull).then_some(Value::Null));
        let req_id = self.dev.req_id(cmd);
        let frame = Arc::new(envelope::request(cmd, &req_id, body));
        tracing::debug!(sn = %self.dev.sn(), frame = %redact_secrets(&frame), "sending request");
        if let Some(p) = self.dev.probe() {
            p.sent(&frame);
        }
        self.exchange(req_id, Message::text(frame.to_string()))
            .await
    }

    /// One attempt of the binary `upload_log` (D3, D41).
    pub async fn upload_log(&self, data: &[u8]) -> Outcome {
        let req_id = self.dev.req_id("upload_log");
        tracing::debug!(sn = %self.dev.sn(), %req_id, bytes = data.len(), "sending upload_log");
        self.exchange(
            req_id.clone(),
            Message::binary(binary::encode_upload_log(&req_id, data)),
        )
        .await
    }

    async fn exchange(&self, req_id: String, msg: Message) -> Outcome {
        let (tx, rx) = oneshot::channel();
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        self.pending().insert(req_id.clone(), Waiter { token, tx });
        let _guard = PendingGuard {
            link: self,
            req_id,
            token,
        };
        let wait = self.dev.request_timeout();
        let started = tokio::time::Instant::now();
        // A link that cannot write (the cloud stopped reading) holds the sender here, not in
        // memory; the wait counts against the request's timeout, as a lost reply would.
        match tokio::time::timeout(wait, self.out.send(Box::new(msg))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Outcome::Down,
            Err(_) => return Outcome::Timeout,
        }
        let wait = wait.saturating_sub(started.elapsed());
        // A waiter replaced by a request reusing the req_id (fault) just waits out its time.
        let reply = async {
            match rx.await {
                Ok(r) => r,
                Err(_) => std::future::pending().await,
            }
        };
        match tokio::time::timeout(wait, reply).await {
            Ok(r) if r.errcode == 0 => Outcome::Ok(if r.body.is_object() {
                r.body
            } else {
                Value::Object(Map::new())
            }),
            Ok(r) => Outcome::Error(r),
            Err(_) => Outcome::Timeout,
        }
    }

    /// Sends a request until it succeeds: at once with a new req_id after a timeout (D13),
    /// after the advised delay after an error reply (D14), never after `-1` (D15).
    pub async fn request(
        &self,
        cmd: &str,
        mut body: impl FnMut() -> Option<Value>,
    ) -> Result<Value, Stop> {
        loop {
            match self.call(cmd, body()).await {
                Outcome::Ok(b) => return Ok(b),
                Outcome::Timeout => {
                    tracing::debug!(sn = %self.dev.sn(), cmd, "no reply in time; re-sending")
                }
                Outcome::Down => return Err(Stop::Down),
                Outcome::Error(r) => match self.dev.advice(&r) {
                    Advice::Retry(d) => {
                        tracing::debug!(sn = %self.dev.sn(), cmd, errcode = r.errcode, delay = ?d, "error reply; retrying");
                        tokio::time::sleep(d).await;
                    }
                    Advice::Never => {
                        self.dev.log(format!(
                            "{cmd} failed with {} (interval -1): not retried",
                            r.errcode
                        ));
                        return Err(Stop::Never);
                    }
                    Advice::Reconnect(d) => return Err(Stop::Reconnect(d)),
                },
            }
        }
    }

    /// Routes one text frame from the cloud: replies to their waiters, pushes to `pushes`.
    fn on_text(&self, text: &str, pushes: &mpsc::Sender<Box<Push>>) {
        let value: Arc<Value> = match serde_json::from_str(text) {
            Ok(v) => Arc::new(v),
            Err(_) => return self.ignore(text, "not JSON"),
        };
        if let Some(p) = self.dev.probe() {
            p.received(&value);
        }
        // The probe has let go of the frame (or copied what it keeps): the body moves out.
        let value = Arc::try_unwrap(value).unwrap_or_else(|shared| (*shared).clone());
        let suggestion = value
            .get("suggestion")
            .and_then(Value::as_str)
            .and_then(Suggestion::parse);
        let interval = value
            .get("interval")
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f.ceil() as i64)));
        match Envelope::from_owned(value) {
            Ok(Envelope::Reply {
                req_id: Some(req_id),
                errcode,
                errmsg,
                body,
            }) => {
                let reply = Reply {
                    errcode,
                    errmsg,
                    body: body.unwrap_or(Value::Null),
                    suggestion,
                    interval,
                };
                match self.pending().remove(&req_id) {
                    Some(w) => {
                        let _ = w.tx.send(reply);
                    }
                    None => {
                        tracing::debug!(sn = %self.dev.sn(), %req_id, "reply to no pending request ignored")
                    }
                }
            }
            Ok(Envelope::Reply {
                req_id: None,
                errcode,
                ..
            }) => {
                tracing::debug!(sn = %self.dev.sn(), errcode, "error frame without headers ignored");
            }
            Ok(Envelope::Push { cmd, body, .. }) => {
                // A cloud that pushes faster than the device works them off loses the excess:
                // the queue is bounded, as a real device's would be.
                if pushes
                    .try_send(Box::new(Push {
                        cmd,
                        body: body.unwrap_or(Value::Null),
                    }))
                    .is_err()
                {
                    tracing::debug!(sn = %self.dev.sn(), "push dropped: {MAX_QUEUED_PUSHES} pushes are waiting");
                }
            }
            Ok(Envelope::Request { cmd, .. }) => {
                tracing::debug!(sn = %self.dev.sn(), cmd, "request from the cloud ignored")
            }
            Err(e) => self.ignore(text, &e.to_string()),
        }
    }

    /// A binary reply (§1.2) to one of our requests, carrying a JSON reply as its data.
    fn on_binary(&self, bytes: &[u8]) {
        match binary::decode_reply(bytes) {
            Ok(r) => match self.pending().remove(&r.req_id) {
                Some(w) => {
                    let _ = w.tx.send(Reply {
                        errcode: 0,
                        errmsg: "ok".into(),
                        body: serde_json::json!({"binary_len": r.data.len()}),
                        suggestion: None,
                        interval: None,
                    });
                }
                None => {
                    tracing::debug!(sn = %self.dev.sn(), "binary reply to no pending request ignored")
                }
            },
            Err(e) => tracing::debug!(sn = %self.dev.sn(), error = %e, "binary frame ignored"),
        }
    }

    fn ignore(&self, text: &str, why: &str) {
        let store = self.dev.store();
        let secrets: Vec<&str> = [
            &store.secret_no,
            &store.seed,
            &store.active_code,
            &store.secret,
        ]
        .into_iter()
        .flatten()
        .map(|s| s.expose())
        .collect();
        let shown: String = text.chars().take(200).collect();
        tracing::debug!(sn = %self.dev.sn(), why, frame = %redact_text(&shown, &secrets), "frame from the cloud ignored");
    }
}

/// The frame pump of one connection: writes what the link queues, reads frames and routes
/// them. Returns when the connection ends; never on its own otherwise.
pub(super) async fn drive(
    ws: &mut WsStream,
    out: &mut mpsc::Receiver<Box<Message>>,
    link: &Link<'_>,
    pushes: mpsc::Sender<Box<Push>>,
) -> Ended {
    loop {
        tokio::select! {
            biased;
            msg = out.recv() => {
                let Some(msg) = msg else { return Ended::Broken("link dropped".into()) };
                match tokio::time::timeout(WRITE_TIMEOUT, ws.send(*msg)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Ended::Broken(format!("write failed: {e}")),
                    Err(_) => return Ended::Broken("write timed out".into()),
                }
            }
            frame = ws.next() => match frame {
                None => return Ended::Broken("connection ended".into()),
                Some(Err(e)) => return Ended::Broken(format!("read failed: {e}")),
                Some(Ok(Message::Text(t))) => link.on_text(t.as_str(), &pushes),
                Some(Ok(Message::Binary(b))) => link.on_binary(&b),
                Some(Ok(Message::Close(_))) => return Ended::ClosedByCloud,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// How long the `waits-server-close` variant waits for the server's TCP close.
pub const SERVER_CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Closes a connection the device is done with (close handshake, bounded), so that no
/// two are ever open at once (D22). `waits-server-close` then waits for the server to close
/// TCP too (RFC 6455 §7.1.1: the server closes first), as Python's websockets does.
pub(super) async fn close(dev: &Device, ws: &mut WsStream) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    if dev.is(SimVariant::WaitsServerClose) {
        let waited = tokio::time::timeout(SERVER_CLOSE_WAIT, async {
            let mut buf = [0u8; 512];
            loop {
                match tokio::io::AsyncReadExt::read(ws.get_mut(), &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        if waited.is_err() {
            dev.log("the server did not close TCP within 10 s; going on");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::identity::DeviceIdentity;
    use crate::targets::sim::SimConfig;

    /// A socket that takes no writes (nothing drains the queue): every request still ends
    /// within its timeout, and the queue never holds more than its bound.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_socket_bounds_the_outbound_queue() {
        let dev = Device::new(SimConfig::new(DeviceIdentity::new("SN-BOUND", "unused")));
        let (link, rx) = Link::new(&dev);
        let calls = (0..MAX_QUEUED_FRAMES * 4).map(|_| link.call("ping", None));
        let started = tokio::time::Instant::now();
        let outcomes = futures_util::future::join_all(calls).await;
        assert!(
            outcomes.iter().all(|o| matches!(o, Outcome::Timeout)),
            "every request times out"
        );
        let longest = Duration::from_secs_f64(crate::targets::sim::policy::TIMEOUT_S.1);
        assert!(
            started.elapsed() <= longest,
            "no request waited past its timeout"
        );
        assert_eq!(
            rx.len(),
            MAX_QUEUED_FRAMES,
            "the queue stopped at its bound"
        );
    }
}
