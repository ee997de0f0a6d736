//! The link to the upstream cloud: dialled for each device connection from the device's
//! current source address, and, when a `new-address` fault moves the device, the old link
//! held open and silent (the cloud cannot tell a dead NAT from a quiet device) while the
//! device's next connections come from the next address.

use crate::wire::transport::{self, Endpoint, WsStream};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Old links held at once; the oldest goes (closed) for one more.
const MAX_HELD: usize = 64;
/// How long an old link is held: past any cloud's heartbeat expiry (1–2 min), by which time
/// the cloud has let it go itself.
const HOLD_FOR: Duration = Duration::from_secs(180);

/// The device moved to another source address: when, and the SN its old link had said.
#[derive(Clone, Debug)]
pub(super) struct Moved {
    pub since: Instant,
    pub sn: Option<String>,
}

struct Held {
    since: Instant,
    _ws: WsStream,
}

/// The upstream cloud, as every link of a run reaches it.
pub(super) struct Upstream {
    pub endpoint: Endpoint,
    /// Accept any TLS certificate from a wss:// upstream.
    pub insecure: bool,
    /// The addresses a moved device reconnects from, in turn (`--source-address`); empty: on
    /// loopback 127.0.0.2, 127.0.0.3, ….
    pub sources: Vec<IpAddr>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// How many times the device moved.
    moves: usize,
    last: Option<Moved>,
    held: VecDeque<Held>,
}

impl Upstream {
    pub fn new(endpoint: Endpoint, insecure: bool, sources: Vec<IpAddr>) -> Upstream {
        Upstream {
            endpoint,
            insecure,
            sources,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last move of the device, for a link made now.
    pub fn moved(&self) -> Option<Moved> {
        self.state().last.clone()
    }

    /// Keeps `ws` open, unread, for [`HOLD_FOR`] (or until the observer stops), and moves
    /// the device: its next connections come from the next source address.
    pub fn hold(&self, ws: WsStream, sn: Option<String>) {
        let mut s = self.state();
        s.held.retain(|h| h.since.elapsed() < HOLD_FOR);
        if s.held.len() >= MAX_HELD {
            s.held.pop_front();
        }
        let since = Instant::now();
        s.held.push_back(Held { since, _ws: ws });
        s.moves += 1;
        s.last = Some(Moved { since, sn });
    }

    /// Lets every held link go (the observer stops).
    pub fn release_all(&self) {
        self.state().held.clear();
    }

    /// The source address for a link to `remote` after `moves` moves: the system's choice
    /// before the first.
    fn source(&self, remote: SocketAddr, moves: usize) -> Result<Option<IpAddr>, String> {
        if moves == 0 {
            return Ok(None);
        }
        if !self.sources.is_empty() {
            return Ok(Some(self.sources[(moves - 1) % self.sources.len()]));
        }
        match remote.ip() {
            IpAddr::V4(ip) if ip.is_loopback() && moves < 254 => {
                Ok(Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + moves as u8))))
            }
            _ => Err(format!(
                "the device moved {moves} time(s) and there is no other source address to reach {remote} from: give --source-address"
            )),
        }
    }

    /// Connects to the cloud from the device's current source address.
    pub async fn dial(&self) -> Result<WsStream, String> {
        let addr = self.endpoint.resolve().await.map_err(|e| e.to_string())?;
        let moves = self.state().moves;
        let local = self.source(addr, moves)?;
        let tcp = transport::tcp(addr, local)
            .await
            .map_err(|e| e.to_string())?;
        let connector = self.insecure.then(transport::insecure_connector);
        transport::handshake(&self.endpoint.url, Box::new(tcp), connector)
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_device_comes_from_the_next_address() {
        let up =
            |sources| Upstream::new(Endpoint::parse("ws://127.0.0.1:1").unwrap(), false, sources);
        let lo: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(up(vec![]).source(lo, 0), Ok(None));
        assert_eq!(up(vec![]).source(lo, 1), Ok(ip("127.0.0.2")));
        assert_eq!(up(vec![]).source(lo, 2), Ok(ip("127.0.0.3")));
        let given = up(vec![
            "10.0.0.7".parse().unwrap(),
            "10.0.0.8".parse().unwrap(),
        ]);
        assert_eq!(given.source(lo, 1), Ok(ip("10.0.0.7")));
        assert_eq!(given.source(lo, 3), Ok(ip("10.0.0.7")));
        let far: SocketAddr = "192.0.2.1:443".parse().unwrap();
        assert!(up(vec![])
            .source(far, 1)
            .unwrap_err()
            .contains("--source-address"));
    }
}
