//! The cloud's device registry: per SN its SecretNo, whether it is bound, the credentials
//! the cloud issued (per-device SecretNo, active code, secret) and its live connection.
//!
//! Issued values:
//! * the active code is issued by the first successful `register` of an SN and returned
//!   again by every later one (DOC 91370: "valid long-term"), until `forget`;
//! * the secret is issued by the first successful `active` while bound and returned again
//!   until the device is unbound (unbinding revokes it, DOC 91371); the next `active`
//!   after a re-bind issues a new one;
//! * the per-device SecretNo of `get_secret_no` is issued once; `register` accepts it
//!   and the fleet SecretNo alike.
//!
//! Every issued value is a [`Secret`], so a stray `{:?}` prints nothing.
//!
//! With an issue key (`mock --workers N`: one key for every worker process) issued values
//! are derived from the key, the SN and how often the SN was revoked, instead of drawn at
//! random: a worker that never saw a device accepts what a sibling issued to it (its
//! SecretNo, active code, secret), so a reconnect may land on any worker.

use super::lifecycle::Conflict;
use crate::profile::fleet::Fleet;
use crate::profile::identity::Secret;
use crate::profile::wecom::signature;
use crate::profile::Credentials;
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;
use tokio::sync::mpsc::Sender;

/// What other parts of the cloud ask of a live connection.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkCommand {
    /// Send this push frame. Boxed: a channel allocates room for 32 commands per link up
    /// front, so the command's size is paid by every idle link of a fleet.
    Push(Box<Value>),
    /// Send a close frame and end the connection.
    Close { code: u16, reason: &'static str },
}

/// The connection an SN is registered on.
#[derive(Clone, Debug)]
pub struct LiveLink {
    pub conn_id: u64,
    pub ip: IpAddr,
    pub tx: Sender<LinkCommand>,
}

#[derive(Debug)]
struct DeviceRecord {
    secret_no: Secret,
    fleet_bound: bool,
    bound: bool,
    issued_secret_no: Option<Secret>,
    active_code: Option<Secret>,
    secret: Option<Secret>,
    ever_activated: bool,
    registered_ever: bool,
    /// Revocations so far (unbind, forget): derived credentials change with it.
    generation: u32,
}

impl DeviceRecord {
    fn reset(&mut self) {
        self.generation += 1;
        self.bound = self.fleet_bound;
        self.issued_secret_no = None;
        self.active_code = None;
        self.secret = None;
        self.ever_activated = false;
        self.registered_ever = false;
    }
}

#[derive(Debug)]
pub struct Registry {
    devices: HashMap<String, DeviceRecord>,
    live: HashMap<String, LiveLink>,
    seed: Option<Secret>,
    issued: u64,
    /// Every SecretNo, seed and issued credential, for the mock's log redaction.
    credentials: Credentials,
    /// Derives issued credentials (shared by worker processes); `None`: random ones.
    issue_key: Option<Secret>,
}

impl Registry {
    pub fn new(fleet: &Fleet, credentials: Credentials) -> Registry {
        for d in &fleet.devices {
            credentials.add(d.identity.secret_no.expose());
        }
        if let Some(seed) = &fleet.seed_secret_no {
            credentials.add(seed.expose());
        }
        let devices = fleet
            .devices
            .iter()
            .map(|d| {
                let rec = DeviceRecord {
                    secret_no: d.identity.secret_no.clone(),
                    fleet_bound: d.bound,
                    bound: d.bound,
                    issued_secret_no: None,
                    active_code: None,
                    secret: None,
                    ever_activated: false,
                    registered_ever: false,
                    generation: 0,
                };
                (d.identity.sn.clone(), rec)
            })
            .collect();
        Registry {
            devices,
            live: HashMap::new(),
            seed: fleet.seed_secret_no.clone(),
            issued: 0,
            credentials,
            issue_key: None,
        }
    }

    /// Issues credentials derived from `key` (see the module's doc).
    pub fn issuing_with(mut self, key: Option<Secret>) -> Registry {
        self.issue_key = key;
        self
    }

    /// The credential named `prefix` the issue key gives `sn` now.
    fn derived(&self, sn: &str, prefix: &str) -> Option<String> {
        use sha2::{Digest, Sha256};
        let key = self.issue_key.as_ref()?;
        let generation = self.devices.get(sn)?.generation;
        let mut h = Sha256::new();
        for part in [key.expose(), sn, prefix, &generation.to_string()] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let hex = hex::encode(h.finalize());
        Some(format!("{prefix}{}", &hex[..22]))
    }

    fn fresh(&mut self, sn: &str, prefix: &str) -> Secret {
        self.issued += 1;
        let fresh = self.derived(sn, prefix).unwrap_or_else(|| {
            format!("{prefix}{:016x}{:06x}", rand::random::<u64>(), self.issued)
        });
        self.credentials.add(fresh.clone());
        Secret::new(fresh)
    }

    /// Whether `value` is what a sibling worker issued `sn` in `prefix`'s slot, which this
    /// worker has not issued (remembered for the log's redaction).
    fn issued_elsewhere(&self, sn: &str, prefix: &str, value: &str) -> bool {
        let ok = self.derived(sn, prefix).is_some_and(|d| d == value);
        if ok {
            self.credentials.add(value.to_string());
        }
        ok
    }

    pub fn knows(&self, sn: &str) -> bool {
        self.devices.contains_key(sn)
    }

    pub fn is_bound(&self, sn: &str) -> bool {
        self.devices.get(sn).is_some_and(|d| d.bound)
    }

    pub fn registered_ever(&self, sn: &str) -> bool {
        self.devices.get(sn).is_some_and(|d| d.registered_ever)
    }

    pub fn ever_activated(&self, sn: &str) -> bool {
        self.devices.get(sn).is_some_and(|d| d.ever_activated)
    }

    /// Whether `sn` was activated here, or by a sibling worker that issued it `secret`.
    pub fn activated_here_or_by(&self, sn: &str, secret: Option<&str>) -> bool {
        self.ever_activated(sn) || secret.is_some_and(|s| self.issued_elsewhere(sn, "sk", s))
    }

    /// `register`'s signature with the fleet SecretNo or the issued per-device one.
    pub fn register_signature_ok(&self, sn: &str, timestamp: &str, nonce: &str, sig: &str) -> bool {
        let Some(d) = self.devices.get(sn) else {
            return false;
        };
        let elsewhere = match &d.issued_secret_no {
            None => self.derived(sn, "sn").map(Secret::new),
            Some(_) => None,
        };
        std::iter::once(&d.secret_no)
            .chain(d.issued_secret_no.as_ref())
            .chain(elsewhere.as_ref())
            .any(|s| signature::register(sn, s.expose(), timestamp, nonce) == sig)
    }

    /// `get_secret_no`'s signature with the seed SecretNo (false when the fleet has none).
    pub fn secret_no_signature_ok(
        &self,
        sn: &str,
        timestamp: &str,
        nonce: &str,
        sig: &str,
    ) -> bool {
        self.seed.as_ref().is_some_and(|seed| {
            signature::get_secret_no(sn, seed.expose(), timestamp, nonce) == sig
        })
    }

    /// Whether `sn` is live on a connection other than `conn_id`, and from which side.
    pub fn conflict(&self, sn: &str, conn_id: u64, ip: IpAddr) -> Conflict {
        match self.live.get(sn) {
            Some(l) if l.conn_id != conn_id && l.ip == ip => Conflict::SameIp,
            Some(l) if l.conn_id != conn_id => Conflict::OtherIp,
            _ => Conflict::None,
        }
    }

    /// A successful `register`: the link becomes the SN's live one. Returns the active code
    /// and the link it replaced (for the caller to kick, or not).
    pub fn register(&mut self, sn: &str, link: LiveLink) -> Option<(Secret, Option<LiveLink>)> {
        let code = match self.devices.get(sn)?.active_code.clone() {
            Some(code) => code,
            None => self.fresh(sn, "ac"),
        };
        let d = self.devices.get_mut(sn)?;
        d.active_code = Some(code.clone());
        d.registered_ever = true;
        let old = self
            .live
            .insert(sn.to_string(), link.clone())
            .filter(|old| old.conn_id != link.conn_id);
        Some((code, old))
    }

    /// Whether `sn`'s credential in `slot` (named `prefix`) is `value`, issued here or,
    /// with an issue key, by a sibling worker.
    fn holds(
        &self,
        sn: &str,
        value: &str,
        prefix: &str,
        slot: fn(&DeviceRecord) -> &Option<Secret>,
    ) -> bool {
        match self.devices.get(sn).map(|d| slot(d).as_ref()) {
            Some(Some(c)) => c.expose() == value,
            Some(None) => self.issued_elsewhere(sn, prefix, value),
            None => false,
        }
    }

    /// The SN whose credential in `slot` is `value`.
    fn sn_holding(
        &self,
        value: &str,
        slot: fn(&DeviceRecord) -> &Option<Secret>,
    ) -> Option<String> {
        self.devices
            .iter()
            .find(|(_, d)| slot(d).as_ref().is_some_and(|c| c.expose() == value))
            .map(|(sn, _)| sn.clone())
    }

    /// `sn`'s credential in `slot`, issued (named `prefix`...) if it holds none.
    fn issue(
        &mut self,
        sn: &str,
        prefix: &str,
        slot: fn(&mut DeviceRecord) -> &mut Option<Secret>,
    ) -> Option<Secret> {
        let s = match slot(self.devices.get_mut(sn)?).clone() {
            Some(s) => s,
            None => self.fresh(sn, prefix),
        };
        *slot(self.devices.get_mut(sn)?) = Some(s.clone());
        Some(s)
    }

    pub fn active_code_matches(&self, sn: &str, code: &str) -> bool {
        self.holds(sn, code, "ac", |d| &d.active_code)
    }

    /// The SN an active code was issued to (only for `no-order-check`).
    pub fn sn_by_active_code(&self, code: &str) -> Option<String> {
        self.sn_holding(code, |d| &d.active_code)
    }

    /// A successful `active`: the device's secret, issued if it holds none.
    pub fn activate(&mut self, sn: &str) -> Option<Secret> {
        let secret = self.issue(sn, "sk", |d| &mut d.secret)?;
        self.devices.get_mut(sn)?.ever_activated = true;
        Some(secret)
    }

    pub fn secret_matches(&self, sn: &str, secret: &str) -> bool {
        // A secret from a sibling worker holds only while the device is bound (unbinding
        // revokes it, here or there).
        self.holds(sn, secret, "sk", |d| &d.secret)
            && (self.devices.get(sn).is_some_and(|d| d.secret.is_some()) || self.is_bound(sn))
    }

    /// The SN a secret was issued to (only for `no-order-check`).
    pub fn sn_by_secret(&self, secret: &str) -> Option<String> {
        self.sn_holding(secret, |d| &d.secret)
    }

    /// A successful `get_secret_no`: the per-device SecretNo, issued once.
    pub fn issue_secret_no(&mut self, sn: &str) -> Option<Secret> {
        self.issue(sn, "sn", |d| &mut d.issued_secret_no)
    }

    /// Binds or unbinds; unbinding revokes the secret. `None` for an unknown SN.
    pub fn set_bound(&mut self, sn: &str, bound: bool) -> Option<()> {
        let d = self.devices.get_mut(sn)?;
        d.bound = bound;
        if !bound {
            d.secret = None;
            d.generation += 1;
        }
        Some(())
    }

    /// The live links of bound devices (the corp's pushes go to them).
    pub fn live_bound(&self) -> impl Iterator<Item = (&str, &LiveLink)> {
        self.live
            .iter()
            .filter(|(sn, _)| self.is_bound(sn))
            .map(|(sn, l)| (sn.as_str(), l))
    }

    pub fn live(&self, sn: &str) -> Option<&LiveLink> {
        self.live.get(sn)
    }

    /// Frees the SN if `conn_id` still holds it (a connection ending).
    pub fn release(&mut self, sn: &str, conn_id: u64) {
        if self.live.get(sn).is_some_and(|l| l.conn_id == conn_id) {
            self.live.remove(sn);
        }
    }

    /// Frees the SN whoever holds it, returning the link.
    pub fn take_live(&mut self, sn: &str) -> Option<LiveLink> {
        self.live.remove(sn)
    }

    /// Back to the fleet's state (control `forget`); the live link, if any, is kept.
    pub fn forget(&mut self, sn: &str) -> bool {
        self.devices.get_mut(sn).map(DeviceRecord::reset).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::fleet::FleetDevice;
    use crate::profile::identity::DeviceIdentity;

    fn fleet() -> Fleet {
        Fleet {
            devices: vec![
                FleetDevice {
                    identity: DeviceIdentity::new("A", "secA"),
                    bound: true,
                },
                FleetDevice {
                    identity: DeviceIdentity::new("B", "secB"),
                    bound: false,
                },
            ],
            seed_secret_no: Some(Secret::new("seed")),
        }
    }

    fn link(conn_id: u64, ip: &str) -> LiveLink {
        let (tx, _rx) = tokio::sync::mpsc::channel(16);
        LiveLink {
            conn_id,
            ip: ip.parse().unwrap(),
            tx,
        }
    }

    #[test]
    fn signatures_accept_fleet_and_issued_secret_no() {
        let mut r = Registry::new(&fleet(), Credentials::default());
        let good = signature::register("A", "secA", "100", "7");
        assert!(r.register_signature_ok("A", "100", "7", &good));
        assert!(!r.register_signature_ok("A", "101", "7", &good));
        assert!(!r.register_signature_ok("Z", "100", "7", &good));
        let issued = r.issue_secret_no("A").unwrap();
        assert_eq!(r.issue_secret_no("A").unwrap(), issued, "issued once");
        assert!(r.register_signature_ok(
            "A",
            "1",
            "2",
            &signature::register("A", issued.expose(), "1", "2")
        ));
        assert!(
            r.register_signature_ok("A", "100", "7", &good),
            "the fleet SecretNo stays valid"
        );
        assert!(r.secret_no_signature_ok(
            "A",
            "1",
            "2",
            &signature::get_secret_no("A", "seed", "1", "2")
        ));
        assert!(!r.secret_no_signature_ok(
            "A",
            "1",
            "2",
            &signature::get_secret_no("A", "secA", "1", "2")
        ));
    }

    #[test]
    fn conflicts_by_ip() {
        let mut r = Registry::new(&fleet(), Credentials::default());
        assert_eq!(
            r.conflict("A", 1, "10.0.0.1".parse().unwrap()),
            Conflict::None
        );
        let (code, old) = r.register("A", link(1, "10.0.0.1")).unwrap();
        assert!(old.is_none());
        assert_eq!(
            r.conflict("A", 1, "10.0.0.1".parse().unwrap()),
            Conflict::None,
            "own link"
        );
        assert_eq!(
            r.conflict("A", 2, "10.0.0.1".parse().unwrap()),
            Conflict::SameIp
        );
        assert_eq!(
            r.conflict("A", 2, "10.0.0.2".parse().unwrap()),
            Conflict::OtherIp
        );
        let (code2, old) = r.register("A", link(2, "10.0.0.1")).unwrap();
        assert_eq!(code, code2, "the active code is long-term");
        assert_eq!(old.unwrap().conn_id, 1);
        r.release("A", 1);
        assert_eq!(
            r.live("A").unwrap().conn_id,
            2,
            "a kicked link does not free its successor"
        );
        r.release("A", 2);
        assert!(r.live("A").is_none());
        assert!(r.registered_ever("A"));
    }

    #[test]
    fn secrets_are_issued_once_and_revoked_by_unbind() {
        let mut r = Registry::new(&fleet(), Credentials::default());
        assert!(!r.ever_activated("A"));
        let s = r.activate("A").unwrap();
        assert_eq!(r.activate("A").unwrap(), s);
        assert!(r.secret_matches("A", s.expose()));
        assert_eq!(r.sn_by_secret(s.expose()).as_deref(), Some("A"));
        r.set_bound("A", false).unwrap();
        assert!(!r.secret_matches("A", s.expose()));
        assert!(r.ever_activated("A"));
        r.set_bound("A", true).unwrap();
        assert_ne!(r.activate("A").unwrap(), s, "a new secret after re-binding");
        assert!(r.set_bound("Z", true).is_none());
    }

    /// Two workers sharing an issue key: what one issued the other accepts, without having
    /// seen the device; revoked there, it no longer holds there. Without the key (or with
    /// another) nothing issued elsewhere is accepted.
    #[rstest::rstest]
    #[case::shared_key(Some("k1"), Some("k1"), true)]
    #[case::other_key(Some("k1"), Some("k2"), false)]
    #[case::no_key(None, None, false)]
    fn workers_sharing_an_issue_key_accept_each_others_credentials(
        #[case] a_key: Option<&str>,
        #[case] b_key: Option<&str>,
        #[case] accepted: bool,
    ) {
        let worker = |key: Option<&str>| {
            Registry::new(&fleet(), Credentials::default()).issuing_with(key.map(Secret::new))
        };
        let (mut a, mut b) = (worker(a_key), worker(b_key));
        let secret = a.activate("A").unwrap();
        let (code, _) = a.register("A", link(1, "10.0.0.1")).unwrap();
        let secret_no = a.issue_secret_no("A").unwrap();
        let signed = signature::register("A", secret_no.expose(), "1", "2");
        assert_eq!(b.secret_matches("A", secret.expose()), accepted);
        assert_eq!(b.activated_here_or_by("A", Some(secret.expose())), accepted);
        assert!(!b.activated_here_or_by("A", None));
        assert_eq!(b.active_code_matches("A", code.expose()), accepted);
        assert_eq!(b.register_signature_ok("A", "1", "2", &signed), accepted);
        assert!(!b.secret_matches("A", "sk0000000000000000000000"));
        b.set_bound("A", false).unwrap();
        b.set_bound("A", true).unwrap();
        assert!(
            !b.secret_matches("A", secret.expose()),
            "unbinding revokes the secret on the worker that did it"
        );
        assert_ne!(b.activate("A").unwrap(), secret);
    }

    #[test]
    fn forget_restores_the_fleet_state() {
        let mut r = Registry::new(&fleet(), Credentials::default());
        r.set_bound("B", true).unwrap();
        r.register("B", link(1, "10.0.0.1")).unwrap();
        r.activate("B").unwrap();
        assert!(r.forget("B"));
        assert!(!r.is_bound("B") && !r.registered_ever("B") && !r.ever_activated("B"));
        assert!(!r.forget("Z"));
    }
}
