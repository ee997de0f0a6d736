//! The built-in mock cloud: a WeCom smart-hardware endpoint that plays the cloud side of
//! the protocol (C1–C14, C23 of the reference's §6.2) for device-side scenarios, and the
//! reference cloud the harness's own cloud scenarios are checked against.
//!
//! Modules, each owning one thing:
//! * [`config`]: settings and the test-only [`MockRule`] knobs;
//! * [`lifecycle`]: the pure per-connection state machine;
//! * [`registry`]: SN → SecretNo, bound flag, issued credentials, live link;
//! * [`rate`]: the per-IP `subscribe_corp` window;
//! * [`faults`]: swallowed and delayed replies, per SN;
//! * `device`: turning one inbound frame into reply and push frames;
//! * [`control`]: bind/unbind/faults, in-process and over [`CONTROL_PATH`];
//! * `act`: the cloud's upper-tester actions as control requests, and a question's answer;
//! * `server`: WebSocket serving, heartbeat expiry, kicks, [`listen`].
//!
//! Interpretations of what the reference leaves open (see each module for details):
//! * The same SN registering from the **same** IP while its old link is live is a device
//!   reconnecting over a half-open link: the new connection wins and the old one is closed
//!   with 4001 — the FAQ's "two links for one SN kick each other" (C13). From **another**
//!   IP the register is refused with 600002 until the old link closes or expires (C10).
//! * Re-sent `active` / `subscribe_corp` answer 600053 / 600054 (only the re-sent
//!   `register` codes are documented).
//! * The cmd of the `selfhelp_notify` echo push is undocumented; the mock uses
//!   `push_selfhelp_notify` with `body.data` (C23).
//! * A reply-shaped frame (no `cmd`) from the device is accepted silently when its
//!   `req_id` is one of this connection's pushes (an optional push acknowledgement, §1.5);
//!   any other one gets 600904.

pub(crate) mod act;
pub mod config;
pub mod control;
pub mod corp;
pub mod corps;
mod device;
pub mod faults;
pub mod lifecycle;
pub mod rate;
pub mod registry;
mod server;

#[cfg(test)]
mod tests;

pub use config::{MockConfig, MockRule, MockVariant};
pub use control::{ControlError, ControlRequest};
pub use server::listen;

use crate::profile::Credentials;
use faults::Faults;
use rate::RateLimiter;
use registry::Registry;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

/// The WebSocket path of the control protocol; every other path is the device protocol.
pub const CONTROL_PATH: &str = "/_hwconform/control";
/// Commands (pushes, closes) one link may have queued before the control plane's next one is
/// refused: a link that cannot keep up does not grow the mock's memory.
pub const LINK_COMMANDS: usize = 64;
/// The header a refused control request carries, so the harness can tell "this mock wants
/// its token" from a real cloud that knows no such path.
pub const CONTROL_REFUSED_HEADER: &str = "x-hwconform-control";

/// A fresh random challenge the harness puts on its first, unauthenticated control request:
/// a mock that holds a token answers its refusal with [`CONTROL_PROOF_HEADER`].
pub const CONTROL_CHALLENGE_HEADER: &str = "x-hwconform-challenge";
/// [`control_proof`] of the mock's token and the harness's challenge: what proves an
/// endpoint is a mock holding the same token, before the harness ever sends it.
pub const CONTROL_PROOF_HEADER: &str = "x-hwconform-proof";

/// Challenges longer than this are not answered (a header is bounded like any input).
pub const MAX_CHALLENGE: usize = 128;

/// What a mock holding `token` answers to `challenge`: a digest of both, which tells nothing
/// of the token and which only a holder of the token can compute.
pub fn control_proof(token: &str, challenge: &str) -> String {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    h.update(b"hwconform control proof\0");
    h.update(token.as_bytes());
    h.update(b"\0");
    h.update(challenge.as_bytes());
    hex::encode(h.finalize())
}

/// The corp every bound device belongs to (`get_corp_info`).
pub const CORP_NAME: &str = "hwconform mock corp";

/// Close code and reason when a link's heartbeat expires (C8).
pub const CLOSE_HEARTBEAT: (u16, &str) = (4000, "heartbeat timeout");
/// Close code and reason when a newer link of the same SN from the same IP wins (C13).
pub const CLOSE_KICKED: (u16, &str) = (4001, "kicked: sn registered on another connection");
/// Close code and reason for control `close_link`.
pub const CLOSE_BY_CONTROL: (u16, &str) = (1000, "closed by the cloud");

/// The mock cloud. One instance serves any number of connections.
pub struct MockCloud {
    config: MockConfig,
    started: Instant,
    shared: Mutex<Shared>,
    next_conn: AtomicU64,
    next_push: AtomicU64,
    /// Every credential the mock knows or issued: its logs show none of them, wherever in a
    /// frame they stand.
    credentials: Credentials,
}

/// Everything connections share, behind one lock so each request is decided atomically.
#[derive(Debug)]
struct Shared {
    registry: Registry,
    corps: corps::Corps,
    rate: RateLimiter,
    faults: Faults,
}

impl std::fmt::Debug for MockCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockCloud")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MockCloud {
    pub fn new(config: MockConfig) -> std::sync::Arc<MockCloud> {
        let credentials = Credentials::default();
        let corps = corps::Corps::new(config.corp.clone(), config.corp_rules());
        let shared = Shared {
            registry: Registry::new(&config.fleet, credentials.clone())
                .issuing_with(config.issue_key.clone()),
            corps,
            rate: RateLimiter::default(),
            faults: Faults::default(),
        };
        std::sync::Arc::new(MockCloud {
            config,
            started: Instant::now(),
            shared: Mutex::new(shared),
            next_conn: AtomicU64::new(1),
            next_push: AtomicU64::new(1),
            credentials,
        })
    }

    pub fn config(&self) -> &MockConfig {
        &self.config
    }

    /// Cloud unix time: `start_unix` plus the tokio time elapsed since start.
    pub fn now_unix(&self) -> u64 {
        self.config.start_unix.saturating_add(
            Instant::now()
                .saturating_duration_since(self.started)
                .as_secs(),
        )
    }

    /// Milliseconds on the cloud's (tokio) clock since start: remote-open deadlines (C19).
    pub fn now_ms(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.started)
            .as_millis() as u64
    }

    /// Sends a push of corp `corp` to every live bound device of it but `this_sn`, and
    /// returns the frame for `this_sn` (when it is live and bound) for the caller to send after
    /// its reply, and how many links it was queued for.
    fn push_to_corp(
        &self,
        shared: &Shared,
        corp: usize,
        push: &corp::CorpPush,
        this_sn: Option<&str>,
    ) -> (Vec<Value>, usize) {
        let mut own = Vec::new();
        let mut queued = 0;
        for (sn, link) in shared
            .registry
            .live_bound()
            .filter(|(sn, _)| shared.corps.index_of(Some(sn)) == corp)
        {
            let frame = crate::profile::wecom::envelope::push(
                push.cmd,
                &self.push_req_id(),
                push.body.clone(),
            );
            // The push-noise variant: another documented push first (§1.5).
            let noise = self.config.varies(MockVariant::PushNoise).then(|| {
                crate::profile::wecom::envelope::push(
                    "push_update_firmware",
                    &self.push_req_id(),
                    None,
                )
            });
            if Some(sn) == this_sn {
                own.extend(noise);
                own.push(frame);
            } else if noise.into_iter().chain([frame]).all(|f| {
                link.tx
                    .try_send(registry::LinkCommand::Push(Box::new(f)))
                    .is_ok()
            }) {
                queued += 1;
            } else {
                tracing::warn!(
                    sn,
                    cmd = push.cmd,
                    "push not queued: the link is full or gone"
                );
            }
        }
        (own, queued)
    }

    /// `frame` as the mock's logs may show it: redacted by key, then by value.
    fn loggable(&self, frame: &Value) -> Value {
        self.credentials
            .redacted(&crate::profile::wecom::volatile::redact_secrets(frame))
    }

    /// The shared state; a panic elsewhere never poisons the mock for good.
    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// A cloud-generated, unique `req_id` for a push.
    fn push_req_id(&self) -> String {
        format!(
            "mock-push-{}",
            self.next_push.fetch_add(1, Ordering::Relaxed)
        )
    }
}
