//! What must never be shown (secrets) and what changes from run to run (volatile values).
//!
//! Transcripts, reports and failure messages only ever see frames passed through
//! [`redact_secrets`]; golden snapshots additionally replace volatile values.

use serde_json::Value;

/// Keys whose values are credentials: a device or cloud that holds them can log in.
pub const SECRET_KEYS: &[&str] = &["secret", "secret_no", "active_code", "seed_secret_no"];

/// Keys whose values differ between runs: golden snapshots show placeholders instead.
pub const VOLATILE_KEYS: &[&str] = &[
    "req_id",
    "timestamp",
    "nonce",
    "device_signature",
    "signature",
    "oper_id",
];

pub use crate::profile::{redact_text, REDACTED};

/// Whether a key names a credential.
pub fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
}

/// A copy of `value` with every credential replaced by [`REDACTED`], at any depth.
pub fn redact_secrets(value: &Value) -> Value {
    let mut copy = value.clone();
    redact_secrets_in_place(&mut copy);
    copy
}

/// Whether [`redact_secrets`] would change `value`: a credential key with a value that is not
/// `null` (already `<redacted>` counts too: replacing it changes nothing, but saying so would
/// take another comparison for no gain).
pub fn holds_secrets(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| (is_secret_key(k) && !v.is_null()) || holds_secrets(v)),
        Value::Array(items) => items.iter().any(holds_secrets),
        _ => false,
    }
}

/// [`redact_secrets`] on `value` itself.
pub fn redact_secrets_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) && !v.is_null() {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact_secrets_in_place(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secrets_in_place),
        _ => {}
    }
}

/// Body fields that differ between two sends of the same request (a re-send is signed anew).
pub const RESEND_VOLATILE: &[&str] = &["timestamp", "nonce", "device_signature", "signature"];

/// A request body with the fields a re-send changes removed: two sends of the same request
/// compare equal, two different requests do not.
pub fn resend_body(frame: &Value) -> Value {
    let mut body = frame.get("body").cloned().unwrap_or(Value::Null);
    if let Some(o) = body.as_object_mut() {
        o.retain(|k, _| !RESEND_VOLATILE.contains(&k.as_str()));
    }
    body
}

/// What a text frame too large to record keeps: `cmd`, `headers` (with `req_id`), `errcode`
/// and a digest of the body without its volatile fields, never the body itself.
pub fn large_frame_envelope(v: &Value) -> Value {
    use sha1::Digest;
    let digest = hex::encode(sha1::Sha1::digest(resend_body(v).to_string().as_bytes()));
    let mut e = serde_json::json!({"body_digest": digest});
    for key in ["cmd", "headers", "errcode"] {
        if let Some(x) = v.get(key) {
            e[key] = x.clone();
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn nested_secrets_are_redacted() {
        let v = json!({"body": {"secret": "s3", "list": [{"secret_no": "x"}], "sn": "SN1"}});
        let r = redact_secrets(&v);
        assert_eq!(
            r,
            json!({"body": {"secret": REDACTED, "list": [{"secret_no": REDACTED}], "sn": "SN1"}})
        );
    }

    proptest! {
        /// What `holds_secrets` calls clean, `redact_secrets` leaves as it is: the recorder
        /// keeps such a frame itself, without a redacted copy.
        #[test]
        fn a_frame_holds_secrets_whenever_redaction_changes_it(v in crate::profile::json::arb_tree(
            prop_oneof![Just(Value::Null), Just(json!("s3")), Just(json!(REDACTED)), any::<i32>().prop_map(|n| json!(n))],
            prop_oneof![Just("secret".to_string()), Just("secret_no".to_string()), Just("active_code".to_string()), "[a-z]{1,4}"],
        )) {
            prop_assert!(holds_secrets(&v) || redact_secrets(&v) == v, "{v}");
        }

        #[test]
        fn redacted_text_never_contains_the_secret(prefix in ".{0,10}", secret in "[a-z0-9]{4,12}", suffix in ".{0,10}") {
            let text = format!("{prefix}{secret}{suffix}");
            prop_assert!(!redact_text(&text, &[&secret]).contains(&secret));
        }
    }
}
