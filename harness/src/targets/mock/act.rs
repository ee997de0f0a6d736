//! The cloud's upper-tester actions as the mock's control plane performs them: one
//! translation, for the in-process mock and for a standalone one at a URL alike.
//!
//! An act is the control operation of its name (`scan_qr` is the mock's `scan_login_qr`); the
//! one question, `remote_open_failed`, is asked as the `recorded` query and its answer read
//! from the remote opens the mock recorded.

use crate::engine::target::{Answer, CloudAction, CloudControl, TargetError};
use futures_util::future::BoxFuture;
use serde_json::{json, Value};

/// Performs `action` through `control` (the link's control plane): `sent` hears the request
/// before it is sent. A control refusal is the error; a question's answer is read from the
/// control answer.
pub(crate) fn perform<'a>(
    action: &'a CloudAction,
    sn: &str,
    sent: &mut dyn FnMut(&Value),
    control: impl FnOnce(CloudControl) -> BoxFuture<'a, Result<Value, TargetError>>,
) -> BoxFuture<'a, Result<Answer, TargetError>> {
    let req = match request(action, sn) {
        Ok(req) => req,
        Err(e) => return Box::pin(async { Err(e) }),
    };
    sent(&serde_json::to_value(&req).unwrap_or_default());
    let answer = control(req);
    Box::pin(async move { Ok(answer_to(action, &answer.await?)) })
}

/// The mock's control request for `action` about `sn`.
pub(crate) fn request(action: &CloudAction, sn: &str) -> Result<CloudControl, TargetError> {
    let sn = sn.to_string();
    let op = match action.name.as_str() {
        "bind" => return Ok(CloudControl::Bind { sn }),
        "unbind" => return Ok(CloudControl::Unbind { sn }),
        "remote_open_failed" => {
            return Ok(CloudControl::Request(json!({ "op": "recorded", "sn": sn })))
        }
        "scan_qr" => "scan_login_qr",
        "remote_open_door" | "fetch_log" => action.name.as_str(),
        other => {
            return Err(TargetError::failed(format!(
                "the mock cannot be made to act {other:?}"
            )))
        }
    };
    let mut req = serde_json::Map::new();
    req.insert("op".into(), Value::from(op));
    req.insert("sn".into(), Value::from(sn));
    req.extend(action.args.clone());
    Ok(CloudControl::Request(Value::Object(req)))
}

/// The answer to `action` in the mock's control answer: no says what the cloud shows instead.
/// An act has no answer to read.
pub(crate) fn answer_to(action: &CloudAction, control_answer: &Value) -> Answer {
    if action.name != "remote_open_failed" {
        return Answer::Yes;
    }
    let oper_id = action
        .args
        .get("oper_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let opens = control_answer["remote_opens"].as_array();
    let open = opens
        .into_iter()
        .flatten()
        .find(|o| o["oper_id"].as_str() == Some(oper_id));
    match open.and_then(|o| o["result"].as_str()) {
        // `late`: reported after the 3 s, which the mock marks failed.
        Some("failed" | "late") => Answer::Yes,
        Some(other) => Answer::No(format!(
            "the cloud shows the remote open {oper_id} as {other}"
        )),
        None => Answer::No(format!("the cloud shows no remote open {oper_id}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn late_one() -> CloudAction {
        CloudAction::asking("remote_open_failed", json!({"oper_id": "op-2"}))
    }

    /// Each action as the mock's control plane gets it, beside what the lab's command gets:
    /// the same arguments in the same order, under the mock's names.
    #[rstest::rstest]
    #[case::bind(
        CloudAction::act("bind", Value::Null),
        r#"{"action":"bind","sn":"S"}"#,
        r#"{"op":"bind","sn":"S"}"#
    )]
    #[case::unbind(
        CloudAction::act("unbind", Value::Null),
        r#"{"action":"unbind","sn":"S"}"#,
        r#"{"op":"unbind","sn":"S"}"#
    )]
    #[case::remote_open(CloudAction::act("remote_open_door", json!({"userid": "u"})), r#"{"action":"remote_open_door","sn":"S","userid":"u"}"#, r#"{"op":"remote_open_door","sn":"S","userid":"u"}"#)]
    #[case::fetch_log(CloudAction::act("fetch_log", json!({"hint": "a b"})), r#"{"action":"fetch_log","sn":"S","hint":"a b"}"#, r#"{"op":"fetch_log","sn":"S","hint":"a b"}"#)]
    #[case::scan(CloudAction::act("scan_qr", json!({"userid": "u", "state": "s", "dynamic_timestamp": 7})), r#"{"action":"scan_qr","sn":"S","userid":"u","state":"s","dynamic_timestamp":7}"#, r#"{"op":"scan_login_qr","sn":"S","userid":"u","state":"s","dynamic_timestamp":7}"#)]
    #[case::static_scan(CloudAction::act("scan_qr", json!({"userid": "u", "state": "s"})), r#"{"action":"scan_qr","sn":"S","userid":"u","state":"s"}"#, r#"{"op":"scan_login_qr","sn":"S","userid":"u","state":"s"}"#)]
    #[case::question(
        late_one(),
        r#"{"action":"remote_open_failed","sn":"S","oper_id":"op-2"}"#,
        r#"{"op":"recorded","sn":"S"}"#
    )]
    fn a_cloud_action_is_expressed_once(
        #[case] action: CloudAction,
        #[case] lab: &str,
        #[case] mock: &str,
    ) {
        assert_eq!(action.to_json("S").to_string(), lab);
        let req = serde_json::to_value(request(&action, "S").unwrap()).unwrap();
        assert_eq!(req.to_string(), mock);
    }

    /// An action the mock does not know is refused, never sent as something else.
    #[test]
    fn an_unknown_action_is_refused() {
        let err = request(&CloudAction::act("water_plants", Value::Null), "S").unwrap_err();
        assert!(err.to_string().contains("water_plants"), "{err}");
    }

    /// The mock's `recorded` answer read as the question's: a late or failed open is yes.
    #[rstest::rstest]
    #[case::late("late", true)]
    #[case::failed("failed", true)]
    #[case::succeeded("succeeded", false)]
    #[case::pending("pending", false)]
    fn the_mock_answers_the_remote_open_question(#[case] result: &str, #[case] yes: bool) {
        let answer = json!({ "ok": true, "remote_opens": [
            { "oper_id": "op-1", "result": "late" },
            { "oper_id": "op-2", "result": result },
        ]});
        assert_eq!(
            answer_to(&late_one(), &answer) == Answer::Yes,
            yes,
            "{result}"
        );
        let none = json!({ "ok": true, "remote_opens": [] });
        assert!(
            matches!(answer_to(&late_one(), &none), Answer::No(e) if e.contains("no remote open op-2"))
        );
        assert_eq!(
            answer_to(&CloudAction::act("bind", Value::Null), &none),
            Answer::Yes
        );
    }

    /// What the control plane is sent is heard first, and its answer decides the question.
    #[tokio::test]
    async fn the_request_is_heard_then_answered() {
        let question = late_one();
        let mut heard = Vec::new();
        let answer =
            json!({ "ok": true, "remote_opens": [{ "oper_id": "op-2", "result": "succeeded" }]});
        let done = perform(&question, "S", &mut |req| heard.push(req.clone()), |_| {
            Box::pin(async move { Ok(answer) })
        });
        assert_eq!(heard, vec![json!({"op": "recorded", "sn": "S"})]);
        assert!(matches!(done.await, Ok(Answer::No(e)) if e.contains("as succeeded")));
        let refused = perform(&question, "S", &mut |_| {}, |_| {
            Box::pin(async { Err(TargetError::failed("no")) })
        });
        assert!(refused.await.is_err());
    }
}
