//! The business commands a logged-in device sends, answered from the corp as the catalog
//! documents them: the directory pulls, versions, check-ins, enrolment uploads, remote-open
//! reports, temperatures, firmware, photos, logs.
//!
//! Limits (the reference's §5 table): a page or an id list is answered with at most 200
//! items (a bigger `limit` is not honoured, C15); `checkin` and `upload_userinfo` take the
//! first 200 items (the rest of a `checkin` is listed in `fail_list` so the device sends it
//! again); an async temperature batch takes 100.

use super::super::config::MockRule;
use super::super::corp::{self, MAX_ITEMS};
use super::super::{MockCloud, Shared};
use super::classify::str_field;
use crate::profile::wecom::catalog::Catalog;
use crate::profile::wecom::envelope;
use serde_json::{json, Map, Value};

/// The marker of a reply body that goes out as a binary frame (`{BINARY_DATA: "..."}`).
pub(super) const BINARY_DATA: &str = "$binary_data";

/// Items a `async_batch_report_user_temperature` is answered for.
const MAX_TEMPERATURES: usize = 100;

/// Whether a request lacks a field the catalog marks required, or gives a top-level field of
/// another type than the catalog's (a list, an unsigned number): the mock answers it 600904.
pub(super) fn malformed(cmd: &str, body: Option<&Map<String, Value>>) -> bool {
    let Some(command) = Catalog::get().command(cmd) else {
        return false;
    };
    command
        .request_body_fields
        .iter()
        .filter(|f| !f.name.contains(['.', '[']))
        .any(|f| {
            let value = body.and_then(|b| b.get(&f.name));
            let missing = f.required == Some(true) && value.is_none();
            let wrong_type = value.is_some_and(|v| {
                (f.ty.starts_with("array") && !v.is_array())
                    || (f.ty.starts_with("uint") && !v.is_u64())
            });
            missing || wrong_type
        })
}

fn uint(body: Option<&Map<String, Value>>, key: &str) -> Option<u64> {
    body?.get(key)?.as_u64()
}

/// `is_req_*` flags: 1 by default for templates, 0 for the public key.
fn flag(body: Option<&Map<String, Value>>, key: &str, default: bool) -> bool {
    uint(body, key).map_or(default, |v| v != 0)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().or_else(|| x.get("userid")?.as_str()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl MockCloud {
    /// Serves a business command for `sn`: the reply body and the pushes for this link.
    pub(super) fn serve(
        &self,
        shared: &mut Shared,
        cmd: &str,
        body: Option<&Map<String, Value>>,
        sn: Option<&str>,
    ) -> (Option<Value>, Vec<Value>) {
        let sn = sn.unwrap_or_default();
        let index = shared.corps.index_of(Some(sn));
        let mut changes = Vec::new();
        let (body, mut pushes) = self.answer(shared.corps.at(index), cmd, body, sn, &mut changes);
        for change in changes {
            pushes.extend(self.push_to_corp(shared, index, &change, Some(sn)).0);
        }
        (body, pushes)
    }

    /// The answer to a business command from `corp`; the directory changes it made go in
    /// `changes` (their pushes are sent by the caller, to the whole corp).
    fn answer(
        &self,
        corp: &mut corp::Corp,
        cmd: &str,
        body: Option<&Map<String, Value>>,
        sn: &str,
        changes: &mut Vec<corp::CorpPush>,
    ) -> (Option<Value>, Vec<Value>) {
        let now = self.now_unix();
        let reply = |v: Value| (Some(v), Vec::new());
        match cmd {
            "get_timestamp" => reply(json!({"timestamp": now})),
            "get_corp_info" => reply(json!({"corp_name": corp.name})),
            "get_perm_version" => reply(json!({"perm_version": corp.perm_version()})),
            "get_visitor_version" => reply(json!({"visitor_version": corp.visitor_version()})),
            "get_userinfo_by_page" => {
                let (fp, fa, pk) = (
                    flag(body, "is_req_fp_info", true),
                    flag(body, "is_req_fa_info", true),
                    flag(body, "is_req_public_key", false),
                );
                let offset = uint(body, "offset").unwrap_or(0) as usize;
                let limit = uint(body, "limit").unwrap_or(MAX_ITEMS as u64) as usize;
                let (items, is_last) = corp.page_users(offset, limit);
                let users: Vec<Value> = items
                    .into_iter()
                    .map(|u| corp.userinfo(u, sn, fp, fa, pk))
                    .collect();
                reply(
                    json!({"is_last": is_last, "perm_version": corp.perm_version(), "userinfo": users}),
                )
            }
            "get_userinfo_by_ids" => {
                let (fp, fa, pk) = (
                    flag(body, "is_req_fp_info", true),
                    flag(body, "is_req_fa_info", true),
                    flag(body, "is_req_public_key", false),
                );
                let mut ids = strings(body.and_then(|b| b.get("userids")));
                ids.extend(strings(body.and_then(|b| b.get("user_item"))));
                let users: Vec<Value> = ids
                    .iter()
                    .take(MAX_ITEMS)
                    .filter_map(|id| corp.user(id))
                    .map(|u| corp.userinfo(u, sn, fp, fa, pk))
                    .collect();
                reply(json!({"userinfo": users}))
            }
            "get_visitor_by_ids" => {
                let pk = flag(body, "is_req_public_key", false);
                let ids = strings(body.and_then(|b| b.get("userids")));
                let visitors: Vec<Value> = ids
                    .iter()
                    .take(MAX_ITEMS)
                    .filter(|id| corp::is_visitor_id(id))
                    .filter_map(|id| corp.user(id))
                    .map(|u| corp.userinfo(u, sn, false, true, pk))
                    .collect();
                reply(json!({"userinfo": visitors}))
            }
            "get_visitor_list" => {
                let visitors: Vec<Value> = corp
                    .visitors()
                    .map(|u| corp.userinfo(u, sn, false, true, false))
                    .collect();
                reply(json!({"visitor_version": corp.visitor_version(), "userinfo": visitors}))
            }
            "check_userid" => {
                let old = strings(body.and_then(|b| b.get("userid")));
                let items: Vec<Value> = body
                    .and_then(|b| b.get("userid_item"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let (legal, illegal): (Vec<String>, Vec<String>) = old
                    .into_iter()
                    .take(MAX_ITEMS)
                    .partition(|id| corp.user(id).is_some());
                let (legal_items, illegal_items): (Vec<Value>, Vec<Value>) =
                    items.into_iter().take(MAX_ITEMS).partition(|i| {
                        i.get("userid")
                            .and_then(Value::as_str)
                            .is_some_and(|id| corp.user(id).is_some())
                    });
                reply(
                    json!({"legal_userid": legal, "illegal_userid": illegal, "legal_userid_item": legal_items, "illegal_userid_item": illegal_items}),
                )
            }
            "get_notify_history" => {
                let after = uint(body, "perm_version").unwrap_or(0).min(u32::MAX as u64) as u32;
                let offset = uint(body, "offset").unwrap_or(0) as usize;
                let limit = uint(body, "limit").unwrap_or(MAX_ITEMS as u64) as usize;
                let (items, is_last) = corp.notify_history(after, offset, limit, now);
                reply(json!({"is_last": is_last, "item": items}))
            }
            "checkin" => {
                let records: Vec<Value> = body
                    .and_then(|b| b.get("checkin_data"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut fail_list = Vec::new();
                for (i, r) in records.iter().enumerate() {
                    let fail = |r: &Value| json!({"userid": r.get("userid"), "user_type": r.get("user_type").cloned().unwrap_or(json!(0)), "timestamp": r.get("timestamp")});
                    if i >= MAX_ITEMS || corp.checkin(sn, r).is_err() {
                        fail_list.push(fail(r));
                    }
                }
                reply(json!({"fail_list": fail_list}))
            }
            "upload_userinfo" => {
                // A failed enrolment (the device's own `errcode`) changes nothing.
                let failed = body
                    .and_then(|b| b.get("errcode"))
                    .and_then(Value::as_i64)
                    .is_some_and(|c| c != 0);
                let items: Vec<Value> = if failed {
                    Vec::new()
                } else {
                    body.and_then(|b| b.get("userinfo"))
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                };
                let pushes: Vec<Value> = Vec::new();
                for item in items.iter().take(MAX_ITEMS) {
                    if let Some(Ok(push)) = corp.upload_templates(sn, item, now) {
                        changes.push(push);
                    }
                }
                (None, pushes)
            }
            "report_remote_open_door" => {
                // The docs' example writes `"status "` (trailing space); accept both.
                let status = uint(body, "status").or_else(|| uint(body, "status "));
                let oper_id = str_field(body, "oper_id").unwrap_or_default();
                corp.report_remote_open(oper_id, status, self.now_ms());
                (None, Vec::new())
            }
            "report_user_temperature" => {
                corp.keep(
                    |r| &mut r.temperatures,
                    json!({"sn": sn, "at": now, "report": body}),
                );
                reply(json!({"status": 0}))
            }
            "async_batch_report_user_temperature" => {
                let items: Vec<Value> = body
                    .and_then(|b| b.get("item"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let results: Vec<Value> = items
                    .iter()
                    .take(MAX_TEMPERATURES)
                    .map(|i| {
                        corp.keep(|r| &mut r.temperatures, json!({"sn": sn, "at": now, "report": i}));
                        json!({"userid": i.get("userid"), "user_type": i.get("user_type"), "timestamp": i.get("timestamp"), "errcode": 0, "errmsg": "ok"})
                    })
                    .collect();
                reply(json!({"result_list": results}))
            }
            "get_health_status" => {
                let userid = str_field(body, "userid").unwrap_or_default();
                reply(json!({"status": 0, "qrcode_data": format!("mock-health:{userid}")}))
            }
            "get_open_self_input" => reply(
                json!({"open_self_input_fp": corp.self_input.fp, "open_self_input_fa": corp.self_input.fa}),
            ),
            "get_admin_info" => {
                let admins: Vec<Value> = corp.admins.iter().map(|a| json!({"userid": a})).collect();
                reply(json!({"admin_list": admins}))
            }
            "get_firmware_info" => match &corp.firmware {
                Some(f) => reply(
                    json!({"firmware_version": f.firmware_version, "md5sum": f.md5sum, "size": f.size, "download_url": f.download_url}),
                ),
                None => reply(
                    json!({"firmware_version": "", "md5sum": "", "size": 0, "download_url": ""}),
                ),
            },
            "upload_userinfo_photo" => {
                corp.keep(
                    |r| &mut r.photos,
                    json!({"sn": sn, "at": now, "upload": body}),
                );
                (None, Vec::new())
            }
            "download_photo" => {
                let media_id = str_field(body, "media_id").unwrap_or_default();
                reply(json!({BINARY_DATA: format!("mock-photo:{media_id}")}))
            }
            "error_report" => {
                corp.keep(
                    |r| &mut r.error_reports,
                    json!({"sn": sn, "at": now, "report": body}),
                );
                (None, Vec::new())
            }
            "gen_login_qrcode" => {
                let state = str_field(body, "state").unwrap_or_default();
                corp.issued_qr(sn, state, now);
                let url = format!("https://open.work.weixin.qq.com/connect/hardware?sn={}&state={}&type=static_login", percent(sn), percent(state));
                reply(json!({BINARY_DATA: url}))
            }
            "selfhelp_notify" => {
                let pushes = match str_field(body, "data") {
                    Some(data) if self.config.enforces(MockRule::NoSelfhelpEcho) => {
                        vec![envelope::push(
                            super::effects::SELFHELP_PUSH,
                            &self.push_req_id(),
                            Some(json!({"data": data})),
                        )]
                    }
                    _ => Vec::new(),
                };
                (None, pushes)
            }
            _ => (None, Vec::new()),
        }
    }
}

/// `s` as a URL query value: unreserved characters kept, every other byte `%XX`, so a state
/// cannot add parameters of its own.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
