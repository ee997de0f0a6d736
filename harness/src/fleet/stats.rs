//! Collecting the figures while the fleet runs: one [`Stats`] for the process, one
//! [`DeviceWatch`] per device (the device's [`SimProbe`]), which times its requests, counts
//! its codes, feeds the profile's always-on cloud monitors and judges the codes the fleet
//! did or did not earn.

use super::checks::{self, SentContext};
use super::dial::DialFailure;
use super::latency::{self, Latency};
use super::plan::BUCKET;
use super::report::{keep_earliest, Break, Devices, Example, Figures, HeldLinks, Sample};
use crate::profile::{CloudTimings, Frame, Profile, RoleMonitor, WireEvent};
use crate::targets::sim::SimProbe;
use hdrhistogram::Histogram;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Requests a device may have in flight before the oldest is counted unanswered.
const MAX_IN_FLIGHT: usize = 64;
/// A request older than this is unanswered (the device's own timeout is 5–10 s).
const UNANSWERED_AFTER: Duration = Duration::from_secs(30);

/// The figures of one process, shared by every device's watch.
pub struct Stats {
    started: Instant,
    profile: Arc<dyn Profile>,
    timings: CloudTimings,
    inner: Mutex<Inner>,
}

struct Inner {
    connections: u64,
    devices_connected: u64,
    dial_failures: u64,
    dial_failures_by: BTreeMap<DialFailure, u64>,
    /// Devices switched on so far.
    switched_on: u64,
    /// Devices that logged in at least once.
    devices_logged_in: u64,
    /// Devices that never connected, by why their latest dial failed.
    never_connected_by: BTreeMap<DialFailure, u64>,
    lost_by_cloud: u64,
    logins: u64,
    live: u64,
    logged_in: u64,
    requests: u64,
    error_replies: u64,
    unanswered: u64,
    login: Histogram<u64>,
    latency: BTreeMap<String, Histogram<u64>>,
    errors: BTreeMap<String, u64>,
    unanswered_by_command: BTreeMap<String, u64>,
    pushes: BTreeMap<String, u64>,
    breaks: BTreeMap<String, Break>,
    held: u64,
    released: u64,
    release: Histogram<u64>,
    timeline: Vec<Sample>,
    /// The run time of the latest event (what the live line shows: its thread has no clock
    /// of the fleet's runtime).
    last_at: Duration,
    /// When each source address last sent `subscribe_corp` (inside the rate window).
    subscribes: HashMap<Ipv4Addr, VecDeque<Instant>>,
}

/// What the live line shows.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    pub at: Duration,
    /// Devices that have not connected yet although switched on, and whose latest dial
    /// failed.
    pub failing: u64,
    pub live: u64,
    pub logged_in: u64,
    pub logins: u64,
    pub error_replies: u64,
    pub breaks: u64,
}

impl Stats {
    pub fn new(profile: Arc<dyn Profile>, timings: CloudTimings) -> Arc<Stats> {
        Arc::new(Stats {
            started: Instant::now(),
            profile,
            timings,
            inner: Mutex::new(Inner {
                connections: 0,
                devices_connected: 0,
                dial_failures: 0,
                dial_failures_by: BTreeMap::new(),
                switched_on: 0,
                devices_logged_in: 0,
                never_connected_by: BTreeMap::new(),
                lost_by_cloud: 0,
                logins: 0,
                live: 0,
                logged_in: 0,
                requests: 0,
                error_replies: 0,
                unanswered: 0,
                login: latency::histogram(),
                latency: BTreeMap::new(),
                errors: BTreeMap::new(),
                unanswered_by_command: BTreeMap::new(),
                pushes: BTreeMap::new(),
                breaks: BTreeMap::new(),
                held: 0,
                released: 0,
                release: latency::histogram(),
                timeline: Vec::new(),
                last_at: Duration::ZERO,
                subscribes: HashMap::new(),
            }),
        })
    }

    /// What the cloud is judged by.
    pub fn timings(&self) -> &CloudTimings {
        &self.timings
    }

    /// Run time.
    pub fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.started)
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current sample of the timeline (samples skipped over carry the gauges on).
    fn sample(inner: &mut Inner, at: Duration) -> &mut Sample {
        inner.last_at = inner.last_at.max(at);
        let index = (at.as_nanos() / BUCKET.as_nanos()) as usize;
        while inner.timeline.len() <= index {
            let t_s = ((inner.timeline.len() + 1) as u64 * BUCKET.as_secs()) as f64;
            let (live, logged_in) = (inner.live, inner.logged_in);
            inner.timeline.push(Sample {
                t_s,
                live,
                logged_in,
                ..Sample::default()
            });
        }
        &mut inner.timeline[index]
    }

    fn gauges(inner: &mut Inner, at: Duration) {
        let (live, logged_in) = (inner.live, inner.logged_in);
        let s = Stats::sample(inner, at);
        s.live = live;
        s.logged_in = logged_in;
    }

    /// The run time moved on (the live line's clock moves while nothing happens).
    pub fn tick(&self) {
        let at = self.now();
        let mut inner = self.inner();
        inner.last_at = inner.last_at.max(at);
    }

    /// Every device of `devices` in exactly one place: the devices that never connected by
    /// why (`dialing`: the first dial still under way at the end; `not_switched_on`: the
    /// ramp had not reached it), those that connected by whether they logged in and stayed.
    fn devices(inner: &Inner, devices: u64) -> Devices {
        let connected = inner.devices_connected;
        let mut never_connected_by: BTreeMap<String, u64> = inner
            .never_connected_by
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(why, n)| (why.as_str().to_string(), *n))
            .collect();
        let failed: u64 = never_connected_by.values().sum();
        let dialing = inner.switched_on.saturating_sub(connected + failed);
        let off = devices.saturating_sub(inner.switched_on);
        for (why, n) in [("dialing", dialing), ("not_switched_on", off)] {
            if n > 0 {
                never_connected_by.insert(why.to_string(), n);
            }
        }
        Devices {
            connected,
            logged_in: inner.devices_logged_in,
            lost_after_login: inner.devices_logged_in.saturating_sub(inner.logged_in),
            never_logged_in: connected.saturating_sub(inner.devices_logged_in),
            never_connected: devices.saturating_sub(connected),
            never_connected_by,
        }
    }

    fn broke(&self, inner: &mut Inner, rule: &str, sn: &str, at: Duration, message: String) {
        let b = inner.breaks.entry(rule.to_string()).or_default();
        b.count += 1;
        if b.examples.len() < super::report::EXAMPLES
            || b.examples.last().is_some_and(|e| e.at_s > at.as_secs_f64())
        {
            b.examples.push(Example {
                at_s: at.as_secs_f64(),
                sn: sn.to_string(),
                message,
            });
            keep_earliest(&mut b.examples);
        }
    }

    /// A storm left one of `sn`'s links silent and open at the cloud.
    pub fn link_held(&self) {
        self.inner().held += 1;
    }

    /// The cloud let a held link go `after` the device's last frame on it (`None`: it had
    /// not when the fleet stopped watching).
    pub fn held_link_ended(&self, sn: &str, after: Duration, released: bool) {
        let at = self.now();
        let mut inner = self.inner();
        if released {
            inner.released += 1;
            latency::record(&mut inner.release, after);
        }
        if let Some((rule, message)) = checks::held_too_long(after, released, &self.timings) {
            self.broke(&mut inner, rule, sn, at, message);
        }
    }

    /// Sends per address in the window up to now, this one included.
    fn subscribe_sent(&self, inner: &mut Inner, from: Ipv4Addr) -> usize {
        let now = Instant::now();
        let window = self.timings.subscribe_window;
        let sent = inner.subscribes.entry(from).or_default();
        while sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            sent.pop_front();
        }
        sent.push_back(now);
        sent.len()
    }

    pub fn snapshot(&self) -> Snapshot {
        let inner = self.inner();
        Snapshot {
            at: inner.last_at,
            failing: inner.never_connected_by.values().sum(),
            live: inner.live,
            logged_in: inner.logged_in,
            logins: inner.logins,
            error_replies: inner.error_replies,
            breaks: inner.breaks.values().map(|b| b.count).sum(),
        }
    }

    /// The figures at `end` of the run (run time), for `devices` devices.
    pub fn figures(&self, devices: u64, end: Duration) -> Figures {
        let mut inner = self.inner();
        // Every sample up to the end exists (a quiet stretch still has its gauges).
        if !end.is_zero() {
            Stats::sample(&mut inner, end - Duration::from_nanos(1));
        }
        let mut timeline = inner.timeline.clone();
        timeline.truncate(end.as_nanos().div_ceil(BUCKET.as_nanos()) as usize);
        let mut f = Figures {
            devices,
            connections: inner.connections,
            reconnects: inner.connections.saturating_sub(inner.devices_connected),
            dial_failures: inner.dial_failures,
            dial_failures_by: inner
                .dial_failures_by
                .iter()
                .map(|(why, n)| (why.as_str().to_string(), *n))
                .collect(),
            accounting: Stats::devices(&inner, devices),
            lost_by_cloud: inner.lost_by_cloud,
            logins: inner.logins,
            logins_per_s: 0.0,
            live_at_end: inner.live,
            logged_in_at_end: inner.logged_in,
            peak_live: 0,
            requests: inner.requests,
            error_replies: inner.error_replies,
            unanswered: inner.unanswered,
            login: Latency::of(&inner.login),
            latency: inner
                .latency
                .iter()
                .map(|(k, h)| (k.clone(), Latency::of(h)))
                .collect(),
            errors: inner.errors.clone(),
            unanswered_by_command: inner.unanswered_by_command.clone(),
            pushes: inner.pushes.clone(),
            breaks: inner.breaks.clone(),
            held_links: HeldLinks {
                held: inner.held,
                released: inner.released,
                release: Latency::of(&inner.release),
            },
            timeline,
        };
        f.derive(end.as_secs_f64());
        f
    }
}

/// One request in flight.
struct InFlight {
    req_id: String,
    cmd: String,
    sent: Instant,
    context: SentContext,
}

/// Room for a monitor's link name, `c` and a `u64`.
const LINK_NAME: usize = 21;

/// The monitors' name of a device's `links`th link (`c1`, `c2`, …), built on the stack:
/// the fleet names the link on every frame.
fn link_name(links: u64, out: &mut [u8; LINK_NAME]) -> &str {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(links).as_bytes();
    out[0] = b'c';
    out[1..=digits.len()].copy_from_slice(digits);
    std::str::from_utf8(&out[..=digits.len()]).expect("ASCII digits")
}

/// Counts one more `key`, copying the key only the first time it is seen (pushes arrive on
/// every device's link).
fn bump(counts: &mut BTreeMap<String, u64>, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.to_owned(), 1);
        }
    }
}

/// What the watch of one device tracks between frames.
struct WatchState {
    in_flight: VecDeque<InFlight>,
    /// Connections so far (names the monitors' links `c1`, `c2`, …).
    links: u64,
    logged_in: bool,
    /// Since when the device has been trying to log in (switch-on or link loss).
    trying_since: Option<Instant>,
    /// Why the latest dial failed, while the device has never connected.
    never_connected: Option<DialFailure>,
    ever_logged_in: bool,
    monitors: Vec<Box<dyn RoleMonitor>>,
}

/// The [`SimProbe`] of one device of the fleet.
pub struct DeviceWatch {
    sn: String,
    stats: Arc<Stats>,
    state: Mutex<WatchState>,
    /// Old links of this device the cloud still holds open (a storm left them silent).
    held: AtomicUsize,
    /// The address the device dials from now.
    source: Mutex<Ipv4Addr>,
}

impl DeviceWatch {
    pub fn new(sn: String, stats: Arc<Stats>, source: Ipv4Addr) -> Arc<DeviceWatch> {
        let monitors = stats.profile.cloud_monitors(false);
        Arc::new(DeviceWatch {
            sn,
            stats,
            state: Mutex::new(WatchState {
                in_flight: VecDeque::new(),
                links: 0,
                logged_in: false,
                trying_since: None,
                never_connected: None,
                ever_logged_in: false,
                monitors,
            }),
            held: AtomicUsize::new(0),
            source: Mutex::new(source),
        })
    }

    /// The device was switched on: from now it tries to log in.
    pub fn switched_on(&self) {
        self.state().trying_since = Some(Instant::now());
        self.stats.inner().switched_on += 1;
    }

    /// A dial failed (or was given up on).
    pub fn dial_failed(&self, why: DialFailure) {
        let mut state = self.state();
        let mut inner = self.stats.inner();
        inner.dial_failures += 1;
        *inner.dial_failures_by.entry(why).or_default() += 1;
        if state.links == 0 {
            if let Some(was) = state.never_connected.replace(why) {
                DeviceWatch::unfail(&mut inner, was);
            }
            *inner.never_connected_by.entry(why).or_default() += 1;
        }
    }

    fn unfail(inner: &mut Inner, was: DialFailure) {
        if let Some(n) = inner.never_connected_by.get_mut(&was) {
            *n = n.saturating_sub(1);
        }
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    fn state(&self) -> MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_source(&self, ip: Ipv4Addr) {
        *self.source.lock().unwrap_or_else(|p| p.into_inner()) = ip;
    }

    fn source(&self) -> Ipv4Addr {
        *self.source.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A storm made the current link silent; the cloud still holds it.
    pub fn hold(&self) {
        self.held.fetch_add(1, Ordering::SeqCst);
        self.stats.link_held();
    }

    /// The cloud let a held link go (or the fleet stopped watching it).
    pub fn unhold(&self, after: Duration, released: bool) {
        self.held.fetch_sub(1, Ordering::SeqCst);
        self.stats.held_link_ended(&self.sn, after, released);
    }

    fn feed(&self, state: &mut WatchState, inner: &mut Inner, sent: bool, frame: &Arc<Value>) {
        let mut name = [0; LINK_NAME];
        let conn = link_name(state.links, &mut name);
        // The monitors read the frame as the device built or parsed it; one that carries a
        // credential is redacted first (a break's message may quote what the monitor read).
        let profile = &self.stats.profile;
        let json = if profile.needs_redaction(frame) {
            Arc::new(profile.redact(frame))
        } else {
            Arc::clone(frame)
        };
        let frame = Frame::Json { json };
        let event = if sent {
            WireEvent::Sent {
                conn,
                frame: &frame,
            }
        } else {
            WireEvent::Received {
                conn,
                frame: &frame,
            }
        };
        let at = self.stats.now();
        for m in &mut state.monitors {
            for v in m.observe(at, &event) {
                self.stats.broke(
                    inner,
                    v.rule,
                    &self.sn,
                    at,
                    format!("{} (on the device's link {conn})", v.message),
                );
            }
        }
    }

    fn forget_unanswered(inner: &mut Inner, r: InFlight) {
        inner.unanswered += 1;
        *inner.unanswered_by_command.entry(r.cmd).or_default() += 1;
    }
}

impl SimProbe for DeviceWatch {
    fn connected(&self) {
        let at = self.stats.now();
        let mut state = self.state();
        state.links += 1;
        let mut name = [0; LINK_NAME];
        let conn = link_name(state.links, &mut name);
        for m in &mut state.monitors {
            m.observe(
                at,
                &WireEvent::Opened {
                    conn,
                    waited: Duration::ZERO,
                },
            );
        }
        let mut inner = self.stats.inner();
        // Samples skipped over keep the gauges from before this event.
        Stats::sample(&mut inner, at);
        inner.connections += 1;
        if state.links == 1 {
            inner.devices_connected += 1;
            if let Some(was) = state.never_connected.take() {
                DeviceWatch::unfail(&mut inner, was);
            }
        }
        inner.live += 1;
        Stats::sample(&mut inner, at).connections += 1;
        Stats::gauges(&mut inner, at);
    }

    fn logged_in(&self) {
        let at = self.stats.now();
        let mut state = self.state();
        state.logged_in = true;
        let since = state.trying_since.take();
        let first = !std::mem::replace(&mut state.ever_logged_in, true);
        let mut inner = self.stats.inner();
        if first {
            inner.devices_logged_in += 1;
        }
        Stats::sample(&mut inner, at);
        inner.logins += 1;
        inner.logged_in += 1;
        if let Some(since) = since {
            latency::record(&mut inner.login, since.elapsed());
        }
        Stats::sample(&mut inner, at).logins += 1;
        Stats::gauges(&mut inner, at);
    }

    fn link_ended(&self, by_cloud: bool) {
        let at = self.stats.now();
        let mut state = self.state();
        let mut name = [0; LINK_NAME];
        let conn = link_name(state.links, &mut name);
        for m in &mut state.monitors {
            m.observe(at, &WireEvent::Closed { conn });
        }
        let was_logged_in = std::mem::replace(&mut state.logged_in, false);
        if state.trying_since.is_none() {
            state.trying_since = Some(Instant::now());
        }
        let mut inner = self.stats.inner();
        Stats::sample(&mut inner, at);
        for r in state.in_flight.drain(..) {
            DeviceWatch::forget_unanswered(&mut inner, r);
        }
        inner.live = inner.live.saturating_sub(1);
        if was_logged_in {
            inner.logged_in = inner.logged_in.saturating_sub(1);
        }
        if by_cloud {
            inner.lost_by_cloud += 1;
            Stats::sample(&mut inner, at).lost_by_cloud += 1;
        }
        Stats::gauges(&mut inner, at);
    }

    fn sent(&self, frame: &Arc<Value>) {
        let profile = &self.stats.profile;
        let (Some(cmd), Some(req_id)) = (profile.command(frame), profile.req_id(frame)) else {
            return;
        };
        let mut state = self.state();
        let mut inner = self.stats.inner();
        inner.requests += 1;
        let now = Instant::now();
        while state.in_flight.len() >= MAX_IN_FLIGHT
            || state
                .in_flight
                .front()
                .is_some_and(|r| now.saturating_duration_since(r.sent) > UNANSWERED_AFTER)
        {
            let Some(r) = state.in_flight.pop_front() else {
                break;
            };
            DeviceWatch::forget_unanswered(&mut inner, r);
        }
        let subscribes_from_address = if cmd == "subscribe_corp" {
            self.stats.subscribe_sent(&mut inner, self.source())
        } else {
            0
        };
        let context = SentContext {
            held_links: self.held.load(Ordering::SeqCst),
            subscribes_from_address,
        };
        state.in_flight.push_back(InFlight {
            req_id: req_id.to_string(),
            cmd: cmd.to_string(),
            sent: now,
            context,
        });
        self.feed(&mut state, &mut inner, true, frame);
    }

    fn received(&self, frame: &Arc<Value>) {
        let profile = &self.stats.profile;
        let mut state = self.state();
        let mut inner = self.stats.inner();
        if let Some(cmd) = profile.command(frame) {
            bump(&mut inner.pushes, cmd);
        } else if let Some(req_id) = profile.req_id(frame) {
            if let Some(i) = state.in_flight.iter().position(|r| r.req_id == req_id) {
                let r = state.in_flight.remove(i).expect("found");
                let took = r.sent.elapsed();
                if !inner.latency.contains_key(&r.cmd) {
                    inner.latency.insert(r.cmd.clone(), latency::histogram());
                }
                if let Some(h) = inner.latency.get_mut(&r.cmd) {
                    latency::record(h, took);
                }
                let errcode = frame.get("errcode").and_then(Value::as_i64).unwrap_or(0);
                if errcode != 0 {
                    inner.error_replies += 1;
                    *inner
                        .errors
                        .entry(format!("{} {errcode}", r.cmd))
                        .or_default() += 1;
                    let at = self.stats.now();
                    Stats::sample(&mut inner, at).error_replies += 1;
                    if let Some((rule, message)) =
                        checks::unearned(&r.cmd, errcode, r.context, &self.stats.timings)
                    {
                        self.stats.broke(&mut inner, rule, &self.sn, at, message);
                    }
                }
            }
        }
        self.feed(&mut state, &mut inner, false, frame);
    }
}
