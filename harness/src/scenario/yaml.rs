//! A spanned YAML tree built from `saphyr-parser` events.
//!
//! The loader needs the position of every key and value to point its diagnostics at them, and
//! needs to know how a scalar was written (`"10"` is a string, plain `10` a number), so it
//! builds its own small tree instead of deserializing. Plain scalars are typed by the YAML 1.2
//! core schema; quoted and block scalars are strings. Anchors and aliases are resolved (within
//! a budget, so a "billion laughs" file fails instead of eating memory); a second document,
//! a duplicate key in one mapping, a non-scalar key and any tag but `!!str` are errors.

use super::span::Span;
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Tag};
use serde_json::Value;
use std::collections::HashMap;

/// How many nodes alias expansion may add to a file before it is rejected.
const ALIAS_BUDGET: usize = 10_000;
/// How many values (scalars and collections) one file may hold: far above any scenario (the
/// largest allowed, 20,000 steps, takes a fraction), low enough that a generated file of
/// millions is refused before the tree takes the loader's time and memory.
pub const MAX_NODES: usize = 400_000;
/// How deep collections may nest; the tree is walked recursively, so this bounds the stack.
const MAX_DEPTH: usize = 128;

/// One node of the tree with the place it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

/// What a node holds.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// Key/value pairs in file order; keys are always scalars.
    Mapping(Vec<(Node, Node)>),
    Sequence(Vec<Node>),
    Scalar(Scalar),
}

/// A scalar as written (`text`, `quoted`) and as typed by the core schema (`value`).
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    pub value: ScalarValue,
    /// The scalar's text after YAML unescaping, before typing.
    pub text: String,
    /// Written quoted, as a block (`|`, `>`) or tagged `!!str`: always a string.
    pub quoted: bool,
}

/// A typed scalar.
#[derive(Clone, Debug, PartialEq)]
pub enum ScalarValue {
    Null,
    Bool(bool),
    Int(i64),
    /// Integers above `i64::MAX` that still fit.
    UInt(u64),
    Float(f64),
    Str(String),
}

/// Why a text is not a usable YAML tree, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub span: Span,
    pub message: String,
}

impl Node {
    /// The pairs of a mapping node.
    pub fn as_mapping(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Mapping(pairs) => Some(pairs),
            _ => None,
        }
    }

    /// The items of a sequence node.
    pub fn as_sequence(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Sequence(items) => Some(items),
            _ => None,
        }
    }

    /// The scalar of a scalar node.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The string of a string scalar (not of numbers or booleans).
    pub fn as_str(&self) -> Option<&str> {
        match self.as_scalar()?.value {
            ScalarValue::Str(ref s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is a null scalar (`null`, `~` or nothing at all).
    pub fn is_null(&self) -> bool {
        matches!(
            self.as_scalar(),
            Some(Scalar {
                value: ScalarValue::Null,
                ..
            })
        )
    }

    /// The text of a scalar key as it is compared and reported.
    pub fn key_text(&self) -> &str {
        self.as_scalar().map_or("", |s| s.text.as_str())
    }

    /// "a mapping", "a list", "a string", ...: what a diagnostic says was found.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Mapping(_) => "a mapping",
            NodeKind::Sequence(_) => "a list",
            NodeKind::Scalar(s) => match s.value {
                ScalarValue::Null => "nothing (null)",
                ScalarValue::Bool(_) => "a boolean",
                ScalarValue::Int(_) | ScalarValue::UInt(_) => "an integer",
                ScalarValue::Float(_) => "a number",
                ScalarValue::Str(_) => "a string",
            },
        }
    }

    /// The value under `key` in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_mapping()?
            .iter()
            .find(|(k, _)| k.key_text() == key)
            .map(|(_, v)| v)
    }
}

/// The JSON value of a node. Keys become their text; NaN and infinities, which JSON cannot
/// hold, become null.
pub fn to_json(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Mapping(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.key_text().to_string(), to_json(v)))
                .collect(),
        ),
        NodeKind::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Scalar(s) => match &s.value {
            ScalarValue::Null => Value::Null,
            ScalarValue::Bool(b) => Value::Bool(*b),
            ScalarValue::Int(n) => Value::from(*n),
            ScalarValue::UInt(n) => Value::from(*n),
            ScalarValue::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            ScalarValue::Str(t) => Value::String(t.clone()),
        },
    }
}

/// Parses a single-document YAML text. `Ok(None)` when it holds no document at all (empty or
/// only comments).
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        let (event, span) =
            event.map_err(|e| scan_error(text, e, unclosed_flow(text, &builder.stack)))?;
        builder.on_event(event, span_of(span.start))?;
    }
    Ok(builder.root)
}

/// The innermost flow collection (`[` or `{`) still open, with its bracket. The scanner only
/// notices a missing `]` where the next line no longer fits, so the error names that line; the
/// bracket is what the author has to fix.
fn unclosed_flow(text: &str, stack: &[Open]) -> Option<(char, Span)> {
    stack.iter().rev().find_map(|open| {
        let span = match open {
            Open::Sequence { span, .. } | Open::Mapping { span, .. } => *span,
        };
        let line = text.lines().nth((span.line as usize).checked_sub(1)?)?;
        let c = line.chars().nth((span.col as usize).checked_sub(1)?)?;
        matches!(c, '[' | '{').then_some((c, span))
    })
}

fn span_of(m: saphyr_parser::Marker) -> Span {
    Span {
        line: to_u32(m.line()),
        col: to_u32(m.col() + 1),
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn scan_error(text: &str, e: ScanError, unclosed: Option<(char, Span)>) -> YamlError {
    let at = span_of(*e.marker());
    let info = e.info();
    if let Some((bracket, open)) = unclosed.filter(|(_, open)| open.line < at.line) {
        let close = if bracket == '[' { ']' } else { '}' };
        return YamlError {
            span: open,
            message: format!("invalid YAML: this `{bracket}` is never closed with `{close}` (at line {}:{} the scanner found: {info})", at.line, at.col),
        };
    }
    // What the scanner stopped at, named: its own words say "unprintable character" for a
    // NUL byte, and only the character tells a tab from the rest.
    let found = text
        .split('\n')
        .nth((at.line as usize).saturating_sub(1))
        .and_then(|l| l.chars().nth((at.col as usize).saturating_sub(1)));
    let hint = match found {
        Some('\t') => "; indent with spaces: YAML does not allow tabs there".to_string(),
        Some('\0') => "; the file holds a NUL byte (\\0) there".to_string(),
        Some(c) if c.is_control() => format!(
            "; the file holds the control character U+{:04X} there",
            c as u32
        ),
        _ if info.contains("tabs") => {
            "; indent with spaces: YAML does not allow tabs there".to_string()
        }
        _ => String::new(),
    };
    YamlError {
        span: at,
        message: format!("invalid YAML: {info}{hint}"),
    }
}

fn error(span: Span, message: impl Into<String>) -> YamlError {
    YamlError {
        span,
        message: message.into(),
    }
}

/// A collection being built.
enum Open {
    /// `seen`: each key's index in `pairs`, so a duplicate is found in constant time (a
    /// linear scan per key made a 80k-key file take 24 s).
    Mapping {
        span: Span,
        anchor: usize,
        pairs: Vec<(Node, Node)>,
        key: Option<Node>,
        seen: HashMap<String, usize>,
    },
    Sequence {
        span: Span,
        anchor: usize,
        items: Vec<Node>,
    },
}

/// Turns the event stream into one tree.
#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
    alias_nodes: usize,
    /// Values read so far (see [`MAX_NODES`]).
    nodes: usize,
}

impl Builder {
    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        if matches!(
            event,
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..)
        ) {
            self.nodes += 1;
            if self.nodes > MAX_NODES {
                return Err(error(
                    span,
                    format!("the file holds more than {MAX_NODES} YAML values; a scenario needs far fewer (is it generated?)"),
                ));
            }
        }
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(error(
                        span,
                        "a scenario file holds one YAML document; found a second one (`---`)",
                    ));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let node = Node {
                    kind: NodeKind::Scalar(scalar(&text, style, tag.as_deref(), span)?),
                    span,
                };
                self.finish(node, anchor)?;
            }
            Event::SequenceStart(anchor, tag) => {
                reject_tag(tag.as_deref(), span)?;
                self.check_depth(span)?;
                self.stack.push(Open::Sequence {
                    span,
                    anchor,
                    items: Vec::new(),
                });
            }
            Event::MappingStart(anchor, tag) => {
                reject_tag(tag.as_deref(), span)?;
                self.check_depth(span)?;
                self.stack.push(Open::Mapping {
                    span,
                    anchor,
                    pairs: Vec::new(),
                    key: None,
                    seen: HashMap::new(),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Mapping {
                        span,
                        anchor,
                        pairs,
                        ..
                    }) => (
                        Node {
                            kind: NodeKind::Mapping(pairs),
                            span,
                        },
                        anchor,
                    ),
                    Some(Open::Sequence {
                        span,
                        anchor,
                        items,
                    }) => (
                        Node {
                            kind: NodeKind::Sequence(items),
                            span,
                        },
                        anchor,
                    ),
                    None => return Err(error(span, "unbalanced YAML collection")),
                };
                self.finish(node, anchor)?;
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| error(span, "alias to an unknown anchor"))?;
                self.alias_nodes += count_nodes(&node);
                if self.alias_nodes > ALIAS_BUDGET {
                    return Err(error(
                        span,
                        format!("aliases expand to more than {ALIAS_BUDGET} nodes"),
                    ));
                }
                self.finish(node, 0)?;
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }

    fn check_depth(&self, span: Span) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(error(
                span,
                format!("collections nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    /// Attaches a complete node to its parent (or makes it the root) and records its anchor.
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Sequence { items, .. }) => items.push(node),
            Some(Open::Mapping {
                pairs, key, seen, ..
            }) => match key.take() {
                None => *key = Some(check_key(node)?),
                Some(k) => {
                    if let Some(&i) = seen.get(k.key_text()) {
                        let first = &pairs[i].0;
                        return Err(error(
                            k.span,
                            format!(
                                "duplicate key `{}` (first at line {}:{})",
                                k.key_text(),
                                first.span.line,
                                first.span.col
                            ),
                        ));
                    }
                    seen.insert(k.key_text().to_string(), pairs.len());
                    pairs.push((k, node));
                }
            },
        }
        Ok(())
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.kind {
        NodeKind::Mapping(pairs) => pairs
            .iter()
            .map(|(k, v)| count_nodes(k) + count_nodes(v))
            .sum(),
        NodeKind::Sequence(items) => items.iter().map(count_nodes).sum(),
        NodeKind::Scalar(_) => 0,
    }
}

/// Keys must be scalars: the model has no use for list or mapping keys.
fn check_key(node: Node) -> Result<Node, YamlError> {
    match node.kind {
        NodeKind::Scalar(_) => Ok(node),
        _ => Err(error(
            node.span,
            format!(
                "a mapping key must be a plain name, found {}",
                node.describe()
            ),
        )),
    }
}

/// Only `!!str` (force a string) is accepted on scalars; collections take no tags.
fn reject_tag(tag: Option<&Tag>, span: Span) -> Result<(), YamlError> {
    match tag {
        None => Ok(()),
        Some(t) => Err(error(
            span,
            format!(
                "YAML tags are not supported here (found `{}{}`)",
                shown_handle(t),
                t.suffix
            ),
        )),
    }
}

fn shown_handle(t: &Tag) -> &str {
    if t.handle == "tag:yaml.org,2002:" {
        "!!"
    } else {
        &t.handle
    }
}

fn scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    span: Span,
) -> Result<Scalar, YamlError> {
    let forced_str = match tag {
        None => false,
        Some(t) if t.handle == "tag:yaml.org,2002:" && t.suffix == "str" => true,
        Some(t) => {
            return Err(error(
                span,
                format!(
                    "YAML tags are not supported (found `{}{}`); only `!!str` is",
                    shown_handle(t),
                    t.suffix
                ),
            ))
        }
    };
    let quoted = forced_str || style != ScalarStyle::Plain;
    let value = if quoted {
        ScalarValue::Str(text.to_string())
    } else {
        resolve_plain(text)
    };
    Ok(Scalar {
        value,
        text: text.to_string(),
        quoted,
    })
}

/// Types a plain scalar by the YAML 1.2 core schema.
pub fn resolve_plain(text: &str) -> ScalarValue {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarValue::Null,
        "true" | "True" | "TRUE" => return ScalarValue::Bool(true),
        "false" | "False" | "FALSE" => return ScalarValue::Bool(false),
        _ => {}
    }
    parse_int(text)
        .or_else(|| parse_float(text).map(ScalarValue::Float))
        .unwrap_or_else(|| ScalarValue::Str(text.to_string()))
}

fn parse_int(text: &str) -> Option<ScalarValue> {
    let radix = |prefix: &str, radix: u32| {
        let digits = text.strip_prefix(prefix)?;
        if digits.is_empty() {
            return None;
        }
        u64::from_str_radix(digits, radix).ok().map(unsigned)
    };
    if let Some(v) = radix("0o", 8).or_else(|| radix("0x", 16)) {
        return Some(v);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Ok(n) = text.parse::<i64>() {
        return Some(ScalarValue::Int(n));
    }
    if !text.starts_with('-') {
        if let Ok(n) = digits.parse::<u64>() {
            return Some(ScalarValue::UInt(n));
        }
    }
    // Too large for any integer: the core schema still calls it an integer; keep its magnitude.
    text.parse::<f64>().ok().map(ScalarValue::Float)
}

fn unsigned(n: u64) -> ScalarValue {
    i64::try_from(n).map_or(ScalarValue::UInt(n), ScalarValue::Int)
}

fn parse_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let negative = text.starts_with('-');
    match unsigned {
        ".inf" | ".Inf" | ".INF" => {
            return Some(if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        ".nan" | ".NaN" | ".NAN" if unsigned.len() == text.len() => return Some(f64::NAN),
        _ => {}
    }
    is_core_float(unsigned).then(|| text.parse().ok()).flatten()
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, without the sign.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree(text: &str) -> Node {
        parse(text).unwrap().unwrap()
    }

    fn at(line: u32, col: u32) -> Span {
        Span { line, col }
    }

    #[test]
    fn plain_scalars_follow_the_core_schema() {
        let cases = [
            ("10", json!(10)),
            ("-3", json!(-3)),
            ("0x1f", json!(31)),
            ("0o17", json!(15)),
            ("1.5", json!(1.5)),
            ("1e3", json!(1000.0)),
            ("true", json!(true)),
            ("False", json!(false)),
            ("~", json!(null)),
            ("null", json!(null)),
            ("10s", json!("10s")),
            ("1.2.3", json!("1.2.3")),
            ("127.0.0.1", json!("127.0.0.1")),
            ("yes", json!("yes")),
            ("18446744073709551615", json!(18446744073709551615u64)),
        ];
        for (text, want) in cases {
            assert_eq!(
                to_json(&tree(&format!("v: {text}"))),
                json!({ "v": want }),
                "{text}"
            );
        }
    }

    #[test]
    fn quoted_and_tagged_scalars_stay_strings() {
        let t = tree("a: \"10\"\nb: '1.5'\nc: !!str true\nd: |\n  x\n");
        assert_eq!(
            to_json(&t),
            json!({"a": "10", "b": "1.5", "c": "true", "d": "x\n"})
        );
        assert!(t.get("a").unwrap().as_scalar().unwrap().quoted);
    }

    #[test]
    fn spans_are_one_based_and_point_at_keys_and_values() {
        let t = tree("id: x\nsteps:\n  - wait: 5s\n");
        let pairs = t.as_mapping().unwrap();
        assert_eq!(pairs[0].0.span, at(1, 1));
        assert_eq!(pairs[0].1.span, at(1, 5));
        let step = &pairs[1].1.as_sequence().unwrap()[0];
        assert_eq!(step.span, at(3, 5));
        assert_eq!(step.get("wait").unwrap().span, at(3, 11));
    }

    #[test]
    fn aliases_resolve() {
        let t = tree("a: &x [1, 2]\nb: *x\n");
        assert_eq!(to_json(&t), json!({"a": [1, 2], "b": [1, 2]}));
    }

    #[test]
    fn alias_bombs_are_rejected() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("aliases expand"), "{err}");
    }

    #[test]
    fn errors_point_at_the_offence() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(
            (e.span, e.message.contains("duplicate key `a`")),
            (at(3, 1), true),
            "{e}"
        );
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(e.span, at(2, 1));
        let e = parse("a:\n\t- 1\n").unwrap_err();
        assert_eq!(e.span.line, 2);
        assert!(e.message.contains("tabs"), "{e}");
        let e = parse("? [a]\n: 1\n").unwrap_err();
        assert!(e.message.contains("key"), "{e}");
        let e = parse("a: !foo 1\n").unwrap_err();
        assert!(e.message.contains("!foo"), "{e}");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let e = parse(&format!("a: {}1{}", "[".repeat(200), "]".repeat(200))).unwrap_err();
        assert!(e.message.contains("nest deeper"), "{e}");
    }

    #[test]
    fn empty_texts_hold_no_document() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
    }
}
