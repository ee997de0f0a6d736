//! How the mock cloud is set up: its fleet, its timers and limits, and the test-only knobs
//! that switch single rules off.

use super::corp::{CorpRules, CorpSeed};
use crate::engine::clock::wall_unix;
use crate::profile::fleet::Fleet;
use crate::profile::identity::Secret;
use crate::profile::CloudTimings;
use crate::targets::knobs::knobs;
use std::collections::BTreeSet;
use std::time::Duration;

/// Settings of one mock cloud.
#[derive(Clone, Debug)]
pub struct MockConfig {
    pub fleet: Fleet,
    /// Heartbeat expiry (C8: the link is closed with 4000 and the SN freed) and the per-IP
    /// `subscribe_corp` rate limit (C11: one more than the limit inside the window gets 600045).
    pub timings: CloudTimings,
    /// How far a signed `timestamp` may be from cloud time (DOC: 5 min).
    pub timestamp_tolerance: Duration,
    /// Bigger frames close that connection with 1009; other connections are unaffected.
    pub max_frame_bytes: usize,
    /// Cloud unix time at start; `now_unix = start_unix + elapsed tokio time`.
    pub start_unix: u64,
    /// TEST-ONLY: rules switched off, so tests can show every cloud scenario able to fail.
    pub disabled_rules: BTreeSet<MockRule>,
    /// TEST-ONLY: conformant choices other than the mock's own, to show no scenario fails a
    /// cloud that makes them.
    pub variants: BTreeSet<MockVariant>,
    /// Whether the standalone server answers the control path; off, it refuses it as a real
    /// cloud would, so the library can be tried against a cloud the harness cannot steer.
    pub control: bool,
    /// The credential a control connection must present (`Authorization: Bearer TOKEN`);
    /// `None` only where nothing but the harness can reach the mock (in-process).
    pub control_token: Option<Secret>,
    /// The corp every bound device belongs to (`--corp FILE`, or the small default corp).
    pub corp: CorpSeed,
    /// Derives the credentials the mock issues, so that worker processes sharing it
    /// (`mock --workers N`) accept each other's; `None`: random ones.
    pub issue_key: Option<Secret>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            fleet: Fleet::default_fleet(),
            timings: CloudTimings::MOCK,
            timestamp_tolerance: Duration::from_secs(300),
            max_frame_bytes: 64 * 1024,
            start_unix: wall_unix(),
            disabled_rules: BTreeSet::new(),
            variants: BTreeSet::new(),
            control: true,
            control_token: None,
            corp: CorpSeed::default_corp(),
            issue_key: None,
        }
    }
}

impl MockConfig {
    /// Whether `rule` is in force (not switched off by a test knob).
    pub fn enforces(&self, rule: MockRule) -> bool {
        !self.disabled_rules.contains(&rule)
    }

    /// Whether the conformant variant `variant` is on.
    pub fn varies(&self, variant: MockVariant) -> bool {
        self.variants.contains(&variant)
    }

    /// The corp's rules, as the knobs leave them.
    pub fn corp_rules(&self) -> CorpRules {
        CorpRules {
            page_cap: self.enforces(MockRule::PageLimitHonoured),
            version_step_one: self.enforces(MockRule::VersionSkips),
            history_by_version: self.enforces(MockRule::HistoryIgnoresVersion),
            drop_old_checkins: self.enforces(MockRule::CheckinRejectsOld),
            remote_open_deadline: self.enforces(MockRule::RemoteOpenNoDeadline),
            visitor_agentid: self.enforces(MockRule::VisitorIdStripped),
            algorithm_priority: self.enforces(MockRule::NoAlgorithmPriority),
        }
    }
}

knobs! {
    /// One cloud rule a test can switch off (`disabled_rules`). Each breaks exactly one
    /// behaviour, so a scenario checking that behaviour can be shown to fail.
    pub enum MockRule {
        NoReqIdEcho => "no-req-id-echo": "Replies carry a wrong headers.req_id (C1).",
        CmdInReply => "cmd-in-reply": "Replies carry a `cmd` field (C2).",
        NoErrorAdvice => "no-error-advice": "Error replies lack `suggestion` and `interval` (C12).",
        NoSignatureCheck => "no-signature-check": "register/get_secret_no accept any device_signature (C4, C5).",
        NoTimestampCheck => "no-timestamp-check": "register/get_secret_no accept stale timestamps (C4, C5).",
        NoResendCodes => "no-resend-codes": "Re-sent register/active/subscribe_corp answer 0 instead of 600012/600053/600054 (C9).",
        NoOrderCheck => "no-order-check": "active/subscribe_corp/business commands succeed on unregistered or unsubscribed connections (C14).",
        NoSnBinding => "no-sn-binding": "register for an SN live from another IP succeeds instead of 600002 (C10).",
        NoKick => "no-kick": "A second register from the same IP does not kick the old link (C13).",
        NoHeartbeatExpiry => "no-heartbeat-expiry": "Silent links are never closed (C8).",
        NoRateLimit => "no-rate-limit": "subscribe_corp is never rate limited (C11).",
        NoBindPush => "no-bind-push": "bind/unbind do not push push_bind_corp/push_unbind_corp (C7).",
        SecretNoAfterRegister => "secret-no-after-register": "get_secret_no keeps working after a successful register (C5).",
        UnboundActiveSucceeds => "unbound-active-succeeds": "active on an unbound device returns a secret (C6).",
        NoSelfhelpEcho => "no-selfhelp-echo": "selfhelp_notify is not pushed back (C23).",
        SilentOnMalformed => "silent-on-malformed": "Malformed frames (600904) get no reply.",
        NotImplementedSilent => "not-implemented-silent": "Unknown or unimplemented commands (600905) get no reply.",
        OneReplyPerRequest => "duplicate-replies": "Every request is answered twice with the same req_id (C1).",
        PageLimitHonoured => "page-limit-honoured": "get_userinfo_by_page honours a limit above 200 (C15).",
        VersionSkips => "version-skips": "Directory changes raise perm_version / visitor_version by 2 (C16).",
        HistoryIgnoresVersion => "history-ignores-version": "get_notify_history returns items at or below the asked perm_version too (C17).",
        CheckinRejectsOld => "checkin-rejects-old": "checkin lists pre-2018 records in fail_list instead of dropping them silently (C18).",
        RemoteOpenNoDeadline => "remote-open-no-deadline": "A report_remote_open_door later than 3 s still counts as the device's answer (C19).",
        VisitorIdStripped => "visitor-id-stripped": "Visitor userids lose their /agentid in pulls and pushes (C20).",
        NoAlgorithmPriority => "no-algorithm-priority": "Templates come in the default algorithm whatever the device announced (C21).",
        FetchLogHintChanged => "fetch-log-hint-changed": "push_fetch_log does not carry the vendor's hint verbatim (C22).",
        DynamicQrNoExpiry => "dynamic-qr-no-expiry": "A scan of a dynamic login QR older than 1800 s is accepted (C24).",
        BinaryBigEndian => "binary-big-endian": "Binary replies write format_version and lengths big-endian (C3).",
    }
}

knobs! {
    /// A conformant choice the mock can be told to make instead of its own (`variants`): a
    /// real cloud may make it, so the library must pass a mock that does.
    pub enum MockVariant {
        OmitEmptyLists => "omit-empty-lists", allowed_by "§1.3: `body` is absent when there is nothing to return": "Success replies leave out empty lists (an empty `fail_list`, notify-history `item`) and a body left empty.",
        PushNoise => "push-noise", allowed_by "§1.5: the cloud pushes `push_*` commands at any time": "Every corp push comes after a `push_update_firmware` (an admin asking for an upgrade).",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_kebab_case() {
        crate::targets::knobs::assert_well_named::<MockRule>(|b| {
            b.is_ascii_lowercase() || b == b'-'
        });
        assert_eq!(MockRule::parse("no-such-rule"), None);
        assert!(MockRule::ALL.len() >= 17);
        crate::targets::knobs::assert_well_named::<MockVariant>(|b| {
            b.is_ascii_lowercase() || b == b'-'
        });
    }

    #[test]
    fn defaults_match_the_faq() {
        let c = MockConfig::default();
        assert_eq!(c.timings.heartbeat_timeout, Duration::from_secs(90));
        assert_eq!(c.timings.subscribe_window, Duration::from_secs(60));
        assert_eq!(c.timings.subscribe_limit, 5);
        assert_eq!(c.timestamp_tolerance, Duration::from_secs(300));
        assert_eq!(c.max_frame_bytes, 65536);
        assert!(c.start_unix > 1_600_000_000);
        assert!(c.enforces(MockRule::NoKick));
    }
}
