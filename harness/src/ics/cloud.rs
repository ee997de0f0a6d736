//! The cloud conformance statement: what a cloud under test says of the choices the protocol
//! leaves to it (its heartbeat expiry inside the FAQ's 1–2 min, its subscribe window, a frame
//! limit, the undocumented commands it answers). The ICS's counterpart for clouds: a verdict
//! must hold for every conformant cloud, so where the cloud says nothing the windows are the
//! FAQ's ranges, and only what it states narrows them.
//!
//! The file is TOML, read as the ICS is ([`super::load`]): every error names file:line:col
//! and, for a misspelt key, the one meant. The documented example is
//! `docs/src/reference/cloud-statement.md`.

use super::toml_reader::{a, TomlReader, Value};
use super::IcsError;
use crate::profile::CloudTimings;
use crate::scenario::diagnostic::Diagnostic;
use crate::scenario::expr::{format_duration, parse_duration};
use crate::scenario::Span;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::de::{DeTable, DeValue};

/// Sections of the file and the keys of each.
pub const TOP_KEYS: &[&str] = &[
    "identity",
    "heartbeat",
    "subscribe",
    "limits",
    "capabilities",
    "upper_tester",
];
pub const IDENTITY_KEYS: &[&str] = &["vendor", "product", "version"];
pub const HEARTBEAT_KEYS: &[&str] = &["expiry"];
pub const SUBSCRIBE_KEYS: &[&str] = &["window", "limit"];
pub const LIMITS_KEYS: &[&str] = &["max_frame_bytes"];
/// What a cloud may or may not answer, each stated `true` or `false`.
pub const CAPABILITY_KEYS: &[&str] = &["visitor_list"];
pub const UPPER_TESTER_KEYS: &[&str] = &["actions"];
/// What the lab's cloud upper tester (`--cloud-upper-tester`) can be asked to do: the
/// `action` of the JSON it gets.
pub const UPPER_TESTER_ACTIONS: &[&str] = &[
    "bind",
    "unbind",
    "remote_open_door",
    "fetch_log",
    "scan_qr",
    "remote_open_failed",
];

/// The FAQ's subscribe rule speaks of a minute; a window stated far from it is a typo.
const SUBSCRIBE_WINDOW_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(3600));

/// One cloud conformance statement. Whatever it leaves out, the FAQ's ranges stand for.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CloudStatement {
    pub path: PathBuf,
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub version: Option<String>,
    /// The heartbeat expiry: one value (`min == max`) or the range the cloud guarantees.
    pub heartbeat_expiry: Option<(Duration, Duration)>,
    pub subscribe_window: Option<Duration>,
    pub subscribe_limit: Option<usize>,
    pub max_frame_bytes: Option<usize>,
    pub visitor_list: Option<bool>,
    /// The actions the lab's cloud upper tester can perform; `None`: all of them.
    pub upper_tester_actions: Option<Vec<String>>,
}

impl CloudStatement {
    /// `base` (what a cloud that states nothing is held to) narrowed by the statement.
    pub fn timings(&self, base: CloudTimings) -> CloudTimings {
        let mut t = base;
        if let Some((min, max)) = self.heartbeat_expiry {
            t.heartbeat_timeout = max;
            t.heartbeat_timeout_min = (min < max).then_some(min);
        }
        t.subscribe_window = self.subscribe_window.unwrap_or(t.subscribe_window);
        t.subscribe_limit = self.subscribe_limit.unwrap_or(t.subscribe_limit);
        t.max_frame_bytes = self.max_frame_bytes.or(t.max_frame_bytes);
        t.visitor_list = self.visitor_list.or(t.visitor_list);
        t
    }
}

/// What a cloud statement declared, as a report records it beside the file's hash: only
/// the values stated (what is left out, the FAQ's ranges stand for); durations as written
/// (`90s`, `60s–120s`).
#[derive(
    Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct CloudStatementSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_expiry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe_window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe_limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_frame_bytes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_list: Option<bool>,
}

impl CloudStatement {
    /// The declared values for the report.
    pub fn summary(&self) -> CloudStatementSummary {
        CloudStatementSummary {
            vendor: self.vendor.clone(),
            product: self.product.clone(),
            version: self.version.clone(),
            heartbeat_expiry: self.heartbeat_expiry.map(|(min, max)| {
                if min == max {
                    format_duration(min)
                } else {
                    format!("{}–{}", format_duration(min), format_duration(max))
                }
            }),
            subscribe_window: self.subscribe_window.map(format_duration),
            subscribe_limit: self.subscribe_limit,
            max_frame_bytes: self.max_frame_bytes,
            visitor_list: self.visitor_list,
        }
    }
}

impl CloudStatementSummary {
    /// Each declared value as (name, value), in the file's order.
    pub fn declared(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                out.push((k, v));
            }
        };
        put("vendor", self.vendor.clone());
        put("product", self.product.clone());
        put("version", self.version.clone());
        put("heartbeat expiry", self.heartbeat_expiry.clone());
        put("subscribe window", self.subscribe_window.clone());
        put(
            "subscribe limit",
            self.subscribe_limit.map(|n| n.to_string()),
        );
        put(
            "max frame bytes",
            self.max_frame_bytes.map(|n| n.to_string()),
        );
        put("visitor list", self.visitor_list.map(|b| b.to_string()));
        out
    }
}

/// Reads and loads a cloud statement file.
pub fn load_file(path: &Path) -> Result<CloudStatement, IcsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(path, &text),
        Err(e) => Err(IcsError::new(
            vec![Diagnostic::new(
                path,
                Span::default(),
                format!("cannot read cloud statement file: {e}"),
            )],
            "",
        )),
    }
}

/// Loads a cloud statement from its text; `path` names it in diagnostics.
pub fn load_str(path: &Path, text: &str) -> Result<CloudStatement, IcsError> {
    let mut r = Reader {
        toml: TomlReader::new(path, text),
    };
    let mut statement = CloudStatement {
        path: path.to_path_buf(),
        ..CloudStatement::default()
    };
    match DeTable::parse(text) {
        Ok(root) => r.statement(root.get_ref(), &mut statement),
        Err(e) => {
            let span = e
                .span()
                .map(|s| r.span(&s))
                .unwrap_or(Span { line: 1, col: 1 });
            r.diags.push(Diagnostic::new(
                path,
                span,
                format!("invalid TOML: {}", e.message().trim()),
            ));
        }
    }
    if r.diags.is_empty() {
        Ok(statement)
    } else {
        Err(IcsError::new(r.toml.diags, text))
    }
}

/// The cloud statement's reader: the TOML reading shared with the device ICS.
struct Reader<'a> {
    toml: TomlReader<'a>,
}

impl<'a> std::ops::Deref for Reader<'a> {
    type Target = TomlReader<'a>;
    fn deref(&self) -> &TomlReader<'a> {
        &self.toml
    }
}

impl std::ops::DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.toml
    }
}

impl Reader<'_> {
    fn statement(&mut self, top: &DeTable<'_>, out: &mut CloudStatement) {
        self.unknown_keys(top, TOP_KEYS, "at the top level");
        if let Some(t) = self.table(top, "identity") {
            self.unknown_keys(t, IDENTITY_KEYS, "in [identity]");
            out.vendor = t
                .get("vendor")
                .and_then(|v| self.string(v, "identity.vendor", "a string"));
            out.product = t
                .get("product")
                .and_then(|v| self.string(v, "identity.product", "a string"));
            out.version = t
                .get("version")
                .and_then(|v| self.string(v, "identity.version", "a string"));
        }
        if let Some(t) = self.table(top, "heartbeat") {
            self.unknown_keys(t, HEARTBEAT_KEYS, "in [heartbeat]");
            out.heartbeat_expiry = t.get("expiry").and_then(|v| self.expiry(v));
        }
        if let Some(t) = self.table(top, "subscribe") {
            self.unknown_keys(t, SUBSCRIBE_KEYS, "in [subscribe]");
            out.subscribe_window = t.get("window").and_then(|v| {
                let d = self.duration(v, "subscribe.window")?;
                self.within(
                    v,
                    "subscribe.window",
                    d,
                    SUBSCRIBE_WINDOW_RANGE,
                    "a window of 1s to 1h (the FAQ: a minute)",
                )
            });
            out.subscribe_limit = t
                .get("limit")
                .and_then(|v| self.positive(v, "subscribe.limit", 1000));
        }
        if let Some(t) = self.table(top, "limits") {
            self.unknown_keys(t, LIMITS_KEYS, "in [limits]");
            out.max_frame_bytes = t
                .get("max_frame_bytes")
                .and_then(|v| self.positive(v, "limits.max_frame_bytes", 1 << 30));
        }
        if let Some(t) = self.table(top, "capabilities") {
            self.unknown_keys(t, CAPABILITY_KEYS, "in [capabilities]");
            out.visitor_list = t
                .get("visitor_list")
                .and_then(|v| self.boolean(v, "capabilities.visitor_list"));
        }
        if let Some(t) = self.table(top, "upper_tester") {
            self.unknown_keys(t, UPPER_TESTER_KEYS, "in [upper_tester]");
            out.upper_tester_actions = t.get("actions").and_then(|v| self.actions(v));
        }
    }

    /// `actions = ["bind", "fetch_log"]`: each one the upper tester knows.
    fn actions(&mut self, v: &Value<'_>) -> Option<Vec<String>> {
        let expected = format!("a list of: {}", UPPER_TESTER_ACTIONS.join(", "));
        let DeValue::Array(items) = v.get_ref() else {
            self.wrong_type(v, "upper_tester.actions", v.get_ref().type_str(), &expected);
            return None;
        };
        let mut out = Vec::new();
        for item in items.iter() {
            let name = self.string(item, "upper_tester.actions", &expected)?;
            if !UPPER_TESTER_ACTIONS.contains(&name.as_str()) {
                let d = self
                    .diag(
                        &item.span(),
                        format!("unknown upper tester action `{name}`"),
                    )
                    .expected(expected.clone())
                    .maybe_help(crate::scenario::diagnostic::did_you_mean(
                        &name,
                        UPPER_TESTER_ACTIONS,
                    ));
                self.diags.push(d);
                return None;
            }
            out.push(name);
        }
        Some(out)
    }

    /// `expiry = "90s"` or `expiry = ["60s", "90s"]`, inside the FAQ's 1–2 minutes.
    fn expiry(&mut self, v: &Value<'_>) -> Option<(Duration, Duration)> {
        let (min, max) = match v.get_ref() {
            DeValue::Array(items) if items.len() == 2 => {
                let min = self.duration(&items[0], "heartbeat.expiry")?;
                let max = self.duration(&items[1], "heartbeat.expiry")?;
                if min > max {
                    let d = self
                        .diag(
                            &v.span(),
                            format!(
                                "heartbeat.expiry: the range {} to {} runs backwards",
                                format_duration(min),
                                format_duration(max)
                            ),
                        )
                        .expected("[\"SHORTEST\", \"LONGEST\"], e.g. [\"60s\", \"90s\"]");
                    self.diags.push(d);
                    return None;
                }
                (min, max)
            }
            DeValue::String(_) => {
                let d = self.duration(v, "heartbeat.expiry")?;
                (d, d)
            }
            other => {
                let d = self
                    .diag(
                        &v.span(),
                        format!(
                            "`heartbeat.expiry` must be a duration or a range of two, found {}",
                            a(other.type_str())
                        ),
                    )
                    .expected("a duration like \"90s\", or a range like [\"60s\", \"90s\"]");
                self.diags.push(d);
                return None;
            }
        };
        // The FAQ's range, as the profile's cloud timers state it.
        let faq_timers = crate::profile::CloudTimings::FAQ;
        let heartbeat_expiry = (
            faq_timers
                .heartbeat_timeout_min
                .unwrap_or(faq_timers.heartbeat_timeout),
            faq_timers.heartbeat_timeout,
        );
        let faq = |d: Duration| d >= heartbeat_expiry.0 && d <= heartbeat_expiry.1;
        if !faq(min) || !faq(max) {
            let d = self
                .diag(&v.span(), format!(
                    "heartbeat.expiry {} is outside the FAQ's 1–2 min",
                    if min == max { format_duration(min) } else { format!("{}–{}", format_duration(min), format_duration(max)) }
                ))
                .expected(format!("a duration from {} to {}", format_duration(heartbeat_expiry.0), format_duration(heartbeat_expiry.1)))
                .note("a cloud that keeps a silent link longer or releases it sooner breaks C8; the statement cannot make that conformant");
            self.diags.push(d);
            return None;
        }
        Some((min, max))
    }

    fn within(
        &mut self,
        v: &Value<'_>,
        key: &str,
        d: Duration,
        (lo, hi): (Duration, Duration),
        expected: &str,
    ) -> Option<Duration> {
        if d < lo || d > hi {
            let diag = self
                .diag(
                    &v.span(),
                    format!("{key} {} is out of range", format_duration(d)),
                )
                .expected(expected);
            self.diags.push(diag);
            return None;
        }
        Some(d)
    }

    fn duration(&mut self, v: &Value<'_>, key: &str) -> Option<Duration> {
        let text = match v.get_ref() {
            DeValue::String(s) => s.to_string(),
            other => {
                let d = self
                    .diag(
                        &v.span(),
                        format!("`{key}` must be a duration, found {}", a(other.type_str())),
                    )
                    .expected("a duration like \"90s\" or \"2m\"")
                    .maybe_help(
                        matches!(other, DeValue::Integer(_))
                            .then(|| "write the unit: \"90s\"".to_string()),
                    );
                self.diags.push(d);
                return None;
            }
        };
        match parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                let d = self
                    .diag(&v.span(), format!("{key}: {e}"))
                    .expected("a duration like \"90s\" or \"2m\"");
                self.diags.push(d);
                None
            }
        }
    }

    fn positive(&mut self, v: &Value<'_>, key: &str, max: u64) -> Option<usize> {
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => {
                u64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()
            }
            _ => None,
        };
        match parsed.filter(|n| (1..=max).contains(n)) {
            Some(n) => Some(n as usize),
            None => {
                let d = self
                    .diag(
                        &v.span(),
                        format!("`{key}` must be a whole number from 1 to {max}"),
                    )
                    .expected(format!("an integer from 1 to {max}"));
                self.diags.push(d);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
