//! Check-ins: a person recognised from the local contacts makes a record (D32); records are
//! uploaded with `checkin` (≤200 a request) and stay queued until the cloud took them: a
//! record in `fail_list`, or in a request that failed or went unanswered, is re-sent
//! 5–10 s later (D33). Records outlive connections.

use super::config::SimFault;
use super::device::{CheckinRecord, Device};
use super::link::{Outcome, Stop};
use super::policy::Advice;
use super::session::Ctx;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Records per `checkin` request (D32).
pub const MAX_RECORDS: usize = 200;
/// `pass_type` "in" and `pass_method` "remote open" (DOC 93985).
pub const PASS_IN: u32 = 1;
pub const PASS_REMOTE_OPEN: u32 = 3;

/// A person at the device. Only a userid of the current local contacts (employees,
/// `user_type` 0) is recognised; anyone else produces nothing. Returns whether a record
/// was made.
pub(super) fn recognise(
    dev: &Device,
    userid: &str,
    pass_type: Option<u32>,
    pass_method: Option<u32>,
) -> bool {
    if !dev.store().contacts.users.contains_key(userid) {
        tracing::debug!(sn = %dev.sn(), userid, "not in the local contacts: not recognised");
        return false;
    }
    record(dev, userid, 0, pass_type, pass_method);
    true
}

/// Queues a record stamped with the device clock.
pub(super) fn record(
    dev: &Device,
    userid: &str,
    user_type: u32,
    pass_type: Option<u32>,
    pass_method: Option<u32>,
) {
    let timestamp = dev.now_unix();
    let mut store = dev.store();
    let seq = store.next_checkin;
    store.next_checkin += 1;
    store.checkins.push(CheckinRecord {
        seq,
        userid: userid.to_string(),
        user_type,
        timestamp,
        pass_type,
        pass_method,
    });
    drop(store);
    dev.log(format!("check-in recorded for {userid}"));
}

/// Removes the records `seqs` from the queue.
fn forget(dev: &Device, seqs: &BTreeSet<u64>) {
    dev.store().checkins.retain(|r| !seqs.contains(&r.seq));
}

/// The uploader of one logged-in connection. Returns only when the connection must end or
/// `checkin` may never be retried on it.
pub(super) async fn run(ctx: &Ctx<'_>) -> Stop {
    let dev = ctx.dev;
    let drop_failed = dev.has(SimFault::DropFailedCheckins);
    loop {
        let batch: Vec<CheckinRecord> = dev
            .store()
            .checkins
            .iter()
            .take(MAX_RECORDS)
            .cloned()
            .collect();
        if batch.is_empty() {
            ctx.checkin.notified().await;
            continue;
        }
        let all: BTreeSet<u64> = batch.iter().map(|r| r.seq).collect();
        let body =
            json!({"checkin_data": batch.iter().map(CheckinRecord::to_json).collect::<Vec<_>>()});
        match ctx.link.call("checkin", Some(body)).await {
            Outcome::Ok(reply) => {
                let failed: BTreeSet<u64> = batch
                    .iter()
                    .filter(|r| in_fail_list(&reply, r))
                    .map(|r| r.seq)
                    .collect();
                let done: BTreeSet<u64> = if drop_failed {
                    all
                } else {
                    all.difference(&failed).copied().collect()
                };
                forget(dev, &done);
                if !failed.is_empty() {
                    dev.log(format!(
                        "{} check-in records refused; kept for later",
                        failed.len()
                    ));
                    tokio::time::sleep(dev.checkin_retry_delay()).await;
                }
            }
            Outcome::Timeout => {
                if drop_failed {
                    forget(dev, &all);
                }
                tokio::time::sleep(dev.checkin_retry_delay()).await;
            }
            Outcome::Down => return Stop::Down,
            Outcome::Error(r) => {
                if drop_failed {
                    forget(dev, &all);
                }
                match dev.advice(&r) {
                    Advice::Retry(d) => tokio::time::sleep(d).await,
                    Advice::Never => return Stop::Never,
                    Advice::Reconnect(d) => return Stop::Reconnect(d),
                }
            }
        }
    }
}

/// Whether `fail_list` names the record (by userid and timestamp, and user_type if given).
fn in_fail_list(reply: &Value, r: &CheckinRecord) -> bool {
    reply
        .get("fail_list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|f| {
            f.get("userid").and_then(Value::as_str) == Some(r.userid.as_str())
                && f.get("timestamp")
                    .and_then(Value::as_u64)
                    .is_none_or(|t| t == r.timestamp)
                && f.get("user_type")
                    .and_then(Value::as_u64)
                    .is_none_or(|t| t == u64::from(r.user_type))
        })
}
