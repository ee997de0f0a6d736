//! `${...}` expressions and durations.
//!
//! `${name}` expands a capture, a scenario variable, a run variable (`now`, `sn`,
//! `heartbeat_timeout`, ...) or `${env.NAME}`. `${name+N}` / `${name-N}` add an integer. A
//! string that is exactly one `${...}` takes the variable's JSON type, so
//! `timestamp: "${now-400}"` stays a number.

use super::span::DurationExpr;
use serde_json::Value;
use std::time::Duration;

/// Where expansion looks names up.
pub trait Vars {
    fn get(&self, name: &str) -> Option<Value>;

    /// The secret a `$signature` matcher checks a device's signature with: the SecretNo
    /// (`register`) or seed SecretNo (`secret_no`) of the device with serial `sn`. Never a
    /// variable, so it cannot be expanded into a frame or a message.
    fn signing_secret(&self, _kind: &str, _sn: &str) -> Option<String> {
        None
    }

    /// The profile the values belong to: what `$signature` signs with and what a mismatch
    /// redacts. `None` (plain lookups): the default profile's rules.
    fn profile(&self) -> Option<&dyn crate::profile::Profile> {
        None
    }
}

impl<F: Fn(&str) -> Option<Value>> Vars for F {
    fn get(&self, name: &str) -> Option<Value> {
        self(name)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExprError {
    #[error("unknown variable `{0}`")]
    Unknown(String),
    #[error("unclosed `${{` in {0:?}")]
    Unclosed(String),
    #[error("`{0}` is not a number, so it cannot take an offset")]
    NotNumeric(String),
    #[error("invalid duration {0:?}: expected a number with a unit (ms, s, m, h), e.g. 10s, 1.5s, 2m, or a sum like ${{heartbeat_timeout}}+5s")]
    Duration(String),
    #[error("`${{{0}}}` divides by zero")]
    DivisionByZero(String),
    #[error("`${{{0}}}`: the offset after `{1}` must be an integer")]
    BadOffset(String, char),
}

/// An arithmetic offset on a variable: the operator and its integer operand.
type Offset = (char, i64);

/// Splits `name+N` (or `-`, `*`, `/`) into the name and the operation.
fn split_op(inner: &str) -> Result<(&str, Option<Offset>), ExprError> {
    match inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| matches!(c, '+' | '-' | '*' | '/'))
    {
        Some((i, c)) => {
            let n: i64 = inner[i + 1..]
                .trim()
                .parse()
                .map_err(|_| ExprError::BadOffset(inner.to_string(), c))?;
            if c == '/' && n == 0 {
                return Err(ExprError::DivisionByZero(inner.to_string()));
            }
            Ok((inner[..i].trim(), Some((c, n))))
        }
        None => Ok((inner, None)),
    }
}

/// Checks the form of every `${...}` in `text` without looking a name up (that needs the
/// run): a `${` is closed, an offset is an integer, nothing divides by zero. What `validate`
/// accepts, `run` can then evaluate.
pub fn check_syntax(text: &str) -> Result<(), ExprError> {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| ExprError::Unclosed(text.to_string()))?;
        let inner = rest[start + 2..start + end].trim();
        if !inner.starts_with("env.") {
            split_op(inner)?;
        }
        rest = &rest[start + end + 1..];
    }
    Ok(())
}

/// The names every `${...}` in `text` looks up (not `${env.NAME}`, which the environment
/// answers), for a text [`check_syntax`] accepts.
pub fn names(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let inner = rest[start + 2..start + end].trim();
        if !inner.starts_with("env.") {
            if let Ok((name, _)) = split_op(inner) {
                out.push(name);
            }
        }
        rest = &rest[start + end + 1..];
    }
    out
}

/// The variables the engine sets whatever the profile: see the scenario format's
/// "Expressions" (`DEVICE.sn` besides, for each of the scenario's devices).
pub const ENGINE_VARIABLES: &[&str] = &[
    "now",
    "sn",
    "iteration",
    "req_id",
    "last_req_id",
    "last_cmd",
    "last_push_req_id",
];

fn lookup(inner: &str, vars: &dyn Vars) -> Result<Value, ExprError> {
    let inner = inner.trim();
    if let Some(name) = inner.strip_prefix("env.") {
        return std::env::var(name)
            .map(Value::String)
            .map_err(|_| ExprError::Unknown(inner.to_string()));
    }
    let (name, op) = split_op(inner)?;
    let value = vars
        .get(name)
        .ok_or_else(|| ExprError::Unknown(name.to_string()))?;
    match op {
        None => Ok(value),
        Some((c, n)) => {
            let v = value
                .as_i64()
                .ok_or_else(|| ExprError::NotNumeric(name.to_string()))?;
            let r = match c {
                '+' => v.checked_add(n),
                '-' => v.checked_sub(n),
                '*' => v.checked_mul(n),
                _ => v.checked_div(n),
            };
            r.map(Value::from)
                .ok_or_else(|| ExprError::Unknown(inner.to_string()))
        }
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Expands every `${...}` in `s`. A string that is exactly one expression keeps its type.
pub fn expand_str(s: &str, vars: &dyn Vars) -> Result<Value, ExprError> {
    if !s.contains("${") {
        return Ok(Value::String(s.to_string()));
    }
    if let Some(inner) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        if !inner.contains("${") && !inner.contains('}') {
            return lookup(inner, vars);
        }
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| ExprError::Unclosed(s.to_string()))?;
        out.push_str(&text_of(&lookup(&after[..end], vars)?));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

/// Expands every string inside a JSON value.
pub fn expand_value(v: &Value, vars: &dyn Vars) -> Result<Value, ExprError> {
    Ok(match v {
        Value::String(s) => expand_str(s, vars)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| expand_value(i, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), expand_value(v, vars)?)))
                .collect::<Result<_, ExprError>>()?,
        ),
        other => other.clone(),
    })
}

/// Parses `10s`, `1.5s`, `500ms`, `2m`, `1h`, a bare number of seconds, or a sum of those
/// joined by `+`.
pub fn parse_duration(text: &str) -> Result<Duration, ExprError> {
    let bad = || ExprError::Duration(text.to_string());
    let mut total = Duration::ZERO;
    for term in text.split('+') {
        let term = term.trim();
        let split = term
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(term.len());
        let (num, unit) = term.split_at(split);
        let n: f64 = num.parse().map_err(|_| bad())?;
        let secs = match unit.trim() {
            "ms" => n / 1000.0,
            "" | "s" => n,
            "m" | "min" => n * 60.0,
            "h" => n * 3600.0,
            _ => return Err(bad()),
        };
        if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
            return Err(bad());
        }
        total += Duration::from_secs_f64(secs);
    }
    Ok(total)
}

/// A duration as written in a file: fixed when it has no `${`, else kept for run time.
pub fn duration_expr(text: &str) -> Result<DurationExpr, ExprError> {
    if text.contains("${") {
        Ok(DurationExpr::Expr(text.to_string()))
    } else {
        parse_duration(text).map(DurationExpr::Fixed)
    }
}

/// Resolves a duration against run variables. Numeric variables count as seconds.
pub fn resolve_duration(d: &DurationExpr, vars: &dyn Vars) -> Result<Duration, ExprError> {
    match d {
        DurationExpr::Fixed(d) => Ok(*d),
        DurationExpr::Expr(text) => {
            let expanded = text_of(&expand_str(text, vars)?);
            parse_duration(&expanded)
        }
    }
}

/// Renders a duration the way files write them (`90s`, `1.5s`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms >= 1000 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn vars(name: &str) -> Option<Value> {
        match name {
            "now" => Some(json!(1000)),
            "code" => Some(json!("ac-1")),
            "heartbeat_timeout" => Some(json!("90s")),
            _ => None,
        }
    }

    #[test]
    fn expansion_keeps_types() {
        assert_eq!(expand_str("${now}", &vars).unwrap(), json!(1000));
        assert_eq!(expand_str("${now-400}", &vars).unwrap(), json!(600));
        assert_eq!(expand_str("${ now + 5 }", &vars).unwrap(), json!(1005));
        assert_eq!(expand_str("${now/3}s", &vars).unwrap(), json!("333s"));
        assert_eq!(expand_str("${now*2}", &vars).unwrap(), json!(2000));
        assert!(expand_str("${now/0}", &vars).is_err());
        assert_eq!(
            expand_str("code=${code}!", &vars).unwrap(),
            json!("code=ac-1!")
        );
        assert_eq!(
            expand_str("${nope}", &vars),
            Err(ExprError::Unknown("nope".into()))
        );
        assert!(matches!(
            expand_str("${now", &vars),
            Err(ExprError::Unclosed(_))
        ));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("90s+5s").unwrap(), Duration::from_secs(95));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        let d = duration_expr("${heartbeat_timeout}+10s").unwrap();
        assert_eq!(
            resolve_duration(&d, &vars).unwrap(),
            Duration::from_secs(100)
        );
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in 0u64..10_000_000) {
            let d = Duration::from_millis(ms);
            let back = parse_duration(&format_duration(d)).unwrap();
            prop_assert!((back.as_secs_f64() - d.as_secs_f64()).abs() < 0.006);
        }

        #[test]
        fn garbage_durations_never_panic(s in ".{0,16}") {
            let _ = parse_duration(&s);
            let _ = expand_str(&s, &vars);
        }
    }
}
