//! The error-code and command catalog, read from `protocol/catalog.json` (a copy of the
//! protocol reference's machine-readable companion) at build time.
//!
//! The reference has no official error table. Names come from the constant names seen in
//! the C firmware (`ERROR_CODE_*`); default suggestions from the FAQ's recovery advice.
//! Codes the reference leaves undocumented (bad signature, stale timestamp, ...) get
//! harness-defined codes in the 6009xx range, marked `harness_defined` so scenarios never
//! hold a real cloud to them.

use serde::Deserialize;
use std::sync::OnceLock;

/// The catalog as shipped, also used by tests that check the catalog's own test vectors.
pub const CATALOG_JSON: &str = include_str!("../../../protocol/catalog.json");

/// What the cloud advises after an error (FAQ): retry the request, or reconnect first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Suggestion {
    Retry,
    Reconnect,
}

impl Suggestion {
    pub fn as_str(self) -> &'static str {
        match self {
            Suggestion::Retry => "retry",
            Suggestion::Reconnect => "reconnect",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "retry" => Some(Suggestion::Retry),
            "reconnect" => Some(Suggestion::Reconnect),
            _ => None,
        }
    }
}

/// One error code: what it means and what a cloud advises by default.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ErrorCode {
    pub code: i64,
    pub name: &'static str,
    pub meaning: String,
    pub device_action: String,
    pub suggestion: Suggestion,
    /// Seconds before a retry is allowed; -1 means never.
    pub interval: i64,
    /// True for the codes this harness defines where the reference documents none.
    pub harness_defined: bool,
}

/// One command of the catalog.
#[derive(Clone, Debug, Deserialize)]
pub struct Command {
    pub name: String,
    pub direction: String,
    pub category: String,
    pub frame: String,
    pub confidence: String,
    #[serde(default)]
    pub request_body_fields: Vec<Field>,
    #[serde(default)]
    pub reply_body_fields: Vec<Field>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default)]
    pub required: Option<bool>,
    #[serde(default)]
    pub notes: Option<String>,
}

impl Field {
    /// Whether the documented example carries it: not a field only an implementation was
    /// seen to send.
    pub fn documented(&self) -> bool {
        !self
            .notes
            .as_deref()
            .is_some_and(|n| n.contains("undocumented") || n.starts_with("IMPL"))
    }
}

/// Names and default advice the JSON does not carry: (code, name, suggestion, interval).
const ADVICE: &[(i64, &str, Suggestion, i64)] = &[
    (0, "OK", Suggestion::Retry, 0),
    (600002, "REGISTERED", Suggestion::Reconnect, 90),
    (600003, "INVALID_ACTIVECODE", Suggestion::Retry, 3),
    (600004, "NOT_AUTHOR", Suggestion::Retry, 5),
    (600012, "KEEP_ALIVE_REGISTERED", Suggestion::Retry, 0),
    (600014, "NOT_REGISTERED", Suggestion::Retry, 1),
    (600016, "NOT_ACTIVE", Suggestion::Retry, 1),
    (600020, "NOT_LOGIN", Suggestion::Retry, 1),
    (600045, "SUBSCRIBED", Suggestion::Retry, 60),
    (600053, "ACTIVED", Suggestion::Retry, 0),
    (600054, "HAS_SUBSCRIBED", Suggestion::Retry, 0),
    (-1, "DEVICE_ERROR", Suggestion::Retry, -1),
];

/// The documented codes by their names in the C firmware (`ERROR_CODE_*`), for code that
/// decides on them (the mock's lifecycle, the reference device's recovery).
pub mod codes {
    pub const REGISTERED: i64 = 600002;
    pub const INVALID_ACTIVECODE: i64 = 600003;
    pub const NOT_AUTHOR: i64 = 600004;
    pub const KEEP_ALIVE_REGISTERED: i64 = 600012;
    pub const NOT_REGISTERED: i64 = 600014;
    pub const NOT_ACTIVE: i64 = 600016;
    pub const NOT_LOGIN: i64 = 600020;
    pub const SUBSCRIBED: i64 = 600045;
    pub const ACTIVED: i64 = 600053;
    pub const HAS_SUBSCRIBED: i64 = 600054;
}

/// Harness-defined codes for what the reference leaves undocumented.
pub const INVALID_SIGNATURE: i64 = 600901;
pub const STALE_TIMESTAMP: i64 = 600902;
pub const SECRET_NO_AFTER_REGISTER: i64 = 600903;
pub const MALFORMED_REQUEST: i64 = 600904;
pub const NOT_IMPLEMENTED: i64 = 600905;
pub const UNKNOWN_DEVICE: i64 = 600906;

const HARNESS_DEFINED: &[(i64, &str, &str, Suggestion, i64)] = &[
    (
        INVALID_SIGNATURE,
        "INVALID_SIGNATURE",
        "device_signature does not match (code undocumented; harness-defined)",
        Suggestion::Retry,
        3,
    ),
    (
        STALE_TIMESTAMP,
        "STALE_TIMESTAMP",
        "timestamp more than 5 min from cloud time (code undocumented; harness-defined)",
        Suggestion::Retry,
        3,
    ),
    (
        SECRET_NO_AFTER_REGISTER,
        "SECRET_NO_AFTER_REGISTER",
        "get_secret_no after a successful register (code undocumented; harness-defined)",
        Suggestion::Retry,
        -1,
    ),
    (
        MALFORMED_REQUEST,
        "MALFORMED_REQUEST",
        "frame is not a valid request envelope (code undocumented; harness-defined)",
        Suggestion::Retry,
        -1,
    ),
    (
        NOT_IMPLEMENTED,
        "NOT_IMPLEMENTED",
        "command not implemented by the mock cloud (harness-defined)",
        Suggestion::Retry,
        -1,
    ),
    (
        UNKNOWN_DEVICE,
        "UNKNOWN_DEVICE",
        "sn is not in the cloud's device registry (code undocumented; harness-defined)",
        Suggestion::Retry,
        -1,
    ),
];

/// The loaded catalog.
#[derive(Debug)]
pub struct Catalog {
    pub error_codes: Vec<ErrorCode>,
    pub commands: Vec<Command>,
}

#[derive(Deserialize)]
struct RawCatalog {
    error_codes: Vec<RawCode>,
    commands: Vec<Command>,
}

#[derive(Deserialize)]
struct RawCode {
    code: i64,
    meaning: String,
    device_action: String,
}

/// Whether a value a scenario writes fits a catalog type (`uint32`, `string(40)`, `bool`,
/// `array<object>`, ...); a `${...}` expression fits anything (it is expanded when sent), and
/// a type the catalog spells loosely admits anything.
pub fn type_admits(ty: &str, v: &serde_json::Value) -> bool {
    if v.as_str().is_some_and(|s| s.contains("${")) {
        return true;
    }
    let ty = ty.trim();
    if ty.starts_with("uint") || ty.starts_with("int") {
        v.is_i64() || v.is_u64()
    } else if ty.starts_with("string") {
        v.is_string()
    } else if ty == "bool" {
        v.is_boolean()
    } else if ty.starts_with("array") {
        v.is_array()
    } else if ty.starts_with("object") {
        v.is_object()
    } else {
        true
    }
}

impl Catalog {
    /// The shipped catalog, parsed once.
    pub fn get() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            let raw: RawCatalog =
                serde_json::from_str(CATALOG_JSON).expect("the shipped catalog.json is valid");
            let mut error_codes: Vec<ErrorCode> = raw
                .error_codes
                .into_iter()
                .map(|c| {
                    let (name, suggestion, interval) = ADVICE
                        .iter()
                        .find(|a| a.0 == c.code)
                        .map(|a| (a.1, a.2, a.3))
                        .unwrap_or(("UNNAMED", Suggestion::Retry, 3));
                    ErrorCode {
                        code: c.code,
                        name,
                        meaning: c.meaning,
                        device_action: c.device_action,
                        suggestion,
                        interval,
                        harness_defined: false,
                    }
                })
                .collect();
            error_codes.extend(HARNESS_DEFINED.iter().map(
                |&(code, name, meaning, suggestion, interval)| ErrorCode {
                    code,
                    name,
                    meaning: meaning.to_string(),
                    device_action: "see meaning".to_string(),
                    suggestion,
                    interval,
                    harness_defined: true,
                },
            ));
            Catalog {
                error_codes,
                commands: raw.commands,
            }
        })
    }

    pub fn error(&self, code: i64) -> Option<&ErrorCode> {
        self.error_codes.iter().find(|c| c.code == code)
    }

    pub fn command(&self, name: &str) -> Option<&Command> {
        self.commands.iter().find(|c| c.name == name)
    }

    /// Whether `name` is a cloud→device push the catalog lists.
    pub fn is_push(&self, name: &str) -> bool {
        self.command(name)
            .is_some_and(|c| c.direction == "cloud->device")
    }

    /// Whether `name` is a documented (or implementation-seen) device→cloud command.
    pub fn is_device_command(&self, name: &str) -> bool {
        self.command(name)
            .is_some_and(|c| c.direction == "device->cloud")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code_is_named_and_advised() {
        let cat = Catalog::get();
        for code in [
            0, 600002, 600003, 600004, 600012, 600014, 600016, 600020, 600045, 600053, 600054,
        ] {
            let e = cat.error(code).unwrap_or_else(|| panic!("{code} missing"));
            assert_ne!(e.name, "UNNAMED", "{code}");
            assert!(!e.harness_defined);
        }
        assert!(cat.error(INVALID_SIGNATURE).unwrap().harness_defined);
        assert!(cat.is_device_command("register"));
        assert!(!cat.is_device_command("push_bind_corp"));
    }
}
