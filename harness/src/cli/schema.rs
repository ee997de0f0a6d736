//! `hwconform schema KIND`: prints the JSON Schema of a file the harness writes or reads, so
//! tools can validate them. The committed copies live in `schemas/`.

use super::exit::EXIT_OK;

/// The documents with a schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaKind {
    /// reports/run.json (`schemas/run.schema.json`).
    Run,
    /// A scenario file (`schemas/scenario.schema.json`), for editors.
    Scenario,
}

#[derive(clap::Args, Debug)]
pub struct SchemaArgs {
    /// Which document.
    #[arg(value_enum)]
    pub kind: SchemaKind,
}

/// The schema of run.json, pretty-printed with a final newline.
pub fn run_schema() -> String {
    let schema = schemars::schema_for!(crate::report::RunReport);
    let mut s = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    s.push('\n');
    s
}

pub fn cli_schema(args: SchemaArgs) -> i32 {
    match args.kind {
        SchemaKind::Run => {
            print!("{}", run_schema());
            EXIT_OK
        }
        SchemaKind::Scenario => {
            print!("{}", crate::scenario::schema::scenario_schema());
            EXIT_OK
        }
    }
}
