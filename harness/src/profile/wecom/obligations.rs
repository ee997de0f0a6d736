//! The numbered obligations of the protocol reference (§6): device obligations D1..D42 and
//! cloud behaviours C1..C24. Scenarios cite them; reports group verdicts by them.

/// How many device obligations the reference numbers (§6.1).
pub const DEVICE_OBLIGATIONS: u32 = 42;
/// How many cloud behaviours the reference numbers (§6.2).
pub const CLOUD_BEHAVIOURS: u32 = 24;

pub use crate::profile::obligation::Statement;

/// The statements ship in the binary, so reports carry them without the protocol document.
const STATEMENTS_JSON: &str = include_str!("../../../protocol/obligations.json");

/// Every statement, D1..D42 then C1..C24.
pub fn statements() -> &'static [Statement] {
    static PARSED: std::sync::OnceLock<Vec<Statement>> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| {
        serde_json::from_str(STATEMENTS_JSON).expect("protocol/obligations.json is valid (tested)")
    })
}

/// Whether `id` names an obligation of the reference (`D1`..`D42`, `C1`..`C24`).
pub fn is_known(id: &str) -> bool {
    let (prefix, max) = match id.chars().next() {
        Some('D') => ('D', DEVICE_OBLIGATIONS),
        Some('C') => ('C', CLOUD_BEHAVIOURS),
        _ => return false,
    };
    let digits = &id[prefix.len_utf8()..];
    !digits.starts_with('0') && digits.parse::<u32>().is_ok_and(|n| (1..=max).contains(&n))
}

/// Every id, in order, for "did you mean" and coverage tables.
pub fn all() -> Vec<String> {
    (1..=DEVICE_OBLIGATIONS)
        .map(|n| format!("D{n}"))
        .chain((1..=CLOUD_BEHAVIOURS).map(|n| format!("C{n}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ids() {
        for ok in ["D1", "D42", "C1", "C24"] {
            assert!(is_known(ok), "{ok}");
        }
        for bad in ["D0", "D43", "C25", "C01", "X1", "", "D", "c1", "D-1"] {
            assert!(!is_known(bad), "{bad}");
        }
        assert_eq!(all().len(), 66);
    }

    #[test]
    fn every_id_has_its_statement_in_order() {
        let ids: Vec<String> = statements().iter().map(|s| s.id.clone()).collect();
        assert_eq!(ids, all());
        assert!(statements()
            .iter()
            .all(|s| !s.text.is_empty() && !s.source.is_empty()));
        let d4 = &statements()[3];
        assert_eq!(
            (d4.source.as_str(), d4.strength.as_str()),
            ("D 91370", "must")
        );
        assert!(d4
            .text
            .starts_with("`register.body.device_signature` is 40 hex chars"));
        assert_eq!(statements()[9].strength, "may");
        assert_eq!(statements()[42 + 3].markers, ["UNDOC"]);
    }
}
