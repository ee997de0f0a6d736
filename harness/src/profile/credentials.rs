//! The credentials a run knows — identities' SecretNos, seeds, secrets and active codes seen
//! on the wire or issued — and the one redactor that replaces them by value wherever they
//! stand. Redaction by key (the profile's) misses a credential in any other field; this does
//! not. The harness's transcripts, the mock's logs and the reference device's logs all go
//! through it.

use super::REDACTED;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Shorter strings are not looked for: replacing every `ab` would shred the evidence and
/// protect nothing.
pub const MIN_CREDENTIAL: usize = 4;

/// A shared, growing set of credentials (cheap to clone: one set per run or per mock).
#[derive(Clone, Debug, Default)]
pub struct Credentials(Arc<Mutex<Known>>);

/// The credentials in the order learnt, and as a set: a mock serving a fleet learns tens of
/// thousands, and must not compare each new one with all the others.
#[derive(Debug, Default)]
struct Known {
    list: Vec<String>,
    set: std::collections::HashSet<String>,
}

impl std::ops::Deref for Known {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.list
    }
}

impl Credentials {
    pub fn new(known: impl IntoIterator<Item = String>) -> Credentials {
        let c = Credentials::default();
        for k in known {
            c.add(k);
        }
        c
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers one more credential (too short or already known: ignored).
    pub fn add(&self, credential: impl Into<String>) {
        let credential = credential.into();
        let mut known = self.lock();
        if credential.len() >= MIN_CREDENTIAL && !known.set.contains(&credential) {
            known.set.insert(credential.clone());
            known.list.push(credential);
        }
    }

    /// A copy of `text` with every known credential replaced.
    pub fn redact_text(&self, text: &str) -> String {
        replace_all(&self.lock(), text)
    }

    /// `v` with every known credential replaced wherever it stands: inside any string, in a
    /// key, or as the digits of a number.
    pub fn redact_value(&self, v: &mut Value) {
        redact_value(&self.lock(), v);
    }

    /// Whether [`Credentials::redact_value`] would change `v`.
    pub fn holds_any(&self, v: &Value) -> bool {
        holds_any(&self.lock(), v)
    }

    /// [`Credentials::redact_value`] on a copy.
    pub fn redacted(&self, v: &Value) -> Value {
        let mut v = v.clone();
        self.redact_value(&mut v);
        v
    }

    /// `bytes` with every occurrence of a known credential overwritten by `*` (binary data
    /// shown as text or hex).
    pub fn mask(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for s in self.lock().iter().map(String::as_bytes) {
            let mut i = 0;
            while i + s.len() <= bytes.len() {
                if &bytes[i..i + s.len()] == s {
                    out[i..i + s.len()].fill(b'*');
                    i += s.len();
                } else {
                    i += 1;
                }
            }
        }
        out
    }
}

/// Whether `text` holds the credential `s`. Most strings of a frame (`ok`, a req_id, a
/// command) are shorter than any credential: their length answers without a search.
fn holds_one(text: &str, s: &str) -> bool {
    text.len() >= s.len() && text.contains(s)
}

fn replace_all(known: &[String], text: &str) -> String {
    let mut out = text.to_string();
    for s in known {
        if holds_one(&out, s) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    out
}

/// A number's digits as JSON writes them, in `buf` when they fit (every frame's numbers are
/// looked at: no allocation for each).
fn number_text<'b>(n: &serde_json::Number, buf: &'b mut [u8; 40]) -> std::borrow::Cow<'b, str> {
    use std::io::Write;
    let mut w = &mut buf[..];
    let room = w.len();
    if write!(w, "{n}").is_ok() {
        let written = room - w.len();
        if let Ok(text) = std::str::from_utf8(&buf[..written]) {
            return text.into();
        }
    }
    n.to_string().into()
}

/// Whether `text` holds any of the credentials `known`.
fn holds(known: &[String], text: &str) -> bool {
    known.iter().any(|s| holds_one(text, s))
}

fn holds_any(known: &[String], v: &Value) -> bool {
    let holds = |text: &str| holds(known, text);
    match v {
        Value::String(s) => holds(s),
        Value::Number(n) => holds(&number_text(n, &mut [0; 40])),
        Value::Array(items) => items.iter().any(|i| holds_any(known, i)),
        Value::Object(map) => map.iter().any(|(k, v)| holds(k) || holds_any(known, v)),
        _ => false,
    }
}

fn redact_value(known: &[String], v: &mut Value) {
    let holds = |text: &str| holds(known, text);
    match v {
        Value::String(s) if holds(s) => *s = replace_all(known, s),
        Value::Number(n) if holds(&number_text(n, &mut [0; 40])) => {
            *v = Value::String(REDACTED.to_string())
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_value(known, i)),
        Value::Object(map) => {
            if map.keys().any(|k| holds(k)) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (replace_all(known, &k), v))
                    .collect();
            }
            map.values_mut().for_each(|i| redact_value(known, i));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// JSON with the test's credentials planted anywhere: in strings, as a key, as a number.
    fn planted() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(json!("s3cret-no")),
            Just(json!(987654321)),
            "[a-z ]{0,4}".prop_map(|s| json!(format!("{s}s3cret-no{s}"))),
            "[a-z]{0,12}".prop_map(|s| json!(s)),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|n| json!(n)),
        ];
        crate::profile::json::arb_tree(
            leaf,
            prop_oneof!["[a-z]{1,4}", Just("k-s3cret-no".to_string())],
        )
    }

    proptest::proptest! {
        /// What `holds_any` calls clean, `redact_value` leaves as it is (the recorder keeps
        /// such a frame without a redacted copy), and what it changes `holds_any` saw.
        #[test]
        fn holds_any_sees_whatever_redaction_would_change(v in planted()) {
            let c = Credentials::new(["s3cret-no".to_string(), "987654321".to_string()]);
            let redacted = c.redacted(&v);
            proptest::prop_assert_eq!(c.holds_any(&v), redacted != v, "{}", v);
        }
    }

    #[test]
    fn replaces_by_value_everywhere() {
        let c = Credentials::new(["s3cret-no".to_string(), "ab".to_string()]);
        c.add("987654321");
        let mut v = json!({"note": "x s3cret-no y", "n": 987654321, "s3cret-no": [1, {"deep": "s3cret-no"}], "ab": "ab"});
        c.redact_value(&mut v);
        let shown = v.to_string();
        assert!(
            !shown.contains("s3cret-no") && !shown.contains("987654321"),
            "{shown}"
        );
        assert!(
            shown.contains("\"ab\":\"ab\""),
            "too short to be a credential: {shown}"
        );
        assert_eq!(c.redact_text("a s3cret-no b"), "a <redacted> b");
        assert_eq!(c.mask(b"..s3cret-no.."), b"..*********..".to_vec());
    }
}
