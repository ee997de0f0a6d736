//! Manual verdicts: what a lab engineer saw with their own eyes for an obligation the wire
//! cannot show (a QR code on the screen, a door that opened), signed with who and when. They
//! live in a small file of their own (`hwconform manual record` appends to it) so they
//! outlive the reports a run regenerates; `run --manual FILE` and `report RUN.json --manual
//! FILE` fold them into the requirement matrix.
//!
//! # Format, version 1
//!
//! ```json
//! { "version": 1,
//!   "records": [ { "id": "D38", "verdict": "pass", "by": "ann", "at": "2026-12-02T14:00:00Z",
//!                  "note": "QR shown within 2 s of push_enter_page",
//!                  "device": { "vendor": "Acme", "model": "DC-100", "firmware_version": "2.3.1",
//!                              "ics_sha256": "sha256:…", "sns": ["ACME-0042"] } } ] }
//! ```
//!
//! Records are kept in the order they were made, never rewritten: a second record for an id
//! supersedes the first in the matrix, and the file keeps the history.
//!
//! A record is bound to the unit it was seen on (`device`: the ICS identity, the ICS file's
//! SHA-256 and the SNs, [`DeviceRef`]): what a lab saw on one device says nothing of another,
//! so applying it to another device's run is refused with the reason ([`check_device`]).

use super::matrix::{DeviceRef, ManualRecord};
use super::sink::{write_file, ReportError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The version written in the `version` field.
pub const MANUAL_FORMAT_VERSION: u32 = 1;

/// A manual verdicts file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualFile {
    pub version: u32,
    pub records: Vec<ManualRecord>,
}

/// Why a manual verdicts file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    #[error("cannot read the manual verdicts file {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a manual verdicts file (line {}, column {})", path.display(), source.line(), source.column())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} has format version {found}; this hwconform reads version {MANUAL_FORMAT_VERSION}", path.display())]
    Version { path: PathBuf, found: u32 },
    #[error("{} records `{id}`, which is not an obligation of this protocol", path.display())]
    UnknownId { path: PathBuf, id: String },
    #[error("{} records `{verdict}` for {id}; a manual verdict is `pass` or `fail`", path.display())]
    BadVerdict {
        path: PathBuf,
        id: String,
        verdict: String,
    },
    #[error("{} stayed locked for {}s: another `hwconform manual record` is still writing", path.display(), waited.as_secs())]
    Locked {
        path: PathBuf,
        waited: std::time::Duration,
    },
    #[error("{} records {id} (by {by} at {at}) for no device; sign it again with `hwconform manual record {id} --run RUN.json` (or --ics FILE --sn SN)", path.display())]
    Unbound {
        path: PathBuf,
        id: String,
        by: String,
        at: String,
    },
    #[error("{} records {id} (by {by} at {at}) for another device: {why}", path.display())]
    OtherDevice {
        path: PathBuf,
        id: String,
        by: String,
        at: String,
        why: String,
    },
    #[error(transparent)]
    Write(#[from] ReportError),
}

/// Refuses `records` (read from `path`) unless every one was made on `run`'s device.
pub fn check_device(
    path: &Path,
    records: &[ManualRecord],
    run: &DeviceRef,
) -> Result<(), ManualError> {
    for r in records {
        let Some(device) = &r.device else {
            return Err(ManualError::Unbound {
                path: path.to_path_buf(),
                id: r.id.clone(),
                by: r.by.clone(),
                at: r.at.clone(),
            });
        };
        if let Some(why) = device.mismatch(run) {
            return Err(ManualError::OtherDevice {
                path: path.to_path_buf(),
                id: r.id.clone(),
                by: r.by.clone(),
                at: r.at.clone(),
                why,
            });
        }
    }
    Ok(())
}

impl ManualFile {
    /// Reads `path`; a file that does not exist is an empty list (the first `record` makes it).
    /// Its ids must be obligations of `profile`.
    pub fn load_or_empty(
        path: &Path,
        profile: &dyn crate::profile::Profile,
    ) -> Result<ManualFile, ManualError> {
        match std::fs::read_to_string(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ManualFile {
                version: MANUAL_FORMAT_VERSION,
                records: vec![],
            }),
            Err(source) => Err(ManualError::Io {
                path: path.to_path_buf(),
                source,
            }),
            Ok(text) => ManualFile::parse(path, &text, profile),
        }
    }

    /// Reads `path`, which must exist (a run that names a verdicts file means one).
    pub fn load(
        path: &Path,
        profile: &dyn crate::profile::Profile,
    ) -> Result<ManualFile, ManualError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManualError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        ManualFile::parse(path, &text, profile)
    }

    fn parse(
        path: &Path,
        text: &str,
        profile: &dyn crate::profile::Profile,
    ) -> Result<ManualFile, ManualError> {
        let file: ManualFile = serde_json::from_str(text).map_err(|source| ManualError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        if file.version != MANUAL_FORMAT_VERSION {
            return Err(ManualError::Version {
                path: path.to_path_buf(),
                found: file.version,
            });
        }
        let known = profile.statements();
        for r in &file.records {
            if !known.iter().any(|s| s.id == r.id) {
                return Err(ManualError::UnknownId {
                    path: path.to_path_buf(),
                    id: r.id.clone(),
                });
            }
            if r.verdict != "pass" && r.verdict != "fail" {
                return Err(ManualError::BadVerdict {
                    path: path.to_path_buf(),
                    id: r.id.clone(),
                    verdict: r.verdict.clone(),
                });
            }
        }
        Ok(file)
    }

    /// Writes the file (whole, atomically: a reader never sees half of it).
    pub fn save(&self, path: &Path) -> Result<(), ManualError> {
        let mut text = serde_json::to_string_pretty(self).map_err(|source| ManualError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        text.push('\n');
        Ok(write_file(path, text.as_bytes())?)
    }
}

/// Appends `record` to the verdicts file at `path` (made if missing) under an exclusive lock
/// on `FILE.lock`, so two people signing at once both land; returns the records now held.
pub fn append(
    path: &Path,
    record: ManualRecord,
    profile: &dyn crate::profile::Profile,
) -> Result<ManualFile, ManualError> {
    use std::os::fd::AsRawFd;
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ManualError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| ManualError::Io {
            path: lock_path.clone(),
            source,
        })?;
    // Bounded: a lock another process never lets go of is an error, not a hang.
    let until = std::time::Instant::now() + LOCK_WAIT;
    loop {
        // SAFETY: flock(2) on a descriptor we own for the duration of this function; the
        // lock goes when `lock` is closed.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::WouldBlock {
            return Err(ManualError::Io {
                path: lock_path,
                source: err,
            });
        }
        if std::time::Instant::now() >= until {
            return Err(ManualError::Locked {
                path: lock_path,
                waited: LOCK_WAIT,
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut file = ManualFile::load_or_empty(path, profile)?;
    file.records.push(record);
    file.save(path)?;
    Ok(file)
}

/// How long `append` waits for another signer to finish.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `records` followed by the ones of `more` it does not already hold (a report rebuilt with
/// the same file twice counts each record once).
pub fn union(records: &[ManualRecord], more: &[ManualRecord]) -> Vec<ManualRecord> {
    let mut out = records.to_vec();
    for r in more {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, verdict: &str) -> ManualRecord {
        ManualRecord {
            id: id.into(),
            verdict: verdict.into(),
            by: "ann".into(),
            at: "2026-12-02T14:00:00Z".into(),
            note: "seen".into(),
            device: Some(acme("2.3.1", "SN-1")),
        }
    }

    fn acme(firmware: &str, sn: &str) -> DeviceRef {
        DeviceRef {
            vendor: "Acme".into(),
            model: "DC-100".into(),
            firmware_version: firmware.into(),
            ics_sha256: "sha256:aa".into(),
            sns: vec![sn.into()],
        }
    }

    #[rstest::rstest]
    #[case::same(acme("2.3.1", "SN-1"), None)]
    #[case::firmware(
        acme("2.4.0", "SN-1"),
        Some(
            "it was seen on Acme DC-100 firmware 2.3.1, this run tested Acme DC-100 firmware 2.4.0"
        )
    )]
    #[case::ics(DeviceRef { ics_sha256: "sha256:bb".into(), ..acme("2.3.1", "SN-1") }, Some("it was seen with ICS sha256:aa, this run used ICS sha256:bb"))]
    #[case::sn(
        acme("2.3.1", "SN-2"),
        Some("it was seen on SN SN-1, this run's device is SN SN-2")
    )]
    #[case::sn_among_several(DeviceRef { sns: vec!["SN-0".into(), "SN-1".into()], ..acme("2.3.1", "") }, None)]
    fn a_record_holds_only_for_its_device(#[case] run: DeviceRef, #[case] refused: Option<&str>) {
        let got = check_device(Path::new("m.json"), &[record("D38", "pass")], &run);
        match refused {
            None => assert!(got.is_ok(), "{got:?}"),
            Some(why) => {
                let e = got.unwrap_err().to_string();
                assert_eq!(
                    e,
                    format!("m.json records D38 (by ann at 2026-12-02T14:00:00Z) for another device: {why}")
                );
            }
        }
        let unbound = ManualRecord {
            device: None,
            ..record("D38", "pass")
        };
        let e = check_device(Path::new("m.json"), &[unbound], &run).unwrap_err();
        assert!(
            e.to_string().contains("for no device; sign it again"),
            "{e}"
        );
    }

    #[test]
    fn a_file_round_trips_and_a_missing_one_is_empty() {
        let dir = std::env::temp_dir().join(format!("hwconform-manual-{}", std::process::id()));
        let path = dir.join("m.json");
        assert!(
            ManualFile::load_or_empty(&path, &*crate::profile::default_profile())
                .unwrap()
                .records
                .is_empty()
        );
        assert!(matches!(
            ManualFile::load(&path, &*crate::profile::default_profile()),
            Err(ManualError::Io { .. })
        ));
        let file = ManualFile {
            version: 1,
            records: vec![record("D38", "pass"), record("D38", "fail")],
        };
        file.save(&path).unwrap();
        assert_eq!(
            ManualFile::load(&path, &*crate::profile::default_profile()).unwrap(),
            file
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[rstest::rstest]
    #[case::not_json("{", "is not a manual verdicts file (line 1, column 1)")]
    #[case::version(r#"{"version": 2, "records": []}"#, "has format version 2")]
    #[case::unknown_id(r#"{"version": 1, "records": [{"id": "D99", "verdict": "pass", "by": "a", "at": "t", "note": ""}]}"#, "records `D99`, which is not an obligation")]
    #[case::bad_verdict(r#"{"version": 1, "records": [{"id": "D38", "verdict": "ok", "by": "a", "at": "t", "note": ""}]}"#, "a manual verdict is `pass` or `fail`")]
    fn bad_files_are_refused_with_the_reason(#[case] text: &str, #[case] says: &str) {
        let err = ManualFile::parse(
            Path::new("m.json"),
            text,
            &*crate::profile::default_profile(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("m.json "), "{err}");
        assert!(err.contains(says), "{err}");
    }

    #[test]
    fn signers_at_once_all_land() {
        let dir =
            std::env::temp_dir().join(format!("hwconform-manual-race-{}", std::process::id()));
        let path = dir.join("m.json");
        std::thread::scope(|s| {
            for i in 0..8 {
                let path = &path;
                s.spawn(move || {
                    append(
                        path,
                        ManualRecord {
                            note: format!("signer {i}"),
                            ..record("D38", "pass")
                        },
                        &*crate::profile::default_profile(),
                    )
                    .unwrap()
                });
            }
        });
        let notes: std::collections::BTreeSet<String> =
            ManualFile::load(&path, &*crate::profile::default_profile())
                .unwrap()
                .records
                .into_iter()
                .map(|r| r.note)
                .collect();
        assert_eq!(notes.len(), 8, "{notes:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn union_keeps_order_and_counts_each_record_once() {
        let a = record("D38", "pass");
        let b = record("D39", "fail");
        assert_eq!(
            union(std::slice::from_ref(&a), &[a.clone(), b.clone()]),
            vec![a, b]
        );
    }
}
