//! The metadata `run` records in its reports: the command line with its secrets redacted,
//! the targets, and a hash of every scenario file that ran.

use crate::profile::fleet::Fleet;
use crate::profile::{Credentials, REDACTED};
use crate::report::json::sha1_of;
use crate::report::RunMeta;
use crate::scenario::Scenario;

/// Flags whose value is a secret (a SecretNo, a token): their value is never recorded.
/// Other values (a `--device exec:` command line among them) are recorded with every known
/// credential in them redacted: the report says what ran, and only secrets are hidden.
const SECRET_FLAGS: &[&str] = &["--identity", "--control-token"];

/// `argv` with the values of [`SECRET_FLAGS`] and every credential of the fleet replaced.
pub fn redacted_command_line(argv: &[String], fleet: &Fleet) -> Vec<String> {
    let credentials = credentials(fleet);
    let mut out = Vec::with_capacity(argv.len());
    let mut hide_next = false;
    for arg in argv {
        if hide_next {
            out.push(REDACTED.to_string());
            hide_next = false;
            continue;
        }
        if let Some(flag) = SECRET_FLAGS
            .iter()
            .find(|f| arg.starts_with(&format!("{f}=")))
        {
            out.push(format!("{flag}={REDACTED}"));
            continue;
        }
        hide_next = SECRET_FLAGS.contains(&arg.as_str());
        out.push(credentials.redact_text(arg));
    }
    out
}

fn credentials(fleet: &Fleet) -> Credentials {
    fleet.credentials()
}

/// The metadata of a run of `scenarios` with these targets.
pub fn run_meta(
    profile: &dyn crate::profile::Profile,
    argv: &[String],
    fleet: &Fleet,
    cloud: &str,
    device: &str,
    scenarios: &[Scenario],
) -> RunMeta {
    let mut meta = RunMeta::for_profile(profile);
    meta.command_line = redacted_command_line(argv, fleet);
    let credentials = credentials(fleet);
    meta.targets
        .insert("cloud".into(), credentials.redact_text(cloud));
    meta.targets
        .insert("device".into(), credentials.redact_text(device));
    for s in scenarios {
        let path = s.source.path.display().to_string();
        meta.scenario_files
            .insert(path.clone(), sha1_of(s.source.text.as_bytes()));
        meta.scenario_sources.insert(path, s.source.text.clone());
    }
    meta.scenario_set = Some(crate::report::json::ScenarioSet::of(&meta.scenario_sources));
    meta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_flags_and_known_credentials_are_redacted() {
        let fleet = Fleet::from_pairs(&["SN1=topsecret-no".to_string()]).unwrap();
        let argv: Vec<String> = [
            "hwconform",
            "run",
            "--identity",
            "SN1=topsecret-no",
            "--device=exec:dev {url} topsecret-no",
            "--device",
            "sim:fault=reuse-req-id",
            "--control-token",
            "tok",
            "--filter",
            "xtopsecret-no",
            "scenarios",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let got = redacted_command_line(&argv, &fleet);
        assert_eq!(
            got,
            [
                "hwconform",
                "run",
                "--identity",
                "<redacted>",
                "--device=exec:dev {url} <redacted>",
                "--device",
                "sim:fault=reuse-req-id",
                "--control-token",
                "<redacted>",
                "--filter",
                "x<redacted>",
                "scenarios"
            ]
        );
    }
}
