//! Observer scenarios (`role: observer`) on loopback: the mock cloud upstream, the reference
//! device (conformant or with a fault) relayed to it by the observe relay, the scenario's
//! faults armed on the live link and its expectations judged. Every wait is bounded by the
//! scenarios' windows and deadlines.

use hwconform::engine::verdict::{Outcome, ScenarioResult};
use hwconform::observe::scenario::{run, ScenarioSetup};
use hwconform::profile::Fleet;
use hwconform::scenario::{load_file, load_paths, Role};
use hwconform::targets::mock::{self, MockConfig};
use hwconform::targets::DeviceChoice;
use hwconform::wire::transport::Endpoint;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/observer")
}

async fn setup(device: &str) -> (ScenarioSetup, tokio::task::JoinHandle<()>) {
    let config = MockConfig {
        fleet: Fleet::default_fleet(),
        ..MockConfig::default()
    };
    let (addr, mock) = mock::listen(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let setup = ScenarioSetup {
        upstream: Endpoint::parse(&format!("ws://{addr}")).unwrap(),
        insecure: false,
        device: DeviceChoice::parse(device).unwrap().build(),
        identity: Fleet::default_fleet().devices[0].identity.clone(),
        profile: hwconform::profile::default_profile(),
        on_finding: hwconform::observe::OnFinding::ignored(),
        children: Arc::default(),
    };
    (setup, mock)
}

fn outcome(r: &ScenarioResult, id: &str) -> Option<Outcome> {
    r.obligations.get(id).copied()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_device_and_the_mock_pass_every_observer_scenario() {
    let scenarios = load_paths(&[library()]).unwrap();
    assert!(scenarios.len() >= 3);
    let (setup, mock) = setup("sim").await;
    for sc in &scenarios {
        assert_eq!(sc.role, Role::Observer, "{}", sc.id.value);
        let results = run(sc, &setup).await;
        let own = &results[0];
        assert_eq!(own.id, sc.id.value);
        assert_eq!(own.verdict.name(), "pass", "{}: {:#?}", own.id, own.verdict);
        for id in &own.requirements {
            assert_eq!(outcome(own, id), Some(Outcome::Pass), "{} {id}", own.id);
        }
        // Each relayed link gives both parties' monitor results, and neither failed.
        assert!(results.len() >= 3, "{}: {} results", own.id, results.len());
        for r in &results[1..] {
            assert!(
                r.id.starts_with(&format!("{}.observe.", sc.id.value)),
                "{}",
                r.id
            );
            assert_ne!(r.verdict.name(), "fail", "{}: {:#?}", r.id, r.findings);
        }
    }
    mock.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_re_sends_too_soon_fails_d13_alone() {
    let sc = load_file(&library().join("lost-reply-register.yaml")).unwrap();
    let (setup, mock) = setup("sim:fault=short-timeout").await;
    let results = run(&sc, &setup).await;
    mock.abort();
    let own = &results[0];
    assert_eq!(own.verdict.name(), "fail", "{:#?}", own.verdict);
    assert_eq!(outcome(own, "D13"), Some(Outcome::Fail));
    // The cloud's answer was never reached: not judged, never failed.
    assert_eq!(outcome(own, "C9"), Some(Outcome::Inconclusive));
    let failure = own.verdict.failure().unwrap();
    assert_eq!(failure.step.as_deref(), Some("4"));
    assert!(
        failure.message.contains("earlier than"),
        "{}",
        failure.message
    );
    // The cloud held: its monitors found nothing.
    for r in results.iter().filter(|r| r.role == Role::Device) {
        assert!(r.findings.is_empty(), "{}: {:#?}", r.id, r.findings);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_answer_code_fails_the_step_that_judges_it() {
    // The variant of the register scenario that expects an answer the mock never gives:
    // the check is shown able to fail, and charged to C9 alone.
    let text = std::fs::read_to_string(library().join("lost-reply-register.yaml"))
        .unwrap()
        .replace("$in: [0, 600002, 600012, 600053, 600054]", "$in: [600053]");
    let sc = hwconform::scenario::load_str(Path::new("mutant.yaml"), &text).unwrap();
    let (setup, mock) = setup("sim").await;
    let results = run(&sc, &setup).await;
    mock.abort();
    let own = &results[0];
    assert_eq!(
        outcome(own, "C9"),
        Some(Outcome::Fail),
        "{:#?}",
        own.verdict
    );
    // The re-send held; as in any scenario, what the failed step does not judge is not
    // failed (the engine leaves it inconclusive once the scenario stopped).
    assert_ne!(outcome(own, "D13"), Some(Outcome::Fail));
    let failure = own.verdict.failure().unwrap();
    assert_eq!(failure.step.as_deref(), Some("5"));
    assert!(failure
        .actual
        .as_deref()
        .is_some_and(|a| a.contains("600012") || a.contains('0')));
}

const BIN: &str = env!("CARGO_BIN_EXE_hwconform");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "hwconform-observe-scenario-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_bad_observer_step_is_a_usage_error_at_its_place() {
    let dir = temp_dir("bad");
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "id: t.bad\ntitle: t\nrequirements: [D13]\nrole: observer\nsteps:\n  - fault: { drop: outbound }\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["observe", "--upstream", "ws://127.0.0.1:9", "--scenario"])
        .arg(&file)
        .arg("--reports")
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.yaml:6:20"), "{stderr}");
    assert!(
        stderr.contains("invalid direction `outbound` for `drop`"),
        "{stderr}"
    );
    assert!(!dir.join("reports/run.json").exists(), "nothing was run");
    // A scenario brings its own faults and its own end.
    let out = std::process::Command::new(BIN)
        .args(["observe", "--upstream", "ws://127.0.0.1:9", "--scenario"])
        .arg(&file)
        .args(["--fault", "drop:to-cloud:any"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_runs_a_scenario_from_the_command_line_and_reports_it() {
    let (setup, mock) = setup("sim").await;
    let reports = temp_dir("cli");
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(90),
        tokio::process::Command::new(BIN)
            .args(["observe", "--upstream", &setup.upstream.url, "--scenario"])
            .arg(library().join("delayed-reply-register.yaml"))
            .arg("--reports")
            .arg(&reports)
            .env("NO_COLOR", "1")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("observe --scenario ends within its scenario's bounds")
    .unwrap();
    mock.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("observer.delayed-reply.register: pass"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ran 1 observer scenario(s) over 1 device connection(s)"),
        "{stdout}"
    );
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["scenarios"][0]["id"], "observer.delayed-reply.register");
    assert_eq!(run["scenarios"][0]["role"], "observer");
    // Every result is a test case: the scenario in its own suite, the links' in theirs.
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(junit.contains("name=\"observed\""), "{junit}");
    assert!(
        junit.contains("name=\"observer.delayed-reply.register\""),
        "{junit}"
    );
    let _ = std::fs::remove_dir_all(&reports);
}
