//! The fleet's checks shown both ways: a mock that breaks a rule is caught at fleet scale,
//! and a cloud making the choices the protocol allows (refusing what the fleet earned) is not.

use super::plan::{Business, FleetPlan, Shard, Storm};
use super::report::FleetReport;
use super::stats::{DeviceWatch, Stats};
use super::{run, FleetCloud};
use crate::profile::{default_profile, CloudTimings};
use crate::targets::mock::{MockConfig, MockRule};
use crate::targets::sim::SimProbe;
use rstest::rstest;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn plan(devices: usize, storm: Option<Storm>, ips: usize) -> FleetPlan {
    FleetPlan {
        fleet: FleetPlan::generated_fleet(devices),
        shard: Shard::WHOLE,
        ramp: Some(100.0),
        duration: Duration::from_secs(240),
        storm,
        ips,
        business: Business {
            checkin_every: Some(Duration::from_secs(45)),
            contact_change_every: Some(Duration::from_secs(70)),
        },
        seed: 3,
    }
}

fn against(plan: &FleetPlan, rules: &[MockRule]) -> FleetReport {
    let config = MockConfig {
        disabled_rules: rules.iter().copied().collect(),
        ..MockConfig::default()
    };
    run(
        plan,
        FleetCloud::Mock(Box::new(config)),
        default_profile(),
        |_| {},
    )
    .expect("the fleet runs")
}

fn broken(r: &FleetReport) -> Vec<&str> {
    r.figures.breaks.keys().map(String::as_str).collect()
}

const OUTAGE: Option<Storm> = Some(Storm {
    at: Duration::from_secs(60),
    new_address: true,
});
const KICK: Option<Storm> = Some(Storm {
    at: Duration::from_secs(60),
    new_address: false,
});

/// Conformant variants of the cloud's choices: each refuses what the fleet earned (600002
/// while old links live, 600045 past five a minute from a shared address), or kicks old links
/// — and no check of the fleet calls that a break.
#[rstest]
#[case::quiet(None, 30)]
#[case::outage_from_new_addresses(OUTAGE, 30)]
#[case::outage_from_the_same_addresses(KICK, 30)]
#[case::devices_behind_few_addresses(KICK, 3)]
fn a_conformant_cloud_breaks_nothing(#[case] storm: Option<Storm>, #[case] ips: usize) {
    let r = against(&plan(30, storm, ips), &[]);
    assert_eq!(broken(&r), Vec::<&str>::new(), "{:#?}", r.figures.breaks);
    let f = &r.figures;
    assert_eq!(
        (f.live_at_end, f.logged_in_at_end),
        (30, 30),
        "every device logs in again: {f:#?}"
    );
    assert_eq!(f.unanswered, 0);
    assert!(
        f.latency.contains_key("checkin") && f.latency.contains_key("get_userinfo_by_ids"),
        "the business ran: {:?}",
        f.latency.keys()
    );
    match (storm, ips) {
        (
            Some(Storm {
                new_address: true, ..
            }),
            _,
        ) => {
            assert!(
                f.errors.get("register 600002").is_some_and(|&n| n >= 30),
                "the FAQ's 600002 path: {:?}",
                f.errors
            );
            assert_eq!(
                f.held_links.released, 30,
                "the mock lets every silent link go (C8)"
            );
            assert!(
                f.held_links.release.max_ms <= 100_000.0,
                "within its 90 s heartbeat expiry: {:?}",
                f.held_links.release
            );
        }
        (Some(_), 3) => assert!(
            f.errors.contains_key("subscribe_corp 600045"),
            "ten devices per address earn 600045: {:?}",
            f.errors
        ),
        (Some(_), _) => {
            assert!(
                f.errors.is_empty(),
                "the same address kicks the old link (C13): {:?}",
                f.errors
            );
            assert_eq!(f.reconnects, 30);
        }
        (None, _) => assert_eq!(f.reconnects, 0),
    }
}

/// A mock that breaks a rule the fleet judges is caught, by the rule.
#[rstest]
#[case::never_releases_silent_links(MockRule::NoHeartbeatExpiry, OUTAGE, "C8")]
#[case::error_replies_without_advice(MockRule::NoErrorAdvice, OUTAGE, "C12")]
#[case::replies_with_a_wrong_req_id(MockRule::NoReqIdEcho, None, "C1")]
#[case::replies_with_a_cmd(MockRule::CmdInReply, None, "C2")]
#[case::every_reply_twice(MockRule::OneReplyPerRequest, None, "C1")]
fn a_mock_breaking_a_rule_is_caught(
    #[case] rule: MockRule,
    #[case] storm: Option<Storm>,
    #[case] obligation: &str,
) {
    let r = against(&plan(12, storm, 12), &[rule]);
    assert!(
        broken(&r).contains(&obligation),
        "{rule}: {:#?}",
        r.figures.breaks
    );
    let b = &r.figures.breaks[obligation];
    assert!(b.count > 0 && !b.examples.is_empty() && b.examples.len() <= super::report::EXAMPLES);
    assert!(
        b.examples.windows(2).all(|w| w[0].at_s <= w[1].at_s),
        "earliest first"
    );
}

/// A device's watch (inside a runtime: its clock is the runtime's).
fn watch(timings: CloudTimings) -> std::sync::Arc<DeviceWatch> {
    DeviceWatch::new(
        "SN-1".into(),
        Stats::new(default_profile(), timings),
        std::net::Ipv4Addr::new(127, 1, 0, 1),
    )
}

fn request(cmd: &str, id: &str) -> serde_json::Value {
    json!({"cmd": cmd, "headers": {"req_id": id}})
}

fn error(id: &str, code: i64) -> serde_json::Value {
    json!({"headers": {"req_id": id}, "errcode": code, "errmsg": "no", "suggestion": "retry", "interval": 60})
}

/// The codes the fleet did not earn: a cloud refusing a lone device (no other link open,
/// its address under the rate limit) breaks C10 / C11; with an old link held, it does not.
#[rstest]
#[case::lone_register_600002("register", 600002, 0, 1, Some("C10"))]
#[case::register_600002_with_a_held_link("register", 600002, 1, 1, None)]
#[case::lone_subscribe_600045("subscribe_corp", 600045, 0, 1, Some("C11"))]
#[case::sixth_subscribe_600045("subscribe_corp", 600045, 0, 6, None)]
fn codes_the_fleet_did_not_earn(
    #[case] cmd: &str,
    #[case] code: i64,
    #[case] held: usize,
    #[case] sends: usize,
    #[case] rule: Option<&str>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let w = watch(CloudTimings::FAQ);
        for _ in 0..held {
            w.hold();
        }
        w.connected();
        for i in 0..sends {
            w.sent(&Arc::new(request(cmd, &format!("r{i}"))));
        }
        w.received(&Arc::new(error(&format!("r{}", sends - 1), code)));
        let f = w.stats().figures(1, Duration::from_secs(1));
        assert_eq!(
            f.breaks.keys().next().map(String::as_str),
            rule,
            "{:#?}",
            f.breaks
        );
        assert_eq!(f.errors.get(&format!("{cmd} {code}")), Some(&1));
    });
}

/// The figures never show a credential, wherever the cloud put one (the monitors read
/// redacted frames; a break's message quotes them).
#[test]
fn breaks_never_show_a_credential() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let w = watch(CloudTimings::FAQ);
        w.connected();
        w.sent(&Arc::new(request("register", "r1")));
        // No integer errcode: the monitor quotes the whole frame.
        w.received(&Arc::new(json!({"headers": {"req_id": "r1"}, "errcode": "x", "body": {"active_code": "ac-very-secret", "secret": "sec-very-secret"}})));
        let f = w.stats().figures(1, Duration::from_secs(1));
        let shown = serde_json::to_string(&f).unwrap();
        assert!(f.breaks.contains_key("C1"), "{shown}");
        assert!(!shown.contains("very-secret"), "{shown}");
    });
}

/// fleet.html is the conformance report's page: its stylesheet, what was run (each shard's
/// command line and harness, the storm's time, its row in the timeline marked), and the
/// figures; every value escaped.
#[test]
fn the_fleet_page_says_what_was_run_in_the_reports_style() {
    let mut r = against(&plan(12, KICK, 12), &[]);
    r.processes[0].command_line = [
        "hwconform",
        "fleet",
        "--storm",
        "60s",
        "--cloud",
        "<script>",
    ]
    .map(String::from)
    .to_vec();
    let page = super::report::render_html(&r);
    assert!(
        page.contains(crate::report::html::STYLE),
        "the report's stylesheet, inline"
    );
    assert!(
        page.contains("hwconform fleet --storm 60s --cloud &lt;script&gt;"),
        "the command line, escaped"
    );
    assert!(!page.contains("<script>"), "nothing unescaped");
    assert!(page.contains(&format!("hwconform {}", env!("CARGO_PKG_VERSION"))));
    assert!(
        page.contains("<dt>storm</dt><dd>at 60 s</dd>"),
        "the storm's time"
    );
    assert!(
        page.contains(r#"<tr class="storm"><td class="n">60 ⚡ storm"#),
        "the storm's row"
    );
    assert!(page.contains("no obligation broken"));
    let quiet = against(&plan(4, None, 4), &[]);
    let page = super::report::render_html(&quiet);
    assert!(page.contains("<dt>storm</dt><dd>none</dd>") && !page.contains("⚡"));
}

/// Every device in exactly one place: a ramp too slow for the run leaves some never
/// switched on, and those are counted as never connected, for that reason.
#[test]
fn every_device_is_accounted_for() {
    let plan = FleetPlan {
        ramp: Some(1.0),
        duration: Duration::from_millis(4500),
        business: Business::default(),
        ..plan(10, None, 10)
    };
    let r = against(&plan, &[]);
    let d = &r.figures.accounting;
    assert_eq!(d.connected + d.never_connected, 10, "{d:?}");
    assert_eq!(d.logged_in + d.never_logged_in, d.connected, "{d:?}");
    assert_eq!(d.connected, 5, "{d:?}");
    assert_eq!(
        d.never_connected_by,
        [("not_switched_on".to_string(), 5)].into()
    );
    assert_eq!((d.lost_after_login, r.figures.dial_failures), (0, 0));
}

/// The live line's clock moves while nothing happens.
#[tokio::test(start_paused = true)]
async fn the_live_clock_moves_without_events() {
    let stats = Stats::new(default_profile(), CloudTimings::MOCK);
    tokio::time::sleep(Duration::from_secs(7)).await;
    stats.tick();
    assert_eq!(stats.snapshot().at, Duration::from_secs(7));
}

/// A dial the device itself gives up on (its own 30 s dial timeout drops the fleet's dial
/// future, shorter than the fleet's) is counted: a dial failure, timed out, and the device
/// as never connected for that reason. The cloud completes TCP and never answers the
/// WebSocket handshake, as one at its file limit does.
#[tokio::test(start_paused = true)]
async fn a_dial_the_device_gives_up_on_counts_as_timed_out() {
    use super::dial::{Addresses, CloudLink, FleetDialer};
    use crate::targets::sim::{Dialer, DIAL_TIMEOUT};
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", silent.local_addr().unwrap());
    let stats = Stats::new(default_profile(), CloudTimings::FAQ);
    let source = std::net::Ipv4Addr::LOCALHOST;
    let watch = DeviceWatch::new("HWC-TEST-0001".into(), stats.clone(), source);
    watch.switched_on();
    let dialer = FleetDialer {
        cloud: CloudLink::Url {
            endpoint: crate::wire::transport::Endpoint::parse(&url).unwrap(),
            spread: false,
        },
        watch: watch.clone(),
        addresses: Addresses {
            before: source,
            after: source,
            storm_at: None,
        },
        timeout: DIAL_TIMEOUT * 2,
    };
    let dialed = tokio::time::timeout(DIAL_TIMEOUT, dialer.dial()).await;
    assert!(dialed.is_err(), "the device's own timeout ends the dial");
    let f = stats.figures(1, Duration::from_secs(31));
    assert_eq!(f.dial_failures_by, [("timed_out".to_string(), 1)].into());
    assert_eq!(
        f.accounting.never_connected_by,
        [("timed_out".to_string(), 1)].into()
    );
}
