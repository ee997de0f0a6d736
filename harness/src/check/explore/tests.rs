//! The generators write scenarios that load, and the cloud model predicts what the protocol
//! says for hand-written sequences (the integration tests show the predictions hold against
//! the mock and find each broken rule).

use super::cloud::actions::{Capabilities, CloudAction, Req};
use super::cloud::{CloudModel, CloudSetup};
use super::device::actions::{Advice, Answer, DeviceAction, Idle};
use super::device::{DeviceModel, DeviceSetup};
use super::writer::{Header, Steps};
use crate::scenario::load_str;
use proptest::prelude::*;
use std::path::Path;

const MOCK: CloudSetup = CloudSetup {
    caps: Capabilities {
        control: true,
        addresses: true,
        seed: true,
        strict: true,
    },
    heartbeat: (90, 90),
    window: 60,
    limit: 5,
};

fn text(steps: &Steps, role: &'static str, requires: Vec<&'static str>) -> String {
    let header = Header {
        id: "x.explore".into(),
        title: "t".into(),
        role,
        requires,
        deadline_s: 3600,
        ..Header::default()
    };
    let mut reqs = steps.requirements();
    let fallback = if role == "device" { "C1" } else { "D1" };
    if !reqs.contains(&fallback) {
        reqs.push(fallback);
    }
    steps
        .render(&*crate::profile::default_profile(), &header, &reqs)
        .text
}

fn cloud(actions: &[CloudAction]) -> String {
    let g = CloudModel::generate(MOCK, actions);
    let t = text(&g.steps, "device", g.requires);
    load_str(Path::new("x.yaml"), &t).unwrap_or_else(|e| panic!("{}\n{t}", e.render()));
    t
}

fn device(actions: &[DeviceAction]) -> String {
    device_with(
        super::device::Implemented::all(&*crate::profile::default_profile()),
        actions,
    )
}

fn device_with(implemented: super::device::Implemented, actions: &[DeviceAction]) -> String {
    let g = DeviceModel::generate(
        DeviceSetup {
            device_control: true,
            implemented,
            timings: crate::profile::default_profile().timing_constants(),
        },
        actions,
    );
    let t = text(&g.steps, "cloud", g.requires);
    load_str(Path::new("x.yaml"), &t).unwrap_or_else(|e| panic!("{}\n{t}", e.render()));
    t
}

fn req(conn: u8, req: Req) -> CloudAction {
    CloudAction::Request { conn, req }
}

#[test]
fn cloud_model_predicts_the_documented_codes() {
    // C9: a re-sent register answers by how far the link got; C14: order errors.
    let t = cloud(&[
        req(0, Req::Active),
        req(0, Req::Register),
        req(0, Req::Register),
        req(0, Req::GetCorpInfo),
    ]);
    assert!(
        t.contains("cmd: active }\n    expect: { errcode: 600014 }"),
        "{t}"
    );
    assert!(
        t.contains("cmd: register }\n    expect: { errcode: 600012 }"),
        "{t}"
    );
    assert!(
        t.contains("cmd: get_corp_info }\n    expect: { errcode: 600020 }"),
        "{t}"
    );
    // C10: another address while the link is live; C13: the same address kicks.
    let t = cloud(&[
        req(0, Req::Register),
        CloudAction::Connect { conn: 1, ip: 1 },
        req(1, Req::Register),
    ]);
    assert!(t.contains("expect: { errcode: 600002 }"), "{t}");
    let t = cloud(&[
        req(0, Req::Register),
        CloudAction::Connect { conn: 1, ip: 0 },
        req(1, Req::Register),
    ]);
    assert!(t.contains("expect_closed: { within: 5s }"), "{t}");
    // C8: silence past the expiry closes the link; the wait avoids the edge.
    let t = cloud(&[req(0, Req::Ping), CloudAction::Wait { secs: 91 }]);
    assert!(
        t.contains("wait: 93s") && t.contains("expect_closed: { within: 1s }"),
        "{t}"
    );
    // C11: the sixth subscribe inside the window.
    let t = cloud(&[CloudAction::Repeat {
        conn: 0,
        req: Req::Subscribe,
        times: 6,
    }]);
    assert_eq!(t.matches("errcode: 600014").count(), 5, "{t}");
    assert!(t.contains("expect: { errcode: 600045 }"), "{t}");
    // C6, C7: unbound, active answers 600004; the push reaches the live link.
    let t = cloud(&[
        req(0, Req::Register),
        CloudAction::Unbind,
        req(0, Req::Active),
    ]);
    assert!(
        t.contains("cmd: push_unbind_corp") && t.contains("expect: { errcode: 600004 }"),
        "{t}"
    );
    // C4: undocumented codes are `$ne: 0`.
    let t = cloud(&[req(0, Req::RegisterStale)]);
    assert!(
        t.contains("\"${now-400}\" } }\n    expect: { errcode: { $ne: 0 } }"),
        "{t}"
    );
    // A lost reply still takes effect (C9).
    let t = cloud(&[
        CloudAction::LostReply {
            conn: 0,
            req: Req::Register,
        },
        req(0, Req::Register),
    ]);
    assert!(
        t.contains("control: { swallow_reply: register }")
            && t.contains("expect: { errcode: 600012 }"),
        "{t}"
    );
    assert!(t.contains("requires: [control]"), "{t}");
}

#[test]
fn cloud_model_without_the_mocks_interpretations() {
    let real = CloudSetup {
        caps: Capabilities {
            control: false,
            addresses: false,
            seed: false,
            strict: false,
        },
        heartbeat: (60, 120),
        ..MOCK
    };
    let g = CloudModel::generate(
        real,
        &[
            req(0, Req::Register),
            req(0, Req::Active),
            req(0, Req::Active),
            CloudAction::Unbind,
        ],
    );
    let t = text(&g.steps, "device", g.requires);
    assert!(!t.contains("from:") && !t.contains("control:"), "{t}");
    // A re-sent active answering 600053 is the mock's assumption: only `$ne: 0` elsewhere.
    assert!(
        t.contains("cmd: active }\n    expect: { errcode: { $ne: 0 } }"),
        "{t}"
    );
}

#[test]
fn device_model_follows_the_obligations() {
    use Answer::*;
    let a = DeviceAction::Answer;
    // D13 then D17: the register reply is lost, the re-send is answered 600012.
    let t = device(&[
        a(Ok(0)),
        a(Ok(0)),
        a(Ok(0)),
        DeviceAction::Idle(Idle::Close),
        a(Lost { recover: true }),
    ]);
    assert!(
        t.contains("  - no_reply: {}\n  - receive: { not_before: 4750ms, within: 14s }"),
        "{t}"
    );
    assert!(t.contains("reply: { errcode: 600012 }\n  - one_of:\n      skip_active:\n        - receive: { cmd: subscribe_corp, within: 72s }"), "{t}");
    // D14, D15, D16: retry spacing, no retry after -1, reconnect after the interval.
    let t = device(&[a(Error(Advice::Retry(1))), a(Error(Advice::Never))]);
    assert!(t.contains("receive: { not_before: 4s, within: 9s }"), "{t}");
    assert!(
        t.contains("expect_silence: { cmd: \"${last_cmd}\", for: 20s }"),
        "{t}"
    );
    let t = device(&[a(Error(Advice::Reconnect(1)))]);
    assert!(
        t.contains("expect_reconnect: { not_before: 5s, within: 11s }"),
        "{t}"
    );
    // D14 jitter over a run of six errors without advice.
    let t = device(&[a(Reject {
        times: 6,
        advice: Advice::None,
    })]);
    assert!(
        t.contains("timing: { cmd: register, since: run1, jitter: true"),
        "{t}"
    );
    // D8, D9: 600004 while unbound, then the corp binds the device.
    let t = device(&[a(Ok(0)), a(Protocol(0)), a(Ok(0))]);
    assert!(
        t.contains("reply: { errcode: 600004 }\n  - receive: { not_before: 4500ms, within: 12s }"),
        "{t}"
    );
    let t = device(&[a(Ok(0)), a(Protocol(0)), DeviceAction::Idle(Idle::BindPush)]);
    assert!(
        t.contains("push: { cmd: push_bind_corp }\n  - receive: { within: 2s }"),
        "{t}"
    );
    // D24, D25, D29: login, then a push two versions ahead pulls everything.
    let idle = |i| DeviceAction::Idle(i);
    let t = device(&[
        idle(Idle::Delay(5)),
        idle(Idle::ChangeContact {
            gap: 2,
            created: 1,
            delete: false,
        }),
    ]);
    assert!(
        t.contains("receive: { cmd: get_perm_version, within: 60s }"),
        "{t}"
    );
    assert!(
        t.contains("perm_version: 2, create_user")
            && t.contains(
                "cmd: get_userinfo_by_page, within: 10s }\n    check: { body: { offset: 0"
            ),
        "{t}"
    );
    assert!(
        t.contains("requires: [device_control]") || !t.contains("device_control:"),
        "{t}"
    );
}

/// Where the protocol leaves the device a choice, the model accepts each (the conformant
/// variants of the reference device take the other one; `tests/integration/explore.rs` explores them).
#[test]
fn device_model_allows_the_conformant_choices() {
    use Answer::*;
    let a = DeviceAction::Answer;
    // D10: with a cached secret, straight to subscribe_corp or through active again, which
    // gets the secret the device holds; the conversation goes on from subscribe_corp.
    let t = device(&[
        a(Ok(0)),
        a(Ok(0)),
        a(Ok(0)),
        DeviceAction::Idle(Idle::Close),
        a(Ok(0)),
        a(Error(Advice::Retry(0))),
    ]);
    let reactivate = "      reactivate:\n        - receive: { cmd: active, within: 10s }\n          check: { cmd: active, body: { active_code: ac-explore } }\n        - reply: { body: { secret: sk-explore-1 } }\n        - receive: { cmd: subscribe_corp, within: 72s }";
    assert!(t.contains("  - one_of:\n      skip_active:\n        - receive: { cmd: subscribe_corp, within: 72s }") && t.contains(reactivate), "{t}");
    assert!(t.contains("capture: { fw: body.firmware_version }\n  - reply: { errcode: -1, errmsg: \"system busy\", suggestion: retry, interval: 2 }"), "{t}");
    assert_eq!(
        t.matches("one_of").count(),
        1,
        "only after a register with a cached secret:\n{t}"
    );
    // D21: after 600045 the device backs off on its link or on a new one, with a new handshake.
    let t = device(&[a(Ok(0)), a(Ok(0)), a(Protocol(1))]);
    assert!(t.contains("reply: { errcode: 600045 }\n  - one_of:\n      same_link:\n        - receive: { cmd: subscribe_corp, not_before: 60s, within: 127s }"), "{t}");
    assert!(t.contains("      reconnect:\n        - expect_reconnect: { not_before: 60s, within: 127s }\n        - receive: { cmd: register, within: 15s }"), "{t}");
    // D24 asks a device with contacts for its version; one without shows only that it is logged in.
    let mut ics = crate::ics::Ics::reference(
        crate::profile::wecom::features::FEATURES,
        crate::ics::Provisioning::PerDevice,
    );
    ics.features.insert("contacts".into(), false);
    let no_contacts =
        super::device::Implemented::from_ics(&ics, &*crate::profile::default_profile());
    assert!(no_contacts.has("door") && !no_contacts.has("contacts"));
    let t = device_with(
        no_contacts,
        &[
            DeviceAction::Idle(Idle::Delay(5)),
            DeviceAction::Idle(Idle::Close),
        ],
    );
    assert!(
        !t.contains("get_perm_version") && t.matches("  - logged_in: {}").count() == 2,
        "{t}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the sequence, the cloud generator writes a scenario that loads.
    #[test]
    fn cloud_scenarios_load(actions in proptest::collection::vec(super::cloud::action(MOCK.caps), 1..30)) {
        cloud(&actions);
    }

    /// Whatever the sequence, the device generator writes a scenario that loads, and ends.
    #[test]
    fn device_scenarios_load(actions in proptest::collection::vec(super::device::action(DeviceSetup { device_control: true, implemented: super::device::Implemented::all(&*crate::profile::default_profile()), timings: crate::profile::default_profile().timing_constants() }), 1..30)) {
        device(&actions);
    }
}

/// A door controller's statement: door, scan and check-ins only.
fn door_only() -> super::device::Implemented {
    let text = "provisioning = \"per-device\"\n[identity]\nvendor = \"A\"\nmodel = \"B\"\nfirmware_version = \"1\"\n[features]\ndoor = true\nqr_open = true\ncheckin = true\nface = false\n";
    let ics = crate::ics::load_str(
        Path::new("door.toml"),
        text,
        crate::profile::wecom::features::FEATURES,
    )
    .unwrap();
    super::device::Implemented::from_ics(&ics, &*crate::profile::default_profile())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Exploring with an ICS never pushes what the device does not implement (nor what the
    /// statement leaves out: fail-closed).
    #[test]
    fn exploration_pushes_only_what_the_ics_says_true(a in super::device::action(DeviceSetup { device_control: true, implemented: door_only(), timings: crate::profile::default_profile().timing_constants() })) {
        let lacking = matches!(
            a,
            DeviceAction::Idle(Idle::ChangeContact { .. } | Idle::Visitors { .. } | Idle::EnterPage { .. } | Idle::Firmware | Idle::FetchLog)
        );
        prop_assert!(!lacking, "{a:?}");
    }
}

#[test]
fn implemented_features_come_from_the_statement() {
    let door = door_only();
    assert!(door.has("door") && door.has("checkin"));
    assert!(
        !door.has("face") && !door.has("contacts"),
        "false and unstated are both not implemented"
    );
    assert!(
        super::device::Implemented::all(&*crate::profile::default_profile()).has("fingerprint")
    );
}

/// A reference-device target with variants is reproduced by the `--device` text that selects it.
#[test]
fn sim_targets_name_their_variants_and_faults() {
    use super::ExploreTarget;
    use crate::targets::sim::{SimFault, SimVariant};
    use crate::targets::DeviceChoice;
    let cases = [
        ("sim", "--device sim", "sim"),
        (
            "sim:fault=no-jitter",
            "--device sim:fault=no-jitter",
            "sim-no-jitter",
        ),
        (
            "sim:variant=body-null",
            "--device sim:variant=body-null",
            "sim-body-null",
        ),
        (
            "sim:variant=ping-first,body-null;fault=no-jitter",
            "--device 'sim:variant=ping-first,body-null;fault=no-jitter'",
            "sim-ping-first-body-null-no-jitter",
        ),
    ];
    for (arg, options, slug) in cases {
        let choice = DeviceChoice::parse(arg).unwrap();
        let target = ExploreTarget::Device(choice.clone());
        assert_eq!(
            (target.run_options(), target.slug()),
            (options.to_string(), slug.to_string()),
            "{arg}"
        );
    }
    let both = DeviceChoice::Sim {
        faults: [SimFault::NoJitter].into(),
        variants: [SimVariant::PingFirst].into(),
    };
    assert_eq!(
        ExploreTarget::Device(both).run_options(),
        "--device 'sim:variant=ping-first;fault=no-jitter'"
    );
}
