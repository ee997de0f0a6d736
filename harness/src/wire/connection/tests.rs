//! The connection's reader, writer, close and faults against a real in-memory link.

use super::*;
use crate::wire::transport::{self, BoxIo};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio_tungstenite::MaybeTlsStream;

struct NoLog;
impl WireLog for NoLog {
    fn log(&self, _: LinkEvent<'_>) {}
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// A link the harness serves on loopback and a raw client socket for it.
async fn served_link() -> (Connection, tokio::net::TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(async move { tokio::net::TcpStream::connect(addr).await.unwrap() });
    let (server, _) = listener.accept().await.unwrap();
    let io: BoxIo = Box::new(server);
    let mut client = client.await.unwrap();
    // The client side of the handshake, by hand: the test reads raw bytes afterwards.
    let req = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    let accept = tokio_tungstenite::accept_async_with_config(
        MaybeTlsStream::Plain(io),
        Some(transport::ws_config()),
    );
    let (ws, ()) = tokio::join!(async { accept.await.unwrap() }, async {
        tokio::io::AsyncWriteExt::write_all(&mut client, req.as_bytes())
            .await
            .unwrap();
    });
    let mut head = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            client.read_exact(&mut b).await.unwrap();
            head.push(b[0]);
        }
    })
    .await
    .expect("the handshake answer within 5 s");
    (
        Connection::open("dut", "dev", addr.to_string(), ws, NoLog, None),
        client,
    )
}

/// A masked client close frame with code 1000.
const CLOSE_1000: [u8; 8] = [0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2];

#[tokio::test]
async fn the_harness_closes_tcp_promptly_after_the_peer_closes() {
    let (conn, mut client) = served_link().await;
    tokio::io::AsyncWriteExt::write_all(&mut client, &CLOSE_1000)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut echoed = Vec::new();
    let eof = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 64];
        loop {
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => echoed.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    // The session still holds the connection: the socket must be let go all the same.
    assert!(eof.is_ok(), "no EOF within 5 s of the close frame");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "EOF after {:?}",
        started.elapsed()
    );
    assert_eq!(
        echoed.first(),
        Some(&0x88),
        "the close was echoed before the TCP close: {echoed:?}"
    );
    drop(conn);
}

/// Keeps the fault notes a connection logs.
#[derive(Clone, Default)]
struct Notes(Arc<Mutex<Vec<String>>>);
impl WireLog for Notes {
    fn log(&self, e: LinkEvent<'_>) {
        let line = match e {
            LinkEvent::Fault { text, .. } => text.to_string(),
            LinkEvent::Text { text, sent, .. } => {
                format!("{} {text}", if sent { "sent" } else { "received" })
            }
            LinkEvent::Closed { by, reason, .. } => format!("closed by {by:?}: {reason}"),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}
impl Notes {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

type Peer = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A harness connection (server side, over real TCP) and the target's end of it.
async fn link_with_peer(notes: &Notes) -> (Connection, Peer) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let peer = tokio::spawn(async move {
        let tcp =
            tokio::net::TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches('/'))
                .await
                .unwrap();
        tokio_tungstenite::client_async(url, tcp).await.unwrap().0
    });
    let (server, _) = listener.accept().await.unwrap();
    let io: BoxIo = Box::new(server);
    let ws = tokio_tungstenite::accept_async_with_config(
        MaybeTlsStream::Plain(io),
        Some(transport::ws_config()),
    )
    .await
    .unwrap();
    (
        Connection::open("a", "dev", String::new(), ws, notes.clone(), None),
        peer.await.unwrap(),
    )
}

struct Containing(&'static str);
impl crate::wire::fault::FrameFilter for Containing {
    fn matches(&self, msg: &Message) -> bool {
        msg.to_text().is_ok_and(|t| t.contains(self.0))
    }
}

fn fault(direction: Direction, action: FrameAction, filter: Option<&'static str>) -> FrameFault {
    let filter =
        filter.map(|f| Arc::new(Containing(f)) as Arc<dyn crate::wire::fault::FrameFilter>);
    FrameFault {
        direction,
        action,
        filter,
        count: 1,
        label: "the reply to `x`".into(),
    }
}

fn soon() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(5)
}

fn text(i: Option<Inbound>) -> String {
    match i.map(|i| i.item) {
        Some(Item::Text(t, _)) => t.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

async fn peer_text(peer: &mut Peer) -> String {
    match tokio::time::timeout(Duration::from_secs(5), peer.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
        other => panic!("expected a text frame at the peer, got {other:?}"),
    }
}

/// A frame over the limit ends the link with the documented 1009 close (the peer learns
/// why) and the steps see why, not a reset.
#[tokio::test]
async fn an_oversized_frame_gets_the_1009_close() {
    let notes = Notes::default();
    let (mut conn, mut peer) = link_with_peer(&notes).await;
    // The peer's own limit must not stop it from sending.
    let big = "x".repeat(transport::MAX_FRAME_BYTES + 1024);
    let _ = peer.send(Message::text(big)).await;
    let end = conn.next(soon()).await.expect("the link ends");
    assert!(
        matches!(&end.item, Item::Broken { reason, by_harness: true } if reason.contains("over the 4 MiB limit")),
        "{end:?}"
    );
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), peer.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a close frame at the peer, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1009));
}

#[tokio::test]
async fn a_dropped_inbound_frame_is_recorded_but_never_reaches_the_steps() {
    let notes = Notes::default();
    let (mut conn, mut peer) = link_with_peer(&notes).await;
    conn.arm(fault(Direction::Inbound, FrameAction::Drop, Some("reg")));
    peer.send(Message::text("ping-1")).await.unwrap();
    peer.send(Message::text("reg-reply")).await.unwrap();
    peer.send(Message::text("reg-reply-2")).await.unwrap();
    assert_eq!(
        text(conn.next(soon()).await),
        "ping-1",
        "frames the filter does not take pass"
    );
    assert_eq!(
        text(conn.next(soon()).await),
        "reg-reply-2",
        "one frame taken, then spent"
    );
    let lines = notes.lines();
    let at = lines
        .iter()
        .position(|l| l == "received reg-reply")
        .expect("the dropped frame is in the transcript");
    assert!(
        lines[at + 1].contains("dropped the inbound frame (the reply to `x`)"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_dropped_outbound_frame_never_reaches_the_socket() {
    let notes = Notes::default();
    let (mut conn, mut peer) = link_with_peer(&notes).await;
    conn.arm(fault(Direction::Outbound, FrameAction::Drop, None));
    conn.send(Message::text("first")).await.unwrap();
    conn.send(Message::text("second")).await.unwrap();
    assert_eq!(peer_text(&mut peer).await, "second");
    let lines = notes.lines();
    assert!(!lines.contains(&"sent first".to_string()), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("dropped the outbound frame")
                && l.contains("never reached the socket")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_delayed_frame_arrives_after_the_delay_in_order() {
    let notes = Notes::default();
    let (mut conn, mut peer) = link_with_peer(&notes).await;
    conn.arm(fault(
        Direction::Inbound,
        FrameAction::Delay(Duration::from_millis(300)),
        None,
    ));
    let started = std::time::Instant::now();
    peer.send(Message::text("slow")).await.unwrap();
    peer.send(Message::text("behind")).await.unwrap();
    assert_eq!(text(conn.next(soon()).await), "slow");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "after {:?}",
        started.elapsed()
    );
    assert_eq!(text(conn.next(soon()).await), "behind");
    conn.arm(fault(
        Direction::Outbound,
        FrameAction::Delay(Duration::from_millis(200)),
        None,
    ));
    let started = std::time::Instant::now();
    conn.send(Message::text("late")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(peer_text(&mut peer).await, "late");
    assert!(notes
        .lines()
        .iter()
        .any(|l| l.contains("holding the inbound frame") && l.contains("300ms")));
}

#[tokio::test]
async fn a_duplicated_frame_is_seen_twice_either_way() {
    let notes = Notes::default();
    let (mut conn, mut peer) = link_with_peer(&notes).await;
    conn.arm(fault(Direction::Inbound, FrameAction::Duplicate, None));
    conn.arm(fault(Direction::Outbound, FrameAction::Duplicate, None));
    peer.send(Message::text("once")).await.unwrap();
    peer.send(Message::text("next")).await.unwrap();
    assert_eq!(text(conn.next(soon()).await), "once");
    assert_eq!(text(conn.next(soon()).await), "once");
    assert_eq!(text(conn.next(soon()).await), "next");
    conn.send(Message::text("twice")).await.unwrap();
    conn.send(Message::text("after")).await.unwrap();
    assert_eq!(peer_text(&mut peer).await, "twice");
    assert_eq!(peer_text(&mut peer).await, "twice");
    assert_eq!(peer_text(&mut peer).await, "after");
    assert_eq!(
        notes
            .lines()
            .iter()
            .filter(|l| l.as_str() == "sent twice")
            .count(),
        2,
        "both copies are recorded as sent"
    );
}

#[tokio::test]
async fn half_open_stops_reading_but_keeps_the_socket() {
    let notes = Notes::default();
    let (mut conn, mut peer) = link_with_peer(&notes).await;
    conn.half_open();
    tokio::time::sleep(Duration::from_millis(50)).await;
    peer.send(Message::text("unread")).await.unwrap();
    let quiet = tokio::time::Instant::now() + Duration::from_millis(300);
    assert!(
        conn.next(quiet).await.is_none(),
        "nothing is read while half-open"
    );
    assert!(conn.ended().is_none(), "the link has not ended");
    // The target sees no close: its end stays open and the harness can still write.
    conn.send(Message::text("still here")).await.unwrap();
    assert_eq!(peer_text(&mut peer).await, "still here");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), peer.next())
            .await
            .is_err(),
        "no close, no EOF"
    );
    assert!(notes.lines().iter().any(|l| l.contains("half-open")));
    // Closing a half-open link does not wait for an echo it would never read.
    let started = std::time::Instant::now();
    conn.close(1000, "").await;
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn reset_drops_the_socket_without_a_close_frame() {
    let notes = Notes::default();
    let (mut conn, mut peer) = link_with_peer(&notes).await;
    conn.reset().await;
    let end = tokio::time::timeout(Duration::from_secs(1), peer.next())
        .await
        .expect("the target sees the link end within 1 s");
    assert!(
        matches!(&end, Some(Err(tokio_tungstenite::tungstenite::Error::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "over TCP the target sees a reset, no close frame: {end:?}"
    );
    assert!(conn.ended().is_some());
    assert!(conn.send(Message::text("x")).await.is_err());
    let lines = notes.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("reset") && l.contains("a TCP reset")),
        "{lines:?}"
    );
    let closes = lines.iter().filter(|l| l.starts_with("closed by")).count();
    conn.close(1000, "").await;
    assert_eq!(closes, 1, "the reset is the link's one end: {lines:?}");
}

#[tokio::test]
async fn a_half_open_link_can_still_be_reset() {
    let notes = Notes::default();
    let (mut conn, mut peer) = link_with_peer(&notes).await;
    conn.half_open();
    tokio::time::sleep(Duration::from_millis(50)).await;
    conn.reset().await;
    let end = tokio::time::timeout(Duration::from_secs(1), peer.next())
        .await
        .expect("the link ends within 1 s");
    assert!(matches!(end, Some(Err(_))), "a reset: {end:?}");
}

/// The harness as a WebSocket client (as against a cloud): a server that echoes the close.
async fn client_link(
    echo_close: bool,
    ping_first: bool,
) -> (Connection, tokio::task::JoinHandle<Vec<Message>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        if ping_first {
            ws.send(Message::Ping(b"hb".to_vec().into())).await.unwrap();
        }
        let mut seen = Vec::new();
        if !echo_close {
            // Reads until the close frame, then holds the socket without answering.
            let mut raw = ws.into_inner();
            let mut buf = [0u8; 256];
            while let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf)).await
            {
                if n == 0 || buf[..n].contains(&0x88) {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
            return seen;
        }
        while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await
        {
            let close = msg.is_close();
            seen.push(msg);
            if close {
                break;
            }
        }
        seen
    });
    let tcp = transport::tcp(addr, None).await.unwrap();
    let ws = transport::handshake(&format!("ws://{addr}/"), Box::new(tcp), None)
        .await
        .unwrap();
    (
        Connection::open("a", "dev", String::new(), ws, NoLog, None),
        server,
    )
}

#[tokio::test]
async fn as_a_client_the_harness_sends_its_close_and_answers_pings() {
    let (conn, server) = client_link(true, true).await;
    // Give the reader time to see the ping (its pong goes out on the next read).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    conn.close(1000, "bye").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the server's echo ends the wait: {:?}",
        started.elapsed()
    );
    let seen = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(seen.first(), Some(Message::Pong(p)) if &p[..] == b"hb"),
        "the ping was answered: {seen:?}"
    );
    match seen.last() {
        Some(Message::Close(Some(f))) => {
            assert_eq!((u16::from(f.code), f.reason.as_str()), (1000, "bye"))
        }
        other => panic!("expected the harness's close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn as_a_client_the_harness_waits_a_bounded_time_for_a_server_that_never_echoes() {
    let (conn, _server) = client_link(false, false).await;
    let started = std::time::Instant::now();
    conn.close(1000, "").await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "the wait for the echo is bounded: {took:?}"
    );
}

#[tokio::test]
async fn a_send_after_the_link_ended_fails_with_a_reason() {
    let (mut conn, mut client) = served_link().await;
    tokio::io::AsyncWriteExt::write_all(&mut client, &CLOSE_1000)
        .await
        .unwrap();
    let end = conn
        .next(tokio::time::Instant::now() + Duration::from_secs(5))
        .await
        .expect("the close");
    assert!(end.is_end());
    let err = conn.send(Message::text("{}")).await.unwrap_err();
    assert!(
        matches!(err, SendError::Ended | SendError::Failed(_)),
        "{err}"
    );
}
