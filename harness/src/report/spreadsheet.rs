//! `--report csv`: the requirement matrix ([`super::matrix`]) as `requirements.csv`, for
//! spreadsheets.

use super::formats::{Format, ReportFormat, Scenarios};
use super::json::RunReport;
use super::matrix::Row;
use super::sink::{Out, ReportError};

/// `--report csv`: the matrix alone ([`to_csv`]).
pub(crate) struct Csv;

impl ReportFormat {
    #[allow(non_upper_case_globals)]
    pub const Csv: ReportFormat = ReportFormat(&Csv);
}

impl Format for Csv {
    fn name(&self) -> &'static str {
        "csv"
    }
    fn help(&self) -> &'static str {
        "DIR/requirements.csv: the requirement matrix for spreadsheets"
    }
    fn file_name(&self) -> Option<&'static str> {
        Some("requirements.csv")
    }
    fn write(
        &self,
        head: &RunReport,
        _scenarios: &dyn Scenarios,
        out: &mut Out,
    ) -> Result<(), ReportError> {
        match to_csv(&head.requirements) {
            Ok(text) => out.put(text.as_bytes()),
            Err(source) => Err(ReportError::Csv {
                path: out.path.to_path_buf(),
                source,
            }),
        }
    }
}

/// The matrix as CSV for spreadsheets: one row per obligation, with a header. Columns: id,
/// status (as JSON spells it), source, strength, scenarios (`id=outcome; …`), detail,
/// text. Fields with commas, quotes or newlines are quoted by the `csv` crate.
pub fn to_csv(rows: &[Row]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id",
        "status",
        "source",
        "strength",
        "scenarios",
        "detail",
        "text",
    ])?;
    for r in rows {
        let scenarios: Vec<String> = r
            .scenarios
            .iter()
            .map(|g| format!("{}={}", g.scenario, g.outcome))
            .collect();
        w.write_record([
            r.id.as_str(),
            r.status.key(),
            &r.source,
            &r.strength,
            &scenarios.join("; "),
            &r.detail,
            &r.text,
        ])?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
