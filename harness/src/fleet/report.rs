//! The fleet report (`fleet.json`): what the run was, the figures a load tester reads, and
//! what the cloud broke. Everything in `figures` merges exactly: counts add, histograms add,
//! samples of the timeline add, and figures derived from them are derived again.

use super::latency::{Latency, LatencyError};
use super::plan::{Business, Shard, Storm, BUCKET};
use std::collections::BTreeMap;

/// The report format; `fleet merge` refuses another.
pub const FORMAT: u32 = 1;
/// Examples kept per broken obligation (the earliest).
pub const EXAMPLES: usize = 5;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FleetReport {
    pub format: u32,
    pub run: RunInfo,
    pub figures: Figures,
    /// The `--slo` objectives and whether each was met.
    #[serde(default)]
    pub slo: Vec<SloOutcome>,
    /// Per process: what the machine spent (not part of the merge's equality).
    pub processes: Vec<Process>,
}

/// What was run. Equal in every shard of one fleet but for `shards`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunInfo {
    /// Devices in the whole fleet.
    pub fleet_devices: usize,
    /// The shards this report covers.
    pub shards: Vec<Shard>,
    /// `mock` (in-process) or the URL.
    pub cloud: String,
    /// `virtual` (in-process: minutes cost nothing, latencies are the mock's own, ~0) or `wall`.
    pub clock: String,
    pub duration_s: f64,
    pub ramp_per_s: Option<f64>,
    pub storm: Option<Storm>,
    pub source_addresses: usize,
    pub business: Business,
    pub seed: u64,
    /// The obligations judged on the fleet, each with the reading it is judged by.
    pub checks: Vec<Check>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Check {
    pub rule: String,
    pub reading: String,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Process {
    pub shard: Shard,
    pub wall_s: f64,
    pub peak_rss_mib: Option<f64>,
    /// The harness that ran the shard: version and commit.
    #[serde(default)]
    pub harness_version: String,
    #[serde(default)]
    pub git_commit: String,
    /// How it was invoked, with every secret redacted (as run.json's `command_line`); empty
    /// in a report written by an older harness.
    #[serde(default)]
    pub command_line: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Figures {
    /// Devices this report covers.
    pub devices: u64,
    /// Connections opened (WebSocket handshakes that succeeded).
    pub connections: u64,
    /// Connections after each device's first.
    pub reconnects: u64,
    /// Dials that failed (TCP, TLS or WebSocket handshake), those that ended in the dial
    /// timeout included.
    pub dial_failures: u64,
    /// Dials that failed by why: `refused`, `timed_out`, `file_limit`, `other`.
    #[serde(default)]
    pub dial_failures_by: BTreeMap<String, u64>,
    /// Where every device ended up: connected or not, logged in or not, and why.
    #[serde(default)]
    pub accounting: Devices,
    /// Links the cloud closed or that broke (not the device's own decision).
    pub lost_by_cloud: u64,
    pub logins: u64,
    /// Logins per second of run time.
    pub logins_per_s: f64,
    /// Connections open at the end, and of those logged in.
    pub live_at_end: u64,
    pub logged_in_at_end: u64,
    /// The most connections open at one timeline sample.
    pub peak_live: u64,
    pub requests: u64,
    /// Replies with a non-zero errcode.
    pub error_replies: u64,
    /// Requests no reply answered (timed out, or the link ended first).
    pub unanswered: u64,
    /// Time to log in: from switch-on, or from the loss of the previous link, to a finished
    /// lifecycle (retries and back-offs included).
    pub login: Latency,
    /// Request → reply, per command.
    pub latency: BTreeMap<String, Latency>,
    /// `"<cmd> <errcode>"` → replies.
    pub errors: BTreeMap<String, u64>,
    pub unanswered_by_command: BTreeMap<String, u64>,
    pub pushes: BTreeMap<String, u64>,
    /// Obligations the cloud broke, by rule.
    pub breaks: BTreeMap<String, Break>,
    /// Old links left silent by a storm, and how long the cloud took to let them go.
    pub held_links: HeldLinks,
    /// A sample every 10 s of run time.
    pub timeline: Vec<Sample>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::of(&super::latency::histogram())
    }
}

/// Every device in one place: `connected + never_connected == devices` and
/// `logged_in + never_logged_in == connected`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Devices {
    /// Devices that connected at least once (a WebSocket handshake succeeded).
    pub connected: u64,
    /// Devices that logged in at least once.
    pub logged_in: u64,
    /// Devices that logged in and were not logged in at the end.
    pub lost_after_login: u64,
    /// Devices that connected and never logged in.
    pub never_logged_in: u64,
    /// Devices that never connected.
    pub never_connected: u64,
    /// The same by why: the latest dial's failure (`refused`, `timed_out`, `file_limit`,
    /// `other`), `dialing` (the first dial still under way at the end) or `not_switched_on`
    /// (the ramp had not reached the device).
    pub never_connected_by: BTreeMap<String, u64>,
}

impl Devices {
    fn add(&mut self, o: &Devices) {
        self.connected += o.connected;
        self.logged_in += o.logged_in;
        self.lost_after_login += o.lost_after_login;
        self.never_logged_in += o.never_logged_in;
        self.never_connected += o.never_connected;
        add_counts(&mut self.never_connected_by, &o.never_connected_by);
    }

    /// `never_connected_by` as `N why, …`.
    pub fn never_connected_reasons(&self) -> String {
        reasons(&self.never_connected_by)
    }
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Break {
    pub count: u64,
    /// The earliest ones.
    pub examples: Vec<Example>,
}

#[derive(Clone, Debug, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
pub struct Example {
    /// Run time, seconds.
    pub at_s: f64,
    pub sn: String,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeldLinks {
    pub held: u64,
    pub released: u64,
    /// From the device's last frame on the link to the cloud letting it go.
    pub release: Latency,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    /// End of the sample's 10 s, run time.
    pub t_s: f64,
    pub live: u64,
    pub logged_in: u64,
    pub logins: u64,
    pub connections: u64,
    pub lost_by_cloud: u64,
    pub error_replies: u64,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SloOutcome {
    pub objective: String,
    pub actual: String,
    pub met: bool,
}

/// Why shard reports cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("report format {0} (this hwconform reads {FORMAT})")]
    Format(u32),
    #[error("the reports are of different runs: {0} differs")]
    DifferentRuns(&'static str),
    #[error("shard {0} is in more than one report")]
    Overlap(Shard),
    #[error(transparent)]
    Latency(#[from] LatencyError),
}

impl Figures {
    /// Figures derived from others, computed again (after a merge).
    pub fn derive(&mut self, duration_s: f64) {
        self.logins_per_s = if duration_s > 0.0 {
            self.logins as f64 / duration_s
        } else {
            0.0
        };
        self.peak_live = self
            .timeline
            .iter()
            .map(|s| s.live)
            .max()
            .unwrap_or(0)
            .max(self.live_at_end);
    }

    fn add(&mut self, o: &Figures) -> Result<(), LatencyError> {
        self.devices += o.devices;
        self.connections += o.connections;
        self.reconnects += o.reconnects;
        self.dial_failures += o.dial_failures;
        add_counts(&mut self.dial_failures_by, &o.dial_failures_by);
        self.accounting.add(&o.accounting);
        self.lost_by_cloud += o.lost_by_cloud;
        self.logins += o.logins;
        self.live_at_end += o.live_at_end;
        self.logged_in_at_end += o.logged_in_at_end;
        self.requests += o.requests;
        self.error_replies += o.error_replies;
        self.unanswered += o.unanswered;
        self.login = self.login.merged(&o.login)?;
        for (cmd, l) in &o.latency {
            let merged = match self.latency.get(cmd) {
                Some(mine) => mine.merged(l)?,
                None => l.clone(),
            };
            self.latency.insert(cmd.clone(), merged);
        }
        add_counts(&mut self.errors, &o.errors);
        add_counts(&mut self.unanswered_by_command, &o.unanswered_by_command);
        add_counts(&mut self.pushes, &o.pushes);
        for (rule, b) in &o.breaks {
            let mine = self.breaks.entry(rule.clone()).or_default();
            mine.count += b.count;
            mine.examples.extend(b.examples.iter().cloned());
            keep_earliest(&mut mine.examples);
        }
        self.held_links.held += o.held_links.held;
        self.held_links.released += o.held_links.released;
        self.held_links.release = self.held_links.release.merged(&o.held_links.release)?;
        if self.timeline.len() < o.timeline.len() {
            self.timeline.resize(o.timeline.len(), Sample::default());
        }
        for (mine, s) in self.timeline.iter_mut().zip(&o.timeline) {
            mine.t_s = s.t_s;
            mine.live += s.live;
            mine.logged_in += s.logged_in;
            mine.logins += s.logins;
            mine.connections += s.connections;
            mine.lost_by_cloud += s.lost_by_cloud;
            mine.error_replies += s.error_replies;
        }
        Ok(())
    }
}

/// Counts by why, as `N why, …`.
fn reasons(by: &BTreeMap<String, u64>) -> String {
    let list: Vec<String> = by
        .iter()
        .map(|(why, n)| format!("{n} {}", why.replace('_', " ")))
        .collect();
    list.join(", ")
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

/// Keeps the [`EXAMPLES`] earliest examples (by time, then SN: the same in any merge order).
pub fn keep_earliest(examples: &mut Vec<Example>) {
    examples.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    examples.truncate(EXAMPLES);
}

/// Combines shard reports of one fleet into the report of the shards together.
pub fn merge(reports: &[FleetReport]) -> Result<FleetReport, MergeError> {
    let (first, rest) = reports.split_first().ok_or(MergeError::Empty)?;
    let mut out = first.clone();
    if first.format != FORMAT {
        return Err(MergeError::Format(first.format));
    }
    for r in rest {
        if r.format != FORMAT {
            return Err(MergeError::Format(r.format));
        }
        same_run(&out.run, &r.run)?;
        for s in &r.run.shards {
            if out.run.shards.contains(s) {
                return Err(MergeError::Overlap(*s));
            }
            out.run.shards.push(*s);
        }
        out.figures.add(&r.figures)?;
        out.processes.extend(r.processes.iter().cloned());
    }
    out.run.shards.sort_by_key(|s| (s.count, s.index));
    out.figures.derive(out.run.duration_s);
    // Objectives are judged again on the whole (`fleet merge --slo`).
    out.slo.clear();
    Ok(out)
}

fn same_run(a: &RunInfo, b: &RunInfo) -> Result<(), MergeError> {
    let checks: [(&'static str, bool); 8] = [
        ("fleet_devices", a.fleet_devices == b.fleet_devices),
        ("cloud", a.cloud == b.cloud),
        ("clock", a.clock == b.clock),
        ("duration_s", a.duration_s == b.duration_s),
        ("ramp_per_s", a.ramp_per_s == b.ramp_per_s),
        ("storm", a.storm == b.storm),
        ("source_addresses", a.source_addresses == b.source_addresses),
        (
            "business and seed",
            a.business == b.business && a.seed == b.seed,
        ),
    ];
    match checks.iter().find(|(_, same)| !same) {
        Some((what, _)) => Err(MergeError::DifferentRuns(what)),
        None => match a.shards.first().zip(b.shards.first()) {
            Some((x, y)) if x.count != y.count => Err(MergeError::DifferentRuns("shard count")),
            _ => Ok(()),
        },
    }
}

/// The summary for a terminal.
pub fn render_terminal(r: &FleetReport) -> String {
    use std::fmt::Write;
    let f = &r.figures;
    let mut s = String::new();
    let shards: Vec<String> = r.run.shards.iter().map(Shard::to_string).collect();
    let _ = writeln!(
        s,
        "fleet: {} of {} devices (shard {}) against {} for {:.0} s ({} clock)",
        f.devices,
        r.run.fleet_devices,
        shards.join(", "),
        r.run.cloud,
        r.run.duration_s,
        r.run.clock
    );
    let _ = writeln!(
        s,
        "  connections {}  reconnects {}  dial failures {}{}  lost by the cloud {}  live at end {} (logged in {})  peak {}",
        f.connections,
        f.reconnects,
        f.dial_failures,
        if f.dial_failures_by.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons(&f.dial_failures_by))
        },
        f.lost_by_cloud,
        f.live_at_end,
        f.logged_in_at_end,
        f.peak_live
    );
    let d = &f.accounting;
    let _ = writeln!(
        s,
        "  devices: connected {} (logged in {}, lost after login {}, never logged in {})  never connected {}{}",
        d.connected,
        d.logged_in,
        d.lost_after_login,
        d.never_logged_in,
        d.never_connected,
        if d.never_connected > 0 {
            format!(" ({})", d.never_connected_reasons())
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        s,
        "  logins {} ({:.1}/s)  requests {}  error replies {}  unanswered {}",
        f.logins, f.logins_per_s, f.requests, f.error_replies, f.unanswered
    );
    let _ = writeln!(
        s,
        "  {:<28} {:>9} {:>10} {:>10} {:>10} {:>10}",
        "latency (ms)", "count", "p50", "p90", "p99", "max"
    );
    let row = |s: &mut String, name: &str, l: &Latency| {
        let _ = writeln!(
            s,
            "  {:<28} {:>9} {:>10.3} {:>10.3} {:>10.3} {:>10.3}",
            name, l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
        );
    };
    row(&mut s, "login (time to log in)", &f.login);
    for (cmd, l) in &f.latency {
        row(&mut s, cmd, l);
    }
    if f.held_links.held > 0 {
        row(&mut s, "held link release", &f.held_links.release);
    }
    if !f.errors.is_empty() {
        let list: Vec<String> = f.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(s, "  error codes: {}", list.join(", "));
    }
    if f.breaks.is_empty() {
        let rules: Vec<&str> = r.run.checks.iter().map(|c| c.rule.as_str()).collect();
        let _ = writeln!(
            s,
            "  cloud obligations judged ({}): none broken",
            rules.join(", ")
        );
    } else {
        for (rule, b) in &f.breaks {
            let first = b
                .examples
                .first()
                .map(|e| format!(" — first at {:.1} s, {}: {}", e.at_s, e.sn, e.message))
                .unwrap_or_default();
            let _ = writeln!(s, "  BROKEN {rule}: {} times{first}", b.count);
        }
    }
    for o in &r.slo {
        let _ = writeln!(
            s,
            "  slo {}: {} ({})",
            o.objective,
            if o.met { "met" } else { "MISSED" },
            o.actual
        );
    }
    s
}

/// The report as a self-contained HTML page (`fleet.html`), in the conformance report's
/// stylesheet: what was run (each process's command line, harness and the storm time), the
/// figures, latency, error codes, the cloud's obligations, objectives and the timeline.
pub fn render_html(r: &FleetReport) -> String {
    use maud::{html, PreEscaped, DOCTYPE};
    let f = &r.figures;
    let lat = |name: &str, l: &Latency| html! { tr { td { (name) } td.n { (l.count) } td.n { (format!("{:.3}", l.p50_ms)) } td.n { (format!("{:.3}", l.p90_ms)) } td.n { (format!("{:.3}", l.p99_ms)) } td.n { (format!("{:.3}", l.max_ms)) } } };
    let shards: Vec<String> = r.run.shards.iter().map(Shard::to_string).collect();
    let broken: u64 = f.breaks.values().map(|b| b.count).sum();
    let missed = r.slo.iter().filter(|o| !o.met).count();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "hwconform fleet report: " (r.run.cloud) }
                style { (PreEscaped(crate::report::html::STYLE)) (PreEscaped(FLEET_STYLE)) }
            }
            body {
                header {
                    h1 { "Fleet report" }
                    p .summary {
                        span class={ "badge " (if broken == 0 { "v-pass" } else { "v-fail" }) } {
                            @if broken == 0 { "no obligation broken" } @else { (broken) " breaks of " (f.breaks.len()) " obligations" }
                        }
                        " "
                        @if !r.slo.is_empty() {
                            span class={ "badge " (if missed == 0 { "v-pass" } else { "v-fail" }) } {
                                (r.slo.len() - missed) " of " (r.slo.len()) " objectives met"
                            }
                        }
                    }
                    dl .meta {
                        dt { "cloud" } dd { code { (r.run.cloud) } }
                        dt { "devices" } dd { (f.devices) " of " (r.run.fleet_devices) " (shard " (shards.join(", ")) ")" }
                        dt { "duration" } dd { (format!("{:.0}", r.run.duration_s)) " s on the " (r.run.clock) " clock" }
                        dt { "ramp" } dd { @match r.run.ramp_per_s { Some(v) => { (format!("{v}")) " devices/s" } None => { "all at once" } } }
                        dt { "storm" } dd { @match &r.run.storm {
                            Some(st) => { "at " (format!("{:.0}", st.at.as_secs_f64())) " s" @if st.new_address { ", devices return from new source addresses" } }
                            None => { "none" }
                        } }
                        dt { "source addresses" } dd { (r.run.source_addresses) }
                        dt { "seed" } dd { code { (r.run.seed) } }
                        @for p in &r.processes {
                            dt { "shard " (p.shard.to_string()) } dd {
                                @if !p.harness_version.is_empty() { "hwconform " (p.harness_version) " · commit " code { (p.git_commit) } " · " }
                                (format!("{:.1}", p.wall_s)) " s wall"
                                @if let Some(rss) = p.peak_rss_mib { ", peak " (format!("{rss:.0}")) " MiB" }
                                @if !p.command_line.is_empty() { br; code { (p.command_line.join(" ")) } }
                            }
                        }
                    }
                }
                main {
                    h2 { "Figures" }
                    table #figures .fleet {
                        tr { th { "connections" } th { "reconnects" } th { "dial failures" } th { "lost by the cloud" } th { "logins" } th { "logins/s" } th { "live at end" } th { "logged in at end" } th { "peak live" } th { "requests" } th { "error replies" } th { "unanswered" } }
                        tr { td.n { (f.connections) } td.n { (f.reconnects) } td.n { (f.dial_failures) } td.n { (f.lost_by_cloud) } td.n { (f.logins) } td.n { (format!("{:.1}", f.logins_per_s)) } td.n { (f.live_at_end) } td.n { (f.logged_in_at_end) } td.n { (f.peak_live) } td.n { (f.requests) } td.n { (f.error_replies) } td.n { (f.unanswered) } }
                    }
                    h2 { "Devices" }
                    table #devices .fleet {
                        tr { th { "connected" } th { "logged in" } th { "lost after login" } th { "never logged in" } th { "never connected" } th { "why never connected" } }
                        tr { td.n { (f.accounting.connected) } td.n { (f.accounting.logged_in) } td.n { (f.accounting.lost_after_login) } td.n { (f.accounting.never_logged_in) } td.n { (f.accounting.never_connected) } td { (f.accounting.never_connected_reasons()) } }
                    }
                    h2 { "Latency (ms)" }
                    table #latency .fleet {
                        tr { th { "" } th { "count" } th { "p50" } th { "p90" } th { "p99" } th { "max" } }
                        (lat("login (time to log in)", &f.login))
                        @for (cmd, l) in &f.latency { (lat(cmd, l)) }
                        @if f.held_links.held > 0 { (lat("held link release", &f.held_links.release)) }
                    }
                    h2 { "Error codes" }
                    @if f.errors.is_empty() { p { "none" } } @else {
                        table #errors .fleet { @for (k, v) in &f.errors { tr { td { code { (k) } } td.n { (v) } } } }
                    }
                    h2 { "Cloud obligations" }
                    table #breaks .fleet {
                        tr { th { "rule" } th { "reading" } th { "verdict" } th { "first" } }
                        @for c in &r.run.checks {
                            @let b = f.breaks.get(&c.rule);
                            tr {
                                td.id { (c.rule) } td { (c.reading) }
                                @match b {
                                    Some(b) => { td.s-fail { "broken " (b.count) "×" } td { @if let Some(e) = b.examples.first() { (format!("{:.1} s, {}: {}", e.at_s, e.sn, e.message)) } } }
                                    None => { td.s-pass { "held" } td {} }
                                }
                            }
                        }
                    }
                    @if !r.slo.is_empty() {
                        h2 { "Objectives" }
                        table #slo .fleet { @for o in &r.slo { tr { td { code { (o.objective) } } td { (o.actual) } td class=(if o.met { "s-pass" } else { "s-fail" }) { (if o.met { "met" } else { "missed" }) } } } }
                    }
                    h2 { "Timeline" }
                    table #timeline .fleet {
                        tr { th { "t (s)" } th { "live" } th { "logged in" } th { "logins" } th { "connections" } th { "lost by the cloud" } th { "error replies" } }
                        @for s in &f.timeline {
                            @let storm = r.run.storm.as_ref().is_some_and(|st| { let at = st.at.as_secs_f64(); at > s.t_s - BUCKET.as_secs_f64() && at <= s.t_s });
                            tr class=[storm.then_some("storm")] { td.n { (format!("{:.0}", s.t_s)) @if storm { " ⚡ storm" } } td.n { (s.live) } td.n { (s.logged_in) } td.n { (s.logins) } td.n { (s.connections) } td.n { (s.lost_by_cloud) } td.n { (s.error_replies) } }
                        }
                    }
                }
                footer { "hwconform fleet report format " (r.format) }
            }
        }
    }
    .into_string()
}

/// What the fleet page adds to the report's stylesheet: numbers aligned, the storm's row marked.
const FLEET_STYLE: &str = "td.n{text-align:right;font-variant-numeric:tabular-nums}table.fleet th{position:static}tr.storm td{background:#fff8c5}footer{margin-top:2rem;color:#57606a}";
