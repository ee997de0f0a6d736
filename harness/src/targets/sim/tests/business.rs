//! Conformant business behaviour: contact pulls, check-ins, pushes (D24–D41).

use super::cloud::*;
use crate::profile::wecom::binary;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

const S: fn(u64) -> Duration = Duration::from_secs;

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn many(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Asserts the next check-in carries one record, `userid`'s (left unanswered).
async fn expect_only_checkin(c: &mut Conn, userid: &str) {
    let r = c.expect("checkin").await;
    assert_eq!(r.body["checkin_data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["checkin_data"][0]["userid"], userid);
}

/// Asserts a check-in for `userid` arrives next and answers it; returns its record.
async fn expect_checkin(c: &mut Conn, userid: &str, fail: bool) -> Value {
    let r = c.expect("checkin").await;
    let data = r.body["checkin_data"].as_array().unwrap().clone();
    assert!(data.len() <= 200, "D32");
    let rec = data
        .iter()
        .find(|d| d["userid"] == userid)
        .unwrap_or_else(|| panic!("no record for {userid}: {data:?}"))
        .clone();
    let fail_list = if fail {
        json!([{"userid": userid, "user_type": 0, "timestamp": rec["timestamp"]}])
    } else {
        json!([])
    };
    c.ok(&r, Some(json!({"fail_list": fail_list}))).await;
    rec
}

#[tokio::test(start_paused = true)]
async fn d24_d25_full_pull_pages_contiguously_and_stores_the_version() {
    let mut cloud = Cloud::start(config(&[]));
    cloud.auto.remove("get_perm_version");
    let mut c = cloud.accept_logged_in().await;
    let r = c.expect("get_perm_version").await;
    c.ok(&r, Some(json!({"perm_version": 3}))).await;
    let everyone = many("u", 250);
    let mut offset = 0;
    loop {
        let r = c.expect("get_userinfo_by_page").await;
        assert_eq!(r.body["offset"], offset, "D25 contiguous offsets");
        assert_eq!(r.body["limit"], 100, "D25 limit");
        assert_eq!(
            (
                r.body["is_req_fp_info"].as_u64(),
                r.body["is_req_fa_info"].as_u64()
            ),
            (Some(1), Some(1))
        );
        let page: Vec<&str> = refs(&everyone).into_iter().skip(offset).take(100).collect();
        let last = offset + page.len() >= everyone.len();
        c.ok(
            &r,
            Some(json!({"perm_version": 3, "is_last": last, "userinfo": users(&page)})),
        )
        .await;
        offset += page.len();
        if last {
            break;
        }
    }
    assert_eq!(offset, 250);
    cloud.checkin("u249", Some(1), Some(1));
    let rec = expect_checkin(&mut c, "u249", false).await;
    assert_eq!(
        (
            rec["pass_type"].as_u64(),
            rec["pass_method"].as_u64(),
            rec["user_type"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    let ts = rec["timestamp"].as_u64().unwrap();
    assert!(
        (START..START + 600).contains(&ts),
        "D32 timestamp on the device clock: {ts}"
    );
    c.close().await;
    // D24: the same version on the next login: no pull.
    let mut c = cloud.accept().await;
    c.relogin().await;
    let r = c.expect("get_perm_version").await;
    c.ok(&r, Some(json!({"perm_version": 3}))).await;
    let got = c.quiet(S(60)).await;
    assert!(got.is_empty(), "{got:?}");
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d26_version_change_mid_pull_restarts_at_offset_0() {
    let mut cloud = Cloud::start(config(&[]));
    cloud.auto.remove("get_perm_version");
    let mut c = cloud.accept_logged_in().await;
    let r = c.expect("get_perm_version").await;
    c.ok(&r, Some(json!({"perm_version": 3}))).await;
    let r = c.expect("get_userinfo_by_page").await;
    c.ok(
        &r,
        Some(
            json!({"perm_version": 3, "is_last": false, "userinfo": users(&refs(&many("a", 100)))}),
        ),
    )
    .await;
    let r = c.expect("get_userinfo_by_page").await;
    assert_eq!(r.body["offset"], 100);
    c.ok(
        &r,
        Some(
            json!({"perm_version": 4, "is_last": false, "userinfo": users(&refs(&many("b", 100)))}),
        ),
    )
    .await;
    let r = c.expect("get_userinfo_by_page").await;
    assert_eq!(r.body["offset"], 0, "D26");
    c.ok(
        &r,
        Some(json!({"perm_version": 4, "is_last": true, "userinfo": users(&["bob"])})),
    )
    .await;
    cloud.checkin("a5", None, None); // only the final set counts
    cloud.checkin("bob", None, None);
    expect_only_checkin(&mut c, "bob").await;
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d27_d29_old_set_stays_usable_during_a_full_pull() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = login_with_contacts(&mut cloud, 1, &["alice"]).await;
    c.push(
        "push_change_contact",
        Some(json!({"perm_version": 3, "create_user": [{"userid": "bob"}]})),
    )
    .await;
    let page = c.expect("get_userinfo_by_page").await; // D29: gap 2 → full pull
    assert_eq!(page.body["offset"], 0);
    cloud.checkin("alice", Some(1), Some(1)); // D27: still recognised mid-pull
    expect_checkin(&mut c, "alice", false).await;
    c.ok(
        &page,
        Some(json!({"perm_version": 3, "is_last": true, "userinfo": users(&["bob"])})),
    )
    .await;
    tokio::time::sleep(S(1)).await;
    cloud.checkin("alice", Some(1), Some(1)); // swapped: gone now
    cloud.checkin("bob", Some(1), Some(1));
    expect_only_checkin(&mut c, "bob").await;
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d28_incremental_pull_then_version_is_stored() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = login_with_contacts(&mut cloud, 1, &["alice", "carol"]).await;
    c.push(
        "push_change_contact",
        Some(json!({"perm_version": 2, "timestamp": START, "create_user": [{"userid": "bob", "user_type": 0}],
            "update_user": [{"userid": "alice", "user_type": 0}], "delete_user": [{"userid": "carol", "user_type": 0}]})),
    )
    .await;
    let r = c.expect("get_userinfo_by_ids").await;
    assert_eq!(
        ids(&r.body["userids"]),
        ["bob", "alice"],
        "D28: exactly the changed users"
    );
    c.ok(&r, Some(json!({"userinfo": users(&["bob", "alice"])})))
        .await;
    // Version 2 stored: 3 is again a gap of one.
    let created = many("n", 250);
    let items: Vec<Value> = created.iter().map(|u| json!({"userid": u})).collect();
    c.push(
        "push_change_contact",
        Some(json!({"perm_version": 3, "create_user": items})),
    )
    .await;
    let r = c.expect("get_userinfo_by_ids").await;
    assert_eq!(
        r.body["userids"].as_array().unwrap().len(),
        200,
        "D28: at most 200 a call"
    );
    c.ok(&r, Some(json!({"userinfo": users(&refs(&created[..200]))})))
        .await;
    let r = c.expect("get_userinfo_by_ids").await;
    assert_eq!(ids(&r.body["userids"]), created[200..]);
    c.ok(&r, Some(json!({"userinfo": users(&refs(&created[200..]))})))
        .await;
    // A pull that is refused for good leaves the version unstored: the next push is a gap of 2.
    c.push(
        "push_change_contact",
        Some(json!({"perm_version": 4, "create_user": [{"userid": "erin"}]})),
    )
    .await;
    let r = c.expect("get_userinfo_by_ids").await;
    c.err(&r, 600999, Some("retry"), Some(-1)).await;
    c.push(
        "push_change_contact",
        Some(json!({"perm_version": 5, "create_user": [{"userid": "frank"}]})),
    )
    .await;
    let r = c.expect("get_userinfo_by_page").await;
    assert_eq!(r.body["offset"], 0);
    c.ok(
        &r,
        Some(json!({"perm_version": 5, "is_last": true, "userinfo": users(&["alice", "frank"])})),
    )
    .await;
    tokio::time::sleep(S(1)).await;
    cloud.checkin("carol", None, None); // deleted
    cloud.checkin("n249", None, None); // the full pull replaced the set
    cloud.checkin("frank", None, None);
    expect_only_checkin(&mut c, "frank").await;
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d30_d31_visitor_changes_pull_by_ids_with_agentid() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept_logged_in().await;
    c.push(
        "push_visitor_list_change",
        Some(json!({"visitor_version": 2, "create_visitor": [{"userid": "v1/1000006"}],
            "update_visitor": [{"userid": "v2/1000006"}], "delete_visitor": [{"userid": "v3/1000006"}]})),
    )
    .await;
    let r = c.expect("get_visitor_by_ids").await;
    assert_eq!(ids(&r.body["userids"]), ["v1/1000006", "v2/1000006"]);
    c.ok(
        &r,
        Some(json!({"userinfo": [{"userid": "v1/1000006", "user_type": 1}]})),
    )
    .await;
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d32_d33_checkins_are_recognised_and_failures_resent() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = login_with_contacts(&mut cloud, 1, &["alice", "bob"]).await;
    cloud.checkin("mallory", Some(1), Some(1));
    assert!(
        c.quiet(S(30)).await.is_empty(),
        "an unknown person is not recognised"
    );
    cloud.checkin("alice", Some(1), Some(1));
    let first = expect_checkin(&mut c, "alice", true).await;
    let r = c.expect("checkin").await; // D33: the refused record again
    let again = r.body["checkin_data"][0].clone();
    assert_eq!(again, first);
    let gap = r.at
        - c.log
            .iter()
            .rev()
            .filter(|x| x.cmd == "checkin")
            .nth(1)
            .unwrap()
            .at;
    assert!(gap >= S(5) && gap <= S(10), "{gap:?}");
    c.ok(&r, None).await;
    // Unanswered: kept and re-sent.
    cloud.checkin("bob", Some(2), Some(1));
    let lost = c.expect("checkin").await;
    let r = c.expect("checkin").await;
    assert!(
        r.at - lost.at >= S(10),
        "timeout 5-10 s then 5-10 s: {:?}",
        r.at - lost.at
    );
    assert_eq!(r.body["checkin_data"], lost.body["checkin_data"]);
    c.ok(&r, None).await;
    assert!(c.quiet(S(30)).await.is_empty(), "nothing left to send");
    // Offline: kept until the next connection.
    c.close().await;
    cloud.checkin("bob", Some(2), Some(1));
    let mut c = cloud.accept().await;
    c.auto
        .insert("get_perm_version".into(), Some(json!({"perm_version": 1})));
    c.relogin().await;
    let rec = expect_checkin(&mut c, "bob", false).await;
    assert_eq!(rec["pass_type"], 2);
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d34_remote_open_is_reported_at_once_then_recorded() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept_logged_in().await;
    let pushed = Instant::now();
    c.push(
        "push_remote_open_door",
        Some(json!({"userid": "alice", "oper_id": "op-1"})),
    )
    .await;
    let r = c.expect("report_remote_open_door").await;
    assert!(r.at - pushed < S(3), "D34 within 3 s");
    assert_eq!(
        r.body,
        json!({"type": "remote_open_door", "oper_id": "op-1", "status": 0})
    );
    c.ok(&r, None).await;
    let rec = expect_checkin(&mut c, "alice", false).await;
    assert_eq!(rec["pass_method"], 3);
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d35_scan_to_open_is_reported() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept_logged_in().await;
    c.push(
        "push_user_scan",
        Some(json!({"userid": "alice", "op_type": "other", "oper_id": "op-0"})),
    )
    .await;
    let pushed = Instant::now();
    c.push("push_user_scan", Some(json!({"userid": "alice", "op_type": "scan_qrcode_open", "oper_id": "op-2", "state": "s", "user_type": 0}))).await;
    let r = c.expect("report_remote_open_door").await;
    assert!(r.at - pushed < S(3));
    assert_eq!(
        (r.body["type"].as_str(), r.body["oper_id"].as_str()),
        (Some("scan_qrcode_open"), Some("op-2"))
    );
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d36_d37_enrolment_uploads_feature_templates() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept_logged_in().await;
    for (page, list) in [("fa", "fa_list"), ("fp", "fp")] {
        c.push("push_enter_page", Some(json!({"page_type": page, "oper_id": format!("op-{page}"), "userid": "alice", "user_type": 0}))).await;
        let r = c.expect("upload_userinfo").await;
        assert_eq!(r.body["oper_id"], format!("op-{page}"));
        let users = r.body["userinfo"].as_array().unwrap();
        assert!(users.len() <= 200);
        assert_eq!(users[0]["userid"], "alice");
        let items = users[0][list].as_array().unwrap();
        assert!(
            items
                .iter()
                .all(|f| f["id"].as_u64().is_some_and(|id| id <= 11)),
            "D36"
        );
        let data = unbase64(items[0]["data"].as_str().unwrap());
        assert!(
            !data.starts_with(&[0xFF, 0xD8, 0xFF]) && !data.starts_with(&[0x89, b'P', b'N', b'G']),
            "D37: an image"
        );
        assert!(data.len() >= 64);
        c.ok(&r, None).await;
    }
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d40_d41_firmware_and_log_requests() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = cloud.accept_logged_in().await;
    c.push("push_update_firmware", None).await;
    let r = c.expect("get_firmware_info").await;
    assert!(r.body.is_null(), "no body");
    c.ok(&r, Some(json!({"firmware_version": "9.9.9", "md5sum": "x", "size": 1, "download_url": "http://x"}))).await;
    c.push(
        "push_fetch_log",
        Some(json!({"hint": "device_log/20231114"})),
    )
    .await;
    let Some(Frame::Upload { req_id, data }) = c.frame(S(5)).await else {
        panic!("D41: no upload_log")
    };
    let text = String::from_utf8(data).unwrap();
    let stamp = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z ").unwrap();
    assert!(text.lines().count() >= 5, "{text}");
    assert!(
        text.lines().all(|l| stamp.is_match(l)),
        "D41 timestamps: {text}"
    );
    assert!(text.contains("device_log/20231114"));
    c.ok_id(&req_id, None).await;
    assert!(c.quiet(S(15)).await.is_empty(), "answered: not re-sent");
    // Unanswered uploads are re-sent like any request.
    c.push("push_fetch_log", Some(json!({"hint": "main"})))
        .await;
    let Some(Frame::Upload { req_id: first, .. }) = c.frame(S(5)).await else {
        panic!()
    };
    let Some(Frame::Upload { req_id: second, .. }) = c.frame(S(11)).await else {
        panic!()
    };
    assert_ne!(first, second);
    // A binary reply (§1.2) answers it too.
    c.send_binary(binary::encode_reply(&second, b"ok")).await;
    assert!(c.frame(S(15)).await.is_none(), "answered: not re-sent");
    cloud.stop().await;
}

#[tokio::test(start_paused = true)]
async fn unbind_push_drops_data_and_reactivates_on_the_same_link() {
    let mut cloud = Cloud::start(config(&[]));
    let mut c = login_with_contacts(&mut cloud, 2, &["alice"]).await;
    c.push("push_unbind_corp", None).await;
    let r = c.expect("active").await;
    assert_eq!(r.body["active_code"], ACTIVE_CODE);
    c.err(&r, 600004, Some("retry"), Some(5)).await;
    cloud.checkin("alice", Some(1), Some(1));
    let r = c.expect("active").await;
    assert!(c.log.iter().all(|x| x.cmd != "checkin"), "data wiped");
    // The mock's answer on a link that had subscribed: the device starts afresh.
    c.err(&r, 600054, Some("retry"), Some(0)).await;
    c.expect_closed(S(5)).await;
    let mut c = cloud.accept_logged_in().await;
    let r = c.expect("get_perm_version").await;
    c.ok(&r, Some(json!({"perm_version": 2}))).await;
    c.expect("get_userinfo_by_page").await; // version 0 after the wipe
    cloud.stop().await;
}
