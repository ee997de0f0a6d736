//! Exploring a device (the harness plays the cloud): a model of what a conformant device is
//! obliged to do next turns a sequence of [`DeviceAction`]s into cloud-role steps. The cloud
//! answers each request the model expects — with success bodies the lifecycle needs, errors
//! with every kind of advice, lost replies, closes, protocol codes — and in between pushes,
//! waits and (reference device only) makes members check in. Each expectation is a
//! `receive` with the bounds the obligations set:
//! * a new link starts with a signed `register` (D4, D5, D7); with a cached secret it goes on
//!   to `subscribe_corp` or, as D10 also allows, activates again first (a `one_of`), else
//!   to `active`; 600004 drops the secret and data (D23) and `active` is polled no faster than every 5 s (D8), at once after `push_bind_corp` (D9);
//! * a lost reply is re-sent after 5–10 s (D13); an error is retried no earlier than its
//!   `interval`, or after a random 1–3 s without one (D14, judged for jitter over six
//!   attempts); never after `interval: -1` (D15); `reconnect` closes and re-opens no earlier
//!   than the interval (D16); 600002 backs off 1–2 minutes (D20); re-sent `register`
//!   answered 600012 / 600053 / 600054 continues instead of looping (D17–D19); at most five
//!   subscribes a minute (D21, also checked by the monitor), and after 600045 the subscribe
//!   comes again on the link or, by a `one_of`, on a new one after a new handshake;
//! * after each login of a device that implements contacts (its ICS says so)
//!   `get_perm_version` within a minute — D24 sets no bound and a device may ping first
//!   (pings are auto-answered) — and a full pull from offset 0 with limit ≤ 200 and
//!   contiguous offsets when the versions differ (D24, D25), restarted when the version
//!   changes between pages (D26), with members still recognised meanwhile (D27); a pushed
//!   change one version ahead is fetched with `get_userinfo_by_ids` (D28), two or more ahead
//!   with a full pull (D29); visitors keep their `/agentid` (D30, D31); check-ins are kept
//!   until the cloud took them (D32, D33); a remote open is reported within 3 s with its
//!   oper_id (D34, D35); enrolments upload templates, not images (D36, D37); firmware and log
//!   pushes are followed (D40, D41, D3). A device without contacts owes nothing at login:
//!   `logged_in` (a ping at the latest) shows it got there before the cloud acts.
//!
//! The always-on device monitor (D1, D2, D12, D13, D21, D22) runs beside every step.
//!
//! Concurrency is kept tractable: before login only the lifecycle talks; after login every
//! request the device sends at the same moment is answered at once (all but one with plain
//! success), so no request waits long enough to be re-sent behind the model's back.

pub mod actions;
mod answers;
mod link;
mod serve;

use super::writer::{self, capture, err, matcher, ms, ok, push, s, Steps};
use crate::scenario::{
    Accept, Branch, Close, ConnRef, DeviceControl, DurationRange, ExpectReconnect, ExpectSilence,
    LoggedIn, OneOf, Receive, Reply, ReplySpec, Step, StepKind, Timing,
};
pub use actions::action;
use actions::{Advice, Answer, DeviceAction, Idle, RECONNECT_INTERVALS, RETRY_INTERVALS};
use answers::timing;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What the explorer may use of the device target.
#[derive(Clone, Copy, Debug)]
pub struct DeviceSetup {
    /// The device can be made to act (`device_control`: the reference device).
    pub device_control: bool,
    /// The optional areas the device implements: pushes of the others are never drawn.
    pub implemented: Implemented,
    /// The profile's timing constants: the windows a re-send is expected within.
    pub timings: &'static [crate::profile::TimingConstant],
}

/// Which of the profile's features ([`Profile::ics_features`]) a device implements, as its ICS says: bit
/// `i` for `features[i]`. Fail-closed: a feature the ICS leaves out is not exercised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Implemented {
    bits: u32,
    features: &'static [crate::profile::Feature],
}

impl Implemented {
    /// Every feature of `profile` (no ICS: the reference device, or a device assumed to do
    /// everything).
    pub fn all(profile: &dyn crate::profile::Profile) -> Implemented {
        Implemented {
            bits: u32::MAX,
            features: profile.ics_features(),
        }
    }

    pub fn from_ics(ics: &crate::ics::Ics, profile: &dyn crate::profile::Profile) -> Implemented {
        let features = profile.ics_features();
        Implemented {
            bits: features
                .iter()
                .enumerate()
                .filter(|(_, f)| ics.features.get(f.name) == Some(&true))
                .fold(0, |bits, (i, _)| bits | 1 << i),
            features,
        }
    }

    pub fn has(self, name: &str) -> bool {
        self.features
            .iter()
            .position(|f| f.name == name)
            .is_some_and(|i| self.bits & (1 << i) != 0)
    }
}

/// A generated cloud-role scenario body.
pub struct Generated {
    pub steps: Steps,
    pub requires: Vec<&'static str>,
    pub extra: Vec<String>,
    pub duration_s: u64,
}

/// The active code the cloud hands out (long-term, DOC 91370).
const CODE: &str = "ac-explore";
/// Base64 that does not start with the JPEG (/9j/) or PNG (iVBOR) magic bytes (D37).
const NOT_IMAGE: &str = "^(?:[A-Za-hj-z0-9+]|/[A-Za-z0-8+/]|/9[A-Za-ik-z0-9+/]|i[A-UW-Za-z0-9+/]|iV[AC-Za-z0-9+/]|iVB[A-NP-Za-z0-9+/]|iVBO[A-QS-Za-z0-9+/])[A-Za-z0-9+/]*={0,2}$";
/// Every log line carries a date and a time to the second (D41).
const TIMESTAMPED: &str =
    "^(?:[^\n]*[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}[^\n]*(?:\n|$))+$";
/// A subscribe may wait this long for the device's five-a-minute budget (D21), beyond the
/// retry delay itself.
const BUDGET_MS: u64 = 62_000;
/// How long after login the device may take to ask for the contacts version: D24 sets no
/// bound, so a minute (a device may ping first, or make other business calls before).
const SYNC_MS: u64 = 60_000;
/// Guard on the conversation's length (receives), whatever the actions.
const MAX_SERVES: u32 = 160;

/// A check-in record the device holds.
#[derive(Clone, Debug)]
struct Rec {
    seq: u32,
    userid: String,
    pass_type: u32,
    pass_method: u32,
    captured: bool,
}

/// What an expected request is for.
#[derive(Clone, Debug)]
enum Kind {
    /// `first`: the link's first request, checked in full (D4, D5, D7).
    Register {
        first: bool,
    },
    Active {
        polling: bool,
    },
    Subscribe,
    PermVersion,
    /// A full-pull page: the offset the device must ask for, the version the pages of this
    /// pass report, whether it is the pass's first page, the users staged so far.
    Page {
        offset: u64,
        version: u64,
        first: bool,
        staged: Vec<String>,
        pages: u32,
    },
    Ids {
        ids: Vec<String>,
        version: u64,
    },
    Visitors {
        ids: Vec<String>,
    },
    Report {
        scan: bool,
        oper: String,
        userid: Option<String>,
    },
    Upload {
        oper: String,
        userid: String,
        fp: bool,
    },
    Firmware,
    Log,
    Checkin {
        batch: Vec<u32>,
    },
    /// Not a request: no request of `cmd` may arrive for a while (D15).
    Silence {
        cmd: &'static str,
    },
}

impl Kind {
    fn cmd(&self) -> &'static str {
        match self {
            Kind::Register { .. } => "register",
            Kind::Active { .. } => "active",
            Kind::Subscribe => "subscribe_corp",
            Kind::PermVersion => "get_perm_version",
            Kind::Page { .. } => "get_userinfo_by_page",
            Kind::Ids { .. } => "get_userinfo_by_ids",
            Kind::Visitors { .. } => "get_visitor_by_ids",
            Kind::Report { .. } => "report_remote_open_door",
            Kind::Upload { .. } => "upload_userinfo",
            Kind::Firmware => "get_firmware_info",
            Kind::Log => "upload_log",
            Kind::Checkin { .. } => "checkin",
            Kind::Silence { cmd } => cmd,
        }
    }

    /// The same request sent again: a register that is no longer the link's first, an
    /// `active` that is a retry rather than a poll.
    fn again(self) -> Kind {
        match self {
            Kind::Register { .. } => Kind::Register { first: false },
            Kind::Active { .. } => Kind::Active { polling: false },
            k => k,
        }
    }

    /// Lower serves first among requests that arrive together.
    fn priority(&self) -> u8 {
        match self {
            Kind::Register { .. } | Kind::Active { .. } | Kind::Subscribe => 0,
            Kind::PermVersion | Kind::Page { .. } | Kind::Ids { .. } => 1,
            Kind::Checkin { .. } => 3,
            Kind::Silence { .. } => 9,
            _ => 2,
        }
    }
}

/// A request the model expects, with its arrival bounds (ms from the step's start).
#[derive(Clone, Debug)]
struct Exp {
    kind: Kind,
    not_before: u64,
    within: u64,
    /// The previous attempt got no reply (re-send codes are then the FAQ's answer).
    lost_before: bool,
    /// Answer this re-send with the FAQ's code for "it took effect" (600012 / 600054).
    recover: bool,
    /// What the device may do instead of sending this request straight away.
    alt: Alt,
    reqs: Vec<&'static str>,
}

/// Another conformant opening of an expected `subscribe_corp` (a `one_of` in the scenario);
/// each ends in that same request, so the conversation goes on from it either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alt {
    None,
    /// Straight after `register` with a cached secret: the device may activate again with
    /// its active_code first (D10: skipping `active` is a MAY).
    Reactivate,
    /// After 600045: the device may back off on a new link instead of its own, and redo
    /// the handshake (D21 says only that it backs off).
    Reconnect,
}

fn exp(kind: Kind, not_before: u64, within: u64, reqs: &[&'static str]) -> Exp {
    let within = if matches!(kind, Kind::Subscribe) {
        within + BUDGET_MS
    } else {
        within
    };
    let mut reqs = reqs.to_vec();
    // What every expectation of the kind checks besides the reason it is expected.
    let always: &[&'static str] = match kind {
        Kind::Page { .. } => &["D25"],
        _ => &[],
    };
    for r in always {
        if !reqs.contains(r) {
            reqs.push(r);
        }
    }
    Exp {
        kind,
        not_before,
        within,
        lost_before: false,
        recover: false,
        alt: Alt::None,
        reqs,
    }
}

/// A run of identical error answers to one cmd.
struct Run {
    cmd: &'static str,
    remaining: u8,
    advice: Advice,
    /// The mark set after the first error, when the run is long enough to judge jitter.
    mark: Option<String>,
}

pub struct DeviceModel {
    setup: DeviceSetup,
    steps: Steps,
    actions: Vec<DeviceAction>,
    next: usize,
    winding: bool,
    // What the device holds.
    has_code: bool,
    secret: Option<u32>,
    issued: u32,
    version: u64,
    users: Vec<String>,
    recs: Vec<Rec>,
    // The link.
    logged_in: bool,
    /// The lifecycle gave up on this link (interval -1): nothing more comes until a close.
    dead: bool,
    uploader: bool,
    pending: Vec<Exp>,
    run: Option<Run>,
    /// The next reply answers this req_id (a captured variable) instead of the last received.
    reply_to: Option<String>,
    last_received: Option<&'static str>,
    // Bookkeeping.
    counter: u32,
    serves: u32,
    budget_ms: u64,
    fw: bool,
    subscribes: u32,
    device_control: bool,
}

impl DeviceModel {
    pub fn generate(setup: DeviceSetup, actions: &[DeviceAction]) -> Generated {
        let mut m = DeviceModel {
            setup,
            steps: Steps::default(),
            actions: actions.to_vec(),
            next: 0,
            winding: false,
            has_code: false,
            secret: None,
            issued: 0,
            version: 0,
            users: Vec::new(),
            recs: Vec::new(),
            logged_in: false,
            dead: false,
            uploader: false,
            pending: Vec::new(),
            run: None,
            reply_to: None,
            last_received: None,
            counter: 0,
            serves: 0,
            budget_ms: 0,
            fw: false,
            subscribes: 0,
            device_control: false,
        };
        m.steps.add(
            StepKind::Accept(Accept {
                conn: "a".into(),
                within: Some(s(30)),
            }),
            &[],
        );
        m.budget_ms += 30_000;
        m.new_link();
        loop {
            if m.serves >= MAX_SERVES {
                m.winding = true;
            }
            if !m.pending.is_empty() {
                m.step_pending();
                continue;
            }
            if m.winding || m.next >= m.actions.len() {
                break;
            }
            let a = m.actions[m.next];
            m.next += 1;
            if let DeviceAction::Idle(i) = a {
                m.idle(i);
            }
        }
        if m.subscribes > 0 {
            m.steps.add(
                StepKind::Timing(Timing {
                    max_per: Some((5, s(60))),
                    ..timing("subscribe_corp")
                }),
                &["D21"],
            );
        }
        let requires = if m.device_control {
            vec!["device_control"]
        } else {
            Vec::new()
        };
        Generated {
            steps: m.steps,
            requires,
            extra: Vec::new(),
            duration_s: m.budget_ms.div_ceil(1000),
        }
    }
}
