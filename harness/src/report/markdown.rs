//! The small markdown subset the obligation texts use (`` `code` ``, `**strong**`, `*em*`)
//! as HTML, every other character escaped: the texts are ours, but a rebuilt report reads
//! them from a run.json anyone could have edited, so nothing in them is trusted as markup.

use maud::{Escaper, Markup, PreEscaped};
use std::fmt::Write;

/// `text` with its inline markdown as HTML; unmatched markers stay as text.
pub fn inline(text: &str) -> Markup {
    let mut out = String::with_capacity(text.len() + 16);
    render(text, &mut out);
    PreEscaped(out)
}

fn render(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some((tag, inner, after)) = span(rest) {
            let _ = write!(out, "<{tag}>");
            if tag == "code" {
                escape(inner, out);
            } else {
                render(inner, out);
            }
            let _ = write!(out, "</{tag}>");
            rest = after;
        } else {
            escape(&rest[..c.len_utf8()], out);
            rest = &rest[c.len_utf8()..];
        }
    }
}

/// The span `rest` begins with, if any: its tag, its inner text and what follows it.
fn span(rest: &str) -> Option<(&'static str, &str, &str)> {
    let (tag, open, close) = if rest.starts_with('`') {
        ("code", "`", "`")
    } else if rest.starts_with("**") {
        ("strong", "**", "**")
    } else if rest.starts_with('*') {
        ("em", "*", "*")
    } else {
        return None;
    };
    let body = &rest[open.len()..];
    // `* ` is a multiplication or a list, not emphasis; an empty span is no span.
    if body.starts_with(char::is_whitespace) || body.starts_with(close) {
        return None;
    }
    let end = body.find(close)?;
    Some((tag, &body[..end], &body[end + close.len()..]))
}

fn escape(s: &str, out: &mut String) {
    let _ = Escaper::new(out).write_str(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case("carries `cmd` (string)", "carries <code>cmd</code> (string)")]
    #[case("the cloud **may** close", "the cloud <strong>may</strong> close")]
    #[case("an *example* shows", "an <em>example</em> shows")]
    #[case("**not `x`**", "<strong>not <code>x</code></strong>")]
    #[case("`**x**`", "<code>**x**</code>")]
    #[case("2 * 3 * 4", "2 * 3 * 4")]
    #[case("a `lone tick", "a `lone tick")]
    #[case(
        "<script>`<b>`</script>",
        "&lt;script&gt;<code>&lt;b&gt;</code>&lt;/script&gt;"
    )]
    #[case("**<i>** & \"q\"", "<strong>&lt;i&gt;</strong> &amp; &quot;q&quot;")]
    fn the_subset_renders_and_everything_else_is_escaped(#[case] md: &str, #[case] html: &str) {
        assert_eq!(inline(md).into_string(), html);
    }

    proptest::proptest! {
        /// Whatever the text, the only tags in the output are the subset's.
        #[test]
        fn no_other_markup_gets_through(text in "[a-z<>&\"'`* ]{0,40}") {
            let html = inline(&text).into_string();
            let stripped = ["<code>", "</code>", "<strong>", "</strong>", "<em>", "</em>"]
                .iter()
                .fold(html, |s, t| s.replace(t, ""));
            proptest::prop_assert!(!stripped.contains('<') && !stripped.contains('>'), "{}", stripped);
        }
    }
}
