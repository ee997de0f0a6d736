//! The numbered obligations of the protocol reference (§6): device obligations D1..D42 and
//! cloud behaviours C1..C24. Scenarios cite them; reports group verdicts by them.

/// How many device obligations the reference numbers (§6.1).
pub const DEVICE_OBLIGATIONS: u32 = 42;
/// How many cloud behaviours the reference numbers (§6.2).
pub const CLOUD_BEHAVIOURS: u32 = 24;

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
    (1..=DEVICE_OBLIGATIONS).map(|n| format!("D{n}")).chain((1..=CLOUD_BEHAVIOURS).map(|n| format!("C{n}"))).collect()
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
}
