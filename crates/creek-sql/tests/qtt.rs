//! Parses every statement of ksqlDB's query-validation tests in
//! ../shared/ksql-qtt and ../shared/ksql-qtt-rest and asserts floors
//! (regression guards): statements that parse, cases expecting a parse error
//! that we reject, and zero Display round-trip differences.

mod common;
use common::strip_comments;

/// Statements that parsed when this floor was last raised. Three of the
/// rest are statements ksqlDB rejects too (`PARTITION BY ()`, `LIMIT -1`,
/// `LIMIT 2.5`), only after parsing.
const FLOOR: usize = 4981;
/// Parse-error cases we reject when this floor was last raised.
const REJECT_FLOOR: usize = 27;

#[test]
fn qtt_statements_parse() {
    let mut files = Vec::new();
    for dir in common::qtt_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("skipping: {} not readable", dir.display());
            continue;
        };
        files.extend(
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "json")),
        );
    }
    if files.is_empty() {
        return;
    }
    files.sort();
    let (mut total, mut ok) = (0usize, 0usize);
    let mut failures = Vec::new();
    let mut round_trip = Vec::new();
    // Cases ksqlDB rejects with a parse error, and how many of them we reject too.
    let (mut bad_cases, mut rejected) = (0usize, 0usize);
    let mut accepted_bad = Vec::new();
    for file in &files {
        let text = strip_comments(&std::fs::read_to_string(file).unwrap());
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let Some(tests) = json.get("tests").and_then(|t| t.as_array()) else {
            continue;
        };
        for case in tests {
            // QTT files say `expectedException`, REST files `expectedError`.
            let expected = case
                .get("expectedException")
                .or_else(|| case.get("expectedError"))
                .map(|e| e.to_string())
                .unwrap_or_default();
            let Some(stmts) = case.get("statements").and_then(|s| s.as_array()) else {
                continue;
            };
            if expected.contains("ParseFailed") || expected.contains("Syntax") {
                bad_cases += 1;
                if stmts
                    .iter()
                    .filter_map(|s| s.as_str())
                    .any(|s| creek_sql::parse_statements(s).is_err())
                {
                    rejected += 1;
                } else {
                    accepted_bad.push(format!(
                        "{}: {}\n    expected {expected}",
                        file.file_name().unwrap().to_string_lossy(),
                        case.get("name").and_then(|n| n.as_str()).unwrap_or("?")
                    ));
                }
                continue;
            }
            for s in stmts.iter().filter_map(|s| s.as_str()) {
                total += 1;
                match creek_sql::parse_statements(s) {
                    Ok(parsed) => {
                        ok += 1;
                        // Formatting must give SQL that parses to the same tree.
                        for stmt in parsed {
                            let sql = stmt.to_string();
                            match creek_sql::parse_statement(&sql) {
                                Ok(again) if again == stmt => {}
                                Ok(again) => round_trip.push(format!(
                                    "{s}\n    formatted: {sql}\n    {stmt:?}\n    {again:?}"
                                )),
                                Err(e) => {
                                    round_trip.push(format!("{s}\n    formatted: {sql}\n    {e}"))
                                }
                            }
                        }
                    }
                    Err(e) => failures.push(format!(
                        "{}: {e}\n    {s}",
                        file.file_name().unwrap().to_string_lossy()
                    )),
                }
            }
        }
    }
    println!(
        "QTT: {ok}/{total} statements parse ({:.1}%)",
        100.0 * ok as f64 / total.max(1) as f64
    );
    for f in failures.iter().take(25) {
        println!("  {f}");
    }
    println!("QTT: {rejected}/{bad_cases} cases expecting a parse error are rejected");
    for f in accepted_bad.iter().take(25) {
        println!("  {f}");
    }
    println!(
        "QTT: {} statements fail to round-trip through Display",
        round_trip.len()
    );
    for f in round_trip.iter().take(10) {
        println!("  {f}");
    }
    assert!(
        round_trip.is_empty(),
        "{} round-trip failures",
        round_trip.len()
    );
    assert!(
        rejected >= REJECT_FLOOR,
        "{rejected} rejected, floor is {REJECT_FLOOR}"
    );
    assert!(ok >= FLOOR, "{ok} statements parsed, floor is {FLOOR}");
}
