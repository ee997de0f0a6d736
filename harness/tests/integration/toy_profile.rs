//! The profile is a seam: a second protocol, a toy of two commands and one always-on rule,
//! runs a scenario through the loader, the engine, the requirement matrix and the reports
//! without anything of the WeCom profile. What a new profile implements is what this file
//! implements; where the harness still assumes WeCom, this test stops compiling or fails.
//!
//! The toy protocol: a request is `{"op": CMD, "id": REQ, "args": {...}}`, its reply
//! `{"re": REQ, "ok": BOOL, "data": {...}}`. Rule T1: a reply says `ok` as a boolean. T2 is
//! what the scenario checks: the cloud echoes what it is sent.

use crate::common::run_library;
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use hwconform::check::golden::normalize::{normalize_by, normalize_with, NormalizeOptions};
use hwconform::engine::runner::RunConfig;
use hwconform::engine::target::{
    CloudCapabilities, CloudControl, CloudLink, CloudTarget, TargetError,
};
use hwconform::engine::{Outcome, RunSummary, ScenarioResult};
use hwconform::profile::fleet::Fleet;
use hwconform::profile::{
    BinaryReplyView, CloudSettings, DefaultContext, DefaultReply, DeviceIdentity, Feature,
    Keepalive, Learned, Profile, ReplyParts, RoleMonitor, RunValue, SecondLinkRule, Secret,
    Statement, Violation, REDACTED,
};
use hwconform::report::matrix::Status;
use hwconform::report::{ReportFormat, RunMeta, RunReport};
use hwconform::scenario::{load_str, load_str_with};
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Message;

/// The toy protocol's obligations, as its reference would word them.
struct Toy {
    statements: Vec<Statement>,
}

impl Toy {
    fn new() -> Toy {
        let statement = |id: &str, text: &str| Statement {
            id: id.to_string(),
            source: "toy".to_string(),
            strength: "must".to_string(),
            markers: vec![],
            text: text.to_string(),
        };
        Toy {
            statements: vec![
                statement("T1", "A reply says `ok` as a boolean."),
                statement("T2", "The cloud echoes what `echo` is sent."),
            ],
        }
    }
}

const FEATURES: &[Feature] = &[];

impl Profile for Toy {
    fn name(&self) -> &'static str {
        "toy"
    }

    fn version(&self) -> String {
        "toy-1".to_string()
    }

    fn request_frame(&self, cmd: &str, req_id: &str, body: Option<Value>) -> Value {
        json!({"op": cmd, "id": req_id, "args": body.unwrap_or_else(|| json!({}))})
    }

    fn push_frame(&self, cmd: &str, req_id: &str, body: Option<Value>) -> Value {
        json!({"op": cmd, "id": req_id, "push": true, "args": body.unwrap_or_else(|| json!({}))})
    }

    fn reply_frame(&self, req_id: &str, reply: &ReplyParts) -> Value {
        json!({"re": req_id, "ok": reply.errcode == 0, "data": reply.body.clone().unwrap_or_else(|| json!({}))})
    }

    fn binary_reply(&self, _req_id: &str, data: &[u8]) -> Vec<u8> {
        data.to_vec()
    }

    fn req_id<'v>(&self, frame: &'v Value) -> Option<&'v str> {
        frame
            .get("id")
            .or_else(|| frame.get("re"))
            .and_then(Value::as_str)
    }

    fn command<'v>(&self, frame: &'v Value) -> Option<&'v str> {
        frame.get("op").and_then(Value::as_str)
    }

    fn is_reply_to(&self, frame: &Value, req_id: &str) -> bool {
        frame.get("re").and_then(Value::as_str) == Some(req_id)
    }

    fn decode_binary_reply(&self, _bytes: &[u8]) -> Option<BinaryReplyView> {
        None
    }

    fn decode_binary_request(&self, _bytes: &[u8]) -> Option<Value> {
        None
    }

    fn binary_layout(&self, _bytes: &[u8]) -> Option<&'static str> {
        None
    }

    /// T1, the toy's one always-on rule.
    fn check_reply(&self, reply: &Value, _req_id: &str, _strict_codes: bool) -> Vec<Violation> {
        match reply.get("ok") {
            Some(Value::Bool(_)) => vec![],
            other => vec![Violation::fail(
                "T1",
                format!("the reply's `ok` is {other:?}, not a boolean"),
            )],
        }
    }

    fn default_body(
        &self,
        _cmd: &str,
        given: Option<Value>,
        _ctx: &DefaultContext<'_>,
    ) -> Option<Value> {
        given
    }

    fn learn(&self, _cmd: &str, _reply: &Value) -> Vec<Learned> {
        vec![]
    }

    fn signing_secret(
        &self,
        _kind: &str,
        _identity: &DeviceIdentity,
        _seed: Option<&Secret>,
    ) -> Option<String> {
        None
    }

    fn keepalive(&self, _settings: &CloudSettings) -> Option<Keepalive> {
        None
    }

    fn default_auto_replies(&self) -> Vec<DefaultReply> {
        vec![]
    }

    fn run_variable(&self, _name: &str, _settings: &CloudSettings) -> Option<RunValue> {
        None
    }

    fn run_variable_names(&self) -> &'static [&'static str] {
        &[]
    }

    fn second_link_rule(&self) -> Option<SecondLinkRule> {
        None
    }

    fn proves_login(&self, _cmd: &str) -> bool {
        false
    }

    fn login_proof_within(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }

    fn is_secret_key(&self, key: &str) -> bool {
        key == "password"
    }

    fn redact(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let v = if self.is_secret_key(k) {
                            Value::from(REDACTED)
                        } else {
                            self.redact(v)
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.redact(v)).collect()),
            other => other.clone(),
        }
    }

    fn volatile_keys(&self) -> &'static [&'static str] {
        &["id", "re"]
    }

    fn large_frame_envelope(&self, value: &Value) -> Value {
        json!({"op": value.get("op"), "id": value.get("id"), "re": value.get("re")})
    }

    fn is_obligation(&self, id: &str) -> bool {
        self.statements.iter().any(|s| s.id == id)
    }

    fn statements(&self) -> &[Statement] {
        &self.statements
    }

    fn ics_features(&self) -> &'static [Feature] {
        FEATURES
    }

    fn cloud_monitors(&self, _strict_codes: bool) -> Vec<Box<dyn RoleMonitor>> {
        vec![]
    }

    fn device_monitors(&self, _seeded: Option<bool>) -> Vec<Box<dyn RoleMonitor>> {
        vec![]
    }
}

/// A toy cloud in-process: it echoes `echo`'s args and answers `ok` as `ok_as` says (a
/// boolean when it keeps rule T1).
struct ToyCloud {
    ok_as: Value,
}

struct ToyLink {
    ok_as: Value,
}

impl CloudTarget for ToyCloud {
    fn describe(&self) -> String {
        "toy cloud".to_string()
    }

    fn prepare(&self) -> BoxFuture<'_, Result<(), TargetError>> {
        Box::pin(async { Ok(()) })
    }

    fn capabilities(&self) -> CloudCapabilities {
        CloudCapabilities {
            ours: true,
            ..CloudCapabilities::default()
        }
    }

    fn settings(&self) -> CloudSettings {
        CloudSettings::new(())
    }

    fn reference(&self) -> bool {
        false
    }

    fn open<'a>(
        &'a self,
        _slot: u8,
        _fleet: Fleet,
        _start_unix: u64,
        _sources: &'a [Ipv4Addr],
    ) -> BoxFuture<'a, Result<Box<dyn CloudLink>, TargetError>> {
        let ok_as = self.ok_as.clone();
        Box::pin(async move { Ok(Box::new(ToyLink { ok_as }) as Box<dyn CloudLink>) })
    }
}

impl CloudLink for ToyLink {
    fn capabilities(&self) -> CloudCapabilities {
        CloudCapabilities {
            ours: true,
            ..CloudCapabilities::default()
        }
    }

    fn settings(&self) -> CloudSettings {
        CloudSettings::new(())
    }

    fn connect(
        &mut self,
        _from: Ipv4Addr,
    ) -> BoxFuture<'_, Result<(hwconform::wire::transport::WsStream, String), TargetError>> {
        let ok_as = self.ok_as.clone();
        Box::pin(async move {
            let (client, server) = tokio::io::duplex(64 * 1024);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(server).await else {
                    return;
                };
                while let Some(Ok(Message::Text(text))) = ws.next().await {
                    let Ok(request) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    let reply = json!({
                        "re": request["id"],
                        "ok": ok_as,
                        "data": {"said": request["args"]["say"]},
                    });
                    if ws.send(Message::text(reply.to_string())).await.is_err() {
                        return;
                    }
                }
            });
            let io: hwconform::wire::transport::BoxIo = Box::new(client);
            let ws = hwconform::wire::transport::handshake("ws://toy.invalid/", io, None).await?;
            Ok((ws, "127.0.0.1:40000".to_string()))
        })
    }

    fn control(&self, _op: CloudControl) -> BoxFuture<'_, Result<Value, TargetError>> {
        Box::pin(async { Err(TargetError::failed("the toy cloud takes no control")) })
    }
}

const SCENARIO: &str = "id: toy.echo
title: The toy cloud echoes what it is sent
requirements: [T1, T2]
role: device
steps:
  - connect: a
  - request: { cmd: echo, body: { say: hello } }
    expect: { data: { said: hello } }
    judges: T2
";

fn run(ok_as: Value) -> (Arc<Toy>, Vec<ScenarioResult>) {
    let toy = Arc::new(Toy::new());
    let scenario = load_str_with(&*toy, Path::new("toy.yaml"), SCENARIO)
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let config = RunConfig {
        cloud: Some(Arc::new(ToyCloud { ok_as })),
        profile: toy.clone(),
        jobs: 1,
        ..RunConfig::default()
    };
    (toy.clone(), run_library(&[scenario], config))
}

/// The run's report with the toy's matrix, as the CLI builds it from the metadata it makes.
fn report(toy: &Toy, results: Vec<ScenarioResult>) -> RunReport {
    let mut summary = RunSummary::default();
    for r in &results {
        summary.add(&r.verdict);
    }
    let mut report = RunReport::new("toy cloud", summary, results);
    report.meta = RunMeta::for_profile(toy);
    report.rebuild_matrix();
    report
}

fn statuses(report: &RunReport) -> Vec<(String, Status)> {
    report
        .requirements
        .iter()
        .map(|r| (r.id.clone(), r.status))
        .collect()
}

#[test]
fn the_loader_takes_the_profiles_obligations_not_wecoms() {
    let toy = Toy::new();
    let wecom = "id: toy.x\ntitle: t\nrequirements: [C1]\nrole: device\nsteps:\n  - connect: a\n";
    let err = load_str_with(&toy, Path::new("x.yaml"), wecom).unwrap_err();
    let text = err.render();
    assert!(
        text.contains("unknown requirement id `C1`") && text.contains("T1..T2"),
        "{text}"
    );
    // The same file is a WeCom scenario, and the toy's is not one.
    assert!(load_str(Path::new("x.yaml"), wecom).is_ok());
    assert!(load_str(Path::new("toy.yaml"), SCENARIO).is_err());
    assert!(load_str_with(&toy, Path::new("toy.yaml"), SCENARIO).is_ok());
}

#[test]
fn a_toy_cloud_that_keeps_the_rule_passes_through_engine_matrix_and_reports() {
    let (toy, results) = run(json!(true));
    let r = &results[0];
    assert_eq!(r.verdict.name(), "pass", "{:?}", r.verdict);
    assert_eq!(r.obligations.get("T1"), Some(&Outcome::Pass));
    assert_eq!(r.obligations.get("T2"), Some(&Outcome::Pass));
    // A golden of it placeholders the toy's volatile keys, not WeCom's.
    let opts = NormalizeOptions { times: false };
    let golden = normalize_by(&*toy, &r.transcript, opts);
    assert!(golden.contains(r#""id":"<id#1>""#), "{golden}");
    assert!(!normalize_with(&r.transcript, opts).contains("<id#1>"));
    let report = report(&toy, results);
    assert_eq!(
        statuses(&report),
        vec![
            ("T1".to_string(), Status::Pass),
            ("T2".to_string(), Status::Pass)
        ],
        "the matrix lists the toy's obligations, and only them"
    );
    assert_eq!(report.meta.profile, "toy");
    assert_eq!(report.meta.catalog_version, "toy-1");

    let dir = std::env::temp_dir().join(format!("hwconform-toy-profile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    hwconform::report::write_reports(&report, &dir, ReportFormat::ALL).unwrap();
    let run_json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run_json["meta"]["profile"], "toy");
    assert_eq!(run_json["requirements"][0]["id"], "T1");
    assert_eq!(
        run_json["requirements"][0]["text"],
        "A reply says `ok` as a boolean."
    );
    let csv = std::fs::read_to_string(dir.join("requirements.csv")).unwrap();
    assert!(csv.contains("T2") && !csv.contains("D1,"), "{csv}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("The cloud echoes what"),
        "the HTML report shows T2's statement"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains("toy.echo"), "{junit}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_toy_cloud_that_breaks_the_rule_fails_that_rule_alone() {
    let (toy, results) = run(json!("yes"));
    let r = &results[0];
    assert_eq!(
        r.obligations.get("T1"),
        Some(&Outcome::Fail),
        "{:?}",
        r.verdict
    );
    assert_eq!(
        r.obligations.get("T2"),
        Some(&Outcome::Pass),
        "{:?}",
        r.verdict
    );
    assert_eq!(
        statuses(&report(&toy, results)),
        vec![
            ("T1".to_string(), Status::Fail),
            ("T2".to_string(), Status::Pass)
        ]
    );
}
