//! Conformant connection behaviour: handshake, signatures, timeouts, retries, recovery
//! codes, reconnects (D1–D23).

use super::cloud::*;
use crate::profile::identity::Secret;
use crate::profile::wecom::signature;
use crate::targets::sim::DEFAULT_FIRMWARE_VERSION;
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

const S: fn(u64) -> Duration = Duration::from_secs;

fn assert_between(what: &str, v: f64, lo: f64, hi: f64) {
    assert!(
        v >= lo - 0.002 && v <= hi + 0.002,
        "{what}: {v:.3} s not within {lo}-{hi} s"
    );
}

fn not_all_equal(what: &str, gaps: &[f64]) {
    assert!(
        gaps.windows(2).any(|w| (w[0] - w[1]).abs() > 0.01),
        "{what}: gaps all equal {gaps:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn d1_d4_d5_d7_d11_d12_handshake_then_heartbeat() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept().await;
    let r = c.expect("register").await; // D7: register first
    let b = &r.body;
    assert_eq!(b["sn"], SN);
    let (ts, nonce) = (
        b["timestamp"].as_u64().expect("D5 numeric timestamp"),
        b["nonce"].as_u64().expect("D5 numeric nonce"),
    );
    assert!(
        ts.abs_diff(START) <= 1,
        "D5 timestamp on the device clock: {ts}"
    );
    assert_eq!(
        b["device_signature"],
        signature::register(SN, SECRET_NO, &ts.to_string(), &nonce.to_string()),
        "D4"
    );
    assert!(b["net_info"]["mac_address"].is_string());
    c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
    let r = c.expect("active").await;
    assert_eq!(r.body, json!({"active_code": ACTIVE_CODE}));
    c.ok(&r, Some(json!({"secret": SECRET}))).await;
    let r = c.expect("subscribe_corp").await; // D11
    assert_eq!(
        (
            r.body["secret"].as_str(),
            r.body["firmware_version"].as_str()
        ),
        (Some(SECRET), Some(DEFAULT_FIRMWARE_VERSION))
    );
    for list in r.body["ext_args"].as_object().unwrap().values() {
        assert!(list.as_array().unwrap().len() <= 5);
    }
    let logged_in = Instant::now();
    c.ok(&r, None).await;
    // D24: the version check comes right after login (auto-answered with 0 = local: no pull).
    assert!(
        c.quiet(S(300)).await.is_empty(),
        "nothing but pings and the version check"
    );
    assert_eq!(c.times("get_perm_version").len(), 1);
    let mut pings = vec![logged_in];
    pings.extend(c.times("ping"));
    let g = gaps(&pings);
    assert!(g.len() >= 7, "{g:?}");
    for x in &g {
        assert_between("D12 ping gap", *x, 20.0, 40.0);
    }
    not_all_equal("D12", &g);
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d6_seed_device_swaps_its_secret_no_once() {
    let mut cfg = config(&[]);
    cfg.seed_secret_no = Some(Secret::new(SEED));
    let mut cloud = Cloud::start(cfg);
    let mut c = cloud.accept().await;
    let r = c.expect("get_secret_no").await;
    let b = &r.body;
    let (ts, nonce) = (
        b["timestamp"].as_u64().unwrap().to_string(),
        b["nonce"].as_u64().unwrap().to_string(),
    );
    assert_eq!(
        b["device_signature"],
        signature::get_secret_no(SN, SEED, &ts, &nonce)
    );
    c.ok(&r, Some(json!({"secret_no": PER_DEVICE_SECRET_NO})))
        .await;
    let r = c.expect("register").await;
    let b = &r.body;
    let (ts, nonce) = (
        b["timestamp"].as_u64().unwrap().to_string(),
        b["nonce"].as_u64().unwrap().to_string(),
    );
    assert_eq!(
        b["device_signature"],
        signature::register(SN, PER_DEVICE_SECRET_NO, &ts, &nonce)
    );
    c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
    c.expect("active").await;
    c.close().await;
    let mut c = cloud.accept().await;
    c.expect("register").await; // D6: never again after a successful register
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d13_unanswered_request_is_resent_after_5_to_10_s_with_a_new_req_id() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept().await;
    let mut regs = vec![c.expect("register").await];
    for _ in 0..3 {
        regs.push(c.expect("register").await);
    }
    let g = gaps(&regs.iter().map(|r| r.at).collect::<Vec<_>>());
    for x in &g {
        assert_between("D13 timeout", *x, 5.0, 10.0);
    }
    not_all_equal("D13", &g);
    let ids: std::collections::BTreeSet<_> = regs.iter().map(|r| r.req_id.clone()).collect();
    assert_eq!(ids.len(), regs.len(), "D2: new req_id per attempt");
    cloud.stop().await;
}

/// Error replies to register (answered each time) and the gaps between the attempts.
async fn retry_gaps(
    c: &mut Conn,
    n: usize,
    suggestion: Option<&str>,
    interval: Option<i64>,
) -> Vec<f64> {
    let mut times = Vec::new();
    for _ in 0..n {
        let r = c.expect("register").await;
        times.push(r.at);
        c.err(&r, 600901, suggestion, interval).await;
    }
    gaps(&times)
}

#[tokio::test(start_paused = true)]
async fn d14_retries_without_interval_are_jittered_1_to_3_s() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept().await;
    let g = retry_gaps(&mut c, 5, None, None).await;
    for x in &g {
        assert_between("D14 jitter", *x, 1.0, 3.0);
    }
    not_all_equal("D14", &g);
    // interval 0 is no usable interval: jitter too.
    let g = retry_gaps(&mut c, 3, Some("retry"), Some(0)).await;
    for x in &g {
        assert_between("D14 interval 0", *x, 1.0, 3.0);
    }
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d14_retries_obey_interval() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept().await;
    let g = retry_gaps(&mut c, 4, Some("retry"), Some(7)).await;
    for x in &g {
        assert_between("D14 interval", *x, 7.0, 8.0);
    }
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d15_interval_minus_one_is_never_retried() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept().await;
    let r = c.expect("register").await;
    c.err(&r, 600901, Some("retry"), Some(-1)).await;
    assert!(
        c.quiet(S(180)).await.is_empty(),
        "D15: register re-sent after interval -1"
    );
    assert!(!c.is_closed(), "the device idles on the connection");
    c.close().await;
    // A logged-in device keeps pinging after a business request got -1.
    cloud.auto.remove("get_perm_version");
    let mut c = cloud.accept().await;
    let r = c.expect("register").await;
    c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
    let r = c.expect("active").await;
    c.ok(&r, Some(json!({"secret": SECRET}))).await;
    c.subscribe().await;
    let r = c.expect("get_perm_version").await;
    c.err(&r, 600999, Some("retry"), Some(-1)).await;
    assert!(c.quiet(S(120)).await.is_empty());
    assert!(
        c.times("ping").len() >= 3,
        "D15 idle but alive: {:?}",
        c.cmds()
    );
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d16_d22_reconnect_suggestion_closes_then_redials_after_interval() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept().await;
    let r = c.expect("register").await;
    c.err(&r, 600901, Some("reconnect"), Some(4)).await;
    let replied = Instant::now();
    let closed = c.expect_closed(S(3)).await; // D22: the old one is closed first
    let mut c2 = cloud.accept().await;
    assert!(closed <= c2.accepted);
    assert_between("D16 reconnect delay", secs(c2.accepted - replied), 4.0, 5.0);
    c2.expect("register").await; // D16: the handshake again
                                 // Without an interval: 1-3 s.
    let r = c2.recv().await;
    c2.err(&r, 600901, Some("reconnect"), None).await;
    let replied = Instant::now();
    c2.expect_closed(S(3)).await;
    let c3 = cloud.accept().await;
    assert_between(
        "D16 reconnect jitter",
        secs(c3.accepted - replied),
        1.0,
        3.0,
    );
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d16_lost_link_and_refused_dials_are_retried_after_1_to_3_s() {
    let mut cloud = Cloud::start(config(&[]));
    let c = cloud.accept_logged_in().await;
    cloud
        .dialer
        .refuse
        .store(3, std::sync::atomic::Ordering::SeqCst);
    c.close().await;
    let mut c = cloud.accept().await;
    c.expect("register").await;
    let dials = cloud.dialer.dials.lock().unwrap().clone();
    assert_eq!(dials.len(), 5, "first dial, three refused, one accepted");
    let g = gaps(&dials[1..]);
    for x in &g {
        assert_between("redial jitter", *x, 1.0, 3.0);
    }
    cloud.stop().await;
}

/// First connection: register ok, `active` answered 600004 (unbound), then the cloud closes.
async fn registered_unbound(cloud: &mut Cloud) {
    let mut c = cloud.accept().await;
    let r = c.expect("register").await;
    c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
    let r = c.expect("active").await;
    c.err(&r, 600004, Some("retry"), Some(5)).await;
    c.close().await;
}

#[tokio::test(start_paused = true)]
async fn d17_resent_register_600012_continues_to_active_or_subscribe() {
    let mut cloud = Cloud::start(config(&[]));
    registered_unbound(&mut cloud).await;
    let mut c = cloud.accept().await;
    let lost = c.expect("register").await; // the reply is lost
    let r = c.expect("register").await;
    assert!(r.at - lost.at >= S(5));
    c.err(&r, 600012, Some("retry"), Some(0)).await;
    let r = c.expect("active").await; // D17
    c.ok(&r, Some(json!({"secret": SECRET}))).await;
    c.subscribe().await;
    c.close().await;
    // With a cached secret 600012 leads to subscribe_corp.
    let mut c = cloud.accept().await;
    let r = c.expect("register").await;
    c.err(&r, 600012, Some("retry"), Some(0)).await;
    c.subscribe().await;
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d18_d19_resent_register_600053_and_600054() {
    let mut cloud = Cloud::start(config(&[]));
    let c = cloud.accept_logged_in().await;
    c.close().await;
    let mut c = cloud.accept().await;
    let r = c.expect("register").await;
    c.err(&r, 600053, Some("retry"), Some(0)).await;
    c.subscribe().await; // D18
    c.close().await;
    let mut c = cloud.accept().await;
    let r = c.expect("register").await;
    c.err(&r, 600054, Some("retry"), Some(0)).await;
    // D19: logged in: no subscribe, version check and pings.
    assert!(c.quiet(S(45)).await.is_empty(), "{:?}", c.cmds());
    assert_eq!(c.cmds()[1], "get_perm_version");
    assert!(c.times("ping").len() == 1 || c.times("ping").len() == 2);
    // A re-sent active answering 600053 continues to subscribe too.
    c.close().await;
    let mut c = cloud.accept().await;
    let r = c.expect("register").await;
    c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
    let r = c.expect("subscribe_corp").await;
    c.err(&r, 600004, Some("retry"), Some(5)).await; // drops the secret
    let r = c.expect("active").await;
    c.err(&r, 600053, Some("retry"), Some(0)).await;
    // No secret to subscribe with: only a new connection helps.
    c.expect_closed(S(5)).await;
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d20_register_600002_waits_60_to_90_s_before_reconnecting() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept().await;
    let r = c.expect("register").await;
    c.err(&r, 600002, None, None).await;
    let replied = Instant::now();
    c.expect_closed(S(3)).await;
    let mut c = cloud.accept().await;
    assert_between("D20 wait", secs(c.accepted - replied), 60.0, 90.0);
    // The mock's advice (reconnect, 90) is honoured as a floor.
    let r = c.expect("register").await;
    c.err(&r, 600002, Some("reconnect"), Some(90)).await;
    let replied = Instant::now();
    c.expect_closed(S(3)).await;
    let c = cloud.accept().await;
    assert_between(
        "D20 wait with interval",
        secs(c.accepted - replied),
        90.0,
        91.0,
    );
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d8_unbound_device_polls_active_every_5_s() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept().await;
    let r = c.expect("register").await;
    c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
    let mut times = Vec::new();
    for i in 0..6 {
        let r = c.expect("active").await;
        times.push(r.at);
        // Catalog advice (retry, 5) and no advice both poll at 5-5.5 s.
        if i % 2 == 0 {
            c.err(&r, 600004, Some("retry"), Some(5)).await;
        } else {
            c.err(&r, 600004, None, None).await;
        }
    }
    let g = gaps(&times);
    for x in &g {
        assert_between("D8 poll", *x, 5.0, 5.5);
    }
    not_all_equal("D8", &g);
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d9_bind_push_triggers_active_at_once() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept().await;
    let r = c.expect("register").await;
    c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
    let r = c.expect("active").await;
    c.err(&r, 600004, Some("retry"), Some(5)).await;
    tokio::time::sleep(S(1)).await;
    let pushed = Instant::now();
    c.push("push_bind_corp", None).await;
    let r = c.expect("active").await;
    assert!(
        r.at - pushed < Duration::from_millis(100),
        "D9: {:?}",
        r.at - pushed
    );
    c.ok(&r, Some(json!({"secret": SECRET}))).await;
    c.subscribe().await;
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d10_cached_secret_skips_active() {
    let mut cloud = Cloud::start(config(&[]));
    let c = cloud.accept_logged_in().await;
    c.close().await;
    let mut c = cloud.accept().await;
    c.relogin().await; // register → subscribe_corp, no active
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d21_subscribe_backs_off_and_never_exceeds_5_a_minute() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept().await;
    let r = c.expect("register").await;
    c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
    let r = c.expect("active").await;
    c.ok(&r, Some(json!({"secret": SECRET}))).await;
    // With the FAQ's advice (retry after 60 s): one a minute.
    let mut times = Vec::new();
    for _ in 0..4 {
        let r = c.expect("subscribe_corp").await;
        times.push(r.at);
        c.err(&r, 600045, Some("retry"), Some(60)).await;
    }
    for x in gaps(&times) {
        assert_between("D21 interval", x, 60.0, 61.0);
    }
    // Without advice the 1-3 s jitter would allow more: the budget holds it at 5 a minute.
    let mut times = Vec::new();
    for _ in 0..12 {
        let r = c.expect("subscribe_corp").await;
        times.push(r.at);
        c.err(&r, 600045, None, None).await;
    }
    let all = c.times("subscribe_corp");
    for (i, t) in all.iter().enumerate() {
        let in_window = all[i..].iter().take_while(|u| **u - *t < S(60)).count();
        assert!(
            in_window <= 5,
            "D21: {in_window} subscribes within 60 s from #{i}: {:?}",
            gaps(&all)
        );
    }
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d23_600004_from_subscribe_drops_secret_and_data_and_reactivates() {
    let mut cloud = Cloud::start(config(&[]));
    let c = login_with_contacts(&mut cloud, 1, &["alice"]).await;
    c.close().await;
    let mut c = cloud.accept().await;
    let r = c.expect("register").await;
    c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
    let r = c.expect("subscribe_corp").await;
    c.err(&r, 600004, Some("retry"), Some(5)).await;
    let r = c.expect("active").await; // D23: re-activation with the active code
    assert_eq!(r.body["active_code"], ACTIVE_CODE);
    c.err(&r, 600004, Some("retry"), Some(5)).await;
    cloud.checkin("alice", Some(1), Some(1)); // local data is gone: not recognised
    let r = c.expect("active").await;
    c.ok(&r, Some(json!({"secret": "simCorpSecret-new"}))).await;
    let r = c.expect("subscribe_corp").await;
    assert_eq!(r.body["secret"], "simCorpSecret-new");
    c.ok(&r, None).await;
    // perm_version is 0 again: the cloud's 1 differs, so a full pull follows.
    let r = c.expect("get_perm_version").await;
    c.ok(&r, Some(json!({"perm_version": 1}))).await;
    let r = c.expect("get_userinfo_by_page").await;
    assert_eq!(r.body["offset"], 0);
    assert!(c.quiet(S(20)).await.iter().all(|r| r.cmd != "checkin"));
    cloud.stop().await;
}
