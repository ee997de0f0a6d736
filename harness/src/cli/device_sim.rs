//! `hwconform device-sim`: the reference device against a cloud.

use super::exit::EXIT_OK;
use super::report_error::{self, usage};
use super::{runtime, DeviceSimArgs};
use crate::wire::transport::Endpoint;

pub(super) fn device_sim(args: DeviceSimArgs) -> i32 {
    use crate::targets::sim::{self, SimConfig, SimFault};
    if let Err(e) = Endpoint::parse(&args.url) {
        return report_error::usage_error(&e);
    }
    let mut config = SimConfig::new(crate::profile::DeviceIdentity::new(args.sn.clone(), args.secret_no.clone()));
    config.seed_secret_no = args.seed_secret_no.clone().map(crate::profile::Secret::new);
    config.start_unix = crate::engine::clock::wall_unix();
    for name in &args.faults {
        match SimFault::parse(name) {
            Some(f) => {
                config.faults.insert(f);
            }
            None => return usage(format!("unknown fault {name:?}; known: {}", SimFault::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "))),
        }
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
