//! A scripted cloud for the device's tests: each dial of the device becomes a [`Conn`] the
//! test drives by hand over `tokio::io::duplex` with real WebSocket framing. Every frame
//! the device sends is checked to be a valid request envelope (D1) with a req_id never seen
//! before in the run (D2), unless a test says otherwise (`"body": null` is taken only from the
//! `body-null` variant).

use crate::profile::identity::DeviceIdentity;
use crate::profile::wecom::binary;
use crate::profile::wecom::envelope::{self, Envelope};
use crate::targets::sim::{run, Checkin, Dialer, SimConfig, SimControl, SimFault, SimVariant};
use crate::wire::transport::{self, BoxIo, TransportError, WsStream};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub const SN: &str = "SIM-0001";
pub const SECRET_NO: &str = "simSecretNo-0001";
pub const SEED: &str = "simSeedSecretNo";
pub const PER_DEVICE_SECRET_NO: &str = "simIssuedSecretNo-0001";
pub const ACTIVE_CODE: &str = "simActiveCode-0001";
pub const SECRET: &str = "simCorpSecret-0001";
pub const START: u64 = 1_700_000_000;
/// The longest a test waits for the device's next frame by default.
pub const WAIT: Duration = Duration::from_secs(200);

pub fn config(faults: &[SimFault]) -> SimConfig {
    let mut c = SimConfig::new(DeviceIdentity::new(SN, SECRET_NO));
    c.start_unix = START;
    c.rng_seed = 42;
    c.faults = faults.iter().copied().collect();
    c
}

/// The test device taking one conformant variant.
pub fn variant_config(variant: SimVariant) -> SimConfig {
    SimConfig {
        variants: [variant].into(),
        ..config(&[])
    }
}

pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

type ServerWs = WebSocketStream<DuplexStream>;

/// Hands each dial's server half to the test; can be told to refuse dials.
pub struct TestDialer {
    tx: mpsc::UnboundedSender<ServerWs>,
    pub refuse: AtomicUsize,
    pub dials: Mutex<Vec<Instant>>,
}

impl Dialer for TestDialer {
    fn dial(&self) -> BoxFuture<'static, Result<WsStream, TransportError>> {
        self.dials.lock().unwrap().push(Instant::now());
        if self.tx.is_closed() {
            return async { Err(refused("the test cloud is gone")) }.boxed();
        }
        if self.refuse.load(Ordering::SeqCst) > 0 {
            self.refuse.fetch_sub(1, Ordering::SeqCst);
            return async { Err(refused("connection refused")) }.boxed();
        }
        let tx = self.tx.clone();
        async move {
            let (client, server) = tokio::io::duplex(1 << 20);
            tokio::spawn(async move {
                if let Ok(ws) = tokio_tungstenite::accept_async(server).await {
                    let _ = tx.send(ws);
                }
            });
            let io: BoxIo = Box::new(client);
            transport::handshake("ws://cloud.test/", io, None).await
        }
        .boxed()
    }
}

/// The device under test and the cloud's end of its connections.
pub struct Cloud {
    links: mpsc::UnboundedReceiver<ServerWs>,
    pub control: Option<mpsc::UnboundedSender<SimControl>>,
    pub task: JoinHandle<()>,
    pub dialer: Arc<TestDialer>,
    seen: Arc<Mutex<HashSet<String>>>,
    /// Whether every req_id must be new (off for the reuse-req-id fault).
    pub unique_ids: bool,
    /// Whether `"body": null` is taken as no body (on for the body-null variant).
    pub null_bodies: bool,
    /// Requests answered by the cloud itself: cmd → success body.
    pub auto: HashMap<String, Option<Value>>,
}

impl Cloud {
    pub fn start(config: SimConfig) -> Cloud {
        let (tx, links) = mpsc::unbounded_channel();
        let dialer = Arc::new(TestDialer {
            tx,
            refuse: AtomicUsize::new(0),
            dials: Mutex::new(Vec::new()),
        });
        let (control, control_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(config, dialer.clone(), control_rx));
        let mut auto = HashMap::new();
        auto.insert("ping".to_string(), None);
        auto.insert(
            "get_perm_version".to_string(),
            Some(json!({"perm_version": 0})),
        );
        Cloud {
            links,
            control: Some(control),
            task,
            dialer,
            seen: Arc::default(),
            unique_ids: true,
            null_bodies: false,
            auto,
        }
    }

    /// The device's next connection.
    pub async fn accept(&mut self) -> Conn {
        self.try_accept(WAIT)
            .await
            .expect("the device did not connect")
    }

    /// The device's next connection, driven through login.
    pub async fn accept_logged_in(&mut self) -> Conn {
        let mut c = self.accept().await;
        c.login().await;
        c
    }

    pub async fn try_accept(&mut self, within: Duration) -> Option<Conn> {
        let ws = timeout(within, self.links.recv()).await.ok()??;
        Some(Conn {
            ws,
            log: Vec::new(),
            auto: self.auto.clone(),
            seen: self.seen.clone(),
            unique: self.unique_ids,
            null_bodies: self.null_bodies,
            accepted: Instant::now(),
            closed: None,
        })
    }

    /// A person presents themselves at the device.
    pub fn checkin(&self, userid: &str, pass_type: Option<u32>, pass_method: Option<u32>) {
        let msg = SimControl::Checkin(Box::new(Checkin {
            userid: userid.into(),
            pass_type,
            pass_method,
        }));
        self.control
            .as_ref()
            .expect("control")
            .send(msg)
            .expect("device running");
    }

    /// Drops the link receiver and the control sender: the device's next dial fails.
    pub fn go_away(&mut self) {
        self.control = None;
        self.links.close();
    }

    /// Asserts the device is still running (no panic), then stops it.
    pub async fn stop(self) {
        assert!(
            !self.task.is_finished(),
            "the device task ended: {:?}",
            self.task.await
        );
        self.task.abort();
    }
}

/// A request the device sent.
#[derive(Clone, Debug)]
pub struct Req {
    pub cmd: String,
    pub req_id: String,
    pub body: Value,
    pub at: Instant,
    /// The frame carried `"body": null`.
    pub body_null: bool,
}

/// What the device did next on a connection.
#[derive(Debug)]
pub enum Frame {
    Req(Req),
    Upload { req_id: String, data: Vec<u8> },
    Closed(Instant),
}

/// The cloud's end of one connection.
pub struct Conn {
    ws: ServerWs,
    /// Every request received, auto-answered ones included.
    pub log: Vec<Req>,
    pub auto: HashMap<String, Option<Value>>,
    seen: Arc<Mutex<HashSet<String>>>,
    unique: bool,
    null_bodies: bool,
    pub accepted: Instant,
    closed: Option<Instant>,
}

impl Conn {
    fn check_req_id(&self, req_id: &str) {
        let fresh = self.seen.lock().unwrap().insert(req_id.to_string());
        assert!(fresh || !self.unique, "D2: req_id {req_id:?} reused");
    }

    /// The next frame that is not auto-answered, or `None` if nothing came in time.
    pub async fn frame(&mut self, within: Duration) -> Option<Frame> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self.closed {
                return Some(Frame::Closed(at));
            }
            let msg = match timeout(
                deadline.saturating_duration_since(Instant::now()),
                self.ws.next(),
            )
            .await
            {
                Err(_) => return None,
                Ok(m) => m,
            };
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let mut value: Value = serde_json::from_str(t.as_str())
                        .expect("D1: the device sent a frame that is not JSON");
                    let body_null = value.get("body").is_some_and(Value::is_null);
                    if body_null {
                        assert!(self.null_bodies, "D1: \"body\": null from a device without the body-null variant: {value}");
                        value.as_object_mut().expect("an object").remove("body");
                    }
                    let Ok(Envelope::Request { cmd, req_id, body }) = Envelope::from_value(&value)
                    else {
                        panic!("D1: not a request envelope: {value}");
                    };
                    assert!(
                        !cmd.starts_with("push_"),
                        "device sent a push-named request {cmd}"
                    );
                    self.check_req_id(&req_id);
                    let req = Req {
                        cmd,
                        req_id,
                        body: body.unwrap_or(Value::Null),
                        at: Instant::now(),
                        body_null,
                    };
                    self.log.push(req.clone());
                    if let Some(reply) = self.auto.get(&req.cmd).cloned() {
                        self.ok(&req, reply).await;
                        continue;
                    }
                    return Some(Frame::Req(req));
                }
                Some(Ok(Message::Binary(b))) => {
                    let up = binary::decode_upload_log(&b).expect("D3: invalid upload_log frame");
                    self.check_req_id(&up.req_id);
                    return Some(Frame::Upload {
                        req_id: up.req_id,
                        data: up.data,
                    });
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    self.closed = Some(Instant::now());
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next request (not auto-answered); panics on anything else.
    pub async fn recv(&mut self) -> Req {
        self.recv_within(WAIT)
            .await
            .unwrap_or_else(|| panic!("no request within {WAIT:?}; log: {:?}", self.cmds()))
    }

    pub async fn recv_within(&mut self, within: Duration) -> Option<Req> {
        match self.frame(within).await? {
            Frame::Req(r) => Some(r),
            other => panic!("expected a request, got {other:?}; log: {:?}", self.cmds()),
        }
    }

    /// The next request, which must be `cmd`.
    pub async fn expect(&mut self, cmd: &str) -> Req {
        let r = self.recv().await;
        assert_eq!(
            r.cmd,
            cmd,
            "expected {cmd}, got {r:?}; log: {:?}",
            self.cmds()
        );
        r
    }

    /// Every request (not auto-answered) that arrives during `d`; stops at a close.
    pub async fn quiet(&mut self, d: Duration) -> Vec<Req> {
        let deadline = Instant::now() + d;
        let mut out = Vec::new();
        while let Some(f) = self
            .frame(deadline.saturating_duration_since(Instant::now()))
            .await
        {
            match f {
                Frame::Req(r) => out.push(r),
                Frame::Closed(_) => break,
                Frame::Upload { .. } => {}
            }
        }
        out
    }

    /// Waits for the device to close the connection; returns when it did.
    pub async fn expect_closed(&mut self, within: Duration) -> Instant {
        loop {
            match self.frame(within).await {
                Some(Frame::Closed(at)) => return at,
                Some(Frame::Req(r)) => panic!("expected a close, got {r:?}"),
                Some(Frame::Upload { .. }) => {}
                None => panic!("the device did not close within {within:?}"),
            }
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    pub fn cmds(&self) -> Vec<String> {
        self.log.iter().map(|r| r.cmd.clone()).collect()
    }

    pub fn times(&self, cmd: &str) -> Vec<Instant> {
        self.log
            .iter()
            .filter(|r| r.cmd == cmd)
            .map(|r| r.at)
            .collect()
    }

    async fn send(&mut self, v: Value) {
        let _ = self.ws.send(Message::text(v.to_string())).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        let _ = self.ws.send(Message::text(text.to_string())).await;
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        let _ = self.ws.send(Message::binary(bytes)).await;
    }

    pub async fn ok(&mut self, r: &Req, body: Option<Value>) {
        self.ok_id(&r.req_id, body).await;
    }

    pub async fn ok_id(&mut self, req_id: &str, body: Option<Value>) {
        self.send(envelope::reply_ok(req_id, body)).await;
    }

    /// An error reply; `suggestion`/`interval` left out when `None`.
    pub async fn err(
        &mut self,
        r: &Req,
        code: i64,
        suggestion: Option<&str>,
        interval: Option<i64>,
    ) {
        let mut v =
            json!({"headers": {"req_id": r.req_id}, "errcode": code, "errmsg": "scripted error"});
        if let Some(s) = suggestion {
            v["suggestion"] = json!(s);
        }
        if let Some(i) = interval {
            v["interval"] = json!(i);
        }
        self.send(v).await;
    }

    pub async fn push(&mut self, cmd: &str, body: Option<Value>) {
        static N: AtomicUsize = AtomicUsize::new(1);
        let id = format!("cloud-push-{}", N.fetch_add(1, Ordering::Relaxed));
        self.send(envelope::push(cmd, &id, body)).await;
    }

    /// The cloud closes the connection (after letting the device take in what it was sent).
    pub async fn close(mut self) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let _ = timeout(Duration::from_secs(2), async {
            let _ = self.ws.close(None).await;
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    /// register → active → subscribe_corp, all answered with success.
    pub async fn login(&mut self) {
        let r = self.expect("register").await;
        self.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
        let r = self.expect("active").await;
        assert_eq!(r.body["active_code"], ACTIVE_CODE);
        self.ok(&r, Some(json!({"secret": SECRET}))).await;
        self.subscribe().await;
    }

    /// register → subscribe_corp (a device with a cached secret, D10).
    pub async fn relogin(&mut self) {
        let r = self.expect("register").await;
        self.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
        self.subscribe().await;
    }

    pub async fn subscribe(&mut self) {
        let r = self.expect("subscribe_corp").await;
        assert_eq!(r.body["secret"], SECRET);
        self.ok(&r, None).await;
    }
}

/// Users `{userid}` as a pull reply lists them.
pub fn users(ids: &[&str]) -> Value {
    Value::Array(
        ids.iter()
            .map(|id| json!({"userid": id, "user_type": 0, "name": id}))
            .collect(),
    )
}

/// A login followed by a one-page full pull to `version` with `ids`.
pub async fn login_with_contacts(cloud: &mut Cloud, version: u64, ids: &[&str]) -> Conn {
    cloud.auto.remove("get_perm_version");
    let mut c = cloud.accept_logged_in().await;
    let r = c.expect("get_perm_version").await;
    c.ok(&r, Some(json!({"perm_version": version}))).await;
    let r = c.expect("get_userinfo_by_page").await;
    assert_eq!(r.body["offset"], 0);
    c.ok(
        &r,
        Some(json!({"perm_version": version, "is_last": true, "userinfo": users(ids)})),
    )
    .await;
    c
}

/// Gaps between instants, in seconds.
pub fn gaps(times: &[Instant]) -> Vec<f64> {
    times.windows(2).map(|w| secs(w[1] - w[0])).collect()
}

/// Decodes standard base64 (test-only).
pub fn unbase64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let data: Vec<u8> = chunk.iter().copied().filter(|&c| c != b'=').collect();
        let mut n = 0u32;
        for (i, &c) in data.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        for i in 0..data.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// A dial the test cloud refuses, as the transport reports one.
fn refused(why: &str) -> TransportError {
    TransportError::Connect {
        addr: "127.0.0.1:0".into(),
        source: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, why.to_string()),
    }
}
