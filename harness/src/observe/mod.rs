//! Observe mode: the harness stands between real devices and a real cloud, forwards every
//! frame unchanged and in order, and judges both parties' always-on obligations live.
//!
//! ```text
//!   device ──ws/wss──▶ observe (--listen) ──ws/wss──▶ cloud (--upstream)
//!          ◀──────  monitors, faults   ◀──────────
//! ```
//!
//! Each device connection gives two results in the usual run report: the device judged by
//! the device's monitors (role `cloud`: the observer stood where a cloud stands) and the
//! cloud judged by the cloud's (role `device`), each with the conversation as that party had
//! it, so `hwconform rejudge` judges them again like any recorded run.

mod by_sn;
pub mod fault;
mod link;
mod pump;
pub mod record;
mod relay;
mod results;
pub mod scenario;
pub mod tls;
mod upstream;

pub use fault::LinkFault;
pub use link::{LiveFinding, OnFinding, Peer, Seen, Tap};
pub use tls::{ListenTls, TlsError};

use crate::engine::verdict::ScenarioResult;
use crate::profile::Profile;
use crate::wire::transport::{self, Endpoint};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Device connections served at once; one more is closed at once (logged).
const MAX_LINKS: usize = 1024;
/// Bound on the links' closing once the observer stops: a link still in its handshakes
/// (10 s each) then closes (1 s).
const SHUTDOWN_BOUND: Duration = Duration::from_secs(25);

/// What an observer does besides forwarding.
pub struct ObserveConfig {
    /// The cloud each device is connected to.
    pub upstream: Endpoint,
    /// Accept any TLS certificate from a wss:// upstream.
    pub insecure: bool,
    /// Where a device moved by a `new-address` fault reconnects from, in turn (empty: on
    /// loopback, 127.0.0.2 and up).
    pub sources: Vec<IpAddr>,
    /// Devices connect with TLS (`wss://`) under this certificate.
    pub tls: Option<ListenTls>,
    pub faults: Vec<LinkFault>,
    pub on_finding: OnFinding,
}

/// A bound observer, not yet serving.
pub struct Observer {
    listener: tokio::net::TcpListener,
    ctx: Arc<link::Ctx>,
}

/// What an observer run gives.
pub struct Observed {
    /// Two per device connection, by id.
    pub results: Vec<ScenarioResult>,
    /// Frames forwarded, both directions, every link.
    pub forwarded: u64,
}

impl Observer {
    /// Binds the device listener (port 0 picks a free one).
    pub fn bind(
        addr: SocketAddr,
        config: ObserveConfig,
        profile: Arc<dyn Profile>,
    ) -> std::io::Result<Observer> {
        Ok(Observer {
            listener: transport::listen_tcp(addr)?,
            ctx: Arc::new(link::Ctx {
                by_sn: by_sn::BySn::new(),
                tap: None,
                profile,
                upstream: upstream::Upstream::new(config.upstream, config.insecure, config.sources),
                tls: config.tls,
                faults: fault::Faults::new(config.faults),
                on_finding: config.on_finding,
                forwarded: Default::default(),
                transcript_cap: crate::engine::recorder::MAX_ENTRIES,
            }),
        })
    }

    /// Each view's transcript keeps `cap` entries instead of
    /// [`MAX_ENTRIES`](crate::engine::recorder::MAX_ENTRIES): for tests, which reach the cap
    /// with a few frames.
    pub fn with_transcript_cap(mut self, cap: usize) -> Observer {
        Arc::get_mut(&mut self.ctx)
            .expect("not serving yet")
            .transcript_cap = cap;
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The URL devices connect to: `wss://` with a certificate, else `ws://`.
    pub fn url(&self) -> std::io::Result<String> {
        let scheme = if self.ctx.tls.is_some() { "wss" } else { "ws" };
        Ok(format!("{scheme}://{}", self.local_addr()?))
    }

    /// Serves devices until `stop` completes, then closes every link (1001 on both sides)
    /// and returns what was judged.
    pub async fn run(self, stop: impl Future<Output = ()>) -> Observed {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut links = tokio::task::JoinSet::new();
        let mut results = Vec::new();
        let mut n = 0;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        if links.len() >= MAX_LINKS {
                            tracing::warn!(%peer, "{MAX_LINKS} devices already connected: refused");
                            continue;
                        }
                        n += 1;
                        links.spawn(relay::relay(tcp, peer, n, self.ctx.clone(), stop_rx.clone()));
                    }
                    Err(e) => {
                        // Out of descriptors, most often: wait for links to end.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(done) = links.join_next(), if !links.is_empty() => {
                    results.extend(done.unwrap_or_default());
                }
            }
        }
        let _ = stop_tx.send(true);
        let closing = tokio::time::timeout(SHUTDOWN_BOUND, async {
            while let Some(done) = links.join_next().await {
                results.extend(done.unwrap_or_default());
            }
        })
        .await;
        if closing.is_err() {
            tracing::warn!(
                "{} links did not close within {SHUTDOWN_BOUND:?}; left out",
                links.len()
            );
            links.abort_all();
        }
        self.ctx.upstream.release_all();
        results.extend(self.ctx.by_sn.results());
        results.sort_by(|a, b| a.id.cmp(&b.id));
        Observed {
            results,
            forwarded: self.ctx.forwarded.load(Ordering::Relaxed),
        }
    }
}
