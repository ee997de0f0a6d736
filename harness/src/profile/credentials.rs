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
#[derive(Clone, Default)]
pub struct Credentials(Arc<Mutex<Known>>);

/// The credentials in the order learnt, and as a set: a mock serving a fleet learns tens of
/// thousands, and must not compare each new one with all the others.
#[derive(Default)]
struct Known {
    list: Vec<String>,
    set: std::collections::HashSet<String>,
    /// One pass over a text for all of them, when there are many (a run knows its whole
    /// fleet's): built when first needed after the set grew.
    matcher: Option<aho_corasick::AhoCorasick>,
}

/// Up to this many credentials are looked for one by one (cheaper than an automaton).
const ONE_BY_ONE: usize = 16;

impl Known {
    /// Builds the automaton if the set outgrew [`ONE_BY_ONE`] since it was last built.
    fn prepare(&mut self) {
        let built = self.matcher.as_ref().map_or(0, |m| m.patterns_len());
        if self.list.len() > ONE_BY_ONE && built != self.list.len() {
            self.matcher = aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(&self.list)
                .ok();
        }
    }

    /// Whether `text` holds any credential.
    fn holds(&self, text: &str) -> bool {
        match &self.matcher {
            Some(m) if m.patterns_len() == self.list.len() => m.is_match(text),
            _ => self.list.iter().any(|s| holds_one(text, s)),
        }
    }

    /// `text` with every credential replaced.
    fn replace_all(&self, text: &str) -> String {
        match &self.matcher {
            Some(m) if m.patterns_len() == self.list.len() => {
                let mut out = String::with_capacity(text.len());
                m.replace_all_with(text, &mut out, |_, _, out| {
                    out.push_str(REDACTED);
                    true
                });
                out
            }
            _ => {
                let mut out = text.to_string();
                for s in &self.list {
                    if holds_one(&out, s) {
                        out = out.replace(s.as_str(), REDACTED);
                    }
                }
                out
            }
        }
    }

    /// The longest credential's length (what a stream must hold back to see one whole).
    fn longest(&self) -> usize {
        self.list.iter().map(String::len).max().unwrap_or(0)
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
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        known.prepare();
        known
    }

    /// Every credential of `other` added to this set.
    pub fn extend_from(&self, other: &Credentials) {
        let theirs = other.lock().list.clone();
        for c in theirs {
            self.add(c);
        }
    }

    /// How many credentials the set holds.
    pub fn len(&self) -> usize {
        self.lock().list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Remembers one more credential (too short or already known: ignored).
    pub fn add(&self, credential: impl Into<String>) {
        let credential = credential.into();
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if credential.len() >= MIN_CREDENTIAL && !known.set.contains(&credential) {
            known.set.insert(credential.clone());
            known.list.push(credential);
        }
    }

    /// A copy of `text` with every known credential replaced.
    pub fn redact_text(&self, text: &str) -> String {
        self.lock().replace_all(text)
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
        for s in self.lock().list.iter().map(String::as_bytes) {
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

/// The one credential set of a run: every credential of the fleet (built once, before the
/// run starts) and every one any scenario saw on the wire (growing). The recorders scrub
/// what they record with the first and their own scenario's; every writer of an output
/// scrubs what it writes with both ([`RunCredentials::all`]).
#[derive(Clone, Default)]
pub struct RunCredentials {
    /// The fleet's: every SecretNo and the seed. Fixed for the run.
    pub fleet: Credentials,
    /// Learnt on the wire by every scenario so far.
    pub wire: Credentials,
}

impl RunCredentials {
    pub fn new(fleet: Credentials) -> RunCredentials {
        RunCredentials {
            fleet,
            wire: Credentials::default(),
        }
    }

    /// Every credential of the run so far, as one set (for a writer).
    pub fn all(&self) -> Credentials {
        let all = Credentials::default();
        all.extend_from(&self.fleet);
        all.extend_from(&self.wire);
        all
    }
}

/// A writer that scrubs every credential its set knew when it was made from what passes
/// through (a report streamed to a file, the terminal). It holds back the last bytes that
/// could be the start of a credential cut by a write, and lets them go on `flush`.
pub struct Scrub<W: std::io::Write> {
    inner: W,
    matcher: Option<aho_corasick::AhoCorasick>,
    longest: usize,
    pending: Vec<u8>,
}

/// Bytes gathered before they are scrubbed and passed on.
const SCRUB_CHUNK: usize = 64 * 1024;

impl Credentials {
    /// `inner` behind a [`Scrub`] of this set as it is now.
    pub fn scrub<W: std::io::Write>(&self, inner: W) -> Scrub<W> {
        let known = self.lock();
        let matcher = (!known.list.is_empty())
            .then(|| {
                aho_corasick::AhoCorasick::builder()
                    .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                    .build(&known.list)
                    .ok()
            })
            .flatten();
        Scrub {
            inner,
            matcher,
            longest: known.longest(),
            pending: Vec::new(),
        }
    }
}

impl<W: std::io::Write> Scrub<W> {
    /// Scrubs and passes on what is pending; all of it, or all but what a credential cut at
    /// the end could still need.
    fn drain(&mut self, all: bool) -> std::io::Result<()> {
        let Some(m) = &self.matcher else {
            return Ok(());
        };
        let cut = if all {
            self.pending.len()
        } else {
            self.pending.len().saturating_sub(self.longest)
        };
        let mut out = Vec::with_capacity(cut + REDACTED.len());
        let mut at = 0;
        for found in m.find_iter(&self.pending) {
            if found.start() >= cut {
                break;
            }
            out.extend_from_slice(&self.pending[at..found.start()]);
            out.extend_from_slice(REDACTED.as_bytes());
            at = found.end();
        }
        let done = cut.max(at);
        out.extend_from_slice(&self.pending[at..done]);
        self.inner.write_all(&out)?;
        self.pending.drain(..done);
        Ok(())
    }
}

impl<W: std::io::Write> std::io::Write for Scrub<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.matcher.is_none() {
            return self.inner.write(buf);
        }
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= SCRUB_CHUNK {
            self.drain(false)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.drain(true)?;
        self.inner.flush()
    }
}

/// What was never flushed still goes out scrubbed (a writer dropped on an error path).
impl<W: std::io::Write> Drop for Scrub<W> {
    fn drop(&mut self) {
        let _ = self.drain(true);
    }
}

/// Whether `text` holds the credential `s`. Most strings of a frame (`ok`, a req_id, a
/// command) are shorter than any credential: their length answers without a search.
fn holds_one(text: &str, s: &str) -> bool {
    text.len() >= s.len() && text.contains(s)
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

fn holds_any(known: &Known, v: &Value) -> bool {
    let holds = |text: &str| known.holds(text);
    match v {
        Value::String(s) => holds(s),
        Value::Number(n) => holds(&number_text(n, &mut [0; 40])),
        Value::Array(items) => items.iter().any(|i| holds_any(known, i)),
        Value::Object(map) => map.iter().any(|(k, v)| holds(k) || holds_any(known, v)),
        _ => false,
    }
}

fn redact_value(known: &Known, v: &mut Value) {
    let holds = |text: &str| known.holds(text);
    match v {
        Value::String(s) if holds(s) => *s = known.replace_all(s),
        Value::Number(n) if holds(&number_text(n, &mut [0; 40])) => {
            *v = Value::String(REDACTED.to_string())
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_value(known, i)),
        Value::Object(map) => {
            if map.keys().any(|k| holds(k)) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (known.replace_all(&k), v))
                    .collect();
            }
            map.values_mut().for_each(|i| redact_value(known, i));
        }
        _ => {}
    }
}

/// Never the credentials themselves: a `{:?}` of anything holding them would print them all.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map(|k| k.list.len()).unwrap_or_default();
        write!(f, "Credentials(<{n} redacted>)")
    }
}

impl std::fmt::Debug for RunCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunCredentials").finish_non_exhaustive()
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

    proptest::proptest! {
        /// A stream scrubbed by a [`Scrub`] holds no credential however the writes cut it,
        /// and the rest of it passes unchanged; with many credentials (an automaton) as with few.
        #[test]
        fn a_scrubbed_stream_holds_no_credential_however_it_is_cut(
            parts in proptest::collection::vec(proptest::prop_oneof!["[a-z ]{0,9}", proptest::strategy::Just("s3cret-no".to_string()), proptest::strategy::Just("other-secret".to_string())], 0..40),
            cuts in proptest::collection::vec(1usize..70_000, 0..6),
            many in proptest::bool::ANY,
        ) {
            let c = Credentials::new(["s3cret-no".to_string(), "other-secret".to_string()]);
            if many {
                (0..40).for_each(|i| c.add(format!("filler-credential-{i}")));
            }
            let text: String = parts.concat() + &"x".repeat(cuts.iter().sum::<usize>() % 100_000);
            let mut out = Vec::new();
            {
                let mut w = c.scrub(&mut out);
                let mut rest = text.as_bytes();
                for cut in &cuts {
                    let (a, b) = rest.split_at((*cut).min(rest.len()));
                    std::io::Write::write_all(&mut w, a).unwrap();
                    rest = b;
                }
                std::io::Write::write_all(&mut w, rest).unwrap();
                std::io::Write::flush(&mut w).unwrap();
            }
            let out = String::from_utf8(out).unwrap();
            proptest::prop_assert_eq!(out, c.redact_text(&text));
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
