//! The view across links: each link is judged on its own, so a rule about a device's links
//! together (it keeps one; the cloud makes two of one SN kick each other: the profile's
//! [`Profile::cross_link_rules`]) needs the links of one SN side by side. Once a link has said
//! its SN, what it carries is recorded here too, per party, under the link's name, and the
//! same monitors judge it; only the cross-link rules' findings are kept (the rest are the
//! per-link views' to report).

use super::link::{LiveFinding, OnFinding, Peer};
use crate::engine::clock::{wall_unix, ScenarioClock};
use crate::engine::monitor::Monitor;
use crate::engine::recorder::Recorder;
use crate::engine::transcript::{Party, TranscriptEvent};
use crate::engine::verdict::{Failure, Finding, Judged, ScenarioResult, Verdict};
use crate::profile::Profile;
use crate::scenario::Role;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// SNs an observer keeps a cross-link view for; links of further SNs are judged alone.
const MAX_SNS: usize = 4096;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One party's conversation over all links of one SN.
struct PartyView {
    judged: Peer,
    rec: Recorder,
    monitor: Mutex<Monitor>,
    findings: Mutex<Vec<Finding>>,
}

/// Links of one SN remembered (open ones all, closed ones the latest).
const MAX_LINKS_PER_SN: usize = 256;

/// The links of one SN.
pub(super) struct SnViews {
    sn: String,
    profile: Arc<dyn Profile>,
    on_finding: OnFinding,
    device: PartyView,
    cloud: PartyView,
    /// Links that joined, and whether each is still open.
    links: Mutex<Vec<(String, usize, bool)>>,
    wall: Instant,
    /// Why judging stopped: a party's transcript reached its cap (as a link's can).
    capped: std::sync::OnceLock<String>,
}

/// Every SN's view, for one observer run.
pub(super) struct BySn {
    views: Mutex<BTreeMap<String, Arc<SnViews>>>,
}

impl BySn {
    pub fn new() -> BySn {
        BySn {
            views: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds link `n` (named `conn`) to the view of `sn`; `None` past [`MAX_SNS`] or for a
    /// profile without cross-link rules.
    pub fn join(
        &self,
        sn: &str,
        conn: &str,
        n: usize,
        profile: &Arc<dyn Profile>,
        on_finding: &OnFinding,
        cap: usize,
    ) -> Option<Arc<SnViews>> {
        if profile.cross_link_rules().is_empty() {
            return None;
        }
        let mut views = lock(&self.views);
        if !views.contains_key(sn) && views.len() >= MAX_SNS {
            return None;
        }
        let v = views
            .entry(sn.to_string())
            .or_insert_with(|| {
                let clock = ScenarioClock::start(wall_unix());
                let party = |judged: Peer| PartyView {
                    judged,
                    rec: Recorder::new(clock, Vec::new(), profile.clone()).with_cap(cap),
                    monitor: Mutex::new(match judged {
                        Peer::Cloud => Monitor::for_cloud(&**profile, false),
                        Peer::Device => Monitor::for_device(&**profile, None),
                    }),
                    findings: Mutex::new(Vec::new()),
                };
                Arc::new(SnViews {
                    sn: sn.to_string(),
                    profile: profile.clone(),
                    on_finding: on_finding.clone(),
                    device: party(Peer::Device),
                    cloud: party(Peer::Cloud),
                    links: Mutex::new(Vec::new()),
                    wall: Instant::now(),
                    capped: std::sync::OnceLock::new(),
                })
            })
            .clone();
        {
            // A device in a reconnect loop: its closed links beyond the bound are forgotten
            // (open ones are bounded by the observer's own link limit).
            let mut links = lock(&v.links);
            if links.len() >= MAX_LINKS_PER_SN {
                if let Some(i) = links.iter().position(|l| !l.2) {
                    links.remove(i);
                }
            }
            links.push((conn.to_string(), n, true));
        }
        for p in [&v.device, &v.cloud] {
            p.rec.record(TranscriptEvent::Opened {
                conn: conn.to_string(),
                local: String::new(),
                waited: None,
            });
        }
        v.sweep(false);
        Some(v)
    }

    /// Per SN that had two links or more, its two results (the device judged by the
    /// cross-link rules, role `cloud`; the cloud, role `device`). An SN seen on one link
    /// gives none: one link proves nothing about keeping one.
    pub fn results(&self) -> Vec<ScenarioResult> {
        let views: Vec<Arc<SnViews>> = lock(&self.views).values().cloned().collect();
        views
            .iter()
            .filter(|v| lock(&v.links).len() >= 2)
            .flat_map(|v| v.results())
            .collect()
    }
}

impl SnViews {
    fn party(&self, p: Peer) -> &PartyView {
        match p {
            Peer::Device => &self.device,
            Peer::Cloud => &self.cloud,
        }
    }

    /// A frame of link `conn` in `judged`'s conversation (`sent`: delivered to that party).
    pub fn record(
        &self,
        judged: Peer,
        conn: &str,
        msg: &Message,
        json: &Option<Arc<Value>>,
        sent: bool,
    ) {
        let rec = &self.party(judged).rec;
        match msg {
            Message::Text(t) => rec.parsed_text_frame(conn, t.as_str(), json.clone(), sent),
            Message::Binary(b) => rec.binary_frame(conn, b, sent),
            _ => return,
        }
        self.sweep(false);
    }

    /// Link `conn` closed on `judged`'s side.
    pub fn closed(&self, judged: Peer, conn: &str, by: Party, code: Option<u16>, reason: &str) {
        self.party(judged).rec.record(TranscriptEvent::Closed {
            conn: conn.to_string(),
            by,
            code,
            reason: reason.to_string(),
        });
        for l in lock(&self.links).iter_mut().filter(|l| l.0 == conn) {
            l.2 = false;
        }
        self.sweep(false);
    }

    /// Feeds both parties' monitors; new cross-link findings go out at once.
    pub fn sweep(&self, end: bool) {
        if self.capped.get().is_some() {
            return;
        }
        if let Some(full) = [&self.device, &self.cloud]
            .into_iter()
            .find(|v| v.rec.dropped() > 0)
        {
            let why = super::link::cap_reached(full.rec.cap(), full.rec.now());
            if self.capped.set(why.clone()).is_ok() {
                self.on_finding
                    .notice(format!("{} (its links together): {why}", self.sn));
            }
            return;
        }
        let rules = self.profile.cross_link_rules();
        let (open, last): (Vec<String>, usize) = {
            let links = lock(&self.links);
            let open = links.iter().filter(|l| l.2).map(|l| l.0.clone()).collect();
            (open, links.last().map_or(0, |l| l.1))
        };
        for view in [&self.device, &self.cloud] {
            let now = view.rec.now();
            let violations = view
                .rec
                .with_transcript(|t| lock(&view.monitor).sweep(t, now, &open, end));
            for mut v in violations.into_iter().filter(|v| rules.contains(&v.rule)) {
                v.message = view.rec.redact(&v.message);
                let mut findings = lock(&view.findings);
                if Finding::push_new(&mut findings, v, None, true) {
                    let finding = findings.last().expect("just pushed").clone();
                    drop(findings);
                    self.on_finding.say(&LiveFinding {
                        sn: Some(&self.sn),
                        link: last,
                        judged: view.judged,
                        finding: &finding,
                    });
                }
            }
        }
    }

    fn results(&self) -> Vec<ScenarioResult> {
        self.sweep(true);
        let rules = self.profile.cross_link_rules();
        let links = lock(&self.links).len();
        [(&self.device, Role::Cloud), (&self.cloud, Role::Device)]
            .into_iter()
            .map(|(view, role)| {
                let requirements: Vec<String> = lock(&view.monitor)
                    .exercised()
                    .into_iter()
                    .filter(|r| rules.contains(r))
                    .map(str::to_string)
                    .collect();
                let mut r = ScenarioResult {
                    id: format!(
                        "observe.sn.{}.{}",
                        super::results::id_safe(&self.sn),
                        view.judged.name()
                    ),
                    title: format!(
                        "the {} across the {links} links of device {}",
                        view.judged.name(),
                        self.sn
                    ),
                    file: std::path::PathBuf::from(format!("observe/sn/{}", self.sn)),
                    role,
                    requirements,
                    tags: vec!["observe".into()],
                    verdict: match self.capped.get() {
                        Some(why) => Verdict::Inconclusive(Failure::new(why.clone())),
                        None => Verdict::Pass,
                    },
                    findings: lock(&view.findings).clone(),
                    obligations: BTreeMap::new(),
                    not_reached: BTreeMap::new(),
                    wall_time: self.wall.elapsed(),
                    scenario_time: view.rec.now(),
                    transcript: view.rec.take(),
                    // Its transcript holds every rule's evidence, and only the cross-link
                    // rules are its to judge: `rejudge` keeps it as recorded.
                    judged: None::<Judged>,
                };
                let profile = &self.profile;
                r.conclude(&|id| profile.binding(id));
                r
            })
            .collect()
    }
}
