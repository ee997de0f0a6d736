//! Default request bodies: a scenario's `request: {cmd: register}` without a body gets `sn`,
//! `nonce`, `timestamp` and a valid signature from the device identity, so scenarios spell
//! out only what they test.

use super::signature;
pub use crate::profile::DefaultContext;
use serde_json::{json, Map, Value};

/// Fills in `body` for `cmd`: fields the scenario gave win; a signature is computed over the
/// final values unless the scenario gave one. Returns `None` for parameterless commands
/// that got no body.
pub fn fill_body(cmd: &str, given: Option<Value>, ctx: &DefaultContext<'_>) -> Option<Value> {
    let mut body: Map<String, Value> = match given {
        Some(Value::Object(m)) => m,
        Some(other) => return Some(other),
        None => Map::new(),
    };
    let mut set_default = |k: &str, v: Value| {
        body.entry(k.to_string()).or_insert(v);
    };
    match cmd {
        "register" | "get_secret_no" => {
            set_default("sn", json!(ctx.identity.sn));
            set_default("timestamp", json!(ctx.now));
            set_default("nonce", json!(ctx.nonce));
            if !body.contains_key("device_signature") {
                let text = |k: &str| {
                    body.get(k)
                        .and_then(signature::value_text)
                        .unwrap_or_default()
                };
                let (sn, ts, nonce) = (text("sn"), text("timestamp"), text("nonce"));
                let sig = if cmd == "register" {
                    signature::register(&sn, ctx.identity.secret_no.expose(), &ts, &nonce)
                } else {
                    let seed = ctx
                        .seed_secret_no
                        .unwrap_or(ctx.identity.secret_no.expose());
                    signature::get_secret_no(&sn, seed, &ts, &nonce)
                };
                body.insert("device_signature".into(), json!(sig));
            }
        }
        "active" => {
            if let Some(code) = (ctx.lookup)("active_code") {
                set_default("active_code", code);
            }
        }
        "subscribe_corp" => {
            if let Some(secret) = (ctx.lookup)("secret") {
                set_default("secret", secret);
            }
            set_default("firmware_version", json!("hwconform-1.0.0"));
        }
        _ => {}
    }
    if body.is_empty() {
        None
    } else {
        Some(Value::Object(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::DeviceIdentity;

    #[test]
    fn register_defaults_sign_with_the_identity() {
        let id = DeviceIdentity::new("SN0001", "S3cretNo");
        let ctx = DefaultContext {
            identity: &id,
            seed_secret_no: None,
            now: 1700000000,
            nonce: 123456,
            lookup: &|_| None,
        };
        let body = fill_body("register", None, &ctx).unwrap();
        assert_eq!(
            body["device_signature"],
            "3adf75b3fe09630b3b7c6268a35a68c105c320a7"
        );
        assert_eq!(body["sn"], "SN0001");
        // A given timestamp is signed as given: a stale request is still correctly signed.
        let body = fill_body("register", Some(json!({"timestamp": 1})), &ctx).unwrap();
        assert_eq!(
            body["device_signature"],
            signature::register("SN0001", "S3cretNo", "1", "123456")
        );
        assert!(fill_body("ping", None, &ctx).is_none());
    }
}
