//! The mock over real WebSocket framing: `tokio::io::duplex` streams on a paused clock, so
//! a 90 s heartbeat expiry takes no wall time, and one test over loopback TCP.

use super::*;
use crate::profile::fleet::{Fleet, FleetDevice};
use crate::profile::identity::{DeviceIdentity, Secret};
use crate::profile::wecom::{binary, envelope, signature};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const START: u64 = 1_700_000_000;

fn config(disabled: &[MockRule]) -> MockConfig {
    let fleet = Fleet {
        devices: vec![
            FleetDevice {
                identity: DeviceIdentity::new("SN1", "sec1"),
                bound: true,
            },
            FleetDevice {
                identity: DeviceIdentity::new("SN2", "sec2"),
                bound: false,
            },
            FleetDevice {
                identity: DeviceIdentity::new("SN3", "sec3"),
                bound: true,
            },
        ],
        seed_secret_no: Some(Secret::new("seed")),
    };
    MockConfig {
        fleet,
        start_unix: START,
        disabled_rules: disabled.iter().copied().collect(),
        ..MockConfig::default()
    }
}

/// What a client saw next.
#[derive(Debug)]
enum Got {
    Json(Value),
    Close(Option<(u16, String)>),
    Ended,
}

struct Client<S> {
    ws: WebSocketStream<S>,
    n: u64,
}

async fn connect_path(cloud: &Arc<MockCloud>, ip: &str, path: &str) -> Client<DuplexStream> {
    let (client, server) = tokio::io::duplex(1 << 20);
    let peer: SocketAddr = format!("{ip}:40000").parse().unwrap();
    tokio::spawn(Arc::clone(cloud).serve_connection(server, peer));
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://mock{path}"), client)
        .await
        .unwrap();
    Client { ws, n: 0 }
}

async fn connect(cloud: &Arc<MockCloud>, ip: &str) -> Client<DuplexStream> {
    connect_path(cloud, ip, "/").await
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    async fn send(&mut self, v: &Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    async fn recv_within(&mut self, wait: Duration) -> Option<Got> {
        loop {
            let msg = match timeout(wait, self.ws.next()).await {
                Err(_) => return None,
                Ok(m) => m,
            };
            return Some(match msg {
                Some(Ok(Message::Text(t))) => Got::Json(serde_json::from_str(t.as_str()).unwrap()),
                Some(Ok(Message::Close(f))) => {
                    Got::Close(f.map(|f| (u16::from(f.code), f.reason.to_string())))
                }
                Some(Ok(Message::Binary(_))) => panic!("unexpected binary frame"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => Got::Ended,
            });
        }
    }

    async fn recv(&mut self) -> Value {
        match self.recv_within(Duration::from_secs(5)).await {
            Some(Got::Json(v)) => v,
            other => panic!("expected a JSON frame, got {other:?}"),
        }
    }

    async fn expect_close(&mut self, wait: Duration) -> (u16, String) {
        match self.recv_within(wait).await {
            Some(Got::Close(Some(f))) => f,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    /// Sends a request and returns its reply, checking C1/C2/C12 on the way.
    async fn call(&mut self, cmd: &str, body: Option<Value>) -> Value {
        self.n += 1;
        let req_id = format!("{cmd}-{}", self.n);
        self.send(&envelope::request(cmd, &req_id, body)).await;
        let reply = self.recv().await;
        let broken = crate::profile::wecom::monitors::rules::check_reply(&reply, &req_id, true);
        assert!(broken.is_empty(), "{reply}: {broken:?}");
        reply
    }

    async fn register(&mut self, sn: &str, secret_no: &str) -> Value {
        let ts = START.to_string();
        let body = json!({"sn": sn, "timestamp": START, "nonce": 9, "device_signature": signature::register(sn, secret_no, &ts, "9")});
        self.call("register", Some(body)).await
    }

    /// register + active + subscribe_corp for a bound device.
    async fn login(&mut self, sn: &str, secret_no: &str) {
        let code = self.register(sn, secret_no).await["body"]["active_code"].clone();
        let secret = self
            .call("active", Some(json!({"active_code": code})))
            .await["body"]["secret"]
            .clone();
        let r = self
            .call(
                "subscribe_corp",
                Some(json!({"secret": secret, "firmware_version": "1.0"})),
            )
            .await;
        assert_eq!(r["errcode"], 0, "{r}");
    }
}

fn code(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap()
}

#[tokio::test(start_paused = true)]
async fn c8_heartbeat_expiry_after_90s_virtual_frees_the_sn() {
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    assert_eq!(code(&a.register("SN1", "sec1").await), 0);
    let t0 = Instant::now();
    let (c, reason) = a.expect_close(Duration::from_secs(300)).await;
    assert_eq!((c, reason.as_str()), (4000, "heartbeat timeout"));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(90) && waited < Duration::from_secs(91),
        "{waited:?}"
    );
    // The SN is free: another IP may register it now.
    let mut b = connect(&cloud, "10.0.0.2").await;
    assert_eq!(code(&b.register("SN1", "sec1").await), 0);
}

#[tokio::test(start_paused = true)]
async fn c8_any_traffic_keeps_the_link_and_knob_disables_expiry() {
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(code(&a.call("ping", None).await), 0);
    }
    let cloud = MockCloud::new(config(&[MockRule::NoHeartbeatExpiry]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    assert!(
        a.recv_within(Duration::from_secs(600)).await.is_none(),
        "no-heartbeat-expiry keeps silent links"
    );
}

#[tokio::test(start_paused = true)]
async fn c10_register_from_another_ip_gets_600002_until_the_old_link_closes() {
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.login("SN1", "sec1").await;
    let mut b = connect(&cloud, "10.0.0.2").await;
    let r = b.register("SN1", "sec1").await;
    assert_eq!(code(&r), 600002);
    assert_eq!(
        (r["suggestion"].as_str(), r["interval"].as_i64()),
        (Some("reconnect"), Some(90))
    );
    a.ws.close(None).await.unwrap();
    while !matches!(
        a.recv_within(Duration::from_secs(5)).await,
        Some(Got::Ended) | None
    ) {}
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        code(&b.register("SN1", "sec1").await),
        0,
        "a clean close frees the SN at once"
    );
}

#[tokio::test(start_paused = true)]
async fn c13_register_from_the_same_ip_kicks_the_old_link() {
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.login("SN1", "sec1").await;
    let mut a2 = connect(&cloud, "10.0.0.1").await;
    assert_eq!(code(&a2.register("SN1", "sec1").await), 0);
    let (c, reason) = a.expect_close(Duration::from_secs(5)).await;
    assert_eq!(
        (c, reason.as_str()),
        (4001, "kicked: sn registered on another connection")
    );
    assert_eq!(code(&a2.call("ping", None).await), 0);
    // The kicked link's end does not free the SN held by the winner.
    let mut b = connect(&cloud, "10.0.0.2").await;
    assert_eq!(code(&b.register("SN1", "sec1").await), 600002);
}

#[tokio::test(start_paused = true)]
async fn c13_no_kick_knob_leaves_the_old_link_open() {
    let cloud = MockCloud::new(config(&[MockRule::NoKick]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.register("SN1", "sec1").await;
    let mut a2 = connect(&cloud, "10.0.0.1").await;
    assert_eq!(code(&a2.register("SN1", "sec1").await), 0);
    assert!(a.recv_within(Duration::from_secs(5)).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn c11_sixth_subscribe_gets_600045_and_is_allowed_after_the_window() {
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.login("SN1", "sec1").await; // subscribe #1
    let sub = json!({"secret": "whatever", "firmware_version": "1.0"});
    for _ in 2..=5 {
        assert_eq!(
            code(&a.call("subscribe_corp", Some(sub.clone())).await),
            600054
        );
    }
    let r = a.call("subscribe_corp", Some(sub.clone())).await;
    assert_eq!(code(&r), 600045);
    assert_eq!(
        (r["suggestion"].as_str(), r["interval"].as_i64()),
        (Some("retry"), Some(60))
    );
    // Another IP is not limited.
    let mut b = connect(&cloud, "10.0.0.2").await;
    assert_eq!(
        code(&b.call("subscribe_corp", Some(sub.clone())).await),
        600014
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        code(&a.call("subscribe_corp", Some(sub.clone())).await),
        600054,
        "allowed again after the window"
    );

    let cloud = MockCloud::new(config(&[MockRule::NoRateLimit]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    for _ in 0..10 {
        assert_eq!(
            code(&a.call("subscribe_corp", Some(sub.clone())).await),
            600014
        );
    }
}

#[tokio::test(start_paused = true)]
async fn swallow_reply_takes_effect_without_a_reply() {
    let cloud = MockCloud::new(config(&[]));
    cloud
        .control(ControlRequest::SwallowReply {
            sn: "SN1".into(),
            cmd: "register".into(),
        })
        .unwrap();
    let mut a = connect(&cloud, "10.0.0.1").await;
    let ts = START.to_string();
    let body = json!({"sn": "SN1", "timestamp": START, "nonce": 9, "device_signature": signature::register("SN1", "sec1", &ts, "9")});
    a.send(&envelope::request("register", "lost", Some(body)))
        .await;
    assert!(
        a.recv_within(Duration::from_secs(10)).await.is_none(),
        "reply swallowed"
    );
    // FAQ: the re-sent register says the first one succeeded.
    assert_eq!(code(&a.call("register", None).await), 600012);
    // Other SNs are unaffected.
    let mut b = connect(&cloud, "10.0.0.2").await;
    assert_eq!(code(&b.register("SN3", "sec3").await), 0);
}

#[tokio::test(start_paused = true)]
async fn delay_replies_delays_only_that_sn() {
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.register("SN1", "sec1").await;
    cloud
        .control(ControlRequest::DelayReplies {
            sn: "SN1".into(),
            ms: 1500,
        })
        .unwrap();
    let t0 = Instant::now();
    a.send(&envelope::request("ping", "p1", None)).await;
    a.send(&envelope::request("ping", "p2", None)).await;
    assert_eq!(a.recv().await["headers"]["req_id"], "p1");
    assert!(
        t0.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(a.recv().await["headers"]["req_id"], "p2", "order kept");
    let mut b = connect(&cloud, "10.0.0.2").await;
    b.register("SN3", "sec3").await;
    let t1 = Instant::now();
    b.call("ping", None).await;
    assert!(t1.elapsed() < Duration::from_millis(100));
    cloud
        .control(ControlRequest::DelayReplies {
            sn: "SN1".into(),
            ms: 0,
        })
        .unwrap();
    let t2 = Instant::now();
    a.call("ping", None).await;
    assert!(t2.elapsed() < Duration::from_millis(100));
}

/// Held-back replies are bounded in number: a device that keeps asking while its replies are
/// delayed gets its link closed (1008), not an ever-growing queue in the mock.
#[tokio::test(start_paused = true)]
async fn held_replies_are_bounded() {
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.register("SN1", "sec1").await;
    cloud
        .control(ControlRequest::DelayReplies {
            sn: "SN1".into(),
            ms: 60_000,
        })
        .unwrap();
    for i in 0..=super::server::MAX_HELD_FRAMES {
        a.send(&envelope::request("ping", &format!("p{i}"), None))
            .await;
    }
    let (code, reason) = a.expect_close(Duration::from_secs(5)).await;
    assert_eq!(
        (code, reason.as_str()),
        (1008, "too many replies held back")
    );
}

/// The knob that proves C1's one-reply rule can fail: every request answered twice.
#[tokio::test(start_paused = true)]
async fn duplicate_replies_knob_answers_twice() {
    let cloud = MockCloud::new(config(&[MockRule::OneReplyPerRequest]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.send(&envelope::request("get_timestamp", "t1", None))
        .await;
    assert_eq!(a.recv().await["headers"]["req_id"], "t1");
    assert_eq!(a.recv().await["headers"]["req_id"], "t1");
}

#[tokio::test(start_paused = true)]
async fn c7_bind_and_unbind_push_on_the_live_link() {
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    let code_ = a.register("SN2", "sec2").await["body"]["active_code"].clone();
    assert_eq!(
        code(&a.call("active", Some(json!({"active_code": code_}))).await),
        600004
    );
    let r = cloud
        .control(ControlRequest::Bind { sn: "SN2".into() })
        .unwrap();
    assert_eq!(r["pushed"], true);
    let push = a.recv().await;
    assert_eq!(push["cmd"], "push_bind_corp");
    assert!(push.get("body").is_none());
    assert!(
        crate::profile::wecom::monitors::rules::check_push(&push).is_empty(),
        "{push}"
    );
    let secret =
        a.call("active", Some(json!({"active_code": code_}))).await["body"]["secret"].clone();
    assert!(secret.is_string());
    // An acknowledgement of the push is accepted quietly (§1.5).
    a.send(&envelope::reply_ok(
        push["headers"]["req_id"].as_str().unwrap(),
        None,
    ))
    .await;
    assert!(a.recv_within(Duration::from_secs(2)).await.is_none());
    cloud
        .control(ControlRequest::Unbind { sn: "SN2".into() })
        .unwrap();
    let push2 = a.recv().await;
    assert_eq!(push2["cmd"], "push_unbind_corp");
    assert_ne!(
        push2["headers"]["req_id"], push["headers"]["req_id"],
        "cloud-generated unique req_ids"
    );
    let r = a
        .call(
            "subscribe_corp",
            Some(json!({"secret": secret, "firmware_version": "1"})),
        )
        .await;
    assert_eq!(code(&r), 600004, "unbinding revoked the secret");

    let cloud = MockCloud::new(config(&[MockRule::NoBindPush]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.register("SN2", "sec2").await;
    assert_eq!(
        cloud
            .control(ControlRequest::Bind { sn: "SN2".into() })
            .unwrap()["pushed"],
        false
    );
    assert!(a.recv_within(Duration::from_secs(2)).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn c23_selfhelp_notify_and_upload_log_over_the_wire() {
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.login("SN1", "sec1").await;
    assert_eq!(
        code(
            &a.call("selfhelp_notify", Some(json!({"data": "hello"})))
                .await
        ),
        0
    );
    let push = a.recv().await;
    assert_eq!(
        (push["cmd"].as_str(), push["body"]["data"].as_str()),
        (Some("push_selfhelp_notify"), Some("hello"))
    );
    a.ws.send(Message::binary(binary::encode_upload_log(
        "up-1",
        b"2024-01-01T00:00:00Z boot",
    )))
    .await
    .unwrap();
    let r = a.recv().await;
    assert_eq!(
        (code(&r), r["headers"]["req_id"].as_str()),
        (0, Some("up-1"))
    );
}

#[tokio::test(start_paused = true)]
async fn malformed_binary_and_oversized_frames() {
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.ws.send(Message::text("{not json")).await.unwrap();
    let r = a.recv().await;
    assert_eq!(code(&r), 600904);
    assert!(r.get("headers").is_none() && r["suggestion"].is_string() && r["interval"].is_i64());
    a.send(&json!({"cmd": "register", "headers": {"req_id": "m1"}, "body": {"sn": "SN1", "timestamp": "one", "nonce": 1, "device_signature": "x"}})).await;
    let r = a.recv().await;
    assert_eq!(
        (code(&r), r["headers"]["req_id"].as_str()),
        (600904, Some("m1"))
    );
    a.ws.send(Message::binary(vec![0xde, 0xad, 0xbe, 0xef]))
        .await
        .unwrap();
    let r = a.recv().await;
    assert_eq!(code(&r), 600904);
    assert!(r.get("headers").is_none());
    assert_eq!(
        code(&a.call("ping", None).await),
        0,
        "the connection stays open"
    );
    // Oversized: that connection is closed with 1009, the others keep being served.
    let mut b = connect(&cloud, "10.0.0.2").await;
    b.ws.send(Message::text("x".repeat(70 * 1024)))
        .await
        .unwrap();
    let (c, _) = b.expect_close(Duration::from_secs(5)).await;
    assert_eq!(CloseCode::from(c), CloseCode::Size);
    assert_eq!(code(&a.call("ping", None).await), 0);
    let mut c2 = connect(&cloud, "10.0.0.2").await;
    assert_eq!(code(&c2.call("get_timestamp", None).await), 0);
}

#[tokio::test(start_paused = true)]
async fn absurd_settings_and_protocol_violations_never_panic() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let cloud = MockCloud::new(MockConfig {
        timings: crate::profile::CloudTimings {
            heartbeat_timeout: Duration::MAX,
            ..crate::profile::CloudTimings::MOCK
        },
        ..config(&[])
    });
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.register("SN1", "sec1").await;
    cloud
        .control(ControlRequest::DelayReplies {
            sn: "SN1".into(),
            ms: u64::MAX,
        })
        .unwrap();
    a.send(&envelope::request("ping", "never", None)).await;
    assert!(a.recv_within(Duration::from_secs(60)).await.is_none());
    // A text frame that is not UTF-8 closes that connection with 1007.
    let mut b = connect(&cloud, "10.0.0.2").await;
    b.ws.send(Message::Frame(Frame::message(
        vec![0xff, 0xfe],
        OpCode::Data(Data::Text),
        true,
    )))
    .await
    .unwrap();
    assert_eq!(b.expect_close(Duration::from_secs(5)).await.0, 1007);
    let mut c = connect(&cloud, "10.0.0.3").await;
    assert_eq!(code(&c.call("ping", None).await), 0);
}

#[tokio::test(start_paused = true)]
async fn a_second_connection_is_served_while_the_first_sends_garbage() {
    let cloud = MockCloud::new(config(&[]));
    let mut bad = connect(&cloud, "10.0.0.1").await;
    let mut good = connect(&cloud, "10.0.0.2").await;
    let garbage: [&[u8]; 5] = [b"\xff\xfe", b"[]", b"{}", b"{\"cmd\":null}", b"\"str\""];
    for (i, g) in garbage.iter().cycle().take(20).enumerate() {
        bad.ws.send(Message::binary(g.to_vec())).await.unwrap();
        if let Ok(text) = std::str::from_utf8(g) {
            bad.ws.send(Message::text(text)).await.unwrap();
        }
        if i == 3 {
            good.login("SN1", "sec1").await;
        }
    }
    assert_eq!(
        good.call("get_corp_info", None).await["body"]["corp_name"],
        CORP_NAME
    );
    // Every garbage frame got a 600904 answer, none was silent.
    let mut answers = 0;
    while let Some(Got::Json(r)) = bad.recv_within(Duration::from_millis(100)).await {
        assert_eq!(code(&r), 600904, "{r}");
        answers += 1;
    }
    assert_eq!(answers, 20 + 16);
}

#[tokio::test(start_paused = true)]
async fn control_over_the_wire_and_close_link() {
    let cloud = MockCloud::new(config(&[]));
    let mut ctl = connect_path(&cloud, "127.0.0.1", CONTROL_PATH).await;
    ctl.send(&json!({"op": "hello"})).await;
    assert_eq!(
        ctl.recv().await,
        json!({"ok":true,"mock":"hwconform","heartbeat_timeout_s":90,"subscribe_window_s":60,"subscribe_limit":5,"max_frame_bytes":65536})
    );
    ctl.send(&json!({"op": "bind", "sn": "NOPE"})).await;
    let r = ctl.recv().await;
    assert_eq!(r["ok"], false);
    assert!(r["error"].as_str().unwrap().contains("NOPE"));
    ctl.send(&json!({"op": "close_link", "sn": "SN1"})).await;
    assert_eq!(ctl.recv().await["closed"], false);
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.register("SN1", "sec1").await;
    ctl.send(&json!({"op": "close_link", "sn": "SN1"})).await;
    assert_eq!(ctl.recv().await["closed"], true);
    assert_eq!(a.expect_close(Duration::from_secs(5)).await.0, 1000);
    let mut b = connect(&cloud, "10.0.0.2").await;
    assert_eq!(
        code(&b.register("SN1", "sec1").await),
        0,
        "close_link frees the SN"
    );
    // A control connection is not a device: it never expires.
    assert!(ctl.recv_within(Duration::from_secs(200)).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn forget_resets_per_run_state() {
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.login("SN1", "sec1").await;
    for _ in 0..5 {
        a.call(
            "subscribe_corp",
            Some(json!({"secret": "x", "firmware_version": "1"})),
        )
        .await;
    }
    cloud
        .control(ControlRequest::Forget {
            sns: vec!["SN1".into()],
            ips: vec!["10.0.0.1".into()],
        })
        .unwrap();
    assert_eq!(
        code(
            &a.call(
                "subscribe_corp",
                Some(json!({"secret": "x", "firmware_version": "1"}))
            )
            .await
        ),
        600054
    );
    // The SN counts as never registered again: get_secret_no works.
    let mut b = connect(&cloud, "10.0.0.1").await;
    let ts = START.to_string();
    let body = json!({"sn": "SN3", "timestamp": START, "nonce": 1, "device_signature": signature::get_secret_no("SN3", "seed", &ts, "1")});
    assert_eq!(code(&b.call("get_secret_no", Some(body)).await), 0);
}

#[tokio::test]
async fn listen_serves_devices_and_control_over_loopback_tcp() {
    let (addr, handle) = listen(config(&[]), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // A client that connects and goes away without a handshake does not stop the server.
    drop(tokio::net::TcpStream::connect(addr).await.unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/websocket"))
        .await
        .unwrap();
    let mut dev = Client { ws, n: 0 };
    assert_eq!(code(&dev.call("ping", None).await), 0);
    // start_unix is honoured.
    let ts = dev.call("get_timestamp", None).await["body"]["timestamp"]
        .as_u64()
        .unwrap();
    assert!((START..START + 60).contains(&ts), "{ts}");
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}{CONTROL_PATH}"))
        .await
        .unwrap();
    let mut ctl = Client { ws, n: 0 };
    ctl.send(&json!({"op": "hello"})).await;
    assert_eq!(ctl.recv().await["mock"], "hwconform");
    handle.abort();
}

/// Debug logs show every frame, redacted: no SecretNo, seed, active_code or secret.
#[tokio::test(start_paused = true)]
async fn logs_never_carry_credentials() {
    #[derive(Clone, Default)]
    struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Global, not thread-local: a thread-local subscriber races with other tests over
    // tracing's shared callsite-interest cache and can miss events. This is the only test in
    // this binary that installs a subscriber.
    tracing::subscriber::set_global_default(subscriber)
        .expect("no other test sets a global subscriber");

    let fleet = Fleet {
        devices: vec![FleetDevice {
            identity: DeviceIdentity::new("SNLOG", "FLEET-SECRETNO-123"),
            bound: true,
        }],
        seed_secret_no: Some(Secret::new("SEED-SECRETNO-456")),
    };
    let cloud = MockCloud::new(MockConfig {
        fleet,
        start_unix: START,
        ..MockConfig::default()
    });
    let mut a = connect(&cloud, "10.0.0.1").await;
    let ts = START.to_string();
    let body = json!({"sn": "SNLOG", "timestamp": START, "nonce": 1,
                      "device_signature": signature::get_secret_no("SNLOG", "SEED-SECRETNO-456", &ts, "1")});
    let issued = a.call("get_secret_no", Some(body)).await["body"]["secret_no"]
        .as_str()
        .unwrap()
        .to_string();
    let code_ = a.register("SNLOG", &issued).await["body"]["active_code"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = a.call("active", Some(json!({"active_code": code_}))).await["body"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    a.call(
        "subscribe_corp",
        Some(json!({"secret": secret, "firmware_version": "1"})),
    )
    .await;
    a.ws.send(Message::text(format!("not json {secret}")))
        .await
        .unwrap();
    a.recv().await;

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("<redacted>") && logs.contains("subscribe_corp"),
        "{logs}"
    );
    for s in [
        "FLEET-SECRETNO-123",
        "SEED-SECRETNO-456",
        issued.as_str(),
        code_.as_str(),
        secret.as_str(),
    ] {
        assert!(!logs.contains(s), "log leaks a credential:\n{logs}");
    }
}

/// A body with every top-level field the catalog marks required, each of its documented type.
fn minimal_body(cmd: &crate::profile::wecom::catalog::Command) -> Option<Value> {
    let mut body = serde_json::Map::new();
    for f in cmd
        .request_body_fields
        .iter()
        .filter(|f| f.required == Some(true) && !f.name.contains(['.', '[']))
    {
        let v = if f.ty.starts_with("array") {
            json!([])
        } else if f.ty.starts_with("uint") || f.ty == "int" {
            json!(0)
        } else {
            json!("x")
        };
        body.insert(f.name.clone(), v);
    }
    (!body.is_empty()).then_some(Value::Object(body))
}

#[tokio::test(start_paused = true)]
async fn every_device_command_of_the_catalog_is_answered() {
    use crate::profile::wecom::catalog::Catalog;
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.login("SN1", "sec1").await;
    let lifecycle = [
        "register",
        "active",
        "subscribe_corp",
        "get_secret_no",
        "upload_log",
        "gen_login_qrcode",
        "download_photo",
    ];
    let mut answered = 0;
    for cmd in Catalog::get()
        .commands
        .iter()
        .filter(|c| c.direction == "device->cloud" && !lifecycle.contains(&c.name.as_str()))
    {
        let reply = a.call(&cmd.name, minimal_body(cmd)).await;
        assert_eq!(code(&reply), 0, "{}: {reply}", cmd.name);
        // Every documented reply field is there, of its type.
        for f in cmd
            .reply_body_fields
            .iter()
            .filter(|f| !f.name.contains(['.', '[']))
        {
            let v = reply.pointer(&format!("/body/{}", f.name));
            let typed = match f.ty.as_str() {
                t if t.starts_with("array") => v.is_some_and(Value::is_array),
                t if t.starts_with("uint") || t == "int" => v.is_some_and(Value::is_u64),
                "bool" => v.is_some_and(Value::is_boolean),
                "string" => v.is_some_and(Value::is_string),
                _ => true,
            };
            // `media_id` is one implementation's undocumented field, not the docs'.
            let optional = f.name == "media_id";
            assert!(
                typed || optional,
                "{}: `{}` ({}) missing or mistyped in {reply}",
                cmd.name,
                f.name,
                f.ty
            );
        }
        answered += 1;
        // A push the command causes (selfhelp_notify's echo) follows its reply.
        while let Some(Got::Json(push)) = a.recv_within(Duration::from_millis(10)).await {
            assert!(
                push["cmd"].as_str().is_some_and(|c| c.starts_with("push_")),
                "{push}"
            );
        }
    }
    assert!(answered >= 20, "{answered}");
    // The two with binary replies answer with a binary frame echoing the req_id.
    for (cmd, body) in [
        (
            "download_photo",
            json!({"media_id": "m1", "format_version": 1}),
        ),
        (
            "gen_login_qrcode",
            json!({"state": "s1", "format_version": 1}),
        ),
    ] {
        a.send(&envelope::request(cmd, &format!("{cmd}-b"), Some(body)))
            .await;
        match timeout(Duration::from_secs(5), a.ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => assert!(
                b.windows(cmd.len() + 2)
                    .any(|w| w == format!("{cmd}-b").as_bytes()),
                "{cmd}"
            ),
            other => panic!("{cmd}: expected a binary reply, got {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_directory_change_reaches_every_logged_in_device_and_the_pull_follows_it() {
    let cloud = MockCloud::new(config(&[]));
    let (mut a, mut b) = (
        connect(&cloud, "10.0.0.1").await,
        connect(&cloud, "10.0.0.3").await,
    );
    a.login("SN1", "sec1").await;
    b.login("SN3", "sec3").await;
    let v0 = a.call("get_perm_version", None).await["body"]["perm_version"]
        .as_u64()
        .unwrap();
    let user = json!({"userid": "zhaoliu", "name": "Zhao Liu", "fa": [{"id": 0, "data": "fa-zl"}]});
    let r = cloud.control_text(&json!({"op": "add_user", "user": user}).to_string());
    assert_eq!(
        (r["ok"].as_bool(), r["pushed"].as_u64()),
        (Some(true), Some(2)),
        "{r}"
    );
    for c in [&mut a, &mut b] {
        let push = c.recv().await;
        assert_eq!(push["cmd"], "push_change_contact");
        assert_eq!(push["body"]["perm_version"].as_u64(), Some(v0 + 1));
        assert_eq!(
            push["body"]["create_user"],
            json!([{"userid": "zhaoliu", "user_type": 0}])
        );
    }
    let got = a
        .call(
            "get_userinfo_by_ids",
            Some(json!({"userids": ["zhaoliu", "nobody"]})),
        )
        .await;
    assert_eq!(
        got["body"]["userinfo"].as_array().map(Vec::len),
        Some(1),
        "{got}"
    );
    assert_eq!(
        got["body"]["userinfo"][0]["fa_list"],
        json!([{"id": 0, "data": "fa-zl"}])
    );
    let page = a
        .call(
            "get_userinfo_by_page",
            Some(json!({"offset": 0, "limit": 1000})),
        )
        .await;
    assert_eq!(
        (
            page["body"]["is_last"].as_bool(),
            page["body"]["perm_version"].as_u64()
        ),
        (Some(true), Some(v0 + 1))
    );
    assert_eq!(page["body"]["userinfo"].as_array().map(Vec::len), Some(4));
    let history = a
        .call("get_notify_history", Some(json!({"perm_version": v0})))
        .await;
    assert_eq!(
        history["body"]["item"][0]["perm_version"].as_u64(),
        Some(v0 + 1),
        "{history}"
    );
}

#[tokio::test(start_paused = true)]
async fn check_ins_and_remote_opens_are_recorded_and_queryable() {
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.login("SN1", "sec1").await;
    let data = json!([
        {"userid": "zhangsan", "timestamp": START, "pass_type": 1, "pass_method": 1},
        {"userid": "lisi", "timestamp": START + 1},
        {"userid": "ghost", "timestamp": START + 2, "pass_type": 1},
        {"userid": "wangwu", "timestamp": 1_400_000_000, "pass_type": 1},
    ]);
    let r = a.call("checkin", Some(json!({"checkin_data": data}))).await;
    assert_eq!(
        r["body"]["fail_list"],
        json!([{"userid": "ghost", "user_type": 0, "timestamp": START + 2}]),
        "pre-2018 is not listed"
    );
    let open = cloud.control_text(r#"{"op":"remote_open_door","sn":"SN1","userid":"zhangsan"}"#);
    let push = a.recv().await;
    assert_eq!(
        (push["cmd"].as_str(), push["body"]["oper_id"].clone()),
        (Some("push_remote_open_door"), open["oper_id"].clone())
    );
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    a.call(
        "report_remote_open_door",
        Some(json!({"type": "remote_open_door", "oper_id": open["oper_id"], "status": 0})),
    )
    .await;
    let rec = cloud.control_text(r#"{"op":"recorded","sn":"SN1"}"#);
    let users: Vec<(&str, bool)> = rec["checkins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["userid"].as_str().unwrap(),
                c["access_record"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(users, vec![("zhangsan", true), ("lisi", false)]);
    assert_eq!(rec["remote_opens"][0]["result"], "late", "{rec}");
    assert_eq!(
        cloud.control_text(r#"{"op":"recorded","sn":"SN9"}"#)["checkins"],
        json!([])
    );
}

#[tokio::test(start_paused = true)]
async fn a_login_qr_scan_pushes_its_state_and_an_old_dynamic_qr_is_refused() {
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.login("SN1", "sec1").await;
    let refused = cloud.control_text(
        r#"{"op":"scan_login_qr","sn":"SN1","userid":"zhangsan","state":"never-issued"}"#,
    );
    assert_eq!(refused["pushed"], false, "{refused}");
    a.send(&envelope::request(
        "gen_login_qrcode",
        "qr-1",
        Some(json!({"state": "st-42", "format_version": 1})),
    ))
    .await;
    assert!(matches!(
        timeout(Duration::from_secs(5), a.ws.next()).await,
        Ok(Some(Ok(Message::Binary(_))))
    ));
    let ok = cloud
        .control_text(r#"{"op":"scan_login_qr","sn":"SN1","userid":"zhangsan","state":"st-42"}"#);
    assert_eq!(ok["pushed"], true, "{ok}");
    let push = a.recv().await;
    assert_eq!(
        (push["cmd"].as_str(), push["body"]["state"].as_str()),
        (Some("push_user_scan"), Some("st-42"))
    );
    let old = json!({"op": "scan_login_qr", "sn": "SN1", "userid": "zhangsan", "state": "d", "dynamic_timestamp": START - 1801});
    assert_eq!(cloud.control_text(&old.to_string())["pushed"], false);
    let fresh = json!({"op": "scan_login_qr", "sn": "SN1", "userid": "zhangsan", "state": "d", "dynamic_timestamp": START - 100});
    assert_eq!(cloud.control_text(&fresh.to_string())["pushed"], true);
    // With the C24 rule off, the old one is accepted.
    let broken = MockCloud::new(config(&[MockRule::DynamicQrNoExpiry]));
    let mut b = connect(&broken, "10.0.0.1").await;
    b.login("SN1", "sec1").await;
    assert_eq!(broken.control_text(&old.to_string())["pushed"], true);
}

#[tokio::test(start_paused = true)]
async fn fetch_log_passes_the_hint_verbatim_and_the_upload_is_recorded() {
    let cloud = MockCloud::new(config(&[]));
    let mut a = connect(&cloud, "10.0.0.1").await;
    a.login("SN1", "sec1").await;
    cloud.control_text(r#"{"op":"fetch_log","sn":"SN1","hint":"op_logs wechat"}"#);
    let push = a.recv().await;
    assert_eq!(
        (push["cmd"].as_str(), push["body"]["hint"].as_str()),
        (Some("push_fetch_log"), Some("op_logs wechat"))
    );
    a.ws.send(Message::binary(binary::encode_upload_log(
        "up-9",
        b"2026-01-01T00:00:00Z booted",
    )))
    .await
    .unwrap();
    assert_eq!(code(&a.recv().await), 0);
    let rec = cloud.control_text(r#"{"op":"recorded"}"#);
    assert_eq!(
        (
            rec["logs"][0]["bytes"].as_u64(),
            rec["logs"][0]["start"].as_str()
        ),
        (Some(27), Some("2026-01-01T00:00:00Z booted"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_forgotten_sn_gets_a_corp_of_its_own() {
    let cloud = MockCloud::new(config(&[]));
    cloud.control_text(r#"{"op":"forget","sns":["SN3"]}"#);
    let (mut a, mut b) = (
        connect(&cloud, "10.0.0.1").await,
        connect(&cloud, "10.0.0.3").await,
    );
    a.login("SN1", "sec1").await;
    b.login("SN3", "sec3").await;
    let r = cloud.control_text(r#"{"op":"add_user","sn":"SN3","user":{"userid":"only-in-3"}}"#);
    assert_eq!(r["pushed"], 1, "{r}");
    assert_eq!(
        b.recv().await["body"]["create_user"][0]["userid"],
        "only-in-3"
    );
    assert!(
        a.recv_within(Duration::from_millis(100)).await.is_none(),
        "SN1's corp did not change"
    );
    let in_1 = a
        .call(
            "get_userinfo_by_ids",
            Some(json!({"userids": ["only-in-3"]})),
        )
        .await;
    assert_eq!(in_1["body"]["userinfo"], json!([]));
    assert_eq!(
        cloud.control_text(r#"{"op":"corp"}"#)["perm_version"],
        1,
        "the seed corp is unchanged"
    );
    assert_eq!(
        cloud.control_text(r#"{"op":"corp","sn":"SN3"}"#)["perm_version"],
        2
    );
}
