//! The observer's view across links (D22, C13): two reference devices with one SN relayed at
//! once to the mock, which kicks (conformant) or does not (`no-kick`). Each link alone is one
//! connection; only the view by SN sees two. In process, on loopback, bounded in time.

use hwconform::engine::verdict::{Outcome, ScenarioResult};
use hwconform::observe::{ObserveConfig, Observer};
use hwconform::profile::{DeviceIdentity, Fleet};
use hwconform::targets::mock::{self, MockConfig, MockRule};
use hwconform::targets::sim::{self, SimConfig};
use hwconform::wire::transport::Endpoint;
use std::time::Duration;

/// Observes two devices of one SN for `for_`; every result of the run.
async fn two_of_one_sn(disabled: &[MockRule], for_: Duration) -> Vec<ScenarioResult> {
    let fleet = Fleet::default_fleet();
    let identity: DeviceIdentity = fleet.devices[0].identity.clone();
    let config = MockConfig {
        fleet,
        disabled_rules: disabled.iter().copied().collect(),
        ..MockConfig::default()
    };
    let (addr, mock) = mock::listen(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let observer = Observer::bind(
        "127.0.0.1:0".parse().unwrap(),
        ObserveConfig {
            upstream: Endpoint::parse(&format!("ws://{addr}")).unwrap(),
            insecure: false,
            faults: Vec::new(),
            on_finding: hwconform::observe::OnFinding::ignored(),
            sources: Vec::new(),
            tls: None,
        },
        hwconform::profile::default_profile(),
    )
    .unwrap();
    let url = format!("ws://{}", observer.local_addr().unwrap());
    let run = tokio::spawn(observer.run(tokio::time::sleep(for_)));
    let devices: Vec<_> = (0..2)
        .map(|i| {
            let url = url.clone();
            let identity = identity.clone();
            tokio::spawn(async move {
                // The second a moment later: the first has registered by then.
                tokio::time::sleep(Duration::from_millis(700 * i)).await;
                let _ = sim::run_standalone(&url, SimConfig::new(identity)).await;
            })
        })
        .collect();
    let observed = tokio::time::timeout(for_ + Duration::from_secs(40), run)
        .await
        .expect("the observer stops within its bound")
        .unwrap();
    devices.iter().for_each(|d| d.abort());
    mock.abort();
    observed.results
}

fn by_sn<'a>(results: &'a [ScenarioResult], party: &str) -> &'a ScenarioResult {
    results
        .iter()
        .find(|r| r.id.starts_with("observe.sn.") && r.id.ends_with(party))
        .unwrap_or_else(|| {
            panic!(
                "no cross-link result for the {party}: {:?}",
                results.iter().map(|r| &r.id).collect::<Vec<_>>()
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_that_does_not_kick_fails_c13_and_the_two_links_fail_d22() {
    let results = two_of_one_sn(&[MockRule::NoKick], Duration::from_secs(8)).await;
    let device = by_sn(&results, ".device");
    let cloud = by_sn(&results, ".cloud");
    assert_eq!(
        device.obligations.get("D22"),
        Some(&Outcome::Fail),
        "{:#?}",
        device.findings
    );
    assert_eq!(
        cloud.obligations.get("C13"),
        Some(&Outcome::Fail),
        "{:#?}",
        cloud.findings
    );
    // Only the cross-link rules are judged there.
    assert!(device
        .findings
        .iter()
        .chain(&cloud.findings)
        .all(|f| f.rule == "D22" || f.rule == "C13"));
    // No single link saw either: each judged its own connection.
    for r in results.iter().filter(|r| !r.id.starts_with("observe.sn.")) {
        assert!(
            r.findings
                .iter()
                .all(|f| f.rule != "D22" && f.rule != "C13"),
            "{}: {:#?}",
            r.id,
            r.findings
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_that_kicks_holds_c13() {
    let results = two_of_one_sn(&[], Duration::from_secs(8)).await;
    let cloud = by_sn(&results, ".cloud");
    assert!(
        cloud.findings.iter().all(|f| f.rule != "C13"),
        "{:#?}",
        cloud.findings
    );
    assert_ne!(cloud.obligations.get("C13"), Some(&Outcome::Fail));
    // Each kick closes the old link at once: the device never kept two (D22 holds).
    let device = by_sn(&results, ".device");
    assert_ne!(
        device.obligations.get("D22"),
        Some(&Outcome::Fail),
        "{:#?}",
        device.findings
    );
}
