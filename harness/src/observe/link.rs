//! One device connection's state: the two parties, the conversation as each had it (with
//! that party's monitors), the connection's faults, and how the link ended.

use super::fault::{Armed, Asked, Faults, Toward};
use super::tls::ListenTls;
use super::upstream::{Moved, Upstream};
use crate::engine::event::{Event, RunClock, RunEvent};
use crate::engine::monitor::Monitor;
use crate::engine::recorder::Recorder;
use crate::engine::transcript::{Party, TranscriptEvent};
use crate::engine::verdict::Finding;
use crate::profile::{Profile, Violation};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// One of the two parties the observer stands between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Device,
    Cloud,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Device => "device",
            Peer::Cloud => "cloud",
        }
    }
    pub(super) fn other(self) -> Peer {
        match self {
            Peer::Device => Peer::Cloud,
            Peer::Cloud => Peer::Device,
        }
    }
    /// Where a frame from this party goes.
    pub(super) fn toward(self) -> Toward {
        match self {
            Peer::Device => Toward::Cloud,
            Peer::Cloud => Toward::Device,
        }
    }
}

/// A finding as it happens, for the live printout.
pub struct LiveFinding<'a> {
    /// The device's SN, once a frame has said it.
    pub sn: Option<&'a str>,
    pub link: usize,
    /// The party the finding is about.
    pub judged: Peer,
    pub finding: &'a Finding,
}

impl LiveFinding<'_> {
    /// Who the finding is about, as the live line names it: `SN (link N): party`, with
    /// `device ?` before a frame said the SN. The `id` of its [`RunEvent::Finding`].
    pub fn about(&self) -> String {
        format!(
            "{} (link {}): {}",
            self.sn.unwrap_or("device ?"),
            self.link,
            self.judged.name()
        )
    }
}

/// Where live findings go: the run's event stream, as a run's do. Each is a
/// [`RunEvent::Finding`] stamped on the observer's clock, `index` the link's number and `id`
/// [`LiveFinding::about`].
#[derive(Clone)]
pub struct OnFinding {
    clock: RunClock,
    sink: Arc<dyn Fn(Event) + Send + Sync>,
}

impl OnFinding {
    /// Findings stamped on `clock`, each handed to `sink` (the CLI prints them).
    pub fn new(clock: RunClock, sink: impl Fn(Event) + Send + Sync + 'static) -> OnFinding {
        OnFinding {
            clock,
            sink: Arc::new(sink),
        }
    }

    /// Findings nobody follows live (they are still kept in the results).
    pub fn ignored() -> OnFinding {
        OnFinding::new(RunClock::start(), |_| {})
    }

    /// Says `text` now: something about the observer's own judging, not about a party.
    pub(super) fn notice(&self, text: String) {
        (self.sink)(Event {
            stamp: self.clock.now(),
            kind: RunEvent::Notice { text },
        });
    }

    /// Says `f` now.
    pub(super) fn say(&self, f: &LiveFinding<'_>) {
        (self.sink)(Event {
            stamp: self.clock.now(),
            kind: RunEvent::Finding {
                index: f.link,
                id: f.about(),
                finding: f.finding.clone(),
            },
        });
    }
}

/// A frame a party sent, as an observer scenario watches it: before any fault, so a frame a
/// fault dropped was still said.
#[derive(Clone, Debug)]
pub struct Seen {
    pub link: usize,
    pub from: Peer,
    /// The command it names (a request or push).
    pub cmd: Option<String>,
    /// For a reply: the command of the request it answers.
    pub reply_to: Option<String>,
    /// The frame, when it is JSON text.
    pub frame: Option<Arc<Value>>,
    pub at: Instant,
}

/// Where the frames seen go, for an observer scenario. Never waits: a watcher that fell
/// behind by the channel's capacity is told by `overflowed`, so it cannot judge on a partial
/// conversation.
#[derive(Clone)]
pub struct Tap {
    pub tx: tokio::sync::mpsc::Sender<Seen>,
    pub overflowed: Arc<AtomicBool>,
}

/// What every link of a run shares.
pub(super) struct Ctx {
    /// The links of each SN side by side, for the rules about a device's links together.
    pub by_sn: super::by_sn::BySn,
    /// Frames seen, for an observer scenario.
    pub tap: Option<Tap>,
    pub profile: Arc<dyn Profile>,
    pub upstream: Upstream,
    /// The device side's TLS (`wss://`), when the observer has a certificate.
    pub tls: Option<ListenTls>,
    pub faults: Faults,
    pub on_finding: OnFinding,
    /// Frames forwarded, both ways, all links.
    pub forwarded: AtomicU64,
    /// Entries each view's transcript keeps ([`MAX_ENTRIES`](crate::engine::recorder::MAX_ENTRIES)
    /// but in tests).
    pub transcript_cap: usize,
}

/// The conversation as one party had it, with that party's monitors.
pub(super) struct View {
    pub judged: Peer,
    pub rec: Recorder,
    pub monitor: Mutex<Monitor>,
    pub findings: Mutex<Vec<Finding>>,
    pub swept: AtomicUsize,
    /// The party sent at least one frame: there was something to judge.
    pub spoke: AtomicBool,
    /// Rules the observer judged itself on this view (beside the monitors'), passed or not.
    pub judged_here: Mutex<Vec<&'static str>>,
}

/// How a link ended.
#[derive(Clone, Debug)]
pub(super) enum End {
    /// The observer is stopping.
    Shutdown,
    /// A party sent a close frame, which was forwarded.
    Closed,
    /// A party's link ended without a close, or would not take a frame.
    Broken(Peer, String),
    /// A `reset` fault took a frame.
    Reset(String),
    /// A `new-address` fault took a frame: the device's link is reset, the cloud's held.
    NewAddress(String),
}

pub(super) struct Link {
    pub n: usize,
    pub conn: String,
    pub ctx: Arc<Ctx>,
    pub device: View,
    pub cloud: View,
    pub sn: Mutex<Option<String>>,
    /// Requests each party sent, so the other's replies can be named (`reply=NAME`).
    pub asked_by_device: Mutex<Asked>,
    pub asked_by_cloud: Mutex<Asked>,
    /// This connection's faults, with what each may still take.
    pub faults: Mutex<Armed>,
    /// The device moved to another source address before this link was made.
    pub moved: Option<Moved>,
    pub open: AtomicBool,
    pub end: watch::Sender<Option<End>>,
    /// The cross-link view of its SN, once the device said it.
    pub by_sn: std::sync::OnceLock<Arc<super::by_sn::SnViews>>,
    /// Why judging stopped: a view's transcript reached its cap, so its monitors would see
    /// only part of the conversation (a pass over frames never seen, a silence that was not).
    pub capped: std::sync::OnceLock<String>,
}

/// Why a conversation is no longer judged once its transcript is full: said live once, and
/// the inconclusive verdict's reason.
pub(super) fn cap_reached(cap: usize, at: std::time::Duration) -> String {
    format!(
        "the transcript cap ({cap} entries) was reached at {:.1} s: what followed was forwarded but not judged",
        at.as_secs_f64()
    )
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The device's SN: `register`, `active` and `get_secret_no` carry it in their body.
pub(super) fn sn_of(frame: &Value) -> Option<&str> {
    frame.get("body")?.get("sn")?.as_str()
}

impl Link {
    /// The fault that takes this frame going `toward`: this connection's own first, then one
    /// an observer scenario armed for the run's next matching frame.
    pub(super) fn take_fault(
        &self,
        toward: super::fault::Toward,
        frame: &super::fault::FrameView<'_>,
    ) -> Option<super::fault::LinkFault> {
        lock(&self.faults)
            .take(toward, frame)
            .or_else(|| self.ctx.faults.take_live(toward, frame))
    }

    pub(super) fn view(&self, p: Peer) -> &View {
        match p {
            Peer::Device => &self.device,
            Peer::Cloud => &self.cloud,
        }
    }

    /// Ends the link for `why`, unless it already ended.
    pub(super) fn finish(&self, why: End) {
        self.end.send_if_modified(|e| {
            if e.is_none() {
                *e = Some(why);
                true
            } else {
                false
            }
        });
    }

    pub(super) fn note(&self, text: &str) {
        for v in [&self.device, &self.cloud] {
            v.rec.record(TranscriptEvent::Note {
                text: text.to_string(),
            });
        }
    }

    /// A rule the observer judged itself on `view`: counted as exercised, and a violation
    /// is a finding that goes out at once.
    pub(super) fn judged(&self, view: &View, verdict: Result<(), Violation>, rule: &'static str) {
        {
            let mut here = lock(&view.judged_here);
            if !here.contains(&rule) {
                here.push(rule);
            }
        }
        // Not a monitor's: `rejudge` keeps it as recorded rather than looking for it again.
        if let Err(v) = verdict {
            self.found(view, vec![v], false);
        }
    }

    /// Feeds the view's monitors what it recorded since the last sweep; new findings go out
    /// at once.
    pub(super) fn sweep(&self, view: &View, end: bool) {
        if self.capped.get().is_some() {
            return;
        }
        if let Some(full) = [&self.device, &self.cloud]
            .into_iter()
            .find(|v| v.rec.dropped() > 0)
        {
            let why = cap_reached(full.rec.cap(), full.rec.now());
            if self.capped.set(why.clone()).is_ok() {
                let sn = lock(&self.sn).clone();
                self.ctx.on_finding.notice(format!(
                    "{} (link {}): {why}",
                    sn.as_deref().unwrap_or("device ?"),
                    self.n
                ));
            }
            return;
        }
        let now = view.rec.now();
        let open = if self.open.load(Ordering::SeqCst) {
            vec![self.conn.clone()]
        } else {
            Vec::new()
        };
        let violations = view.rec.with_transcript(|t| {
            let v = lock(&view.monitor).sweep(t, now, &open, end);
            view.swept.store(t.entries.len(), Ordering::SeqCst);
            v
        });
        self.found(view, violations, true);
    }

    /// Keeps each new violation as a finding of `view` (`monitor`: an always-on monitor's)
    /// and says it at once.
    fn found(&self, view: &View, violations: Vec<Violation>, monitor: bool) {
        for mut v in violations {
            v.message = view.rec.redact(&v.message);
            let mut findings = lock(&view.findings);
            if Finding::push_new(&mut findings, v, None, monitor) {
                let finding = findings.last().expect("just pushed").clone();
                drop(findings);
                let sn = lock(&self.sn).clone();
                self.ctx.on_finding.say(&LiveFinding {
                    sn: sn.as_deref(),
                    link: self.n,
                    judged: view.judged,
                    finding: &finding,
                });
            }
        }
    }

    /// Records a frame in the view of the party it reached (`sent`: the observer delivered
    /// it) or came from.
    pub(super) fn record(&self, view: &View, msg: &Message, json: &Option<Arc<Value>>, sent: bool) {
        if let Some(sn) = self.by_sn.get() {
            sn.record(view.judged, &self.conn, msg, json, sent);
        }
        match msg {
            Message::Text(t) => {
                view.rec
                    .parsed_text_frame(&self.conn, t.as_str(), json.clone(), sent)
            }
            Message::Binary(b) => view.rec.binary_frame(&self.conn, b, sent),
            _ => {}
        }
        self.sweep(view, false);
    }

    pub(super) fn record_closed(&self, p: Peer, by: Party, code: Option<u16>, reason: &str) {
        if let Some(sn) = self.by_sn.get() {
            sn.closed(p, &self.conn, by, code, reason);
        }
        self.view(p).rec.record(TranscriptEvent::Closed {
            conn: self.conn.clone(),
            by,
            code,
            reason: reason.to_string(),
        });
    }
}
