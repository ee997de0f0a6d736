//! The facts the lifecycle needs: which kind of request a command is, and what the
//! registry, the rate limiter and the signature checks say about it.

use super::super::config::MockRule;
use super::super::lifecycle::{self, Request, Signed};
use super::super::{MockCloud, Shared};
use super::conn::Conn;
use crate::profile::wecom::catalog::Catalog;
use serde_json::{Map, Value};

pub(super) fn str_field<'a>(body: Option<&'a Map<String, Value>>, key: &str) -> Option<&'a str> {
    body?.get(key)?.as_str()
}

/// The fields of a signed body (`register`, `get_secret_no`). `timestamp` and `nonce` are
/// numbers in the docs (D5); shipped firmware sends them as numeric strings and the real
/// cloud evidently accepts that, so the mock does too (the signature is over the text either
/// way). Anything else is malformed.
struct SignedBody<'a> {
    sn: &'a str,
    timestamp: u64,
    /// `timestamp` as sent (the signed text).
    timestamp_text: String,
    nonce: String,
    signature: &'a str,
}

/// An unsigned integer as a JSON number or a string of decimal digits, with its text.
fn numeric(v: &Value) -> Option<(u64, String)> {
    match v {
        Value::Number(n) => n.as_u64().map(|u| (u, n.to_string())),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok().map(|u| (u, s.clone()))
        }
        _ => None,
    }
}

fn signed_body(body: Option<&Map<String, Value>>) -> Option<SignedBody<'_>> {
    let b = body?;
    let (timestamp, timestamp_text) = numeric(b.get("timestamp")?)?;
    let (_, nonce) = numeric(b.get("nonce")?)?;
    Some(SignedBody {
        sn: b.get("sn")?.as_str()?,
        timestamp,
        timestamp_text,
        nonce,
        signature: b.get("device_signature")?.as_str()?,
    })
}

impl MockCloud {
    /// Classifies a request and looks up the facts its decision needs; also returns the SN
    /// the request is about (the connection's, or the one the body names).
    pub(super) fn classify(
        &self,
        conn: &Conn,
        shared: &mut Shared,
        cmd: &str,
        body: Option<&Map<String, Value>>,
    ) -> (Request, Option<String>) {
        let now_unix = self.now_unix();
        let tolerance = self.config.timestamp_tolerance.as_secs();
        let ordered = self.config.enforces(MockRule::NoOrderCheck);
        let Shared { registry, rate, .. } = shared;
        let mut sn: Option<String> = conn.sn.clone();
        let signed_facts =
            |sb: &Option<SignedBody<'_>>, ok: &dyn Fn(&SignedBody<'_>) -> bool| match sb {
                None => Signed {
                    malformed: true,
                    known: false,
                    fresh: false,
                    signature_ok: false,
                },
                Some(b) => Signed {
                    malformed: false,
                    known: registry.knows(b.sn),
                    fresh: b.timestamp.abs_diff(now_unix) <= tolerance,
                    signature_ok: ok(b),
                },
            };
        let req = match cmd {
            "register" => {
                let sb = signed_body(body);
                let signed = signed_facts(&sb, &|b| {
                    registry.register_signature_ok(b.sn, &b.timestamp_text, &b.nonce, b.signature)
                });
                let conflict = match &sb {
                    Some(b) => registry.conflict(b.sn, conn.id, conn.ip),
                    None => lifecycle::Conflict::None,
                };
                if sn.is_none() {
                    sn = sb.as_ref().map(|b| b.sn.to_string());
                }
                Request::Register { signed, conflict }
            }
            "get_secret_no" => {
                let sb = signed_body(body);
                let signed = signed_facts(&sb, &|b| {
                    registry.secret_no_signature_ok(b.sn, &b.timestamp_text, &b.nonce, b.signature)
                });
                let about = sb.as_ref().map(|b| b.sn.to_string());
                let registered_ever = about
                    .as_deref()
                    .is_some_and(|s| registry.registered_ever(s));
                sn = about.or(sn);
                Request::GetSecretNo {
                    signed,
                    registered_ever,
                }
            }
            "active" => {
                let code = str_field(body, "active_code");
                if sn.is_none() && !ordered {
                    sn = code.and_then(|c| registry.sn_by_active_code(c));
                }
                let s = sn.as_deref().unwrap_or_default();
                Request::Active {
                    malformed: code.is_none(),
                    code_matches: code.is_some_and(|c| registry.active_code_matches(s, c)),
                    bound: registry.is_bound(s),
                }
            }
            "subscribe_corp" => {
                let secret = str_field(body, "secret");
                let malformed = secret.is_none() || str_field(body, "firmware_version").is_none();
                let rate_limited = rate
                    .admit(
                        conn.ip,
                        tokio::time::Instant::now(),
                        self.config.timings.subscribe_window,
                        self.config.timings.subscribe_limit,
                    )
                    .err();
                if sn.is_none() && !ordered {
                    sn = secret.and_then(|s| registry.sn_by_secret(s));
                }
                let s = sn.as_deref().unwrap_or_default();
                Request::SubscribeCorp {
                    rate_limited,
                    malformed,
                    ever_activated: registry.activated_here_or_by(s, secret),
                    secret_matches: secret.is_some_and(|secret| registry.secret_matches(s, secret)),
                    bound: registry.is_bound(s),
                }
            }
            "ping" => Request::Ping,
            "get_timestamp" => Request::GetTimestamp,
            // upload_log is a binary frame (§1.2); as text it is malformed.
            "upload_log" => Request::Business {
                malformed: true,
                implemented: true,
            },
            "selfhelp_notify" => Request::Business {
                malformed: str_field(body, "data").is_none(),
                implemented: true,
            },
            "gen_login_qrcode" => {
                let version_ok = body
                    .and_then(|b| b.get("format_version"))
                    .and_then(Value::as_u64)
                    == Some(1);
                Request::Business {
                    malformed: str_field(body, "state").is_none() || !version_ok,
                    implemented: true,
                }
            }
            c if Catalog::get().is_device_command(c) => Request::Business {
                malformed: super::business::malformed(c, body),
                implemented: true,
            },
            _ => Request::Unknown,
        };
        (req, sn)
    }
}
