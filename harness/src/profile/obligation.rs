//! An obligation as a profile numbers and words it: what scenarios cite, what the matrix
//! has a row for and what reports show beside the id. Protocol-neutral, so the reports can
//! build the matrix of any profile's obligations.

/// One numbered statement as its reference words it: the text a report shows beside the
/// id, so a reader need not open the protocol document to know what was judged.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Statement {
    pub id: String,
    /// The source tag as written in the reference (`D 91370`, `F`, `D every page`).
    pub source: String,
    /// `must`, or `may` where the statement allows other conformant choices.
    pub strength: String,
    /// `I` / `UNDOC` markers in the text: parts that are never grounds for a fail.
    pub markers: Vec<String>,
    pub text: String,
}
