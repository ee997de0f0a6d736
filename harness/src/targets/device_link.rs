//! What the device targets share: connections from the device, after the WebSocket server
//! handshake, handed to the session one at a time; and what runs the device, stopped at the
//! end of the scenario.

use crate::engine::target::{Accepted, DeviceAction, DeviceCapabilities, DeviceLink, TargetError};
use crate::targets::sim::{Checkin, SimControl};
use crate::wire::transport::{self, BoxIo};
use futures_util::future::BoxFuture;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::MaybeTlsStream;

/// A connection from the device after the WebSocket handshake (with its address), or why
/// the handshake failed.
pub(crate) type Incoming = Result<Accepted, HandshakeError>;

/// A device's connection that never became a WebSocket link: the device's failure, kept for
/// the message of the step that waited for it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("a connection from {peer} failed the WebSocket handshake: {source}")]
    Failed {
        peer: String,
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    #[error("a connection from {peer} did not finish the WebSocket handshake within {}s", HANDSHAKE_TIMEOUT.as_secs())]
    Timeout { peer: String },
}

/// Bound on the server handshake of one connection.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Does the server handshake as soon as a connection arrives (so a device that connected is
/// never kept waiting behind a dead one, and a garbled upgrade is the device's failure), and
/// hands the result to the session.
pub(crate) fn handshake_and_forward(io: BoxIo, peer: String, tx: mpsc::Sender<Incoming>) {
    tokio::spawn(async move {
        let handshake = tokio_tungstenite::accept_async_with_config(
            MaybeTlsStream::Plain(io),
            Some(transport::ws_config()),
        );
        let result = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(ws)) => Ok((ws, peer, tokio::time::Instant::now())),
            Ok(Err(e)) => Err(HandshakeError::Failed {
                peer,
                source: Box::new(e),
            }),
            Err(_) => Err(HandshakeError::Timeout { peer }),
        };
        let _ = tx.send(result).await;
    });
}

/// Forwards every TCP connection of `listener` to the session.
pub(crate) fn forward(
    listener: tokio::net::TcpListener,
    tx: mpsc::Sender<Incoming>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            if tx.is_closed() {
                break;
            }
            // As on the harness's client links (`transport::tcp`): no frame waits on Nagle.
            let _ = tcp.set_nodelay(true);
            handshake_and_forward(Box::new(tcp), peer.to_string(), tx.clone());
        }
    })
}

/// What runs the device for one session; stopping it ends the device.
pub(crate) trait Running: Send {
    /// `Some(how)` once the device is gone for good (a process that exited): its exit status
    /// and last output, as a clause that follows "the device command exited ...".
    fn exited(&mut self) -> Option<String> {
        None
    }
    /// Whether [`Running::exited`] needs polling while waiting for a connection.
    fn polled(&self) -> bool {
        false
    }
    /// How the device died, when a signal killed it (see [`DeviceLink::killed`]).
    fn killed(&mut self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async { None })
    }
    fn stop(&mut self) -> BoxFuture<'_, ()>;
}

/// A task (the reference device, or a listener's acceptor), aborted at the end.
pub(crate) struct Task(pub tokio::task::JoinHandle<()>);

impl Running for Task {
    fn stop(&mut self) -> BoxFuture<'_, ()> {
        self.0.abort();
        Box::pin(async {})
    }
}

/// The device of one session.
pub(crate) struct Link {
    incoming: mpsc::Receiver<Incoming>,
    /// Handshakes that failed while waiting for a connection, for the failure message.
    failed_handshakes: crate::engine::target::FailedHandshakes,
    control: Option<mpsc::UnboundedSender<SimControl>>,
    running: Box<dyn Running>,
    capabilities: DeviceCapabilities,
    /// Connections handed to the session so far.
    accepted: usize,
}

impl Link {
    pub(crate) fn new(
        capabilities: DeviceCapabilities,
        incoming: mpsc::Receiver<Incoming>,
        control: Option<mpsc::UnboundedSender<SimControl>>,
        running: Box<dyn Running>,
    ) -> Link {
        Link {
            incoming,
            failed_handshakes: Default::default(),
            control,
            running,
            capabilities,
            accepted: 0,
        }
    }
}

impl DeviceLink for Link {
    fn capabilities(&self) -> DeviceCapabilities {
        self.capabilities
    }

    /// A device process that exited is an error naming its exit and output. A connection it
    /// made before it exited is taken first: the session then sees the link end, which is
    /// the device's doing.
    fn accept(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> BoxFuture<'_, Option<Result<Accepted, TargetError>>> {
        Box::pin(async move {
            loop {
                match self.incoming.try_recv() {
                    Ok(Ok(x)) => {
                        self.accepted += 1;
                        return Some(Ok(x));
                    }
                    Ok(Err(e)) => {
                        self.failed_handshakes.record(e);
                        continue;
                    }
                    Err(_) => {}
                }
                if let Some(why) = self.running.exited() {
                    let when = if self.accepted == 0 {
                        "without connecting"
                    } else {
                        "after its last connection, without connecting again"
                    };
                    return Some(Err(TargetError::Failed(format!(
                        "the device command exited {when}{why}"
                    ))));
                }
                // Poll the process now and then; otherwise just wait for a connection.
                let step = if self.running.polled() {
                    Duration::from_millis(200)
                } else {
                    Duration::from_secs(3600)
                };
                let until = deadline.min(tokio::time::Instant::now() + step);
                match tokio::time::timeout_at(until, self.incoming.recv()).await {
                    Ok(Some(Ok(x))) => {
                        self.accepted += 1;
                        return Some(Ok(x));
                    }
                    Ok(Some(Err(e))) => self.failed_handshakes.record(e),
                    Ok(None) => return Some(Err(TargetError::failed("the device target stopped"))),
                    Err(_) if tokio::time::Instant::now() >= deadline => return None,
                    Err(_) => continue,
                }
            }
        })
    }

    fn failed_handshakes(&self) -> &crate::engine::target::FailedHandshakes {
        &self.failed_handshakes
    }

    fn waiting(&self) -> usize {
        self.incoming.len()
    }

    /// A stimulus for the reference device; other devices cannot be made to act.
    fn control(&self, action: DeviceAction) -> Result<(), TargetError> {
        if action.name != "check_in" {
            return Err(TargetError::failed(format!(
                "the reference device cannot be made to `{}`",
                action.name
            )));
        }
        let number = |key: &str| {
            action
                .args
                .get(key)
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
        };
        let (pass_type, pass_method) = (number("pass_type"), number("pass_method"));
        let userid = action
            .args
            .get("userid")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string();
        match &self.control {
            Some(tx) => tx
                .send(SimControl::Checkin(Box::new(Checkin {
                    userid,
                    pass_type,
                    pass_method,
                })))
                .map_err(|_| TargetError::failed("the reference device has stopped")),
            None => Err(TargetError::failed(
                "only the reference device can be made to act",
            )),
        }
    }

    fn killed(&mut self) -> BoxFuture<'_, Option<String>> {
        self.running.killed()
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        self.running.stop()
    }
}
