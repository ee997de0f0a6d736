//! Property-based exploration. (Being written.)

/// `hwconform explore`.
#[derive(clap::Args, Debug)]
pub struct ExploreArgs {}

pub fn cli_explore(_args: ExploreArgs) -> i32 {
    eprintln!("error: not implemented yet");
    2
}
