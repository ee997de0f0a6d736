//! Every [`SimFault`] makes its broken obligation observable on the wire. The match in
//! [`observe`] is exhaustive, so a new fault cannot be added without a check.

use super::cloud::*;
use crate::profile::identity::Secret;
use crate::profile::wecom::signature;
use crate::targets::sim::SimFault;
use serde_json::json;
use sha1::{Digest, Sha1};
use std::time::Duration;
use tokio::time::Instant;

const S: fn(u64) -> Duration = Duration::from_secs;

fn near(v: f64, want: f64) -> bool {
    (v - want).abs() <= 0.002
}

/// Registers and activates; the next request is subscribe_corp.
async fn activated(c: &mut Conn) {
    let r = c.expect("register").await;
    c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
    let r = c.expect("active").await;
    c.ok(&r, Some(json!({"secret": SECRET}))).await;
}

/// Registers; `active` answers 600004 (unbound).
async fn unbound(c: &mut Conn) -> Instant {
    let r = c.expect("register").await;
    c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
    let r = c.expect("active").await;
    c.err(&r, 600004, Some("retry"), Some(5)).await;
    r.at
}

async fn observe(fault: SimFault) {
    let mut cfg = config(&[fault]);
    if matches!(fault, SimFault::ResendSecretNo) {
        cfg.seed_secret_no = Some(Secret::new(SEED));
    }
    let mut cloud = Cloud::start(cfg);
    if fault == SimFault::ReuseReqId {
        cloud.unique_ids = false;
    }
    let mut c = cloud.accept().await;
    match fault {
        SimFault::NoJitter => {
            let mut times = Vec::new();
            for _ in 0..4 {
                let r = c.expect("register").await;
                times.push(r.at);
                c.err(&r, 600901, None, None).await;
            }
            let g = gaps(&times);
            assert!(g.iter().all(|x| near(*x, 1.0)), "D14 broken: {g:?}");
        }
        SimFault::IgnoreInterval => {
            let r = c.expect("register").await;
            c.err(&r, 600901, Some("retry"), Some(30)).await;
            let r2 = c.expect("register").await;
            assert!(
                near(secs(r2.at - r.at), 1.0),
                "D14 broken: {:?}",
                r2.at - r.at
            );
        }
        SimFault::RetryAfterMinusOne => {
            let r = c.expect("register").await;
            c.err(&r, 600901, Some("retry"), Some(-1)).await;
            let r2 = c.expect("register").await;
            assert!(r2.at - r.at <= S(3), "D15 broken");
        }
        SimFault::ShortTimeout => {
            let r = c.expect("register").await;
            let r2 = c.expect("register").await;
            assert!(
                near(secs(r2.at - r.at), 1.0),
                "D13 broken: {:?}",
                r2.at - r.at
            );
        }
        SimFault::LoopOn600012 => {
            c.login().await;
            c.close().await;
            let mut c = cloud.accept().await;
            for _ in 0..3 {
                let r = c.expect("register").await; // D17 broken: never moves on
                c.err(&r, 600012, Some("retry"), Some(0)).await;
            }
        }
        SimFault::No600002Backoff => {
            let r = c.expect("register").await;
            c.err(&r, 600002, Some("reconnect"), Some(90)).await;
            let replied = Instant::now();
            c.expect_closed(S(3)).await;
            let c2 = cloud.accept().await;
            assert!(
                c2.accepted - replied <= S(3),
                "D20 broken: {:?}",
                c2.accepted - replied
            );
        }
        SimFault::Ignore600002Interval => {
            let r = c.expect("register").await;
            c.err(&r, 600002, Some("reconnect"), Some(90)).await;
            let replied = Instant::now();
            c.expect_closed(S(3)).await;
            let c2 = cloud.accept().await;
            let away = secs(c2.accepted - replied);
            // Past the 600002 floor (D20 kept), short of the interval (D14 broken).
            assert!(
                (60.0..=61.1).contains(&away),
                "D14 broken: back after {away} s"
            );
        }
        SimFault::SubscribeStorm => {
            activated(&mut c).await;
            for _ in 0..8 {
                let r = c.expect("subscribe_corp").await;
                c.err(&r, 600045, Some("retry"), Some(60)).await;
            }
            let t = c.times("subscribe_corp");
            assert!(
                t[7] - t[0] < S(60),
                "D21 broken: 8 subscribes in {:?}",
                t[7] - t[0]
            );
        }
        SimFault::SlowHeartbeat => {
            c.login().await;
            let done = Instant::now();
            c.quiet(S(200)).await;
            let mut t = vec![done];
            t.extend(c.times("ping"));
            let g = gaps(&t);
            assert!(
                g.len() >= 3 && g.iter().all(|x| near(*x, 60.0)),
                "D12 broken: {g:?}"
            );
        }
        SimFault::ReuseReqId => {
            let r = c.expect("register").await;
            let r2 = c.expect("register").await; // re-sent after a timeout
            assert_eq!(
                (r.req_id.as_str(), r2.req_id.as_str()),
                ("lb_register", "lb_register"),
                "D2 broken"
            );
        }
        SimFault::UnsortedSignature => {
            let r = c.expect("register").await;
            let (ts, nonce) = (r.body["timestamp"].to_string(), r.body["nonce"].to_string());
            let sig = r.body["device_signature"].as_str().unwrap();
            assert_ne!(
                sig,
                signature::register(SN, SECRET_NO, &ts, &nonce),
                "D4 broken"
            );
            assert_eq!(
                sig,
                hex::encode(Sha1::digest(format!("{SN}{SECRET_NO}{ts}{nonce}register")))
            );
        }
        SimFault::SkipRegister => {
            c.login().await;
            c.close().await;
            let mut c = cloud.accept().await;
            c.expect("subscribe_corp").await; // D7 broken
        }
        SimFault::WipeBeforeFullPull => {
            c.close().await;
            let mut c = login_with_contacts(&mut cloud, 1, &["alice"]).await;
            c.push("push_change_contact", Some(json!({"perm_version": 3})))
                .await;
            c.expect("get_userinfo_by_page").await;
            cloud.checkin("alice", Some(1), Some(1));
            let got = c.quiet(S(4)).await;
            assert!(
                got.iter().all(|r| r.cmd != "checkin"),
                "D27 broken: alice not recognised mid-pull"
            );
        }
        SimFault::TwoConnections => {
            let r = c.expect("register").await;
            c.err(&r, 600901, Some("reconnect"), Some(2)).await;
            let mut c2 = cloud.accept().await;
            c2.expect("register").await;
            assert!(
                c.frame(S(5)).await.is_none() && !c.is_closed(),
                "D22 broken: the old connection is still open"
            );
        }
        SimFault::StringNonce => {
            let r = c.expect("register").await;
            assert!(
                r.body["timestamp"].is_string() && r.body["nonce"].is_string(),
                "D5 broken"
            );
            let (ts, nonce) = (
                r.body["timestamp"].as_str().unwrap(),
                r.body["nonce"].as_str().unwrap(),
            );
            assert_eq!(
                r.body["device_signature"],
                signature::register(SN, SECRET_NO, ts, nonce)
            );
        }
        SimFault::ResendSecretNo => {
            let r = c.expect("get_secret_no").await;
            c.ok(&r, Some(json!({"secret_no": PER_DEVICE_SECRET_NO})))
                .await;
            let r = c.expect("register").await;
            c.ok(&r, Some(json!({"active_code": ACTIVE_CODE}))).await;
            c.close().await;
            let mut c = cloud.accept().await;
            let r = c.expect("get_secret_no").await; // D6 broken: after a successful register
            c.err(&r, 600903, Some("retry"), Some(-1)).await;
            c.expect("register").await;
        }
        SimFault::FastActivePoll => {
            let first = unbound(&mut c).await;
            let r = c.expect("active").await;
            assert!(
                near(secs(r.at - first), 1.0),
                "D8 broken: {:?}",
                r.at - first
            );
        }
        SimFault::NoBindPushActive => {
            let first = unbound(&mut c).await;
            tokio::time::sleep(S(1)).await;
            c.push("push_bind_corp", None).await;
            let r = c.expect("active").await;
            assert!(r.at - first >= S(5), "D9 broken: waited for the poll");
        }
        SimFault::FullPullLimit500 => {
            c.auto
                .insert("get_perm_version".into(), Some(json!({"perm_version": 2})));
            c.login().await;
            let r = c.expect("get_userinfo_by_page").await;
            assert_eq!(r.body["limit"], 500, "D25 broken");
        }
        SimFault::NoFullPullRestart => {
            c.auto
                .insert("get_perm_version".into(), Some(json!({"perm_version": 2})));
            c.login().await;
            let r = c.expect("get_userinfo_by_page").await;
            let page: Vec<String> = (0..100).map(|i| format!("u{i}")).collect();
            let page: Vec<&str> = page.iter().map(String::as_str).collect();
            c.ok(
                &r,
                Some(json!({"perm_version": 2, "is_last": false, "userinfo": users(&page)})),
            )
            .await;
            let r = c.expect("get_userinfo_by_page").await;
            c.ok(
                &r,
                Some(json!({"perm_version": 3, "is_last": false, "userinfo": users(&page)})),
            )
            .await;
            let r = c.expect("get_userinfo_by_page").await;
            assert_eq!(r.body["offset"], 200, "D26 broken: no restart");
        }
        SimFault::SkipIncrementalPull => {
            c.close().await;
            let mut c = login_with_contacts(&mut cloud, 1, &["alice"]).await;
            c.push(
                "push_change_contact",
                Some(json!({"perm_version": 2, "create_user": [{"userid": "bob"}]})),
            )
            .await;
            c.push(
                "push_change_contact",
                Some(json!({"perm_version": 3, "create_user": [{"userid": "carl"}]})),
            )
            .await;
            let got = c.quiet(S(20)).await;
            assert!(
                got.is_empty(),
                "D28 broken: no get_userinfo_by_ids, no full pull: {got:?}"
            );
        }
        SimFault::DeltaOnGap => {
            c.close().await;
            let mut c = login_with_contacts(&mut cloud, 1, &["alice"]).await;
            c.push(
                "push_change_contact",
                Some(json!({"perm_version": 4, "create_user": [{"userid": "bob"}]})),
            )
            .await;
            c.expect("get_userinfo_by_ids").await; // D29 broken: no full pull
        }
        SimFault::StripVisitorAgentid => {
            c.login().await;
            c.push(
                "push_visitor_list_change",
                Some(json!({"visitor_version": 1, "create_visitor": [{"userid": "v1/1000006"}]})),
            )
            .await;
            let r = c.expect("get_visitor_by_ids").await;
            assert_eq!(r.body["userids"], json!(["v1"]), "D31 broken");
        }
        SimFault::DropFailedCheckins => {
            c.close().await;
            let mut c = login_with_contacts(&mut cloud, 1, &["alice"]).await;
            cloud.checkin("alice", Some(1), Some(1));
            let r = c.expect("checkin").await;
            let ts = r.body["checkin_data"][0]["timestamp"].clone();
            c.ok(
                &r,
                Some(json!({"fail_list": [{"userid": "alice", "timestamp": ts}]})),
            )
            .await;
            assert!(
                c.quiet(S(30)).await.is_empty(),
                "D33 broken: the refused record is gone"
            );
        }
        SimFault::SlowRemoteOpenReport => {
            c.login().await;
            let pushed = Instant::now();
            c.push(
                "push_remote_open_door",
                Some(json!({"userid": "alice", "oper_id": "op"})),
            )
            .await;
            let r = c.expect("report_remote_open_door").await;
            assert!(r.at - pushed >= S(3), "D34 broken");
        }
        SimFault::ImageAsFeature => {
            c.login().await;
            c.push(
                "push_enter_page",
                Some(json!({"page_type": "fa", "oper_id": "op", "userid": "alice"})),
            )
            .await;
            let r = c.expect("upload_userinfo").await;
            let data = unbase64(
                r.body["userinfo"][0]["fa_list"][0]["data"]
                    .as_str()
                    .unwrap(),
            );
            assert!(data.starts_with(&[0xFF, 0xD8, 0xFF]), "D37 broken: a JPEG");
        }
    }
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn every_fault_breaks_its_obligation_observably() {
    for &fault in SimFault::ALL {
        eprintln!("fault {fault} ({})", fault.obligation());
        observe(fault).await;
    }
}
