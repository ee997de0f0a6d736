//! Matchers: a JSON subset by default, plus operators (`$type`, `$regex`, `$in`, `$gte`,
//! `$lte`, `$ne`, `$absent`, `$any`, `$len`).
//!
//! An object matcher matches any object that has at least the listed keys with matching
//! values; an array matcher matches element by element with the same length; a scalar
//! matches an equal value (numbers by value, so `1` matches `1.0`). A map whose keys all start
//! with `$` is a set of operators that must all hold.

use super::expr::{expand_value, Vars};
use crate::profile::{Profile, REDACTED};
use serde_json::Value;

/// JSON types for `$type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonType {
    String,
    Number,
    Integer,
    Bool,
    Object,
    Array,
    Null,
}

impl JsonType {
    pub const NAMES: &'static [&'static str] = &[
        "string", "number", "integer", "bool", "object", "array", "null",
    ];

    /// The name a file writes (`bool` for both spellings).
    pub fn as_str(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Number => "number",
            JsonType::Integer => "integer",
            JsonType::Bool => "bool",
            JsonType::Object => "object",
            JsonType::Array => "array",
            JsonType::Null => "null",
        }
    }

    pub fn parse(s: &str) -> Option<JsonType> {
        Some(match s {
            "string" => JsonType::String,
            "number" => JsonType::Number,
            "integer" => JsonType::Integer,
            "bool" | "boolean" => JsonType::Bool,
            "object" => JsonType::Object,
            "array" => JsonType::Array,
            "null" => JsonType::Null,
            _ => return None,
        })
    }

    fn holds(self, v: &Value) -> bool {
        match self {
            JsonType::String => v.is_string(),
            JsonType::Number => v.is_number(),
            JsonType::Integer => v.is_i64() || v.is_u64(),
            JsonType::Bool => v.is_boolean(),
            JsonType::Object => v.is_object(),
            JsonType::Array => v.is_array(),
            JsonType::Null => v.is_null(),
        }
    }
}

/// A compiled regular expression that compares by its source text.
#[derive(Clone, Debug)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// One operator.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Type(JsonType),
    Regex(Pattern),
    /// A pattern with `${...}` in it, compiled when matching.
    RegexTemplate(String),
    In(Vec<Value>),
    /// A number, or a `${...}` string resolved when matching.
    Gte(Value),
    Lte(Value),
    Ne(Value),
    Absent,
    Any,
    Len(usize),
    /// The value is an array (of any length, empty included) whose every element matches:
    /// what a list of unknown length must satisfy item by item.
    Each(Box<Matcher>),
    /// The key is absent or null, or its value matches: a field a peer may leave out, as the
    /// reference lets a reply leave out what it has nothing for (§1.3: `body` is absent when
    /// there is nothing to return), e.g. an empty `fail_list` or notify-history `item`.
    Optional(Box<Matcher>),
    /// The value is the `device_signature` of the object it sits in, computed with the
    /// device's secret: `register` (SecretNo) or `secret_no` (seed SecretNo, `get_secret_no`).
    Signature(SignatureKind),
    /// At least one of the matchers holds: the forms the protocol allows for one thing (the
    /// old `userids` list or the new `user_item` one).
    AnyOf(Vec<Matcher>),
    /// An array with as many items as matchers, each matched by a different one, in any
    /// order: a set the protocol does not order (the userids of a change).
    SameItems(Vec<Matcher>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureKind {
    Register,
    SecretNo,
}

impl SignatureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureKind::Register => "register",
            SignatureKind::SecretNo => "secret_no",
        }
    }
}

/// The annotation that names the obligation a mismatch at or below its map breaks: a
/// failure of one field is charged to that field's rule, not to every id the scenario cites.
pub const JUDGES_OP: &str = "$judges";

/// Every operator name, for "did you mean".
pub const OP_NAMES: &[&str] = &[
    "$type",
    "$regex",
    "$in",
    "$gte",
    "$lte",
    "$ne",
    "$absent",
    "$any",
    "$len",
    "$each",
    "$optional",
    "$signature",
    "$any_of",
    "$same_items",
];

impl Op {
    /// The operator as a file writes it: its name and argument.
    pub fn to_pair(&self) -> (&'static str, Value) {
        match self {
            Op::Type(t) => ("$type", Value::from(t.as_str())),
            Op::Regex(p) => ("$regex", Value::from(p.0.as_str())),
            Op::RegexTemplate(t) => ("$regex", Value::from(t.as_str())),
            Op::In(options) => ("$in", Value::Array(options.clone())),
            Op::Gte(v) => ("$gte", v.clone()),
            Op::Lte(v) => ("$lte", v.clone()),
            Op::Ne(v) => ("$ne", v.clone()),
            Op::Absent => ("$absent", Value::Bool(true)),
            Op::Any => ("$any", Value::Bool(true)),
            Op::Len(n) => ("$len", Value::from(*n)),
            Op::Each(m) => ("$each", m.to_value()),
            Op::Optional(m) => ("$optional", m.to_value()),
            Op::Signature(kind) => ("$signature", Value::from(kind.as_str())),
            Op::AnyOf(ms) => (
                "$any_of",
                Value::Array(ms.iter().map(Matcher::to_value).collect()),
            ),
            Op::SameItems(ms) => (
                "$same_items",
                Value::Array(ms.iter().map(Matcher::to_value).collect()),
            ),
        }
    }

    /// Builds an operator from its name and argument, or says what the argument should be.
    pub fn parse(name: &str, arg: &Value) -> Result<Op, OpError> {
        let takes = |op: &'static str, what: &'static str| OpError::Takes { op, what };
        let num = |op: &'static str| match arg {
            Value::Number(_) => Ok(arg.clone()),
            Value::String(s) if s.contains("${") => Ok(arg.clone()),
            _ => Err(OpError::Number { op }),
        };
        Ok(match name {
            "$type" => Op::Type(
                arg.as_str()
                    .and_then(JsonType::parse)
                    .ok_or(OpError::Type)?,
            ),
            "$regex" => {
                let s = arg.as_str().ok_or(takes("$regex", "a string"))?;
                if s.contains("${") {
                    return Ok(Op::RegexTemplate(s.to_string()));
                }
                Op::Regex(Pattern(regex::Regex::new(s).map_err(OpError::Regex)?))
            }
            "$in" => Op::In(
                arg.as_array()
                    .cloned()
                    .ok_or(takes("$in", "a list of values"))?,
            ),
            "$gte" => Op::Gte(num("$gte")?),
            "$lte" => Op::Lte(num("$lte")?),
            "$ne" => Op::Ne(arg.clone()),
            "$absent" => match arg {
                Value::Bool(true) => Op::Absent,
                _ => return Err(takes("$absent", "`true`")),
            },
            "$any" => match arg {
                Value::Bool(true) => Op::Any,
                _ => return Err(takes("$any", "`true`")),
            },
            "$len" => Op::Len(
                arg.as_u64()
                    .ok_or(takes("$len", "a non-negative integer"))? as usize,
            ),
            "$each" => Op::Each(Box::new(Matcher::compile(arg)?)),
            "$optional" => Op::Optional(Box::new(Matcher::compile(arg)?)),
            "$signature" => Op::Signature(match arg.as_str() {
                Some("register") => SignatureKind::Register,
                Some("secret_no") => SignatureKind::SecretNo,
                _ => return Err(takes("$signature", "`register` or `secret_no`")),
            }),
            "$any_of" => Op::AnyOf(match arg.as_array() {
                Some(list) if !list.is_empty() => list
                    .iter()
                    .map(Matcher::compile)
                    .collect::<Result<_, _>>()?,
                _ => return Err(takes("$any_of", "a non-empty list of matchers")),
            }),
            "$same_items" => Op::SameItems(
                arg.as_array()
                    .ok_or(takes("$same_items", "a list of matchers"))?
                    .iter()
                    .map(Matcher::compile)
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(OpError::Unknown(other.to_string())),
        })
    }
}

/// Why an operator's argument is not what it takes. The scenario loader appends what it found,
/// so the text is a clause; it never holds the argument's value.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{op} takes {what}")]
    Takes {
        op: &'static str,
        what: &'static str,
    },
    #[error("{op} takes a number (or a ${{...}} expression)")]
    Number { op: &'static str },
    #[error("$type takes one of {}", JsonType::NAMES.join(", "))]
    Type,
    /// The loader shows only this message, so it keeps regex's own text in it.
    #[error("invalid $regex: {0}")]
    Regex(#[source] regex::Error),
    #[error("unknown operator `{0}`")]
    Unknown(String),
}

/// A compiled matcher.
#[derive(Clone, Debug, PartialEq)]
pub enum Matcher {
    /// A scalar (strings may hold `${...}`, expanded when matching).
    Literal(Value),
    /// A subset of an object's keys.
    Object(Vec<(String, Matcher)>),
    /// Element-wise, same length.
    Array(Vec<Matcher>),
    /// All operators hold.
    Ops(Vec<Op>),
    /// The inner matcher, whose mismatches break the named obligation (`$judges`).
    Judged(String, Box<Matcher>),
}

/// Why a value did not match: where, what was expected, what was there (secrets redacted).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    pub path: String,
    pub expected: String,
    pub actual: String,
    /// The obligation the innermost `$judges` around the mismatch names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.path.is_empty() {
            "the frame".to_string()
        } else {
            format!("`{}`", self.path)
        };
        write!(
            f,
            "at {at}: expected {}, got {}",
            self.expected, self.actual
        )
    }
}

/// Runs `f` with the profile of `vars`; lookups without one (tests' plain closures: a session
/// and an observer scenario give theirs) redact and sign as the default profile does, never
/// less.
fn with_profile<T>(vars: &dyn Vars, f: impl FnOnce(&dyn Profile) -> T) -> T {
    match vars.profile() {
        Some(p) => f(p),
        None => f(&*crate::profile::default_profile()),
    }
}

fn shown(v: Option<&Value>, path: &str, vars: &dyn Vars) -> String {
    with_profile(vars, |p| shown_by(p, v, path))
}

fn shown_by(p: &dyn Profile, v: Option<&Value>, path: &str) -> String {
    let secret = path.rsplit('.').next().is_some_and(|k| p.is_secret_key(k));
    match v {
        None => "nothing (absent)".into(),
        Some(_) if secret => REDACTED.into(),
        Some(v) => {
            let s = p.redact(v).to_string();
            if s.len() > 200 {
                format!("{}…", &s[..s.floor_char_boundary(200)])
            } else {
                s
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn same_scalar(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

impl Matcher {
    /// The matcher as a file writes it (loads back to an equal matcher).
    pub fn to_value(&self) -> Value {
        match self {
            Matcher::Literal(v) => v.clone(),
            Matcher::Object(keys) => Value::Object(
                keys.iter()
                    .map(|(k, m)| (k.clone(), m.to_value()))
                    .collect(),
            ),
            Matcher::Array(items) => Value::Array(items.iter().map(Matcher::to_value).collect()),
            Matcher::Ops(ops) => Value::Object(
                ops.iter()
                    .map(|op| {
                        let (name, arg) = op.to_pair();
                        (name.to_string(), arg)
                    })
                    .collect(),
            ),
            Matcher::Judged(rule, inner) => {
                let mut map = match inner.to_value() {
                    Value::Object(m) => m,
                    _ => serde_json::Map::new(),
                };
                map.insert(JUDGES_OP.to_string(), Value::from(rule.as_str()));
                Value::Object(map)
            }
        }
    }

    /// A matcher written as JSON, the way a file writes one: maps whose keys start with `$`
    /// are operators (for programs that build steps; files go through the loader).
    pub fn compile(v: &Value) -> Result<Matcher, OpError> {
        Ok(match v {
            Value::Object(m) if m.contains_key(JUDGES_OP) => {
                let rule = m[JUDGES_OP]
                    .as_str()
                    .ok_or(OpError::Takes {
                        op: "$judges",
                        what: "an obligation id",
                    })?
                    .to_string();
                let mut rest = m.clone();
                rest.remove(JUDGES_OP);
                let inner = if rest.is_empty() {
                    Matcher::Ops(Vec::new())
                } else {
                    Matcher::compile(&Value::Object(rest))?
                };
                Matcher::Judged(rule, Box::new(inner))
            }
            Value::Object(m) if m.keys().any(|k| k.starts_with('$')) => Matcher::Ops(
                m.iter()
                    .map(|(k, v)| Op::parse(k, v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Matcher::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), Matcher::compile(v)?)))
                    .collect::<Result<_, OpError>>()?,
            ),
            Value::Array(a) => {
                Matcher::Array(a.iter().map(Matcher::compile).collect::<Result<_, _>>()?)
            }
            other => Matcher::Literal(other.clone()),
        })
    }

    /// A matcher that accepts exactly `v` as a subset (objects) or value.
    pub fn from_value(v: &Value) -> Matcher {
        match v {
            Value::Object(m) => Matcher::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), Matcher::from_value(v)))
                    .collect(),
            ),
            Value::Array(a) => Matcher::Array(a.iter().map(Matcher::from_value).collect()),
            other => Matcher::Literal(other.clone()),
        }
    }

    /// Matches `actual` (`None` when the key is absent).
    pub fn check(&self, actual: Option<&Value>, vars: &dyn Vars) -> Result<(), Mismatch> {
        self.check_at(actual, vars, "", None)
    }

    /// `parent` is the object `actual` sits in (what `$signature` signs).
    fn check_at(
        &self,
        actual: Option<&Value>,
        vars: &dyn Vars,
        path: &str,
        parent: Option<&serde_json::Map<String, Value>>,
    ) -> Result<(), Mismatch> {
        let fail = |expected: String| {
            Err(Mismatch {
                path: path.to_string(),
                expected,
                actual: shown(actual, path, vars),
                rule: None,
            })
        };
        match self {
            Matcher::Judged(rule, inner) => {
                inner.check_at(actual, vars, path, parent).map_err(|mut m| {
                    m.rule.get_or_insert_with(|| rule.clone());
                    m
                })
            }
            Matcher::Literal(expected) => {
                let expected = expand_value(expected, vars).map_err(|e| Mismatch {
                    path: path.to_string(),
                    expected: format!("a value ({e})"),
                    actual: shown(actual, path, vars),
                    rule: None,
                })?;
                match actual {
                    Some(a) if same_scalar(a, &expected) => Ok(()),
                    _ => fail(shown(Some(&expected), path, vars)),
                }
            }
            Matcher::Object(fields) => {
                let Some(Value::Object(map)) = actual else {
                    return fail("an object".into());
                };
                for (key, m) in fields {
                    m.check_at(map.get(key), vars, &join(path, key), Some(map))?;
                }
                Ok(())
            }
            Matcher::Array(items) => {
                let Some(Value::Array(list)) = actual else {
                    return fail(format!("an array of {}", items.len()));
                };
                if list.len() != items.len() {
                    return fail(format!("an array of {} items", items.len()));
                }
                for (i, (m, v)) in items.iter().zip(list).enumerate() {
                    m.check_at(Some(v), vars, &join(path, &i.to_string()), None)?;
                }
                Ok(())
            }
            Matcher::Ops(ops) => {
                for op in ops {
                    op.check(actual, vars, path, parent)?;
                }
                Ok(())
            }
        }
    }
}

impl Op {
    fn check(
        &self,
        actual: Option<&Value>,
        vars: &dyn Vars,
        path: &str,
        parent: Option<&serde_json::Map<String, Value>>,
    ) -> Result<(), Mismatch> {
        let fail = |expected: String| {
            Err(Mismatch {
                path: path.to_string(),
                expected,
                actual: shown(actual, path, vars),
                rule: None,
            })
        };
        let present = |expected: String| -> Result<&Value, Mismatch> {
            actual.ok_or(Mismatch {
                path: path.to_string(),
                expected,
                actual: shown(None, path, vars),
                rule: None,
            })
        };
        match self {
            Op::Absent => {
                if actual.is_none() {
                    Ok(())
                } else {
                    fail("the key to be absent".into())
                }
            }
            Op::Any => present("any value".into()).map(|_| ()),
            Op::Type(t) => {
                let v = present(format!("a value of type {t:?}"))?;
                if t.holds(v) {
                    Ok(())
                } else {
                    fail(format!(
                        "a value of type {}",
                        format!("{t:?}").to_lowercase()
                    ))
                }
            }
            Op::Regex(p) => {
                let v = present(format!("a string matching /{}/", p.0.as_str()))?;
                match v.as_str() {
                    Some(s) if p.0.is_match(s) => Ok(()),
                    _ => fail(format!("a string matching /{}/", p.0.as_str())),
                }
            }
            Op::RegexTemplate(template) => {
                let source = match super::expr::expand_str(template, vars) {
                    Ok(Value::String(s)) => s,
                    Ok(other) => other.to_string(),
                    Err(e) => return fail(format!("a string matching /{template}/ ({e})")),
                };
                let re = match regex::Regex::new(&source) {
                    Ok(re) => re,
                    Err(e) => {
                        return fail(format!(
                            "a string matching /{source}/ (invalid once expanded: {e})"
                        ))
                    }
                };
                match present(format!("a string matching /{source}/"))?.as_str() {
                    Some(s) if re.is_match(s) => Ok(()),
                    _ => fail(format!("a string matching /{source}/")),
                }
            }
            Op::In(options) => {
                let v = present("one of the listed values".into())?;
                let expanded: Vec<Value> = options
                    .iter()
                    .map(|o| expand_value(o, vars).unwrap_or_else(|_| o.clone()))
                    .collect();
                if expanded.iter().any(|o| same_scalar(o, v)) {
                    Ok(())
                } else {
                    fail(format!("one of {}", Value::Array(expanded)))
                }
            }
            Op::Gte(bound) | Op::Lte(bound) => {
                let is_gte = matches!(self, Op::Gte(_));
                let bound = expand_value(bound, vars).ok().and_then(|b| b.as_f64());
                let want = |b: Option<f64>| match (is_gte, b) {
                    (true, Some(b)) => format!("a number >= {b}"),
                    (false, Some(b)) => format!("a number <= {b}"),
                    (_, None) => {
                        "a numeric bound (the expression did not resolve to a number)".to_string()
                    }
                };
                let Some(b) = bound else {
                    return fail(want(None));
                };
                match present(want(Some(b)))?.as_f64() {
                    Some(x) if (is_gte && x >= b) || (!is_gte && x <= b) => Ok(()),
                    _ => fail(want(Some(b))),
                }
            }
            Op::Ne(other) => {
                let other = expand_value(other, vars).unwrap_or_else(|_| other.clone());
                match actual {
                    Some(v) if same_scalar(v, &other) => fail(format!("anything but {other}")),
                    _ => Ok(()),
                }
            }
            Op::Signature(kind) => {
                let want = format!("a valid {} signature", kind.as_str());
                let got = present(want.clone())?;
                let expected = with_profile(vars, |p| {
                    p.expected_signature(kind.as_str(), parent, &|sn| {
                        vars.signing_secret(kind.as_str(), sn)
                    })
                });
                match expected {
                    Err(why) => fail(format!("{want} ({why})")),
                    Ok(e) if got.as_str() == Some(e.value.as_str()) => Ok(()),
                    Ok(e) => fail(format!("{want} over {}", e.over)),
                }
            }
            Op::Each(m) => {
                let Some(Value::Array(list)) = actual else {
                    return fail("an array whose every item matches".into());
                };
                for (i, v) in list.iter().enumerate() {
                    m.check_at(Some(v), vars, &join(path, &i.to_string()), None)?;
                }
                Ok(())
            }
            Op::Optional(m) => match actual {
                None | Some(Value::Null) => Ok(()),
                Some(_) => m.check_at(actual, vars, path, parent),
            },
            Op::AnyOf(ms) => {
                let mut why = Vec::new();
                for m in ms {
                    match m.check_at(actual, vars, path, parent) {
                        Ok(()) => return Ok(()),
                        Err(e) => why.push(e.to_string()),
                    }
                }
                fail(format!("one of {} forms ({})", ms.len(), why.join("; ")))
            }
            Op::SameItems(ms) => {
                let want = || {
                    let shown: Vec<String> = ms.iter().map(|m| m.to_value().to_string()).collect();
                    format!(
                        "an array of {} items matching [{}] in any order",
                        ms.len(),
                        shown.join(", ")
                    )
                };
                let Some(Value::Array(list)) = actual else {
                    return fail(want());
                };
                if list.len() != ms.len()
                    || !same_items(ms, list, vars, &mut vec![false; list.len()])
                {
                    return fail(want());
                }
                Ok(())
            }
            Op::Len(n) => {
                let v = present(format!("length {n}"))?;
                let len = match v {
                    Value::Array(a) => Some(a.len()),
                    Value::String(s) => Some(s.chars().count()),
                    Value::Object(o) => Some(o.len()),
                    _ => None,
                };
                if len == Some(*n) {
                    Ok(())
                } else {
                    fail(format!("length {n}"))
                }
            }
        }
    }
}

/// Whether each matcher takes a different item of `list` (`used` marks the taken ones): a
/// search with backtracking, since an item may match several matchers.
fn same_items(ms: &[Matcher], list: &[Value], vars: &dyn Vars, used: &mut [bool]) -> bool {
    let Some((first, rest)) = ms.split_first() else {
        return true;
    };
    for i in 0..list.len() {
        if used[i] || first.check(Some(&list[i]), vars).is_err() {
            continue;
        }
        used[i] = true;
        if same_items(rest, list, vars, used) {
            return true;
        }
        used[i] = false;
    }
    false
}

/// Reads a dotted path (`body.active_code`, `items.0.id`) out of a frame.
pub fn lookup_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(v, |cur, part| match cur {
            Value::Object(m) => m.get(part),
            Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;
    use serde_json::json;

    fn no_vars(name: &str) -> Option<Value> {
        (name == "prefix").then(|| json!("ac"))
    }

    fn ops(name: &str, arg: Value) -> Matcher {
        Matcher::Ops(vec![Op::parse(name, &arg).unwrap()])
    }

    #[rstest]
    #[case(ops("$type", json!("string")), json!("x"), true)]
    #[case(ops("$type", json!("string")), json!(1), false)]
    #[case(ops("$type", json!("integer")), json!(1.5), false)]
    #[case(ops("$regex", json!("^ac-")), json!("ac-12"), true)]
    #[case(ops("$regex", json!("^ac-")), json!("x"), false)]
    #[case(ops("$regex", json!("^${prefix}-")), json!("ac-1"), true)]
    #[case(ops("$regex", json!("^${prefix}-")), json!("x-1"), false)]
    #[case(ops("$in", json!([600012, 600053])), json!(600053), true)]
    #[case(ops("$in", json!([600012, 600053])), json!(0), false)]
    #[case(ops("$gte", json!(20)), json!(20), true)]
    #[case(ops("$gte", json!(20)), json!(19.9), false)]
    #[case(ops("$lte", json!(40)), json!(41), false)]
    #[case(ops("$ne", json!(0)), json!(600014), true)]
    #[case(ops("$ne", json!(0)), json!(0), false)]
    #[case(ops("$each", json!({"v": {"$gte": 2}})), json!([{"v": 2}, {"v": 3}]), true)]
    #[case(ops("$each", json!({"v": {"$gte": 2}})), json!([]), true)]
    #[case(ops("$each", json!({"v": {"$gte": 2}})), json!([{"v": 2}, {"v": 1}]), false)]
    #[case(ops("$each", json!({"v": {"$gte": 2}})), json!({"v": 2}), false)]
    #[case(ops("$optional", json!({"$len": 0})), json!([]), true)]
    #[case(ops("$optional", json!({"$len": 0})), json!(null), true)]
    #[case(ops("$optional", json!({"$len": 0})), json!([{"v": 1}]), false)]
    #[case(ops("$optional", json!({"$each": {"v": {"$gte": 2}}})), json!([{"v": 1}]), false)]
    #[case(ops("$len", json!(3)), json!([1, 2, 3]), true)]
    #[case(ops("$len", json!(3)), json!("ab"), false)]
    #[case(ops("$any", json!(true)), json!(null), true)]
    #[case(ops("$same_items", json!(["a", "b"])), json!(["b", "a"]), true)]
    #[case(ops("$same_items", json!(["a", "b"])), json!(["a", "b", "c"]), false)]
    #[case(ops("$same_items", json!(["a", "b"])), json!(["a", "a"]), false)]
    #[case(ops("$same_items", json!([{"id": {"$type": "string"}}, {"id": "x"}])), json!([{"id": "x"}, {"id": "y"}]), true)]
    #[case(ops("$same_items", json!([])), json!([]), true)]
    #[case(ops("$same_items", json!(["a"])), json!("a"), false)]
    #[case(ops("$any_of", json!([{"userids": ["a"]}, {"user_item": [{"userid": "a"}]}])), json!({"user_item": [{"userid": "a", "user_type": 0}]}), true)]
    #[case(ops("$any_of", json!([{"userids": ["a"]}, {"user_item": [{"userid": "a"}]}])), json!({"userids": ["a"]}), true)]
    #[case(ops("$any_of", json!([{"userids": ["a"]}, {"user_item": [{"userid": "a"}]}])), json!({"userids": ["b"]}), false)]
    fn operators(#[case] m: Matcher, #[case] v: Value, #[case] ok: bool) {
        assert_eq!(m.check(Some(&v), &no_vars).is_ok(), ok);
    }

    /// `$optional` takes an absent key (an empty list left out) and judges a present one.
    #[test]
    fn optional_takes_an_absent_key_and_judges_a_present_one() {
        let m = Matcher::compile(
            &json!({"body": {"$optional": {"fail_list": {"$optional": {"$len": 0}}}}}),
        )
        .unwrap();
        for held in [
            json!({}),
            json!({"body": {}}),
            json!({"body": {"fail_list": []}}),
        ] {
            assert!(m.check(Some(&held), &no_vars).is_ok(), "{held}");
        }
        let err = m
            .check(Some(&json!({"body": {"fail_list": [{"t": 1}]}})), &no_vars)
            .unwrap_err();
        assert_eq!(err.path, "body.fail_list");
        let err = m.check(Some(&json!({"body": 3})), &no_vars).unwrap_err();
        assert_eq!(err.path, "body");
    }

    #[test]
    fn any_of_says_why_each_form_failed() {
        let m = ops(
            "$any_of",
            json!([{"userids": ["a"]}, {"user_item": {"$len": 1}}]),
        );
        let err = m
            .check(Some(&json!({"userids": ["b"]})), &no_vars)
            .unwrap_err();
        assert!(
            err.expected.contains("`userids.0`") && err.expected.contains("`user_item`"),
            "{err}"
        );
        assert_eq!(
            Op::parse("$any_of", &json!([])).unwrap_err().to_string(),
            "$any_of takes a non-empty list of matchers"
        );
    }

    #[test]
    fn absent_and_any_distinguish_missing_keys() {
        let m = Matcher::Object(vec![("body".into(), ops("$absent", json!(true)))]);
        assert!(m.check(Some(&json!({"errcode": 0})), &no_vars).is_ok());
        let err = m.check(Some(&json!({"body": {}})), &no_vars).unwrap_err();
        assert_eq!(err.path, "body");
        let m = Matcher::Object(vec![("body".into(), ops("$any", json!(true)))]);
        assert!(m.check(Some(&json!({})), &no_vars).is_err());
    }

    #[test]
    fn mismatch_names_the_path_and_hides_secrets() {
        let m = Matcher::from_value(&json!({"body": {"secret": "expected"}}));
        let err = m
            .check(Some(&json!({"body": {"secret": "leaked-value"}})), &no_vars)
            .unwrap_err();
        assert_eq!(err.path, "body.secret");
        assert!(!err.to_string().contains("leaked-value"), "{err}");
        assert!(!err.to_string().contains("expected\""), "{err}");
    }

    #[test]
    fn literals_expand_captures() {
        let vars = |n: &str| (n == "rid").then(|| json!("r-7"));
        let m = Matcher::from_value(&json!({"headers": {"req_id": "${rid}"}}));
        assert!(m
            .check(Some(&json!({"headers": {"req_id": "r-7"}})), &vars)
            .is_ok());
        assert!(m
            .check(Some(&json!({"headers": {"req_id": "r-8"}})), &vars)
            .is_err());
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-z0-9$]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Every value matches itself used as a matcher.
        #[test]
        fn value_matches_itself(v in arb_json()) {
            prop_assert!(Matcher::from_value(&v).check(Some(&v), &no_vars).is_ok());
        }

        /// Subset: a matcher built from part of an object still matches the whole object,
        /// and adding a key the object lacks makes it fail.
        #[test]
        fn object_subset(m in proptest::collection::btree_map("[a-z]{1,4}", arb_json(), 1..5), extra in "[A-Z]{1,3}") {
            let full = Value::Object(m.clone().into_iter().collect());
            let (k, v) = m.iter().next().unwrap();
            let partial = json!({ k.clone(): v.clone() });
            prop_assert!(Matcher::from_value(&partial).check(Some(&full), &no_vars).is_ok());
            let mut more = partial.clone();
            more[extra] = json!(1);
            prop_assert!(Matcher::from_value(&more).check(Some(&full), &no_vars).is_err());
        }

        /// `$ne` holds exactly when the literal does not.
        #[test]
        fn ne_is_the_negation_of_equality(a in arb_json(), b in arb_json()) {
            let eq = Matcher::from_value(&b).check(Some(&a), &no_vars).is_ok();
            let ne = Matcher::Ops(vec![Op::Ne(b.clone())]).check(Some(&a), &no_vars).is_ok();
            if !b.is_object() && !b.is_array() { prop_assert_ne!(eq, ne); }
        }
    }
}
