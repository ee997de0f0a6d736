use super::*;
use rstest::rstest;

fn load(text: &str) -> Result<CloudStatement, IcsError> {
    load_str(Path::new("cloud.toml"), text)
}

/// The first ```toml block of the reference page: the example a lab copies must load.
fn documented_example() -> String {
    let page = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/src/reference/cloud-statement.md"
    );
    let text = std::fs::read_to_string(page).expect("the cloud statement reference page");
    let start = text.find("```toml\n").expect("a ```toml block") + "```toml\n".len();
    let end = start + text[start..].find("```").expect("the block ends");
    text[start..end].to_string()
}

#[test]
fn the_documented_example_loads_and_narrows_the_faq_ranges() {
    let s = load(&documented_example()).unwrap();
    assert_eq!(s.vendor.as_deref(), Some("Acme"));
    assert_eq!(
        s.heartbeat_expiry,
        Some((Duration::from_secs(90), Duration::from_secs(90)))
    );
    assert_eq!(s.max_frame_bytes, Some(65536));
    assert_eq!(s.visitor_list, Some(false));
    assert_eq!(
        s.upper_tester_actions.as_deref(),
        Some(&["bind".to_string(), "unbind".into(), "fetch_log".into()][..])
    );
    let t = s.timings(CloudTimings::FAQ);
    assert_eq!(t.heartbeat_timeout, Duration::from_secs(90));
    assert_eq!(t.expiry_min(), Duration::from_secs(90));
    assert_eq!(t.subscribe_window, Duration::from_secs(60));
    assert_eq!(t.subscribe_limit, 5);
}

/// Nothing stated: the FAQ's ranges stand. A range keeps both ends, and the windows scenarios
/// use are composed from them: no earlier than the shortest expiry, no later than the longest.
#[test]
fn what_the_statement_leaves_out_stays_the_faq_range() {
    let empty = load("").unwrap();
    assert_eq!(empty.timings(CloudTimings::FAQ), CloudTimings::FAQ);
    let t = CloudTimings::FAQ;
    assert_eq!(t.expiry_earliest(), Duration::from_secs(55));
    assert_eq!(t.expiry_latest(), Duration::from_secs(150));
    let ranged = load("[heartbeat]\nexpiry = [\"60s\", \"90s\"]\n").unwrap();
    let t = ranged.timings(CloudTimings::FAQ);
    assert_eq!(t.expiry_min(), Duration::from_secs(60));
    assert_eq!(t.heartbeat_timeout, Duration::from_secs(90));
    assert!(
        t.expiry_composition().contains("60s–90s"),
        "{}",
        t.expiry_composition()
    );
    // A cloud that expires at 120 s (inside the FAQ's 1–2 min) is inside the window a run
    // without a statement uses, and so is one at 60 s.
    let faq = CloudTimings::FAQ;
    for expiry in [60, 90, 120] {
        let at = Duration::from_secs(expiry);
        assert!(
            faq.expiry_earliest() <= at && at <= faq.expiry_latest(),
            "{expiry}"
        );
    }
}

#[rstest]
#[case::unknown_section(
    "[heartbeet]\nexpiry = \"90s\"\n",
    1,
    2,
    "unknown key `heartbeet` at the top level"
)]
#[case::misspelt_key(
    "[heartbeat]\nexpire = \"90s\"\n",
    2,
    1,
    "unknown key `expire` in [heartbeat]"
)]
#[case::outside_faq(
    "[heartbeat]\nexpiry = \"150s\"\n",
    2,
    10,
    "heartbeat.expiry 150s is outside the FAQ's 1–2 min"
)]
#[case::range_outside(
    "[heartbeat]\nexpiry = [\"30s\", \"90s\"]\n",
    2,
    10,
    "heartbeat.expiry 30s–90s is outside the FAQ's 1–2 min"
)]
#[case::backwards("[heartbeat]\nexpiry = [\"90s\", \"60s\"]\n", 2, 10, "runs backwards")]
#[case::bare_number(
    "[heartbeat]\nexpiry = 90\n",
    2,
    10,
    "`heartbeat.expiry` must be a duration or a range of two, found an integer"
)]
#[case::no_unit(
    "[subscribe]\nwindow = 60\n",
    2,
    10,
    "`subscribe.window` must be a duration, found an integer"
)]
#[case::zero_limit(
    "[subscribe]\nlimit = 0\n",
    2,
    9,
    "`subscribe.limit` must be a whole number from 1 to 1000"
)]
#[case::frame_limit_text(
    "[limits]\nmax_frame_bytes = \"64k\"\n",
    2,
    19,
    "`limits.max_frame_bytes` must be a whole number"
)]
#[case::capability_text(
    "[capabilities]\nvisitor_list = \"yes\"\n",
    2,
    16,
    "`capabilities.visitor_list` must be true or false"
)]
#[case::unknown_capability(
    "[capabilities]\nvisitors_list = true\n",
    2,
    1,
    "unknown key `visitors_list` in [capabilities]"
)]
#[case::not_a_table(
    "heartbeat = \"90s\"\n",
    1,
    13,
    "`heartbeat` must be a table, found a string"
)]
#[case::unknown_action(
    "[upper_tester]\nactions = [\"bind\", \"fetch_logs\"]\n",
    2,
    20,
    "unknown upper tester action `fetch_logs`"
)]
#[case::actions_not_a_list(
    "[upper_tester]\nactions = \"bind\"\n",
    2,
    11,
    "`upper_tester.actions` must be"
)]
#[case::bad_toml("[heartbeat\n", 1, 11, "invalid TOML")]
fn a_bad_statement_names_file_line_and_column(
    #[case] text: &str,
    #[case] line: u32,
    #[case] col: u32,
    #[case] message: &str,
) {
    let e = load(text).unwrap_err();
    let d = &e.diagnostics[0];
    assert!(d.message.contains(message), "{}", e.render());
    assert_eq!((d.span.line, d.span.col), (line, col), "{}", e.render());
    assert!(
        e.render().contains(&format!("cloud.toml:{line}:{col}")),
        "{}",
        e.render()
    );
}

#[test]
fn a_misspelt_key_gets_a_did_you_mean() {
    let e = load("[heartbeat]\nexpiri = \"90s\"\n").unwrap_err();
    assert_eq!(
        e.diagnostics[0].help.as_deref(),
        Some("did you mean `expiry`?")
    );
}

/// What a report records of a statement: the values stated, as written (a range with both
/// ends), and nothing for what was left to the FAQ.
#[test]
fn the_summary_holds_what_was_stated_and_only_that() {
    let s =
        load("[heartbeat]\nexpiry = [\"60s\", \"90s\"]\n[capabilities]\nvisitor_list = false\n")
            .unwrap();
    let summary = s.summary();
    assert_eq!(summary.heartbeat_expiry.as_deref(), Some("60s–90s"));
    assert_eq!(
        summary.declared(),
        [
            ("heartbeat expiry", "60s–90s".to_string()),
            ("visitor list", "false".to_string())
        ]
    );
    assert_eq!(
        serde_json::to_value(&summary).unwrap(),
        serde_json::json!({"heartbeat_expiry": "60s–90s", "visitor_list": false})
    );
    let documented = load(&documented_example()).unwrap().summary();
    assert_eq!(documented.heartbeat_expiry.as_deref(), Some("90s"));
    assert_eq!(documented.max_frame_bytes, Some(65536));
    assert_eq!(
        load("").unwrap().summary(),
        CloudStatementSummary::default()
    );
}
