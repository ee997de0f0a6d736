//! The device under test, for scenarios where the harness plays the cloud: the reference
//! device in-process (optionally with faults), a real device that connects to a listener, or
//! a process the harness starts per scenario. Each hands the session raw connections; the
//! session does the WebSocket server handshake.

use crate::wire::transport::{self, BoxIo, WsStream};
use crate::profile::{DeviceIdentity, Secret};
use crate::targets::sim::{self, Dialer, SimConfig, SimControl, SimFault};
use futures_util::future::BoxFuture;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::MaybeTlsStream;

/// The device target of a run, as given on the command line.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceTarget {
    /// The built-in reference device, in-process on the scenario's virtual clock.
    Sim { faults: BTreeSet<SimFault> },
    /// Wait for a real device to connect to ADDR; each scenario takes its next connection.
    Listen { addr: SocketAddr },
    /// Start `command` (through `sh -c`) for each scenario and stop it at the end.
    Exec { command: String },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DeviceTargetError {
    #[error("unknown device target {0:?}: expected sim, sim:fault=NAME[,NAME...], listen:ADDR, exec:CMD or none")]
    Unknown(String),
    #[error("unknown sim fault {name:?}; known faults: {known}")]
    Fault { name: String, known: String },
    #[error("listen:{0} is not an address like 127.0.0.1:9000")]
    Addr(String),
    #[error("exec: needs a command")]
    EmptyCommand,
}

impl DeviceTarget {
    /// Parses `sim`, `sim:fault=a,b`, `listen:ADDR`, `exec:CMD`.
    pub fn parse(text: &str) -> Result<DeviceTarget, DeviceTargetError> {
        if text == "sim" {
            return Ok(DeviceTarget::Sim { faults: BTreeSet::new() });
        }
        if let Some(list) = text.strip_prefix("sim:fault=") {
            let faults = list
                .split(',')
                .map(|n| {
                    SimFault::parse(n.trim()).ok_or_else(|| DeviceTargetError::Fault {
                        name: n.to_string(),
                        known: SimFault::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "),
                    })
                })
                .collect::<Result<_, _>>()?;
            return Ok(DeviceTarget::Sim { faults });
        }
        if let Some(addr) = text.strip_prefix("listen:") {
            return addr.parse().map(|addr| DeviceTarget::Listen { addr }).map_err(|_| DeviceTargetError::Addr(addr.into()));
        }
        if let Some(cmd) = text.strip_prefix("exec:") {
            if cmd.trim().is_empty() {
                return Err(DeviceTargetError::EmptyCommand);
            }
            return Ok(DeviceTarget::Exec { command: cmd.to_string() });
        }
        Err(DeviceTargetError::Unknown(text.to_string()))
    }

    pub fn describe(&self) -> String {
        match self {
            DeviceTarget::Sim { faults } if faults.is_empty() => "the reference device".into(),
            DeviceTarget::Sim { faults } => {
                format!("the reference device with faults: {}", faults.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "))
            }
            DeviceTarget::Listen { addr } => format!("the device connecting to {addr}"),
            DeviceTarget::Exec { command } => format!("the device started by `{command}`"),
        }
    }

    /// Whether the target runs on the scenario's virtual clock.
    pub fn in_process(&self) -> bool {
        matches!(self, DeviceTarget::Sim { .. })
    }
}

/// A connection from the device after the WebSocket handshake (with its address), or why
/// the handshake failed.
type Incoming = Result<(WsStream, String), String>;

/// Bound on the server handshake of one connection.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Does the server handshake as soon as a connection arrives (so a device that connected is
/// never kept waiting behind a dead one, and a garbled upgrade is the device's failure), and
/// hands the result to the session.
fn handshake_and_forward(io: BoxIo, peer: String, tx: mpsc::Sender<Incoming>) {
    tokio::spawn(async move {
        let handshake = tokio_tungstenite::accept_async_with_config(MaybeTlsStream::Plain(io), Some(transport::ws_config()));
        let result = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(ws)) => Ok((ws, peer)),
            Ok(Err(e)) => Err(format!("a connection from {peer} failed the WebSocket handshake: {e}")),
            Err(_) => Err(format!("a connection from {peer} did not finish the WebSocket handshake within {}s", HANDSHAKE_TIMEOUT.as_secs())),
        };
        let _ = tx.send(result).await;
    });
}

/// What runs the device for one session; stopping it ends the device.
enum Runner {
    Sim(tokio::task::JoinHandle<()>),
    Listener(tokio::task::JoinHandle<()>),
    Process {
        child: tokio::process::Child,
        /// The process group the command runs in (its pid at spawn): what is stopped at the
        /// end, whatever the shell did in between.
        group: Option<i32>,
        acceptor: tokio::task::JoinHandle<()>,
        stderr: Arc<std::sync::Mutex<Vec<String>>>,
    },
}

/// The device of one session.
pub struct TargetDevice {
    incoming: mpsc::Receiver<Incoming>,
    /// Handshakes that failed while waiting for a connection, for the failure message.
    failed_handshakes: Vec<String>,
    control: Option<mpsc::UnboundedSender<SimControl>>,
    runner: Runner,
}

/// Hands each connection the reference device opens to the session, over a duplex pipe.
struct PipeDialer {
    tx: mpsc::Sender<Incoming>,
    next_port: std::sync::atomic::AtomicU16,
}

impl Dialer for PipeDialer {
    fn dial(&self) -> BoxFuture<'static, Result<WsStream, String>> {
        let tx = self.tx.clone();
        let port = self.next_port.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            let (client, server) = tokio::io::duplex(256 * 1024);
            handshake_and_forward(Box::new(server), format!("127.0.0.1:{port}"), tx);
            let io: BoxIo = Box::new(client);
            transport::handshake("ws://harness.hwconform.invalid/", io, None).await.map_err(|e| e.to_string())
        })
    }
}

/// Forwards every TCP connection of `listener` to the session.
fn forward(listener: tokio::net::TcpListener, tx: mpsc::Sender<Incoming>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            if tx.is_closed() {
                break;
            }
            handshake_and_forward(Box::new(tcp), peer.to_string(), tx.clone());
        }
    })
}

impl TargetDevice {
    /// The reference device, in-process, dialing this session.
    pub fn sim(config: SimConfig) -> TargetDevice {
        let (tx, incoming) = mpsc::channel(16);
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let dialer = Arc::new(PipeDialer { tx, next_port: std::sync::atomic::AtomicU16::new(50000) });
        let task = tokio::spawn(sim::run(config, dialer, ctl_rx));
        TargetDevice { incoming, failed_handshakes: Vec::new(), control: Some(ctl_tx), runner: Runner::Sim(task) }
    }

    /// A real device connecting to the run's listener (a clone of it, on this runtime).
    pub fn listen(listener: &std::net::TcpListener) -> Result<TargetDevice, String> {
        let l = listener.try_clone().map_err(|e| format!("cannot share the listener: {e}"))?;
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        let l = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        let (tx, incoming) = mpsc::channel(16);
        Ok(TargetDevice { incoming, failed_handshakes: Vec::new(), control: None, runner: Runner::Listener(forward(l, tx)) })
    }

    /// Starts `command` with `{url}`, `{sn}` and `{secret_no}` replaced (and the same values
    /// in `HWCONFORM_URL`, `HWCONFORM_SN`, `HWCONFORM_SECRET_NO`), in its own process group.
    pub async fn exec(command: &str, identity: &DeviceIdentity, seed: Option<&Secret>) -> Result<TargetDevice, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("cannot listen for the device: {e}"))?;
        let url = format!("ws://{}", listener.local_addr().map_err(|e| e.to_string())?);
        let (tx, incoming) = mpsc::channel(16);
        let acceptor = forward(listener, tx);
        let line = command
            .replace("{url}", &shell_quote(&url))
            .replace("{sn}", &shell_quote(&identity.sn))
            .replace("{secret_no}", &shell_quote(identity.secret_no.expose()));
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(&line)
            .env("HWCONFORM_URL", &url)
            .env("HWCONFORM_SN", &identity.sn)
            .env("HWCONFORM_SECRET_NO", identity.secret_no.expose())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(seed) = seed {
            cmd.env("HWCONFORM_SEED_SECRET_NO", seed.expose());
        }
        let mut child = cmd.spawn().map_err(|e| format!("cannot start the device command: {e}"))?;
        let group = child.id().map(|pid| pid as i32);
        let stderr = Arc::new(std::sync::Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let lines = stderr.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut reader = tokio::io::BufReader::new(err).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    let mut l = lines.lock().unwrap_or_else(|p| p.into_inner());
                    if l.len() == 20 {
                        l.remove(0);
                    }
                    l.push(line);
                }
            });
        }
        Ok(TargetDevice { incoming, failed_handshakes: Vec::new(), control: None, runner: Runner::Process { child, group, acceptor, stderr } })
    }

    /// The device's next connection, after the WebSocket server handshake; `None` when the
    /// deadline passes (see [`TargetDevice::failed_handshakes`] for attempts that failed). A
    /// device process that exited is an error naming its exit and output.
    pub async fn accept(&mut self, deadline: tokio::time::Instant) -> Option<Result<(WsStream, String), String>> {
        loop {
            if let Runner::Process { child, stderr, .. } = &mut self.runner {
                if let Ok(Some(status)) = child.try_wait() {
                    let tail = stderr.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
                    return Some(Err(format!("the device command exited ({status}) without connecting; its last output:\n{tail}")));
                }
            }
            // Poll the process now and then; otherwise just wait for a connection.
            let step = if matches!(self.runner, Runner::Process { .. }) { Duration::from_millis(200) } else { Duration::from_secs(3600) };
            let until = deadline.min(tokio::time::Instant::now() + step);
            match tokio::time::timeout_at(until, self.incoming.recv()).await {
                Ok(Some(Ok(x))) => return Some(Ok(x)),
                Ok(Some(Err(e))) => self.failed_handshakes.push(e),
                Ok(None) => return Some(Err("the device target stopped".into())),
                Err(_) if tokio::time::Instant::now() >= deadline => return None,
                Err(_) => continue,
            }
        }
    }

    /// Connection attempts whose handshake failed so far.
    pub fn failed_handshakes(&self) -> &[String] {
        &self.failed_handshakes
    }

    /// Connections that completed the handshake and wait for a step to take them.
    pub fn waiting(&self) -> usize {
        self.incoming.len()
    }

    /// A stimulus for the reference device; other devices cannot be made to act.
    pub fn control(&self, c: SimControl) -> Result<(), String> {
        match &self.control {
            Some(tx) => tx.send(c).map_err(|_| "the reference device has stopped".into()),
            None => Err("only the reference device can be made to act".into()),
        }
    }

    pub fn has_control(&self) -> bool {
        self.control.is_some()
    }

    /// Ends the device: aborts the sim, or stops the process group (TERM, then KILL).
    pub async fn stop(&mut self) {
        match &mut self.runner {
            Runner::Sim(task) | Runner::Listener(task) => task.abort(),
            Runner::Process { child, group, acceptor, .. } => {
                acceptor.abort();
                if let Some(pgid) = group.take() {
                    // SAFETY: kill(2) with a negative pid signals the process group created at
                    // spawn; TERM first, then KILL for whatever is left after a grace period
                    // (children that outlived the shell, or ignored TERM).
                    unsafe { libc::kill(-pgid, libc::SIGTERM) };
                    let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    unsafe { libc::kill(-pgid, libc::SIGKILL) };
                }
                let _ = child.kill().await;
            }
        }
    }
}

/// A value as one `sh` word, whatever characters it holds.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Runs the `--device-reset` command before a scenario, bounded by two minutes.
pub async fn reset(command: &str) -> Result<(), String> {
    let run = tokio::process::Command::new("sh").arg("-c").arg(command).stdin(std::process::Stdio::null()).kill_on_drop(true).output();
    match tokio::time::timeout(Duration::from_secs(120), run).await {
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => Err(format!("the device reset command failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim())),
        Ok(Err(e)) => Err(format!("cannot run the device reset command: {e}")),
        Err(_) => Err("the device reset command did not finish within 120s".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_targets() {
        assert_eq!(DeviceTarget::parse("sim"), Ok(DeviceTarget::Sim { faults: BTreeSet::new() }));
        assert!(matches!(DeviceTarget::parse("listen:127.0.0.1:9000"), Ok(DeviceTarget::Listen { .. })));
        assert_eq!(DeviceTarget::parse("exec:./fw --url {url}"), Ok(DeviceTarget::Exec { command: "./fw --url {url}".into() }));
        assert!(matches!(DeviceTarget::parse("sim:fault=nonsense"), Err(DeviceTargetError::Fault { .. })));
        assert!(matches!(DeviceTarget::parse("listen:nowhere"), Err(DeviceTargetError::Addr(_))));
        assert_eq!(DeviceTarget::parse("exec:  "), Err(DeviceTargetError::EmptyCommand));
        assert!(matches!(DeviceTarget::parse("qemu"), Err(DeviceTargetError::Unknown(_))));
    }

    #[test]
    fn substituted_values_stay_one_shell_word() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's $(rm -rf) x"), r"'it'\''s $(rm -rf) x'");
    }
}
