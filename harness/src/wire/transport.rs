//! Transports: a WebSocket over anything that reads and writes — an in-memory duplex pipe to
//! an in-process target, or TCP (with TLS for `wss://`) bound to a chosen source address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// A byte stream the WebSocket runs over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {
    /// The stream as its concrete type, so a TCP socket can be told to reset on close.
    fn as_any(&self) -> &dyn std::any::Any;
}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub type BoxIo = Box<dyn Io>;

/// Makes dropping the stream reset its TCP connection (an RST, `SO_LINGER` 0) instead of
/// closing it; `false` when it runs over no TCP socket (an in-memory pipe just ends).
pub fn reset_on_drop(io: &MaybeTlsStream<BoxIo>) -> bool {
    let inner: &BoxIo = match io {
        MaybeTlsStream::Plain(io) => io,
        MaybeTlsStream::Rustls(tls) => tls.get_ref().0,
        _ => return false,
    };
    (**inner)
        .as_any()
        .downcast_ref::<tokio::net::TcpStream>()
        .is_some_and(|tcp| tcp.set_zero_linger().is_ok())
}
pub type WsStream = WebSocketStream<MaybeTlsStream<BoxIo>>;

/// The largest frame the harness accepts from a target: bigger ones end the connection with
/// an error the session reports, instead of growing memory without bound.
pub const MAX_FRAME_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot bind source address {addr}: {source}")]
    Bind {
        addr: IpAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("websocket handshake with {url} failed: {source}")]
    Handshake {
        url: String,
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The server answered the upgrade with a plain HTTP response: most often a web server or
    /// a path that is not the WebSocket endpoint.
    #[error("websocket handshake with {url} failed: {source} (the server answered with plain HTTP instead of switching to WebSocket: is this the WebSocket endpoint?)")]
    NotUpgraded {
        url: String,
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    #[error("TLS handshake with {url} failed: {source} (a server without TLS wants ws://; a self-signed or test certificate? `--insecure` accepts any)")]
    Tls {
        url: String,
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    #[error("invalid url {url}: {reason}")]
    Url { url: String, reason: String },
}

impl TransportError {
    /// The server refused the handshake with an HTTP status: the status and the value of
    /// `header` in its answer.
    pub fn refused(&self, header: &str) -> Option<(u16, Option<String>)> {
        let TransportError::NotUpgraded { source, .. } = self else {
            return None;
        };
        let tokio_tungstenite::tungstenite::Error::Http(response) = source.as_ref() else {
            return None;
        };
        Some((
            response.status().as_u16(),
            response
                .headers()
                .get(header)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        ))
    }
}

/// Bytes tungstenite reads from the socket at a time, allocated per connection up front
/// (on a client, the handshake's 4 KiB buffer is kept instead). Its default (128 KiB) cost
/// the mock ~134 KiB per idle link. This protocol's requests, replies and pushes are a few
/// hundred bytes, so one 1 KiB read takes a whole frame; a larger one (a contacts page) is
/// still read whole, since tungstenite then reserves room for the length its header
/// announces. Every link a fleet holds in the mock pays this buffer.
pub const READ_BUFFER_BYTES: usize = 1024;

/// Bytes queued before a write goes to the socket. Frames here are small and each one is
/// awaited, so batching buys nothing; the buffer grows only while a frame is being written.
pub const WRITE_BUFFER_BYTES: usize = 4 * 1024;

/// The largest frame the harness itself sends: oversized-frame tests send up to this much
/// on purpose, so the outbound bound must let such a frame through.
pub const MAX_SENT_FRAME_BYTES: usize = 64 << 20;

/// Connections the kernel queues for a listener before it accepts them (capped by
/// `net.core.somaxconn`). A fleet reconnecting after an outage arrives at once; with
/// tokio's default of 1,024, a full queue drops SYNs and those devices wait out a
/// retransmit (1 s, then 3 s), which is the harness's delay, not the cloud's.
pub const ACCEPT_BACKLOG: u32 = 8192;

/// A TCP listener on `addr` with [`ACCEPT_BACKLOG`] (and `SO_REUSEADDR`, as
/// `TcpListener::bind` sets it, so a restarted server gets its port back at once).
pub fn listen_tcp(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    listen_tcp_shared(addr, false)
}

/// [`listen_tcp`], with `SO_REUSEPORT` when `shared`: several processes listen on one
/// port and the kernel spreads the connections over them.
pub fn listen_tcp_shared(
    addr: std::net::SocketAddr,
    shared: bool,
) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if shared {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// The WebSocket settings for the harness's own links (client and server side).
pub fn ws_config() -> WebSocketConfig {
    ws_config_for(MAX_FRAME_BYTES, MAX_SENT_FRAME_BYTES)
}

/// The WebSocket settings for a link that accepts frames up to `max_in` bytes and sends
/// frames up to `max_out`: small per-connection buffers, and an outbound buffer bounded to
/// one frame beyond the batching size, so a peer that stops reading makes writes fail
/// instead of growing memory.
pub fn ws_config_for(max_in: usize, max_out: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(WRITE_BUFFER_BYTES + max_out + 1024)
        .max_message_size(Some(max_in))
        .max_frame_size(Some(max_in))
}

/// Runs the client handshake over `io`. TLS is used when the URL is `wss://`.
pub async fn handshake(
    url: &str,
    io: BoxIo,
    connector: Option<Connector>,
) -> Result<WsStream, TransportError> {
    handshake_with_headers(url, &[], io, connector).await
}

/// [`handshake`] with extra request headers (a control plane's credential).
pub async fn handshake_with_headers(
    url: &str,
    headers: &[(&'static str, String)],
    io: BoxIo,
    connector: Option<Connector>,
) -> Result<WsStream, TransportError> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    use tokio_tungstenite::tungstenite::Error as WsError;
    // rustls reports a bad certificate or a peer that does not speak TLS as invalid data on
    // the stream, before any HTTP is read; a plain server that gives up on the ClientHello
    // (an HTTP parser that closes) shows as the end of the stream in the TLS handshake.
    let tls = url.starts_with("wss://");
    let in_tls = |io: &std::io::Error| {
        matches!(
            io.kind(),
            std::io::ErrorKind::InvalidData
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
        )
    };
    let failed = |e: WsError| match e {
        WsError::Tls(_) => TransportError::Tls {
            url: url.to_string(),
            source: Box::new(e),
        },
        WsError::Io(ref io) if tls && in_tls(io) => TransportError::Tls {
            url: url.to_string(),
            source: Box::new(e),
        },
        WsError::Http(_) => TransportError::NotUpgraded {
            url: url.to_string(),
            source: Box::new(e),
        },
        e => TransportError::Handshake {
            url: url.to_string(),
            source: Box::new(e),
        },
    };
    let mut request = url.into_client_request().map_err(failed)?;
    for (name, value) in headers {
        let value = HeaderValue::from_str(value)
            .map_err(|e| failed(tokio_tungstenite::tungstenite::Error::HttpFormat(e.into())))?;
        request.headers_mut().insert(*name, value);
    }
    let (ws, _response) =
        tokio_tungstenite::client_async_tls_with_config(request, io, Some(ws_config()), connector)
            .await
            .map_err(failed)?;
    Ok(ws)
}

/// Opens TCP to `remote`, from `local` when given (any 127.0.0.0/8 address works on Linux),
/// with `TCP_NODELAY`: every frame is one awaited write, so Nagle's algorithm could only hold
/// a frame back waiting for an ACK, never batch anything.
pub async fn tcp(
    remote: SocketAddr,
    local: Option<IpAddr>,
) -> Result<tokio::net::TcpStream, TransportError> {
    let socket = if remote.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|e| TransportError::Connect {
        addr: remote.to_string(),
        source: e,
    })?;
    if let Some(ip) = local {
        socket
            .bind(SocketAddr::new(ip, 0))
            .map_err(|e| TransportError::Bind {
                addr: ip,
                source: e,
            })?;
    }
    let tcp = socket
        .connect(remote)
        .await
        .map_err(|e| TransportError::Connect {
            addr: remote.to_string(),
            source: e,
        })?;
    // Best effort: a socket that refuses the option still carries the frames.
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// The parts of a `ws://` / `wss://` URL the transport needs.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub url: String,
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, TransportError> {
        let bad = |reason: &str| TransportError::Url {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let (tls, rest) = if let Some(r) = url.strip_prefix("wss://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("ws://") {
            (false, r)
        } else {
            return Err(bad("expected ws:// or wss://"));
        };
        let authority = rest.split('/').next().unwrap_or("");
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
            let (h, after) = stripped.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            (h.to_string(), after.strip_prefix(':').map(str::to_string))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p.to_string())),
                None => (authority.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("port is not a number"))?,
            None if tls => 443,
            None => 80,
        };
        Ok(Endpoint {
            url: url.to_string(),
            host,
            port,
            tls,
        })
    }

    /// Resolves the host; the first address wins.
    pub async fn resolve(&self) -> Result<SocketAddr, TransportError> {
        let lookup = tokio::net::lookup_host((self.host.as_str(), self.port));
        let mut addrs = tokio::time::timeout(std::time::Duration::from_secs(10), lookup)
            .await
            .map_err(|_| TransportError::Resolve {
                host: self.host.clone(),
                reason: "no answer within 10s".into(),
            })?
            .map_err(|e| TransportError::Resolve {
                host: self.host.clone(),
                reason: e.to_string(),
            })?;
        addrs.next().ok_or_else(|| TransportError::Resolve {
            host: self.host.clone(),
            reason: "no address".into(),
        })
    }
}

/// A TLS connector that accepts any certificate: only with `--insecure`.
pub fn insecure_connector() -> Connector {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    struct AcceptAll(Arc<rustls::crypto::CryptoProvider>);
    impl ServerCertVerifier for AcceptAll {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAll(provider)))
        .with_no_client_auth();
    Connector::Rustls(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// A server that is not speaking TLS where `wss://` expects it: the failure says TLS, and
    /// how to accept a test certificate.
    #[tokio::test]
    async fn a_tls_failure_points_to_insecure() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            // One plain server answers the ClientHello with HTTP, the next just hangs up.
            let (mut s, _) = listener.accept().await.unwrap();
            let _ = s.write_all(b"HTTP/1.1 400 not tls\r\n\r\n").await;
            let (mut s, _) = listener.accept().await.unwrap();
            let mut hello = [0u8; 512];
            let _ = tokio::io::AsyncReadExt::read(&mut s, &mut hello).await;
        });
        for _ in 0..2 {
            let tcp = tcp(addr, None).await.unwrap();
            let Err(err) = handshake(&format!("wss://{addr}/"), Box::new(tcp), None).await else {
                panic!("a TLS handshake with a plain server succeeded")
            };
            assert!(matches!(err, TransportError::Tls { .. }), "{err:?}");
            assert!(
                err.to_string().contains("`--insecure` accepts any"),
                "{err}"
            );
        }
    }

    #[rstest]
    #[case("ws://127.0.0.1:8080", Some(("127.0.0.1", 8080, false)))]
    #[case("wss://openhw.work.weixin.qq.com/websocket", Some(("openhw.work.weixin.qq.com", 443, true)))]
    #[case("ws://[::1]:9/x", Some(("::1", 9, false)))]
    #[case("ws://host", Some(("host", 80, false)))]
    #[case("http://host", None)]
    #[case("ws://", None)]
    #[case("ws://h:port", None)]
    fn endpoints(#[case] url: &str, #[case] want: Option<(&str, u16, bool)>) {
        let got = Endpoint::parse(url).ok().map(|e| (e.host, e.port, e.tls));
        assert_eq!(got, want.map(|(h, p, t)| (h.to_string(), p, t)));
    }
}
