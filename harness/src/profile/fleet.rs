//! The device fleet: the identities the mock cloud knows and the harness signs with.
//!
//! One [`Fleet`] is shared by both sides, so a device the harness plays is always a device
//! the mock can verify. It comes from the default test fleet, a JSON file, or repeated
//! `--device SN=SECRET_NO` flags.
//!
//! Error messages name the file, the device index or the key that is wrong, but never a
//! value: a badly written file may hold a SecretNo anywhere.

use super::identity::{self, DeviceIdentity, Secret};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One device of the fleet and whether it starts bound to a corp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetDevice {
    pub identity: DeviceIdentity,
    pub bound: bool,
}

/// The devices and, where the vendor uses one, the seed SecretNo for `get_secret_no`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fleet {
    pub devices: Vec<FleetDevice>,
    pub seed_secret_no: Option<Secret>,
}

/// Why a fleet could not be loaded. Never carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot read fleet file {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid fleet file {}", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: FleetFileError,
    },
    #[error("identity #{index} (SN=SECRET_NO): {message}")]
    Pair { index: usize, message: String },
}

/// What is wrong inside a fleet file. Names keys and device indexes, never a value.
#[derive(Debug, thiserror::Error)]
pub enum FleetFileError {
    /// serde_json's syntax errors name positions, never values.
    #[error("not valid JSON")]
    NotJson(#[source] serde_json::Error),
    /// A key, type or duplicate the format does not allow (the message names only keys).
    #[error("{0}")]
    Shape(String),
}

impl From<String> for FleetFileError {
    fn from(message: String) -> Self {
        FleetFileError::Shape(message)
    }
}

impl From<&str> for FleetFileError {
    fn from(message: &str) -> Self {
        FleetFileError::Shape(message.to_string())
    }
}

impl Fleet {
    /// Every credential of the fleet (each device's SecretNo and the seed): what no output of
    /// a run that uses it may show, whichever device a scenario plays.
    pub fn credentials(&self) -> super::Credentials {
        let mut known: Vec<String> = self
            .devices
            .iter()
            .map(|d| d.identity.secret_no.expose().to_string())
            .collect();
        known.extend(self.seed_secret_no.iter().map(|s| s.expose().to_string()));
        super::Credentials::new(known)
    }

    /// The documented default test fleet (`HWC-TEST-0001`..), all bound, with the default seed.
    pub fn default_fleet() -> Fleet {
        Fleet {
            devices: (0..identity::DEFAULT_FLEET_SIZE)
                .map(|n| FleetDevice {
                    identity: identity::default_fleet_device(n),
                    bound: true,
                })
                .collect(),
            seed_secret_no: Some(Secret::new(identity::DEFAULT_SEED_SECRET_NO)),
        }
    }

    /// Reads `{"seed_secret_no": "...", "devices": [{"sn", "secret_no", "bound"?}]}`;
    /// `seed_secret_no` is optional and `bound` defaults to true.
    pub fn from_file(path: &Path) -> Result<Fleet, FleetError> {
        let text = std::fs::read_to_string(path).map_err(|source| FleetError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Fleet::from_json(&text).map_err(|source| FleetError::Invalid {
            path: path.to_path_buf(),
            source,
        })
    }

    /// `SN=SECRET_NO` pairs (one per `--device` flag); every device bound, no seed.
    pub fn from_pairs(pairs: &[String]) -> Result<Fleet, FleetError> {
        let mut devices = Vec::with_capacity(pairs.len());
        let mut seen = BTreeSet::new();
        for (i, pair) in pairs.iter().enumerate() {
            let index = i + 1;
            let err = |message: String| FleetError::Pair { index, message };
            // The text may be a bare secret: never echo it.
            let (sn, secret_no) = pair
                .split_once('=')
                .ok_or_else(|| err("expected SN=SECRET_NO (no `=` found)".into()))?;
            let sn = sn.trim();
            if sn.is_empty() {
                return Err(err("the SN before `=` is empty".into()));
            }
            if secret_no.is_empty() {
                return Err(err(format!("the SECRET_NO of {sn:?} is empty")));
            }
            if !seen.insert(sn.to_string()) {
                return Err(err(format!("device {sn:?} is given twice")));
            }
            devices.push(FleetDevice {
                identity: DeviceIdentity::new(sn, secret_no),
                bound: true,
            });
        }
        Ok(Fleet {
            devices,
            seed_secret_no: None,
        })
    }

    /// The device with this SN.
    pub fn get(&self, sn: &str) -> Option<&FleetDevice> {
        self.devices.iter().find(|d| d.identity.sn == sn)
    }

    /// Parses the fleet file format; the error names no value.
    fn from_json(text: &str) -> Result<Fleet, FleetFileError> {
        let root: Value = serde_json::from_str(text).map_err(FleetFileError::NotJson)?;
        let obj = root.as_object().ok_or("the top level must be an object")?;
        for key in obj.keys() {
            if key != "seed_secret_no" && key != "devices" {
                return Err(format!(
                    "unknown key {key:?} at the top level (expected seed_secret_no, devices)"
                )
                .into());
            }
        }
        let seed_secret_no = match obj.get("seed_secret_no") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(Secret::new(s.clone())),
            Some(Value::String(_)) => return Err("seed_secret_no is empty".into()),
            Some(_) => return Err("seed_secret_no must be a string".into()),
        };
        let list = match obj.get("devices") {
            Some(Value::Array(list)) => list,
            Some(_) => return Err("devices must be an array".into()),
            None => return Err("devices is missing".into()),
        };
        // Every command needs a device to play or serve: an empty list is a mistake in the
        // file, said as such (exit 2) before any command starts.
        if list.is_empty() {
            return Err("devices is empty: give at least one device".into());
        }
        let mut devices = Vec::with_capacity(list.len());
        let mut seen = BTreeSet::new();
        for (i, item) in list.iter().enumerate() {
            let at = format!("devices[{i}]");
            let dev = item
                .as_object()
                .ok_or_else(|| format!("{at} must be an object"))?;
            for key in dev.keys() {
                if !["sn", "secret_no", "bound"].contains(&key.as_str()) {
                    return Err(format!(
                        "{at}: unknown key {key:?} (expected sn, secret_no, bound)"
                    )
                    .into());
                }
            }
            let sn = match dev.get("sn") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::String(_)) => return Err(format!("{at}.sn is empty").into()),
                Some(_) => return Err(format!("{at}.sn must be a string").into()),
                None => return Err(format!("{at}.sn is missing").into()),
            };
            let secret_no = match dev.get("secret_no") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::String(_)) => {
                    return Err(format!("{at}.secret_no ({sn}) is empty").into())
                }
                Some(_) => return Err(format!("{at}.secret_no ({sn}) must be a string").into()),
                None => return Err(format!("{at}.secret_no ({sn}) is missing").into()),
            };
            let bound = match dev.get("bound") {
                None => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(format!("{at}.bound ({sn}) must be true or false").into()),
            };
            if !seen.insert(sn.clone()) {
                return Err(format!("{at}: device {sn:?} is listed twice").into());
            }
            devices.push(FleetDevice {
                identity: DeviceIdentity::new(sn, secret_no),
                bound,
            });
        }
        Ok(Fleet {
            devices,
            seed_secret_no,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// The message and its causes, as the CLI prints them.
    fn chain(e: &(dyn std::error::Error + 'static)) -> String {
        let mut out = e.to_string();
        let mut cause = e.source();
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }

    fn write(text: &str) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("fleet.json");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// A throwaway directory under the system temp dir, removed on drop.
    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU64, Ordering};
                static N: AtomicU64 = AtomicU64::new(0);
                let p = std::env::temp_dir().join(format!(
                    "hwconform-fleet-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn default_fleet_is_the_documented_one() {
        let f = Fleet::default_fleet();
        assert_eq!(f.devices.len(), identity::DEFAULT_FLEET_SIZE);
        assert!(f.devices.iter().all(|d| d.bound));
        assert_eq!(
            f.seed_secret_no.as_ref().unwrap().expose(),
            identity::DEFAULT_SEED_SECRET_NO
        );
        let d = f.get("HWC-TEST-0001").unwrap();
        assert_eq!(d.identity, identity::default_fleet_device(0));
        assert!(f.get("HWC-TEST-9999").is_none());
    }

    #[test]
    fn file_with_defaults() {
        let (_d, path) = write(
            r#"{"seed_secret_no":"seedX","devices":[{"sn":"A1","secret_no":"sa1"},{"sn":"B2","secret_no":"sb2","bound":false}]}"#,
        );
        let f = Fleet::from_file(&path).unwrap();
        assert_eq!(f.seed_secret_no.as_ref().unwrap().expose(), "seedX");
        assert!(f.get("A1").unwrap().bound);
        assert!(!f.get("B2").unwrap().bound);
        assert_eq!(f.get("B2").unwrap().identity.secret_no.expose(), "sb2");
        let (_d, path) = write(r#"{"devices":[{"sn":"A1","secret_no":"sa1"}]}"#);
        assert!(Fleet::from_file(&path).unwrap().seed_secret_no.is_none());
    }

    #[rstest]
    #[case("not json TOPSECRET", "not valid JSON")]
    #[case(r#"["TOPSECRET"]"#, "top level must be an object")]
    #[case(r#"{"devices":"TOPSECRET"}"#, "devices must be an array")]
    #[case(r#"{"seed_secret_no":"TOPSECRET"}"#, "devices is missing")]
    #[case(r#"{"devices": []}"#, "devices is empty: give at least one device")]
    #[case(
        r#"{"seed_secret_no":1,"devices":[]}"#,
        "seed_secret_no must be a string"
    )]
    #[case(
        r#"{"devices":[{"sn":"A","secret_no":"TOPSECRET","bond":true}]}"#,
        "unknown key \"bond\""
    )]
    #[case(
        r#"{"devices":[{"secret_no":"TOPSECRET"}]}"#,
        "devices[0].sn is missing"
    )]
    #[case(
        r#"{"devices":[{"sn":"A","secret_no":7}]}"#,
        "devices[0].secret_no (A) must be a string"
    )]
    #[case(r#"{"devices":[{"sn":"A"}]}"#, "secret_no (A) is missing")]
    #[case(
        r#"{"devices":[{"sn":"A","secret_no":"TOPSECRET","bound":"yes"}]}"#,
        "bound (A) must be true or false"
    )]
    #[case(
        r#"{"devices":[{"sn":"A","secret_no":"TOPSECRET"},{"sn":"A","secret_no":"TOPSECRET"}]}"#,
        "listed twice"
    )]
    #[case(r#"{"TOPSECRET":1,"devices":[]}"#, "unknown key")]
    fn file_errors_are_clear_and_secret_free(#[case] text: &str, #[case] expect: &str) {
        let (_d, path) = write(text);
        let err = chain(&Fleet::from_file(&path).unwrap_err());
        assert!(err.contains(expect), "{err}");
        assert!(err.contains("fleet.json"), "{err}");
        if !text.contains("\"TOPSECRET\":1") {
            assert!(!err.contains("TOPSECRET"), "{err}");
        }
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Fleet::from_file(Path::new("/nonexistent/fleet.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/fleet.json"), "{err}");
    }

    #[test]
    fn pairs() {
        let f = Fleet::from_pairs(&["SN1=abc".into(), "SN2=x=y".into()]).unwrap();
        assert!(f.seed_secret_no.is_none());
        assert_eq!(f.get("SN2").unwrap().identity.secret_no.expose(), "x=y");
        assert!(f.devices.iter().all(|d| d.bound));
    }

    #[rstest]
    #[case("TOPSECRET", "no `=`")]
    #[case("=TOPSECRET", "SN before `=` is empty")]
    #[case("SN1=", "is empty")]
    fn pair_errors_never_echo_the_secret(#[case] pair: &str, #[case] expect: &str) {
        let err = Fleet::from_pairs(&["OK=fine".into(), pair.into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains(expect) && err.contains("#2"), "{err}");
        assert!(!err.contains("TOPSECRET"), "{err}");
        let dup = Fleet::from_pairs(&["A=TOPSECRET".into(), "A=TOPSECRET".into()])
            .unwrap_err()
            .to_string();
        assert!(dup.contains("twice") && !dup.contains("TOPSECRET"), "{dup}");
    }
}
