//! What a fleet run is: which devices (and which of them this shard plays), when each one
//! is switched on, from which source address it dials, and the business it does. Every
//! per-device choice depends only on the device's place in the whole fleet, never on the
//! shard, so shards run side by side do exactly what one process would.

use crate::profile::fleet::{Fleet, FleetDevice};
use crate::profile::identity::{self, Secret};
use sha1::{Digest, Sha1};
use std::net::Ipv4Addr;
use std::time::Duration;

/// One slice of the fleet: the `index`-th (1-based) of every `count` devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// `K/N` with 1 ≤ K ≤ N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("expected K/N (e.g. 1/4), got {text:?}"))?;
        let k: usize = k
            .trim()
            .parse()
            .map_err(|_| format!("the K of {text:?} is not a number"))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("the N of {text:?} is not a number"))?;
        if n == 0 || k == 0 || k > n {
            return Err(format!(
                "{text:?}: K must be between 1 and N, and N at least 1"
            ));
        }
        Ok(Shard { index: k, count: n })
    }

    /// Whether the device at `place` (0-based, in the whole fleet) is this shard's.
    pub fn has(&self, place: usize) -> bool {
        place % self.count == self.index - 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Every device drops its link at once, as in a network outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Storm {
    /// When, from the start of the run.
    #[serde(with = "secs")]
    pub at: Duration,
    /// Whether devices come back from other source addresses (a NAT that rebinds after an
    /// outage): the cloud then still holds their old, silent links, so registers meet
    /// 600002 until those expire (C10) — the FAQ's slow path.
    pub new_address: bool,
}

/// The business each device does besides its lifecycle and heartbeat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Business {
    /// A person of the local contacts passes in this often, per device (`checkin`).
    #[serde(with = "opt_secs")]
    pub checkin_every: Option<Duration>,
    /// A member's data changes this often in the corp (in-process mock only): every device
    /// gets `push_change_contact` and pulls the change.
    #[serde(with = "opt_secs")]
    pub contact_change_every: Option<Duration>,
}

/// A whole fleet run.
#[derive(Clone, Debug)]
pub struct FleetPlan {
    /// Every device of the fleet (all shards), in order.
    pub fleet: Fleet,
    pub shard: Shard,
    /// Devices switched on per second (`None`: all at once).
    pub ramp: Option<f64>,
    /// How long the run lasts, ramp included.
    pub duration: Duration,
    pub storm: Option<Storm>,
    /// Source addresses the devices share, spread over 127.0.0.0/8 (device `i` uses the
    /// `i mod ips`-th); as many as devices gives each its own, as in the field.
    pub ips: usize,
    pub business: Business,
    /// Seeds every device's random choices (with its SN).
    pub seed: u64,
}

/// How often the timeline takes a sample.
pub const BUCKET: Duration = Duration::from_secs(10);

impl FleetPlan {
    /// The fleet of `devices` devices following the default test fleet's rule: SN
    /// `HWC-TEST-NNNN`, SecretNo `hwc-secretno-NNNN`, all bound, the default seed SecretNo.
    pub fn generated_fleet(devices: usize) -> Fleet {
        Fleet {
            devices: (0..devices)
                .map(|n| FleetDevice {
                    identity: identity::default_fleet_device(n),
                    bound: true,
                })
                .collect(),
            seed_secret_no: Some(Secret::new(identity::DEFAULT_SEED_SECRET_NO)),
        }
    }

    /// The places (in the whole fleet) of this shard's devices.
    pub fn places(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.fleet.devices.len()).filter(|&p| self.shard.has(p))
    }

    /// When the device at `place` is switched on, from the start of the run.
    pub fn start_of(&self, place: usize) -> Duration {
        match self.ramp {
            Some(r) if r > 0.0 => Duration::from_secs_f64(place as f64 / r),
            _ => Duration::ZERO,
        }
    }

    /// The source address of the device at `place`: before a storm the `place mod ips`-th
    /// address, after a storm with `new_address` the one `ips` further on.
    pub fn source_of(&self, place: usize, after_storm: bool) -> Ipv4Addr {
        let mut k = place % self.ips.max(1);
        if after_storm && self.storm.is_some_and(|s| s.new_address) {
            k += self.ips.max(1);
        }
        source_address(k)
    }

    /// The RNG seed of a device: the run's seed and its SN, so a device does the same in a
    /// shard as in a whole run.
    pub fn seed_of(&self, place: usize) -> u64 {
        let mut h = Sha1::new();
        h.update(self.seed.to_le_bytes());
        h.update(self.fleet.devices[place].identity.sn.as_bytes());
        let d = h.finalize();
        u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
    }
}

/// The `k`-th source address: 127.a.b.c with a in 1..=254, b in 0..=255, c in 1..=254
/// (never a network or broadcast-looking address), so 16 million devices fit.
pub fn source_address(k: usize) -> Ipv4Addr {
    let c = 1 + (k % 254) as u8;
    let b = ((k / 254) % 256) as u8;
    let a = 1 + ((k / (254 * 256)) % 254) as u8;
    Ipv4Addr::new(127, a, b, c)
}

/// Durations as seconds (f64) in the report.
pub(crate) mod secs {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v: f64 = serde::Deserialize::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

pub(crate) mod opt_secs {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let v: Option<f64> = serde::Deserialize::deserialize(d)?;
        v.map(|v| Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case("1/1", Ok(Shard { index: 1, count: 1 }))]
    #[case("2/3", Ok(Shard { index: 2, count: 3 }))]
    #[case("0/3", Err("K must be between 1 and N"))]
    #[case("4/3", Err("K must be between 1 and N"))]
    #[case("1/0", Err("K must be between 1 and N"))]
    #[case("x/3", Err("is not a number"))]
    #[case("3", Err("expected K/N"))]
    fn shards_parse(#[case] text: &str, #[case] expected: Result<Shard, &str>) {
        match (Shard::parse(text), expected) {
            (Ok(s), Ok(e)) => assert_eq!(s, e),
            (Err(m), Err(e)) => assert!(m.contains(e), "{m}"),
            (got, e) => panic!("{text}: {got:?}, expected {e:?}"),
        }
    }

    proptest! {
        /// The shards of a fleet are disjoint and together the whole fleet.
        #[test]
        fn shards_partition_the_fleet(n in 1usize..9, devices in 0usize..200) {
            for place in 0..devices {
                let owners = (1..=n).filter(|&k| Shard { index: k, count: n }.has(place)).count();
                prop_assert_eq!(owners, 1);
            }
        }

        /// Source addresses are on loopback, distinct for distinct k, and never .0 or .255.
        #[test]
        fn source_addresses_are_distinct_loopback(k in 0usize..16_000_000, j in 0usize..16_000_000) {
            let a = source_address(k);
            prop_assert!(a.is_loopback());
            prop_assert!(a.octets()[3] != 0 && a.octets()[3] != 255);
            prop_assert_eq!(k == j, a == source_address(j));
        }
    }

    #[test]
    fn a_device_is_the_same_in_every_shard() {
        let fleet = FleetPlan::generated_fleet(10);
        let plan = |shard| FleetPlan {
            fleet: fleet.clone(),
            shard,
            ramp: Some(4.0),
            duration: Duration::from_secs(60),
            storm: Some(Storm {
                at: Duration::from_secs(30),
                new_address: true,
            }),
            ips: 3,
            business: Business::default(),
            seed: 7,
        };
        let (whole, half) = (plan(Shard::WHOLE), plan(Shard { index: 2, count: 2 }));
        assert_eq!(half.places().collect::<Vec<_>>(), vec![1, 3, 5, 7, 9]);
        for p in half.places() {
            assert_eq!(
                (
                    whole.seed_of(p),
                    whole.start_of(p),
                    whole.source_of(p, true)
                ),
                (half.seed_of(p), half.start_of(p), half.source_of(p, true))
            );
        }
        assert_eq!(whole.start_of(6), Duration::from_millis(1500));
        assert_eq!(
            whole.source_of(4, false),
            whole.source_of(1, false),
            "3 addresses shared"
        );
        assert_ne!(
            whole.source_of(4, false),
            whole.source_of(4, true),
            "a new address after the storm"
        );
        assert_eq!(fleet.devices[9].identity.sn, "HWC-TEST-0010");
    }
}
