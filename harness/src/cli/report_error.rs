//! How the CLI prints an error: `error: <top message>`, then one `  caused by: <source>` line
//! per [`std::error::Error::source`] in the chain. Library errors keep their cause as a
//! `#[source]` instead of formatting it into their own message, so each cause prints once.

use super::exit::{EXIT_FAILED, EXIT_USAGE};
use std::error::Error;
use std::fmt::{self, Display};

/// An error and its cause chain, displayed as the CLI prints it (without a trailing newline).
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, "\n  caused by: {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

/// Prints an error with its cause chain to stderr.
pub fn print(e: &(dyn Error + 'static)) {
    eprintln!("{}", Chain(e));
}

/// Prints `error: <context>: <message>` and then the error's causes.
pub fn print_in(context: &str, e: &(dyn Error + 'static)) {
    let chain = Chain(e).to_string();
    eprintln!(
        "error: {context}: {}",
        chain.strip_prefix("error: ").unwrap_or(&chain)
    );
}

/// Prints a library error with its causes; bad usage (exit 2).
pub fn usage_error(e: &(dyn Error + 'static)) -> i32 {
    print(e);
    EXIT_USAGE
}

/// Prints a library error with its causes; a failed run (exit 1).
pub fn error(e: &(dyn Error + 'static)) -> i32 {
    print(e);
    EXIT_FAILED
}

/// Prints a plain message (no cause chain): bad usage (exit 2).
pub fn usage(message: impl Display) -> i32 {
    eprintln!("error: {message}");
    EXIT_USAGE
}

#[cfg(test)]
mod tests {
    use super::Chain;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);
    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn prints_each_cause_once() {
        let e = Outer(Middle(std::io::Error::other("inner")));
        assert_eq!(
            Chain(&e).to_string(),
            "error: outer\n  caused by: middle\n  caused by: inner"
        );
    }
}
