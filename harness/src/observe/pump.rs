//! The two pumps of a link, each forwarding what one party sends as it comes (one frame in
//! flight per direction: a party that stops reading holds the other back through TCP,
//! nothing piles up here), applying the connection's faults; and the link's timers.

use super::fault::{Action, FrameView};
use super::link::{lock, sn_of, End, Link, Peer, Seen};
use crate::engine::transcript::Party;
use crate::wire::transport::WsStream;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// Bound on writing one frame: a party that reads nothing for this long has its link reset.
const WRITE_BOUND: Duration = Duration::from_secs(10);
/// How often time-based rules (heartbeat gaps, kicks) are looked at between frames.
const TICK: Duration = Duration::from_secs(1);

pub(super) type Sink = SplitSink<WsStream, Message>;
pub(super) type Source = SplitStream<WsStream>;

/// Forwards what `from` sends until the link ends.
pub(super) async fn pump(link: &Link, from: Peer, rx: &mut Source, tx: &mut Sink) {
    let mut ended = link.end.subscribe();
    let (own, other) = (link.view(from), link.view(from.other()));
    loop {
        let msg = tokio::select! {
            _ = ended.wait_for(Option::is_some) => return,
            m = rx.next() => m,
        };
        let msg = match msg {
            None => {
                link.finish(End::Broken(from, "ended the link without a close".into()));
                return;
            }
            Some(Err(e)) => {
                link.finish(End::Broken(from, format!("link failed: {e}")));
                return;
            }
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame
                    .as_ref()
                    .map(|f| (Some(u16::from(f.code)), f.reason.to_string()))
                    .unwrap_or((None, String::new()));
                link.record_closed(from, Party::Target, code, &reason);
                // Passed on as it came: the other party sees the same code and reason.
                let _ = tokio::time::timeout(WRITE_BOUND, tx.send(Message::Close(frame))).await;
                link.record_closed(from.other(), Party::Harness, code, &reason);
                link.finish(End::Closed);
                return;
            }
            // Each hop answers its own WebSocket pings (the protocol's heartbeat is a frame).
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(m)) => m,
        };
        let json = match &msg {
            Message::Text(t) => serde_json::from_str::<Value>(t.as_str()).ok().map(Arc::new),
            _ => None,
        };
        own.spoke.store(true, Ordering::SeqCst);
        link.record(own, &msg, &json, false);
        let profile = &*link.ctx.profile;
        let (asked_here, asked_there) = match from {
            Peer::Device => (&link.asked_by_device, &link.asked_by_cloud),
            Peer::Cloud => (&link.asked_by_cloud, &link.asked_by_device),
        };
        let fault = match &json {
            Some(v) => {
                if from == Peer::Device {
                    if let Some(sn) = sn_of(v) {
                        lock(&link.sn).get_or_insert_with(|| sn.to_string());
                        if link.by_sn.get().is_none() {
                            let ctx = &link.ctx;
                            if let Some(views) = ctx.by_sn.join(
                                sn,
                                &link.conn,
                                link.n,
                                &ctx.profile,
                                &ctx.on_finding,
                                ctx.transcript_cap,
                            ) {
                                let _ = link.by_sn.set(views);
                            }
                        }
                    }
                }
                lock(asked_here).note(profile, v);
                let there = lock(asked_there);
                let view = FrameView {
                    cmd: profile.command(v),
                    reply_to: there.answered(profile, v),
                };
                if from == Peer::Cloud {
                    judge_address_change(link, v, view.reply_to);
                }
                if let Some(tap) = &link.ctx.tap {
                    let seen = Seen {
                        link: link.n,
                        from,
                        cmd: view.cmd.map(str::to_string),
                        reply_to: view.reply_to.map(str::to_string),
                        frame: json.clone(),
                        at: Instant::now(),
                    };
                    if tap.tx.try_send(seen).is_err() && !tap.tx.is_closed() {
                        tap.overflowed.store(true, Ordering::SeqCst);
                    }
                }
                link.take_fault(from.toward(), &view)
            }
            None => link.take_fault(
                from.toward(),
                &FrameView {
                    cmd: None,
                    reply_to: None,
                },
            ),
        };
        let copies = match fault {
            None => 1,
            Some(f) => {
                let what = format!("observe fault {}: ", f.spec);
                match f.action {
                    Action::Drop => {
                        link.note(&format!(
                            "{what}dropped the frame going {}",
                            f.toward.name()
                        ));
                        0
                    }
                    Action::Dup => {
                        link.note(&format!(
                            "{what}duplicated the frame going {}",
                            f.toward.name()
                        ));
                        2
                    }
                    Action::Delay(d) => {
                        link.note(&format!(
                            "{what}holding the frame going {} for {} ms",
                            f.toward.name(),
                            d.as_millis()
                        ));
                        tokio::select! {
                            _ = ended.wait_for(Option::is_some) => return,
                            _ = tokio::time::sleep(d) => 1,
                        }
                    }
                    Action::Reset => {
                        link.note(&format!(
                            "{what}reset the link instead of forwarding the frame going {}",
                            f.toward.name()
                        ));
                        link.finish(End::Reset(f.spec));
                        return;
                    }
                    Action::HalfOpen => {
                        link.note(&format!(
                            "{what}half-open: nothing more goes {}, the {} is no longer read, and no link is closed",
                            f.toward.name(),
                            from.name()
                        ));
                        // Neither read nor closed: its frames wait in TCP, as behind a dead
                        // NAT, until the link ends some other way.
                        let _ = ended.wait_for(Option::is_some).await;
                        return;
                    }
                    Action::NewAddress => {
                        link.note(&format!(
                            "{what}the device's address changes: its link is reset, the cloud's is kept open and silent, and its next connection comes from another source address"
                        ));
                        link.finish(End::NewAddress(f.spec));
                        return;
                    }
                }
            }
        };
        for _ in 0..copies {
            let why = match tokio::time::timeout(WRITE_BOUND, tx.send(msg.clone())).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("link failed: {e}")),
                Err(_) => Some(format!("took no frame for {} s", WRITE_BOUND.as_secs())),
            };
            if let Some(why) = why {
                link.finish(End::Broken(from.other(), why));
                return;
            }
            link.ctx.forwarded.fetch_add(1, Ordering::Relaxed);
            link.record(other, &msg, &json, true);
        }
    }
}

/// Rules about time passing, between frames.
pub(super) async fn ticker(link: &Link) {
    let mut ended = link.end.subscribe();
    loop {
        tokio::select! {
            _ = ended.wait_for(Option::is_some) => return,
            _ = tokio::time::sleep(TICK) => {
                link.sweep(&link.device, false);
                link.sweep(&link.cloud, false);
                if let Some(sn) = link.by_sn.get() {
                    sn.sweep(false);
                }
            }
        }
    }
}

/// The observer stopping ends the link.
pub(super) async fn stopping(link: &Link, mut stop: watch::Receiver<bool>) {
    let mut ended = link.end.subscribe();
    tokio::select! {
        _ = ended.wait_for(Option::is_some) => {}
        _ = stop.wait_for(|s| *s) => link.finish(End::Shutdown),
    }
}

/// A link made after the device moved: the cloud's answer to its login is judged by the
/// profile's address-change rule while the old link (held open, silent) may still be live.
fn judge_address_change(link: &Link, reply: &Value, reply_to: Option<&str>) {
    let (Some(moved), Some(rule)) = (&link.moved, link.ctx.profile.address_change_rule()) else {
        return;
    };
    if reply_to != Some(rule.command) {
        return;
    }
    // Only the device that moved: its SN is the held link's (when that link said it).
    let sn = lock(&link.sn).clone();
    if moved.sn.is_some() && moved.sn != sn {
        return;
    }
    if let Some(verdict) = rule.judge(reply, moved.since.elapsed()) {
        link.judged(&link.cloud, verdict, rule.rule);
    }
}
