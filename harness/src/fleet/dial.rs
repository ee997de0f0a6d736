//! How a fleet device reaches the cloud: an in-memory pipe into the in-process mock (the
//! mock sees the device's source address as its peer), or TCP from the device's own
//! 127.0.0.0/8 source address. Either way the link runs over an [`OutageIo`], which a storm
//! cuts: the device's side breaks at once, while the cloud's side stays open and silent, as
//! in a real outage, until the cloud lets it go (C8) — which the fleet times.

use super::stats::DeviceWatch;
use crate::targets::mock::MockCloud;
use crate::targets::sim::Dialer;
use crate::wire::transport::{self, BoxIo, Endpoint, TransportError, WsStream};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Bytes each direction of an in-memory link buffers: a socket's worth for this protocol's
/// frames of a few hundred bytes. A larger frame waits for the reader; the buffer keeps
/// the capacity of the largest burst it held, on each side of every link of the fleet.
const PIPE_BYTES: usize = 2 * 1024;

/// Where the fleet's devices connect.
#[derive(Clone)]
pub enum CloudLink {
    InProcess(Arc<MockCloud>),
    /// `spread`: dial from the device's own loopback source address (the cloud is on
    /// loopback); otherwise from the system's choice.
    Url {
        endpoint: Endpoint,
        spread: bool,
    },
}

/// When the storm cuts links, and from which address each device dials before and after.
#[derive(Clone)]
pub struct Addresses {
    pub before: Ipv4Addr,
    pub after: Ipv4Addr,
    /// The storm's instant, if there is one.
    pub storm_at: Option<Instant>,
}

/// The dialer of one fleet device.
pub struct FleetDialer {
    pub cloud: CloudLink,
    pub watch: Arc<DeviceWatch>,
    pub addresses: Addresses,
    /// Longest wait for one dial; a dial cut shorter by the device's own timeout
    /// ([`crate::targets::sim::DIAL_TIMEOUT`]) counts as timed out too.
    pub timeout: Duration,
}

/// Why a dial failed, as a load tester reads it: the cloud refused, nobody answered in
/// time (a full accept queue, a cloud at its file limit that never takes the connection),
/// this process or the host ran out of file descriptors, or anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DialFailure {
    Refused,
    TimedOut,
    FileLimit,
    Other,
}

impl DialFailure {
    /// The name in `fleet.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            DialFailure::Refused => "refused",
            DialFailure::TimedOut => "timed_out",
            DialFailure::FileLimit => "file_limit",
            DialFailure::Other => "other",
        }
    }

    pub fn of(e: &TransportError) -> DialFailure {
        use tokio_tungstenite::tungstenite::Error as WsError;
        let io = match e {
            TransportError::Connect { source, .. } | TransportError::Bind { source, .. } => {
                Some(source)
            }
            TransportError::Handshake { source, .. } => match source.as_ref() {
                WsError::Io(e) => Some(e),
                _ => None,
            },
            _ => None,
        };
        match io {
            Some(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                DialFailure::FileLimit
            }
            Some(e) if e.kind() == io::ErrorKind::ConnectionRefused => DialFailure::Refused,
            Some(e) if e.kind() == io::ErrorKind::TimedOut => DialFailure::TimedOut,
            _ => DialFailure::Other,
        }
    }
}

/// Counts a dial the device gave up on (its own timeout dropped the future) as timed out.
struct Pending(Option<Arc<DeviceWatch>>);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(watch) = self.0.take() {
            watch.dial_failed(DialFailure::TimedOut);
        }
    }
}

/// In-process peers' ports: unique enough for the mock's logs.
static NEXT_PORT: AtomicU16 = AtomicU16::new(1024);

impl Dialer for FleetDialer {
    fn dial(&self) -> BoxFuture<'static, Result<WsStream, TransportError>> {
        let storm_at = self.addresses.storm_at;
        let after_storm = storm_at.is_some_and(|at| Instant::now() >= at);
        let source = if after_storm {
            self.addresses.after
        } else {
            self.addresses.before
        };
        self.watch.set_source(source);
        let cut_at = storm_at.filter(|_| !after_storm);
        let (cloud, watch, limit) = (self.cloud.clone(), self.watch.clone(), self.timeout);
        async move {
            let mut pending = Pending(Some(watch.clone()));
            let dialed = tokio::time::timeout(limit, dial(cloud, source, cut_at, watch.clone()))
                .await
                .unwrap_or_else(|_| {
                    Err(TransportError::Connect {
                        addr: "the cloud".into(),
                        source: io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("dial timed out after {} s", limit.as_secs_f64()),
                        ),
                    })
                });
            pending.0 = None;
            if let Err(e) = &dialed {
                watch.dial_failed(DialFailure::of(e));
            }
            dialed
        }
        .boxed()
    }
}

async fn dial(
    cloud: CloudLink,
    source: Ipv4Addr,
    cut_at: Option<Instant>,
    watch: Arc<DeviceWatch>,
) -> Result<WsStream, TransportError> {
    match cloud {
        CloudLink::InProcess(mock) => {
            let (client, server) = tokio::io::duplex(PIPE_BYTES);
            let port = NEXT_PORT.fetch_add(1, Ordering::Relaxed).max(1024);
            tokio::spawn(mock.serve_connection(server, SocketAddr::new(IpAddr::V4(source), port)));
            let io: BoxIo = Box::new(OutageIo::new(client, cut_at, watch));
            transport::handshake("ws://mock.fleet/", io, None).await
        }
        CloudLink::Url { endpoint, spread } => {
            let addr = endpoint.resolve().await?;
            let tcp = transport::tcp(addr, spread.then_some(IpAddr::V4(source))).await?;
            let _ = tcp.set_nodelay(true);
            let io: BoxIo = Box::new(OutageIo::new(tcp, cut_at, watch));
            transport::handshake(&endpoint.url, io, None).await
        }
    }
}

/// A stream a storm can cut. Before the cut it is the stream itself; from the cut on the
/// device reads a reset and cannot write, and when the device lets go of it the real stream
/// is handed to a watcher that holds it open, silent, until the cloud closes it.
pub struct OutageIo<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    inner: Option<S>,
    cut: Option<Pin<Box<Sleep>>>,
    is_cut: bool,
    last_write: Instant,
    watch: Arc<DeviceWatch>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> OutageIo<S> {
    pub fn new(inner: S, cut_at: Option<Instant>, watch: Arc<DeviceWatch>) -> Self {
        OutageIo {
            inner: Some(inner),
            cut: cut_at.map(|at| Box::pin(tokio::time::sleep_until(at))),
            is_cut: false,
            last_write: Instant::now(),
            watch,
        }
    }

    /// Whether the storm has cut the stream (waking the reader when it does).
    fn poll_cut(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.is_cut {
            if let Some(sleep) = self.cut.as_mut() {
                if sleep.as_mut().poll(cx).is_ready() {
                    self.is_cut = true;
                    self.cut = None;
                    self.watch.hold();
                }
            }
        }
        self.is_cut
    }
}

fn outage() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "network outage (fleet storm)",
    )
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncRead for OutageIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.poll_cut(cx) {
            return Poll::Ready(Err(outage()));
        }
        match self.inner.as_mut() {
            Some(s) => Pin::new(s).poll_read(cx, buf),
            None => Poll::Ready(Err(outage())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncWrite for OutageIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.poll_cut(cx) {
            return Poll::Ready(Err(outage()));
        }
        let this = &mut *self;
        match this.inner.as_mut() {
            Some(s) => {
                let r = Pin::new(s).poll_write(cx, data);
                if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
                    this.last_write = Instant::now();
                }
                r
            }
            None => Poll::Ready(Err(outage())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_cut(cx) {
            return Poll::Ready(Err(outage()));
        }
        match self.inner.as_mut() {
            Some(s) => Pin::new(s).poll_flush(cx),
            None => Poll::Ready(Err(outage())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_cut(cx) {
            return Poll::Ready(Err(outage()));
        }
        match self.inner.as_mut() {
            Some(s) => Pin::new(s).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Drop for OutageIo<S> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        if !self.is_cut {
            return;
        }
        let (watch, last_write) = (self.watch.clone(), self.last_write);
        // Dropped outside a runtime (at process exit) there is nothing left to watch.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(hold(inner, last_write, watch));
        } else {
            watch.unhold(last_write.elapsed(), false);
        }
    }
}

/// Holds a cut link open and silent until the cloud closes it (its close frame is read and
/// dropped), and no longer than the cloud may hold it (a C8 break then).
async fn hold<S: AsyncRead + AsyncWrite + Unpin>(
    mut inner: S,
    last_write: Instant,
    watch: Arc<DeviceWatch>,
) {
    let limit = watch.stats().timings().heartbeat_timeout
        + super::checks::RELEASE_SLACK
        + Duration::from_secs(1);
    let released = tokio::time::timeout_at(last_write + limit, async {
        let mut buf = [0u8; 1024];
        loop {
            match tokio::io::AsyncReadExt::read(&mut inner, &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok();
    watch.unhold(last_write.elapsed(), released);
    let _ = tokio::time::timeout(Duration::from_secs(1), inner.shutdown()).await;
}
