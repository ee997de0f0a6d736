//! The implementation conformance statement end to end: `--ics` decides which device
//! scenarios apply (fail-closed), the statement reaches every report, `ics template|check`,
//! and an `exec:` device started seed-provisioned.

use crate::common::repo;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hwconform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .current_dir(repo())
        .args(args)
        .output()
        .expect("hwconform starts")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hwconform-ics-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A statement with `features` and `provisioning`.
fn ics_file(dir: &Path, provisioning: &str, features: &str) -> PathBuf {
    let path = dir.join("dut.toml");
    let text = format!("provisioning = \"{provisioning}\"\n[identity]\nvendor = \"Acme\"\nmodel = \"DC-100\"\nfirmware_version = \"2.3.1\"\n[features]\n{features}\n");
    std::fs::write(&path, text).unwrap();
    path
}

/// The verdict line and the reason line of a scenario in the terminal output.
fn verdict_of<'a>(stdout: &'a str, id: &str) -> (&'a str, &'a str) {
    let mut lines = stdout.lines();
    while let Some(l) = lines.next() {
        // After the `[n/N]` progress prefix.
        let l = l
            .split_once("] ")
            .filter(|_| l.starts_with('['))
            .map_or(l, |(_, rest)| rest.trim_start());
        if l.split_whitespace().nth(1) == Some(id) {
            return (l, lines.next().unwrap_or(""));
        }
    }
    panic!("{id} not in the output:\n{stdout}");
}

#[test]
fn a_door_controller_skips_enrolment_and_temperature_as_not_applicable() {
    let reports = temp_dir("door");
    let out = hwconform(&[
        "run",
        "scenarios/device",
        "--ics",
        "examples/ics/door-controller.toml",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("device under test: Acme DC-100 firmware 2.3.1, per-device provisioning"),
        "{stdout}"
    );
    for (id, reason) in [
        (
            "device.enrolment.upload-after-enter-page",
            "not applicable: the ICS says face = false",
        ),
        (
            "device.enrolment.features-not-images-manual",
            "not applicable: the ICS says face = false",
        ),
        (
            "device.enrolment.fingerprint-upload-after-enter-page",
            "not applicable: the ICS says fingerprint = false",
        ),
        (
            "device.temperature.async-batch-manual",
            "not applicable: the ICS says temperature = false",
        ),
        (
            "device.contacts.full-pull-after-login",
            "not applicable: the ICS says contacts = false",
        ),
        (
            "device.lifecycle.secret-no-exchanged-once",
            "not applicable: the ICS says provisioning = per-device",
        ),
    ] {
        let (line, why) = verdict_of(&stdout, id);
        assert!(line.starts_with("SKIP"), "{line}");
        assert!(why.contains(reason), "{id}: {why}");
    }
    let (door, _) = verdict_of(&stdout, "device.door.remote-open-reported-within-3s");
    assert!(door.starts_with("PASS"), "{door}");
    // The statement is in both reports.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("run.json")).unwrap()).unwrap();
    assert_eq!(json["ics"]["vendor"], "Acme");
    assert_eq!(json["ics"]["provisioning"], "per-device");
    assert_eq!(json["ics"]["features"]["face"], false);
    let xml = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let prop = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some(name))
            .and_then(|n| n.attribute("value"))
            .map(str::to_string)
    };
    assert_eq!(prop("ics.model").as_deref(), Some("DC-100"));
    assert_eq!(prop("ics.features.door").as_deref(), Some("true"));
    let props = doc
        .descendants()
        .find(|n| n.has_tag_name("properties"))
        .unwrap();
    assert_eq!(
        props.parent().and_then(|p| p.attribute("name")),
        Some("device-target")
    );
    let _ = std::fs::remove_dir_all(&reports);
}

#[test]
fn a_needed_feature_the_ics_leaves_out_is_a_usage_error_before_anything_runs() {
    let dir = temp_dir("missing");
    let ics = ics_file(&dir, "per-device", "door = true");
    let out = hwconform(&[
        "run",
        "scenarios/device",
        "--ics",
        ics.to_str().unwrap(),
        "--reports",
        dir.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("does not say `checkin`") && stderr.contains("dut.toml"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("PASS") && !dir.join("run.json").exists(),
        "nothing ran: {stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn seed_scenarios_follow_provisioning() {
    let dir = temp_dir("seed");
    let scenario = "scenarios/device/lifecycle-secret-no-once.yaml";
    for (provisioning, want) in [("seed", "PASS"), ("per-device", "SKIP")] {
        let ics = ics_file(&dir, provisioning, "");
        let out = hwconform(&[
            "run",
            scenario,
            "--ics",
            ics.to_str().unwrap(),
            "--reports",
            dir.to_str().unwrap(),
        ]);
        let (stdout, stderr) = text(&out);
        let (line, why) = verdict_of(&stdout, "device.lifecycle.secret-no-exchanged-once");
        assert!(line.starts_with(want), "{provisioning}: {stdout}\n{stderr}");
        if want == "SKIP" {
            assert!(
                why.contains("not applicable: the ICS says provisioning = per-device"),
                "{why}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exec_devices_get_the_seed_when_the_ics_says_seed() {
    let dir = temp_dir("exec");
    let ics = ics_file(&dir, "seed", "");
    let seen = dir.join("seen");
    let device = format!(
        "exec:printf '%s|%s' {{seed_secret_no}} \"$HWCONFORM_SEED_SECRET_NO\" > {}",
        seen.display()
    );
    let out = hwconform(&[
        "run",
        "scenarios/device/lifecycle-secret-no-once.yaml",
        "--device",
        &device,
        "--ics",
        ics.to_str().unwrap(),
        "--deadline",
        "2s",
        "--reports",
        dir.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    let got = std::fs::read_to_string(&seen)
        .unwrap_or_else(|e| panic!("the command did not run ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(got, "hwc-seed-secretno|hwc-seed-secretno");
    assert!(
        !stdout.contains("hwc-seed-secretno") && !stderr.contains("hwc-seed-secretno"),
        "the seed leaked:\n{stdout}\n{stderr}"
    );
    assert!(!stderr.contains("warning: no --ics"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn other_devices_without_an_ics_run_with_a_warning() {
    let dir = temp_dir("warn");
    let out = hwconform(&[
        "run",
        "scenarios/device/door-remote-open.yaml",
        "--device",
        "exec:true",
        "--deadline",
        "1s",
        "--reports",
        dir.to_str().unwrap(),
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(
        stderr
            .matches("warning: no --ics given: verdicts assume the device implements every feature")
            .count(),
        1,
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ics_template_and_check() {
    let out = hwconform(&["ics", "template"]);
    let (template, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        template.contains("[features]")
            && template.contains("face")
            && template.contains("(D36, D37)"),
        "{template}"
    );
    let dir = temp_dir("check");
    let file = dir.join("t.toml");
    std::fs::write(&file, &template).unwrap();
    let out = hwconform(&["ics", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    std::fs::write(
        &file,
        template.replace("face        = true", "face        = 1"),
    )
    .unwrap();
    let out = hwconform(&["ics", "check", file.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("t.toml:")
            && stderr.contains("`features.face` must be true or false, found an integer"),
        "{stderr}"
    );
    let out = hwconform(&["ics", "check", "examples/ics/door-controller.toml"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scenarios_name_only_known_features() {
    let dir = temp_dir("requires");
    let file = dir.join("x.yaml");
    std::fs::write(&file, "id: x.face\ntitle: t\nrequirements: [D36]\nrole: cloud\nrequires: [fase]\nsteps:\n  - accept: { within: 5s }\n").unwrap();
    let out = hwconform(&["validate", file.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("x.yaml:5:12") && stderr.contains("unknown capability or feature `fase`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean `face`?") && stderr.contains("door"),
        "the known names are listed: {stderr}"
    );
    std::fs::write(&file, "id: x.face\ntitle: t\nrequirements: [C1]\nrole: device\nrequires: [face]\nsteps:\n  - connect: a\n").unwrap();
    let (_, stderr) = text(&hwconform(&["validate", file.to_str().unwrap()]));
    assert!(
        stderr.contains("feature `face` describes a device under test"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
