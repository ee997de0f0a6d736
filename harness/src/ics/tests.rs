use super::*;
use crate::profile::wecom::features::FEATURES;
use rstest::rstest;
use std::path::Path;

const GOOD: &str = r#"provisioning = "seed"
[identity]
vendor = "Acme"
model = "DC-100"
firmware_version = "2.3.1"
[features]
door = true
face = false
[lab]
boot_time = "30s"
keeps_secret_across_reset = false
"#;

fn load(text: &str) -> Result<Ics, IcsError> {
    load_str(Path::new("lab/dut.toml"), text, FEATURES)
}

#[test]
fn a_statement_loads_with_its_lab_facts() {
    let ics = load(GOOD).unwrap();
    assert_eq!(ics.provisioning, Some(Provisioning::Seed));
    assert_eq!(
        ics.identity,
        Identity {
            vendor: "Acme".into(),
            model: "DC-100".into(),
            firmware_version: "2.3.1".into()
        }
    );
    assert_eq!(
        ics.features,
        BTreeMap::from([("door".to_string(), true), ("face".to_string(), false)])
    );
    assert_eq!(
        ics.lab,
        Lab {
            boot_time: Duration::from_secs(30),
            keeps_secret_across_reset: false
        }
    );
}

#[test]
fn the_lab_section_is_optional_with_documented_defaults() {
    let text = GOOD.split("[lab]").next().unwrap();
    assert_eq!(
        load(text).unwrap().lab,
        Lab {
            boot_time: Duration::from_secs(10),
            keeps_secret_across_reset: true
        }
    );
}

/// Each error names file:line:col, what was expected there and, for a typo, the fix.
#[rstest]
#[case::bad_type(
    "door = \"yes\"",
    "lab/dut.toml:7:8",
    "`features.door` must be true or false, found a string",
    "expected true or false"
)]
#[case::unknown_feature(
    "fce = true",
    "lab/dut.toml:7:1",
    "unknown key `fce` in [features]",
    "did you mean `face`?"
)]
#[case::unknown_top_key_near(
    "[feature]\ndoor = true",
    "lab/dut.toml:7:2",
    "unknown key `feature` at the top level",
    "did you mean `features`?"
)]
#[case::bad_provisioning(
    "",
    "lab/dut.toml:1:16",
    "unknown provisioning `per_device`",
    "did you mean `per-device`?"
)]
#[case::bad_duration(
    "[lab]\nboot_time = \"soon\"",
    "lab/dut.toml:8:13",
    "lab.boot_time",
    "expected a duration"
)]
#[case::toml_syntax("door = ", "lab/dut.toml:7:", "invalid TOML", "")]
fn errors_name_the_place(
    #[case] features: &str,
    #[case] at: &str,
    #[case] message: &str,
    #[case] hint: &str,
) {
    let head = if features.is_empty() {
        "provisioning = \"per_device\""
    } else {
        "provisioning = \"per-device\""
    };
    let text = format!("{head}\n[identity]\nvendor = \"A\"\nmodel = \"B\"\nfirmware_version = \"1\"\n[features]\n{features}\n");
    let err = load(&text).unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains(at), "{shown}");
    assert!(shown.contains(message), "{shown}");
    let rendered = err.render();
    assert!(rendered.contains(hint), "{rendered}");
}

#[test]
fn identity_is_required() {
    let err = load("provisioning = \"seed\"\n[features]\ndoor = true\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("lab/dut.toml:1:1: the ICS has no `[identity]` section"),
        "{err}"
    );
}

#[rstest]
#[case::implemented(&["door"], false, Applicability::Applicable)]
#[case::said_false(&["door", "face"], false, Applicability::NotApplicable { reason: "not applicable: the ICS says face = false".into() })]
#[case::not_mentioned(&["contacts"], false, Applicability::Unknown { key: "contacts".into() })]
#[case::seed_device(&[], true, Applicability::Applicable)]
fn applicability_is_fail_closed(
    #[case] needs: &[&str],
    #[case] seed: bool,
    #[case] want: Applicability,
) {
    assert_eq!(load(GOOD).unwrap().applicability(needs, seed), want);
}

#[test]
fn per_device_provisioning_makes_seed_scenarios_not_applicable() {
    let mut ics = load(GOOD).unwrap();
    ics.provisioning = Some(Provisioning::PerDevice);
    assert_eq!(
        ics.applicability::<&str>(&[], true),
        Applicability::NotApplicable {
            reason: "not applicable: the ICS says provisioning = per-device".into()
        }
    );
    ics.provisioning = None;
    assert_eq!(
        ics.applicability::<&str>(&[], true),
        Applicability::Unknown {
            key: "provisioning".into()
        }
    );
}

#[test]
fn the_template_loads_and_states_every_feature() {
    let ics = load(&template(FEATURES)).unwrap();
    assert_eq!(ics.features.len(), FEATURES.len());
    assert!(ics.features.values().all(|v| *v));
    assert_eq!(ics.lab, Lab::default());
}

#[test]
fn the_template_is_stable() {
    insta::assert_snapshot!(template(FEATURES));
}

#[test]
fn the_door_controller_example_parses() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/ics/door-controller.toml"
    ));
    let ics = load_file(path, FEATURES).unwrap();
    assert_eq!(
        ics.features.len(),
        FEATURES.len(),
        "the example states every feature"
    );
    assert!(ics.features["door"]);
    for lacking in ["contacts", "face", "fingerprint", "visitors", "temperature"] {
        assert!(!ics.features[lacking], "{lacking}");
    }
}

#[test]
fn the_reference_statement_implements_everything() {
    let ics = Ics::reference(FEATURES, Provisioning::PerDevice);
    assert_eq!(
        ics.applicability(&["face", "door"], false),
        Applicability::Applicable
    );
    assert!(
        ics.summary()
            .banner()
            .contains("features: checkin, contacts"),
        "{}",
        ics.summary().banner()
    );
}
