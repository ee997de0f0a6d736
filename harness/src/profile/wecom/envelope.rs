//! The JSON envelopes of the wire: device requests, cloud replies and cloud pushes.
//!
//! Replies and pushes are told apart by the presence of `cmd` (§1.4); a frame is parsed
//! into an [`Envelope`] once and every part of the harness reads that.

use super::catalog::Suggestion;
use crate::profile::json::field;
use serde_json::{json, Map, Value};

/// A parsed text frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Envelope {
    /// Device → cloud: `{cmd, headers.req_id, body?}`.
    Request {
        cmd: String,
        req_id: String,
        body: Option<Value>,
    },
    /// Cloud → device: `{headers.req_id, errcode, errmsg, body?, suggestion?, interval?}`.
    Reply {
        req_id: Option<String>,
        errcode: i64,
        errmsg: String,
        body: Option<Value>,
    },
    /// Cloud → device: `{cmd: push_*, headers.req_id, body?}`.
    Push {
        cmd: String,
        req_id: String,
        body: Option<Value>,
    },
}

/// Why a frame is not a protocol envelope.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnvelopeError {
    #[error("frame is not JSON: {0}")]
    NotJson(String),
    #[error("frame is JSON but not an object")]
    NotObject,
    #[error("field `{field}` is missing")]
    Missing { field: &'static str },
    #[error("field `{field}` must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
}

impl Envelope {
    /// Parses a text frame, classifying it by the presence of `cmd`.
    pub fn parse(text: &str) -> Result<Envelope, EnvelopeError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
        Envelope::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<Envelope, EnvelopeError> {
        let obj = value.as_object().ok_or(EnvelopeError::NotObject)?;
        Envelope::of(obj, obj.get("body").cloned())
    }

    /// [`Envelope::from_value`] for a frame nobody else reads: its body moves into the
    /// envelope instead of being copied.
    pub fn from_owned(value: Value) -> Result<Envelope, EnvelopeError> {
        let Value::Object(mut obj) = value else {
            return Err(EnvelopeError::NotObject);
        };
        let body = obj.remove("body");
        Envelope::of(&obj, body)
    }

    /// The envelope of `obj`, its body taken out already.
    fn of(obj: &Map<String, Value>, body: Option<Value>) -> Result<Envelope, EnvelopeError> {
        let req_id = req_id_of(obj)?;
        if let Some(body) = &body {
            if !body.is_object() {
                return Err(EnvelopeError::WrongType {
                    field: "body",
                    expected: "an object",
                });
            }
        }
        match obj.get("cmd") {
            Some(Value::String(cmd)) => {
                let req_id = req_id.ok_or(EnvelopeError::Missing {
                    field: "headers.req_id",
                })?;
                if cmd.starts_with("push_") {
                    Ok(Envelope::Push {
                        cmd: cmd.clone(),
                        req_id,
                        body,
                    })
                } else {
                    Ok(Envelope::Request {
                        cmd: cmd.clone(),
                        req_id,
                        body,
                    })
                }
            }
            Some(_) => Err(EnvelopeError::WrongType {
                field: "cmd",
                expected: "a string",
            }),
            None => {
                let errcode = match obj.get("errcode") {
                    Some(v) => v.as_i64().ok_or(EnvelopeError::WrongType {
                        field: "errcode",
                        expected: "an integer",
                    })?,
                    None => return Err(EnvelopeError::Missing { field: "errcode" }),
                };
                let errmsg = match obj.get("errmsg") {
                    Some(Value::String(s)) => s.clone(),
                    Some(_) => {
                        return Err(EnvelopeError::WrongType {
                            field: "errmsg",
                            expected: "a string",
                        })
                    }
                    None => return Err(EnvelopeError::Missing { field: "errmsg" }),
                };
                Ok(Envelope::Reply {
                    req_id,
                    errcode,
                    errmsg,
                    body,
                })
            }
        }
    }

    pub fn req_id(&self) -> Option<&str> {
        match self {
            Envelope::Request { req_id, .. } | Envelope::Push { req_id, .. } => Some(req_id),
            Envelope::Reply { req_id, .. } => req_id.as_deref(),
        }
    }
}

fn req_id_of(obj: &Map<String, Value>) -> Result<Option<String>, EnvelopeError> {
    match obj.get("headers") {
        None => Ok(None),
        Some(Value::Object(h)) => match h.get("req_id") {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(EnvelopeError::WrongType {
                field: "headers.req_id",
                expected: "a string",
            }),
        },
        Some(_) => Err(EnvelopeError::WrongType {
            field: "headers",
            expected: "an object",
        }),
    }
}

/// A frame's `headers.req_id`, as `frame.pointer("/headers/req_id")` finds it, without the
/// strings a JSON pointer allocates per token: every frame is looked up this way several
/// times (the wait for a reply, the reply checks, the monitors).
pub fn header_req_id(frame: &Value) -> Option<&Value> {
    field(field(frame, "headers")?, "req_id")
}

/// A device request frame; `body` is left out when `None` (parameterless commands).
pub fn request(cmd: &str, req_id: &str, body: Option<Value>) -> Value {
    let mut v = json!({"cmd": cmd, "headers": {"req_id": req_id}});
    if let Some(body) = body {
        v["body"] = body;
    }
    v
}

/// A success reply echoing `req_id`.
pub fn reply_ok(req_id: &str, body: Option<Value>) -> Value {
    let mut v = json!({"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"});
    if let Some(body) = body {
        v["body"] = body;
    }
    v
}

/// An error reply with the FAQ's `suggestion` and `interval`. Without a `req_id` (the
/// request could not be parsed) the frame has no `headers`, as [IMPL-C] expects.
pub fn reply_error(
    req_id: Option<&str>,
    errcode: i64,
    errmsg: &str,
    suggestion: Suggestion,
    interval: i64,
) -> Value {
    let mut v = json!({"errcode": errcode, "errmsg": errmsg, "suggestion": suggestion.as_str(), "interval": interval});
    if let Some(id) = req_id {
        v["headers"] = json!({"req_id": id});
    }
    v
}

/// A cloud push with its own `req_id`.
pub fn push(cmd: &str, req_id: &str, body: Option<Value>) -> Value {
    request(cmd, req_id, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(r#"{"cmd":"register","headers":{"req_id":"r1"},"body":{}}"#, true)]
    #[case(r#"{"cmd":"push_bind_corp","headers":{"req_id":"p1"}}"#, true)]
    #[case(r#"{"headers":{"req_id":"r1"},"errcode":0,"errmsg":"ok"}"#, true)]
    #[case(r#"{"errcode":600014,"errmsg":"x"}"#, true)]
    #[case(r#"not json"#, false)]
    #[case(r#"[1,2]"#, false)]
    #[case(r#"{"cmd":7,"headers":{"req_id":"r1"}}"#, false)]
    #[case(r#"{"cmd":"ping"}"#, false)]
    #[case(r#"{"cmd":"ping","headers":{"req_id":5}}"#, false)]
    #[case(r#"{"cmd":"ping","headers":{"req_id":"a"},"body":"x"}"#, false)]
    #[case(r#"{"headers":{"req_id":"r1"},"errcode":"0","errmsg":"ok"}"#, false)]
    #[case(r#"{"headers":{"req_id":"r1"},"errmsg":"ok"}"#, false)]
    fn parse_classifies(#[case] text: &str, #[case] ok: bool) {
        assert_eq!(
            Envelope::parse(text).is_ok(),
            ok,
            "{text}: {:?}",
            Envelope::parse(text)
        );
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            assert_eq!(
                Envelope::from_owned(value),
                Envelope::parse(text),
                "moving the body changes nothing: {text}"
            );
        }
    }

    #[test]
    fn push_and_request_are_told_apart_by_cmd_prefix() {
        assert!(matches!(
            Envelope::from_value(&push("push_bind_corp", "p", None)).unwrap(),
            Envelope::Push { .. }
        ));
        assert!(matches!(
            Envelope::from_value(&request("ping", "r", None)).unwrap(),
            Envelope::Request { .. }
        ));
        let e = reply_error(Some("r"), 600014, "x", Suggestion::Retry, 1);
        assert_eq!(Envelope::from_value(&e).unwrap().req_id(), Some("r"));
    }
}
