//! What the harness, playing devices, may do to a cloud: the alphabet of generated sequences
//! and the proptest strategy over it. Actions name connections and addresses by small
//! indices; the model ([`super::CloudModel`]) decides what each means in context (a request
//! on a connection that is not open opens it first), so every sequence is meaningful and
//! shrinking can drop any action.

use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};

/// One request the harness can send, with its body variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Req {
    Register,
    /// `register` with a device_signature that cannot be right (C4).
    RegisterBadSignature,
    /// `register` signed over a timestamp 400 s in the past (C4).
    RegisterStale,
    Active,
    Subscribe,
    /// `subscribe_corp` with a secret the cloud never issued (C14: 600016 before activation).
    SubscribeGuessed,
    GetSecretNo,
    Ping,
    GetTimestamp,
    GetCorpInfo,
    GetPermVersion,
    Selfhelp,
    LoginQr,
    /// A command no cloud knows.
    Unknown,
}

impl Req {
    pub fn cmd(self) -> &'static str {
        match self {
            Req::Register | Req::RegisterBadSignature | Req::RegisterStale => "register",
            Req::Active => "active",
            Req::Subscribe | Req::SubscribeGuessed => "subscribe_corp",
            Req::GetSecretNo => "get_secret_no",
            Req::Ping => "ping",
            Req::GetTimestamp => "get_timestamp",
            Req::GetCorpInfo => "get_corp_info",
            Req::GetPermVersion => "get_perm_version",
            Req::Selfhelp => "selfhelp_notify",
            Req::LoginQr => "gen_login_qrcode",
            Req::Unknown => "no_such_command",
        }
    }
}

/// One thing the corp does, or is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorpOp {
    /// A member joins (or, when the explorer added it before, leaves).
    ToggleUser,
    ToggleVisitor,
    History,
    /// 200 members join; a page of limit 1000 is then asked for.
    Bulk,
    OldCheckin,
    FetchLog,
    OldDynamicQr,
    /// A remote open reported after its 3 s window, then the cloud's record of it asked.
    LateRemoteOpen,
    /// A member with templates of two algorithms joins; the login's announced priority
    /// (`ext_args`, sent on every `subscribe_corp`) decides which one a pull delivers.
    Templates,
}

/// One thing the harness does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloudAction {
    /// Open connection `conn` from address `ip` (closing it first if open).
    Connect {
        conn: u8,
        ip: u8,
    },
    Disconnect {
        conn: u8,
    },
    /// The device's address changes: the old link is abandoned, still live at the cloud.
    ChangeIp {
        conn: u8,
        ip: u8,
    },
    Request {
        conn: u8,
        req: Req,
    },
    /// The same request several times in a row (re-sends, the subscribe rate limit).
    Repeat {
        conn: u8,
        req: Req,
        times: u8,
    },
    /// The request takes effect but its reply is lost (mock control `swallow_reply`).
    LostReply {
        conn: u8,
        req: Req,
    },
    /// A frame that is not a valid request.
    Malformed {
        conn: u8,
        kind: u8,
    },
    /// Silence on every link (past the heartbeat expiry when long enough).
    Wait {
        secs: u16,
    },
    /// Time passes while every open link pings every 30 s.
    KeepAlive {
        secs: u16,
    },
    /// The corp binds / unbinds the device; the cloud closes its live link (mock control).
    Bind,
    Unbind,
    CloseLink,
    /// A device's login on `conn`: register, active (unless a secret is cached), subscribe.
    Login {
        conn: u8,
    },
    /// The corp changes, or the device asks it something (mock control).
    Corp {
        op: CorpOp,
        n: u8,
    },
}

/// What the target allows the generator to use.
#[derive(Clone, Copy, Debug)]
pub struct Capabilities {
    pub control: bool,
    pub addresses: bool,
    pub seed: bool,
    /// The target is the mock (or answers like it): malformed frames are generated too.
    pub strict: bool,
}

fn req(caps: Capabilities) -> BoxedStrategy<Req> {
    let mut options = vec![
        (6, Just(Req::Register).boxed()),
        (4, Just(Req::Active).boxed()),
        (4, Just(Req::Subscribe).boxed()),
        (2, Just(Req::Ping).boxed()),
        (2, Just(Req::GetCorpInfo).boxed()),
        (1, Just(Req::GetTimestamp).boxed()),
        (1, Just(Req::GetPermVersion).boxed()),
        (1, Just(Req::RegisterBadSignature).boxed()),
        (1, Just(Req::RegisterStale).boxed()),
        (1, Just(Req::SubscribeGuessed).boxed()),
        (3, Just(Req::Selfhelp).boxed()),
        (1, Just(Req::LoginQr).boxed()),
        (1, Just(Req::Unknown).boxed()),
    ];
    if caps.seed && caps.control {
        options.push((1, Just(Req::GetSecretNo).boxed()));
    }
    Union::new_weighted(options).boxed()
}

/// Requests whose replies the mock can be told to lose.
fn lost_req() -> BoxedStrategy<Req> {
    prop_oneof![3 => Just(Req::Register), 2 => Just(Req::Active), 2 => Just(Req::Subscribe), 1 => Just(Req::GetCorpInfo)].boxed()
}

fn wait_secs() -> BoxedStrategy<u16> {
    prop_oneof![3 => 1u16..=5, 2 => 20u16..=40, 2 => 55u16..=70, 3 => 85u16..=130].boxed()
}

/// The strategy for one action, for a target with `caps`.
pub fn action(caps: Capabilities) -> BoxedStrategy<CloudAction> {
    let conn = || 0u8..3;
    let ip = || 0u8..3;
    let mut options: Vec<(u32, BoxedStrategy<CloudAction>)> = vec![
        (
            30,
            (conn(), req(caps))
                .prop_map(|(conn, req)| CloudAction::Request { conn, req })
                .boxed(),
        ),
        (
            8,
            conn().prop_map(|conn| CloudAction::Login { conn }).boxed(),
        ),
        (
            5,
            (conn(), req(caps), 2u8..=7)
                .prop_map(|(conn, req, times)| CloudAction::Repeat { conn, req, times })
                .boxed(),
        ),
        (
            5,
            (conn(), ip())
                .prop_map(|(conn, ip)| CloudAction::Connect { conn, ip })
                .boxed(),
        ),
        (
            4,
            conn()
                .prop_map(|conn| CloudAction::Disconnect { conn })
                .boxed(),
        ),
        (
            5,
            wait_secs()
                .prop_map(|secs| CloudAction::Wait { secs })
                .boxed(),
        ),
        (
            3,
            (60u16..=200)
                .prop_map(|secs| CloudAction::KeepAlive { secs })
                .boxed(),
        ),
    ];
    if caps.addresses {
        options.push((
            4,
            (conn(), ip())
                .prop_map(|(conn, ip)| CloudAction::ChangeIp { conn, ip })
                .boxed(),
        ));
    }
    if caps.strict {
        options.push((
            3,
            (conn(), 0u8..4)
                .prop_map(|(conn, kind)| CloudAction::Malformed { conn, kind })
                .boxed(),
        ));
    }
    if caps.control {
        options.push((
            5,
            (conn(), lost_req())
                .prop_map(|(conn, req)| CloudAction::LostReply { conn, req })
                .boxed(),
        ));
        options.push((2, Just(CloudAction::Bind).boxed()));
        options.push((2, Just(CloudAction::Unbind).boxed()));
        options.push((1, Just(CloudAction::CloseLink).boxed()));
        let op = prop_oneof![
            4 => Just(CorpOp::ToggleUser),
            3 => Just(CorpOp::ToggleVisitor),
            3 => Just(CorpOp::History),
            1 => Just(CorpOp::Bulk),
            2 => Just(CorpOp::OldCheckin),
            2 => Just(CorpOp::FetchLog),
            2 => Just(CorpOp::OldDynamicQr),
            2 => Just(CorpOp::LateRemoteOpen),
            2 => Just(CorpOp::Templates),
        ];
        options.push((
            8,
            (op, any::<u8>())
                .prop_map(|(op, n)| CloudAction::Corp { op, n })
                .boxed(),
        ));
    }
    Union::new_weighted(options).boxed()
}
