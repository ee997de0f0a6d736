//! Targets as the engine sees them: a run-level cloud target (the harness plays devices)
//! that opens a per-scenario [`CloudLink`], and a run-level device target (the harness plays
//! the cloud) that starts a per-scenario [`DeviceLink`]. The implementations (mock, remote
//! URL, reference device, exec, listen) live in the `targets` module; the engine only holds them
//! behind these traits.

use super::children::Children;
use super::output::record_lines;
use super::recorder::Recorder;
use super::transcript::{OutputSource, OutputStream};
use crate::profile::fleet::Fleet;
use crate::profile::{CloudSettings, DeviceIdentity, Secret};
use crate::wire::transport::{TransportError, WsStream};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

/// Why a target could not do what was asked. The messages are the ones scenarios record.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The target's own error (the mock's control error, ...), shown as it is.
    #[error(transparent)]
    Target(Box<dyn std::error::Error + Send + Sync>),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A refusal or failure the target describes in words.
    #[error("{0}")]
    Failed(String),
}

impl TargetError {
    pub fn failed(message: impl Into<String>) -> TargetError {
        TargetError::Failed(message.into())
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> TargetError {
        TargetError::Io {
            context: context.into(),
            source,
        }
    }
}

/// What a cloud target offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CloudCapabilities {
    /// It accepts harness control (bind, unbind, close a link, ...).
    pub control: bool,
    /// Scenarios can choose their source address.
    pub source_addresses: bool,
    /// Error codes outside the catalog break the rules (the target defines every code it uses).
    pub strict_codes: bool,
    /// The harness's own mock: the readings of undocumented behaviour it implements bind it,
    /// so a scenario's `assumption` is judged strictly; against any other cloud a failure
    /// of it is a warning.
    pub ours: bool,
    /// It runs in-process, on the scenario's virtual clock.
    pub in_process: bool,
    /// One cloud shared by every scenario of the run (identity slots, no SN in two scenarios).
    pub shared: bool,
}

/// A protocol-neutral control operation on the cloud, about one device.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CloudControl {
    Bind {
        sn: String,
    },
    Unbind {
        sn: String,
    },
    SwallowReply {
        sn: String,
        cmd: String,
    },
    DelayReplies {
        sn: String,
        ms: u64,
    },
    CloseLink {
        sn: String,
    },
    /// Any other operation of the target's control plane, as the scenario wrote it (its
    /// answer is what the step matches).
    #[serde(untagged)]
    Request(serde_json::Value),
}

/// The cloud of a run's device-role scenarios.
pub trait CloudTarget: Send + Sync {
    fn describe(&self) -> String;
    /// Set up once per run before the first scenario that needs it (a remote is probed).
    fn prepare(&self) -> BoxFuture<'_, Result<(), TargetError>>;
    /// What it offers (after [`CloudTarget::prepare`]).
    fn capabilities(&self) -> CloudCapabilities;
    /// Its timers and limits, in its profile's terms (after [`CloudTarget::prepare`]).
    fn settings(&self) -> CloudSettings;
    /// Whether it is the default target the goldens record.
    fn reference(&self) -> bool;
    /// A link for one scenario: `slot` keeps scenarios running side by side apart, `fleet`
    /// holds the scenario's devices, `sources` every source address it may use.
    fn open<'a>(
        &'a self,
        slot: u8,
        fleet: Fleet,
        start_unix: u64,
        sources: &'a [Ipv4Addr],
    ) -> BoxFuture<'a, Result<Box<dyn CloudLink>, TargetError>>;
}

/// The cloud of one scenario.
pub trait CloudLink: Send {
    /// What this scenario's cloud offers, and its timers.
    fn capabilities(&self) -> CloudCapabilities;
    fn settings(&self) -> CloudSettings;
    /// Opens a WebSocket from `from`; returns it and the local address as the target sees it.
    fn connect(&mut self, from: Ipv4Addr)
        -> BoxFuture<'_, Result<(WsStream, String), TargetError>>;
    fn control(&self, op: CloudControl) -> BoxFuture<'_, Result<Value, TargetError>>;
    /// Makes the cloud perform `action` about `sn`, or answer it if it is a question.
    /// `sent` hears what the cloud is asked, before it is asked (the transcript's note).
    /// By default the cloud cannot be made to act.
    fn act<'a>(
        &'a self,
        action: &'a CloudAction,
        sn: &'a str,
        sent: &mut dyn FnMut(&Value),
    ) -> BoxFuture<'a, Result<Answer, TargetError>> {
        let _ = (sn, sent);
        let name = action.name.clone();
        Box::pin(async move {
            Err(TargetError::failed(format!(
                "this cloud cannot be made to act ({name})"
            )))
        })
    }
}

/// What a device target offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceCapabilities {
    /// The harness can make it act ([`DeviceAction`]).
    pub control: bool,
    /// It runs in-process, on the scenario's virtual clock.
    pub in_process: bool,
    /// One real device: scenarios take its connections one at a time.
    pub single: bool,
    /// The harness's own reference device (see [`CloudCapabilities::ours`]).
    pub ours: bool,
}

/// Something the harness makes the device do, as a person at a real one would: data the
/// engine passes through without reading it (what a device target or the lab's upper tester
/// makes of it is theirs). `name` is the person's action (`check_in`), named apart from the
/// protocol's commands; `args` its details as the scenario gave them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceAction {
    pub name: String,
    pub args: serde_json::Map<String, Value>,
}

/// What a device needs to start for one scenario.
#[derive(Clone, Debug)]
pub struct DeviceStart {
    pub identity: DeviceIdentity,
    /// `Some`: the device starts seed-provisioned.
    pub seed_secret_no: Option<Secret>,
    pub start_unix: u64,
    /// Seeds every random choice of an in-process device.
    pub rng_seed: u64,
    /// The scenario's transcript, where a device the harness starts as a process has what
    /// it writes recorded ([`crate::engine::output::record_lines`]).
    pub log: Recorder,
    /// The run's processes: a device the harness starts as a process is one of them.
    pub children: Arc<Children>,
}

/// The device under test of a run's cloud-role scenarios.
pub trait DeviceTarget: Send + Sync {
    fn describe(&self) -> String;
    /// Set up once per run before the first scenario that needs it (a listener is bound; a
    /// failure there is each scenario's error, from [`DeviceTarget::start`]). Returns what the
    /// person running the harness must be told (the bound address), if anything.
    fn prepare(&self) -> Option<String> {
        None
    }
    fn capabilities(&self) -> DeviceCapabilities;
    /// Whether it is the default target the goldens record.
    fn reference(&self) -> bool;
    fn start(&self, start: DeviceStart) -> BoxFuture<'_, Result<Box<dyn DeviceLink>, TargetError>>;
}

/// A device's connection as the harness takes it: the link, the peer, and when its
/// WebSocket handshake completed (it may have waited since for a step to take it).
pub type Accepted = (WsStream, String, tokio::time::Instant);

/// The device of one scenario. Connections arrive after the WebSocket server handshake.
pub trait DeviceLink: Send {
    /// What this scenario's device offers.
    fn capabilities(&self) -> DeviceCapabilities;
    /// The device's next connection and its address; `None` when the deadline passes.
    fn accept(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> BoxFuture<'_, Option<Result<Accepted, TargetError>>>;
    /// Connection attempts whose handshake failed so far.
    fn failed_handshakes(&self) -> &FailedHandshakes;
    /// Connections that completed the handshake and wait for a step to take them.
    fn waiting(&self) -> usize;
    fn control(&self, action: DeviceAction) -> Result<(), TargetError>;
    /// `Some("the device was killed by signal 11 (SIGSEGV)…")` once a device process died by a
    /// signal (waited for briefly): a crash ends its links and its pushes and its process in
    /// one stroke, and is reported as the one thing it is. `None` for a device still running,
    /// one that exited on its own, or one that is no process.
    fn killed(&mut self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async { None })
    }
    /// Ends the device.
    fn stop(&mut self) -> BoxFuture<'_, ()>;
}

impl DeviceAction {
    /// The action as the upper tester reads it: `{"action": NAME, "sn": SN, ...args}`.
    pub fn to_json(&self, sn: &str) -> serde_json::Value {
        let mut out = self.args.clone();
        out.insert("action".into(), Value::from(self.name.clone()));
        out.insert("sn".into(), Value::from(sn));
        Value::Object(out)
    }
}

/// Connection attempts whose handshake failed, for a failure's reason: counted all, the first
/// few kept, so a device (or anyone) opening a thousand raw connections that never handshake
/// neither grows the harness's memory nor the reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailedHandshakes {
    first: Vec<String>,
    count: usize,
}

impl FailedHandshakes {
    /// Reasons quoted in full; the rest are counted.
    pub const QUOTED: usize = 3;

    pub fn record(&mut self, why: impl ToString) {
        self.count += 1;
        if self.first.len() < Self::QUOTED {
            self.first.push(why.to_string());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// "e1; e2; e3; and 997 more failed handshakes".
impl std::fmt::Display for FailedHandshakes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.first.join("; "))?;
        let more = self.count - self.first.len();
        if more > 0 {
            let s = if more == 1 { "" } else { "s" };
            write!(f, "; and {more} more failed handshake{s}")?;
        }
        Ok(())
    }
}

/// How long the upper tester may take to make the device act.
pub const UPPER_TESTER_BOUND: Duration = Duration::from_secs(30);

/// What a run's verdicts tell a person to give when the run lacks something, in the words of
/// the front end that set it up (the CLI's name its options: `targets::remedies`). The
/// engine knows no option; its default says what is missing without naming one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remedies {
    /// The skip reason of a device-role scenario in a run without a cloud target.
    pub no_cloud: String,
    /// The skip reason of a cloud-role scenario in a run without a device target.
    pub no_device: String,
    /// The skip reason of a scenario whose device must be made to act, with no way to make
    /// it. It starts `not tested`: the matrix shows its obligations as not tested, never as
    /// not applicable.
    pub needs_upper_tester: String,
    /// Added to an inconclusive verdict of a single device that served an earlier scenario
    /// and was not reset.
    pub not_reset: String,
    /// The skip reason of a scenario that needs a device no corp has bound, when the fleet
    /// has none.
    pub needs_unbound: String,
    /// The skip reason of a scenario whose cloud must be made to act (a corp binds the
    /// device), with no way to make it; `not tested`, as `needs_upper_tester`.
    pub needs_cloud_upper_tester: String,
}

impl Default for Remedies {
    fn default() -> Remedies {
        Remedies {
            no_cloud: "the harness plays a device here, and this run has no cloud target".into(),
            no_device: "the harness plays the cloud here, and this run has no device target".into(),
            needs_upper_tester: "not tested: needs an upper tester to make the device act (a member checks in), or a device the harness can make act".into(),
            not_reset: "the device served an earlier scenario and may have kept its state (a cached secret): reset it between scenarios, or say in the ICS that it keeps its secret across a reset".into(),
            needs_unbound: "needs a device no corp has bound: add one with \"bound\": false to the fleet, one for each such scenario".into(),
            needs_cloud_upper_tester: "not tested: needs an upper tester to make the cloud act (a corp binds the device, a person opens the door remotely), or a cloud the harness can make act".into(),
        }
    }
}

/// Runs the lab's upper tester (TTCN-3's UT) to make a real device act as a person at it
/// would: `sh -c COMMAND` with the action as JSON on stdin and in `HWCONFORM_ACTION`, started
/// as one of the harness's [`children`](super::children), killed with all it started once it
/// ends or outlives [`UPPER_TESTER_BOUND`]. Exit status 0 means the device was made to act.
pub async fn upper_tester(
    children: &Arc<Children>,
    command: &str,
    action: &DeviceAction,
    sn: &str,
    log: &Recorder,
) -> Result<(), TargetError> {
    upper_tester_within(children, command, action, sn, log, UPPER_TESTER_BOUND).await
}

pub(crate) async fn upper_tester_within(
    children: &Arc<Children>,
    command: &str,
    action: &DeviceAction,
    sn: &str,
    log: &Recorder,
    bound: Duration,
) -> Result<(), TargetError> {
    let outcome = lab_action(children, command, &action.to_json(sn), sn, log, bound).await;
    concluded(outcome, "the upper tester", bound)
}

/// Runs `sh -c COMMAND` with `action` on stdin and in `HWCONFORM_ACTION` (the SN in
/// `HWCONFORM_SN`), its output recorded as the upper tester's, within `bound`.
async fn lab_action(
    children: &Arc<Children>,
    command: &str,
    action: &Value,
    sn: &str,
    log: &Recorder,
    bound: Duration,
) -> std::io::Result<Option<(std::io::Result<std::process::ExitStatus>, String)>> {
    let json = action.to_string();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .env("HWCONFORM_ACTION", &json)
        .env("HWCONFORM_SN", sn)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    run_bounded(
        children,
        cmd,
        Some(json),
        log,
        OutputSource::UpperTester,
        bound,
    )
    .await
}

/// Something a corp, a person or the vendor does on the cloud's side, which no frame of a
/// device can cause (TTCN-3's upper tester primitives): data the engine passes through
/// without reading it, as [`DeviceAction`]. A cloud the harness controls performs it
/// ([`CloudLink::act`]); a real cloud's lab through its `--cloud-upper-tester` command, given
/// [`CloudAction::to_json`]. `name` is the action (`bind`, `fetch_log`, ...), `args` its
/// details as the scenario gave them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudAction {
    pub name: String,
    pub args: serde_json::Map<String, Value>,
    /// A question (does the cloud show the remote open as failed?) rather than an act: the
    /// upper tester answers yes with exit status 0, no with [`UPPER_TESTER_NO`].
    pub question: bool,
}

/// The exit status by which an upper tester answers "no" to a question
/// ([`CloudAction::question`]): the target's failure. Any other status but 0 is the upper
/// tester's own failure, never the target's (a shell's or a script's error exits 1 or 2).
pub const UPPER_TESTER_NO: i32 = 3;

impl CloudAction {
    /// An act named `name` with `args` (a JSON object; anything else is no arguments).
    pub fn act(name: &str, args: Value) -> CloudAction {
        let args = match args {
            Value::Object(args) => args,
            _ => serde_json::Map::new(),
        };
        CloudAction {
            name: name.into(),
            args,
            question: false,
        }
    }

    /// A question named `name` with `args`, answered yes or no.
    pub fn asking(name: &str, args: Value) -> CloudAction {
        CloudAction {
            question: true,
            ..CloudAction::act(name, args)
        }
    }

    /// The action as the upper tester gets it: `{"action": NAME, "sn": SN, ...arguments}`.
    pub fn to_json(&self, sn: &str) -> Value {
        let mut out = serde_json::Map::new();
        out.insert("action".into(), Value::from(self.name.clone()));
        out.insert("sn".into(), Value::from(sn));
        out.extend(self.args.clone());
        Value::Object(out)
    }
}

/// What the cloud said, through its upper tester or its link: done (or yes), or no to a
/// question with the words that say what it shows instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No(String),
}

/// Runs the lab's cloud upper tester as [`upper_tester`] runs the device's (same command
/// convention, bound and evidence), with a [`CloudAction`]. Exit status 0 is done (yes);
/// [`UPPER_TESTER_NO`] answers no to a question.
pub async fn cloud_upper_tester(
    children: &Arc<Children>,
    command: &str,
    action: &CloudAction,
    sn: &str,
    log: &Recorder,
) -> Result<Answer, TargetError> {
    cloud_upper_tester_within(children, command, action, sn, log, UPPER_TESTER_BOUND).await
}

pub(crate) async fn cloud_upper_tester_within(
    children: &Arc<Children>,
    command: &str,
    action: &CloudAction,
    sn: &str,
    log: &Recorder,
    bound: Duration,
) -> Result<Answer, TargetError> {
    let outcome = lab_action(children, command, &action.to_json(sn), sn, log, bound).await;
    match outcome {
        Ok(Some((Ok(status), said)))
            if status.code() == Some(UPPER_TESTER_NO) && action.question =>
        {
            Ok(Answer::No(said))
        }
        other => concluded(other, "the cloud upper tester", bound).map(|()| Answer::Yes),
    }
}

/// How long the `--device-reset` command may take.
pub const RESET_BOUND: Duration = Duration::from_secs(120);

/// Runs the `--device-reset` command before a scenario, bounded by [`RESET_BOUND`], started as
/// one of the harness's [`children`](super::children): nothing it starts outlives it, and
/// what it writes goes into the scenario's transcript.
pub async fn reset(
    children: &Arc<Children>,
    command: &str,
    log: &Recorder,
) -> Result<(), TargetError> {
    reset_within(children, command, log, RESET_BOUND).await
}

pub(crate) async fn reset_within(
    children: &Arc<Children>,
    command: &str,
    log: &Recorder,
    bound: Duration,
) -> Result<(), TargetError> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let outcome = run_bounded(children, cmd, None, log, OutputSource::DeviceReset, bound).await;
    concluded(outcome, "the device reset command", bound)
}

/// What a lab command's bounded run means for the scenario: exit status 0 is done; anything
/// else fails it, saying why in the command's own last words.
fn concluded(
    outcome: std::io::Result<Option<(std::io::Result<std::process::ExitStatus>, String)>>,
    what: &str,
    bound: Duration,
) -> Result<(), TargetError> {
    match outcome {
        Err(e) => Err(TargetError::io(format!("cannot run {what}"), e)),
        Ok(Some((Ok(status), _))) if status.success() => Ok(()),
        Ok(Some((Ok(status), said))) => Err(TargetError::failed(format!(
            "{what} failed ({status}): {said}"
        ))),
        Ok(Some((Err(e), _))) => Err(TargetError::io(format!("cannot wait for {what}"), e)),
        Ok(None) => Err(TargetError::failed(format!(
            "{what} did not finish within {}s",
            bound.as_secs()
        ))),
    }
}

/// Of what a command writes on stderr, the last 2 KiB (as recorded, scrubbed) are what a
/// failure message quotes, however much it writes.
const LAST_WORDS: usize = 2048;

/// The readers of a lab command's stdout and stderr: every line into the transcript, the
/// last words of stderr kept for a failure message.
struct OutputReaders {
    readers: Vec<tokio::task::JoinHandle<()>>,
    last_words: std::sync::Arc<std::sync::Mutex<String>>,
}

impl OutputReaders {
    fn start(child: &mut tokio::process::Child, log: &Recorder, source: OutputSource) -> Self {
        let last_words = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            let log = log.clone();
            readers.push(tokio::spawn(async move {
                record_lines(out, &log, source, OutputStream::Stdout, |_| {}).await
            }));
        }
        if let Some(err) = child.stderr.take() {
            let (log, kept) = (log.clone(), last_words.clone());
            readers.push(tokio::spawn(async move {
                record_lines(err, &log, source, OutputStream::Stderr, |line| {
                    let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
                    if !kept.is_empty() {
                        kept.push('\n');
                    }
                    kept.push_str(line);
                    let excess = kept.len().saturating_sub(LAST_WORDS);
                    let from = kept.ceil_char_boundary(excess);
                    kept.drain(..from);
                })
                .await
            }));
        }
        OutputReaders {
            readers,
            last_words,
        }
    }

    /// Waits up to `grace` for the pipes to reach their end; returns the last words.
    /// A reader still waiting then (something the command started holds the pipe open) is
    /// stopped: it would record into a scenario that has ended.
    async fn finish(self, grace: Duration) -> String {
        let aborts: Vec<_> = self.readers.iter().map(|r| r.abort_handle()).collect();
        let all = futures_util::future::join_all(self.readers);
        let _ = tokio::time::timeout(grace, all).await;
        aborts.iter().for_each(tokio::task::AbortHandle::abort);
        let kept = self.last_words.lock().unwrap_or_else(|p| p.into_inner());
        kept.trim().to_string()
    }
}

/// Starts `cmd` as one of the harness's children, writes `input` to its stdin, records what
/// it writes as `source`, and waits within `bound` (the write included) for its exit status;
/// then kills it with everything it started, however it ended, and returns the status with
/// the last words of its stderr. `None`: the bound passed.
async fn run_bounded(
    children: &Arc<Children>,
    mut cmd: tokio::process::Command,
    input: Option<String>,
    log: &Recorder,
    source: OutputSource,
    bound: Duration,
) -> std::io::Result<Option<(std::io::Result<std::process::ExitStatus>, String)>> {
    use tokio::io::AsyncWriteExt;
    let mut owned = super::children::spawn(children, &mut cmd)?;
    let stdin = owned.child().stdin.take();
    // Read apart from the wait: something it started may hold the pipes open after it exits.
    let readers = OutputReaders::start(owned.child(), log, source);
    let run = async {
        if let (Some(mut stdin), Some(input)) = (stdin, input) {
            // A command that does not read its stdin is fine (the upper tester's action is in
            // the environment too).
            let _ = stdin.write_all(input.as_bytes()).await;
        }
        owned.child().wait().await
    };
    let status = tokio::time::timeout(bound, run).await.ok();
    owned.kill().await;
    let said = readers.finish(Duration::from_millis(500)).await;
    Ok(status.map(|s| (s, said)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> Recorder {
        Recorder::new(
            crate::engine::clock::ScenarioClock::start(0),
            vec![],
            crate::profile::default_profile(),
        )
    }

    fn checkin() -> DeviceAction {
        let args = serde_json::json!({"userid": "alice", "pass_type": 1, "pass_method": null});
        DeviceAction {
            name: "check_in".into(),
            args: args.as_object().cloned().unwrap(),
        }
    }

    /// The upper tester reads the action as before the action became data: its name beside
    /// the SN and the scenario's arguments.
    #[test]
    fn the_action_reads_as_the_upper_tester_expects() {
        assert_eq!(
            checkin().to_json("SN1"),
            serde_json::json!({"action": "check_in", "sn": "SN1", "userid": "alice", "pass_type": 1, "pass_method": null})
        );
    }

    #[tokio::test]
    async fn the_upper_tester_gets_the_action_and_its_exit_status_decides() {
        // It reads the action from stdin and the environment alike.
        let ok = upper_tester(&Default::default(), r#"read line; test "$line" = "$HWCONFORM_ACTION" && echo "$line" | grep -q '"userid":"alice"'"#, &checkin(), "SN1", &log()).await;
        assert!(ok.is_ok(), "{ok:?}");
        // A failure says why, in the tester's own last words, bounded.
        let err = upper_tester(
            &Default::default(),
            "yes 'filler line' | head -c 100000 >&2; echo 'no such user' >&2; exit 3",
            &checkin(),
            "SN1",
            &log(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("exit status: 3") && err.ends_with("no such user"),
            "{err}"
        );
        assert!(err.len() < 2300, "{} bytes", err.len());
    }

    fn late_one() -> CloudAction {
        CloudAction::asking("remote_open_failed", serde_json::json!({"oper_id": "op-2"}))
    }

    /// The cloud's upper tester gets its action as the device's does; exit 0 is done (yes),
    /// `UPPER_TESTER_NO` is no to a question only: to an act, and any other status to a
    /// question, it is the tester's own failure, never the target's.
    #[tokio::test]
    async fn the_cloud_upper_tester_answers_by_exit_status() {
        let hint = CloudAction::act(
            "fetch_log",
            serde_json::json!({"hint": "op_logs wechat main"}),
        );
        let read = r#"read line; test "$line" = "$HWCONFORM_ACTION" && test "$HWCONFORM_SN" = SN1 && echo "$line" | grep -q '"action":"fetch_log","sn":"SN1","hint":"op_logs wechat main"'"#;
        let ok = cloud_upper_tester(&Default::default(), read, &hint, "SN1", &log()).await;
        assert_eq!(ok.ok(), Some(Answer::Yes));
        let no = "echo 'shown as succeeded' >&2; exit 3";
        assert_eq!(
            cloud_upper_tester(&Default::default(), no, &late_one(), "SN1", &log())
                .await
                .ok(),
            Some(Answer::No("shown as succeeded".into()))
        );
        let act = cloud_upper_tester(&Default::default(), no, &hint, "SN1", &log()).await;
        assert!(act.is_err(), "{act:?}");
        for broken in ["exit 1", "exit 2", "kill -9 $$"] {
            let err =
                cloud_upper_tester(&Default::default(), broken, &late_one(), "SN1", &log()).await;
            assert!(
                err.as_ref()
                    .is_err_and(|e| e.to_string().contains("the cloud upper tester")),
                "{broken}: {err:?}"
            );
        }
    }

    /// The action as the lab's command gets it: its name and the SN first, then its arguments
    /// in the scenario's order.
    #[rstest::rstest]
    #[case::bind(CloudAction::act("bind", Value::Null), r#"{"action":"bind","sn":"S"}"#)]
    #[case::scan(CloudAction::act("scan_qr", serde_json::json!({"userid": "u", "state": "s", "dynamic_timestamp": 7})), r#"{"action":"scan_qr","sn":"S","userid":"u","state":"s","dynamic_timestamp":7}"#)]
    #[case::question(
        late_one(),
        r#"{"action":"remote_open_failed","sn":"S","oper_id":"op-2"}"#
    )]
    fn a_cloud_action_reads_as_the_lab_expects(#[case] action: CloudAction, #[case] lab: &str) {
        assert_eq!(action.to_json("S").to_string(), lab);
    }

    /// What the tester writes is the scenario's evidence: both streams, line by line.
    #[tokio::test]
    async fn the_upper_testers_output_is_recorded() {
        let log = log();
        let ok = upper_tester(
            &Default::default(),
            "echo 'pressing the button'; echo 'relay 3 on' >&2",
            &checkin(),
            "SN1",
            &log,
        )
        .await;
        assert!(ok.is_ok(), "{ok:?}");
        let lines: Vec<_> = log
            .take()
            .entries
            .into_iter()
            .filter_map(|e| match e.event {
                crate::engine::TranscriptEvent::Output {
                    source,
                    stream,
                    line,
                    ..
                } => Some((source, stream, line)),
                _ => None,
            })
            .collect();
        let line = |stream, text: &str| (OutputSource::UpperTester, stream, text.to_string());
        assert!(
            lines.contains(&line(OutputStream::Stdout, "pressing the button")),
            "{lines:?}"
        );
        assert!(
            lines.contains(&line(OutputStream::Stderr, "relay 3 on")),
            "{lines:?}"
        );
    }

    /// Something the tester started that keeps its stderr open neither holds the step up
    /// nor outlives it.
    #[tokio::test]
    async fn a_grandchild_holding_the_pipe_does_not_hold_the_step() {
        let started = std::time::Instant::now();
        let ok = upper_tester(
            &Default::default(),
            "sleep 20 & exit 0",
            &checkin(),
            "SN1",
            &log(),
        )
        .await;
        assert!(ok.is_ok(), "{ok:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    use crate::engine::children::tests::{
        assert_gone, pidfile, with_setsid_grandchild, written_pid,
    };

    /// A reset that ends normally leaves nothing running, not even a grandchild in a session
    /// of its own.
    #[tokio::test]
    async fn a_reset_leaves_no_process_when_it_ends() {
        let file = pidfile("reset-end");
        let ok = reset(
            &Default::default(),
            &with_setsid_grandchild(&file, "sleep 0.3; exit 0"),
            &log(),
        )
        .await;
        assert!(ok.is_ok(), "{ok:?}");
        assert_gone(written_pid(&file).await).await;
    }

    /// A reset that hangs is killed whole at its bound, and the failure says so.
    #[tokio::test]
    async fn a_reset_past_its_bound_is_killed_whole() {
        let file = pidfile("reset-bound");
        let started = std::time::Instant::now();
        let err = reset_within(
            &Default::default(),
            &with_setsid_grandchild(&file, "sleep 300"),
            &log(),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("did not finish within 1s"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
        assert_gone(written_pid(&file).await).await;
        // The variant: a reset that fails says why, in its last words.
        let err = reset(
            &Default::default(),
            "echo 'no such device' >&2; exit 4",
            &log(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("exit status: 4") && err.ends_with("no such device"),
            "{err}"
        );
    }

    /// The upper tester, ended or past its bound, leaves nothing running either.
    #[tokio::test]
    async fn the_upper_tester_leaves_no_process() {
        let file = pidfile("ut-end");
        // It ends a moment after starting the grandchild, so the grandchild has written its
        // pid before the tester is reaped.
        let ok = upper_tester(
            &Default::default(),
            &with_setsid_grandchild(&file, "sleep 0.3; exit 0"),
            &checkin(),
            "SN1",
            &log(),
        )
        .await;
        assert!(ok.is_ok(), "{ok:?}");
        assert_gone(written_pid(&file).await).await;
        let file = pidfile("ut-bound");
        let err = upper_tester_within(
            &Default::default(),
            &with_setsid_grandchild(&file, "sleep 300"),
            &checkin(),
            "SN1",
            &log(),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("did not finish within 1s"), "{err}");
        assert_gone(written_pid(&file).await).await;
    }

    #[test]
    fn failed_handshakes_are_counted_and_the_first_quoted() {
        let mut failed = FailedHandshakes::default();
        assert!(failed.is_empty());
        for i in 0..1000 {
            failed.record(format!("connection {i}: no handshake"));
        }
        let said = failed.to_string();
        assert!(
            said.starts_with("connection 0: no handshake; connection 1"),
            "{said}"
        );
        assert!(said.ends_with("; and 997 more failed handshakes"), "{said}");
        assert!(said.len() < 200, "{said}");
        let mut one = FailedHandshakes::default();
        one.record("bad upgrade");
        assert_eq!(one.to_string(), "bad upgrade");
    }
}
