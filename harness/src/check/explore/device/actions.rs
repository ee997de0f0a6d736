//! What the harness, playing the cloud, may do to a device: answer its next request in some
//! way, or — while the device is idle — push, wait, close or make it act. The model
//! ([`super::DeviceModel`]) consumes an `Answer` where a request waits for one (answering
//! with success when the next action is not an answer) and an `Idle` action where nothing
//! is outstanding, so any sequence, and any shrunk one, is a conversation.

use super::DeviceSetup;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};

/// Retry advice in an error reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// No `suggestion` or `interval`: the device waits a random 1–3 s (D14).
    None,
    /// `suggestion: retry` with `interval` = [`RETRY_INTERVALS`]`[i]`.
    Retry(u8),
    /// `interval: -1`: never again (D15).
    Never,
    /// `suggestion: reconnect` with `interval` = [`RECONNECT_INTERVALS`]`[i]` (D16).
    Reconnect(u8),
}

pub const RETRY_INTERVALS: [u64; 4] = [2, 4, 7, 15];
pub const RECONNECT_INTERVALS: [u64; 2] = [2, 5];

/// How to answer the request the device is waiting on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Success; the number picks among success bodies (a new perm_version, the last page, a
    /// fail_list, ...). `Ok(0)` is always the plainest success: it is also what a request
    /// gets when the next action is not an answer.
    Ok(u8),
    /// `errcode: -1` with this advice.
    Error(Advice),
    /// The same error for this many attempts in a row (retry spacing, jitter).
    Reject { times: u8, advice: Advice },
    /// No reply at all. With `recover` the request took effect (the FAQ's "succeeded, but
    /// the reply timed out"): the re-send of a register or subscribe_corp is answered with
    /// the code that says how far the link got (600012 / 600054).
    Lost { recover: bool },
    /// The cloud closes the link instead of answering.
    Close,
    /// A protocol code that fits the request (600002, 600004, 600045, 600014, the re-send
    /// codes after a lost reply, a perm_version change between pages); the number picks one.
    Protocol(u8),
}

/// What to do while the device is idle (logged in, nothing outstanding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idle {
    Delay(u16),
    Close,
    /// `push_change_contact` raising perm_version by `gap` (1, or ≥ 2: a missed push).
    ChangeContact {
        gap: u8,
        created: u8,
        delete: bool,
    },
    Visitors {
        n: u8,
    },
    RemoteOpen,
    Scan,
    EnterPage {
        fp: bool,
    },
    Firmware,
    FetchLog,
    /// A known member checks in at the device (reference device only).
    Checkin {
        user: u8,
    },
    /// `push_bind_corp` (D9). Any idle action that comes while the device polls `active`
    /// unbound is taken as the corp binding it.
    BindPush,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceAction {
    Answer(Answer),
    Idle(Idle),
}

fn advice() -> BoxedStrategy<Advice> {
    prop_oneof![
        4 => Just(Advice::None),
        4 => (0u8..RETRY_INTERVALS.len() as u8).prop_map(Advice::Retry),
        2 => Just(Advice::Never),
        2 => (0u8..RECONNECT_INTERVALS.len() as u8).prop_map(Advice::Reconnect),
    ]
    .boxed()
}

fn answer() -> BoxedStrategy<Answer> {
    prop_oneof![
        10 => any::<u8>().prop_map(Answer::Ok),
        4 => advice().prop_map(Answer::Error),
        3 => (2u8..=8, advice()).prop_map(|(times, advice)| Answer::Reject { times, advice }),
        4 => any::<bool>().prop_map(|recover| Answer::Lost { recover }),
        1 => Just(Answer::Close),
        7 => any::<u8>().prop_map(Answer::Protocol),
    ]
    .boxed()
}

fn idle(setup: DeviceSetup) -> BoxedStrategy<Idle> {
    let has = |name: &str| setup.implemented.has(name);
    // Pushes only of what the device implements (its ICS says true); `None` leaves one out.
    let enter_page = match (has("face"), has("fingerprint")) {
        (true, true) => Some(any::<bool>().prop_map(|fp| Idle::EnterPage { fp }).boxed()),
        (face, true) => Some(Just(Idle::EnterPage { fp: !face }).boxed()),
        (true, false) => Some(Just(Idle::EnterPage { fp: false }).boxed()),
        (false, false) => None,
    };
    let candidates: Vec<(u32, Option<BoxedStrategy<Idle>>)> = vec![
        (
            3,
            Some(
                prop_oneof![5u16..=20, 40u16..=120]
                    .prop_map(Idle::Delay)
                    .boxed(),
            ),
        ),
        (2, Some(Just(Idle::Close).boxed())),
        (
            5,
            has("contacts").then(|| {
                (1u8..=3, 0u8..=2, any::<bool>())
                    .prop_map(|(gap, created, delete)| Idle::ChangeContact {
                        gap,
                        created,
                        delete,
                    })
                    .boxed()
            }),
        ),
        (
            2,
            has("visitors").then(|| (1u8..=2).prop_map(|n| Idle::Visitors { n }).boxed()),
        ),
        (3, has("door").then(|| Just(Idle::RemoteOpen).boxed())),
        (1, has("qr_open").then(|| Just(Idle::Scan).boxed())),
        (2, enter_page),
        (1, has("firmware").then(|| Just(Idle::Firmware).boxed())),
        (1, has("log").then(|| Just(Idle::FetchLog).boxed())),
        (2, Some(Just(Idle::BindPush).boxed())),
        (
            5,
            (setup.device_control && has("checkin"))
                .then(|| any::<u8>().prop_map(|user| Idle::Checkin { user }).boxed()),
        ),
    ];
    Union::new_weighted(
        candidates
            .into_iter()
            .filter_map(|(weight, s)| s.map(|s| (weight, s)))
            .collect(),
    )
    .boxed()
}

/// The strategy for one action against a device with `setup`.
pub fn action(setup: DeviceSetup) -> BoxedStrategy<DeviceAction> {
    prop_oneof![3 => answer().prop_map(DeviceAction::Answer), 2 => idle(setup).prop_map(DeviceAction::Idle)].boxed()
}
