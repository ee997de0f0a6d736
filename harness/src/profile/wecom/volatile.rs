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

/// Strings up to this many bytes are kept whole in a large frame's summary; longer ones by
/// their start and a digest. Ids and codes are far shorter, so what the monitors compare
/// survives; a value padded to megabytes does not.
pub const SUMMARY_STRING: usize = 1024;
/// Bytes a large frame's summary spends on what the monitors do not read; the fields they
/// read (`cmd`, `headers.req_id`, `errcode`, the body's shape...) are kept beyond it.
const SUMMARY_BUDGET: usize = 8 * 1024;
/// Keys kept in a summary whatever the budget: every field an always-on monitor reads, at
/// the depth it reads it (the envelope's, then those of `headers` and `body`).
const SUMMARY_KEYS: [&[&str]; 2] = [
    &[
        "cmd",
        "headers",
        "errcode",
        "errmsg",
        "suggestion",
        "interval",
        "body",
    ],
    &["req_id", "sn", "nonce"],
];
/// Containers deeper than this are summarised by a digest: no monitor reads below `body.x`.
const SUMMARY_DEPTH: usize = 2;

/// What a text frame too large to record keeps: a bounded summary of the JSON value that
/// every always-on monitor reads as it reads the frame itself (a large frame is judged as a
/// small one), plus, for an object, `body_digest` (the digest of the body without its volatile
/// fields: a re-send of a large request is still seen as one). Every key the monitors read is
/// kept at the depths they read it; long strings keep their start and a digest (two different
/// ones stay different), deeper containers and what the budget leaves out become digests. The
/// summary is a few KiB whatever the frame's size, and its recursion is as deep as
/// `SUMMARY_DEPTH` levels, whatever the frame's nesting. Redact `v` before: digests and the kept
/// starts of long strings are taken from it.
pub fn large_frame_envelope(v: &Value) -> Value {
    let mut budget = SUMMARY_BUDGET;
    let mut e = summary(v, 0, &mut budget);
    if let Value::Object(map) = &mut e {
        map.insert("body_digest".into(), Value::String(digest(&resend_body(v))));
    }
    e
}

/// `s` as a large frame's summary keeps it: whole when short, else its start and digest. The
/// monitors key req_ids by this, so a long one echoed in a large frame matches the one sent.
pub fn summarized_str(s: &str) -> std::borrow::Cow<'_, str> {
    if s.len() <= SUMMARY_STRING {
        return s.into();
    }
    use sha1::Digest;
    format!(
        "{}…({} bytes, sha1 {})",
        &s[..s.floor_char_boundary(32)],
        s.len(),
        hex::encode(sha1::Sha1::digest(s.as_bytes()))
    )
    .into()
}

fn digest(v: &Value) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(v.to_string().as_bytes()))
}

fn summary(v: &Value, depth: usize, budget: &mut usize) -> Value {
    match v {
        Value::String(s) => Value::String(summarized_str(s).into_owned()),
        Value::Array(_) | Value::Object(_) if depth > SUMMARY_DEPTH => {
            Value::String(format!("…(nested, sha1 {})", digest(v)))
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if *budget == 0 {
                    let rest = Value::Array(items[i..].to_vec());
                    out.push(Value::String(format!(
                        "…({} more items, sha1 {})",
                        items.len() - i,
                        digest(&rest)
                    )));
                    break;
                }
                out.push(spend(summary(item, depth + 1, budget), budget));
            }
            Value::Array(out)
        }
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            let mut left = 0;
            for (k, item) in map {
                if SUMMARY_KEYS
                    .get(depth)
                    .is_some_and(|keys| keys.contains(&k.as_str()))
                {
                    out.insert(k.clone(), summary(item, depth + 1, budget));
                } else if *budget == 0 {
                    left += 1;
                } else {
                    *budget = budget.saturating_sub(k.len().min(SUMMARY_STRING));
                    let item = spend(summary(item, depth + 1, budget), budget);
                    out.insert(summarized_str(k).into_owned(), item);
                }
            }
            if left > 0 {
                out.insert("…".into(), Value::String(format!("({left} more keys)")));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// A summarised scalar's cost taken from the budget (containers spent theirs inside).
fn spend(v: Value, budget: &mut usize) -> Value {
    let cost = match &v {
        Value::String(s) => s.len(),
        Value::Array(_) | Value::Object(_) => 2,
        _ => 8,
    };
    *budget = budget.saturating_sub(cost);
    v
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
