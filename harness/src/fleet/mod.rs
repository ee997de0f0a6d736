//! Fleet mode (`hwconform fleet`): thousands of reference devices against one cloud, to
//! answer what a suite of one device cannot — does the cloud hold when a whole customer's
//! fleet logs in, heartbeats, does its business and reconnects at once after an outage?
//!
//! Modules, each owning one thing:
//! * [`plan`]: which devices, shards, ramp, storm, source addresses and business;
//! * `dial`: the links (in-process pipe or TCP from 127.0.0.0/8) and the storm's cut;
//! * `stats`: collecting figures per device, feeding the profile's cloud monitors;
//! * [`checks`]: the codes a fleet did not earn and the links a cloud never let go;
//! * [`latency`]: HdrHistograms that merge exactly;
//! * [`report`]: `fleet.json` / `fleet.html`, and merging shard reports;
//! * [`slo`]: `--slo` objectives;
//! * `run`: the runtime (virtual clock in-process), the devices, the end.

pub mod checks;
mod dial;
pub mod latency;
pub mod plan;
pub mod report;
mod run;
pub mod slo;
mod stats;

#[cfg(test)]
mod tests;

pub use plan::{Business, FleetPlan, Shard, Storm};
pub use report::{merge, FleetReport};
pub use run::{
    peak_rss_mib, raise_open_files_limit, run, FleetCloud, FleetRunError, DEVICES_PER_TASK,
};
pub use stats::Snapshot;
