use super::effects::SELFHELP_PUSH;
use super::*;
use crate::profile::fleet::{Fleet, FleetDevice};
use crate::profile::identity::{DeviceIdentity, Secret};
use crate::profile::wecom::catalog::{
    INVALID_SIGNATURE, SECRET_NO_AFTER_REGISTER, STALE_TIMESTAMP, UNKNOWN_DEVICE,
};
use crate::profile::wecom::catalog::{MALFORMED_REQUEST, NOT_IMPLEMENTED};
use crate::profile::wecom::{binary, envelope, signature};
use crate::targets::mock::config::MockRule;
use crate::targets::mock::lifecycle::Phase;
use crate::targets::mock::registry::{LinkCommand, LiveLink};
use crate::targets::mock::MockConfig;
use crate::targets::mock::{MockCloud, CLOSE_KICKED, CORP_NAME};
use rstest::rstest;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

const START: u64 = 1_700_000_000;

fn cloud(disabled: &[MockRule]) -> Arc<MockCloud> {
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
        ],
        seed_secret_no: Some(Secret::new("seed")),
    };
    MockCloud::new(MockConfig {
        fleet,
        start_unix: START,
        disabled_rules: disabled.iter().copied().collect::<BTreeSet<_>>(),
        ..MockConfig::default()
    })
}

fn conn(ip: &str) -> Conn {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::mem::forget(rx); // keep the channel open for the test's lifetime
    Conn::new(rand::random(), ip.parse().unwrap(), tx)
}

fn send(c: &MockCloud, conn: &mut Conn, frame: Value) -> Vec<Value> {
    c.on_text(conn, &frame.to_string()).frames
}

fn one(c: &MockCloud, conn: &mut Conn, frame: Value) -> Value {
    let mut frames = send(c, conn, frame);
    assert_eq!(frames.len(), 1, "{frames:?}");
    frames.remove(0)
}

fn register_body(sn: &str, secret_no: &str, ts: u64) -> Value {
    json!({"sn": sn, "timestamp": ts, "nonce": 42, "device_signature": signature::register(sn, secret_no, &ts.to_string(), "42")})
}

/// `register_body` with `timestamp` and `nonce` as numeric strings, as the C firmware sends.
fn register_body_strings(sn: &str, secret_no: &str, ts: u64) -> Value {
    let mut b = register_body(sn, secret_no, ts);
    b["timestamp"] = json!(ts.to_string());
    b["nonce"] = json!("42");
    b
}

fn req(cmd: &str, body: Option<Value>) -> Value {
    envelope::request(cmd, &format!("r-{cmd}"), body)
}

fn errcode(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap()
}

/// Drives one connection to `phase` for SN1; returns (active_code, secret).
fn login(c: &MockCloud, conn: &mut Conn, phase: Phase) -> (String, String) {
    let r = one(
        c,
        conn,
        req("register", Some(register_body("SN1", "sec1", START))),
    );
    assert_eq!(errcode(&r), 0, "{r}");
    let code = r["body"]["active_code"].as_str().unwrap().to_string();
    if phase == Phase::Registered {
        return (code, String::new());
    }
    let r = one(c, conn, req("active", Some(json!({"active_code": code}))));
    let secret = r["body"]["secret"].as_str().unwrap().to_string();
    if phase == Phase::Activated {
        return (code, secret);
    }
    let r = one(
        c,
        conn,
        req(
            "subscribe_corp",
            Some(json!({"secret": secret, "firmware_version": "1"})),
        ),
    );
    assert_eq!(errcode(&r), 0, "{r}");
    (code, secret)
}

/// C1/C2/C12: replies echo req_id, never carry cmd, errors carry advice.
fn assert_well_formed(frame: &Value, req_id: &str) {
    let v = crate::profile::wecom::rules::check_reply(frame, req_id, true);
    assert!(v.is_empty(), "{frame}: {v:?}");
}

#[rstest]
// C4: register error paths.
#[case::c4_timestamp_not_numeric(json!({"sn":"SN1","timestamp":"17e8","nonce":42,"device_signature":"x"}), MALFORMED_REQUEST)]
#[case::c4_timestamp_negative(json!({"sn":"SN1","timestamp":"-1","nonce":42,"device_signature":"x"}), MALFORMED_REQUEST)]
#[case::c4_nonce_not_numeric(json!({"sn":"SN1","timestamp":START,"nonce":"4x2","device_signature":"x"}), MALFORMED_REQUEST)]
#[case::c4_nonce_empty(json!({"sn":"SN1","timestamp":START,"nonce":"","device_signature":"x"}), MALFORMED_REQUEST)]
#[case::c4_nonce_object(json!({"sn":"SN1","timestamp":START,"nonce":{},"device_signature":"x"}), MALFORMED_REQUEST)]
// What shipped firmware sends: numeric strings, checked like numbers.
#[case::strings_accepted(register_body_strings("SN1", "sec1", START), 0)]
#[case::strings_stale(register_body_strings("SN1", "sec1", START - 301), STALE_TIMESTAMP)]
#[case::strings_future(register_body_strings("SN1", "sec1", START + 301), STALE_TIMESTAMP)]
#[case::strings_bad_signature(register_body_strings("SN1", "wrong", START), INVALID_SIGNATURE)]
#[case::strings_edge_of_tolerance(register_body_strings("SN1", "sec1", START + 300), 0)]
#[case::c4_sn_missing(json!({"timestamp":START,"nonce":42,"device_signature":"x"}), MALFORMED_REQUEST)]
#[case::c4_unknown(register_body("NOPE", "sec1", START), UNKNOWN_DEVICE)]
#[case::c4_stale(register_body("SN1", "sec1", START - 301), STALE_TIMESTAMP)]
#[case::c4_future(register_body("SN1", "sec1", START + 301), STALE_TIMESTAMP)]
#[case::c4_signature(register_body("SN1", "wrong", START), INVALID_SIGNATURE)]
#[case::c4_edge_of_tolerance(register_body("SN1", "sec1", START - 300), 0)]
fn register_paths(#[case] body: Value, #[case] expected: i64) {
    let c = cloud(&[]);
    let mut k = conn("10.0.0.1");
    let r = one(&c, &mut k, req("register", Some(body)));
    assert_eq!(errcode(&r), expected, "{r}");
    assert_well_formed(&r, "r-register");
    if expected == 0 {
        assert!(r["body"]["active_code"].is_string());
    }
}

#[test]
fn c9_resent_register_active_subscribe() {
    let c = cloud(&[]);
    let mut k = conn("10.0.0.1");
    let (code, secret) = login(&c, &mut k, Phase::Registered);
    assert_eq!(
        errcode(&one(
            &c,
            &mut k,
            req("register", Some(register_body("SN1", "sec1", START)))
        )),
        600012
    );
    let r = one(
        &c,
        &mut k,
        req("active", Some(json!({"active_code": code}))),
    );
    let secret2 = r["body"]["secret"].as_str().unwrap().to_string();
    assert!(secret.is_empty());
    assert_eq!(errcode(&one(&c, &mut k, req("register", None))), 600053);
    assert_eq!(
        errcode(&one(
            &c,
            &mut k,
            req("active", Some(json!({"active_code": code})))
        )),
        600053
    );
    let r = one(
        &c,
        &mut k,
        req(
            "subscribe_corp",
            Some(json!({"secret": secret2, "firmware_version": "1"})),
        ),
    );
    assert_eq!(errcode(&r), 0);
    assert!(
        r.get("body").is_none(),
        "subscribe_corp replies without a body"
    );
    for cmd in ["register", "active", "subscribe_corp"] {
        let r = one(
            &c,
            &mut k,
            req(
                cmd,
                Some(json!({"secret": secret2, "firmware_version": "1"})),
            ),
        );
        assert_eq!(errcode(&r), 600054, "{cmd}: {r}");
        assert_well_formed(&r, &format!("r-{cmd}"));
    }
    assert_eq!(k.phase, Phase::Subscribed);
}

#[test]
fn c6_active_paths() {
    let c = cloud(&[]);
    let mut fresh = conn("10.0.0.1");
    assert_eq!(
        errcode(&one(
            &c,
            &mut fresh,
            req("active", Some(json!({"active_code": "x"})))
        )),
        600014
    );
    let mut k = conn("10.0.0.1");
    login(&c, &mut k, Phase::Registered);
    assert_eq!(
        errcode(&one(&c, &mut k, req("active", None))),
        MALFORMED_REQUEST
    );
    assert_eq!(
        errcode(&one(
            &c,
            &mut k,
            req("active", Some(json!({"active_code": "wrong"})))
        )),
        600003
    );
    // SN2 is unbound: 600004 until bound (FAQ "激活设备一直报错 600004").
    let mut u = conn("10.0.0.2");
    let r = one(
        &c,
        &mut u,
        req("register", Some(register_body("SN2", "sec2", START))),
    );
    let code = r["body"]["active_code"].as_str().unwrap().to_string();
    let r = one(
        &c,
        &mut u,
        req("active", Some(json!({"active_code": code}))),
    );
    assert_eq!(errcode(&r), 600004);
    assert_well_formed(&r, "r-active");
    c.shared().registry.set_bound("SN2", true);
    let r = one(
        &c,
        &mut u,
        req("active", Some(json!({"active_code": code}))),
    );
    assert!(r["body"]["secret"].is_string(), "{r}");
}

#[test]
fn subscribe_paths() {
    let c = cloud(&[]);
    let sub = |s: &str| {
        req(
            "subscribe_corp",
            Some(json!({"secret": s, "firmware_version": "1"})),
        )
    };
    let mut fresh = conn("10.0.0.1");
    assert_eq!(errcode(&one(&c, &mut fresh, sub("x"))), 600014);
    let mut k = conn("10.0.0.2");
    login(&c, &mut k, Phase::Registered);
    assert_eq!(
        errcode(&one(
            &c,
            &mut k,
            req("subscribe_corp", Some(json!({"secret": "x"})))
        )),
        MALFORMED_REQUEST
    );
    assert_eq!(
        errcode(&one(&c, &mut k, sub("x"))),
        600016,
        "never activated"
    );
    let mut k2 = conn("10.0.0.2");
    let (_, secret) = login(&c, &mut k2, Phase::Activated);
    let mut k3 = conn("10.0.0.2");
    assert_eq!(
        errcode(&one(
            &c,
            &mut k3,
            req("register", Some(register_body("SN1", "sec1", START)))
        )),
        0
    );
    assert_eq!(errcode(&one(&c, &mut k3, sub("wrong"))), 600004);
    // D10: with a cached secret a registered connection subscribes without `active`.
    assert_eq!(errcode(&one(&c, &mut k3, sub(&secret))), 0);
    c.shared().registry.set_bound("SN1", false);
    let mut k4 = conn("10.0.0.2");
    one(
        &c,
        &mut k4,
        req("register", Some(register_body("SN1", "sec1", START))),
    );
    assert_eq!(
        errcode(&one(&c, &mut k4, sub(&secret))),
        600004,
        "unbound: secret revoked"
    );
}

#[test]
fn c5_get_secret_no() {
    let c = cloud(&[]);
    let mut k = conn("10.0.0.1");
    let body = |sn: &str, seed: &str, ts: u64| json!({"sn": sn, "timestamp": ts, "nonce": 7, "device_signature": signature::get_secret_no(sn, seed, &ts.to_string(), "7")});
    assert_eq!(
        errcode(&one(
            &c,
            &mut k,
            req("get_secret_no", Some(body("SN1", "nope", START)))
        )),
        INVALID_SIGNATURE
    );
    assert_eq!(
        errcode(&one(
            &c,
            &mut k,
            req("get_secret_no", Some(body("SN1", "seed", START - 1000)))
        )),
        STALE_TIMESTAMP
    );
    assert_eq!(
        errcode(&one(
            &c,
            &mut k,
            req("get_secret_no", Some(body("ZZ", "seed", START)))
        )),
        UNKNOWN_DEVICE
    );
    assert_eq!(
        errcode(&one(
            &c,
            &mut k,
            req("get_secret_no", Some(json!({"sn": "SN1"})))
        )),
        MALFORMED_REQUEST
    );
    let r = one(
        &c,
        &mut k,
        req("get_secret_no", Some(body("SN1", "seed", START))),
    );
    let per_device = r["body"]["secret_no"].as_str().unwrap().to_string();
    // register accepts the per-device SecretNo.
    let r = one(
        &c,
        &mut k,
        req("register", Some(register_body("SN1", &per_device, START))),
    );
    assert_eq!(errcode(&r), 0, "{r}");
    let mut k2 = conn("10.0.0.9");
    let r = one(
        &c,
        &mut k2,
        req("get_secret_no", Some(body("SN1", "seed", START))),
    );
    assert_eq!(errcode(&r), SECRET_NO_AFTER_REGISTER);
    assert_eq!(r["interval"], -1);
}

#[rstest]
#[case::get_corp_info("get_corp_info", None)]
#[case::get_perm_version("get_perm_version", None)]
#[case::checkin("checkin", Some(json!({"checkin_data": []})))]
#[case::get_userinfo_by_page("get_userinfo_by_page", Some(json!({"offset": 0, "limit": 10})))]
#[case::get_firmware_info("get_firmware_info", None)]
#[case::selfhelp_notify("selfhelp_notify", Some(json!({"data": "x"})))]
fn c14_business_needs_login(#[case] cmd: &str, #[case] body: Option<Value>) {
    let c = cloud(&[]);
    let mut k = conn("10.0.0.1");
    assert_eq!(errcode(&one(&c, &mut k, req(cmd, body.clone()))), 600014);
    login(&c, &mut k, Phase::Registered);
    assert_eq!(errcode(&one(&c, &mut k, req(cmd, body.clone()))), 600020);
    let mut k2 = conn("10.0.0.1");
    login(&c, &mut k2, Phase::Activated);
    let r = one(&c, &mut k2, req(cmd, body.clone()));
    assert_eq!(errcode(&r), 600020);
    assert_well_formed(&r, &format!("r-{cmd}"));
}

#[test]
fn business_after_login() {
    let c = cloud(&[]);
    let mut k = conn("10.0.0.1");
    login(&c, &mut k, Phase::Subscribed);
    assert_eq!(
        one(&c, &mut k, req("get_corp_info", None))["body"]["corp_name"],
        CORP_NAME
    );
    assert_eq!(
        one(&c, &mut k, req("get_perm_version", None))["body"]["perm_version"],
        1,
        "the default corp's"
    );
    // A business command without a field the catalog requires is malformed.
    let r = one(&c, &mut k, req("checkin", Some(json!({}))));
    assert_eq!(errcode(&r), MALFORMED_REQUEST, "{r}");
    let r = one(
        &c,
        &mut k,
        req(
            "get_userinfo_by_page",
            Some(json!({"offset": 0, "limit": "ten"})),
        ),
    );
    assert_eq!(
        errcode(&r),
        MALFORMED_REQUEST,
        "a field of another type than the catalog's: {r}"
    );
    let r = one(&c, &mut k, req("no_such_cmd", None));
    assert_eq!(errcode(&r), NOT_IMPLEMENTED);
    assert_well_formed(&r, "r-no_such_cmd");
    // C23: selfhelp_notify replies ok, then pushes the same data back.
    let frames = send(
        &c,
        &mut k,
        req("selfhelp_notify", Some(json!({"data": "{\"a\":1}"}))),
    );
    assert_eq!(frames.len(), 2);
    assert_well_formed(&frames[0], "r-selfhelp_notify");
    assert_eq!(frames[1]["cmd"], SELFHELP_PUSH);
    assert_eq!(frames[1]["body"]["data"], "{\"a\":1}");
    assert!(crate::profile::wecom::rules::check_push(&frames[1]).is_empty());
    assert_eq!(
        errcode(&one(
            &c,
            &mut k,
            req("selfhelp_notify", Some(json!({"data": {"a": 1}})))
        )),
        MALFORMED_REQUEST
    );
}

#[test]
fn ping_and_timestamp_any_time() {
    let c = cloud(&[]);
    let mut k = conn("10.0.0.1");
    let r = one(&c, &mut k, req("ping", None));
    assert_eq!(errcode(&r), 0);
    assert!(r.get("body").is_none());
    assert_eq!(
        one(&c, &mut k, req("get_timestamp", None))["body"]["timestamp"],
        START
    );
}

#[rstest]
#[case::not_json("{not json", false)]
#[case::not_object("[1,2]", false)]
#[case::no_cmd(r#"{"headers":{"req_id":"q1"}}"#, true)]
#[case::cmd_number(r#"{"cmd":5,"headers":{"req_id":"q1"}}"#, true)]
#[case::no_headers(r#"{"cmd":"ping"}"#, false)]
#[case::req_id_number(r#"{"cmd":"ping","headers":{"req_id":5}}"#, false)]
#[case::body_string(r#"{"cmd":"ping","headers":{"req_id":"q1"},"body":"x"}"#, true)]
#[case::stray_reply(r#"{"headers":{"req_id":"q1"},"errcode":0,"errmsg":"ok"}"#, true)]
#[case::text_upload_log(r#"{"cmd":"upload_log","headers":{"req_id":"q1"}}"#, true)]
fn malformed_frames_get_600904(#[case] text: &str, #[case] has_req_id: bool) {
    let c = cloud(&[]);
    let mut k = conn("10.0.0.1");
    login(&c, &mut k, Phase::Subscribed);
    let frames = c.on_text(&mut k, text).frames;
    assert_eq!(frames.len(), 1, "{text}");
    let r = &frames[0];
    assert_eq!(errcode(r), MALFORMED_REQUEST);
    assert!(r.get("cmd").is_none());
    assert!(r["suggestion"].is_string() && r["interval"].is_i64(), "{r}");
    assert_eq!(r.pointer("/headers/req_id").is_some(), has_req_id, "{r}");
}

/// `"body": null` on a parameterless request is taken as no body, as the real cloud does.
#[rstest]
#[case::ping("ping", 0)]
#[case::get_timestamp("get_timestamp", 0)]
#[case::get_perm_version("get_perm_version", 0)]
#[case::get_corp_info("get_corp_info", 0)]
#[case::register_still_needs_a_body("register", MALFORMED_REQUEST)]
fn body_null_is_no_body(#[case] cmd: &str, #[case] expected: i64) {
    let c = cloud(&[]);
    let mut k = conn("10.0.0.1");
    login(&c, &mut k, Phase::Subscribed);
    let mut k2 = conn("10.0.0.2");
    let k = if cmd == "register" { &mut k2 } else { &mut k };
    let text = format!(r#"{{"cmd":"{cmd}","headers":{{"req_id":"n1"}},"body":null}}"#);
    let frames = c.on_text(k, &text).frames;
    assert_eq!(frames.len(), 1, "{text}");
    assert_eq!(errcode(&frames[0]), expected, "{}", frames[0]);
    assert_well_formed(&frames[0], "n1");
}

#[test]
fn push_acknowledgements_are_accepted() {
    let c = cloud(&[]);
    let mut k = conn("10.0.0.1");
    k.sent_push(&envelope::push("push_bind_corp", "p-1", None));
    assert!(c
        .on_text(
            &mut k,
            r#"{"headers":{"req_id":"p-1"},"errcode":0,"errmsg":"ok"}"#
        )
        .frames
        .is_empty());
}

#[test]
fn binary_frames() {
    let c = cloud(&[]);
    let mut k = conn("10.0.0.1");
    let up = binary::encode_upload_log("u1", b"log line");
    assert_eq!(errcode(&c.on_binary(&mut k, &up).frames[0]), 600014);
    login(&c, &mut k, Phase::Subscribed);
    let r = &c.on_binary(&mut k, &up).frames[0];
    assert_eq!(errcode(r), 0);
    assert_well_formed(r, "u1");
    let r = &c.on_binary(&mut k, b"\x01\x00garbage").frames[0];
    assert_eq!(errcode(r), MALFORMED_REQUEST);
    assert!(r.get("headers").is_none());
}

#[test]
fn c10_c13_sn_binding() {
    let c = cloud(&[]);
    let mut a = conn("10.0.0.1");
    login(&c, &mut a, Phase::Registered);
    let mut b = conn("10.0.0.2");
    let r = one(
        &c,
        &mut b,
        req("register", Some(register_body("SN1", "sec1", START))),
    );
    assert_eq!(errcode(&r), 600002);
    assert_eq!(
        (r["suggestion"].as_str(), r["interval"].as_i64()),
        (Some("reconnect"), Some(90))
    );
    // Same IP: the new link wins.
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    a.tx = tx.clone();
    c.shared().registry.take_live("SN1");
    c.shared().registry.register(
        "SN1",
        LiveLink {
            conn_id: a.id,
            ip: a.ip,
            tx,
        },
    );
    let mut same = conn("10.0.0.1");
    assert_eq!(
        errcode(&one(
            &c,
            &mut same,
            req("register", Some(register_body("SN1", "sec1", START)))
        )),
        0
    );
    assert_eq!(
        rx.try_recv().unwrap(),
        LinkCommand::Close {
            code: 4001,
            reason: CLOSE_KICKED.1
        }
    );
    assert_eq!(c.shared().registry.live("SN1").unwrap().conn_id, same.id);
}

#[test]
fn c11_rate_limit_counts_every_attempt() {
    let c = cloud(&[]);
    let mut k = conn("10.0.0.1");
    for i in 0..5 {
        let r = one(
            &c,
            &mut k,
            req(
                "subscribe_corp",
                Some(json!({"secret": "x", "firmware_version": "1"})),
            ),
        );
        assert_eq!(errcode(&r), 600014, "attempt {i}");
    }
    let r = one(
        &c,
        &mut k,
        req(
            "subscribe_corp",
            Some(json!({"secret": "x", "firmware_version": "1"})),
        ),
    );
    assert_eq!(errcode(&r), 600045);
    assert_eq!(
        (r["suggestion"].as_str(), r["interval"].as_i64()),
        (Some("retry"), Some(60))
    );
}

/// Every reply knob breaks the check it exists for, and nothing else panics.
#[rstest]
#[case(MockRule::NoReqIdEcho, "C1")]
#[case(MockRule::CmdInReply, "C2")]
#[case(MockRule::NoErrorAdvice, "C12")]
fn reply_knobs(#[case] rule: MockRule, #[case] broken: &str) {
    let c = cloud(&[rule]);
    let mut k = conn("10.0.0.1");
    let r = one(&c, &mut k, req("get_corp_info", None));
    let v = crate::profile::wecom::rules::check_reply(&r, "r-get_corp_info", true);
    assert!(v.iter().any(|v| v.rule == broken), "{r}: {v:?}");
}

#[rstest]
#[case(MockRule::SilentOnMalformed, "{oops")]
#[case(
    MockRule::NotImplementedSilent,
    r#"{"cmd":"frobnicate","headers":{"req_id":"x"}}"#
)]
fn silence_knobs(#[case] rule: MockRule, #[case] text: &str) {
    assert_eq!(
        cloud(&[]).on_text(&mut conn("10.0.0.1"), text).frames.len(),
        1
    );
    assert!(cloud(&[rule])
        .on_text(&mut conn("10.0.0.1"), text)
        .frames
        .is_empty());
}

#[test]
fn behaviour_knobs() {
    // no-selfhelp-echo
    let c = cloud(&[MockRule::NoSelfhelpEcho]);
    let mut k = conn("10.0.0.1");
    login(&c, &mut k, Phase::Subscribed);
    assert_eq!(
        send(
            &c,
            &mut k,
            req("selfhelp_notify", Some(json!({"data": "d"})))
        )
        .len(),
        1
    );
    // no-order-check: active on a fresh connection with a code issued elsewhere.
    let c = cloud(&[MockRule::NoOrderCheck]);
    let mut k = conn("10.0.0.1");
    let (code, _) = login(&c, &mut k, Phase::Registered);
    let mut fresh = conn("10.0.0.1");
    assert!(one(
        &c,
        &mut fresh,
        req("active", Some(json!({"active_code": code})))
    )["body"]["secret"]
        .is_string());
    assert_eq!(errcode(&one(&c, &mut fresh, req("get_corp_info", None))), 0);
    // no-sn-binding: another IP registers the live SN.
    let c = cloud(&[MockRule::NoSnBinding]);
    let mut a = conn("10.0.0.1");
    login(&c, &mut a, Phase::Registered);
    let mut b = conn("10.0.0.2");
    assert_eq!(
        errcode(&one(
            &c,
            &mut b,
            req("register", Some(register_body("SN1", "sec1", START)))
        )),
        0
    );
    // secret-no-after-register
    let c = cloud(&[MockRule::SecretNoAfterRegister]);
    let mut k = conn("10.0.0.1");
    login(&c, &mut k, Phase::Registered);
    let body = json!({"sn": "SN1", "timestamp": START, "nonce": 7,
                      "device_signature": signature::get_secret_no("SN1", "seed", &START.to_string(), "7")});
    assert_eq!(
        errcode(&one(&c, &mut k, req("get_secret_no", Some(body)))),
        0
    );
    // unbound-active-succeeds
    let c = cloud(&[MockRule::UnboundActiveSucceeds]);
    let mut u = conn("10.0.0.2");
    let r = one(
        &c,
        &mut u,
        req("register", Some(register_body("SN2", "sec2", START))),
    );
    let r = one(
        &c,
        &mut u,
        req(
            "active",
            Some(json!({"active_code": r["body"]["active_code"]})),
        ),
    );
    assert!(r["body"]["secret"].is_string(), "{r}");
}

#[test]
fn swallow_and_delay_are_per_sn() {
    let c = cloud(&[]);
    c.shared().faults.swallow_next("SN1", "register");
    c.shared()
        .faults
        .set_delay("SN1", Duration::from_millis(250));
    let mut other = conn("10.0.0.2");
    let r = c.on_text(
        &mut other,
        &req("register", Some(register_body("SN2", "sec2", START))).to_string(),
    );
    assert_eq!(
        (r.frames.len(), r.delay),
        (1, Duration::ZERO),
        "other SNs unaffected"
    );
    let mut k = conn("10.0.0.1");
    let r = c.on_text(
        &mut k,
        &req("register", Some(register_body("SN1", "sec1", START))).to_string(),
    );
    assert!(r.frames.is_empty(), "swallowed");
    assert_eq!(k.phase, Phase::Registered, "but took effect");
    let r = c.on_text(&mut k, &req("register", None).to_string());
    assert_eq!(errcode(&r.frames[0]), 600012);
    assert_eq!(r.delay, Duration::from_millis(250));
}

/// With any single knob off, or all of them, a canned session never panics.
#[test]
fn every_knob_keeps_the_mock_alive() {
    let sets: Vec<Vec<MockRule>> = MockRule::ALL
        .iter()
        .map(|r| vec![*r])
        .chain(std::iter::once(MockRule::ALL.to_vec()))
        .collect();
    for set in sets {
        let c = cloud(&set);
        let mut k = conn("10.0.0.1");
        let frames = [
            req("register", Some(register_body("SN1", "sec1", START))),
            req("register", Some(register_body("SN1", "bad", 1))),
            req("active", Some(json!({"active_code": "nope"}))),
            req(
                "subscribe_corp",
                Some(json!({"secret": "nope", "firmware_version": "1"})),
            ),
            req(
                "get_secret_no",
                Some(json!({"sn": "SN1", "timestamp": START, "nonce": 1, "device_signature": "x"})),
            ),
            req("selfhelp_notify", Some(json!({"data": "d"}))),
            req("checkin", None),
            req("zzz", None),
            json!([1]),
        ];
        for f in frames {
            let _ = c.on_text(&mut k, &f.to_string());
        }
        let _ = c.on_text(&mut k, "{bad");
        let _ = c.on_binary(&mut k, b"");
        let _ = c.control(crate::targets::mock::ControlRequest::Unbind { sn: "SN1".into() });
    }
}

proptest::proptest! {
    /// Whatever text arrives, the mock answers (never silence) and never panics.
    #[test]
    fn any_text_gets_an_answer(text in "\\PC{0,80}", cmd in "[a-z_]{0,20}", rid in proptest::option::of("[a-z0-9]{1,8}")) {
        let c = cloud(&[]);
        let mut k = conn("10.0.0.1");
        proptest::prop_assert!(!c.on_text(&mut k, &text).frames.is_empty());
        let mut v = json!({"cmd": cmd});
        if let Some(rid) = &rid {
            v["headers"] = json!({"req_id": rid});
        }
        let frames = c.on_text(&mut k, &v.to_string()).frames;
        proptest::prop_assert!(!frames.is_empty());
        if let Some(rid) = rid {
            proptest::prop_assert_eq!(frames[0].pointer("/headers/req_id").and_then(Value::as_str), Some(rid.as_str()));
        }
    }

    #[test]
    fn any_bytes_get_an_answer(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
        let c = cloud(&[]);
        proptest::prop_assert_eq!(c.on_binary(&mut conn("10.0.0.1"), &bytes).frames.len(), 1);
    }
}

/// A link that does not take its commands (a stuck writer) holds at most
/// [`LINK_COMMANDS`](crate::targets::mock::LINK_COMMANDS) of them: further pushes are refused,
/// not queued without end.
#[tokio::test]
async fn a_link_holds_a_bounded_number_of_commands() {
    let c = cloud(&[]);
    let (tx, rx) = tokio::sync::mpsc::channel(crate::targets::mock::LINK_COMMANDS);
    let mut k = Conn::new(7, "10.0.0.9".parse().unwrap(), tx);
    assert_eq!(
        errcode(&one(
            &c,
            &mut k,
            req("register", Some(register_body("SN1", "sec1", START)))
        )),
        0
    );
    let pushed: Vec<bool> = (0..crate::targets::mock::LINK_COMMANDS + 3)
        .map(|i| {
            c.control(crate::targets::mock::ControlRequest::Bind { sn: "SN1".into() })
                .map(|v| v["pushed"] == json!(true))
                .unwrap_or_else(|e| panic!("{i}: {e}"))
        })
        .collect();
    assert!(pushed[..crate::targets::mock::LINK_COMMANDS]
        .iter()
        .all(|p| *p));
    assert!(
        pushed[crate::targets::mock::LINK_COMMANDS..]
            .iter()
            .all(|p| !p),
        "{pushed:?}"
    );
    drop(rx);
}
