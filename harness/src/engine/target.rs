//! Targets as the engine sees them: a run-level cloud target (the harness plays devices)
//! that opens a per-scenario [`CloudLink`], and a run-level device target (the harness plays
//! the cloud) that starts a per-scenario [`DeviceLink`]. The implementations (mock, remote
//! URL, reference device, exec, listen) live in the `targets` module; the engine only holds them
//! behind these traits.

use super::output::record_lines;
use super::recorder::Recorder;
use super::transcript::{OutputSource, OutputStream};
use crate::profile::fleet::Fleet;
use crate::profile::{CloudTimings, DeviceIdentity, Secret};
use crate::wire::transport::{TransportError, WsStream};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use std::net::Ipv4Addr;
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
    /// Its timers (after [`CloudTarget::prepare`]).
    fn settings(&self) -> CloudTimings;
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
    fn settings(&self) -> CloudTimings;
    /// Opens a WebSocket from `from`; returns it and the local address as the target sees it.
    fn connect(&mut self, from: Ipv4Addr)
        -> BoxFuture<'_, Result<(WsStream, String), TargetError>>;
    fn control(&self, op: CloudControl) -> BoxFuture<'_, Result<Value, TargetError>>;
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

/// Something the harness makes the device do, as a person at a real one would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceAction {
    Checkin {
        userid: String,
        pass_type: Option<u32>,
        pass_method: Option<u32>,
    },
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

/// The device of one scenario. Connections arrive after the WebSocket server handshake.
pub trait DeviceLink: Send {
    /// What this scenario's device offers.
    fn capabilities(&self) -> DeviceCapabilities;
    /// The device's next connection and its address; `None` when the deadline passes.
    fn accept(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> BoxFuture<'_, Option<Result<(WsStream, String), TargetError>>>;
    /// Connection attempts whose handshake failed so far.
    fn failed_handshakes(&self) -> &[String];
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
    /// The action as the upper tester reads it: `{"action": "check_in", "sn": ..., ...}` (a person's action, named apart from the protocol's commands).
    pub fn to_json(&self, sn: &str) -> serde_json::Value {
        match self {
            DeviceAction::Checkin {
                userid,
                pass_type,
                pass_method,
            } => {
                serde_json::json!({ "action": "check_in", "sn": sn, "userid": userid, "pass_type": pass_type, "pass_method": pass_method })
            }
        }
    }
}

/// How long the upper tester may take to make the device act.
pub const UPPER_TESTER_BOUND: Duration = Duration::from_secs(30);

/// The skip reason of a scenario whose device must be made to act, with no way to make it:
/// the matrix shows its obligations as not tested, never as not applicable.
pub const NEEDS_UPPER_TESTER: &str =
    "not tested: needs an upper tester to make the device act (a member checks in): give `--upper-tester CMD`, or run the reference device (--device sim), which acts by itself";

/// Runs the lab's upper tester (TTCN-3's UT) to make a real device act as a person at it
/// would: `sh -c COMMAND` with the action as JSON on stdin and in `HWCONFORM_ACTION`, in a
/// process group of its own that is killed whole if it outlives [`UPPER_TESTER_BOUND`]. Exit
/// status 0 means the device was made to act.
pub async fn upper_tester(
    command: &str,
    action: &DeviceAction,
    sn: &str,
    log: &Recorder,
) -> Result<(), TargetError> {
    use tokio::io::AsyncWriteExt;
    let json = action.to_json(sn).to_string();
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("HWCONFORM_ACTION", &json)
        .env("HWCONFORM_SN", sn)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| TargetError::io("cannot run the upper tester", e))?;
    let group = child.id().map(|pid| pid as i32);
    let stdin = child.stdin.take();
    let readers = OutputReaders::start(&mut child, log, OutputSource::UpperTester);
    // Everything, the write to its stdin included, within the bound.
    let run = async {
        if let Some(mut stdin) = stdin {
            // A tester that does not read its stdin is fine: the action is in the environment too.
            let _ = stdin.write_all(json.as_bytes()).await;
        }
        child.wait().await
    };
    let outcome = tokio::time::timeout(UPPER_TESTER_BOUND, run).await;
    // Read apart from the wait, since something it started may hold the pipes open after
    // it exits.
    let said = readers.finish(Duration::from_millis(500)).await;
    if let Some(pgid) = group {
        // SAFETY: kill(2) on the process group created at spawn, so nothing the tester
        // started outlives the step, however it ended.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    match outcome {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(TargetError::failed(format!(
            "the upper tester failed ({status}): {said}"
        ))),
        Ok(Err(e)) => Err(TargetError::io("the upper tester", e)),
        Err(_) => Err(TargetError::failed(format!(
            "the upper tester did not finish within {}s",
            UPPER_TESTER_BOUND.as_secs()
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
    async fn finish(self, grace: Duration) -> String {
        let all = futures_util::future::join_all(self.readers);
        let _ = tokio::time::timeout(grace, all).await;
        let kept = self.last_words.lock().unwrap_or_else(|p| p.into_inner());
        kept.trim().to_string()
    }
}

/// Runs the `--device-reset` command before a scenario, bounded by two minutes; what it
/// writes goes into the scenario's transcript.
pub async fn reset(command: &str, log: &Recorder) -> Result<(), TargetError> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| TargetError::io("cannot run the device reset command", e))?;
    let readers = OutputReaders::start(&mut child, log, OutputSource::DeviceReset);
    let outcome = tokio::time::timeout(Duration::from_secs(120), child.wait()).await;
    let said = readers.finish(Duration::from_millis(500)).await;
    match outcome {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(TargetError::failed(format!(
            "the device reset command failed ({status}): {said}"
        ))),
        Ok(Err(e)) => Err(TargetError::io("cannot run the device reset command", e)),
        Err(_) => Err(TargetError::failed(
            "the device reset command did not finish within 120s",
        )),
    }
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
        DeviceAction::Checkin {
            userid: "alice".into(),
            pass_type: Some(1),
            pass_method: None,
        }
    }

    #[tokio::test]
    async fn the_upper_tester_gets_the_action_and_its_exit_status_decides() {
        // It reads the action from stdin and the environment alike.
        let ok = upper_tester(r#"read line; test "$line" = "$HWCONFORM_ACTION" && echo "$line" | grep -q '"userid":"alice"'"#, &checkin(), "SN1", &log()).await;
        assert!(ok.is_ok(), "{ok:?}");
        // A failure says why, in the tester's own last words, bounded.
        let err = upper_tester(
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

    /// What the tester writes is the scenario's evidence: both streams, line by line.
    #[tokio::test]
    async fn the_upper_testers_output_is_recorded() {
        let log = log();
        let ok = upper_tester(
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
        let ok = upper_tester("sleep 20 & exit 0", &checkin(), "SN1", &log()).await;
        assert!(ok.is_ok(), "{ok:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
