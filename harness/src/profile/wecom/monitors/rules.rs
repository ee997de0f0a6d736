//! Always-on checks of what a cloud sends, each naming the behaviour (C-id) it enforces.
//!
//! The session runs these on every frame it receives from a cloud target, whichever step is
//! running, so a scenario about rate limits still fails if a reply drops its `req_id`.

use crate::profile::json::field;
use crate::profile::wecom::catalog::{Catalog, Suggestion};
use crate::profile::wecom::envelope::header_req_id;
pub use crate::profile::Violation;
use serde_json::Value;

fn v(rule: &'static str, message: impl Into<String>) -> Violation {
    Violation::fail(rule, message)
}

/// Checks a reply to the request with `req_id` (C1, C2, C12). With `strict_codes`, an
/// error code outside the catalog breaks C12 (right for the mock, which defines every code it
/// uses; a real cloud may use undocumented ones).
pub fn check_reply(frame: &Value, req_id: &str, strict_codes: bool) -> Vec<Violation> {
    let mut out = Vec::new();
    let echoed = header_req_id(frame).and_then(Value::as_str);
    if echoed != Some(req_id) {
        out.push(v(
            "C1",
            format!("reply does not echo headers.req_id {req_id:?} (got {echoed:?})"),
        ));
    }
    let errcode = field(frame, "errcode").and_then(Value::as_i64);
    match errcode {
        None => out.push(v("C1", "reply has no integer errcode")),
        Some(0) => {
            if field(frame, "errmsg").and_then(Value::as_str) != Some("ok") {
                out.push(v(
                    "C1",
                    format!(
                        "success reply has errmsg {} instead of \"ok\"",
                        field(frame, "errmsg").unwrap_or(&Value::Null)
                    ),
                ));
            }
        }
        Some(code) => {
            if !field(frame, "errmsg").is_some_and(Value::is_string) {
                out.push(v("C1", "error reply has no string errmsg"));
            }
            out.extend(check_error_advice(frame, code, strict_codes));
        }
    }
    if field(frame, "cmd").is_some() {
        out.push(v("C2", "reply carries a `cmd` field"));
    }
    out
}

/// Error replies carry a known code, `suggestion` ∈ {retry, reconnect} and an integer
/// `interval` (C12).
pub fn check_error_advice(frame: &Value, code: i64, strict_codes: bool) -> Vec<Violation> {
    let mut out = Vec::new();
    if strict_codes && Catalog::get().error(code).is_none() {
        out.push(v(
            "C12",
            format!("errcode {code} is not in the error catalog"),
        ));
    }
    match field(frame, "suggestion").and_then(Value::as_str) {
        Some(s) if Suggestion::parse(s).is_some() => {}
        Some(s) => out.push(v(
            "C12",
            format!("error reply has suggestion {s:?}, expected retry or reconnect"),
        )),
        None => out.push(v("C12", format!("error reply {code} has no suggestion"))),
    }
    match field(frame, "interval").and_then(Value::as_i64) {
        Some(i) if i >= -1 => {}
        Some(i) => out.push(v(
            "C12",
            format!("error reply has interval {i}, expected -1 or more"),
        )),
        None => out.push(v(
            "C12",
            format!("error reply {code} has no integer interval"),
        )),
    }
    out
}

/// Pushes carry `cmd` starting with `push_` and their own `headers.req_id` (C2).
pub fn check_push(frame: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    match frame.get("cmd").and_then(Value::as_str) {
        Some(c) if c.starts_with("push_") => {}
        other => out.push(v("C2", format!("push has cmd {other:?}, expected push_*"))),
    }
    if !header_req_id(frame).is_some_and(Value::is_string) {
        out.push(v("C2", "push has no headers.req_id"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[rstest]
    #[case(json!({"headers":{"req_id":"a"},"errcode":0,"errmsg":"ok"}), None)]
    #[case(json!({"headers":{"req_id":"b"},"errcode":0,"errmsg":"ok"}), Some("C1"))]
    #[case(json!({"errcode":0,"errmsg":"ok"}), Some("C1"))]
    #[case(json!({"headers":{"req_id":"a"},"errcode":0,"errmsg":"fine"}), Some("C1"))]
    #[case(json!({"headers":{"req_id":"a"},"errcode":0,"errmsg":"ok","cmd":"register"}), Some("C2"))]
    #[case(json!({"headers":{"req_id":"a"},"errcode":600014,"errmsg":"x","suggestion":"retry","interval":1}), None)]
    #[case(json!({"headers":{"req_id":"a"},"errcode":600014,"errmsg":"x"}), Some("C12"))]
    #[case(json!({"headers":{"req_id":"a"},"errcode":600014,"errmsg":"x","suggestion":"later","interval":1}), Some("C12"))]
    #[case(json!({"headers":{"req_id":"a"},"errcode":600014,"errmsg":"x","suggestion":"retry","interval":-2}), Some("C12"))]
    #[case(json!({"headers":{"req_id":"a"},"errcode":123,"errmsg":"x","suggestion":"retry","interval":1}), Some("C12"))]
    fn reply_rules(#[case] frame: Value, #[case] broken: Option<&str>) {
        if broken != Some("C12") || frame["errcode"] != 123 {
            assert_eq!(
                check_reply(&frame, "a", false).first().map(|v| v.rule),
                broken
            );
        } else {
            assert!(
                check_reply(&frame, "a", false).is_empty(),
                "a real cloud may use undocumented codes"
            );
        }
        let got = check_reply(&frame, "a", true);
        assert_eq!(got.first().map(|v| v.rule), broken, "{got:?}");
    }
}
