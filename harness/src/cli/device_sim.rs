//! `hwconform device-sim`: the reference device against a cloud.

use super::exit::EXIT_OK;
use super::report_error::{self, usage};
use super::{runtime, DeviceSimArgs};
use crate::wire::transport::Endpoint;

pub(super) fn device_sim(args: DeviceSimArgs) -> i32 {
    use crate::targets::knobs::Knob;
    use crate::targets::sim::{self, SimConfig, SimFault, SimVariant};
    fn knobs<K: Knob + Ord>(
        what: &str,
        names: &[String],
    ) -> Result<std::collections::BTreeSet<K>, String> {
        names
            .iter()
            .map(|name| {
                K::parse(name).ok_or_else(|| {
                    format!(
                        "unknown {what} {name:?}; known: {}",
                        K::ALL
                            .iter()
                            .map(|k| k.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            })
            .collect()
    }
    if let Err(e) = Endpoint::parse(&args.url) {
        return report_error::usage_error(&e);
    }
    let mut config = SimConfig::new(crate::profile::DeviceIdentity::new(
        args.sn.clone(),
        args.secret_no.clone(),
    ));
    config.seed_secret_no = args.seed_secret_no.clone().map(crate::profile::Secret::new);
    config.start_unix = crate::engine::clock::wall_unix();
    match (
        knobs::<SimFault>("fault", &args.faults),
        knobs::<SimVariant>("variant", &args.variants),
    ) {
        (Ok(faults), Ok(variants)) => {
            config.faults = faults;
            config.variants = variants;
        }
        (Err(e), _) | (_, Err(e)) => return usage(e),
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        tokio::select! {
            r = sim::run_standalone(&args.url, config) => match r {
                Ok(()) => EXIT_OK,
                Err(e) => report_error::error(&e),
            },
            _ = tokio::signal::ctrl_c() => EXIT_OK,
        }
    })
}
