//! `hwconform ics template|check` and the `--ics FILE` that `run` and `explore` share: which
//! statement a run uses for its device, and the warning when it has none.

use super::exit::{EXIT_OK, EXIT_USAGE};
use crate::ics::{self, Ics};
use crate::profile::fleet::Fleet;
use crate::profile::Profile;
use crate::targets::sim::SimVariant;
use crate::targets::DeviceChoice;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `hwconform ics`.
#[derive(clap::Args, Debug)]
pub struct IcsArgs {
    #[command(subcommand)]
    pub command: IcsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum IcsCommand {
    /// Print a commented ICS with every key, what it means and the obligations it gates.
    Template,
    /// Check an ICS file without running anything.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}

pub fn cli_ics(args: IcsArgs) -> i32 {
    let profile = super::profile();
    match args.command {
        IcsCommand::Template => {
            print!("{}", ics::template(profile.ics_features()));
            EXIT_OK
        }
        IcsCommand::Check { file } => match load(&file, &*profile) {
            Ok(ics) => {
                let stated = ics.features.len();
                let known = profile.ics_features().len();
                println!(
                    "{}: valid ICS for {}",
                    file.display(),
                    ics.summary().banner()
                );
                let missing: Vec<&str> = profile
                    .ics_features()
                    .iter()
                    .map(|f| f.name)
                    .filter(|n| !ics.features.contains_key(*n))
                    .collect();
                if stated < known {
                    println!(
                        "note: not stated (scenarios that need them stop the run): {}",
                        missing.join(", ")
                    );
                }
                if ics.provisioning.is_none() {
                    println!("note: `provisioning` is not stated (scenarios that need the seed stop the run)");
                }
                EXIT_OK
            }
            Err(code) => code,
        },
    }
}

/// Loads `--ics FILE`; the diagnostics are printed and the code is the usage error's.
pub(super) fn load(path: &Path, profile: &dyn Profile) -> Result<Ics, i32> {
    ics::load_file(path, profile.ics_features()).map_err(|e| {
        eprintln!("{}", e.render());
        EXIT_USAGE
    })
}

/// The statement a run (or an exploration) uses for its device: `--ics FILE` when given; for the reference
/// device without one, its own (every feature, seed-provisioned when the fleet has a seed,
/// less what its variants leave out);
/// for another device without one, none — verdicts then assume every feature, and a
/// warning says so.
pub(super) fn for_run(
    file: Option<&Path>,
    device: Option<&DeviceChoice>,
    fleet: &Fleet,
    profile: &dyn Profile,
) -> Result<Option<Arc<Ics>>, i32> {
    if let Some(path) = file {
        return load(path, profile).map(|i| Some(Arc::new(i)));
    }
    match device {
        Some(DeviceChoice::Sim { variants, .. }) => Ok(Some(Arc::new(
            SimVariant::reference_statement(variants, fleet, profile),
        ))),
        Some(_) => {
            eprintln!(
                "warning: no --ics given: verdicts assume the device implements every feature; \
                 give its implementation conformance statement (`hwconform ics template`) for verdicts that hold"
            );
            Ok(None)
        }
        None => Ok(None),
    }
}
