//! What the device does on each cloud push (§2.9, §3.3). Pushes get no acknowledgement
//! (§1.5); the ones that call for requests turn into jobs that run beside everything else,
//! so a remote open is reported at once even in the middle of a contact pull (D34).

use super::checkin::{self, PASS_IN, PASS_REMOTE_OPEN};
use super::config::{SimFault, SimVariant};
use super::contacts::{self, IDS_PER_CALL};
use super::device::{iso_utc, StoredUser};
use super::link::{Outcome, Push, Stop};
use super::policy::Advice;
use super::session::Ctx;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::{json, Value};
use std::time::Duration;

/// Length of the face / fingerprint templates the device "extracts".
const TEMPLATE_BYTES: usize = 128;
/// Delay of the `slow-remote-open-report` fault.
const SLOW_REPORT: Duration = Duration::from_secs(5);

pub(super) type Job<'a> = BoxFuture<'a, Result<(), Stop>>;

/// What the connection's session must do about a push.
pub(super) enum Action<'a> {
    Nothing,
    /// `push_bind_corp`: activate now (D9).
    Bind,
    /// `push_unbind_corp`: drop the secret and local data, back to activation.
    Unbind,
    /// A contact change was queued for the contacts worker.
    ContactsChanged,
    /// Requests to make beside everything else.
    Job(Job<'a>),
}

fn text(body: &Value, key: &str) -> String {
    body.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub(super) fn handle<'a>(ctx: &'a Ctx<'a>, push: Push) -> Action<'a> {
    let dev = ctx.dev;
    let body = push.body;
    tracing::debug!(sn = %dev.sn(), cmd = %push.cmd, "push received");
    if !implements(ctx, &push.cmd) {
        tracing::debug!(sn = %dev.sn(), cmd = %push.cmd, "push for a feature this device does not have ignored");
        return Action::Nothing;
    }
    match push.cmd.as_str() {
        "push_bind_corp" => Action::Bind,
        "push_unbind_corp" => Action::Unbind,
        "push_change_contact" | "push_change_userid" => {
            match contacts::change_from_push(&push.cmd, &body) {
                Some(change) => {
                    ctx.changes
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push_back(change);
                    Action::ContactsChanged
                }
                None => {
                    tracing::debug!(sn = %dev.sn(), cmd = %push.cmd, "contact push without a usable version ignored");
                    Action::Nothing
                }
            }
        }
        "push_visitor_list_change" => Action::Job(visitors(ctx, body).boxed()),
        "push_remote_open_door" => {
            Action::Job(remote_open(ctx, text(&body, "userid"), text(&body, "oper_id")).boxed())
        }
        "push_user_scan"
            if body.get("op_type").and_then(Value::as_str) == Some("scan_qrcode_open") =>
        {
            let oper_id = text(&body, "oper_id");
            Action::Job(async move { report_open(ctx, "scan_qrcode_open", &oper_id).await }.boxed())
        }
        "push_enter_page" => Action::Job(enrol(ctx, body).boxed()),
        "push_update_firmware" => Action::Job(firmware(ctx).boxed()),
        "push_fetch_log" => Action::Job(upload_log(ctx, text(&body, "hint")).boxed()),
        other => {
            tracing::debug!(sn = %dev.sn(), cmd = other, "push needs nothing from this device");
            Action::Nothing
        }
    }
}

/// Whether the device has the feature the push is about: a device without contacts
/// (`no-contacts`, `door-only`) or a door controller without visitors and enrolment
/// (`door-only`) ignores the push (no push needs an acknowledgement, §1.5).
fn implements(ctx: &Ctx<'_>, cmd: &str) -> bool {
    match cmd {
        "push_change_contact" | "push_change_userid" => ctx.dev.syncs_contacts(),
        "push_visitor_list_change" | "push_enter_page" => !ctx.dev.is(SimVariant::DoorOnly),
        _ => true,
    }
}

/// `report_remote_open_door` for a remote open or a scan to open (D34, D35): sent once at
/// once; a timeout re-sends it, an error reply follows the usual advice.
async fn report_open(ctx: &Ctx<'_>, kind: &str, oper_id: &str) -> Result<(), Stop> {
    let body = json!({"type": kind, "oper_id": oper_id, "status": 0});
    ctx.link
        .request("report_remote_open_door", || Some(body.clone()))
        .await
        .map(drop)
}

/// The door opens, the result is reported at once, then the pass is recorded (D34).
async fn remote_open(ctx: &Ctx<'_>, userid: String, oper_id: String) -> Result<(), Stop> {
    let dev = ctx.dev;
    dev.log(format!("remote open requested by {userid}"));
    if dev.has(SimFault::SlowRemoteOpenReport) {
        tokio::time::sleep(SLOW_REPORT).await;
    }
    let result = report_open(ctx, "remote_open_door", &oper_id).await;
    if !userid.is_empty() {
        checkin::record(dev, &userid, 0, Some(PASS_IN), Some(PASS_REMOTE_OPEN));
        ctx.checkin.notify_one();
    }
    result
}

/// `get_visitor_by_ids` for the created and updated visitors, userids as pushed with their
/// `/agentid` (D30, D31); deleted visitors are dropped, the version stored on success.
async fn visitors(ctx: &Ctx<'_>, body: Value) -> Result<(), Stop> {
    let dev = ctx.dev;
    let mut ids = contacts::userids(&body, "create_visitor");
    for id in contacts::userids(&body, "update_visitor") {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    {
        let mut store = dev.store();
        for id in contacts::userids(&body, "delete_visitor") {
            store.visitors.users.remove(&id);
        }
    }
    if dev.has(SimFault::StripVisitorAgentid) {
        for id in &mut ids {
            if let Some((user, _agent)) = id.split_once('/') {
                *id = user.to_string();
            }
        }
    }
    for chunk in ids.chunks(IDS_PER_CALL) {
        let req = json!({"userids": chunk});
        let reply = ctx
            .link
            .request("get_visitor_by_ids", || Some(req.clone()))
            .await?;
        let mut store = dev.store();
        for u in reply
            .get("userinfo")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = u.get("userid").and_then(Value::as_str) {
                store
                    .visitors
                    .users
                    .insert(id.to_string(), StoredUser::new(u));
            }
        }
    }
    if let Some(v) = contacts::version_of(&body, "visitor_version") {
        dev.store().visitors.version = v;
    }
    Ok(())
}

/// Enrolment (`push_enter_page`): the person's template goes up with `upload_userinfo`,
/// echoing `oper_id`; templates are features, never images (D36, D37).
async fn enrol(ctx: &Ctx<'_>, body: Value) -> Result<(), Stop> {
    let dev = ctx.dev;
    let userid = text(&body, "userid");
    if userid.is_empty() {
        tracing::debug!(sn = %dev.sn(), "push_enter_page without userid ignored");
        return Ok(());
    }
    let user_type = body.get("user_type").and_then(Value::as_u64).unwrap_or(0);
    let data = base64(&template(ctx));
    let mut user = json!({"userid": userid, "user_type": user_type});
    if text(&body, "page_type") == "fp" {
        user["fp"] = json!([{"id": 0, "data": data}]);
    } else {
        user["fa_list"] = json!([{"id": 0, "data": data}]);
    }
    let req = json!({"oper_id": text(&body, "oper_id"), "userinfo": [user]});
    dev.log(format!("enrolled {userid}"));
    ctx.link
        .request("upload_userinfo", || Some(req.clone()))
        .await
        .map(drop)
}

/// A template: a tagged feature vector, or (fault) a JPEG image.
fn template(ctx: &Ctx<'_>) -> Vec<u8> {
    let dev = ctx.dev;
    if dev.has(SimFault::ImageAsFeature) {
        let mut jpeg = vec![
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00,
        ];
        jpeg.extend(dev.random_bytes(TEMPLATE_BYTES));
        jpeg.extend([0xFF, 0xD9]);
        return jpeg;
    }
    let mut t = b"HWCF\x01".to_vec();
    t.extend(dev.random_bytes(TEMPLATE_BYTES - t.len()));
    t
}

/// `push_update_firmware` → `get_firmware_info` (D40); the sim never installs anything.
async fn firmware(ctx: &Ctx<'_>) -> Result<(), Stop> {
    let info = ctx.link.request("get_firmware_info", || None).await?;
    let offered = info
        .get("firmware_version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let current = &ctx.dev.config.firmware_version;
    if !offered.is_empty() && offered != current {
        ctx.dev.log(format!(
            "firmware {offered} offered (running {current}); not installed by the simulator"
        ));
    } else {
        ctx.dev.log("firmware is up to date");
    }
    Ok(())
}

/// `push_fetch_log` → a binary `upload_log` with timestamped lines (D3, D41).
async fn upload_log(ctx: &Ctx<'_>, hint: String) -> Result<(), Stop> {
    let dev = ctx.dev;
    dev.log(format!("log requested (hint {hint:?})"));
    let data = {
        let store = dev.store();
        let mut lines: Vec<String> = store.log.iter().cloned().collect();
        lines.push(format!(
            "{} upload_log hint={hint}",
            iso_utc(dev.now_unix())
        ));
        lines.join("\n").into_bytes()
    };
    loop {
        match ctx.link.upload_log(&data).await {
            Outcome::Ok(_) => return Ok(()),
            Outcome::Timeout => {}
            Outcome::Down => return Err(Stop::Down),
            Outcome::Error(r) => match dev.advice(&r) {
                Advice::Retry(d) => tokio::time::sleep(d).await,
                Advice::Never => return Err(Stop::Never),
                Advice::Reconnect(d) => return Err(Stop::Reconnect(d)),
            },
        }
    }
}

/// Standard base64 with padding (RFC 4648).
pub(super) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }
}
