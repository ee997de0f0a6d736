//! One connection from open to end: the frame pump, the lifecycle, and once logged in the
//! heartbeat, the contacts worker, the check-in uploader and push jobs, all in one task so
//! that ending the connection drops every one of them at once.

use super::checkin;
use super::contacts::{self, Change};
use super::device::Device;
use super::heartbeat;
use super::lifecycle::{self, Entry, LifeEnd};
use super::link::{self, Ended, Link, Push, Stop};
use super::pushes::{self, Action};
use super::SimControl;
use crate::wire::transport::WsStream;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// Push jobs allowed at once; more are dropped (a cloud flooding pushes cannot grow memory).
const MAX_JOBS: usize = 64;

/// What every activity of one connection shares.
pub(super) struct Ctx<'a> {
    pub dev: &'a Device,
    pub link: &'a Link<'a>,
    /// `push_bind_corp` arrived (D9).
    pub bind: Notify,
    /// Contact changes were queued.
    pub sync: Notify,
    pub changes: Mutex<VecDeque<Change>>,
    /// Check-ins were recorded.
    pub checkin: Notify,
}

/// How a connection ended, and what the device does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LinkEnd {
    /// The cloud closed it, or it broke: dial again after 1–3 s.
    Lost,
    /// The device decided to reconnect after this delay: it closes the connection first.
    Reconnect(Duration),
    /// The device was switched off ([`SimControl::PowerOff`]): it closes the connection.
    PowerOff,
}

/// An optional running activity; empty slots never complete.
struct Slot<'a, T>(Option<BoxFuture<'a, T>>);

impl<'a, T> Slot<'a, T> {
    fn empty() -> Self {
        Slot(None)
    }
    fn set(&mut self, f: BoxFuture<'a, T>) {
        self.0 = Some(f);
    }
    fn clear(&mut self) {
        self.0 = None;
    }
    fn is_set(&self) -> bool {
        self.0.is_some()
    }
    /// Completes when the activity does (and empties the slot).
    fn next(&mut self) -> SlotNext<'_, 'a, T> {
        SlotNext(self)
    }
}

struct SlotNext<'s, 'a, T>(&'s mut Slot<'a, T>);

impl<T> Future for SlotNext<'_, '_, T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let slot = &mut self.0;
        match slot.0.as_mut() {
            None => Poll::Pending,
            Some(f) => match f.as_mut().poll(cx) {
                Poll::Ready(v) => {
                    slot.0 = None;
                    Poll::Ready(v)
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// What a worker's [`Stop`] means for the connection: `Some` ends it.
fn ends(stop: Stop) -> Option<LinkEnd> {
    match stop {
        Stop::Reconnect(d) => Some(LinkEnd::Reconnect(d)),
        // The pump notices a dead connection by itself; `Never` only idles the worker.
        Stop::Down | Stop::Never => None,
    }
}

/// Runs one connection until it ends. Control messages are served throughout.
pub(super) async fn run_link(
    dev: &Device,
    ws: &mut WsStream,
    control: &mut mpsc::UnboundedReceiver<SimControl>,
    control_open: &mut bool,
) -> LinkEnd {
    if let Some(p) = dev.probe() {
        p.connected();
    }
    let end = serve_link(dev, ws, control, control_open).await;
    if let Some(p) = dev.probe() {
        p.link_ended(end == LinkEnd::Lost);
    }
    end
}

async fn serve_link(
    dev: &Device,
    ws: &mut WsStream,
    control: &mut mpsc::UnboundedReceiver<SimControl>,
    control_open: &mut bool,
) -> LinkEnd {
    let (link, mut out) = Link::new(dev);
    let (push_tx, mut push_rx) = mpsc::channel::<Box<Push>>(link::MAX_QUEUED_PUSHES);
    let ctx = Ctx {
        dev,
        link: &link,
        bind: Notify::new(),
        sync: Notify::new(),
        changes: Mutex::new(VecDeque::new()),
        checkin: Notify::new(),
    };
    let ctx = &ctx;
    let pump = link::drive(ws, &mut out, &link, push_tx);
    tokio::pin!(pump);
    let mut life: Slot<'_, LifeEnd> = Slot::empty();
    life.set(lifecycle::run(ctx, Entry::Connect).boxed());
    let mut heartbeat: Slot<'_, Duration> = Slot::empty();
    let mut contacts_worker: Slot<'_, Stop> = Slot::empty();
    let mut checkin_worker: Slot<'_, Stop> = Slot::empty();
    let mut jobs: FuturesUnordered<pushes::Job<'_>> = FuturesUnordered::new();
    let mut logged_in = false;
    dev.log("connected");

    loop {
        tokio::select! {
            biased;
            ended = &mut pump => {
                match ended {
                    Ended::ClosedByCloud => dev.log("connection closed by the cloud"),
                    Ended::Broken(why) => dev.log(format!("connection lost: {why}")),
                }
                return LinkEnd::Lost;
            }
            end = life.next() => match end {
                LifeEnd::LoggedIn => {
                    logged_in = true;
                    if let Some(p) = dev.probe() {
                        p.logged_in();
                    }
                    if !heartbeat.is_set() {
                        heartbeat.set(heartbeat::run(ctx).boxed());
                    }
                    if dev.syncs_contacts() {
                        contacts_worker.set(contacts::run(ctx).boxed());
                    }
                    checkin_worker.set(checkin::run(ctx).boxed());
                }
                LifeEnd::Idle | LifeEnd::Down => {}
                LifeEnd::Reconnect(d) => return LinkEnd::Reconnect(d),
            },
            d = heartbeat.next() => return LinkEnd::Reconnect(d),
            stop = contacts_worker.next() => if let Some(end) = ends(stop) { return end },
            stop = checkin_worker.next() => if let Some(end) = ends(stop) { return end },
            Some(result) = jobs.next(), if !jobs.is_empty() => {
                if let Err(stop) = result {
                    if let Some(end) = ends(stop) {
                        return end;
                    }
                }
            }
            push = push_rx.recv() => {
                let Some(push) = push else { continue };
                match pushes::handle(ctx, *push) {
                    Action::Nothing => {}
                    Action::Bind => {
                        if life.is_set() {
                            ctx.bind.notify_one();
                        } else if !logged_in {
                            life.set(lifecycle::run(ctx, Entry::Activation).boxed());
                        }
                    }
                    Action::Unbind => {
                        dev.log("unbound from the corp: secret and local data dropped, re-activating");
                        dev.store().deauthorize();
                        logged_in = false;
                        contacts_worker.clear();
                        checkin_worker.clear();
                        life.set(lifecycle::run(ctx, Entry::Activation).boxed());
                    }
                    Action::ContactsChanged => ctx.sync.notify_one(),
                    Action::Job(job) => {
                        if jobs.len() < MAX_JOBS {
                            jobs.push(job);
                        } else {
                            tracing::warn!(sn = %dev.sn(), "too many push jobs at once; push dropped");
                        }
                    }
                }
            }
            msg = control.recv(), if *control_open => match msg {
                Some(SimControl::PowerOff) => return LinkEnd::PowerOff,
                Some(msg) => {
                    if on_control(dev, msg) {
                        ctx.checkin.notify_one();
                    }
                }
                None => *control_open = false,
            },
        }
    }
}

/// Serves one control message; returns whether a check-in was recorded.
pub(super) fn on_control(dev: &Device, msg: SimControl) -> bool {
    match msg {
        SimControl::Checkin(c) => checkin::recognise(dev, &c.userid, c.pass_type, c.pass_method),
        SimControl::CheckinKnown => {
            let userid = dev.pick_contact();
            userid.is_some_and(|u| checkin::recognise(dev, &u, Some(checkin::PASS_IN), None))
        }
        // Handled where the device waits; switching off is no check-in.
        SimControl::PowerOff => false,
    }
}
