//! The metadata `run` records in its reports: the command line with its secrets redacted,
//! the targets, and a hash of every scenario file that ran.

use crate::profile::fleet::Fleet;
use crate::profile::{Credentials, REDACTED};
use crate::report::json::sha1_of;
use crate::report::RunMeta;
use crate::scenario::Scenario;

/// Flags whose value may hold a secret (a SecretNo, a token, a device command line that
/// embeds one): their value is never recorded.
const SECRET_FLAGS: &[&str] = &["--identity", "--device", "--control-token"];

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
    argv: &[String],
    fleet: &Fleet,
    cloud: &str,
    device: &str,
    scenarios: &[Scenario],
) -> RunMeta {
    let mut meta = RunMeta::of_this_harness();
    meta.command_line = redacted_command_line(argv, fleet);
    meta.targets
        .insert("cloud".into(), credentials(fleet).redact_text(cloud));
    // A device command may spell a SecretNo out: only its kind is recorded.
    let device = if device.starts_with("exec:") {
        format!("exec:{REDACTED}")
    } else {
        device.to_string()
    };
    meta.targets.insert("device".into(), device);
    for s in scenarios {
        let path = s.source.path.display().to_string();
        meta.scenario_files
            .insert(path.clone(), sha1_of(s.source.text.as_bytes()));
        meta.scenario_sources.insert(path, s.source.text.clone());
    }
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
            "--device=exec:dev {url}",
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
                "--device=<redacted>",
                "--control-token",
                "<redacted>",
                "--filter",
                "x<redacted>",
                "scenarios"
            ]
        );
    }
}
