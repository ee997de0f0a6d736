//! The reference device (`--device sim`): a WeCom smart-hardware terminal that follows every
//! device obligation of the reference's §6.1 (D1–D42), unless told to break one with a
//! [`SimFault`]. Cloud-role scenarios run against it; it is also the harness's own check
//! that those scenarios pass a conformant device and fail a faulty one.
//!
//! Modules, each owning one thing:
//! * [`config`]: [`SimConfig`] and the [`SimFault`] list;
//! * `device`: what survives reconnects (credentials, contacts, check-ins, log), the
//!   device clock, the seeded RNG, req_ids;
//! * `policy`: every timing (timeouts, retry spacing, reconnect delays, heartbeat, polls,
//!   the subscribe budget) and where faults and variants bend them;
//! * `link`: one connection's request/reply correlation, timeouts and frame pump;
//! * `lifecycle`: get_secret_no / register / active / subscribe_corp with recovery;
//! * `heartbeat`, `contacts` (full and incremental pulls), `checkin`, `pushes`;
//! * `session`: one connection from open to end; this module: dialing and reconnecting.
//!
//! Every wait uses tokio time, so on a paused runtime minutes of device life cost nothing,
//! and every random choice comes from [`SimConfig::rng_seed`].

mod checkin;
pub mod config;
mod contacts;
mod device;
mod heartbeat;
mod lifecycle;
mod link;
mod policy;
mod pushes;
mod session;

#[cfg(test)]
mod tests;

pub use config::{
    Probe, SimConfig, SimFault, SimProbe, SimVariant, DEFAULT_FIRMWARE_VERSION, DEFAULT_LOG_LINES,
};
pub use policy::{
    ACTIVE_POLL_S, CHECKIN_RETRY_S, INTERVAL_JITTER_S, JITTER_S, PING_S, REGISTERED_ELSEWHERE_S,
    SUBSCRIBE_BUDGET, SUBSCRIBE_WINDOW, TIMEOUT_S,
};

use crate::wire::transport::{self, BoxIo, Endpoint, TransportError, WsStream};
use device::Device;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use session::LinkEnd;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// Longest wait for one dial (TCP, TLS and WebSocket handshakes) before it counts as failed.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens a new connection to the cloud.
pub trait Dialer: Send + Sync + 'static {
    fn dial(&self) -> BoxFuture<'static, Result<WsStream, TransportError>>;
}

/// Things the harness makes the device do, as a person at a real one would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimControl {
    /// Someone presents themselves. Boxed: a control channel allocates room for 32
    /// messages up front, and a fleet holds one channel per device.
    Checkin(Box<Checkin>),
    /// Someone of the local contacts, picked at random, passes in (a fleet's business mix);
    /// nothing when the device has no contacts yet.
    CheckinKnown,
    /// The device is switched off: it closes its connection (close handshake, bounded) and
    /// [`run`] returns.
    PowerOff,
}

/// A person at the device: recognised (and recorded, D32) only when `userid` is in the
/// device's current contacts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkin {
    pub userid: String,
    pub pass_type: Option<u32>,
    pub pass_method: Option<u32>,
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the device until the task is cancelled. It returns on its own only once the
/// control sender is dropped *and* a dial fails (the harness is gone). Every wait is
/// bounded; no cloud behaviour makes it panic.
///
/// The device is built before the future is: an async fn would keep room for its `config`
/// argument beside the device made of it, for as long as the device runs (a fleet's cost).
pub fn run(
    config: SimConfig,
    dialer: Arc<dyn Dialer>,
    control: UnboundedReceiver<SimControl>,
) -> impl std::future::Future<Output = ()> {
    let dev = Device::new(config);
    async move { run_device(&dev, dialer, control).await }
}

/// [`run`] for a device whose store a test reads while it runs.
pub(in crate::targets::sim) async fn run_device(
    dev: &Device,
    dialer: Arc<dyn Dialer>,
    mut control: UnboundedReceiver<SimControl>,
) {
    let mut control_open = true;
    // Connections kept open by the `two-connections` fault.
    let mut kept: Vec<AbortOnDrop> = Vec::new();
    let mut dial_at = tokio::time::Instant::now();
    loop {
        if wait_serving_control(dev, dial_at, &mut control, &mut control_open).await {
            return;
        }
        kept.retain(|k| !k.0.is_finished());
        let dialed = tokio::time::timeout(DIAL_TIMEOUT, dialer.dial()).await;
        let mut ws = match dialed {
            Ok(Ok(ws)) => ws,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "dial timed out".to_string(),
                };
                if !control_open {
                    tracing::info!(sn = %dev.sn(), error = %why, "dial failed and the control channel is closed: device stops");
                    return;
                }
                let delay = dev.jitter();
                dial_at = tokio::time::Instant::now() + delay;
                dev.log(format!(
                    "dial failed ({why}); retrying in {} ms",
                    delay.as_millis()
                ));
                continue;
            }
        };
        let end = session::run_link(dev, &mut ws, &mut control, &mut control_open).await;
        // The delay runs from the decision; closing the old connection is part of it.
        let decided = tokio::time::Instant::now();
        let delay = match end {
            LinkEnd::PowerOff => {
                dev.log("switched off");
                link::close(dev, &mut ws).await;
                return;
            }
            LinkEnd::Lost => {
                link::close(dev, &mut ws).await;
                dev.jitter()
            }
            LinkEnd::Reconnect(d) => {
                dev.log(format!("reconnecting in {} ms", d.as_millis()));
                if dev.has(SimFault::TwoConnections) {
                    kept.push(AbortOnDrop(tokio::spawn(async move {
                        while let Some(Ok(_)) = ws.next().await {}
                    })));
                } else {
                    link::close(dev, &mut ws).await;
                }
                d
            }
        };
        dial_at = decided + delay;
    }
}

/// Sleeps until `until` while still taking check-ins (queued for the next connection).
/// Returns `true` when the device was switched off meanwhile.
async fn wait_serving_control(
    dev: &Device,
    until: tokio::time::Instant,
    control: &mut UnboundedReceiver<SimControl>,
    control_open: &mut bool,
) -> bool {
    loop {
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(until) => return false,
            msg = control.recv(), if *control_open => match msg {
                Some(SimControl::PowerOff) => return true,
                Some(msg) => {
                    session::on_control(dev, msg);
                }
                None => *control_open = false,
            },
        }
    }
}

/// Dials `ws://` or `wss://` over TCP (TLS with the platform's roots for `wss`).
struct UrlDialer {
    endpoint: Endpoint,
}

impl Dialer for UrlDialer {
    fn dial(&self) -> BoxFuture<'static, Result<WsStream, TransportError>> {
        let endpoint = self.endpoint.clone();
        async move {
            let addr = endpoint.resolve().await?;
            let tcp = transport::tcp(addr, None).await?;
            let _ = tcp.set_nodelay(true);
            let io: BoxIo = Box::new(tcp);
            transport::handshake(&endpoint.url, io, None).await
        }
        .boxed()
    }
}

/// Why the standalone reference device stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    #[error("the reference device cannot dial {url}")]
    Url {
        url: String,
        #[source]
        source: TransportError,
    },
    #[error("cannot wait for Ctrl-C")]
    CtrlC(#[source] std::io::Error),
}

/// Standalone (`hwconform device-sim --url ws://... --sn SN --secret-no S`): dials `url`
/// and runs until Ctrl-C or the process is killed.
pub async fn run_standalone(url: &str, config: SimConfig) -> Result<(), StandaloneError> {
    let endpoint = Endpoint::parse(url).map_err(|source| StandaloneError::Url {
        url: url.to_string(),
        source,
    })?;
    tracing::info!(sn = %config.identity.sn, url, faults = ?config.faults, variants = ?config.variants, "reference device starting");
    let (_control_tx, control_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::select! {
        _ = run(config, Arc::new(UrlDialer { endpoint }), control_rx) => Ok(()),
        r = tokio::signal::ctrl_c() => r.map_err(StandaloneError::CtrlC),
    }
}
