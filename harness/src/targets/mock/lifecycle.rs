//! The per-connection login state machine, pure: no I/O, no clock, no registry.
//!
//! A connection goes Opened → Registered → Activated → Subscribed (C9, C14). The caller
//! looks up everything the decision needs (signature valid? device bound? SN live on
//! another IP?) into a [`Request`], and [`on_request`] answers with the new phase and an
//! [`Outcome`]. The caller then carries out the outcome's [`Effect`] on the registry.
//!
//! Check order per command, first match wins:
//! * `register`: re-sent on this connection → 600012/600053/600054 by the furthest phase
//!   reached (C9, the phase is not changed); malformed body → 600904; unknown SN → 600906;
//!   stale timestamp → 600902; bad signature → 600901; SN live from another IP → 600002
//!   (C10); SN live from the same IP → success and the old link is kicked (C13).
//! * `active`: unregistered → 600014; re-sent → 600053/600054; malformed → 600904;
//!   wrong active_code → 600003; unbound → 600004 (FAQ "激活设备一直报错 600004").
//! * `subscribe_corp`: rate limit → 600045 (C11, checked first: it is per IP, whatever the
//!   connection's state); unregistered → 600014; re-sent → 600054; malformed → 600904;
//!   never activated → 600016; wrong secret or unbound → 600004.
//! * `get_secret_no`: malformed → 600904; unknown SN → 600906; SN registered before →
//!   600903; stale → 600902; bad signature → 600901 (C5).
//! * business commands: unregistered → 600014, registered but not subscribed → 600020
//!   (C14); malformed → 600904; not implemented → 600905.
//! * `ping`, `get_timestamp`: always served. Commands outside the catalog → 600905.

use super::config::MockRule;
use crate::profile::wecom::catalog::{
    INVALID_SIGNATURE, MALFORMED_REQUEST, NOT_IMPLEMENTED, SECRET_NO_AFTER_REGISTER,
    STALE_TIMESTAMP, UNKNOWN_DEVICE,
};
use std::collections::BTreeSet;

pub use crate::profile::wecom::catalog::codes::*;

/// How far a connection got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Opened,
    Registered,
    Activated,
    Subscribed,
}

/// Whether the SN of a `register` is live on another connection, and from where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conflict {
    None,
    /// Live on another connection from another IP (C10).
    OtherIp,
    /// Live on another connection from the same IP: a reconnect over a half-open link (C13).
    SameIp,
}

/// What the caller found out about a signed request (`register`, `get_secret_no`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signed {
    pub malformed: bool,
    pub known: bool,
    pub fresh: bool,
    pub signature_ok: bool,
}

/// A request, classified, with the facts its decision needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Register {
        signed: Signed,
        conflict: Conflict,
    },
    GetSecretNo {
        signed: Signed,
        registered_ever: bool,
    },
    Active {
        malformed: bool,
        code_matches: bool,
        bound: bool,
    },
    /// `rate_limited`: the limiter refused; the value is the seconds until a slot frees.
    SubscribeCorp {
        rate_limited: Option<i64>,
        malformed: bool,
        ever_activated: bool,
        secret_matches: bool,
        bound: bool,
    },
    Ping,
    GetTimestamp,
    /// A catalog command that needs a logged-in connection.
    Business {
        malformed: bool,
        implemented: bool,
    },
    /// A command the catalog does not know as device → cloud.
    Unknown,
}

/// What the caller must do on success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Make this connection the SN's live link (kicking the old one if `kick`) and return
    /// the SN's active code.
    Register { kick: bool },
    /// Return the device's secret (issuing one if none is held).
    Activate,
    /// Logged in; no body.
    Subscribe,
    /// Return the per-device SecretNo.
    IssueSecretNo,
    /// Answer the command itself (ping, get_timestamp, business).
    Serve,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok(Effect),
    /// An error reply; `interval` overrides the catalog's default advice.
    Error {
        code: i64,
        interval: Option<i64>,
        hint: &'static str,
    },
}

fn err(code: i64, hint: &'static str) -> Outcome {
    Outcome::Error {
        code,
        interval: None,
        hint,
    }
}

/// The decision for one request on a connection in `phase`; rules in `disabled` are off.
pub fn on_request(phase: Phase, req: &Request, disabled: &BTreeSet<MockRule>) -> (Phase, Outcome) {
    let on = |rule: MockRule| !disabled.contains(&rule);
    let resend = on(MockRule::NoResendCodes);
    let ordered = on(MockRule::NoOrderCheck);
    let stay = |o: Outcome| (phase, o);
    match *req {
        Request::Register { signed, conflict } => {
            if resend {
                match phase {
                    Phase::Opened => {}
                    Phase::Registered => {
                        return stay(err(KEEP_ALIVE_REGISTERED, "this connection has registered"))
                    }
                    Phase::Activated => return stay(err(ACTIVED, "this connection has activated")),
                    Phase::Subscribed => {
                        return stay(err(HAS_SUBSCRIBED, "this connection has subscribed"))
                    }
                }
            }
            if let Some(o) = check_signed(signed, on) {
                return stay(o);
            }
            let kick = match conflict {
                Conflict::OtherIp if on(MockRule::NoSnBinding) => {
                    return stay(err(
                        REGISTERED,
                        "sn is live on a connection from another ip",
                    ))
                }
                Conflict::SameIp => on(MockRule::NoKick),
                _ => false,
            };
            (
                phase.max(Phase::Registered),
                Outcome::Ok(Effect::Register { kick }),
            )
        }
        Request::GetSecretNo {
            signed,
            registered_ever,
        } => {
            if signed.malformed {
                return stay(err(MALFORMED_REQUEST, "body needs sn (string), timestamp and nonce (numbers), device_signature (string)"));
            }
            if !signed.known {
                return stay(err(UNKNOWN_DEVICE, "sn is not in the device registry"));
            }
            if registered_ever && on(MockRule::SecretNoAfterRegister) {
                return stay(err(
                    SECRET_NO_AFTER_REGISTER,
                    "this sn has registered; get_secret_no is no longer allowed",
                ));
            }
            if let Some(o) = check_signed(signed, on) {
                return stay(o);
            }
            stay(Outcome::Ok(Effect::IssueSecretNo))
        }
        Request::Active {
            malformed,
            code_matches,
            bound,
        } => {
            if phase == Phase::Opened && ordered {
                return stay(err(NOT_REGISTERED, "this connection has not registered"));
            }
            if resend {
                match phase {
                    Phase::Activated => return stay(err(ACTIVED, "this connection has activated")),
                    Phase::Subscribed => {
                        return stay(err(HAS_SUBSCRIBED, "this connection has subscribed"))
                    }
                    _ => {}
                }
            }
            if malformed {
                return stay(err(MALFORMED_REQUEST, "body needs active_code (string)"));
            }
            if !code_matches {
                return stay(err(
                    INVALID_ACTIVECODE,
                    "active_code was not issued to this device",
                ));
            }
            if !bound && on(MockRule::UnboundActiveSucceeds) {
                return stay(err(NOT_AUTHOR, "device is not bound to a corp"));
            }
            (phase.max(Phase::Activated), Outcome::Ok(Effect::Activate))
        }
        Request::SubscribeCorp {
            rate_limited,
            malformed,
            ever_activated,
            secret_matches,
            bound,
        } => {
            if let Some(wait) = rate_limited.filter(|_| on(MockRule::NoRateLimit)) {
                return stay(Outcome::Error {
                    code: SUBSCRIBED,
                    interval: Some(wait),
                    hint: "too many subscribe_corp from this ip",
                });
            }
            if phase == Phase::Opened && ordered {
                return stay(err(NOT_REGISTERED, "this connection has not registered"));
            }
            if phase == Phase::Subscribed && resend {
                return stay(err(HAS_SUBSCRIBED, "this connection has subscribed"));
            }
            if malformed {
                return stay(err(
                    MALFORMED_REQUEST,
                    "body needs secret and firmware_version (strings)",
                ));
            }
            if !ever_activated {
                return stay(err(NOT_ACTIVE, "device has never been activated"));
            }
            if !bound {
                return stay(err(NOT_AUTHOR, "device is not bound to a corp"));
            }
            if !secret_matches {
                return stay(err(NOT_AUTHOR, "secret is not valid for this device"));
            }
            (Phase::Subscribed, Outcome::Ok(Effect::Subscribe))
        }
        Request::Ping | Request::GetTimestamp => stay(Outcome::Ok(Effect::Serve)),
        Request::Business {
            malformed,
            implemented,
        } => {
            if phase < Phase::Subscribed && ordered {
                return stay(if phase == Phase::Opened {
                    err(NOT_REGISTERED, "this connection has not registered")
                } else {
                    err(NOT_LOGIN, "this connection has not subscribed")
                });
            }
            if malformed {
                return stay(err(MALFORMED_REQUEST, "body does not match the command"));
            }
            if !implemented {
                return stay(err(
                    NOT_IMPLEMENTED,
                    "command not implemented by the mock cloud",
                ));
            }
            stay(Outcome::Ok(Effect::Serve))
        }
        Request::Unknown => stay(err(NOT_IMPLEMENTED, "command unknown to the mock cloud")),
    }
}

fn check_signed(s: Signed, on: impl Fn(MockRule) -> bool) -> Option<Outcome> {
    if s.malformed {
        return Some(err(
            MALFORMED_REQUEST,
            "body needs sn (string), timestamp and nonce (numbers), device_signature (string)",
        ));
    }
    if !s.known {
        return Some(err(UNKNOWN_DEVICE, "sn is not in the device registry"));
    }
    if !s.fresh && on(MockRule::NoTimestampCheck) {
        return Some(err(
            STALE_TIMESTAMP,
            "timestamp is more than the tolerance away from cloud time",
        ));
    }
    if !s.signature_ok && on(MockRule::NoSignatureCheck) {
        return Some(err(INVALID_SIGNATURE, "device_signature does not match"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::wecom::Catalog;
    use proptest::prelude::*;
    use rstest::rstest;

    const GOOD: Signed = Signed {
        malformed: false,
        known: true,
        fresh: true,
        signature_ok: true,
    };

    fn reg(signed: Signed, conflict: Conflict) -> Request {
        Request::Register { signed, conflict }
    }
    fn active(malformed: bool, code_matches: bool, bound: bool) -> Request {
        Request::Active {
            malformed,
            code_matches,
            bound,
        }
    }
    fn sub(
        rate_limited: Option<i64>,
        malformed: bool,
        ever_activated: bool,
        secret_matches: bool,
        bound: bool,
    ) -> Request {
        Request::SubscribeCorp {
            rate_limited,
            malformed,
            ever_activated,
            secret_matches,
            bound,
        }
    }
    fn code(o: Outcome) -> i64 {
        match o {
            Outcome::Ok(_) => 0,
            Outcome::Error { code, .. } => code,
        }
    }

    /// Every error path of the state machine, with all rules in force.
    #[rstest]
    // C4: register checks.
    #[case::c4_malformed(Phase::Opened, reg(Signed { malformed: true, ..GOOD }, Conflict::None), MALFORMED_REQUEST)]
    #[case::c4_unknown(Phase::Opened, reg(Signed { known: false, ..GOOD }, Conflict::None), UNKNOWN_DEVICE)]
    #[case::c4_stale(Phase::Opened, reg(Signed { fresh: false, ..GOOD }, Conflict::None), STALE_TIMESTAMP)]
    #[case::c4_signature(Phase::Opened, reg(Signed { signature_ok: false, ..GOOD }, Conflict::None), INVALID_SIGNATURE)]
    #[case::c4_ok(Phase::Opened, reg(GOOD, Conflict::None), 0)]
    // C10 / C13: SN binding.
    #[case::c10_other_ip(Phase::Opened, reg(GOOD, Conflict::OtherIp), REGISTERED)]
    #[case::c13_same_ip_kicks(Phase::Opened, reg(GOOD, Conflict::SameIp), 0)]
    // C9: re-sent register answers by the furthest phase, before any other check.
    #[case::c9_registered(Phase::Registered, reg(Signed { signature_ok: false, ..GOOD }, Conflict::None), KEEP_ALIVE_REGISTERED)]
    #[case::c9_activated(Phase::Activated, reg(GOOD, Conflict::OtherIp), ACTIVED)]
    #[case::c9_subscribed(Phase::Subscribed, reg(GOOD, Conflict::None), HAS_SUBSCRIBED)]
    // C5: get_secret_no.
    #[case::c5_malformed(Phase::Opened, Request::GetSecretNo { signed: Signed { malformed: true, ..GOOD }, registered_ever: false }, MALFORMED_REQUEST)]
    #[case::c5_unknown(Phase::Opened, Request::GetSecretNo { signed: Signed { known: false, ..GOOD }, registered_ever: false }, UNKNOWN_DEVICE)]
    #[case::c5_after_register(Phase::Opened, Request::GetSecretNo { signed: GOOD, registered_ever: true }, SECRET_NO_AFTER_REGISTER)]
    #[case::c5_stale(Phase::Opened, Request::GetSecretNo { signed: Signed { fresh: false, ..GOOD }, registered_ever: false }, STALE_TIMESTAMP)]
    #[case::c5_signature(Phase::Opened, Request::GetSecretNo { signed: Signed { signature_ok: false, ..GOOD }, registered_ever: false }, INVALID_SIGNATURE)]
    #[case::c5_ok(Phase::Opened, Request::GetSecretNo { signed: GOOD, registered_ever: false }, 0)]
    // C6 / C14: active.
    #[case::c14_active_unregistered(Phase::Opened, active(false, true, true), NOT_REGISTERED)]
    #[case::c9_active_resent(Phase::Activated, active(false, true, true), ACTIVED)]
    #[case::c9_active_after_subscribe(Phase::Subscribed, active(false, true, true), HAS_SUBSCRIBED)]
    #[case::c6_malformed(Phase::Registered, active(true, true, true), MALFORMED_REQUEST)]
    #[case::c6_wrong_code(Phase::Registered, active(false, false, true), INVALID_ACTIVECODE)]
    #[case::c6_unbound(Phase::Registered, active(false, true, false), NOT_AUTHOR)]
    #[case::c6_ok(Phase::Registered, active(false, true, true), 0)]
    // C11 / C14: subscribe_corp.
    #[case::c11_rate_limited(Phase::Activated, sub(Some(42), false, true, true, true), SUBSCRIBED)]
    #[case::c11_rate_limit_first(
        Phase::Opened,
        sub(Some(1), true, false, false, false),
        SUBSCRIBED
    )]
    #[case::c14_subscribe_unregistered(
        Phase::Opened,
        sub(None, false, true, true, true),
        NOT_REGISTERED
    )]
    #[case::c9_subscribe_resent(
        Phase::Subscribed,
        sub(None, false, true, true, true),
        HAS_SUBSCRIBED
    )]
    #[case::subscribe_malformed(
        Phase::Activated,
        sub(None, true, true, true, true),
        MALFORMED_REQUEST
    )]
    #[case::c14_never_activated(
        Phase::Registered,
        sub(None, false, false, false, true),
        NOT_ACTIVE
    )]
    #[case::subscribe_wrong_secret(
        Phase::Activated,
        sub(None, false, true, false, true),
        NOT_AUTHOR
    )]
    #[case::subscribe_unbound(Phase::Activated, sub(None, false, true, true, false), NOT_AUTHOR)]
    #[case::d10_cached_secret_skips_active(
        Phase::Registered,
        sub(None, false, true, true, true),
        0
    )]
    // C14: business commands.
    #[case::c14_business_unregistered(Phase::Opened, Request::Business { malformed: false, implemented: true }, NOT_REGISTERED)]
    #[case::c14_business_registered(Phase::Registered, Request::Business { malformed: false, implemented: true }, NOT_LOGIN)]
    #[case::c14_business_activated(Phase::Activated, Request::Business { malformed: false, implemented: true }, NOT_LOGIN)]
    #[case::business_malformed(Phase::Subscribed, Request::Business { malformed: true, implemented: true }, MALFORMED_REQUEST)]
    #[case::business_not_implemented(Phase::Subscribed, Request::Business { malformed: false, implemented: false }, NOT_IMPLEMENTED)]
    #[case::business_ok(Phase::Subscribed, Request::Business { malformed: false, implemented: true }, 0)]
    #[case::unknown_command(Phase::Subscribed, Request::Unknown, NOT_IMPLEMENTED)]
    #[case::ping_any_time(Phase::Opened, Request::Ping, 0)]
    #[case::timestamp_any_time(Phase::Opened, Request::GetTimestamp, 0)]
    fn error_paths(#[case] phase: Phase, #[case] req: Request, #[case] expected: i64) {
        let (next, outcome) = on_request(phase, &req, &BTreeSet::new());
        assert_eq!(code(outcome), expected, "{outcome:?}");
        if expected != 0 {
            assert_eq!(next, phase, "an error never changes the phase");
        }
    }

    #[test]
    fn same_ip_register_kicks_and_rate_limit_carries_its_interval() {
        let none = BTreeSet::new();
        assert_eq!(
            on_request(Phase::Opened, &reg(GOOD, Conflict::SameIp), &none).1,
            Outcome::Ok(Effect::Register { kick: true })
        );
        let (_, o) = on_request(
            Phase::Activated,
            &sub(Some(17), false, true, true, true),
            &none,
        );
        assert!(matches!(
            o,
            Outcome::Error {
                code: SUBSCRIBED,
                interval: Some(17),
                ..
            }
        ));
    }

    /// Each lifecycle knob turns its error into a success.
    #[rstest]
    #[case(MockRule::NoSignatureCheck, Phase::Opened, reg(Signed { signature_ok: false, ..GOOD }, Conflict::None))]
    #[case(MockRule::NoTimestampCheck, Phase::Opened, reg(Signed { fresh: false, ..GOOD }, Conflict::None))]
    #[case(MockRule::NoResendCodes, Phase::Subscribed, reg(GOOD, Conflict::None))]
    #[case(MockRule::NoResendCodes, Phase::Activated, active(false, true, true))]
    #[case(
        MockRule::NoResendCodes,
        Phase::Subscribed,
        sub(None, false, true, true, true)
    )]
    #[case(MockRule::NoOrderCheck, Phase::Opened, active(false, true, true))]
    #[case(
        MockRule::NoOrderCheck,
        Phase::Opened,
        sub(None, false, true, true, true)
    )]
    #[case(MockRule::NoOrderCheck, Phase::Registered, Request::Business { malformed: false, implemented: true })]
    #[case(MockRule::NoSnBinding, Phase::Opened, reg(GOOD, Conflict::OtherIp))]
    #[case(
        MockRule::NoRateLimit,
        Phase::Activated,
        sub(Some(5), false, true, true, true)
    )]
    #[case(MockRule::SecretNoAfterRegister, Phase::Opened, Request::GetSecretNo { signed: GOOD, registered_ever: true })]
    #[case(
        MockRule::UnboundActiveSucceeds,
        Phase::Registered,
        active(false, true, false)
    )]
    fn knobs_switch_rules_off(#[case] rule: MockRule, #[case] phase: Phase, #[case] req: Request) {
        assert_ne!(code(on_request(phase, &req, &BTreeSet::new()).1), 0);
        let (next, o) = on_request(phase, &req, &BTreeSet::from([rule]));
        assert_eq!(code(o), 0, "{rule:?}: {o:?}");
        assert!(next >= phase, "the phase never goes back");
    }

    #[test]
    fn no_kick_registers_without_kicking() {
        let o = on_request(
            Phase::Opened,
            &reg(GOOD, Conflict::SameIp),
            &BTreeSet::from([MockRule::NoKick]),
        )
        .1;
        assert_eq!(o, Outcome::Ok(Effect::Register { kick: false }));
    }

    fn signed() -> impl Strategy<Value = Signed> {
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(m, k, f, s)| {
            Signed {
                malformed: m,
                known: k,
                fresh: f,
                signature_ok: s,
            }
        })
    }

    fn request() -> impl Strategy<Value = Request> {
        let conflict = prop_oneof![
            Just(Conflict::None),
            Just(Conflict::OtherIp),
            Just(Conflict::SameIp)
        ];
        prop_oneof![
            (signed(), conflict)
                .prop_map(|(signed, conflict)| Request::Register { signed, conflict }),
            (signed(), any::<bool>()).prop_map(|(signed, registered_ever)| Request::GetSecretNo {
                signed,
                registered_ever
            }),
            (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(a, b, c)| active(a, b, c)),
            (
                proptest::option::of(1i64..60),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(r, m, e, s, b)| sub(r, m, e, s, b)),
            Just(Request::Ping),
            Just(Request::GetTimestamp),
            (any::<bool>(), any::<bool>()).prop_map(|(malformed, implemented)| Request::Business {
                malformed,
                implemented
            }),
            Just(Request::Unknown),
        ]
    }

    proptest! {
        /// For any sequence: Subscribed only after a successful register and subscribe; a
        /// re-sent register answers by the furthest phase reached (C9); the phase never goes
        /// back; every errcode is in the catalog.
        #[test]
        fn lifecycle_invariants(reqs in proptest::collection::vec(request(), 0..40)) {
            let none = BTreeSet::new();
            let mut phase = Phase::Opened;
            let mut furthest = Phase::Opened;
            let (mut registered, mut subscribed) = (false, false);
            for req in &reqs {
                let (next, outcome) = on_request(phase, req, &none);
                let c = code(outcome);
                prop_assert!(Catalog::get().error(c).is_some(), "errcode {} not in catalog", c);
                if let Request::Register { .. } = req {
                    let expected = match furthest {
                        Phase::Opened => None,
                        Phase::Registered => Some(KEEP_ALIVE_REGISTERED),
                        Phase::Activated => Some(ACTIVED),
                        Phase::Subscribed => Some(HAS_SUBSCRIBED),
                    };
                    if let Some(e) = expected {
                        prop_assert_eq!(c, e);
                        prop_assert_eq!(next, phase);
                    }
                }
                match outcome {
                    Outcome::Ok(Effect::Register { .. }) => registered = true,
                    Outcome::Ok(Effect::Subscribe) => subscribed = true,
                    _ => {}
                }
                prop_assert!(next >= phase);
                if next == Phase::Subscribed {
                    prop_assert!(registered && subscribed);
                }
                if next >= Phase::Registered {
                    prop_assert!(registered);
                }
                phase = next;
                furthest = furthest.max(next);
            }
        }

        /// With any set of knobs off, the machine still answers with catalog codes and never
        /// moves backwards.
        #[test]
        fn knobs_never_break_the_machine(reqs in proptest::collection::vec(request(), 0..30),
                                         mask in proptest::collection::vec(any::<bool>(), MockRule::ALL.len())) {
            let disabled: BTreeSet<MockRule> =
                MockRule::ALL.iter().zip(&mask).filter(|(_, on)| **on).map(|(r, _)| *r).collect();
            let mut phase = Phase::Opened;
            for req in &reqs {
                let (next, outcome) = on_request(phase, req, &disabled);
                prop_assert!(Catalog::get().error(code(outcome)).is_some());
                prop_assert!(next >= phase);
                phase = next;
            }
        }
    }
}
