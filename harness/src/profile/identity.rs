//! Device identities and the secrets they carry.
//!
//! A [`Secret`] never prints its value: `Debug` and `Display` show a redaction marker, so a
//! secret that reaches a log line, a report or a panic message by accident leaks nothing.

use std::fmt;

/// A credential (SecretNo, seed SecretNo, `secret` from `active`): readable only through
/// [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for signing and for the wire; never for display.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What a device needs to sign its way in: its serial number and SecretNo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceIdentity {
    pub sn: String,
    pub secret_no: Secret,
}

impl DeviceIdentity {
    pub fn new(sn: impl Into<String>, secret_no: impl Into<String>) -> Self {
        DeviceIdentity {
            sn: sn.into(),
            secret_no: Secret::new(secret_no),
        }
    }
}

/// The documented default test fleet: `HWC-TEST-0001` .. `HWC-TEST-0256`, whose SecretNo is
/// derived from the SN. The mock knows it when no devices are given, and the harness uses it
/// when no identities are configured, so `hwconform run` needs nothing set up.
pub const DEFAULT_FLEET_SIZE: usize = 256;

/// The SecretNo every default-fleet device shares as its seed (for `get_secret_no`).
pub const DEFAULT_SEED_SECRET_NO: &str = "hwc-seed-secretno";

/// The n-th (0-based) device of the default test fleet.
pub fn default_fleet_device(n: usize) -> DeviceIdentity {
    let sn = format!("HWC-TEST-{:04}", n + 1);
    let secret_no = format!("hwc-secretno-{:04}", n + 1);
    DeviceIdentity::new(sn, secret_no)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_format() {
        let id = default_fleet_device(0);
        let shown = format!("{id:?} {}", id.secret_no);
        assert!(!shown.contains(id.secret_no.expose()), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
