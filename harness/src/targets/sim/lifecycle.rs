//! Getting logged in on a connection: `get_secret_no` (seed devices, D6) → `register` (D4,
//! D5, D7) → `active` (skipped with a cached secret, D10; polled while unbound, D8, D9) →
//! `subscribe_corp` (D11, D21), with the FAQ's lost-reply recovery codes (D17–D20, D23).

use super::config::{SimFault, SimVariant};
use super::link::{Outcome, Reply};
use super::policy::Advice;
use super::session::Ctx;
use crate::profile::identity::Secret;
use crate::profile::wecom::signature;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use std::time::Duration;

pub use crate::profile::wecom::catalog::codes::*;

/// Where the lifecycle starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Entry {
    /// A new connection.
    Connect,
    /// Re-activation on the same connection after the corp revoked the device (D23).
    Activation,
}

/// How the lifecycle ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LifeEnd {
    LoggedIn,
    /// A request may not be retried (`interval: -1`): the device idles on the connection.
    Idle,
    Reconnect(Duration),
    Down,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    SecretNo,
    Register,
    Active,
    Subscribe,
}

type Next = Result<Step, LifeEnd>;

pub(super) async fn run(ctx: &Ctx<'_>, entry: Entry) -> LifeEnd {
    let mut step = match entry {
        Entry::Connect => first_step(ctx),
        Entry::Activation => Step::Active,
    };
    loop {
        let next = match step {
            Step::SecretNo => secret_no(ctx).await,
            Step::Register => register(ctx).await,
            Step::Active => active(ctx).await,
            Step::Subscribe => subscribe(ctx).await,
        };
        match next {
            Ok(s) => step = s,
            Err(end) => {
                if end == LifeEnd::LoggedIn {
                    ctx.dev.log("logged in");
                }
                return end;
            }
        }
    }
}

fn first_step(ctx: &Ctx<'_>) -> Step {
    let dev = ctx.dev;
    let store = dev.store();
    if dev.has(SimFault::SkipRegister) && store.secret.is_some() {
        return Step::Subscribe;
    }
    if dev.has(SimFault::ResendSecretNo)
        || (store.seed.is_some() && store.secret_no.is_none() && !store.registered_ever)
    {
        return Step::SecretNo;
    }
    Step::Register
}

/// Where `register`'s success leads: `active`, or `subscribe_corp` with a cached secret
/// (D10's MAY; the `reactivates` variant activates anyway).
fn after_register(ctx: &Ctx<'_>) -> Step {
    if skips_active(ctx) {
        Step::Subscribe
    } else {
        Step::Active
    }
}

fn skips_active(ctx: &Ctx<'_>) -> bool {
    ctx.dev.store().secret.is_some() && !ctx.dev.is(SimVariant::Reactivates)
}

/// The generic answer to an error reply of the lifecycle request `again`.
async fn generic(ctx: &Ctx<'_>, r: &Reply, again: Step) -> Next {
    match ctx.dev.advice(r) {
        Advice::Retry(d) => {
            let d = if again == Step::Subscribe && ctx.dev.has(SimFault::SubscribeStorm) {
                Duration::from_secs(1)
            } else {
                d
            };
            tokio::time::sleep(d).await;
            Ok(again)
        }
        Advice::Never => {
            ctx.dev.log(format!(
                "{again:?} failed with {} (interval -1): not retried; idling",
                r.errcode
            ));
            Err(LifeEnd::Idle)
        }
        Advice::Reconnect(d) => Err(LifeEnd::Reconnect(d)),
    }
}

/// Sends one attempt; a timeout re-sends the same step at once (D13).
async fn attempt(
    ctx: &Ctx<'_>,
    cmd: &str,
    body: Value,
    again: Step,
) -> Result<Result<Value, Reply>, Next> {
    match ctx.link.call(cmd, Some(body)).await {
        Outcome::Ok(b) => Ok(Ok(b)),
        Outcome::Error(r) => Ok(Err(r)),
        Outcome::Timeout => Err(Ok(again)),
        Outcome::Down => Err(Err(LifeEnd::Down)),
    }
}

fn str_field(body: &Value, key: &str) -> Option<String> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The signed part of `register` / `get_secret_no` (D4, D5).
fn signed_body(ctx: &Ctx<'_>, key: &str, purpose: &str) -> Value {
    let dev = ctx.dev;
    let (sn, ts, nonce) = (dev.sn().to_string(), dev.now_unix(), dev.nonce());
    let (ts_s, nonce_s) = (ts.to_string(), nonce.to_string());
    let sig = if purpose == "register" && dev.has(SimFault::UnsortedSignature) {
        hex::encode(Sha1::digest(
            format!("{sn}{key}{ts_s}{nonce_s}register").as_bytes(),
        ))
    } else if purpose == "register" {
        signature::register(&sn, key, &ts_s, &nonce_s)
    } else {
        signature::get_secret_no(&sn, key, &ts_s, &nonce_s)
    };
    if purpose == "register" && dev.has(SimFault::StringNonce) {
        return json!({"sn": sn, "timestamp": ts_s, "nonce": nonce_s, "device_signature": sig});
    }
    json!({"sn": sn, "timestamp": ts, "nonce": nonce, "device_signature": sig})
}

async fn secret_no(ctx: &Ctx<'_>) -> Next {
    let dev = ctx.dev;
    let resend = dev.has(SimFault::ResendSecretNo);
    let key = {
        let store = dev.store();
        match store.seed.as_ref().or(store.secret_no.as_ref()) {
            Some(k) => k.expose().to_string(),
            None => return Ok(Step::Register),
        }
    };
    let body = signed_body(ctx, &key, "secret_no");
    match attempt(ctx, "get_secret_no", body, Step::SecretNo).await {
        Ok(Ok(b)) => match str_field(&b, "secret_no") {
            Some(s) => {
                dev.store().secret_no = Some(Secret::new(s));
                dev.log("received the per-device SecretNo");
                Ok(Step::Register)
            }
            None if resend => Ok(Step::Register),
            None => {
                tokio::time::sleep(dev.jitter()).await;
                Ok(Step::SecretNo)
            }
        },
        Ok(Err(_)) if resend => Ok(Step::Register),
        Ok(Err(r)) => generic(ctx, &r, Step::SecretNo).await,
        Err(next) if resend && next == Ok(Step::SecretNo) => Ok(Step::Register),
        Err(next) => next,
    }
}

async fn register(ctx: &Ctx<'_>) -> Next {
    let dev = ctx.dev;
    let Some(key) = dev
        .store()
        .secret_no
        .as_ref()
        .map(|s| s.expose().to_string())
    else {
        return Ok(Step::SecretNo);
    };
    let mut body = signed_body(ctx, &key, "register");
    body["net_info"] = json!({"wifi_name": "hwconform-lab", "mac_address": mac_address(dev.sn())});
    let r = match attempt(ctx, "register", body, Step::Register).await {
        Ok(Ok(b)) => {
            let has_code = {
                let mut store = dev.store();
                if let Some(code) = str_field(&b, "active_code") {
                    store.active_code = Some(Secret::new(code));
                }
                store.registered_ever |= store.active_code.is_some();
                store.active_code.is_some()
            };
            if !has_code {
                tokio::time::sleep(dev.jitter()).await;
                return Ok(Step::Register);
            }
            dev.log("registered");
            return Ok(after_register(ctx));
        }
        Ok(Err(r)) => r,
        Err(next) => return next,
    };
    match r.errcode {
        KEEP_ALIVE_REGISTERED if !dev.has(SimFault::LoopOn600012) => {
            dev.store().registered_ever = true;
            Ok(after_register(ctx))
        }
        ACTIVED => activated(ctx),
        HAS_SUBSCRIBED => Err(LifeEnd::LoggedIn),
        _ if dev.forbids_retry(&r) => generic(ctx, &r, Step::Register).await,
        REGISTERED => {
            let d = dev.registered_elsewhere_delay(r.interval);
            dev.log(format!(
                "register answered 600002 (live elsewhere): reconnecting in {} s",
                d.as_secs()
            ));
            Err(LifeEnd::Reconnect(d))
        }
        _ => generic(ctx, &r, Step::Register).await,
    }
}

/// The connection has activated (600053): on to `subscribe_corp` when a secret is held.
/// Without one (its reply was lost for good) only a new connection can get it.
fn activated(ctx: &Ctx<'_>) -> Next {
    if ctx.dev.store().secret.is_some() {
        Ok(Step::Subscribe)
    } else {
        Err(LifeEnd::Reconnect(ctx.dev.jitter()))
    }
}

async fn active(ctx: &Ctx<'_>) -> Next {
    let dev = ctx.dev;
    if skips_active(ctx) {
        return Ok(Step::Subscribe);
    }
    let code = dev
        .store()
        .active_code
        .as_ref()
        .map(|c| c.expose().to_string());
    let Some(code) = code else {
        return Err(LifeEnd::Reconnect(dev.jitter()));
    };
    let r = match attempt(ctx, "active", json!({"active_code": code}), Step::Active).await {
        Ok(Ok(b)) => {
            return match str_field(&b, "secret") {
                Some(s) => {
                    dev.store().secret = Some(Secret::new(s));
                    dev.log("activated");
                    Ok(Step::Subscribe)
                }
                None => {
                    tokio::time::sleep(dev.jitter()).await;
                    Ok(Step::Active)
                }
            };
        }
        Ok(Err(r)) => r,
        Err(next) => return next,
    };
    match r.errcode {
        ACTIVED => activated(ctx),
        HAS_SUBSCRIBED if dev.store().secret.is_some() => Err(LifeEnd::LoggedIn),
        HAS_SUBSCRIBED => Err(LifeEnd::Reconnect(dev.jitter())),
        _ if dev.forbids_retry(&r) => generic(ctx, &r, Step::Active).await,
        NOT_AUTHOR => {
            dev.store().deauthorize();
            let d = dev.active_poll_delay(r.interval);
            tracing::debug!(sn = %dev.sn(), delay = ?d, "not bound yet; polling active");
            if dev.has(SimFault::NoBindPushActive) {
                tokio::time::sleep(d).await;
            } else {
                tokio::select! {
                    biased;
                    _ = tokio::time::sleep(d) => {}
                    _ = ctx.bind.notified() => dev.log("bound to a corp: activating at once"),
                }
            }
            Ok(Step::Active)
        }
        INVALID_ACTIVECODE => {
            dev.store().active_code = None;
            Err(LifeEnd::Reconnect(dev.jitter()))
        }
        NOT_REGISTERED => Ok(Step::Register),
        _ => generic(ctx, &r, Step::Active).await,
    }
}

async fn subscribe(ctx: &Ctx<'_>) -> Next {
    let dev = ctx.dev;
    loop {
        let wait = dev.subscribe_slot();
        if wait.is_zero() {
            break;
        }
        tracing::debug!(sn = %dev.sn(), delay = ?wait, "subscribe budget spent; waiting");
        tokio::time::sleep(wait).await;
    }
    let Some(secret) = dev.store().secret.as_ref().map(|s| s.expose().to_string()) else {
        return Ok(Step::Active);
    };
    let body = json!({
        "secret": secret,
        "firmware_version": dev.config.firmware_version,
        "ext_args": {"fa_algorithm": ["default"]},
    });
    let r = match attempt(ctx, "subscribe_corp", body, Step::Subscribe).await {
        Ok(Ok(_)) => return Err(LifeEnd::LoggedIn),
        Ok(Err(r)) => r,
        Err(next) => return next,
    };
    match r.errcode {
        HAS_SUBSCRIBED => Err(LifeEnd::LoggedIn),
        _ if dev.forbids_retry(&r) => generic(ctx, &r, Step::Subscribe).await,
        NOT_AUTHOR => {
            dev.log(
                "corp authorization revoked (600004): secret and local data dropped, re-activating",
            );
            dev.store().deauthorize();
            Ok(Step::Active)
        }
        NOT_REGISTERED => Ok(Step::Register),
        NOT_ACTIVE => {
            dev.store().secret = None;
            Ok(Step::Active)
        }
        SUBSCRIBED if dev.is(SimVariant::ReconnectOn600045) => {
            let d = dev.reconnect_after_600045(r.interval);
            dev.log(format!(
                "subscribe_corp answered 600045: reconnecting in {} s",
                d.as_secs()
            ));
            Err(LifeEnd::Reconnect(d))
        }
        // D21's own rule for 600045 (back off) governs it, not D14's: the fault that
        // breaks D14 keeps to it, and only the storm breaks it.
        SUBSCRIBED if dev.has(SimFault::IgnoreInterval) => {
            tokio::time::sleep(dev.after_interval(r.interval)).await;
            Ok(Step::Subscribe)
        }
        _ => generic(ctx, &r, Step::Subscribe).await,
    }
}

/// A stable, locally administered MAC address derived from the SN.
fn mac_address(sn: &str) -> String {
    let h = Sha1::digest(sn.as_bytes());
    format!(
        "02:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
        h[0], h[1], h[2], h[3], h[4]
    )
}
