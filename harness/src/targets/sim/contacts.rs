//! Keeping the contacts in sync: after each login compare `get_perm_version` with the local
//! version and pull everything if they differ (D24–D27); apply `push_change_contact` /
//! `push_change_userid` with an incremental pull when the version moves by one (D28), a full
//! pull when pushes were missed (D29). One worker per logged-in connection does all of it,
//! so pulls never overlap.

use super::config::{SimFault, SimVariant};
use super::device::{StoredUser, UserSet};
use super::link::Stop;
use super::session::Ctx;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Users per `get_userinfo_by_page` (the reference allows up to 200, D25).
pub const PAGE_LIMIT: u64 = 100;
/// Userids per `get_userinfo_by_ids` / `get_visitor_by_ids` (D28).
pub const IDS_PER_CALL: usize = 200;
/// What the `admin-first` variant asks before the contacts version (D24 says "e.g."), and
/// the catalog command it asks instead should the catalog not know that one.
pub const ADMIN_FIRST: &str = "get_admin_info";
const ADMIN_FIRST_FALLBACK: &str = "get_corp_info";

/// A contact change pushed by the cloud, queued for the worker.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Change {
    Contacts {
        version: u64,
        changed: Vec<String>,
        deleted: Vec<String>,
    },
    Userid {
        version: u64,
        old: String,
        new: String,
    },
}

impl Change {
    fn version(&self) -> u64 {
        match self {
            Change::Contacts { version, .. } | Change::Userid { version, .. } => *version,
        }
    }
}

/// The userids of a push list (`[{userid, user_type}]`, or plain strings).
pub(super) fn userids(body: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in body
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = item
            .as_str()
            .or_else(|| item.get("userid").and_then(Value::as_str));
        if let Some(id) = id.filter(|s| !s.is_empty()) {
            if !out.iter().any(|o| o == id) {
                out.push(id.to_string());
            }
        }
    }
    out
}

pub(super) fn version_of(body: &Value, key: &str) -> Option<u64> {
    body.get(key).and_then(Value::as_u64)
}

/// Reads a contact push into a [`Change`]; `None` when it carries no version.
pub(super) fn change_from_push(cmd: &str, body: &Value) -> Option<Change> {
    let version = version_of(body, "perm_version")?;
    match cmd {
        "push_change_contact" => {
            let mut changed = userids(body, "create_user");
            for id in userids(body, "update_user") {
                if !changed.contains(&id) {
                    changed.push(id);
                }
            }
            Some(Change::Contacts {
                version,
                changed,
                deleted: userids(body, "delete_user"),
            })
        }
        "push_change_userid" => {
            let get = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
            Some(Change::Userid {
                version,
                old: get("old_userid")?,
                new: get("new_userid")?,
            })
        }
        _ => None,
    }
}

/// Users of a pull reply, by userid.
fn users_of(body: &Value) -> Vec<(String, StoredUser)> {
    body.get("userinfo")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|u| {
            u.get("userid")
                .and_then(Value::as_str)
                .map(|id| (id.to_string(), StoredUser::new(u)))
        })
        .collect()
}

/// The worker: version check after login, then queued pushes. Returns only when the
/// connection must end (or a request may never be retried).
pub(super) async fn run(ctx: &Ctx<'_>) -> Stop {
    let dev = ctx.dev;
    tokio::time::sleep(dev.contact_sync_delay()).await;
    if dev.is(SimVariant::AdminFirst) {
        // One attempt whatever the answer: the contacts version comes next either way.
        let _ = ctx.link.call(admin_first_command(), None).await;
    }
    let mut full_pull = match ctx.link.request("get_perm_version", || None).await {
        Ok(b) => version_of(&b, "perm_version")
            .is_some_and(|cloud| cloud != dev.store().contacts.version),
        Err(Stop::Never) => false,
        Err(stop) => return stop,
    };
    loop {
        if full_pull {
            match pull_all(ctx).await {
                Ok(()) => {}
                Err(Stop::Never) => {}
                Err(stop) => return stop,
            }
            full_pull = false;
        }
        let next = ctx
            .changes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        match next {
            Some(change) => match apply(ctx, change).await {
                Ok(needs_full) => full_pull = needs_full,
                Err(Stop::Never) => {}
                Err(stop) => return stop,
            },
            None => ctx.sync.notified().await,
        }
    }
}

/// The `admin-first` variant's first business request.
pub(super) fn admin_first_command() -> &'static str {
    if crate::profile::wecom::Catalog::get().is_device_command(ADMIN_FIRST) {
        ADMIN_FIRST
    } else {
        ADMIN_FIRST_FALLBACK
    }
}

/// Applies one pushed change; `Ok(true)` when a full pull is needed instead (D29).
async fn apply(ctx: &Ctx<'_>, change: Change) -> Result<bool, Stop> {
    let dev = ctx.dev;
    let local = dev.store().contacts.version;
    let pushed = change.version();
    if pushed <= local {
        tracing::debug!(sn = %dev.sn(), pushed, local, "stale contact push ignored");
        return Ok(false);
    }
    if pushed - local >= 2 && !dev.has(SimFault::DeltaOnGap) {
        dev.log(format!(
            "contact version jumped from {local} to {pushed}: full pull scheduled"
        ));
        return Ok(true);
    }
    match change {
        Change::Userid { old, new, .. } => {
            let mut store = dev.store();
            if let Some(user) = store.contacts.users.remove(&old) {
                let mut user = user.value();
                user["userid"] = json!(new);
                store.contacts.users.insert(new, StoredUser::new(&user));
            }
            store.contacts.version = pushed;
        }
        Change::Contacts {
            changed, deleted, ..
        } => {
            {
                let mut store = dev.store();
                for id in &deleted {
                    store.contacts.users.remove(id);
                }
            }
            if !dev.has(SimFault::SkipIncrementalPull) {
                for chunk in changed.chunks(IDS_PER_CALL) {
                    let body = if dev.is(SimVariant::UserItem) {
                        // The push's change lists keep only the ids: every one a member.
                        let items: Vec<Value> = chunk
                            .iter()
                            .rev()
                            .map(|id| json!({"userid": id, "user_type": 0}))
                            .collect();
                        json!({"user_item": items, "is_req_fp_info": 1, "is_req_fa_info": 1})
                    } else {
                        json!({"userids": chunk, "is_req_fp_info": 1, "is_req_fa_info": 1})
                    };
                    let reply = ctx
                        .link
                        .request("get_userinfo_by_ids", || Some(body.clone()))
                        .await?;
                    let mut store = dev.store();
                    for (id, user) in users_of(&reply) {
                        store.contacts.users.insert(id, user);
                    }
                }
            }
            dev.store().contacts.version = pushed;
        }
    }
    dev.log(format!("contacts now at version {pushed}"));
    Ok(false)
}

/// A full pull (D24–D27): pages from offset 0 with contiguous offsets until `is_last`; the
/// old set stays in use until the last page, then the new one replaces it at once. A page
/// reporting another `perm_version` than the first restarts the pull.
async fn pull_all(ctx: &Ctx<'_>) -> Result<(), Stop> {
    let dev = ctx.dev;
    let limit = if dev.has(SimFault::FullPullLimit500) {
        500
    } else {
        PAGE_LIMIT
    };
    'restart: loop {
        dev.log("full contact pull started");
        if dev.has(SimFault::WipeBeforeFullPull) {
            dev.store().contacts.users.clear();
        }
        let mut offset: u64 = 0;
        let mut first_version: Option<u64> = None;
        let mut staged: BTreeMap<String, StoredUser> = BTreeMap::new();
        loop {
            let body =
                json!({"offset": offset, "limit": limit, "is_req_fp_info": 1, "is_req_fa_info": 1});
            let page = ctx
                .link
                .request("get_userinfo_by_page", || Some(body.clone()))
                .await?;
            let version = version_of(&page, "perm_version");
            match (first_version, version) {
                (None, v) => first_version = v,
                (Some(first), Some(v)) if v != first && !dev.has(SimFault::NoFullPullRestart) => {
                    dev.log(format!(
                        "perm_version moved from {first} to {v} during the pull: restarting"
                    ));
                    continue 'restart;
                }
                _ => {}
            }
            let users = users_of(&page);
            let count = page
                .get("userinfo")
                .and_then(Value::as_array)
                .map_or(0, Vec::len) as u64;
            staged.extend(users);
            // A page without is_last, or an empty one, ends the pull: never page forever.
            let last = page.get("is_last").and_then(Value::as_bool).unwrap_or(true) || count == 0;
            if last {
                let mut store = dev.store();
                let version = first_version.unwrap_or(store.contacts.version);
                store.contacts = UserSet {
                    version,
                    users: staged,
                };
                let n = store.contacts.users.len();
                drop(store);
                dev.log(format!(
                    "full contact pull done: {n} users at version {version}"
                ));
                return Ok(());
            }
            offset += count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_bodies() {
        let body = json!({"perm_version": 4, "create_user": [{"userid": "a"}, {"userid": "b"}],
            "update_user": [{"userid": "b", "user_type": 0}, "c"], "delete_user": [{"userid": "d"}, {"x": 1}]});
        assert_eq!(
            change_from_push("push_change_contact", &body),
            Some(Change::Contacts {
                version: 4,
                changed: vec!["a".into(), "b".into(), "c".into()],
                deleted: vec!["d".into()]
            })
        );
        assert_eq!(
            change_from_push("push_change_contact", &json!({"create_user": []})),
            None
        );
        let body = json!({"perm_version": 2, "old_userid": "o", "new_userid": "n"});
        assert_eq!(
            change_from_push("push_change_userid", &body),
            Some(Change::Userid {
                version: 2,
                old: "o".into(),
                new: "n".into()
            })
        );
    }
}
