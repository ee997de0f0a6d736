//! Every [`SimVariant`] makes its choice observably, and stays inside the rules: each is
//! driven by the scripted cloud ([`observe`], exhaustive, so a new variant cannot be added
//! without a check) and lives a while against the built-in mock cloud
//! ([`every_variant_gets_along_with_the_mock`]).

use super::cloud::*;
use crate::profile::fleet::{Fleet, FleetDevice};
use crate::profile::identity::{DeviceIdentity, Secret};
use crate::profile::wecom::signature;
use crate::targets::mock::{ControlRequest, MockCloud, MockConfig};
use crate::targets::sim::{run, Dialer, SimVariant, PING_S};
use crate::wire::transport::{self, BoxIo, TransportError, WsStream};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, SinkExt, StreamExt};
use rstest::rstest;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const S: fn(u64) -> Duration = Duration::from_secs;

fn near(v: f64, want: f64) -> bool {
    (v - want).abs() <= 0.002
}

/// The requests a contact sync makes.
const CONTACT_SYNC: &[&str] = &[
    "get_perm_version",
    "get_userinfo_by_page",
    "get_userinfo_by_ids",
];

async fn observe(variant: SimVariant) {
    let mut cfg = variant_config(variant);
    if variant == SimVariant::PerDevice {
        cfg.seed_secret_no = Some(Secret::new(SEED));
    }
    let mut cloud = Cloud::start(cfg);
    cloud.null_bodies = variant == SimVariant::BodyNull;
    if variant == SimVariant::UserItem {
        cloud.auto.remove("get_perm_version");
    }
    let mut c = cloud.accept().await;
    match variant {
        SimVariant::NoContacts => {
            c.login().await;
            c.push(
                "push_change_contact",
                Some(json!({"perm_version": 1, "create_user": [{"userid": "bob"}]})),
            )
            .await;
            c.push(
                "push_change_userid",
                Some(json!({"perm_version": 2, "old_userid": "bob", "new_userid": "rob"})),
            )
            .await;
            assert!(c.quiet(S(100)).await.is_empty());
            assert!(
                c.cmds()
                    .iter()
                    .all(|cmd| !CONTACT_SYNC.contains(&cmd.as_str())),
                "{:?}",
                c.cmds()
            );
            assert!(c.times("ping").len() >= 3, "keeps the heartbeat");
        }
        SimVariant::PingFirst => {
            c.login().await;
            let done = Instant::now();
            c.quiet(S(60)).await;
            let (ping, perm) = (c.times("ping")[0], c.times("get_perm_version")[0]);
            assert!(
                ping - done <= Duration::from_millis(10),
                "first ping after {:?}",
                ping - done
            );
            assert!(
                near(secs(perm - done), 35.0),
                "contacts after {:?}",
                perm - done
            );
        }
        SimVariant::ReconnectOn600045 => {
            for (n, (interval, wait)) in [(Some(60), 60.0), (None, 60.0), (Some(90), 90.0)]
                .into_iter()
                .enumerate()
            {
                let r = c.expect("register").await;
                c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
                if n == 0 {
                    let r = c.expect("active").await;
                    c.ok(&r, Some(json!({"secret": SECRET}))).await;
                }
                let r = c.expect("subscribe_corp").await;
                c.err(&r, 600045, interval.map(|_| "retry"), interval).await;
                let replied = Instant::now();
                c.expect_closed(S(5)).await;
                c = cloud.accept().await;
                let away = secs(c.accepted - replied);
                assert!(
                    away >= wait && away <= wait + 1.1,
                    "{interval:?}: back after {away} s"
                );
            }
            c.relogin().await;
        }
        SimVariant::Late600002Reconnect => {
            // Two minutes without an interval or with a shorter one; a longer one is a floor.
            for (interval, wait) in [(None, 120.0), (Some(90), 120.0), (Some(150), 150.0)] {
                let r = c.expect("register").await;
                c.err(&r, 600002, interval.map(|_| "reconnect"), interval)
                    .await;
                let replied = Instant::now();
                c.expect_closed(S(3)).await;
                c = cloud.accept().await;
                let away = secs(c.accepted - replied);
                assert!(
                    away >= wait && away <= wait + 1.1,
                    "{interval:?}: back after {away} s"
                );
            }
            c.login().await;
        }
        SimVariant::WaitsServerClose => {
            // The cloud keeps TCP open after the close handshake: the device waits 10 s.
            let r = c.expect("register").await;
            c.err(&r, 600901, Some("reconnect"), Some(1)).await;
            let replied = Instant::now();
            c.expect_closed(S(5)).await;
            let mut c2 = cloud.accept().await;
            let away = secs(c2.accepted - replied);
            assert!(
                (10.0..=12.1).contains(&away),
                "reconnected after {away} s with TCP still open"
            );
            drop(c);
            // The cloud closes TCP: the device goes on at once.
            let r = c2.expect("register").await;
            c2.err(&r, 600901, Some("reconnect"), Some(1)).await;
            let replied = Instant::now();
            c2.expect_closed(S(5)).await;
            drop(c2);
            c = cloud.accept().await;
            let away = secs(c.accepted - replied);
            assert!(away <= 2.1, "reconnected after {away} s with TCP closed");
        }
        SimVariant::PerDevice => {
            let r = c.expect("register").await;
            let (ts, nonce) = (r.body["timestamp"].to_string(), r.body["nonce"].to_string());
            assert_eq!(
                r.body["device_signature"],
                signature::register(SN, SECRET_NO, &ts, &nonce),
                "signed with its own SecretNo"
            );
        }
        SimVariant::LongTimeout => {
            let r = c.expect("register").await;
            let r2 = c.expect("register").await;
            assert!(
                near(secs(r2.at - r.at), 13.0),
                "re-sent after {:?}",
                r2.at - r.at
            );
        }
        SimVariant::LateFirstPing => {
            c.login().await;
            let done = Instant::now();
            c.quiet(S(200)).await;
            let mut t = vec![done];
            t.extend(c.times("ping"));
            let g = gaps(&t);
            assert!(near(g[0], 40.0), "first ping after {} s", g[0]);
            assert!(
                g.len() >= 5 && g[1..].iter().all(|x| (PING_S.0..=PING_S.1).contains(x)),
                "{g:?}"
            );
        }
        SimVariant::DoorOnly => {
            c.login().await;
            c.push(
                "push_change_contact",
                Some(json!({"perm_version": 1, "create_user": [{"userid": "bob"}]})),
            )
            .await;
            c.push(
                "push_visitor_list_change",
                Some(json!({"visitor_version": 1, "create_visitor": [{"userid": "v1/1000006"}]})),
            )
            .await;
            c.push(
                "push_enter_page",
                Some(json!({"page_type": "fa", "oper_id": "op", "userid": "alice"})),
            )
            .await;
            assert!(c.quiet(S(30)).await.is_empty());
            c.push(
                "push_remote_open_door",
                Some(json!({"userid": "alice", "oper_id": "op1"})),
            )
            .await;
            let r = c.expect("report_remote_open_door").await;
            assert_eq!(r.body["oper_id"], "op1");
            c.ok(&r, None).await;
            let r = c.expect("checkin").await;
            assert_eq!(r.body["checkin_data"][0]["pass_method"], 3);
            c.ok(&r, None).await;
            c.push("push_update_firmware", None).await;
            c.expect("get_firmware_info").await;
            assert!(
                c.cmds()
                    .iter()
                    .all(|cmd| !CONTACT_SYNC.contains(&cmd.as_str())),
                "{:?}",
                c.cmds()
            );
        }
        SimVariant::Reactivates => {
            c.login().await;
            c.close().await;
            let mut c = cloud.accept().await;
            let r = c.expect("register").await;
            c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
            let r = c.expect("active").await;
            assert_eq!(r.body["active_code"], ACTIVE_CODE);
            c.ok(&r, Some(json!({"secret": SECRET}))).await;
            c.subscribe().await;
        }
        SimVariant::BodyNull => {
            let r = c.expect("register").await;
            assert!(!r.body_null && r.body.is_object());
            c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
            let r = c.expect("active").await;
            c.ok(&r, Some(json!({"secret": SECRET}))).await;
            c.subscribe().await;
            c.quiet(S(45)).await;
            let nulls: Vec<(&str, bool)> = c
                .log
                .iter()
                .map(|r| (r.cmd.as_str(), r.body_null))
                .collect();
            for cmd in ["ping", "get_perm_version"] {
                assert!(nulls.contains(&(cmd, true)), "{cmd}: {nulls:?}");
            }
        }
        SimVariant::AdminFirst => {
            c.login().await;
            let r = c.expect("get_admin_info").await;
            c.err(&r, 600905, Some("retry"), Some(-1)).await;
            c.quiet(S(5)).await;
            let business: Vec<String> = c
                .cmds()
                .into_iter()
                .filter(|c| {
                    c != "ping" && c != "register" && c != "active" && c != "subscribe_corp"
                })
                .collect();
            assert_eq!(business, ["get_admin_info", "get_perm_version"]);
        }
        SimVariant::UserItem => {
            c.login().await;
            let r = c.expect("get_perm_version").await;
            c.ok(&r, Some(json!({"perm_version": 1}))).await;
            let r = c.expect("get_userinfo_by_page").await;
            c.ok(
                &r,
                Some(json!({"perm_version": 1, "is_last": true, "userinfo": users(&["carol"])})),
            )
            .await;
            c.push(
                "push_change_contact",
                Some(json!({"perm_version": 2, "create_user": [{"userid": "bob"}], "update_user": [{"userid": "carol"}]})),
            )
            .await;
            let r = c.expect("get_userinfo_by_ids").await;
            assert!(r.body.get("userids").is_none(), "{}", r.body);
            let ids: Vec<&str> = r.body["user_item"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["userid"].as_str().unwrap())
                .collect();
            assert_eq!(ids, ["carol", "bob"]);
            c.ok(&r, Some(json!({"userinfo": []}))).await;
        }
    }
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn every_variant_makes_its_choice_observably() {
    for &variant in SimVariant::ALL {
        eprintln!("variant {variant} ({})", variant.allowed_by());
        observe(variant).await;
    }
}

/// The reference device does not wait for the server's TCP close (the variant's contrast).
#[tokio::test(start_paused = true)]
async fn the_reference_reconnects_without_waiting_for_tcp_close() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept().await;
    let r = c.expect("register").await;
    c.err(&r, 600901, Some("reconnect"), Some(1)).await;
    let replied = Instant::now();
    c.expect_closed(S(5)).await;
    let c2 = cloud.accept().await;
    assert!(
        secs(c2.accepted - replied) <= 4.1,
        "{:?}",
        c2.accepted - replied
    );
    cloud.stop().await;
}

/// One frame through the relay, on the scenario clock.
#[derive(Clone, Debug)]
struct Seen {
    at: Instant,
    from_device: bool,
    frame: Value,
}

/// Dials the mock cloud through a relay that records every text frame both ways.
struct TapDialer {
    cloud: Arc<MockCloud>,
    dials: AtomicUsize,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Dialer for TapDialer {
    fn dial(&self) -> BoxFuture<'static, Result<WsStream, TransportError>> {
        self.dials.fetch_add(1, Ordering::SeqCst);
        let (cloud, seen) = (self.cloud.clone(), self.seen.clone());
        async move {
            let (device_end, relay_in) = tokio::io::duplex(1 << 20);
            let (relay_out, mock_end) = tokio::io::duplex(1 << 20);
            tokio::spawn(cloud.serve_connection(mock_end, "127.0.0.1:40000".parse().unwrap()));
            tokio::spawn(async move {
                let Ok(from_device) = tokio_tungstenite::accept_async(relay_in).await else { return };
                let Ok((to_mock, _)) = tokio_tungstenite::client_async("ws://mock.test/", relay_out).await else { return };
                let (mut dw, mut dr) = from_device.split();
                let (mut mw, mut mr) = to_mock.split();
                let record = |from_device: bool, m: &Message| {
                    if let Message::Text(t) = m {
                        let frame = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                        seen.lock().unwrap().push(Seen { at: Instant::now(), from_device, frame });
                    }
                };
                loop {
                    tokio::select! {
                        m = dr.next() => match m {
                            Some(Ok(m)) => { record(true, &m); if mw.send(m).await.is_err() { break } }
                            _ => break,
                        },
                        m = mr.next() => match m {
                            Some(Ok(m)) => { record(false, &m); if dw.send(m).await.is_err() { break } }
                            _ => break,
                        },
                    }
                }
            });
            let io: BoxIo = Box::new(device_end);
            transport::handshake("ws://mock.test/", io, None).await
        }
        .boxed()
    }
}

/// What the device sent, with the errcode of the mock's reply (`None`: unanswered).
#[derive(Debug)]
struct Sent {
    at: Instant,
    cmd: String,
    frame: Value,
    errcode: Option<i64>,
}

fn sent(seen: &[Seen]) -> Vec<Sent> {
    let reply = |req_id: &Value| {
        seen.iter()
            .find(|s| {
                !s.from_device
                    && s.frame.pointer("/headers/req_id") == Some(req_id)
                    && s.frame.get("cmd").is_none()
            })
            .and_then(|s| s.frame["errcode"].as_i64())
    };
    seen.iter()
        .filter(|s| s.from_device)
        .filter_map(|s| {
            let cmd = s.frame["cmd"].as_str()?.to_string();
            Some(Sent {
                at: s.at,
                cmd,
                frame: s.frame.clone(),
                errcode: reply(&s.frame["headers"]["req_id"]),
            })
        })
        .collect()
}

/// Every variant against the mock cloud: logs in on its first connection, keeps it with
/// pings for five minutes without reconnecting, and makes its choice; the mock takes it.
#[rstest]
#[case::no_contacts(SimVariant::NoContacts)]
#[case::ping_first(SimVariant::PingFirst)]
#[case::reconnect_on_600045(SimVariant::ReconnectOn600045)]
#[case::waits_server_close(SimVariant::WaitsServerClose)]
#[case::per_device(SimVariant::PerDevice)]
#[case::long_timeout(SimVariant::LongTimeout)]
#[case::late_first_ping(SimVariant::LateFirstPing)]
#[case::door_only(SimVariant::DoorOnly)]
#[case::reactivates(SimVariant::Reactivates)]
#[case::body_null(SimVariant::BodyNull)]
#[case::admin_first(SimVariant::AdminFirst)]
#[case::user_item(SimVariant::UserItem)]
#[case::late_600002_reconnect(SimVariant::Late600002Reconnect)]
#[tokio::test(start_paused = true)]
async fn every_variant_gets_along_with_the_mock(#[case] variant: SimVariant) {
    let sn = "SIM-MOCK-V";
    let fleet = Fleet {
        devices: vec![FleetDevice {
            identity: DeviceIdentity::new(sn, "per-device-secret-no"),
            bound: true,
        }],
        seed_secret_no: Some(Secret::new("mock-seed")),
    };
    let cloud = MockCloud::new(MockConfig {
        fleet,
        start_unix: START,
        ..MockConfig::default()
    });
    if variant == SimVariant::LongTimeout {
        cloud
            .control(ControlRequest::SwallowReply {
                sn: sn.into(),
                cmd: "get_perm_version".into(),
            })
            .unwrap();
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let dialer = Arc::new(TapDialer {
        cloud: cloud.clone(),
        dials: AtomicUsize::new(0),
        seen: seen.clone(),
    });
    let mut cfg = variant_config(variant);
    cfg.identity = DeviceIdentity::new(sn, "per-device-secret-no");
    // Seed-provisioned unless the variant says otherwise (then the identity's SecretNo is used).
    cfg.seed_secret_no = Some(Secret::new("mock-seed"));
    let (_control, rx) = tokio::sync::mpsc::unbounded_channel();
    let device = tokio::spawn(run(cfg, dialer.clone(), rx));
    if variant == SimVariant::UserItem {
        tokio::time::sleep(S(60)).await;
        let user =
            serde_json::from_value(json!({"userid": "newcomer", "name": "Newcomer"})).unwrap();
        cloud
            .control(ControlRequest::AddUser {
                user,
                sn: Some(sn.into()),
            })
            .unwrap();
    }
    tokio::time::sleep(S(300)).await;
    if variant == SimVariant::Reactivates {
        cloud
            .control(ControlRequest::CloseLink { sn: sn.into() })
            .unwrap();
        tokio::time::sleep(S(60)).await;
    }
    let reqs = sent(&seen.lock().unwrap());
    let cmds: Vec<&str> = reqs.iter().map(|r| r.cmd.as_str()).collect();
    let ok = |cmd: &str| {
        reqs.iter()
            .filter(|r| r.cmd == cmd && r.errcode == Some(0))
            .count()
    };
    assert!(!device.is_finished());
    device.abort();

    let want_dials = if variant == SimVariant::Reactivates {
        2
    } else {
        1
    };
    assert_eq!(dialer.dials.load(Ordering::SeqCst), want_dials, "{cmds:?}");
    assert_eq!(ok("subscribe_corp"), want_dials, "{cmds:?}");
    assert!(ok("ping") >= 6, "{cmds:?}");
    assert!(
        reqs.iter()
            .filter(|r| r.errcode.is_some())
            .all(|r| r.errcode == Some(0) || r.cmd == "get_admin_info"),
        "{reqs:?}"
    );
    let login = reqs
        .iter()
        .find(|r| r.cmd == "subscribe_corp")
        .map(|r| r.at)
        .unwrap();
    let first = |cmd: &str| {
        reqs.iter()
            .find(|r| r.cmd == cmd)
            .map(|r| secs(r.at - login))
    };
    match variant {
        SimVariant::NoContacts | SimVariant::DoorOnly => {
            assert!(first("get_perm_version").is_none(), "{cmds:?}")
        }
        SimVariant::PingFirst => {
            assert!(
                first("ping").unwrap() < 0.1 && first("get_perm_version").unwrap() >= 35.0,
                "{cmds:?}"
            );
        }
        SimVariant::PerDevice => {
            assert!(
                !cmds.contains(&"get_secret_no") && cmds[0] == "register",
                "{cmds:?}"
            );
        }
        SimVariant::LongTimeout => {
            let t: Vec<Instant> = reqs
                .iter()
                .filter(|r| r.cmd == "get_perm_version")
                .map(|r| r.at)
                .collect();
            assert!(t.len() == 2 && near(secs(t[1] - t[0]), 13.0), "{t:?}");
        }
        SimVariant::LateFirstPing => assert!(near(first("ping").unwrap(), 40.0), "{cmds:?}"),
        SimVariant::Reactivates => assert_eq!(ok("active"), 2, "{cmds:?}"),
        SimVariant::BodyNull => {
            let ping = reqs.iter().find(|r| r.cmd == "ping").unwrap();
            assert!(
                ping.frame.get("body").is_some_and(Value::is_null),
                "{:?}",
                ping.frame
            );
        }
        SimVariant::AdminFirst => {
            let admin = cmds.iter().position(|c| *c == "get_admin_info").unwrap();
            assert_eq!(
                cmds[admin + 1..].iter().find(|c| **c != "ping"),
                Some(&"get_perm_version"),
                "{cmds:?}"
            );
        }
        SimVariant::UserItem => {
            let pull = reqs
                .iter()
                .find(|r| r.cmd == "get_userinfo_by_ids")
                .unwrap_or_else(|| panic!("{cmds:?}"));
            assert_eq!(pull.errcode, Some(0), "{cmds:?}");
            assert_eq!(
                pull.frame["body"]["user_item"],
                json!([{"userid": "newcomer", "user_type": 0}])
            );
        }
        SimVariant::ReconnectOn600045
        | SimVariant::WaitsServerClose
        | SimVariant::Late600002Reconnect => {
            assert_eq!(
                &cmds[..4],
                ["get_secret_no", "register", "active", "subscribe_corp"]
            );
        }
    }
}
