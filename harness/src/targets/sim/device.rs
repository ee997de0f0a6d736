//! What the device keeps across connections (its "flash"): credentials, contacts, queued
//! check-ins and its log; plus the resources every part of the device shares: the device
//! clock, the seeded RNG and the req_id counter.

use super::config::{SimConfig, SimFault, SimVariant};
use crate::profile::identity::Secret;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// One check-in waiting to be uploaded (D32). `seq` identifies it locally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CheckinRecord {
    pub seq: u64,
    pub userid: String,
    pub user_type: u32,
    pub timestamp: u64,
    pub pass_type: Option<u32>,
    pub pass_method: Option<u32>,
}

impl CheckinRecord {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("userid".into(), json!(self.userid));
        m.insert("user_type".into(), json!(self.user_type));
        m.insert("timestamp".into(), json!(self.timestamp));
        if let Some(t) = self.pass_type {
            m.insert("pass_type".into(), json!(t));
        }
        if let Some(p) = self.pass_method {
            m.insert("pass_method".into(), json!(p));
        }
        Value::Object(m)
    }
}

/// A synced user set with its version (contacts: `perm_version`; visitors: `visitor_version`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct UserSet {
    pub version: u64,
    pub users: BTreeMap<String, StoredUser>,
}

/// A user record as the device keeps it: the compact JSON text the cloud sent. Parsed, a
/// record costs several times its text (an ordered map per user), and a fleet keeps every
/// user on every device; the device reads a record back only when it changes it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct StoredUser(Box<str>);

impl StoredUser {
    pub fn new(user: &Value) -> StoredUser {
        StoredUser(user.to_string().into_boxed_str())
    }

    /// The record as JSON.
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

/// The device's persistent state.
#[derive(Debug, Default)]
pub(super) struct Store {
    /// The SecretNo `register` is signed with (`None` while a seed device has none yet).
    pub secret_no: Option<Secret>,
    pub seed: Option<Secret>,
    /// Whether a `register` ever succeeded: `get_secret_no` is then off limits (D6).
    pub registered_ever: bool,
    pub active_code: Option<Secret>,
    pub secret: Option<Secret>,
    pub contacts: UserSet,
    pub visitors: UserSet,
    pub checkins: Vec<CheckinRecord>,
    pub next_checkin: u64,
    pub log: VecDeque<String>,
    /// When each recent `subscribe_corp` was sent (the D21 budget).
    pub subscribes: VecDeque<Instant>,
}

impl Store {
    /// "Corp not authorized" / unbound: drop the secret and every local data set (D23).
    pub fn deauthorize(&mut self) {
        self.secret = None;
        self.contacts = UserSet::default();
        self.visitors = UserSet::default();
        self.checkins.clear();
    }
}

/// The device: configuration, clock, randomness, req_ids and the store.
pub(super) struct Device {
    pub config: SimConfig,
    started: Instant,
    rng: Mutex<StdRng>,
    next_req: AtomicU64,
    store: Mutex<Store>,
}

impl Device {
    pub fn new(config: SimConfig) -> Device {
        // A `per-device` variant was provisioned with its own SecretNo: it has no seed.
        let seed = config
            .seed_secret_no
            .clone()
            .filter(|_| !config.is(SimVariant::PerDevice));
        let store = Store {
            secret_no: seed.is_none().then(|| config.identity.secret_no.clone()),
            seed,
            ..Store::default()
        };
        Device {
            rng: Mutex::new(StdRng::seed_from_u64(config.rng_seed)),
            config,
            started: Instant::now(),
            next_req: AtomicU64::new(1),
            store: Mutex::new(store),
        }
    }

    pub fn sn(&self) -> &str {
        &self.config.identity.sn
    }

    /// The device's watcher, if any.
    pub fn probe(&self) -> Option<&dyn super::config::SimProbe> {
        self.config.probe.0.as_deref()
    }

    pub fn has(&self, fault: SimFault) -> bool {
        self.config.has(fault)
    }

    pub fn is(&self, variant: SimVariant) -> bool {
        self.config.is(variant)
    }

    /// Whether the device keeps contacts at all (D24-D29 apply only to one that does).
    pub fn syncs_contacts(&self) -> bool {
        !self.is(SimVariant::NoContacts) && !self.is(SimVariant::DoorOnly)
    }

    /// The store; a panic elsewhere never poisons it for good. Never held across an await.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn rng(&self) -> MutexGuard<'_, StdRng> {
        self.rng.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The device clock in unix seconds.
    pub fn now_unix(&self) -> u64 {
        self.config.start_unix.saturating_add(
            Instant::now()
                .saturating_duration_since(self.started)
                .as_secs(),
        )
    }

    /// A fresh req_id (D1, D2): `{sn}-{n}`, never repeated for the life of the device.
    pub fn req_id(&self, cmd: &str) -> String {
        if self.has(SimFault::ReuseReqId) {
            return format!("lb_{cmd}");
        }
        format!(
            "{}-{}",
            self.sn(),
            self.next_req.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A uniformly random duration in `[lo, hi]` seconds, whole milliseconds.
    pub fn uniform(&self, lo: f64, hi: f64) -> Duration {
        let (lo, hi) = ((lo * 1000.0).round() as u64, (hi * 1000.0).round() as u64);
        Duration::from_millis(if hi > lo {
            self.rng().random_range(lo..=hi)
        } else {
            lo
        })
    }

    /// A random nonce: numeric, and small enough for any JSON reader (D5).
    pub fn nonce(&self) -> u64 {
        u64::from(self.rng().random_range(1..=u32::MAX))
    }

    /// A userid of the local contacts, at random.
    pub fn pick_contact(&self) -> Option<String> {
        let store = self.store();
        let n = store.contacts.users.len();
        if n == 0 {
            return None;
        }
        let k = self.rng().random_range(0..n);
        store.contacts.users.keys().nth(k).cloned()
    }

    pub fn random_bytes(&self, n: usize) -> Vec<u8> {
        let mut rng = self.rng();
        (0..n).map(|_| rng.random::<u8>()).collect()
    }

    /// Appends a line to the device log (uploaded on `push_fetch_log`, D41) and traces it.
    /// Lines never carry credentials: callers pass only public facts.
    pub fn log(&self, line: impl Into<String>) {
        let line = line.into();
        tracing::info!(sn = %self.sn(), "{line}");
        let stamped = format!("{} {line}", iso_utc(self.now_unix()));
        let mut store = self.store();
        while store.log.len() >= self.config.log_lines.max(1) {
            store.log.pop_front();
        }
        store.log.push_back(stamped);
    }
}

/// `2023-11-14T22:13:20Z` for a unix time (second resolution, D41).
pub(super) fn iso_utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::identity::DeviceIdentity;

    #[test]
    fn iso_dates() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(iso_utc(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[tokio::test(start_paused = true)]
    async fn req_ids_are_unique_and_randomness_is_seeded() {
        let mk = || {
            Device::new(SimConfig {
                rng_seed: 7,
                ..SimConfig::new(DeviceIdentity::new("SN", "S"))
            })
        };
        let (a, b) = (mk(), mk());
        let ids: std::collections::BTreeSet<String> = (0..100).map(|_| a.req_id("ping")).collect();
        assert_eq!(ids.len(), 100);
        let draws = |d: &Device| (0..20).map(|_| d.uniform(1.0, 3.0)).collect::<Vec<_>>();
        let (da, db) = (draws(&a), draws(&b));
        assert_eq!(da, db);
        assert!(da.iter().all(|d| (1000..=3000).contains(&d.as_millis())));
    }
}
