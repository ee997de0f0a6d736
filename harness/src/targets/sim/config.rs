//! The reference device's settings ([`SimConfig`]), the faults it can be told to commit
//! ([`SimFault`]), each breaking exactly one device obligation of the reference's §6.1, and
//! the conformant variants it can be told to take ([`SimVariant`]), each another choice the
//! protocol allows: a scenario that fails a variant judges a rule the protocol does not make.

use crate::engine::clock::wall_unix;
use crate::ics::{Ics, Provisioning};
use crate::profile::identity::{DeviceIdentity, Secret};
use crate::profile::{Fleet, Profile};
use crate::targets::knobs::knobs;
use std::collections::BTreeSet;

/// The firmware version the device reports in `subscribe_corp` unless told otherwise.
pub const DEFAULT_FIRMWARE_VERSION: &str = "hwconform-sim-1.0.0";

/// How the reference device is set up.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// SN and (per-device) SecretNo.
    pub identity: DeviceIdentity,
    /// `Some`: the device is seed-provisioned and starts with `get_secret_no` (D6); the
    /// identity's SecretNo is then only used once the cloud has issued it.
    pub seed_secret_no: Option<Secret>,
    /// Sent in `subscribe_corp` (D11).
    pub firmware_version: String,
    /// Obligations to break on purpose; empty for a conformant device.
    pub faults: BTreeSet<SimFault>,
    /// Other conformant choices to make; empty for the reference's own choices.
    pub variants: BTreeSet<SimVariant>,
    /// Seeds every random choice (jitter, nonces, features): same seed, same cloud, same run.
    pub rng_seed: u64,
    /// The device clock at start: `start_unix` + tokio time elapsed since `run` began.
    pub start_unix: u64,
    /// Lines of its own log the device keeps for `upload_log` (a fleet keeps few: 10,000
    /// devices with 500 lines each would be most of its memory).
    pub log_lines: usize,
    /// Who watches the device's frames and connections (a fleet's figures); nobody by default.
    pub probe: Probe,
}

/// What a watcher of one device is told: every frame both ways as the device sent or read
/// it, and its connections' life. Called on the device's task: keep it cheap, never block.
pub trait SimProbe: Send + Sync {
    /// A new connection is up (the WebSocket handshake succeeded).
    fn connected(&self) {}
    /// The device logged in on the current connection (its lifecycle finished).
    fn logged_in(&self) {}
    /// The current connection ended; `by_cloud`: the cloud closed it or it broke, rather
    /// than the device deciding to reconnect.
    fn link_ended(&self, _by_cloud: bool) {}
    /// A text frame the device sends (credentials in it: a probe must not show them).
    /// Shared: a probe that keeps the frame keeps a reference, not a copy.
    fn sent(&self, _frame: &std::sync::Arc<serde_json::Value>) {}
    /// A text frame from the cloud that parsed as JSON, as parsed (shared as [`Self::sent`];
    /// let go of it before returning and the device moves its body out instead of copying).
    fn received(&self, _frame: &std::sync::Arc<serde_json::Value>) {}
}

/// An optional [`SimProbe`], shared by the device and its watcher.
#[derive(Clone, Default)]
pub struct Probe(pub Option<std::sync::Arc<dyn SimProbe>>);

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Probe(set)"
        } else {
            "Probe(none)"
        })
    }
}

/// Log lines a device keeps unless told otherwise.
pub const DEFAULT_LOG_LINES: usize = 500;

impl SimConfig {
    /// A conformant, non-seed device with the wall clock as its start time and seed 0.
    pub fn new(identity: DeviceIdentity) -> SimConfig {
        let start_unix = wall_unix();
        SimConfig {
            identity,
            seed_secret_no: None,
            firmware_version: DEFAULT_FIRMWARE_VERSION.to_string(),
            faults: BTreeSet::new(),
            variants: BTreeSet::new(),
            rng_seed: 0,
            start_unix,
            log_lines: DEFAULT_LOG_LINES,
            probe: Probe::default(),
        }
    }

    pub fn has(&self, fault: SimFault) -> bool {
        self.faults.contains(&fault)
    }

    pub fn is(&self, variant: SimVariant) -> bool {
        self.variants.contains(&variant)
    }
}

knobs! {
    /// A deliberate deviation of the reference device. Each breaks exactly one
    /// obligation ([`SimFault::obligation`]); the device is otherwise conformant.
    pub enum SimFault {
        NoJitter => "no-jitter", "D14":
            "retries after exactly 1.0 s each time when an error reply gives no interval, instead of a random 1-3 s (D14)",
        IgnoreInterval => "ignore-interval", "D14":
            "retries 1 s after an error reply whatever its positive `interval` says, except the back-off on 600045 that D21 asks for (D14)",
        RetryAfterMinusOne => "retry-after-minus-one", "D15":
            "retries 1-3 s after an error reply with interval -1 instead of never (D15)",
        ShortTimeout => "short-timeout", "D13":
            "re-sends a request 1 s after it went unanswered instead of waiting 5-10 s (D13)",
        LoopOn600012 => "loop-on-600012", "D17":
            "treats 600012 from a re-sent register as a failure and keeps re-sending register (D17)",
        No600002Backoff => "no-600002-backoff", "D20":
            "reconnects 1-3 s after register answered 600002 instead of waiting 60-90 s (D20)",
        Ignore600002Interval => "ignore-600002-interval", "D14":
            "reconnects 60-61 s after register answered 600002 (the FAQ's 1-minute floor, which D20 allows) even when the reply's `interval` asks for longer (D14)",
        SubscribeStorm => "subscribe-storm", "D21":
            "re-sends subscribe_corp every 1 s after an error, 600045 included, ignoring interval and the 5-per-minute budget, where D21 says it backs off (D21)",
        SlowHeartbeat => "slow-heartbeat", "D12":
            "pings every 60 s instead of every 20-40 s (D12)",
        ReuseReqId => "reuse-req-id", "D2":
            "uses one fixed req_id per command (\"lb_register\", ...) like the C firmware (D2)",
        UnsortedSignature => "unsorted-signature", "D4":
            "signs register over the unsorted concatenation sn+SecretNo+timestamp+nonce+\"register\" (D4)",
        SkipRegister => "skip-register", "D7":
            "on a new connection with a cached secret goes straight to subscribe_corp without register (D7)",
        WipeBeforeFullPull => "wipe-before-full-pull", "D27":
            "clears its contacts when a full pull starts, so check-ins during the pull are not recognised (D27)",
        TwoConnections => "two-connections", "D22":
            "on a reconnect opens the new connection before closing the old one, and keeps both (D22)",
        StringNonce => "string-nonce", "D5":
            "sends register's timestamp and nonce as JSON strings, like the C firmware (D5)",
        ResendSecretNo => "resend-secret-no", "D6":
            "calls get_secret_no on every connection, also after a successful register (D6)",
        FastActivePoll => "fast-active-poll", "D8":
            "polls active every 1 s while unbound instead of every 5 s (D8)",
        NoBindPushActive => "no-bind-push-active", "D9":
            "ignores push_bind_corp and waits for the next 5 s active poll (D9)",
        FullPullLimit500 => "full-pull-limit-500", "D25":
            "asks get_userinfo_by_page for 500 users a page (limit > 200) (D25)",
        NoFullPullRestart => "no-full-pull-restart", "D26":
            "keeps paging when perm_version changes between pages instead of restarting at offset 0 (D26)",
        SkipIncrementalPull => "skip-incremental-pull", "D28":
            "stores a pushed perm_version without calling get_userinfo_by_ids for the changed users (D28)",
        DeltaOnGap => "delta-on-gap", "D29":
            "applies a push_change_contact delta with a version gap of 2 or more instead of a full pull (D29)",
        StripVisitorAgentid => "strip-visitor-agentid", "D31":
            "strips the /agentid suffix from visitor userids in get_visitor_by_ids (D31)",
        DropFailedCheckins => "drop-failed-checkins", "D33":
            "drops check-in records listed in fail_list or sent in a failed request instead of re-sending them (D33)",
        SlowRemoteOpenReport => "slow-remote-open-report", "D34":
            "sends report_remote_open_door 5 s after push_remote_open_door instead of at once (D34)",
        ImageAsFeature => "image-as-feature", "D37":
            "uploads JPEG image bytes as the face template in upload_userinfo (D37)",
    }
}

knobs! {
    /// Another conformant choice of the reference device: the device stays inside every rule
    /// of §6.1, and [`SimVariant::allowed_by`] names the text that leaves the choice open.
    pub enum SimVariant {
        NoContacts => "no-contacts", allowed_by "§3 (business protocol is per device type), D24 \"e.g.\"":
            "never syncs contacts (no get_perm_version / get_userinfo_*) and ignores contact pushes (which need no acknowledgement, §1.5)",
        PingFirst => "ping-first", allowed_by "D12, D24 (no order between the heartbeat and the sync)":
            "after login pings at once and syncs contacts only 35 s later",
        ReconnectOn600045 => "reconnect-on-600045", allowed_by "D21 (\"on 600045 it backs off\"), FAQ 600045":
            "on 600045 to subscribe_corp closes the link, waits the interval (at least 60 s) and reconnects with a new handshake",
        WaitsServerClose => "waits-server-close", allowed_by "D16, D22 (closing is the device's; RFC 6455 lets the client wait for the server's TCP close)":
            "when closing a link sends a close frame and waits up to 10 s for the server to close TCP, like Python websockets",
        PerDevice => "per-device", allowed_by "D6 (get_secret_no only for seed-provisioned devices)":
            "is provisioned with its per-device SecretNo even when the fleet has a seed, so never sends get_secret_no",
        LongTimeout => "long-timeout", allowed_by "D13 (timeout 5-10 s)":
            "re-sends an unanswered request after 13 s: the longest timeout the FAQ allows (10 s), then the longest staggered retry (3 s)",
        LateFirstPing => "late-first-ping", allowed_by "D12 (pings every 20-40 s after subscribe_corp)":
            "sends its first ping 40 s after login (later ones every 20-40 s)",
        DoorOnly => "door-only", allowed_by "§3 (business protocol is per device type)":
            "a door controller without contacts, visitors, face, fingerprint or temperature: sends none of their requests and ignores their pushes",
        Reactivates => "reactivates", allowed_by "D10 (skipping active with a cached secret is a MAY)":
            "sends active with its active_code after every register, also with a cached secret",
        BodyNull => "body-null", allowed_by "D1 (parameters, when present, sit in body; the examples just omit it)":
            "sends `\"body\": null` on parameterless requests (ping, get_perm_version, ...)",
        AdminFirst => "admin-first", allowed_by "D24 (\"e.g. get_perm_version\": the first business request is not fixed)":
            "after login asks get_admin_info before get_perm_version",
        UserItem => "user-item", allowed_by "DOC 93984 (the old `userids` or the new `user_item` form), D28 (the changed users in no set order)":
            "asks get_userinfo_by_ids in the new `user_item` form, the changed users in reverse order",
        Late600002Reconnect => "late-600002-reconnect", allowed_by "D20 (wait 1-2 minutes after 600002), D14 (no sooner than the interval; later is allowed)":
            "after register answered 600002 reconnects 2 minutes later (the FAQ's upper bound), or after a longer `interval`",
    }
}

impl SimVariant {
    /// The features of the ICS this variant does not implement: its statement says `false`
    /// for them, so the scenarios that need them are not applicable to it.
    pub fn lacks(self) -> &'static [&'static str] {
        match self {
            SimVariant::NoContacts => &["contacts"],
            SimVariant::DoorOnly => &["contacts", "visitors", "face", "fingerprint", "temperature"],
            _ => &[],
        }
    }

    /// The reference device's own statement with `variants`: every feature the profile
    /// knows, seed-provisioned when the fleet has a seed, less what the variants leave out.
    pub fn reference_statement(
        variants: &BTreeSet<SimVariant>,
        fleet: &Fleet,
        profile: &dyn Profile,
    ) -> Ics {
        let provisioning = if fleet.seed_secret_no.is_some() {
            Provisioning::Seed
        } else {
            Provisioning::PerDevice
        };
        SimVariant::statement(
            variants,
            Ics::reference(profile.ics_features(), provisioning),
        )
    }

    /// The reference device's statement as changed by `variants`: what they lack is `false`,
    /// and `per-device` is not seed-provisioned.
    pub fn statement(variants: &BTreeSet<SimVariant>, mut reference: Ics) -> Ics {
        for v in variants {
            for feature in v.lacks() {
                reference.features.insert(feature.to_string(), false);
            }
        }
        if variants.contains(&SimVariant::PerDevice) {
            reference.provisioning = Some(Provisioning::PerDevice);
        }
        reference.identity.model = match variants.is_empty() {
            true => reference.identity.model,
            false => format!(
                "{} ({})",
                reference.identity.model,
                variants
                    .iter()
                    .map(|v| v.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        reference
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_cite_known_obligations() {
        crate::targets::knobs::assert_well_named::<SimFault>(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
        });
        for &f in SimFault::ALL {
            assert!(
                crate::profile::wecom::obligations::is_known(f.obligation()),
                "{f}"
            );
            assert!(
                f.description().contains(&format!("({})", f.obligation())),
                "{f}: {}",
                f.description()
            );
        }
        assert_eq!(SimFault::parse("no such fault"), None);
    }

    /// What a variant lacks is a feature the profile's statement knows.
    #[test]
    fn a_variant_states_what_it_lacks() {
        let features = crate::profile::wecom::features::FEATURES;
        for &v in SimVariant::ALL {
            for f in v.lacks() {
                assert!(features.iter().any(|k| k.name == *f), "{v}: {f}");
            }
        }
        let door = SimVariant::statement(
            &[SimVariant::DoorOnly, SimVariant::PerDevice].into(),
            Ics::reference(features, Provisioning::Seed),
        );
        assert_eq!(door.features.get("face"), Some(&false));
        assert_eq!(door.features.get("door"), Some(&true));
        assert_eq!(door.provisioning, Some(Provisioning::PerDevice));
        assert_eq!(
            door.identity.model,
            "reference device (per-device, door-only)"
        );
    }

    #[test]
    fn variants_are_well_named_and_cite_the_protocol() {
        crate::targets::knobs::assert_well_named::<SimVariant>(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
        });
        for &v in SimVariant::ALL {
            assert!(!v.allowed_by().is_empty(), "{v}");
            assert!(
                SimFault::parse(v.name()).is_none(),
                "{v} is also a fault name"
            );
        }
    }

    #[test]
    fn defaults() {
        let c = SimConfig::new(DeviceIdentity::new("SN", "S"));
        assert_eq!(c.firmware_version, DEFAULT_FIRMWARE_VERSION);
        assert!(c.faults.is_empty() && c.variants.is_empty() && c.seed_secret_no.is_none());
        assert!(c.start_unix > 1_600_000_000);
    }
}
