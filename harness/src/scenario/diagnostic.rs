//! Diagnostics: one message about one place in one file, rendered the way Hurl and rustc do
//! (the line, a caret under the offending token, what was expected, and a "did you mean").

use super::span::Span;
use std::fmt;
use std::path::PathBuf;

/// One problem at one place in a file. A `span` with line 0 means "the file as a whole"
/// (unreadable, or a problem with no position).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub span: Span,
    /// Lowercase fragment: "unknown key `withn` in a `request` step".
    pub message: String,
    /// Shown as "expected ..." under the caret: "one of: conn, cmd, req_id".
    pub expected: Option<String>,
    /// Shown as "= help: ...": "did you mean `within`?".
    pub help: Option<String>,
    /// Shown as "= note: ...": related context, such as where a duplicate was first defined.
    pub note: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with only a message.
    pub fn new(path: impl Into<PathBuf>, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.into(),
            span,
            message: message.into(),
            expected: None,
            help: None,
            note: None,
        }
    }

    /// Adds what was expected at the place.
    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    /// Adds a help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a help line only when there is one (e.g. a "did you mean" that found a candidate).
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        self.help = help.or(self.help);
        self
    }

    /// Adds a note line.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Whether the diagnostic points at a place in the file.
    pub fn has_position(&self) -> bool {
        self.span.line > 0
    }

    /// `path:line:col`, or the path alone when there is no position.
    pub fn location(&self) -> String {
        if self.has_position() {
            format!(
                "{}:{}:{}",
                self.path.display(),
                self.span.line,
                self.span.col
            )
        } else {
            self.path.display().to_string()
        }
    }

    /// Renders the diagnostic with the offending line of `source_text` and a caret under it.
    /// Whatever the file holds, the rendering is bounded: a window of the line around the
    /// column (a generated one-line file may be megabytes wide) and each text clipped.
    pub fn render(&self, source_text: &str) -> String {
        let line = self
            .has_position()
            .then(|| nth_line(source_text, self.span.line as usize))
            .flatten();
        let number = self.span.line.to_string();
        let pad = " ".repeat(if line.is_some() { number.len() } else { 1 });
        let mut out = format!(
            "error: {}\n{pad}--> {}\n",
            clip(&self.message),
            self.location()
        );
        if let Some(line) = line {
            let (shown, offset, width) = window(line, self.span.col as usize);
            out.push_str(&format!("{pad} |\n{number} | {shown}\n"));
            let label = self
                .expected
                .as_ref()
                .map(|e| format!(" expected {}", clip(e)))
                .unwrap_or_default();
            out.push_str(&format!(
                "{pad} | {}{}{label}\n",
                " ".repeat(offset),
                "^".repeat(width)
            ));
        } else if let Some(e) = &self.expected {
            out.push_str(&format!("{pad} = expected {}\n", clip(e)));
        }
        if self.help.is_some() || self.note.is_some() {
            out.push_str(&format!("{pad} |\n"));
        }
        for (kind, text) in [("note", &self.note), ("help", &self.help)] {
            if let Some(text) = text {
                out.push_str(&format!("{pad} = {kind}: {}\n", clip(text)));
            }
        }
        out
    }
}

/// `path:line:col: message: expected ...`, for logs and plain lists of errors.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), clip(&self.message))?;
        if let Some(e) = &self.expected {
            write!(f, ": expected {}", clip(e))?;
        }
        if let Some(h) = &self.help {
            write!(f, " ({})", clip(h))?;
        }
        Ok(())
    }
}

const TAB: &str = "    ";

/// Characters of a line shown around the column: enough for any hand-written line.
const WINDOW: usize = 100;
/// Characters shown before the column when the line is cut.
const LEAD: usize = 40;
/// Characters of a message, expected list, note or help shown (they may quote the file).
const CLIP: usize = 400;

/// The 1-based `n`th line of `text`, found in one pass.
fn nth_line(text: &str, n: usize) -> Option<&str> {
    text.split('\n')
        .nth(n.checked_sub(1)?)
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// `text` cut to [`CLIP`] characters, saying so.
fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(CLIP) {
        None => text.into(),
        Some((end, _)) => format!(
            "{}… ({} more characters)",
            &text[..end],
            text[end..].chars().count()
        )
        .into(),
    }
}

/// How a character of the line is shown: a tab as spaces, any other control character (a NUL
/// byte among them) as its visible symbol (`␀`), so the terminal shows what the file holds.
fn shown(c: char) -> std::borrow::Cow<'static, str> {
    match c {
        '\t' => TAB.into(),
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32)
            .unwrap_or('?')
            .to_string()
            .into(),
        '\u{7f}' => "␡".into(),
        _ => c.to_string().into(),
    }
}

fn shown_width(c: char) -> usize {
    if c == '\t' {
        TAB.len()
    } else {
        1
    }
}

/// The part of `line` shown (at most [`WINDOW`] characters around the 1-based character
/// column `col`, `…` where cut), where the caret goes in it and how wide it is: the token
/// that starts at the column, which the span does not delimit, so it is found in the text.
fn window(line: &str, col: usize) -> (String, usize, usize) {
    let chars: Vec<char> = line.chars().collect();
    let at = col.saturating_sub(1).min(chars.len());
    let start = if chars.len() > WINDOW {
        at.saturating_sub(LEAD)
    } else {
        0
    };
    let end = chars.len().min(start + WINDOW);
    let mut text = String::new();
    if start > 0 {
        text.push('…');
    }
    text.extend(chars[start..end].iter().map(|c| shown(*c)));
    if end < chars.len() {
        text.push('…');
    }
    let offset = usize::from(start > 0)
        + chars[start..at]
            .iter()
            .map(|c| shown_width(*c))
            .sum::<usize>();
    let width = token_width(&chars[at..end.max(at)]).clamp(1, WINDOW);
    (text, offset, width)
}

#[cfg(test)]
fn caret_position(line: &str, col: usize) -> (usize, usize) {
    let (_, offset, width) = window(line, col);
    (offset, width)
}

/// The width of the token at the start of `rest`: a quoted string up to its closing quote, a
/// single indicator character, or a plain word up to a separator.
fn token_width(rest: &[char]) -> usize {
    match rest.first() {
        None => 1,
        Some(q @ ('"' | '\'')) => rest[1..]
            .iter()
            .position(|c| c == q)
            .map_or(rest.len(), |end| end + 2),
        Some('[' | '{' | '-' | '|' | '>' | '&' | '*' | '!' | '?') => 1,
        Some(_) => {
            let end = rest.iter().enumerate().position(|(i, c)| {
                c.is_whitespace()
                    || matches!(c, ',' | '[' | ']' | '{' | '}' | '#')
                    || (*c == ':' && rest.get(i + 1).is_none_or(|n| n.is_whitespace()))
            });
            end.unwrap_or(rest.len())
        }
    }
}

/// "did you mean `x`?" when some candidate is close enough to `found` to be a likely typo.
pub fn did_you_mean<S: AsRef<str>>(found: &str, candidates: &[S]) -> Option<String> {
    closest(found, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The candidate most similar to `found`, if similar enough to be a plausible typo.
pub fn closest<'a, S: AsRef<str>>(found: &str, candidates: &'a [S]) -> Option<&'a str> {
    let found_lower = found.to_lowercase();
    candidates
        .iter()
        .map(AsRef::as_ref)
        .filter(|c| *c != found)
        .map(|c| {
            (
                strsim::jaro_winkler(&found_lower, &c.to_lowercase()),
                strsim::levenshtein(&found_lower, &c.to_lowercase()),
                c,
            )
        })
        .filter(|(jw, lev, c)| *lev <= 2.max(c.len() / 3) && (*jw >= 0.7 || *lev <= 1))
        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, _, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag() -> Diagnostic {
        Diagnostic::new(
            "s/foo.yaml",
            Span { line: 3, col: 5 },
            "unknown key `withn` in a `request` step",
        )
        .expected("one of: conn, within")
        .help("did you mean `within`?")
    }

    #[test]
    fn renders_line_caret_expected_and_help() {
        let text = "id: x\nsteps:\n    withn: 5s\n";
        let want = "\
error: unknown key `withn` in a `request` step
 --> s/foo.yaml:3:5
  |
3 |     withn: 5s
  |     ^^^^^ expected one of: conn, within
  |
  = help: did you mean `within`?
";
        assert_eq!(diag().render(text), want);
    }

    #[test]
    fn display_is_one_line() {
        assert_eq!(
            diag().to_string(),
            "s/foo.yaml:3:5: unknown key `withn` in a `request` step: expected one of: conn, within (did you mean `within`?)"
        );
    }

    #[test]
    fn renders_without_a_position() {
        let d = Diagnostic::new("nope.yaml", Span::default(), "cannot read file: not found");
        assert_eq!(
            d.render(""),
            "error: cannot read file: not found\n --> nope.yaml\n"
        );
        assert_eq!(d.to_string(), "nope.yaml: cannot read file: not found");
    }

    #[test]
    fn caret_widths_follow_the_token() {
        assert_eq!(caret_position("  a: \"x y\" # c", 6), (5, 5));
        assert_eq!(caret_position("  key: [1]", 3), (2, 3));
        assert_eq!(caret_position("  key: [1]", 8), (7, 1));
        assert_eq!(caret_position("\tkey: 1", 2), (4, 3));
        assert_eq!(caret_position("url: http://x", 6), (5, 8));
        assert_eq!(caret_position("", 1), (0, 1));
        assert_eq!(caret_position("ab", 9), (2, 1));
    }

    #[test]
    fn suggestions_are_for_typos_only() {
        let keys = ["conn", "cmd", "within", "not_before"];
        assert_eq!(closest("withn", &keys), Some("within"));
        assert_eq!(closest("notbefore", &keys), Some("not_before"));
        assert_eq!(closest("zzz", &keys), None);
        assert!(closest("C25", &["C24", "C2", "D25"]).is_some());
        assert_eq!(closest("reqest", &["request", "repeat"]), Some("request"));
    }
}
